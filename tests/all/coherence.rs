//! `frontier coherence`: agreement with an independent NumPy computation; bad input.

use std::path::Path;

use crate::cli::{assert_json_close, fails_with, ok, reference, train_tiny, write_tensors};

const KEYS: &[&str] = &[
    "n",
    "n_retain",
    "n_forget",
    "alpha",
    "sigma",
    "sigma_r",
    "sigma_f",
    "sigma_rf",
    "sigma_u",
    "sigma_u_signed",
    "lambda_max_h",
    "trace_h",
    "lambda_min_h_alpha",
    "lambda_max_h_alpha",
    "residual_grad_norm",
];

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&ok(args).stdout).expect("exactly one JSON object on stdout")
}

#[test]
fn matches_numpy_on_files_numpy_wrote() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference("cnn_expected.json")).unwrap())
            .unwrap();
    let (data, weights) = (
        reference("cnn_data.safetensors"),
        reference("cnn_weights.safetensors"),
    );
    for loss in ["logistic", "squared"] {
        let got = json(&[
            "coherence",
            "--data",
            data.to_str().unwrap(),
            "--weights",
            weights.to_str().unwrap(),
            "--loss",
            loss,
            "--alpha",
            "0.4",
            "--json",
        ]);
        assert_eq!(got["loss"], loss);
        assert_json_close(&got, &expected[loss], KEYS, 1e-9);
        assert_eq!(got.as_object().unwrap().len(), KEYS.len() + 1, "{got}");
    }
}

#[test]
fn reads_a_run_directory_and_prints_a_table() {
    let dir = tempfile::tempdir().unwrap();
    train_tiny(dir.path(), &[]);
    let got = json(&["coherence", "--run", dir.path().to_str().unwrap(), "--json"]);
    assert_eq!(got["n_forget"], 4);
    assert!(got["sigma"].as_f64().unwrap() >= 1.0 - 1e-9, "{got}");
    let table = ok(&["coherence", "--run", dir.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("sigma_RF"));
}

/// Writes a data/weights pair with one thing changed by `edit`, and runs `coherence` on it.
fn broken(
    edit: impl Fn(
        &mut Vec<(&'static str, Vec<usize>, Vec<f64>)>,
        &mut Vec<(&'static str, Vec<usize>, Vec<f64>)>,
    ),
    needles: &[&str],
) {
    let (n, p, d, m) = (6, 2, 4, 2);
    let mut data = vec![
        (
            "x",
            vec![n, p, d],
            (0..n * p * d).map(|i| (i as f64 * 0.37).sin()).collect(),
        ),
        (
            "y",
            vec![n],
            (0..n)
                .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
                .collect(),
        ),
        (
            "forget",
            vec![n],
            (0..n).map(|i| (i == 1) as u8 as f64).collect(),
        ),
    ];
    let mut weights = vec![
        (
            "w_pos",
            vec![m, d],
            (0..m * d).map(|i| (i as f64).cos()).collect(),
        ),
        (
            "w_neg",
            vec![m, d],
            (0..m * d).map(|i| (i as f64 * 1.3).cos()).collect(),
        ),
    ];
    edit(&mut data, &mut weights);
    let dir = tempfile::tempdir().unwrap();
    let (dp, wp) = (
        dir.path().join("d.safetensors"),
        dir.path().join("w.safetensors"),
    );
    write_tensors(&dp, &data);
    write_tensors(&wp, &weights);
    fails_with(
        &[
            "coherence",
            "--data",
            dp.to_str().unwrap(),
            "--weights",
            wp.to_str().unwrap(),
        ],
        needles,
    );
}

#[test]
fn a_missing_tensor_is_named() {
    broken(
        |data, _| data.retain(|t| t.0 != "y"),
        &["tensor `y` is missing"],
    );
}

#[test]
fn mismatched_shapes_are_named() {
    broken(
        |_, w| w[1] = ("w_neg", vec![2, 3], vec![0.5; 6]),
        &["`w_neg`", "expected [2, 4]"],
    );
}

#[test]
fn labels_outside_plus_minus_one_are_refused() {
    broken(
        |data, _| data[1].2[3] = 0.5,
        &["`y`", "−1 or +1", "found 0.5 at index 3"],
    );
}

#[test]
fn an_empty_forget_set_is_refused() {
    broken(|data, _| data[2].2 = vec![0.0; 6], &["`forget`", "empty"]);
}

#[test]
fn non_finite_weights_are_refused() {
    broken(|_, w| w[0].2[2] = f64::NAN, &["`w_pos`", "non-finite"]);
    broken(|_, w| w[1].2[0] = f64::INFINITY, &["`w_neg`", "non-finite"]);
}

#[test]
fn a_file_that_is_not_safetensors_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("data.safetensors");
    std::fs::write(&bad, b"not a tensor file").unwrap();
    let weights = reference("cnn_weights.safetensors");
    fails_with(
        &[
            "coherence",
            "--data",
            bad.to_str().unwrap(),
            "--weights",
            weights.to_str().unwrap(),
        ],
        &["data.safetensors", "is not a valid safetensors file"],
    );
    assert!(Path::new(&bad).exists());
}
