//! Writing outputs safely: every file goes through [`frontier_common::write_atomic`] (a
//! temporary name unique per process and call, renamed into place, removed on failure), so an
//! interrupted or failing run never leaves a half-written or empty file under a final name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use frontier_common::Table;
use serde::Serialize;

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    frontier_common::write_atomic(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes `table` as CSV to `path` (atomically); returns the path.
pub fn write_table(path: &Path, table: &Table) -> Result<PathBuf> {
    let bytes = table
        .to_csv()
        .with_context(|| format!("cannot encode {}", path.display()))?;
    write_atomic(path, &bytes)?;
    Ok(path.to_path_buf())
}

/// Writes serialisable rows (structs of plain fields, one column per field) as CSV.
pub fn write_rows<R: Serialize>(path: &Path, rows: impl IntoIterator<Item = R>) -> Result<PathBuf> {
    let table = Table::from_rows(rows).with_context(|| format!("rows of {}", path.display()))?;
    write_table(path, &table)
}

/// Removes the temporaries that killed writers left in `dir` (see
/// [`frontier_common::clean_orphans`]); a temporary a living process still writes stays.
pub fn clean_orphans(dir: &Path) -> Result<()> {
    frontier_common::clean_orphans(dir, frontier_common::ORPHAN_AGE)
        .map(drop)
        .with_context(|| format!("cannot clean the temporaries of {}", dir.display()))
}

/// Creates `dir` and its parents.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}
