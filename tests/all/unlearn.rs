//! `frontier heatmap --quick` for the CNN figures 3–6: files, headers, row counts, non-blank
//! PNGs, and a re-run that comes from the cache with byte-identical CSVs.

use std::path::Path;

use crate::cli::{ok, text};

/// (file stem, data rows of its CSV) of every CNN figure in the quick set: 3 × 3 B × α cells
/// per figure-4 grid (2 losses × 2 SNRs), 2 SNRs × 3 α per figure-5 grid (2 losses), 3 SNRs
/// × 2 seeds per figure-3 loss.
const FILES: &[(&str, usize)] = &[
    ("figure3_cnn_coherence_logistic", 6),
    ("figure3_cnn_coherence_squared", 6),
    ("figure4_cnn_batch_alpha", 36),
    ("figure5_cnn_snr_alpha", 12),
    ("figure6_cnn_deletion", 36),
];

fn heatmap(out: &Path) -> String {
    let runs = out.join("runs");
    let mut args = vec![
        "heatmap",
        "--quick",
        "--out",
        out.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
    ];
    for name in ["figure3", "figure4", "figure5", "figure6"] {
        args.extend(["--only", name]);
    }
    text(&ok(&args))
}

#[test]
fn quick_cnn_figures_write_pngs_and_csvs_and_rerun_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let log = heatmap(dir.path());
    let mut first = Vec::new();
    for (stem, rows) in FILES {
        crate::cli::assert_png_drawn(&dir.path().join(format!("{stem}.png")));
        let csv = std::fs::read_to_string(dir.path().join(format!("{stem}.csv"))).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), rows + 1, "{stem}.csv: header + {rows} rows");
        let expected_columns: &[&str] = if stem.starts_with("figure3") {
            &[
                "loss", "snr", "seed", "sigma", "sigma_r", "sigma_f", "sigma_rf", "sigma_u",
            ]
        } else {
            &[
                "panel",
                "x",
                "y",
                "escape_fraction",
                "deletion_fraction",
                "retain_accuracy_mean",
                "mia_auc_mean",
                "predicted_mean_square_fraction",
            ]
        };
        for column in expected_columns {
            assert!(
                lines[0].split(',').any(|c| c == *column),
                "{stem}.csv lacks `{column}`: {}",
                lines[0]
            );
        }
        first.push(csv);
    }
    assert!(log.contains("figure6: done"), "{log}");
    // Everything again: every grid comes from the cache, the CSVs are byte-identical.
    let again = heatmap(dir.path());
    let grids: Vec<&str> = again
        .lines()
        .filter(|l| l.contains("cells computed"))
        .collect();
    assert_eq!(grids.len(), 10, "4 + 2 + 4 grid loads: {again}");
    assert!(grids.iter().all(|l| l.contains(": 0 of ")), "{again}");
    for ((stem, _), before) in FILES.iter().zip(&first) {
        let after = std::fs::read_to_string(dir.path().join(format!("{stem}.csv"))).unwrap();
        assert_eq!(&after, before, "{stem}.csv differs on the cached re-run");
    }
}

/// `--batching per-run` (one model at a time) gives figure 4 as `--batching batched` does:
/// the same PNG, and a CSV with the same fractions in every cell (the metrics agree up to
/// rounding).
#[test]
fn batched_and_per_run_figure4_draw_the_same_figure() {
    let figure4 = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let (out, runs) = (dir.path(), dir.path().join("runs"));
        let mut args = vec!["heatmap", "--quick", "--only", "figure4"];
        args.extend([
            "--out",
            out.to_str().unwrap(),
            "--runs",
            runs.to_str().unwrap(),
        ]);
        args.extend(extra);
        ok(&args);
        let stem = out.join("figure4_cnn_batch_alpha");
        (
            std::fs::read(stem.with_extension("png")).unwrap(),
            std::fs::read_to_string(stem.with_extension("csv")).unwrap(),
        )
    };
    let (batched_png, batched_csv) = figure4(&["--batching", "batched"]);
    let (unbatched_png, unbatched_csv) = figure4(&["--batching", "per-run"]);
    assert!(batched_png == unbatched_png, "the PNGs differ");
    let fractions = |csv: &str| -> Vec<Vec<String>> {
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        csv.lines()
            .map(|line| {
                line.split(',')
                    .zip(&header)
                    .filter(|(_, h)| h.ends_with("_fraction"))
                    .map(|(v, _)| v.to_string())
                    .collect()
            })
            .collect()
    };
    assert_eq!(fractions(&batched_csv), fractions(&unbatched_csv));
}
