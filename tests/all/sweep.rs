//! `frontier sweep`: a grid of one's own from a config file, on a tiny CNN (seconds).

use std::path::Path;

use crate::cli::{fails_with, frontier, ok, text};

/// A 2 × 2 grid (B ∈ {1, 2} × α ∈ {0, 1}), 2 seeds, 15 steps, on n = 24 samples.
pub const TINY: &str = r#"
kind = "grid"
model = "cnn"
stem = "tiny"
columns = 2

[[show]]
title = "escape"
fraction = "escape"

[[show]]
title = "retain accuracy"
mean = "retain_accuracy"
range = [0.0, 1.0]

[grid]
reps = 2
x = { param = "batch", values = [1, 2] }
y = { param = "alpha", values = [0.0, 1.0] }
setup.data = { n = 24, n_test = 16, d = 40, n_forget = 4 }
setup.model = { m = 3 }
setup.pretrain = { loss = "logistic", eta = 1.0, max_steps = 200, loss_tol = 0.01 }
predict = { sim_reps = 2, power_max_iter = 20, asymptotic = { reps = 2, max_steps = 800 } }

[grid.unlearn]
steps = 15
record_every = 5
step = { eta = 0.5, alpha = 0.5, batch_retain = 2, sampling = "without" }
"#;

/// The arguments of `frontier sweep` on `config` (written to `dir/<name>.toml`) into `dir/out`
/// with the cache in `dir/runs`.
pub fn sweep_args(dir: &Path, name: &str, config: &str) -> Vec<String> {
    std::fs::write(dir.join(format!("{name}.toml")), config).unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_string();
    [
        "sweep",
        "--config",
        &path(&dir.join(format!("{name}.toml"))),
    ]
    .into_iter()
    .map(String::from)
    .chain(["--out".into(), path(&dir.join("out"))])
    .chain(["--runs".into(), path(&dir.join("runs"))])
    .collect()
}

