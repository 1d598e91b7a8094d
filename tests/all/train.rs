//! `frontier train`: the run directory and its public format; bad input.

use safetensors::{Dtype, SafeTensors};

use crate::cli::{fails_with, train_tiny};

#[test]
fn writes_the_four_files_with_documented_names_dtypes_and_shapes() {
    for (dtype, expected) in [("f32", Dtype::F32), ("f64", Dtype::F64)] {
        let dir = tempfile::tempdir().unwrap();
        train_tiny(dir.path(), &["--dtype", dtype]);
        let bytes = std::fs::read(dir.path().join("data.safetensors")).unwrap();
        let data = SafeTensors::deserialize(&bytes).unwrap();
        for (name, shape) in [
            ("x", vec![24, 2, 40]),
            ("y", vec![24]),
            ("forget", vec![24]),
            ("x_test", vec![16, 2, 40]),
            ("y_test", vec![16]),
        ] {
            let t = data.tensor(name).unwrap();
            assert_eq!(t.shape(), shape.as_slice(), "{name}");
            assert_eq!(t.dtype(), expected, "{name}");
        }
        let forget = data.tensor("forget").unwrap();
        let ones = forget
            .data()
            .chunks(forget.dtype().bitsize() / 8)
            .filter(|c| c.iter().any(|&b| b != 0))
            .count();
        assert_eq!(ones, 4, "four forget samples");
        let bytes = std::fs::read(dir.path().join("weights.safetensors")).unwrap();
        let weights = SafeTensors::deserialize(&bytes).unwrap();
        for name in ["w_pos", "w_neg"] {
            let t = weights.tensor(name).unwrap();
            assert_eq!(t.shape(), &[3, 40], "{name}");
            assert_eq!(t.dtype(), expected, "{name}");
        }
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("summary.json")).unwrap(),
        )
        .unwrap();
        for key in [
            "steps",
            "converged",
            "final_loss",
            "train_accuracy",
            "test_accuracy",
            "full_grad_norm",
            "max_sample_grad_norm",
            "mean_sample_grad_norm",
            "n",
            "params",
        ] {
            assert!(
                summary.get(key).is_some(),
                "summary.json lacks `{key}`: {summary}"
            );
        }
        assert_eq!(summary["params"], 240);
        let resolved = std::fs::read_to_string(dir.path().join("config.resolved.toml")).unwrap();
        assert!(resolved.contains("n = 24"), "{resolved}");
    }
}

#[test]
fn same_config_same_files() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    train_tiny(a.path(), &[]);
    train_tiny(b.path(), &[]);
    for file in ["data.safetensors", "weights.safetensors"] {
        assert_eq!(
            std::fs::read(a.path().join(file)).unwrap(),
            std::fs::read(b.path().join(file)).unwrap(),
            "{file}"
        );
    }
}

/// Runs `frontier train` with `args`, expecting exit 2, a message containing every item of
/// `needles`, and nothing written to `--out`.
fn refuses(args: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut all = vec!["train", "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    fails_with(&all, needles);
    assert!(!out.exists(), "{args:?} wrote to --out");
}

#[test]
fn unknown_config_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[data]\nsnr = 0.1\nbatch_size = 3\n").unwrap();
    refuses(
        &["--config", path.to_str().unwrap()],
        &["`data.batch_size`", "unknown key"],
    );
}

#[test]
fn more_forget_samples_than_samples_is_refused() {
    refuses(
        &["--set", "data.n=10", "--set", "data.n_forget=11"],
        &["data.n_forget", "at most"],
    );
}

#[test]
fn negative_snr_is_refused() {
    refuses(&["--set", "data.snr=-0.5"], &["data.snr", "≥ 0"]);
}

#[test]
fn zero_dimension_is_refused() {
    refuses(&["--set", "data.d=0"], &["data.d", "at least 1"]);
}

#[test]
fn zero_filters_are_refused() {
    refuses(&["--set", "model.m=0"], &["model.m", "at least 1"]);
}

#[test]
fn unreadable_config_path_is_refused() {
    refuses(
        &["--config", "/nonexistent/frontier.toml"],
        &["cannot read config file", "/nonexistent/frontier.toml"],
    );
}

#[test]
fn f64_on_wgpu_is_refused() {
    refuses(&["--backend", "wgpu", "--dtype", "f64"], &["f64", "wgpu"]);
}
