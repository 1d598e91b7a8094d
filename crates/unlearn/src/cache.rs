//! The run cache: a [`Store`] under a root folder the caller chooses, with one folder
//! `<root>/<config hash>/` per resolved config ([`RunDir`]) holding `config.json` (the key),
//! `label.txt` (what it is, one line per figure or sweep using it) and one small JSON file per
//! finished piece of work (a grid cell, a figure's rows); `<root>/setups/` holds the
//! pre-trained setups that grids share, one file per setup; `<root>/index.csv` lists every
//! run folder with its label.
//!
//! The cache verifies itself, so that folders shared by many processes and machines (a
//! cluster's job array) or edited by hand are safe to reuse. Every file of work is an
//! envelope `{ "folder", "name", "checksum", "value" }`: the folder and file name it was
//! written for, and a 64-bit FNV-1a checksum of the folder, the name and the value's compact
//! JSON. [`RunDir::load`] returns [`Entry::Rejected`] with the reason for a file that is
//! truncated or not JSON, was copied from another folder or over another file, or whose
//! content no longer matches its checksum (edited or corrupt); the caller reports it and
//! computes that piece again. Files are written through a temporary name unique per machine,
//! process and call, then renamed ([`RunDir::store`]) or linked if absent
//! ([`RunDir::store_new`], the first writer wins), so an interrupted run never leaves a
//! half-written file, and concurrent writers never collide; the temporaries killed writers
//! leave are removed when a folder is opened.

use std::path::{Path, PathBuf};

use frontier_common::{Field, ORPHAN_AGE, Table, clean_orphans, write_atomic, write_new};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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
    fnv1a_from(0xcbf2_9ce4_8422_2325, bytes)
}

