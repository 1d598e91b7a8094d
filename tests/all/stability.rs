//! `frontier stability`: agreement with an independent NumPy computation; bad input.

use crate::cli::{assert_json_close, fails_with, ok, reference, write_tensors};

/// The `--json` numbers that do not depend on the simulation.
pub const DETERMINISTIC: &[&str] = &[
    "rho_mean_square",
    "lambda_min_h_alpha",
    "lambda_max_h_alpha",
    "sigma_r",
    "sigma_f",
    "sigma_rf",
    "sigma_u",
];

#[test]
fn matches_numpy_on_hessians_numpy_wrote() {
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reference("stability_expected.json")).unwrap(),
    )
    .unwrap();
    let h = reference("hessians.safetensors");
    let out = ok(&[
        "stability",
        "--hessians",
        h.to_str().unwrap(),
        "--eta",
        "0.3",
        "--alpha",
        "0.35",
        "--batch",
        "3",
        "--steps",
        "400",
        "--reps",
        "4",
        "--json",
    ]);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_json_close(&got, &expected, DETERMINISTIC, 1e-9);
    for key in [
        "lyapunov",
        "lyapunov_stderr",
        "diverged_fraction",
        "mean_diverge_step",
        "coherence_bound_diverges",
    ] {
        assert!(got.get(key).is_some(), "missing `{key}`: {got}");
    }
}

/// A small valid rank-one retain family (n_r = 4, p = 3) plus `extra` tensors.
fn hessians(extra: Vec<(&'static str, Vec<usize>, Vec<f64>)>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = vec![
        (
            "retain_g",
            vec![4, 3],
            (0..12).map(|i| ((i * 7 % 5) as f64) - 2.0).collect(),
        ),
        ("retain_c", vec![4], vec![1.0, 0.5, 2.0, 1.0]),
    ];
    tensors.extend(extra);
    write_tensors(&dir.path().join("h.safetensors"), &tensors);
    dir
}

fn refuses(extra: Vec<(&'static str, Vec<usize>, Vec<f64>)>, args: &[&str], needles: &[&str]) {
    let dir = hessians(extra);
    let path = dir.path().join("h.safetensors");
    let mut all = vec![
        "stability",
        "--hessians",
        path.to_str().unwrap(),
        "--steps",
        "10",
        "--reps",
        "2",
    ];
    all.extend_from_slice(args);
    fails_with(&all, needles);
}

#[test]
fn alpha_outside_unit_interval_is_refused() {
    refuses(
        vec![],
        &["--eta", "0.1", "--batch", "2", "--alpha", "1.5"],
        &["alpha", "[0, 1]"],
    );
}

#[test]
fn zero_or_too_large_batches_are_refused() {
    refuses(vec![], &["--eta", "0.1", "--batch", "0"], &["batch"]);
    refuses(vec![], &["--eta", "0.1", "--batch", "5"], &["batch"]);
}

#[test]
fn non_positive_eta_is_refused() {
    refuses(
        vec![],
        &["--eta", "0", "--batch", "2"],
        &["--eta", "eta = 0", "(0, ∞)"],
    );
}

#[test]
fn non_psd_dense_hessians_report_the_most_negative_eigenvalue() {
    let bad = vec![(
        "forget_h",
        vec![1, 3, 3],
        vec![1.0, 0.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0, 1.0],
    )];
    refuses(
        bad,
        &["--eta", "0.1", "--batch", "1", "--alpha", "0.5"],
        &["forget", "-2"],
    );
}

#[test]
fn shape_mismatches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.safetensors");
    write_tensors(
        &path,
        &[
            ("retain_g", vec![4, 3], vec![1.0; 12]),
            ("retain_c", vec![3], vec![1.0; 3]),
        ],
    );
    fails_with(
        &[
            "stability",
            "--hessians",
            path.to_str().unwrap(),
            "--eta",
            "0.1",
            "--batch",
            "2",
        ],
        &["retain_c", "expected [4]"],
    );
    let g = vec![
        ("forget_g", vec![2, 5], vec![1.0; 10]),
        ("forget_c", vec![2], vec![1.0; 2]),
    ];
    refuses(
        g,
        &["--eta", "0.1", "--batch", "1", "--alpha", "0.5"],
        &["5"],
    );
}

#[test]
fn missing_retain_hessians_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.safetensors");
    write_tensors(
        &path,
        &[("forget_h", vec![1, 2, 2], vec![1.0, 0.0, 0.0, 1.0])],
    );
    fails_with(
        &[
            "stability",
            "--hessians",
            path.to_str().unwrap(),
            "--eta",
            "0.1",
            "--batch",
            "1",
        ],
        &["retain_g"],
    );
}
