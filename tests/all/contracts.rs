//! The contracts of issue "no panic, bounded memory, atomic runs, no silently accepted input":
//! one regression test per failure the hostile trials found.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cli::{
    fails_with, frontier, ok, reference, text, train_tiny, write_tensors,
    write_tensors_with_metadata,
};

/// `data.safetensors` for n samples of shape [P, d] (labels alternate, first sample forgotten).
fn data_file(path: &Path, n: usize, patches: usize, d: usize) {
    let y: Vec<f64> = (0..n)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let forget: Vec<f64> = (0..n).map(|i| f64::from(i == 0)).collect();
    let x: Vec<f64> = (0..n * patches * d)
        .map(|i| ((i % 7) as f64 - 3.0) / 3.0)
        .collect();
    write_tensors(
        path,
        &[
            ("x", vec![n, patches, d], x),
            ("y", vec![n], y),
            ("forget", vec![n], forget),
        ],
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `dir/name` as a string that lives for the whole test (a few bytes leaked per call).
fn join(dir: &Path, name: &str) -> &'static str {
    Box::leak(
        dir.join(name)
            .to_str()
            .unwrap()
            .to_string()
            .into_boxed_str(),
    )
}

#[test]
fn degenerate_shapes_exit_2_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| join(dir.path(), name);
    let cnn = |path: &Path, m: usize, d: usize| {
        write_tensors(
            path,
            &[
                ("w_pos", vec![m, d], vec![0.1; m * d]),
                ("w_neg", vec![m, d], vec![-0.1; m * d]),
            ],
        )
    };
    data_file(Path::new(at("p0")), 4, 0, 3);
    data_file(Path::new(at("d0")), 4, 2, 0);
    data_file(Path::new(at("good")), 4, 2, 3);
    cnn(Path::new(at("w3")), 2, 3);
    cnn(Path::new(at("w0")), 2, 0);
    cnn(Path::new(at("m0")), 0, 3);
    write_tensors_with_metadata(
        Path::new(at("h0")),
        &[
            ("w", vec![0, 6], vec![]),
            ("b", vec![0], vec![]),
            ("v", vec![0], vec![]),
        ],
        &[("model", "mlp"), ("activation", "softplus")],
    );
    for (data, weights, needles) in [
        ("p0", "w3", ["`x`", "[4, 0, 3]"]),
        ("d0", "w0", ["`x`", "[4, 2, 0]"]),
        ("good", "m0", ["`w_pos`", "[0, 3]"]),
        ("good", "h0", ["`w`", "[0, 6]"]),
    ] {
        let args = ["coherence", "--data", at(data), "--weights", at(weights)];
        fails_with(&args, &needles);
    }
    write_tensors(Path::new(at("rh0")), &[("retain_h", vec![4, 0, 0], vec![])]);
    let args = [
        "stability",
        "--hessians",
        at("rh0"),
        "--eta",
        "0.1",
        "--batch",
        "1",
    ];
    fails_with(&args, &["`retain_h`", "[4, 0, 0]"]);
    let args = [
        "train",
        "--set",
        "data.n=9223372036854775807",
        "--out",
        at("r"),
    ];
    fails_with(&args, &["data.n"]);
}

#[test]
fn memory_bombs_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| join(dir.path(), name);
    // An 800 KB data file with n = 50,000, d = 1: a 20 GB Gram matrix.
    data_file(Path::new(at("data")), 50_000, 2, 1);
    write_tensors(
        Path::new(at("weights")),
        &[
            ("w_pos", vec![2, 1], vec![0.1, 0.2]),
            ("w_neg", vec![2, 1], vec![0.1, -0.2]),
        ],
    );
    let args = [
        "coherence",
        "--data",
        at("data"),
        "--weights",
        at("weights"),
        "--max-memory",
        "16GiB",
    ];
    fails_with(
        &args,
        &["would need about", "n = 50000", "--max-memory 16GiB"],
    );
    // A 400 KB Hessians file with n = 50,000, p = 1: the coherence numbers need n×n matrices.
    let g: Vec<f64> = (0..50_000).map(|i| 0.5 + (i % 3) as f64).collect();
    write_tensors(
        Path::new(at("hessians")),
        &[
            ("retain_g", vec![50_000, 1], g),
            ("retain_c", vec![50_000], vec![1.0; 50_000]),
        ],
    );
    let args = [
        "stability",
        "--hessians",
        at("hessians"),
        "--eta",
        "0.1",
        "--batch",
        "10",
        "--max-memory",
        "16GiB",
    ];
    fails_with(&args, &["would need about", "coherence"]);
    let h = reference("hessians.safetensors");
    let args = [
        "stability",
        "--hessians",
        path_str(&h),
        "--eta",
        "0.1",
        "--batch",
        "2",
        "--reps",
        "1000000000000",
    ];
    fails_with(&args, &["--reps 1000000000000"]);
    fails_with(
        &["bench", "coherence", "--n", "1000000000"],
        &["would need about", "n = 1000000000"],
    );
    let args = ["train", "--set", "data.n=1000000000", "--out", at("run")];
    fails_with(&args, &["would need about", "data.n"]);
    let args = ["train", "--out", at("run"), "--max-memory", "1KiB"];
    fails_with(&args, &["--max-memory 1KiB"]);
    fails_with(
        &["train", "--out", at("run"), "--max-memory", "8 parsecs"],
        &["--max-memory", "parsecs"],
    );
    assert!(
        !Path::new(at("run")).exists(),
        "a refused train wrote its run directory"
    );
}

