//! `docs/outputs.md` documents every column of every CSV the project writes: each committed
//! CSV (the figures, the examples of `sweep` and `unlearn`, the benchmark tables) and each CSV
//! that a tiny `sweep` and `unlearn` write now (the grid CSV and its scores, the run index, the
//! trajectory) is matched to the first section whose heading names it (backticked file-name
//! patterns, `*` matching any text), and every column of its header must be named in the first
//! cell of a row of that section's table (one or more names, each in backticks).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::cli::{ok, train_tiny, unlearn_tiny};
use crate::sweep::{TINY, sweep_args};

/// One section of the document: the file-name patterns of its heading and the columns its
/// table lists (the backticked names of the first cell of each row).
struct Section {
    patterns: Vec<String>,
    columns: BTreeSet<String>,
}

/// Every backticked span of `text` (a heading line or a table cell).
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn sections(doc: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in doc.lines() {
        if line.starts_with("## ") {
            out.push(Section {
                patterns: backticked(line),
                columns: BTreeSet::new(),
            });
        } else if let (Some(section), Some(row)) = (out.last_mut(), line.strip_prefix('|')) {
            section
                .columns
                .extend(row.split('|').next().map(backticked).unwrap_or_default());
        }
    }
    out
}

/// Whether `name` matches `pattern`, where `*` stands for any (possibly empty) text.
fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

fn csv_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            csv_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "csv") {
            out.push(path);
        }
    }
}

#[test]
fn glob_matches_as_documented() {
    assert!(glob(
        "figure4_*_batch_alpha.csv",
        "figure4_cnn_batch_alpha.csv"
    ));
    assert!(glob("*.scores.csv", "figure4_cnn_batch_alpha.scores.csv"));
    assert!(glob("index.csv", "index.csv"));
    assert!(!glob(
        "figure4_*_batch_alpha.csv",
        "figure5_cnn_snr_alpha.csv"
    ));
    assert!(!glob("index.csv", "index.csv.bak"));
    assert!(!glob("*.scores.csv", "figure4_cnn_batch_alpha.csv"));
}

/// What is wrong with `file` against `sections`: no section names it, or columns of its
/// header are not listed; `None` when it is documented.
fn problem(sections: &[Section], file: &Path) -> Option<String> {
    let name = file.file_name().unwrap().to_str().unwrap();
    let Some(section) = sections
        .iter()
        .find(|s| s.patterns.iter().any(|p| glob(p, name)))
    else {
        return Some(format!(
            "{}: no section of docs/outputs.md names it",
            file.display()
        ));
    };
    let mut reader = csv::Reader::from_path(file).unwrap();
    let missing: Vec<&str> = reader
        .headers()
        .unwrap()
        .iter()
        .filter(|c| !section.columns.contains(*c))
        .collect();
    (!missing.is_empty()).then(|| format!("{}: undocumented columns {missing:?}", file.display()))
}

fn documented_sections() -> Vec<Section> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    sections(&std::fs::read_to_string(root.join("docs/outputs.md")).unwrap())
}

#[test]
fn table_rows_may_name_several_columns() {
    let doc = "## `a_*.csv`, `b.csv`\n| column | meaning |\n|---|---|\n| `x_mean`, `x_sd` | x |\n";
    let found = sections(doc);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].patterns, ["a_*.csv", "b.csv"]);
    assert_eq!(
        found[0].columns.iter().collect::<Vec<_>>(),
        ["x_mean", "x_sd"]
    );
}

#[test]
fn every_committed_csv_column_is_documented() {
    let sections = documented_sections();
    let mut files = Vec::new();
    csv_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets"),
        &mut files,
    );
    files.sort();
    assert!(files.len() >= 10, "found only {files:?}");
    let problems: Vec<String> = files.iter().filter_map(|f| problem(&sections, f)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The CSVs that are written but not committed (the run index) or whose committed example
/// may predate today's columns: a tiny sweep (grid CSV, scores, `runs/index.csv`) and a tiny
/// `frontier unlearn` (trajectory), written now and checked like the committed ones.
#[test]
fn every_csv_a_sweep_and_an_unlearn_write_is_documented() {
    let dir = tempfile::tempdir().unwrap();
    let args = sweep_args(dir.path(), "mine", TINY);
    let args: Vec<&str> = args.iter().map(String::as_str).chain(["--quiet"]).collect();
    ok(&args);
    let run = dir.path().join("run");
    train_tiny(&run, &[]);
    let unlearned = dir.path().join("unlearned");
    unlearn_tiny(&run, &unlearned, ("4", "2"), &[]);
    let mut files = Vec::new();
    csv_files(dir.path(), &mut files);
    files.sort();
    let names: Vec<&str> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap())
        .collect();
    for expected in [
        "mine_cnn_tiny.csv",
        "mine_cnn_tiny.scores.csv",
        "index.csv",
        "trajectory.csv",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let sections = documented_sections();
    let problems: Vec<String> = files.iter().filter_map(|f| problem(&sections, f)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
