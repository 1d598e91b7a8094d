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
        crate::cli::text(&out).contains("config key `model.m`: unknown key"),
        "{}",
        crate::cli::text(&out)
    );
}

/// Figure 4 of `--quick` for the MLP: 2 SNRs × 2 losses, 3 × 3 B × α cells each, written under
/// the MLP's own stem. Its per-sample Hessians are not rank one and p = 1210 is too many for
/// dense finite differences, so the grids have no predictions: NaN columns, a note on stderr.
#[test]
fn quick_figure4_for_the_mlp_has_its_own_files_and_no_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let out = ok(&[
        "heatmap",
        "--quick",
        "--only",
        "figure4",
        "--model",
        "mlp",
        "--out",
        dir.path().to_str().unwrap(),
        "--runs",
        runs.to_str().unwrap(),
    ]);
    let log = crate::cli::text(&out);
    crate::cli::assert_png_drawn(&dir.path().join("figure4_mlp_batch_alpha.png"));
    assert!(!dir.path().join("figure4_cnn_batch_alpha.png").exists());
    let csv = std::fs::read_to_string(dir.path().join("figure4_mlp_batch_alpha.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 36, "header + 4 grids × 9 cells");
    let header: Vec<&str> = lines[0].split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (panel, escape, predicted) = (
        column("panel"),
        column("escape_fraction"),
        column("predicted_mean_square_fraction"),
    );
    for row in &lines[1..] {
        let fields: Vec<&str> = row.split(',').collect();
        let escape: f64 = fields[escape].parse().unwrap();
        assert!((0.0..=1.0).contains(&escape), "{row}");
        assert_eq!(fields[predicted], "NaN", "{row}");
    }
    for label in [
        "logistic snr=0.05",
        "squared snr=0.05",
        "logistic snr=1",
        "squared snr=1",
    ] {
        let rows = lines[1..]
            .iter()
            .filter(|r| r.split(',').nth(panel) == Some(label))
            .count();
        assert_eq!(rows, 9, "{label}: {csv}");
    }
    assert_eq!(
        log.matches("note: no predicted boundaries").count(),
        4,
        "{log}"
    );
}
