//! `frontier unlearn`: one run from a `frontier train` directory, in detail.

use safetensors::SafeTensors;

use crate::cli::{fails_with, text, train_tiny, unlearn_tiny};

#[test]
fn one_run_writes_its_trajectory_plots_outcome_and_weights() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_tiny(&run, &[]);
    let out = dir.path().join("unlearned");
    let log = text(&unlearn_tiny(&run, &out, ("30", "5"), &["--eta", "2"]));
    assert!(log.contains("retrain reference"), "{log}");
    let csv = std::fs::read_to_string(out.join("trajectory.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    let header: Vec<&str> = rows[0].split(',').collect();
    for column in [
        "step",
        "forget_loss",
        "retain_loss",
        "test_loss",
        "forget_accuracy",
        "retain_accuracy",
        "test_accuracy",
        "distance",
        "retrain_distance",
        "mia_auc",
        "relative_distance",
    ] {
        assert!(header.contains(&column), "{column} in {header:?}");
    }
    assert_eq!(
        rows.len(),
        1 + 1 + 6,
        "header, w*, a record every 5 of 30 steps: {csv}"
    );
    assert!(rows[1].starts_with("0,"), "step 0 is w*: {}", rows[1]);
    assert!(rows[7].starts_with("30,"), "{}", rows[7]);
    crate::cli::assert_png_drawn(&out.join("trajectory.png"));
    let outcome: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("outcome.json")).unwrap()).unwrap();
    assert_eq!(outcome["steps"], 30, "{outcome}");
    assert!(outcome["retrained"]["forget_loss"].as_f64().unwrap() > 0.0);
    let bytes = std::fs::read(out.join("weights.safetensors")).unwrap();
    let weights = SafeTensors::deserialize(&bytes).unwrap();
    for name in ["w_pos", "w_neg"] {
        assert_eq!(weights.tensor(name).unwrap().shape(), [3, 40], "{name}");
    }
    // The unlearned weights differ from w*.
    let start = std::fs::read(run.join("weights.safetensors")).unwrap();
    assert_ne!(bytes, start);
    let resolved = std::fs::read_to_string(out.join("unlearn.config.toml")).unwrap();
    assert!(resolved.contains("alpha = 0.5"), "{resolved}");
}

#[test]
fn bad_alpha_or_a_batch_above_n_f_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_tiny(&run, &[]);
    let out = dir.path().join("unlearned");
    let run = run.to_str().unwrap();
    let out_s = out.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["--alpha", "1.5", "--batch", "2"],
            "alpha`: must lie in [0, 1]",
        ),
        (
            vec!["--alpha", "-0.1", "--batch", "2"],
            "alpha`: must lie in [0, 1], got -0.1",
        ),
        (vec!["--alpha", "0.5", "--batch", "5"], "batch_forget"),
        (
            vec!["--alpha", "0.5", "--batch", "2", "--batch-forget", "9"],
            "batch_forget",
        ),
        (
            vec!["--alpha", "0.5", "--batch", "2", "--eta", "-1"],
            "eta`: must be",
        ),
    ] {
        let mut all = vec!["unlearn", "--run", run, "--out", out_s];
        all.extend(args);
        fails_with(&all, &[needle]);
        assert!(!out.exists(), "{needle}: nothing written");
    }
    fails_with(
        &[
            "unlearn", "--run", out_s, "--alpha", "0.5", "--batch", "2", "--out", out_s,
        ],
        &["config.resolved.toml"],
    );
}
