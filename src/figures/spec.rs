//! Figure and sweep config files. A file is TOML: `kind` names what it computes (see
//! [`super::KINDS`]), the rest is that kind's settings. Loading reads it into a table, merges
//! its `[quick]` table over it for `--quick` (tables key by key, everything else replaced:
//! the documented small-scale overrides, one code path), resolves `grids_from` (take the
//! grids of another file), and applies `--set key=value` overrides. Parsing into the kind's
//! typed config then refuses unknown keys, naming the key and the file. `name` (optional)
//! is the prefix of the outputs, by default the file's stem. The resolved copy written beside
//! every output records all of it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The keys `grids_from` takes from the other file.
const GRID_KEYS: [&str; 4] = ["model", "grid", "panels", "panel"];

/// A loaded config file.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The prefix of its outputs: its `name` key, else its file stem (e.g. `figure4`).
    pub name: String,
    /// `kind` (removed from the table).
    pub kind: Option<String>,
    /// The settings after `[quick]`, `grids_from` and `--set`.
    pub table: toml::Table,
    /// What was applied, for the header of the resolved copy (e.g. "--quick").
    pub applied: Vec<String>,
}

impl ConfigFile {
    /// Reads `path`; merges its `[quick]` table when `quick`; resolves `grids_from`; applies
    /// `overrides` (`key=value`, dotted keys into the table).
    pub fn load(path: &Path, quick: bool, overrides: &[String]) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let mut table: toml::Table = toml::from_str(&text)
            .with_context(|| format!("config file {} is not valid TOML", path.display()))?;
        let mut applied = Vec::new();
        match table.remove("quick") {
            Some(toml::Value::Table(small)) if quick => {
                merge(&mut table, &small);
                applied.push("--quick (its [quick] table merged over it)".to_string());
            }
            Some(toml::Value::Table(_)) | None => {}
            Some(_) => bail!("{}: `quick` must be a table", path.display()),
        }
        if let Some(other) = table.remove("grids_from") {
            let Some(other) = other.as_str() else {
                bail!("{}: `grids_from` must be a file name", path.display());
            };
            let other = path.parent().unwrap_or(Path::new(".")).join(other);
            let source = ConfigFile::load(&other, quick, &[])?;
            for key in GRID_KEYS {
                if let Some(value) = source.table.get(key) {
                    if table.contains_key(key) {
                        bail!(
                            "{}: `{key}` is given both here and in `grids_from` ({})",
                            path.display(),
                            other.display()
                        );
                    }
                    table.insert(key.to_string(), value.clone());
                }
            }
            applied.push(format!("grids from {}", other.display()));
        }
        for item in overrides {
            crate::config::apply_override(&mut table, item)
                .with_context(|| format!("overriding {}", path.display()))?;
            applied.push(format!("--set {item}"));
        }
        let name = match table.remove("name") {
            Some(toml::Value::String(name)) => name,
            Some(other) => bail!("{}: `name` must be a string, got {other}", path.display()),
            None => path
                .file_stem()
                .map_or_else(|| "config".into(), |s| s.to_string_lossy().into_owned()),
        };
        let kind = match table.remove("kind") {
            Some(toml::Value::String(kind)) => Some(kind),
            Some(other) => bail!("{}: `kind` must be a string, got {other}", path.display()),
            None => None,
        };
        Ok(ConfigFile {
            name,
            path: path.to_path_buf(),
            kind,
            table,
            applied,
        })
    }

    /// The whole table as the kind's typed config `T` (which refuses unknown keys).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        self.parse_value("", toml::Value::Table(self.table.clone()))
    }

    /// `value` (a part of the table, e.g. one panel's resolved grid, described by `what`) as
    /// `T`; errors name the file and the part.
    pub fn parse_value<T: DeserializeOwned>(&self, what: &str, value: toml::Value) -> Result<T> {
        value.try_into().map_err(|e: toml::de::Error| {
            let at = if what.is_empty() {
                String::new()
            } else {
                format!(" ({what})")
            };
            anyhow::anyhow!(
                "invalid config {}{at}: {}",
                self.path.display(),
                e.message().trim_end()
            )
        })
    }

    /// The text of the resolved copy of this file: a comment saying where it came from and
    /// what was applied, then `kind`, `name` and every setting of `resolved` (defaults written
    /// out). Given to `--config` it reproduces the output, under the same file names.
    pub fn resolved(&self, kind: &str, resolved: &impl Serialize) -> Result<String> {
        #[derive(Serialize)]
        struct WithKind<'a, T> {
            kind: &'a str,
            name: &'a str,
            #[serde(flatten)]
            settings: &'a T,
        }
        let mut header = format!(
            "# Resolved from {} by frontier {}.\n",
            self.path.display(),
            env!("CARGO_PKG_VERSION")
        );
        for step in &self.applied {
            header.push_str(&format!("# Applied: {step}.\n"));
        }
        header.push_str(
            "# `frontier heatmap --config THIS_FILE` (or `frontier sweep`) runs it again.\n\n",
        );
        let text = toml::to_string(&WithKind {
            kind,
            name: &self.name,
            settings: resolved,
        })
        .context("resolved config")?;
        Ok(header + &text)
    }
}

/// Merges `over` into `base`: a table merges key by key, any other value replaces.
pub fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(more)) => merge(inner, more),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn merge_goes_into_tables_and_replaces_the_rest() {
        let mut base = table("a = 1\n[t]\nx = [1, 2]\ny = 3\n[t.u]\nz = 4\n");
        merge(&mut base, &table("b = 2\n[t]\nx = [5]\n[t.u]\nw = 6\n"));
        assert_eq!(
            base,
            table("a = 1\nb = 2\n[t]\nx = [5]\ny = 3\n[t.u]\nz = 4\nw = 6\n")
        );
    }

    #[test]
    fn quick_grids_from_and_overrides_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.toml"),
            "kind = \"grid\"\nmodel = \"cnn\"\n[grid]\nreps = 5\n[quick]\ngrid = { reps = 2 }\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.toml"),
            "kind = \"grid\"\ngrids_from = \"a.toml\"\nstem = \"b\"\n",
        )
        .unwrap();
        let b = ConfigFile::load(&dir.path().join("b.toml"), true, &["stem=c".into()]).unwrap();
        assert_eq!((b.name.as_str(), b.kind.as_deref()), ("b", Some("grid")));
        assert_eq!(b.table["grid"]["reps"].as_integer(), Some(2));
        assert_eq!(b.table["stem"].as_str(), Some("c"));
        assert_eq!(b.applied.len(), 2, "{:?}", b.applied);
        let full = ConfigFile::load(&dir.path().join("a.toml"), false, &[]).unwrap();
        assert_eq!(full.table["grid"]["reps"].as_integer(), Some(5));
        assert!(!full.table.contains_key("quick"));
        std::fs::write(
            dir.path().join("c.toml"),
            "grids_from = \"a.toml\"\n[grid]\n",
        )
        .unwrap();
        let err = ConfigFile::load(&dir.path().join("c.toml"), false, &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("`grid` is given both"),
            "{err:#}"
        );
    }
}