/// 64-bit FNV-1a continued from the state `h`.
fn fnv1a_from(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where cached results live: one folder per config hash under a root the caller chooses,
/// the shared setups in `setups/`, and an index of the folders (`index.csv`: `folder,label`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

/// The folder of the shared setups under a store's root.
const SETUPS: &str = "setups";

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
    /// with the same grid share a folder), rewrites the index and removes orphan temporaries.
    pub fn open(&self, label: &str, key: &impl Serialize) -> Result<RunDir> {
        let dir = self.folder(&config_hash(key)?)?;
        let config = serde_json::to_vec_pretty(key).map_err(|source| Error::Json {
            path: dir.path.join("config.json"),
            source,
        })?;
        write_file(&dir.path.join("config.json"), &config)?;
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

    /// The folder of the setups grids share (`<root>/setups/`, not in the index), created if
    /// needed, its orphan temporaries removed.
    pub fn setups(&self) -> Result<RunDir> {
        self.folder(SETUPS)
    }

    /// `<root>/<name>/`, created, with the orphan temporaries of it and of the root removed.
    fn folder(&self, name: &str) -> Result<RunDir> {
        let path = self.root.join(name);
        std::fs::create_dir_all(&path).map_err(|source| Error::Io {
            action: "create",
            path: path.clone(),
            source,
        })?;
        for dir in [&self.root, &path] {
            clean_orphans(dir, ORPHAN_AGE).map_err(|source| Error::Io {
                action: "clean the temporaries of",
                path: dir.clone(),
                source,
            })?;
        }
        Ok(RunDir {
            path,
            folder: name.to_string(),
        })
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

/// One folder of a [`Store`]: a run folder or the setups.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    /// The folder's name (its config hash, or `setups`), recorded in every file.
    folder: String,
}

/// What [`RunDir::load`] found under a name.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<T> {
    /// No file.
    Absent,
    /// A verified value.
    Found(T),
    /// A file that must not be used, and why (one line): truncated or corrupt, copied from
    /// another folder or over another file, or edited.
    Rejected(String),
}

impl<T> Entry<T> {
    /// The value, if one was found.
    pub fn found(self) -> Option<T> {
        match self {
            Entry::Found(value) => Some(value),
            Entry::Absent | Entry::Rejected(_) => None,
        }
    }
}

/// A file of work as written: where it belongs, its checksum, the value.
#[derive(Serialize, Deserialize)]
struct Envelope<S, T> {
    folder: S,
    name: S,
    checksum: String,
    value: T,
}

impl RunDir {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<name>.json` in the folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(format!("{name}.json"))
    }

    /// The checksum of `value` (its compact JSON) stored under `name` in this folder, as 16
    /// hex digits.
    fn checksum(&self, name: &str, value: &impl Serialize) -> Result<String> {
        let json = serde_json::to_vec(value).map_err(|source| Error::Json {
            path: self.file(name),
            source,
        })?;
        let h = fnv1a_from(fnv1a(self.folder.as_bytes()), b"\n");
        let h = fnv1a_from(fnv1a_from(h, name.as_bytes()), b"\n");
        Ok(format!("{:016x}", fnv1a_from(h, &json)))
    }

    /// The value stored under `name`, verified: [`Entry::Absent`] without a file,
    /// [`Entry::Rejected`] (with the reason) for a file that is not a whole cache file, was
    /// written for another folder or name, or does not match its checksum. Errors only when
    /// the file exists and cannot be read.
    pub fn load<T: Serialize + DeserializeOwned>(&self, name: &str) -> Result<Entry<T>> {
        let path = self.file(name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Entry::Absent),
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        let envelope: Envelope<String, T> = match serde_json::from_slice(&bytes) {
            Ok(envelope) => envelope,
            Err(e) => {
                return Ok(Entry::Rejected(format!(
                    "not a whole cache file (truncated, corrupt or from an older frontier: {e})"
                )));
            }
        };
        Ok(if envelope.folder != self.folder {
            Entry::Rejected(format!(
                "written for folder `{}`, not `{}` (copied from another folder)",
                envelope.folder, self.folder
            ))
        } else if envelope.name != name {
            Entry::Rejected(format!(
                "holds `{}`, not `{name}` (copied over another file)",
                envelope.name
            ))
        } else if envelope.checksum != self.checksum(name, &envelope.value)? {
            Entry::Rejected("its content does not match its checksum (edited or corrupt)".into())
        } else {
            Entry::Found(envelope.value)
        })
    }

    /// The bytes of the file of `value` under `name`.
    fn encode(&self, name: &str, value: &impl Serialize) -> Result<Vec<u8>> {
        let envelope = Envelope {
            folder: self.folder.as_str(),
            name,
            checksum: self.checksum(name, value)?,
            value,
        };
        serde_json::to_vec_pretty(&envelope).map_err(|source| Error::Json {
            path: self.file(name),
            source,
        })
    }

    /// Stores `value` under `name` (as `<name>.json`, written atomically), replacing any file
    /// there (the last writer wins).
    pub fn store(&self, name: &str, value: &impl Serialize) -> Result<()> {
        write_file(&self.file(name), &self.encode(name, value)?)
    }

    /// Stores `value` under `name` unless a file is there already (the first writer wins; see
    /// [`write_new`]). Returns whether this call wrote it.
    pub fn store_new(&self, name: &str, value: &impl Serialize) -> Result<bool> {
        let path = self.file(name);
        write_new(&path, &self.encode(name, value)?).map_err(|source| Error::Io {
            action: "write",
            path,
            source,
        })
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
        assert_eq!(dir.load::<Vec<f64>>("cell").unwrap(), Entry::Absent);
        let value = vec![0.1, 1.0 / 3.0, 2e-300];
        dir.store("cell", &value).unwrap();
        assert_eq!(dir.load::<Vec<f64>>("cell").unwrap(), Entry::Found(value));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        assert!(names.contains(&"config.json".to_string()));
    }

    #[test]
    fn store_new_keeps_the_first_value() {
        let root = tempfile::tempdir().unwrap();
        let dir = Store::at(root.path()).setups().unwrap();
        assert!(dir.store_new("s", &1.5).unwrap());
        assert!(!dir.store_new("s", &2.5).unwrap());
        assert_eq!(dir.load::<f64>("s").unwrap(), Entry::Found(1.5));
        dir.store("s", &3.5).unwrap();
        assert_eq!(dir.load::<f64>("s").unwrap(), Entry::Found(3.5));
    }

    /// The reason `load` gives for the file `name` of `dir` after `damage` was done to it.
    fn rejected(dir: &RunDir, name: &str, damage: impl FnOnce(&Path)) -> String {
        damage(&dir.file(name));
        match dir.load::<Vec<f64>>(name).unwrap() {
            Entry::Rejected(why) => why,
            other => panic!("{name}: expected a rejection, got {other:?}"),
        }
    }

    /// Every way a file can be wrong is told apart, and a sound file next to them still loads.
    #[test]
    fn copied_edited_truncated_and_old_files_are_rejected() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::at(root.path());
        let (dir, other) = (
            store.open("a", &"a").unwrap(),
            store.open("b", &"b").unwrap(),
        );
        for (d, name, v) in [
            (&dir, "cell_1", 1.0),
            (&dir, "cell_2", 2.0),
            (&other, "cell_1", 9.0),
        ] {
            d.store(name, &vec![v, 0.5]).unwrap();
        }
        let copy_from =
            |from: PathBuf| move |to: &Path| std::fs::copy(from, to).map(|_| ()).unwrap();
        let why = rejected(&dir, "cell_1", copy_from(dir.file("cell_2")));
        assert!(why.contains("holds `cell_2`, not `cell_1`"), "{why}");
        let why = rejected(&dir, "cell_1", copy_from(other.file("cell_1")));
        assert!(why.contains("copied from another folder"), "{why}");
        dir.store("cell_1", &vec![1.0, 0.5]).unwrap();
        let why = rejected(&dir, "cell_1", |p| {
            let text = std::fs::read_to_string(p).unwrap().replace("0.5", "0.25");
            std::fs::write(p, text).unwrap();
        });
        assert!(why.contains("does not match its checksum"), "{why}");
        dir.store("cell_1", &vec![1.0, 0.5]).unwrap();
        let why = rejected(&dir, "cell_1", |p| {
            let bytes = std::fs::read(p).unwrap();
            std::fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
        });
        assert!(why.contains("not a whole cache file"), "{why}");
        let why = rejected(&dir, "cell_1", |p| {
            std::fs::write(p, b"[1.0, 0.5]").unwrap()
        });
        assert!(why.contains("older frontier"), "{why}");
        assert_eq!(
            dir.load::<Vec<f64>>("cell_2").unwrap(),
            Entry::Found(vec![2.0, 0.5])
        );
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
