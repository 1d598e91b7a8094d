//! Helpers to run the binary.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `frontier` with `args`.
pub fn frontier(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frontier"))
        .args(args)
        .output()
        .expect("the frontier binary runs")
}

/// Stdout and stderr as one string, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `frontier` expecting success.
pub fn ok(args: &[&str]) -> Output {
    let out = frontier(args);
    assert!(
        out.status.success(),
        "frontier {args:?} failed:\n{}",
        text(&out)
    );
    out
}

/// A tiny data and training config: fast, still separable.
pub const TINY: &[&str] = &[
    "--set",
    "data.n=24",
    "--set",
    "data.n_test=16",
    "--set",
    "data.d=40",
    "--set",
    "data.n_forget=4",
    "--set",
    "train.max_steps=200",
];

/// `frontier train` of the tiny config with a CNN of m = 3 into `out`, with extra arguments.
pub fn train_tiny(out: &Path, extra: &[&str]) -> Output {
    train_tiny_model(out, &["--set", "model.m=3"], extra)
}

/// `frontier unlearn` of the `frontier train` directory `run` into `out` with α = 0.5, B = 2,
/// `steps` steps recorded every `every`, and extra arguments.
pub fn unlearn_tiny(
    run: &Path,
    out: &Path,
    (steps, every): (&str, &str),
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "unlearn",
        "--run",
        run.to_str().unwrap(),
        "--alpha",
        "0.5",
        "--batch",
        "2",
        "--steps",
        steps,
        "--record-every",
        every,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(&args)
}

/// `frontier train` of the tiny config with the model arguments `model` into `out`.
pub fn train_tiny_model(out: &Path, model: &[&str], extra: &[&str]) -> Output {
    let mut args = vec!["train", "--out", out.to_str().unwrap()];
    args.extend_from_slice(TINY);
    args.extend_from_slice(model);
    args.extend_from_slice(extra);
    ok(&args)
}

/// Writes f64 tensors `(name, shape, values)` to a safetensors file.
pub fn write_tensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f64>)]) {
    write_tensors_with_metadata(path, tensors, &[]);
}

/// As [`write_tensors`], with `__metadata__` entries.
pub fn write_tensors_with_metadata(
    path: &Path,
    tensors: &[(&str, Vec<usize>, Vec<f64>)],
    metadata: &[(&str, &str)],
) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<_> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F64, shape.clone(), b);
            (name.to_string(), view.unwrap())
        })
        .collect();
    let metadata = (!metadata.is_empty()).then(|| {
        metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    });
    std::fs::write(path, safetensors::serialize(views, metadata).unwrap()).unwrap();
}

/// The golden fixtures written by `tests/reference/make_fixtures.py` (NumPy).
pub fn reference(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(file)
}

/// Asserts that the JSON object `got` matches `expected` on every key of `keys`, to `rel`.
pub fn assert_json_close(
    got: &serde_json::Value,
    expected: &serde_json::Value,
    keys: &[&str],
    rel: f64,
) {
    for key in keys {
        let (a, b) = (got[key].as_f64(), expected[key].as_f64());
        let (Some(a), Some(b)) = (a, b) else {
            panic!(
                "`{key}` missing or not a number: rust={}, reference={}",
                got[key], expected[key]
            );
        };
        assert!(
            (a - b).abs() <= rel * b.abs().max(1e-12),
            "{key}: rust={a}, reference={b}"
        );
    }
}

/// Runs `frontier` expecting exit 2 with every `needle` in its message.
pub fn fails_with(args: &[&str], needles: &[&str]) {
    let out = frontier(args);
    let message = text(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {message}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "{args:?}: `{needle}` not in: {message}"
        );
    }
}

/// Asserts that `path` is a PNG with a drawn plot: it decodes, and has more than 20 distinct
/// colours (a blank or single-colour image has a handful).
pub fn assert_png_drawn(path: &Path) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{} does not decode as an image: {e}", path.display()))
        .to_rgb8();
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 20,
        "{}: only {} distinct colours",
        path.display(),
        colours.len()
    );
}

/// `frontier stability --hessians PATH` with η = 0.1, B = 2, 10 steps and 2 runs: the
/// arguments the tests of Hessians files start from.
pub fn stability_args(path: &Path) -> Vec<String> {
    [
        "stability",
        "--hessians",
        path.to_str().unwrap(),
        "--eta",
        "0.1",
        "--batch",
        "2",
        "--steps",
        "10",
        "--reps",
        "2",
    ]
    .map(String::from)
    .to_vec()
}
