//! The second model through the same CLI: `--model mlp` trains, saves and is probed.

use safetensors::SafeTensors;

use crate::cli::{ok, train_tiny_model};

#[test]
fn trains_saves_and_probes_the_mlp() {
    let dir = tempfile::tempdir().unwrap();
    train_tiny_model(
        dir.path(),
        &["--model", "mlp", "--set", "model.hidden=4"],
        &["--dtype", "f64"],
    );
    let bytes = std::fs::read(dir.path().join("weights.safetensors")).unwrap();
    let weights = SafeTensors::deserialize(&bytes).unwrap();
    for (name, shape) in [("w", vec![4, 80]), ("b", vec![4]), ("v", vec![4])] {
        assert_eq!(
            weights.tensor(name).unwrap().shape(),
            shape.as_slice(),
            "{name}"
        );
    }
    let out = ok(&["coherence", "--run", dir.path().to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["n_forget"], 4);
    let sigma = report["sigma"].as_f64().unwrap();
    assert!(
        (1.0 - 1e-6..=24.0).contains(&sigma),
        "σ = {sigma}: {report}"
    );
}

#[test]
fn cnn_keys_are_refused_for_the_mlp() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::cli::frontier(&[
        "train",
        "--model",
        "mlp",
        "--set",
        "model.m=3",
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        crate::cli::text(&out).contains("unknown field `m`"),
        "{}",
        crate::cli::text(&out)
    );
}
