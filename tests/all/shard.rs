//! Sweeps split among processes: `--shard K/N` into one cache, `--merge N` rendering the
//! unsharded run's files byte for byte (or exit 2 listing what is missing and whose it is);
//! processes sharing a cache and an output folder; a truncated cell recomputed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::cli::{fails_with, ok, text};
use crate::sweep::{TINY, sweep_args};

/// One config file for every run of a test (the resolved config names its path), and a
/// folder per case: `case/out` and `case/runs`.
struct Cases {
    dir: tempfile::TempDir,
}

impl Cases {
    fn new() -> Cases {
        let dir = tempfile::tempdir().unwrap();
        sweep_args(dir.path(), "mine", TINY);
        Cases { dir }
    }

    /// The folder of case `name`.
    fn case(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The files `frontier sweep` of the tiny grid writes.
const OUTPUTS: [&str; 3] = [
    "mine_cnn_tiny.png",
    "mine_cnn_tiny.csv",
    "mine_cnn_tiny.config.toml",
];

/// `frontier sweep` of the tiny 2 × 2 grid (the config of the folder above `case`) into
/// `case/out` and `case/runs`, with `extra`.
fn args(case: &Path, extra: &[&str]) -> Vec<String> {
    let path = |p: PathBuf| p.to_str().unwrap().to_string();
    let config = case.parent().unwrap().join("mine.toml");
    let mut args = vec!["sweep".to_string(), "--config".into(), path(config)];
    args.extend(["--out".into(), path(case.join("out"))]);
    args.extend(["--runs".into(), path(case.join("runs"))]);
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// Runs it, expecting success.
fn run(dir: &Path, extra: &[&str]) -> std::process::Output {
    ok(&args(dir, extra)
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>())
}

/// Starts it in the background.
fn spawn(dir: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_frontier"))
        .args(args(dir, extra))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a background run, expecting success.
fn finish(child: Child) {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir` (relative path, bytes), sorted.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes(&path)));
            }
        }
    }
    files.sort();
    files
}

/// The unsharded run's outputs and cache, in case `whole`.
fn unsharded(cases: &Cases) -> PathBuf {
    let whole = cases.case("whole");
    run(&whole, &["--quiet"]);
    whole
}

/// Shards 1 and 3 of 3 at the same time, then a merge that lists the cell of shard 2 and
/// exits 2 writing nothing, then shard 2 and a merge: the PNG, CSV and resolved config equal
/// the unsharded run's byte for byte, and so does the cache.
#[test]
fn sharded_sweep_merges_to_the_unsharded_bytes() {
    let cases = Cases::new();
    let whole = unsharded(&cases);
    let dir = cases.case("sharded");
    let (one, three) = (
        spawn(&dir, &["--shard", "1/3"]),
        spawn(&dir, &["--shard", "3/3"]),
    );
    finish(one);
    finish(three);
    let out = dir.join("out");
    assert!(!out.exists(), "a shard writes no output");
    let merge: Vec<String> = args(&dir, &["--merge", "3"]);
    let merge: Vec<&str> = merge.iter().map(String::as_str).collect();
    fails_with(
        &merge,
        &[
            "cannot merge",
            "1 grid cell(s)",
            "shard(s) 2 of 3",
            "shard 2/3 lacks 1 cell(s): 1 (batch=2, alpha=0)",
        ],
    );
    assert!(!out.exists(), "a failed merge writes nothing");
    run(&dir, &["--shard", "2/3", "--quiet"]);
    let merged = ok(&merge);
    let listed = String::from_utf8_lossy(&merged.stdout).into_owned();
    for name in OUTPUTS {
        assert!(listed.contains(name), "{name} in {listed}");
        assert_eq!(
            bytes(&out.join(name)),
            bytes(&whole.join("out").join(name)),
            "{name}: merged vs unsharded"
        );
    }
    assert_eq!(tree(&dir.join("runs")), tree(&whole.join("runs")));
}

#[test]
fn bad_shard_and_merge_values_exit_2() {
    let cases = Cases::new();
    let dir = cases.case("bad");
    for (flag, value, needles) in [
        ("--shard", "0/2", vec!["--shard", "0/2", "1 ≤ K ≤ N"]),
        ("--shard", "3/2", vec!["--shard", "3/2", "1 ≤ K ≤ N"]),
        ("--shard", "two", vec!["--shard", "`two`", "K/N"]),
        ("--merge", "0", vec!["--merge", "N ≥ 1"]),
    ] {
        let args = args(&dir, &[flag, value]);
        fails_with(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &needles,
        );
    }
    assert!(!dir.join("runs").exists(), "nothing computed");
}

/// Two processes on one cache and one output folder, three times over (unsharded, and an
/// unsharded run beside shard 1/2): both succeed, leave no temporary, and the outputs and
/// the cache equal one process's byte for byte. Then a cell file truncated mid-way is
/// reported on stderr and recomputed, that cell only, with the same outputs.
#[test]
fn processes_sharing_a_cache_and_outputs_agree_with_one() {
    let cases = Cases::new();
    let whole = unsharded(&cases);
    let expected_runs = tree(&whole.join("runs"));
    let expected_out = tree(&whole.join("out"));
    let others = [
        &["--quiet"][..],
        &["--quiet"],
        &["--shard", "1/2", "--quiet"],
    ];
    for (i, other) in others.into_iter().enumerate() {
        let dir = cases.case(&format!("shared{i}"));
        let (a, b) = (spawn(&dir, &["--quiet"]), spawn(&dir, other));
        finish(a);
        finish(b);
        assert_eq!(tree(&dir.join("runs")), expected_runs, "{other:?}");
        assert_eq!(tree(&dir.join("out")), expected_out, "{other:?}");
    }
    let grid = expected_runs
        .iter()
        .find(|(p, _)| p.ends_with("cell_00001.json"))
        .map(|(p, _)| whole.join("runs").join(p))
        .unwrap();
    let cell = bytes(&grid);
    std::fs::write(&grid, &cell[..cell.len() / 2]).unwrap();
    let again = run(&whole, &[]);
    let stderr = String::from_utf8_lossy(&again.stderr).into_owned();
    let warning = stderr.lines().find(|l| l.starts_with("warning: cache:"));
    assert!(
        warning.is_some_and(|l| l.contains("cell_00001.json") && l.contains("not a whole")),
        "{stderr}"
    );
    assert!(stderr.contains(": 1 of 4 cells computed"), "{stderr}");
    assert_eq!(bytes(&grid), cell, "recomputed bit for bit");
    assert_eq!(tree(&whole.join("out")), expected_out);
}

/// `frontier heatmap` split in two: figure 3's two panels go one to each shard, figure 1 (no
/// cache) to neither; a merge before shard 2 lists its panel; after it, the merge computes
/// figure 1 and writes every file byte-identical to one unsharded run.
#[test]
fn sharded_heatmap_splits_panels_and_leaves_uncached_figures_to_the_merge() {
    let dir = tempfile::tempdir().unwrap();
    let heatmap = |case: &str, extra: &[&str]| -> Vec<String> {
        let at = |p: &str| dir.path().join(case).join(p).to_str().unwrap().to_string();
        let mut args: Vec<String> = ["heatmap", "--quick", "--quiet", "--only", "figure1"]
            .into_iter()
            .chain(["--only", "figure3"])
            .map(String::from)
            .collect();
        args.extend(["--out".into(), at("out"), "--runs".into(), at("runs")]);
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let call = |args: Vec<String>| ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    call(heatmap("whole", &[]));
    call(heatmap("split", &["--shard", "1/2"]));
    assert!(
        !dir.path().join("split/out").exists(),
        "a shard writes nothing"
    );
    let merge = heatmap("split", &["--merge", "2"]);
    fails_with(
        &merge.iter().map(String::as_str).collect::<Vec<_>>(),
        &[
            "0 grid cell(s) and 1 coherence panel(s)",
            "figure3 · squared: shard 2/2",
        ],
    );
    call(heatmap("split", &["--shard", "2/2"]));
    call(merge);
    let (split, whole) = (
        tree(&dir.path().join("split/out")),
        tree(&dir.path().join("whole/out")),
    );
    assert_eq!(
        split.len(),
        10,
        "figure 1 (PNG, CSV, scores CSV, config) and figure 3's two panels (3 files each)"
    );
    assert_eq!(split, whole);
}
