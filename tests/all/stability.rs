//! `frontier stability`: agreement with an independent NumPy computation; bad input.

use crate::cli::{assert_json_close, fails_with, ok, reference, stability_args, write_tensors};

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

/// A forget family of 2 samples in p = 3 beside [`hessians`]' retain family.
fn forget_family() -> Vec<(&'static str, Vec<usize>, Vec<f64>)> {
    vec![
        ("forget_g", vec![2, 3], vec![0.5, -1.0, 2.0, 1.5, 0.0, -0.5]),
        ("forget_c", vec![2], vec![0.8, 1.2]),
    ]
}

/// The finite-budget escape prediction: T̂_esc = L/κ from the run's own λ_min(H_α), recomputed
/// here from the logistic loss-shape formula (docs/science.md, "The escape-time rule"):
/// m₀ = −ln(e^ℓ − 1), Δ = R·‖g_f‖/√n_f, L = ℓ''(m₀)·Δ + σ(m₀)²·(1 − e^(−Δ)),
/// κ = ln(1 + η·|λ_min|).
#[test]
fn escape_prediction_matches_the_closed_form() {
    let dir = hessians(forget_family());
    let path = dir.path().join("h.safetensors");
    let (eta, loss, grad, radius, budget) = (0.3, 0.05, 2.0, 1.5, 40);
    let out = ok(&[
        "stability",
        "--hessians",
        path.to_str().unwrap(),
        "--eta",
        &eta.to_string(),
        "--alpha",
        "0.6",
        "--batch",
        "2",
        "--steps",
        &budget.to_string(),
        "--reps",
        "2",
        "--loss",
        "logistic",
        "--forget-loss",
        &loss.to_string(),
        "--forget-grad-norm",
        &grad.to_string(),
        "--radius",
        &radius.to_string(),
        "--json",
    ]);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lambda_min = got["lambda_min_h_alpha"].as_f64().unwrap();
    assert!(lambda_min < 0.0, "α = 0.6 makes H_α indefinite here: {got}");
    let sigmoid = |m: f64| 1.0 / (1.0 + (-m).exp());
    let m0 = -(f64::exp(loss) - 1.0).ln();
    let shift = radius * grad / 2f64.sqrt();
    let factor = sigmoid(m0) * sigmoid(-m0) * shift + sigmoid(m0).powi(2) * (1.0 - (-shift).exp());
    let kappa = (1.0 + eta * lambda_min.abs()).ln();
    let steps = factor / kappa;
    for (key, want) in [
        ("escape_rate", kappa),
        ("escape_shape_factor", factor),
        ("escape_steps_predicted", steps),
    ] {
        let rust = got[key].as_f64().unwrap_or(f64::NAN);
        assert!(
            (rust - want).abs() <= 1e-9 * want.abs(),
            "{key}: rust={rust}, reference={want}"
        );
    }
    assert_eq!(got["escape_within_steps"], steps <= budget as f64, "{got}");
}

/// Without the escape flags the fields are null; with some of them, or with a bad value or no
/// forget family, the command refuses before any work and names the flag.
#[test]
fn escape_flags_are_all_or_none_and_validated() {
    let dir = hessians(forget_family());
    let path = dir.path().join("h.safetensors");
    let args = stability_args(&path);
    let base: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(&[&base[..], &["--json"]].concat());
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(got["escape_steps_predicted"].is_null(), "{got}");
    assert!(got["escape_within_steps"].is_null(), "{got}");
    fails_with(
        &[&base[..], &["--loss", "logistic", "--radius", "1"]].concat(),
        &["--forget-loss"],
    );
    let all = [
        "--loss",
        "squared",
        "--forget-grad-norm",
        "1",
        "--radius",
        "1",
    ];
    fails_with(
        &[&base[..], &all, &["--forget-loss=-0.5"]].concat(),
        &["--forget-loss", "-0.5"],
    );
    refuses(
        vec![],
        &[
            &["--eta", "0.3", "--batch", "2", "--forget-loss", "0.1"][..],
            &all,
        ]
        .concat(),
        &["forget family"],
    );
}
