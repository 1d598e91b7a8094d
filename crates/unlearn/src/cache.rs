//! The run cache: one folder `runs/<config hash>/` per resolved grid config, holding
//! `config.json` and one small JSON file per finished cell. Every file is written to a
//! temporary name and renamed into place, so an interrupted grid never leaves a half-written
//! cell, and a re-run skips the cells that exist.

use std::path::{Path, PathBuf};

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

/// One run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Opens (creating if needed) `root/<hash of config>/` and writes `config.json` there.
    pub fn open(root: &Path, config: &impl Serialize) -> Result<RunDir> {
        let dir = RunDir {
            path: root.join(config_hash(config)?),
        };
        std::fs::create_dir_all(&dir.path).map_err(|source| Error::Io {
            action: "create",
            path: dir.path.clone(),
            source,
        })?;
        dir.store("config", config)?;
        Ok(dir)
    }

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

    /// Stores `value` under `name`: written to a temporary file, then renamed into place.
    pub fn store(&self, name: &str, value: &impl Serialize) -> Result<()> {
        let path = self.file(name);
        let bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        let tmp = self
            .path
            .join(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|source| Error::Io {
            action: "write",
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| Error::Io {
            action: "rename into place",
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
        let dir = RunDir::open(root.path(), &"cfg").unwrap();
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
