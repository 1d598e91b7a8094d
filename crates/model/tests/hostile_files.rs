//! Property tests of the safetensors readers over generated hostile files: random bytes,
//! truncated files, headers that lie about offsets and shapes, wrong and mixed dtypes, huge
//! and zero-sized shapes, unknown names. Reading must never panic: every file is read or
//! refused with an error that names the file.

use std::path::PathBuf;

use burn::tensor::Device;
use frontier_model::file_data::{DATA_TENSORS, FileContents};
use frontier_model::{
    Binary, CnnConfig, DataSource, FileData, ForgetConfig, ForgetKind, Precision, TensorFile,
    TensorHeader, TrainConfig,
};
use proptest::prelude::*;

/// The label every message must carry.
const FILE: &str = "hostile.safetensors";

/// One tensor of a generated file: its header entry and how many data bytes it really has.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    dtype: &'static str,
    shape: Vec<u64>,
    /// Bytes written for it: the size its shape and dtype call for, plus this (may lie).
    extra: i64,
    /// Added to its start offset in the header (a lie when not 0).
    offset_lie: i64,
}

fn dtype_size(dtype: &str) -> u64 {
    match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" => 4,
        "F16" => 2,
        _ => 1,
    }
}

fn entry() -> impl Strategy<Value = Entry> {
    let names = prop_oneof![
        Just("x".to_string()),
        Just("y".to_string()),
        Just("forget".to_string()),
        Just("x_test".to_string()),
        Just("y_test".to_string()),
        Just("forget_G".to_string()),
        "[a-z_]{1,6}",
    ];
    let dtypes = prop_oneof![
        Just("F32"),
        Just("F64"),
        Just("U8"),
        Just("I64"),
        Just("I32"),
        Just("F16"),
        Just("BOOL"),
    ];
    let dim = prop_oneof![
        8 => 0u64..5,
        1 => Just(1u64 << 40),
        1 => Just(u64::MAX / 3),
    ];
    let shape = prop::collection::vec(dim, 0..5);
    let lie = prop_oneof![9 => Just(0i64), 1 => -9i64..9];
    (names, dtypes, shape, lie.clone(), lie).prop_map(|(name, dtype, shape, extra, offset_lie)| {
        Entry {
            name,
            dtype,
            shape,
            extra,
            offset_lie,
        }
    })
}

/// The bytes of a file with `entries` (data: small byte values, and 0xff now and then when
/// `nan`, which makes NaNs in floats), truncated to `keep` of its length when given.
fn file_bytes(entries: &[Entry], metadata: bool, keep: Option<f64>, nan: bool) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if metadata {
        header.insert("__metadata__".into(), serde_json::json!({"model": "cnn"}));
    }
    let mut data = Vec::new();
    let mut offset: i64 = 0;
    for e in entries {
        let elements = e.shape.iter().try_fold(1u64, |a, &b| a.checked_mul(b));
        // Huge shapes get only a few bytes: the header then lies about the data.
        let size = elements
            .and_then(|n| n.checked_mul(dtype_size(e.dtype)))
            .filter(|&s| s <= 4096)
            .unwrap_or(16) as i64;
        let len = (size + e.extra).max(0);
        let start = offset + e.offset_lie;
        header.insert(
            e.name.clone(),
            serde_json::json!({
                "dtype": e.dtype,
                "shape": e.shape,
                "data_offsets": [start.max(0), (start + len).max(0)],
            }),
        );
        data.extend((0..len).map(|i| {
            if nan && i % 13 == 12 {
                0xff
            } else {
                (i % 3) as u8
            }
        }));
        offset += len;
    }
    let text = serde_json::Value::Object(header).to_string().into_bytes();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(data);
    if let Some(fraction) = keep {
        out.truncate((out.len() as f64 * fraction) as usize);
    }
    out
}