/// Runs `frontier sweep` on `config` with `extra` arguments.
fn sweep(dir: &Path, name: &str, config: &str, extra: &[&str]) -> std::process::Output {
    let mut args = sweep_args(dir, name, config);
    args.extend(extra.iter().map(|a| a.to_string()));
    frontier(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_two_by_two_sweep_writes_its_csv_heatmap_and_resolved_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = sweep(dir.path(), "mine", TINY, &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stderr.is_empty(), "--quiet: {}", text(&out));
    let stem = dir.path().join("out/mine_cnn_tiny");
    let csv = lines(&stem.with_extension("csv"));
    assert_eq!(csv.len(), 1 + 4, "header + 2 × 2 cells");
    let header: Vec<&str> = csv[0].split(',').collect();
    assert_eq!(header[..4], ["panel", "batch", "alpha", "reps"]);
    for column in [
        "escape_fraction",
        "deletion_fraction",
        "retain_accuracy_mean",
        "rho_mean",
        "gamma_inf_mean",
        "predicted_gamma_inf_fraction",
        "gamma_inf_undetermined_fraction",
        "predicted_finite_budget_fraction",
        "escape_steps_predicted_mean",
    ] {
        assert!(header.contains(&column), "{column} in {header:?}");
    }
    assert!(csv[1..].iter().all(|l| l.starts_with("mine,")), "{csv:?}");
    crate::cli::assert_png_drawn(&stem.with_extension("png"));
    crate::configs::assert_resolved_beside(&dir.path().join("out"), "mine_cnn_tiny");
    let index = lines(&dir.path().join("runs/index.csv"));
    assert_eq!(index.len(), 2, "{index:?}");
    assert!(index[1].ends_with(",mine cnn: mine"), "{index:?}");
    // `--set` overrides a key: another seed is another grid, computed afresh.
    let again = sweep(dir.path(), "mine", TINY, &["--set", "grid.seed=5"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains(": 4 of 4 cells computed"),
        "{}",
        text(&again)
    );
}

/// One axis: a line plot (no heatmap), one CSV row per value, no y column; a categorical axis
/// (the loss) in the CSV as names.
#[test]
fn a_one_axis_sweep_draws_a_line_plot() {
    let dir = tempfile::tempdir().unwrap();
    let config = TINY
        .replace(
            r#"x = { param = "batch", values = [1, 2] }"#,
            r#"x = { param = "loss", values = ["logistic", "squared"] }"#,
        )
        .replace(r#"y = { param = "alpha", values = [0.0, 1.0] }"#, "")
        .replace("eta = 1.0, max_steps", "eta = 0.05, max_steps");
    let out = sweep(dir.path(), "line", &config, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stem = dir.path().join("out/line_cnn_tiny");
    let csv = lines(&stem.with_extension("csv"));
    assert_eq!(csv.len(), 1 + 2);
    assert!(csv[0].starts_with("panel,loss,reps,"), "{}", csv[0]);
    assert!(csv[1].starts_with("line,logistic,") && csv[2].starts_with("line,squared,"));
    let png = image::open(stem.with_extension("png")).unwrap();
    assert_eq!(png.width(), 2 * 900, "two line plots side by side");
    crate::cli::assert_png_drawn(&stem.with_extension("png"));
}

/// A bad key or value stops the sweep with exit 2 before anything is computed or written,
/// naming the key (and the file).
#[test]
fn bad_sweep_configs_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    for (config, needles) in [
        (
            TINY.replace("n_forget = 4", "n_forgte = 4"),
            vec!["n_forgte", "bad.toml"],
        ),
        (
            TINY.replace("columns = 2", "colums = 2"),
            vec!["colums", "bad.toml"],
        ),
        (
            TINY.replace(r#"param = "batch""#, r#"param = "batchsize""#),
            vec!["batchsize", "bad.toml"],
        ),
        (
            TINY.replace("values = [1, 2]", "values = [1, 7]"),
            vec!["batch_forget"],
        ),
        (
            TINY.replace(r#"mean = "retain_accuracy""#, r#"mean = "acc""#),
            vec!["acc"],
        ),
    ] {
        let args = sweep_args(dir.path(), "bad", &config);
        fails_with(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &needles,
        );
        let (out, runs) = (dir.path().join("out"), dir.path().join("runs"));
        assert!(
            !out.exists() && !runs.exists(),
            "{needles:?}: nothing written"
        );
    }
}

/// The example sweeps of `assets/configs/sweeps/` parse and validate (a `--set` that shrinks
/// them to one cell, one seed and a few steps runs each end to end).
#[test]
fn the_example_sweeps_run() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/configs/sweeps");
    for name in ["eta_alpha", "budget"] {
        let dir = tempfile::tempdir().unwrap();
        let config = examples.join(format!("{name}.toml"));
        let (out, runs) = (dir.path().join("out"), dir.path().join("runs"));
        let mut args = vec![
            "sweep",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--runs",
            runs.to_str().unwrap(),
            "--quiet",
        ];
        args.extend([
            "--set",
            "grid.reps=1",
            "--set",
            "grid.setup.data={ n = 24, n_test = 16, d = 40, n_forget = 4 }",
            "--set",
            "grid.setup.model={ m = 3 }",
            "--set",
            "grid.predict={ sim_reps = 1, power_max_iter = 10, asymptotic = { reps = 2, max_steps = 400 } }",
        ]);
        let shrink = if name == "budget" {
            ["--set", r#"grid.x={ param = "steps", values = [5, 10] }"#]
        } else {
            ["--set", r#"grid.x={ param = "eta", values = [0.5] }"#]
        };
        args.extend(shrink);
        if name == "eta_alpha" {
            args.extend(["--set", "grid.unlearn.steps=10"]);
            args.extend([
                "--set",
                r#"grid.y={ param = "alpha", values = [0.0, 1.0] }"#,
            ]);
            args.extend(["--set", "grid.unlearn.step.batch_retain=2"]);
        } else {
            args.extend(["--set", "grid.unlearn.record_every=5"]);
            args.extend(["--set", "grid.unlearn.step.batch_retain=2"]);
        }
        ok(&args);
        let pngs = std::fs::read_dir(&out)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "png")
            .count();
        assert_eq!(pngs, 1, "{name}");
    }
}
