//! `frontier heatmap --quick` for the CNN figures 3–6: files, headers, row counts, non-blank
//! PNGs, resolved configs beside them, a re-run that comes from the cache with byte-identical
//! CSVs, and a sweep of one's own that reuses figure 4's cached cells.

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
        crate::configs::assert_resolved_beside(dir.path(), stem);
        let expected_columns: &[&str] = match &stem[..7] {
            "figure3" => &[
                "loss", "snr", "seed", "sigma", "sigma_r", "sigma_f", "sigma_rf", "sigma_u",
            ],
            "figure6" => &[
                "panel",
                "batch",
                "alpha",
                "reps",
                "retain_accuracy_mean",
                "retain_accuracy_sd",
                "attack_strength_mean",
                "forget_quality_mean",
                "output_distance_mean",
                "deletion_fraction",
                "training_loss_mean",
            ],
            figure => &[
                "panel",
                if figure == "figure5" { "snr" } else { "batch" },
                "alpha",
                "escape_fraction",
                "deletion_fraction",
                "retain_accuracy_mean",
                "attack_strength_mean",
                "predicted_mean_square_fraction",
                "predicted_finite_budget_fraction",
                "escape_steps_predicted_mean",
                "escaped_at_mean",
            ],
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
    let figure6 = &first[FILES
        .iter()
        .position(|(s, _)| s.starts_with("figure6"))
        .unwrap()];
    assert_eq!(
        figure6.lines().next().unwrap().split(',').count(),
        17,
        "figure 6 writes only what it shows (axes, reps, retain accuracy, attack strength, \
         forget quality, deletion fraction, output distance, training and forget loss at w*): \
         {figure6}"
    );
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
    // A sweep written from scratch (defaults for everything it omits) whose two panels are
    // figure 4's logistic grids: every cell comes from figure 4's cache, and its rows equal
    // figure 4's.
    let sweep = dir.path().join("mine.toml");
    std::fs::write(&sweep, FIGURE4_LOGISTIC).unwrap();
    let out = dir.path().join("sweep");
    let log = text(&ok(&[
        "sweep",
        "--config",
        sweep.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--runs",
        dir.path().join("runs").to_str().unwrap(),
    ]));
    let grids: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("cells computed"))
        .collect();
    assert_eq!(grids.len(), 2, "{log}");
    assert!(grids.iter().all(|l| l.contains(": 0 of 9 cells")), "{log}");
    let mine = std::fs::read_to_string(out.join("mine_cnn_batch_alpha.csv")).unwrap();
    let figure4 = &first[2];
    for (panel, label) in [
        ("snr=0.05", "logistic snr=0.05"),
        ("snr=1", "logistic snr=1"),
    ] {
        let rows = |csv: &str, label: &str| -> Vec<String> {
            csv.lines()
                .filter_map(|l| l.strip_prefix(&format!("{label},")).map(String::from))
                .collect()
        };
        assert_eq!(rows(&mine, panel), rows(figure4, label), "{panel}");
        assert_eq!(rows(&mine, panel).len(), 9);
    }
}

/// Figure 4's logistic grids under `--quick`, written as a user would: a third axis over SNR
/// and only the keys that differ from the defaults.
const FIGURE4_LOGISTIC: &str = r#"
model = "cnn"
panel = { param = "snr", values = [0.05, 1.0] }

[grid]
reps = 2
x = { param = "batch", values = [1, 3, 6] }
y = { param = "alpha", values = [0.0, 0.3, 1.0] }
setup.data = { n = 40, n_test = 40, d = 120, n_forget = 6 }
setup.model = { m = 5 }
setup.pretrain = { loss = "logistic", eta = 1.0, max_steps = 2000, loss_tol = 0.01 }
predict = { asymptotic = { reps = 4, max_steps = 3200 } }

[grid.unlearn]
steps = 60
record_every = 6
step = { eta = 0.5, alpha = 0.5, batch_retain = 3, sampling = "without" }
"#;

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