/// Reads `bytes` through every reader; panics only if a reader panics, an error does not
/// name the file, or the header reader and the whole-file reader disagree.
fn read_everything(bytes: Vec<u8>) {
    let named = |e: frontier_model::ModelError| {
        let text = e.to_string();
        assert!(
            text.starts_with(FILE),
            "an error that does not name the file: {text}"
        );
    };
    let header = header_of(&bytes);
    let file = match TensorFile::from_bytes(FILE, bytes.clone()) {
        Ok(file) => file,
        Err(e) => {
            assert!(
                header.is_err(),
                "the header reader accepts a file the reader refuses ({e})"
            );
            return named(e);
        }
    };
    match header {
        Ok(header) => {
            for name in file.names() {
                assert_eq!(
                    header.shape(&name),
                    Some(file.shape(&name).unwrap().as_slice()),
                    "shape of `{name}`: header reader against whole-file reader"
                );
            }
            assert_eq!(header.tensors.len(), file.names().len());
            assert_eq!(header.file_bytes, bytes.len() as u64);
        }
        Err(e) => panic!("the header reader refuses a file the reader accepts: {e}"),
    }
    for name in file
        .names()
        .iter()
        .map(String::as_str)
        .chain(["x", "missing"])
    {
        let _ = file.shape(name);
        for rank in 0..5 {
            if let Err(e) = file.get(name, rank) {
                named(e);
            }
            if let Err(e) = file.get_numbers(name, rank) {
                named(e);
            }
        }
    }
    if let Err(e) = file.only(&DATA_TENSORS) {
        named(e);
    }
    for binary in [None, Some(Binary::OddEven), Some(Binary::Pair(1, 2))] {
        let _ = FileContents::read(&file, binary);
    }
    // The whole data path, split and forget choice included, from a file on disk.
    let path: PathBuf = std::env::temp_dir().join(format!(
        "frontier-hostile-{}-{:?}.safetensors",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, &bytes).unwrap();
    for kind in [
        None,
        Some(ForgetKind::Mislabelled),
        Some(ForgetKind::SubClass),
    ] {
        let source = DataSource::File(FileData {
            path: path.clone(),
            binary: Some(Binary::OddEven),
            forget: ForgetConfig {
                kind,
                class: (kind == Some(ForgetKind::SubClass)).then_some(1),
                ..ForgetConfig::default()
            },
            ..FileData::default()
        });
        let _ = source.prepare(
            &CnnConfig::default(),
            &TrainConfig::default(),
            &Device::flex(),
            Precision::F64,
        );
    }
    let _ = std::fs::remove_file(&path);
}

/// [`TensorHeader::read`] of `bytes` written to a temporary file.
fn header_of(bytes: &[u8]) -> frontier_model::Result<TensorHeader> {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "frontier-header-{}-{:?}.safetensors",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, bytes).unwrap();
    let header = TensorHeader::read(&path);
    let _ = std::fs::remove_file(&path);
    header
}

/// A plausible data file (x images or patches, y, maybe forget and a test set, maybe an
/// unknown tensor) with its sizes, dtypes and lengths drawn so that some are off by one.
fn plausible() -> impl Strategy<Value = Vec<Entry>> {
    let floats = prop_oneof![4 => Just("F32"), 4 => Just("F64"), 1 => Just("U8"), 1 => Just("F16")];
    let numbers = prop_oneof![
        Just("U8"),
        Just("I64"),
        Just("F32"),
        Just("F64"),
        Just("BOOL")
    ];
    let size = |max: u64| prop_oneof![1 => Just(0u64), 9 => 1..max];
    (
        (size(7), size(3), size(6), size(6), any::<bool>()),
        (
            floats,
            numbers.clone(),
            numbers,
            prop_oneof![8 => Just(0i64), 1 => Just(-1i64), 1 => Just(1i64)],
        ),
        (any::<bool>(), 0u64..4, prop::bool::weighted(0.1)),
    )
        .prop_map(
            |((n, c, h, w, images), (xd, yd, fd, off), (forget, n_test, stray))| {
                let plain = |name: &str, dtype: &'static str, shape: Vec<u64>| Entry {
                    name: name.into(),
                    dtype,
                    shape,
                    extra: 0,
                    offset_lie: 0,
                };
                let sample = if images {
                    vec![c, h, w]
                } else {
                    vec![c, h * w]
                };
                let with_n = |rows: u64| [vec![rows], sample.clone()].concat();
                let n_y = (n as i64 + off).max(0) as u64;
                let mut entries = vec![plain("x", xd, with_n(n)), plain("y", yd, vec![n_y])];
                if forget {
                    entries.push(plain("forget", fd, vec![n]));
                }
                if n_test > 0 {
                    entries.push(plain("x_test", xd, with_n(n_test)));
                    entries.push(plain("y_test", yd, vec![n_test]));
                }
                if stray {
                    entries.push(plain("forget_G", "F32", vec![n]));
                }
                entries
            },
        )
}

proptest! {
    // 256 cases per property; failures are printed, not persisted to a file.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn plausible_files_with_wrong_sizes_never_panic(entries in plausible()) {
        read_everything(file_bytes(&entries, false, None, false));
    }

    #[test]
    fn random_bytes_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        read_everything(bytes);
    }

    #[test]
    fn hostile_headers_never_panic(
        entries in prop::collection::vec(entry(), 0..6),
        metadata in any::<bool>(),
        keep in prop_oneof![4 => Just(None), 1 => (0.0f64..1.0).prop_map(Some)],
    ) {
        read_everything(file_bytes(&entries, metadata, keep, true));
    }
}

/// Generated well-formed files (the header tells the truth) of plausible data: read or
/// refused, never a panic, through the full data path.
#[test]
fn well_formed_plausible_files_go_through() {
    let entries = vec![
        Entry {
            name: "x".into(),
            dtype: "F32",
            shape: vec![6, 1, 2, 2],
            extra: 0,
            offset_lie: 0,
        },
        Entry {
            name: "y".into(),
            dtype: "U8",
            shape: vec![6],
            extra: 0,
            offset_lie: 0,
        },
    ];
    let bytes = file_bytes(&entries, true, None, false);
    let file = TensorFile::from_bytes(FILE, bytes.clone()).unwrap();
    assert_eq!(file.shape("x").unwrap(), [6, 1, 2, 2]);
    read_everything(bytes);
}
