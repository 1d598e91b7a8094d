//! The config files: every committed figure config loads, parses and resolves (full and
//! `--quick`), and every output has its resolved config beside it, which runs again as a
//! config of its own.

use std::path::Path;

use crate::cli::{fails_with, ok};

/// `<stem>.config.toml` exists beside `<stem>.png`, names its source and kind, and is TOML.
pub fn assert_resolved_beside(dir: &Path, stem: &str) {
    let path = dir.join(format!("{stem}.config.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.starts_with("# Resolved from "), "{text}");
    let table: toml::Table = toml::from_str(&text).unwrap();
    assert!(table["kind"].is_str(), "{}: no kind", path.display());
}

/// Every committed figure config loads, parses and resolves (every panel's grid validated),
/// at full scale, under `--quick` and with `--model mlp`: `--dry-run` lists what each would run
/// and computes nothing.
#[test]
fn every_committed_config_resolves_at_both_scales() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    for extra in [&[][..], &["--quick"], &["--model", "mlp"]] {
        let mut args = vec!["heatmap", "--dry-run", "--quiet"];
        args.extend(["--out", dir.path().to_str().unwrap()]);
        args.extend(["--runs", runs.to_str().unwrap()]);
        args.extend(extra);
        let out = ok(&args);
        let plan = String::from_utf8(out.stdout).unwrap();
        for i in 1..=8 {
            assert!(
                plan.contains(&format!("figure{i}.toml: ")),
                "{extra:?}: {plan}"
            );
        }
        assert!(!runs.exists(), "a dry run computes nothing");
        if extra.is_empty() {
            assert!(
                plan.contains("`logistic snr=0.05` 6 batch × 11 alpha × 5 seeds"),
                "{plan}"
            );
            assert!(
                plan.contains("49 B × 50 σ cells × 10 runs of 1000 steps"),
                "{plan}"
            );
        }
    }
    let mut listed = std::fs::read_dir(dir.path()).unwrap();
    assert!(listed.all(|e| e.unwrap().file_name() != "figure1_sgd_batch_sigma.png"));
}

/// A figure's resolved config, given back to `frontier heatmap --config`, writes the same CSV
/// under the same name (from the cache).
#[test]
fn a_resolved_config_runs_again_to_the_same_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (first, again, runs) = (
        dir.path().join("first"),
        dir.path().join("again"),
        dir.path().join("runs"),
    );
    let run = |config: &[&str], out: &Path| {
        let mut args = vec!["heatmap", "--quiet", "--runs", runs.to_str().unwrap()];
        args.extend(["--out", out.to_str().unwrap()]);
        args.extend(config);
        ok(&args)
    };
    run(&["--quick", "--only", "figure2"], &first);
    let resolved = first.join("figure2_unlearning_batch_alpha.config.toml");
    run(&["--config", resolved.to_str().unwrap()], &again);
    for stem in [
        "figure2_unlearning_batch_alpha",
        "figure2_unlearning_alpha_alignment",
    ] {
        let read = |dir: &Path| std::fs::read(dir.join(format!("{stem}.csv"))).unwrap();
        assert_eq!(read(&first), read(&again), "{stem}.csv");
    }
}

/// An unknown key, at the top of a figure config or in one of its nested tables, stops the
/// run with exit 2 before anything is computed or written, naming the key and the file.
#[test]
fn an_unknown_key_in_a_figure_config_names_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let figures = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/configs/figures");
    for (name, nested) in [
        ("figure1", "threshold = 1000.0"),
        ("figure3", "loss_tol = 0.01"),
        ("figure4", "loss_tol = 0.01"),
        ("figure7", "loss_tol = 0.01"),
    ] {
        let text = std::fs::read_to_string(figures.join(format!("{name}.toml"))).unwrap();
        assert!(text.contains(nested), "{name}");
        for (bad, key) in [
            (format!("colums = 3\n{text}"), "colums"),
            (
                text.replacen(nested, &format!("{nested}\nsnrr = 1.0"), 1),
                "snrr",
            ),
        ] {
            let path = dir.path().join(format!("{name}.toml"));
            std::fs::write(&path, bad).unwrap();
            refused_before_writing(dir.path(), &path, &[key]);
        }
    }
}

/// Figure 8's forget-kind axis: an unknown kind, "mask" or a repeated kind stops the run with
/// exit 2 before anything is computed, naming `kinds`, the value and the file.
#[test]
fn a_bad_forget_kind_in_figure8_names_the_key_and_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let figures = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/configs/figures");
    let text = std::fs::read_to_string(figures.join("figure8.toml")).unwrap();
    let line = "kinds = [\"random\", \"mislabelled\", \"sub-class\", \"atypical\"]";
    assert!(text.contains(line), "figure8.toml lists the four kinds");
    for (kinds, needle) in [
        ("[\"random\", \"typical\"]", "unknown forget kind `typical`"),
        ("[\"mask\"]", "\"mask\" is not a kind"),
        ("[\"random\", \"random\"]", "\"random\" is named twice"),
    ] {
        let path = dir.path().join("figure8.toml");
        std::fs::write(&path, text.replacen(line, &format!("kinds = {kinds}"), 1)).unwrap();
        refused_before_writing(dir.path(), &path, &["kinds", needle]);
    }
}

/// `frontier heatmap --config path` (outputs and cache under `dir`) exits 2 with a message
/// holding every needle and the file's path, and writes nothing.
fn refused_before_writing(dir: &Path, path: &Path, needles: &[&str]) {
    let out = dir.join("out");
    let mut expected = needles.to_vec();
    expected.push(path.to_str().unwrap());
    fails_with(
        &[
            "heatmap",
            "--config",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--runs",
            dir.join("runs").to_str().unwrap(),
        ],
        &expected,
    );
    assert!(!out.exists(), "{}: nothing written", path.display());
}
