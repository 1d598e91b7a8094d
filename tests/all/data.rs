//! Data files through the CLI: the shipped digits with the convnet, forget kinds, the
//! coherence report of a curved model, and broken user files.

use std::path::{Path, PathBuf};

use safetensors::SafeTensors;

use crate::cli::{fails_with, ok, unlearn_tiny, write_tensors};

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/data/digits.safetensors")
}

/// 10 % of the images for training (36 samples of the 3s and 8s), 4 of them forgotten.
const SMALL_DIGITS: [&str; 4] = [
    "--set",
    "data.test_fraction=0.9",
    "--set",
    "data.forget.count=4",
];

/// `frontier train` of a small convnet (c₁ = 4, c₂ = 8, p = 465) on the digits' 3s and 8s
/// with `extra` arguments.
fn train_digits(out: &Path, extra: &[&str]) {
    let digits = digits();
    let mut args = vec![
        "train",
        "--model",
        "convnet",
        "--data",
        digits.to_str().unwrap(),
        "--binary",
        "3-vs-8",
        "--set",
        "model.conv1=4",
        "--set",
        "model.conv2=8",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(&args);
}

/// The tensor `name` of a safetensors file as f64 values.
fn tensor(path: &Path, name: &str) -> Vec<f64> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let view = st.tensor(name).unwrap();
    match view.dtype() {
        safetensors::Dtype::F32 => view
            .data()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        _ => view
            .data()
            .chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A mislabelled forget set: its labels (and only its) are flipped in the training data,
/// against a random forget set of the same seed and size (the same samples), and pre-training
/// fits them at w* (the summary reports it).
#[test]
fn mislabelled_samples_are_flipped_in_training_and_fitted_at_w_star() {
    let dir = tempfile::tempdir().unwrap();
    let (mis, random) = (dir.path().join("mis"), dir.path().join("random"));
    let count = ["--set", "data.forget.count=10"];
    train_digits(&mis, &[&["--forget", "mislabelled"][..], &count].concat());
    train_digits(
        &random,
        &[
            &["--forget", "random", "--set", "train.max_steps=1"][..],
            &count,
        ]
        .concat(),
    );
    let forget = json(&mis.join("forget.json"));
    assert_eq!(forget["kind"], "mislabelled");
    let indices: Vec<usize> = forget["indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(indices.len(), 10);
    assert_eq!(
        json(&random.join("forget.json"))["indices"],
        forget["indices"]
    );
    let (y_mis, y_true) = (
        tensor(&mis.join("data.safetensors"), "y"),
        tensor(&random.join("data.safetensors"), "y"),
    );
    assert_eq!(
        tensor(&mis.join("data.safetensors"), "x"),
        tensor(&random.join("data.safetensors"), "x")
    );
    for (i, (a, b)) in y_mis.iter().zip(&y_true).enumerate() {
        assert_eq!(*a == -*b, indices.contains(&i), "sample {i}: {a} vs {b}");
    }
    let summary = json(&mis.join("summary.json"));
    assert_eq!(summary["forget_kind"], "mislabelled");
    assert_eq!(summary["converged"], true, "{summary}");
    assert_eq!(
        summary["forget_train_accuracy"], 1.0,
        "every flipped label fitted: {summary}"
    );
    assert_eq!(summary["image"], serde_json::json!([1, 8, 8]));
}

/// `coherence` on a convnet run prints the exact (Hutchinson, p = 465 > 64) and the
/// Gauss–Newton report side by side, with their difference.
#[test]
fn coherence_of_a_convnet_run_reports_exact_and_gauss_newton() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_digits(&run, &SMALL_DIGITS);
    let out = ok(&["coherence", "--run", run.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["n"].as_u64(), report["n_forget"].as_u64()),
        (Some(36), Some(4))
    );
    assert_eq!(report["method"], "hutchinson");
    assert_eq!(report["params"], 465);
    let (exact, gn) = (&report, &report["gauss_newton"]);
    for key in ["sigma", "sigma_r", "sigma_f", "sigma_rf", "trace_h"] {
        let (e, g, d) = (
            exact[key].as_f64().unwrap(),
            gn[key].as_f64().unwrap(),
            report["gauss_newton_minus_exact"][key].as_f64().unwrap(),
        );
        assert!(
            (g - e - d).abs() <= 1e-12 * g.abs().max(1.0),
            "{key}: {g} − {e} ≠ {d}"
        );
        assert!(exact["std_error"][key].as_f64().unwrap() > 0.0, "{key}");
    }
    let table = ok(&["coherence", "--run", run.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("Gauss-Newton") && text.contains("GN - exact"),
        "{text}"
    );
}

/// `unlearn` on a convnet run of images: the run's data read back as images, w* and the
/// initialisation rebuilt through the model registry, the unlearned weights written as convnet
/// blocks with the model's metadata.
#[test]
fn unlearn_runs_on_a_convnet_run_of_images() {
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = (dir.path().join("run"), dir.path().join("unlearned"));
    train_digits(&run, &SMALL_DIGITS);
    unlearn_tiny(&run, &out, ("10", "5"), &[]);
    let weights = out.join("weights.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "conv1.bias",
            "conv1.weight",
            "conv2.bias",
            "conv2.weight",
            "readout.bias",
            "readout.weight"
        ]
    );
    assert_eq!(
        file.tensor("conv1.weight").unwrap().shape(),
        [4, 1, 3, 3],
        "c₁ = 4 filters over one channel"
    );
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(
        header.metadata().as_ref().unwrap()["model"],
        "convnet",
        "{weights:?}"
    );
    let outcome = json(&out.join("outcome.json"));
    assert!(outcome["steps"].as_u64().unwrap() >= 1, "{outcome}");
    // w* as written by train: the unlearning starts from the run's forget loss.
    let summary = json(&run.join("summary.json"));
    let start = outcome["start"]["forget_loss"].as_f64().unwrap();
    let trained = summary["forget_loss"].as_f64().unwrap();
    assert!(
        (start - trained).abs() <= 1e-4 * trained.max(1e-3),
        "forget loss at w*: unlearn={start}, train={trained}"
    );
}

/// Writes a small data file (n = 6 one-channel 2×2 images, ±1 labels) with one change.
fn broken(edit: impl Fn(&mut Vec<(&'static str, Vec<usize>, Vec<f64>)>), needles: &[&str]) {
    let n = 6;
    let mut tensors = vec![
        (
            "x",
            vec![n, 1, 2, 2],
            (0..n * 4).map(|i| i as f64 / 24.0).collect(),
        ),
        (
            "y",
            vec![n],
            (0..n)
                .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
                .collect(),
        ),
    ];
    edit(&mut tensors);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.safetensors");
    write_tensors(&path, &tensors);
    let out = dir.path().join("out");
    fails_with(
        &[
            "train",
            "--data",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        needles,
    );
    assert!(!out.exists(), "a refused file wrote a run");
}

#[test]
fn corrupted_or_misshaped_user_files_exit_2_naming_the_tensor() {
    broken(
        |t| t[0] = ("x", vec![6, 4], vec![0.5; 24]),
        &["tensor `x`", "[6, 4]"],
    );
    broken(
        |t| t[1] = ("y", vec![5], vec![1.0; 5]),
        &["tensor `y`", "expected [6]"],
    );
    broken(|t| t[1].2[2] = f64::NAN, &["tensor `y`", "non-finite"]);
    broken(
        |t| t[1].2[2] = 3.0,
        &["tensor `y`", "−1 or +1", "found 3 at index 2"],
    );
    broken(
        |t| t.push(("forget_G", vec![6], vec![0.0; 6])),
        &["tensor `forget_G`", "known: x, y, forget, x_test, y_test"],
    );
    broken(
        |t| t[1].2 = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        &["tensor `y`", "class ids", "--binary"],
    );
    // Truncated: the file is named.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.safetensors");
    let bytes = std::fs::read(digits()).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(
        &[
            "train",
            "--data",
            path.to_str().unwrap(),
            "--binary",
            "odd-even",
            "--out",
            dir.path().join("o").to_str().unwrap(),
        ],
        &["cut.safetensors", "is not a valid safetensors file"],
    );
}
