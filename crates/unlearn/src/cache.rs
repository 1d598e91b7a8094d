//! The run cache: a [`Store`] under a root folder the caller chooses, with one folder
//! `<root>/<config hash>/` per resolved config ([`RunDir`]) holding `config.json` (the key),
//! `label.txt` (what it is, one line) and one small JSON file per finished piece of work (a
//! grid cell); `<root>/index.csv` lists every folder with its label. Every file is written
//! through [`write_atomic`] (a temporary name, then a rename), so an interrupted grid never
//! leaves a half-written cell, and a re-run skips the cells that exist.

use std::path::{Path, PathBuf};

use frontier_common::{Field, Table, write_atomic};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A stable 64-bit FNV-1a hash of `value`'s JSON text, as 16 hex digits. Serde writes
/// struct fields in declaration order and floats in shortest round-trip form, so the same
/// config gives the same hash on every machine and run.
pub fn config_hash(value: &impl Serialize) -> Result<String> {
    let json = serde_json::to_vec(value).map_err(|source| Error::Json {
        path: PathBuf::from("<config>"),
        source,
    })?;
    Ok(format!("{:016x}", fnv1a(&json)))
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where cached results live: one folder per config hash under a root the caller chooses,
/// and an index of the folders (`index.csv`: `folder,label`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store under `root` (created when the first folder is opened).
    pub fn at(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// Its root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens (creating if needed) the folder of `key`, `<root>/<hash of key>/`, writes
    /// `config.json` (the key) there, adds `label` (what the folder holds, e.g. "figure4 cnn:
    /// logistic snr=0.05") to its `label.txt` (one line per distinct label: figures and sweeps
    /// with the same grid share a folder), and rewrites the index.
    pub fn open(&self, label: &str, key: &impl Serialize) -> Result<RunDir> {
        let dir = RunDir {
            path: self.root.join(config_hash(key)?),
        };
        std::fs::create_dir_all(&dir.path).map_err(|source| Error::Io {
            action: "create",
            path: dir.path.clone(),
            source,
        })?;
        dir.store("config", key)?;
        let one_line = label.replace(['\n', '\r'], " ");
        let labels = std::fs::read_to_string(dir.path.join(LABEL)).unwrap_or_default();
        if !labels.lines().any(|l| l == one_line) {
            write_file(
                &dir.path.join(LABEL),
                format!("{labels}{one_line}\n").as_bytes(),
            )?;
        }
        self.write_index()?;
        Ok(dir)
    }

    /// Rewrites `index.csv` from the folders present (sorted by name) and their labels. Two
    /// processes sharing a store each write a complete index; the next open adds whatever a
    /// concurrent one missed.
    fn write_index(&self) -> Result<()> {
        let read_dir = |path: &Path| {
            std::fs::read_dir(path).map_err(|source| Error::Io {
                action: "list",
                path: path.to_path_buf(),
                source,
            })
        };
        let mut folders: Vec<PathBuf> = read_dir(&self.root)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.join("config.json").is_file())
            .collect();
        folders.sort();
        let mut index = Table::new(vec!["folder".into(), "label".into()]);
        for folder in folders {
            let labels = std::fs::read_to_string(folder.join(LABEL)).unwrap_or_default();
            let label = labels.lines().collect::<Vec<_>>().join("; ");
            let name = folder.file_name().map(|n| n.to_string_lossy().into_owned());
            index
                .push(vec![
                    ("folder".into(), Field::from(name)),
                    ("label".into(), Field::from(label)),
                ])
                .expect("the index's own columns");
        }
        let bytes = index.to_csv()?;
        write_file(&self.root.join("index.csv"), &bytes)
    }
}

/// The file holding a folder's one-line label.
const LABEL: &str = "label.txt";

/// Writes `bytes` to `path` through [`write_atomic`].
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes).map_err(|source| Error::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// One run folder of a [`Store`].
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<name>.json` in the folder.
    fn file(&self, name: &str) -> PathBuf {
        self.path.join(format!("{name}.json"))
    }

    /// The value stored under `name`, or `None` if there is none.
    pub fn load<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let path = self.file(name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::Json { path, source })
    }

    /// Stores `value` under `name` (as `<name>.json`, written atomically).
    pub fn store(&self, name: &str, value: &impl Serialize) -> Result<()> {
        let path = self.file(name);
        let bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        write_file(&path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = config_hash(&("grid", 0.5, vec![1, 2])).unwrap();
        assert_eq!(a, config_hash(&("grid", 0.5, vec![1, 2])).unwrap());
        assert_ne!(a, config_hash(&("grid", 0.25, vec![1, 2])).unwrap());
        assert_eq!(a.len(), 16);
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn store_then_load_round_trips_and_leaves_no_temporary() {
        let root = tempfile::tempdir().unwrap();
        let dir = Store::at(root.path()).open("a test", &"cfg").unwrap();
        assert_eq!(dir.load::<Vec<f64>>("cell").unwrap(), None);
        let value = vec![0.1, 1.0 / 3.0, 2e-300];
        dir.store("cell", &value).unwrap();
        assert_eq!(dir.load::<Vec<f64>>("cell").unwrap(), Some(value));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        assert!(names.contains(&"config.json".to_string()));
    }

    #[test]
    fn the_index_lists_every_folder_with_its_label() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::at(root.path().join("runs"));
        let a = store
            .open("figure4 cnn: logistic snr=0.05", &("a", 1))
            .unwrap();
        let b = store.open("my sweep,\nsecond line", &("b", 2)).unwrap();
        store
            .open("figure4 cnn: logistic snr=0.05", &("a", 1))
            .unwrap();
        store
            .open("figure6 cnn: logistic snr=0.05", &("a", 1))
            .unwrap();
        let index = std::fs::read_to_string(root.path().join("runs/index.csv")).unwrap();
        let mut lines: Vec<&str> = index.lines().collect();
        assert_eq!(lines.remove(0), "folder,label");
        let mut expected = [
            format!(
                "{},figure4 cnn: logistic snr=0.05; figure6 cnn: logistic snr=0.05",
                hash_of(&a)
            ),
            format!("{},\"my sweep, second line\"", hash_of(&b)),
        ];
        expected.sort();
        assert_eq!(lines, expected);
    }

    fn hash_of(dir: &RunDir) -> String {
        dir.path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn non_finite_floats_survive_json() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct V(#[serde(with = "lossless")] f64);
        for v in [f64::INFINITY, f64::NEG_INFINITY, 0.1, -2e-300] {
            let back: V = serde_json::from_str(&serde_json::to_string(&V(v)).unwrap()).unwrap();
            assert_eq!(back.0, v);
        }
        let nan: V = serde_json::from_str(&serde_json::to_string(&V(f64::NAN)).unwrap()).unwrap();
        assert!(nan.0.is_nan());
    }
}

/// Serde for f64 that survives JSON when not finite: finite values are numbers, NaN and ±∞
/// the strings "NaN", "inf", "-inf" (serde_json alone would write `null` and fail to read
/// it back). Use as `#[serde(with = "crate::cache::lossless")]`.
pub(crate) mod lossless {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_str(&v.to_string())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(v) => Ok(v),
            Repr::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}