/// The seed a run directory's config records.
fn run_seed(dir: &Path) -> String {
    let config = std::fs::read_to_string(dir.join("config.resolved.toml")).unwrap();
    let data = config.split("[data]").nth(1).unwrap();
    data.lines()
        .find(|l| l.starts_with("seed"))
        .unwrap()
        .to_string()
}

#[test]
fn a_killed_train_leaves_the_old_run_or_the_new_one() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("run");
    train_tiny(&out, &["--set", "data.seed=1"]);
    let old = run_seed(&out);
    let mut outcomes = (0, 0);
    // Kill a train of another seed into the same folder at spread-out points of its life
    // (process start, data generation, pre-training, the writes, the rename).
    for k in 0..12u64 {
        let mut args = vec![
            "train",
            "--out",
            path_str(&out),
            "--set",
            "data.seed=2",
            "--set",
            "model.m=3",
        ];
        args.extend_from_slice(crate::cli::TINY);
        let mut child = Command::new(env!("CARGO_BIN_EXE_frontier"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(k * k * 3));
        let _ = child.kill();
        let _ = child.wait();
        let check = frontier(&["coherence", "--run", path_str(&out), "--json"]);
        assert!(
            check.status.success(),
            "after a kill at {} ms: {}",
            k * k * 3,
            text(&check)
        );
        let seed = run_seed(&out);
        if seed == old {
            outcomes.0 += 1;
        } else {
            assert_eq!(seed, "seed = 2", "neither the old nor the new run");
            outcomes.1 += 1;
        }
        let stray: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| {
                !name.ends_with(".safetensors")
                    && !name.ends_with(".json")
                    && !name.ends_with(".toml")
            })
            .collect();
        assert!(
            stray.is_empty(),
            "stray files in the run directory: {stray:?}"
        );
    }
    // A later train removes what killed ones left beside the run.
    train_tiny(&out, &["--set", "data.seed=3"]);
    let left: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        ["run"],
        "kills left: {left:?} (old, new runs seen: {outcomes:?})"
    );
}

#[test]
fn an_inconsistent_run_directory_is_refused() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    train_tiny(a.path(), &["--set", "data.seed=1"]);
    train_tiny(b.path(), &["--set", "data.seed=2"]);
    std::fs::copy(
        b.path().join("data.safetensors"),
        a.path().join("data.safetensors"),
    )
    .unwrap();
    fails_with(
        &["coherence", "--run", path_str(a.path())],
        &["data.safetensors", "does not belong to this run"],
    );
    std::fs::remove_file(b.path().join("manifest.json")).unwrap();
    fails_with(
        &["coherence", "--run", path_str(b.path())],
        &["manifest.json"],
    );
    // Only a run directory (or a new or empty folder) is replaced.
    std::fs::write(b.path().join("notes.txt"), "mine").unwrap();
    let args = ["train", "--out", path_str(b.path())];
    fails_with(&args, &["notes.txt", "not part of a run directory"]);
    assert!(b.path().join("notes.txt").exists());
}

