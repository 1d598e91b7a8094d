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

/// A tiny training config: fast, still separable.
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
    "model.m=3",
    "--set",
    "train.max_steps=200",
];

/// `frontier train` of the tiny config into `out`, with extra arguments.
pub fn train_tiny(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--out", out.to_str().unwrap()];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    ok(&args)
}
