//! `frontier heatmap --quick` for the figures outside the CNN grids: the Hessian tests
//! (figures 1–2) and the MLP-vs-CNN coherence (figure 7); the resolved config beside every
//! output; PNGs that survive a killed run.

use crate::cli::{ok, text};

#[test]
fn quick_hessian_and_model_figures_write_pngs_and_csvs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    ok(&[
        "heatmap", "--quick", "--out", out, "--only", "figure1", "--only", "figure2", "--only",
        "figure7",
    ]);
    for (stem, header_starts) in [
        (
            "figure1_sgd_batch_sigma",
            "panel,batch,sigma,diverged_fraction",
        ),
        (
            "figure2_unlearning_batch_alpha",
            "panel,batch,alpha,diverged_fraction",
        ),
        (
            "figure2_unlearning_alpha_alignment",
            "panel,aligned_fraction,alpha,diverged_fraction",
        ),
        ("figure7_mlp_vs_cnn_coherence", "model,snr,seed,sigma"),
    ] {
        crate::cli::assert_png_drawn(&dir.path().join(format!("{stem}.png")));
        crate::configs::assert_resolved_beside(dir.path(), stem);
        let csv = std::fs::read_to_string(dir.path().join(format!("{stem}.csv"))).unwrap();
        assert!(
            csv.starts_with(header_starts),
            "{stem}.csv header: {}",
            csv.lines().next().unwrap()
        );
        assert!(csv.lines().count() > 2, "{stem}.csv has rows");
    }
    // Figure 1 quick grid: 6 batch sizes × 6 coherences, one panel named for what it is.
    let rows = std::fs::read_to_string(dir.path().join("figure1_sgd_batch_sigma.csv")).unwrap();
    assert_eq!(rows.lines().count(), 1 + 36);
    assert!(
        rows.lines().skip(1).all(|l| l.starts_with("sgd,")),
        "{rows}"
    );
    let panels =
        std::fs::read_to_string(dir.path().join("figure2_unlearning_batch_alpha.csv")).unwrap();
    for panel in ["aligned sigma_r=40,", "fresh sigma_r=40,"] {
        assert_eq!(
            panels.lines().filter(|l| l.starts_with(panel)).count(),
            15,
            "3 B × 5 α cells of `{panel}`"
        );
    }
}

/// Killing `frontier heatmap` at any moment never leaves a truncated or empty PNG (or CSV)
/// under a final name: each file is written to a temporary name and renamed. Ten kills spread
/// over the time a whole run of figure 1 takes; after each, the previous complete PNG (or a
/// new complete one) is there and decodes.
#[test]
fn a_killed_heatmap_never_leaves_a_truncated_png() {
    let dir = tempfile::tempdir().unwrap();
    let (out, runs) = (dir.path().join("figures"), dir.path().join("runs"));
    let args = [
        "heatmap",
        "--quick",
        "--quiet",
        "--only",
        "figure1",
        "--out",
        out.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
    ];
    let started = std::time::Instant::now();
    ok(&args);
    let full = started.elapsed();
    let png = out.join("figure1_sgd_batch_sigma.png");
    let csv = out.join("figure1_sgd_batch_sigma.csv");
    let kills = 10;
    for k in 0..kills {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_frontier"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full * k / kills);
        let _ = child.kill();
        child.wait().unwrap();
        crate::cli::assert_png_drawn(&png);
        let rows = std::fs::read_to_string(&csv).unwrap();
        assert_eq!(rows.lines().count(), 1 + 36, "kill {k}: the CSV is whole");
    }
}

/// Figure 8 under `--quick` (a tiny convnet on a tenth of the digits, 2 forget kinds × 2 α,
/// one seed): both outputs with their columns, one CSV row per setup in (a) and per
/// (kind, α) in (b), numbers finite where they must be; a second run reads the cache.
#[test]
fn quick_figure8_writes_coherence_and_frontier_by_forget_kind() {
    let dir = tempfile::tempdir().unwrap();
    let (out, runs) = (dir.path().join("out"), dir.path().join("runs"));
    let args = [
        "heatmap",
        "--quick",
        "--quiet",
        "--only",
        "figure8",
        "--out",
        out.to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
    ];
    ok(&args);
    let read = |stem: &str| {
        crate::cli::assert_png_drawn(&out.join(format!("{stem}.png")));
        crate::configs::assert_resolved_beside(&out, stem);
        std::fs::read_to_string(out.join(format!("{stem}.csv"))).unwrap()
    };
    let coherence = read("figure8_convnet_digits_coherence");
    let header: Vec<&str> = coherence.lines().next().unwrap().split(',').collect();
    for column in [
        "forget_kind",
        "seed",
        "gn_sigma_r",
        "gn_sigma_f",
        "gn_sigma_rf",
        "exact_sigma_r",
        "exact_sigma_r_se",
        "exact_sigma_rf_se",
        "forget_fitted",
    ] {
        assert!(header.contains(&column), "{column} in {header:?}");
    }
    let kinds: Vec<&str> = coherence
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(kinds, ["random", "mislabelled"], "{coherence}");
    let frontier = read("figure8_convnet_digits_forget_alpha");
    assert!(
        frontier.starts_with("forget_kind,alpha,seeds,escape,deletion,"),
        "{frontier}"
    );
    for column in [
        "predicted_first_moment",
        "predicted_mean_square",
        "predicted_finite_budget",
        "t_esc_mean",
        "balanced_finite_budget",
        "base_rate",
    ] {
        assert!(
            frontier.lines().next().unwrap().contains(column),
            "{column}"
        );
    }
    let rows: Vec<&str> = frontier.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "2 kinds × 2 α: {frontier}");
    for row in &rows {
        let escape: f64 = row.split(',').nth(3).unwrap().parse().unwrap();
        assert!((0.0..=1.0).contains(&escape), "{row}");
    }
    let first = std::fs::read(out.join("figure8_convnet_digits_forget_alpha.csv")).unwrap();
    let again = ok(&args);
    assert!(again.status.success());
    let second = std::fs::read(out.join("figure8_convnet_digits_forget_alpha.csv")).unwrap();
    assert_eq!(first, second, "the cached setups give the same CSV");
}

#[test]
fn an_unknown_figure_name_lists_the_known_ones() {
    crate::cli::fails_with(
        &["heatmap", "--only", "figure9", "--quick"],
        &["figure9", "figure1", "figure7"],
    );
}

/// `--help` prints shapes plainly (no rustdoc escapes such as `\[n\]`) and lists the values of
/// `--dtype`, `--loss` and `--only`.
#[test]
fn help_lists_the_choices_without_escapes() {
    let help = |command: &str| text(&ok(&[command, "--help"]));
    for command in [
        "train",
        "coherence",
        "stability",
        "heatmap",
        "sweep",
        "unlearn",
        "bench",
    ] {
        let page = help(command);
        assert!(!page.contains("\\["), "{command} --help: {page}");
        if command != "stability" {
            assert!(
                page.contains("possible values: f32, f64"),
                "{command}: {page}"
            );
        }
    }
    assert!(help("coherence").contains("possible values: logistic, squared"));
    let heatmap = help("heatmap");
    assert!(
        heatmap.contains("figure1, figure2, figure3, figure4, figure5, figure6, figure7, figure8")
    );
}