#[test]
fn coherence_probes_the_loss_the_run_was_trained_with() {
    let dir = tempfile::tempdir().unwrap();
    train_tiny(
        dir.path(),
        &["--set", "train.loss=squared", "--set", "train.eta=0.05"],
    );
    let run = path_str(dir.path());
    let json = |extra: &[&str]| -> (serde_json::Value, String) {
        let mut args = vec!["coherence", "--run", run, "--json"];
        args.extend_from_slice(extra);
        let out = ok(&args);
        (
            serde_json::from_slice(&out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (report, note) = json(&[]);
    assert_eq!(report["loss"], "squared", "{report}");
    assert!(note.is_empty(), "{note}");
    let (report, note) = json(&["--loss", "logistic"]);
    assert_eq!(report["loss"], "logistic", "{report}");
    assert!(note.contains("trained with the squared loss"), "{note}");
}

#[test]
fn set_takes_exactly_one_key_value() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    for (item, needles) in [
        (
            "data.snr=1\nfoo=2",
            &["control character", "one key=value"][..],
        ),
        (".snr=1", &["`.snr`", "empty part"]),
        ("data.snr=1, foo=2", &["data.snr", "not a TOML value"]),
        ("data.snrr=1", &["`data.snrr`", "unknown key"]),
        ("data.snr=abc", &["`data.snr`", "expected f64"]),
    ] {
        fails_with(&["train", "--set", item, "--out", path_str(&out)], needles);
    }
}

/// A rank-one problem: g [n, p] and c [n] of the retain (first `n_r` rows) and forget sets.
fn rank_one(n_r: usize, n_f: usize, p: usize) -> (Vec<f64>, Vec<f64>) {
    let n = n_r + n_f;
    let g = (0..n * p)
        .map(|i| ((i * 7919 % 101) as f64 - 50.0) / 50.0)
        .collect();
    let c = (0..n).map(|i| 0.5 + (i % 5) as f64 / 4.0).collect();
    (g, c)
}

#[test]
fn stability_from_a_precomputed_gram_equals_stability_from_the_gradients() {
    let (n_r, n_f, p) = (6, 3, 8);
    let (g, c) = rank_one(n_r, n_f, p);
    let n = n_r + n_f;
    let mut gram = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            gram[i * n + j] = (0..p).map(|k| g[i * p + k] * g[j * p + k]).sum();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (grads, grams) = (dir.path().join("g"), dir.path().join("k"));
    write_tensors(
        &grads,
        &[
            ("retain_g", vec![n_r, p], g[..n_r * p].to_vec()),
            ("retain_c", vec![n_r], c[..n_r].to_vec()),
            ("forget_g", vec![n_f, p], g[n_r * p..].to_vec()),
            ("forget_c", vec![n_f], c[n_r..].to_vec()),
        ],
    );
    write_tensors_with_metadata(
        &grams,
        &[
            ("gram", vec![n, n], gram),
            ("retain_c", vec![n_r], c[..n_r].to_vec()),
            ("forget_c", vec![n_f], c[n_r..].to_vec()),
        ],
        &[("params", "8")],
    );
    let run = |file: &Path| -> serde_json::Value {
        let args = [
            "stability",
            "--hessians",
            path_str(file),
            "--eta",
            "0.2",
            "--alpha",
            "0.3",
            "--batch",
            "2",
            "--steps",
            "50",
            "--reps",
            "2",
            "--threshold",
            "50",
            "--json",
        ];
        serde_json::from_slice(&ok(&args).stdout).unwrap()
    };
    let (from_g, from_k) = (run(&grads), run(&grams));
    crate::cli::assert_json_close(&from_k, &from_g, crate::stability::DETERMINISTIC, 1e-9);
    for key in [
        "mean_square_diverges",
        "first_moment_diverges",
        "coherence_bound_diverges",
        "rank",
        "p",
    ] {
        assert_eq!(
            from_k[key], from_g[key],
            "{key}: gram={from_k}, gradients={from_g}"
        );
    }
    assert_eq!(
        (from_g["init"].as_str(), from_k["init"].as_str()),
        (Some("uniform"), Some("normal"))
    );
    assert_eq!(from_g["threshold"], 50.0);
    // The Gram's parameter count is required, and must be ≥ its rank.
    write_tensors_with_metadata(
        &grams,
        &[
            ("gram", vec![2, 2], vec![1.0, 0.0, 0.0, 1.0]),
            ("retain_c", vec![2], vec![1.0, 1.0]),
        ],
        &[("params", "1")],
    );
    let args = [
        "stability",
        "--hessians",
        path_str(&grams),
        "--eta",
        "0.1",
        "--batch",
        "1",
    ];
    fails_with(&args, &["gram", "rank 2 exceeds the parameter count p = 1"]);
}

#[test]
fn stability_checks_flags_against_the_header_before_reading_values() {
    // A valid header over values that cannot be used (non-finite weights; the header reader
    // checks the sizes, so a cut data section is refused with the header): the settings error
    // must come first, proving no value was read.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h");
    write_tensors(
        &path,
        &[
            ("retain_g", vec![4, 3], vec![1.0; 12]),
            ("retain_c", vec![4], vec![f64::NAN; 4]),
        ],
    );
    let run = |batch: &str| {
        [
            "stability",
            "--hessians",
            path_str(&path),
            "--eta",
            "0.1",
            "--batch",
            batch,
        ]
        .map(String::from)
    };
    let args = run("5");
    fails_with(&args.each_ref().map(String::as_str), &["--batch", "1..=4"]);
    let args = run("2");
    fails_with(
        &args.each_ref().map(String::as_str),
        &["retain_c", "non-finite"],
    );
    let mut args = run("2").to_vec();
    args.extend(["--threshold".into(), "0.5".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails_with(&args, &["--threshold", "(1, ∞]"]);
    write_tensors(
        &path,
        &[
            ("retain_g", vec![2, 2], vec![1.0; 4]),
            ("retain_c", vec![2], vec![1.0; 2]),
            ("forget_G", vec![1, 2], vec![1.0; 2]),
        ],
    );
    fails_with(
        &run("1").each_ref().map(String::as_str),
        &["unknown tensor `forget_G`"],
    );
}
