//! `frontier bench`: the kernel table and its CSV.

use crate::cli::{fails_with, ok, text};

/// `--quick` times every kernel once per repetition and writes one CSV row per kernel with
/// consistent numbers: min ≤ median ≤ max, and GFLOP/s = flops / median / 1e9.
#[test]
fn quick_suite_writes_a_consistent_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&[
        "bench",
        "--quick",
        "--reps",
        "2",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let printed = text(&out);
    let csv = std::fs::read_to_string(dir.path().join("flex.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut kernels = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        let number = |name: &str| record[column(name)].parse::<f64>().unwrap();
        let (median, min, max) = (number("median_s"), number("min_s"), number("max_s"));
        assert!(0.0 < min && min <= median && median <= max, "{record:?}");
        let gflops = number("flops") / median / 1e9;
        assert!(
            (number("gflops") - gflops).abs() <= 1e-9 * gflops,
            "{record:?}"
        );
        assert_eq!(&record[column("reps")], "2");
        assert!(record[column("backend")].starts_with("flex"));
        kernels.push(record[column("name")].to_string());
        assert!(printed.contains(&record[column("name")]), "{printed}");
    }
    for kernel in [
        "matmul",
        "per_sample_grads",
        "gram",
        "unlearn_step_batched",
        "unlearn_step_per_run",
        "unlearn_step_grid",
        "simulator_step",
    ] {
        assert!(
            kernels.iter().any(|k| k == kernel),
            "{kernel} in {kernels:?}"
        );
    }
}

#[test]
fn zero_repetitions_are_refused() {
    fails_with(&["bench", "--quick", "--reps", "0"], &["--reps"]);
}

/// `--figures` adds one row per figure (kind "figure", one cold run each) and `--figures-out`
/// keeps what the figures wrote.
#[test]
fn figures_are_timed_and_kept_where_asked() {
    let (csv_dir, figures) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ok(&[
        "bench",
        "--quick",
        "--reps",
        "1",
        "--figures",
        "--figures-out",
        figures.path().to_str().unwrap(),
        "--out",
        csv_dir.path().to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(csv_dir.path().join("flex.csv")).unwrap();
    let timed: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("figure,"))
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    let expected: Vec<String> = std::iter::once("budget".to_string())
        .chain((1..=8).map(|k| format!("figure{k}")))
        .collect();
    assert_eq!(timed, expected, "{csv}");
    for kept in ["figure4_cnn_batch_alpha.png", "figure4_cnn_batch_alpha.csv"] {
        assert!(figures.path().join(kept).is_file(), "{kept}");
    }
}

#[test]
fn figures_out_needs_figures() {
    fails_with(
        &["bench", "--quick", "--figures-out", "/tmp/x"],
        &["--figures"],
    );
}
