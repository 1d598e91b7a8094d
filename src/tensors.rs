//! The public file format: named f32 or f64 tensors in safetensors files, loadable from NumPy
//! (`safetensors.numpy.load_file`) and PyTorch (`safetensors.torch.load_file`). Files are
//! written here, one dtype per file, and read through the one strict reader,
//! [`frontier_model::TensorFile`] (re-exported), which the data-file loader of
//! `frontier-model` shares.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use frontier_model::Precision;
use serde_json::{Map, Value, json};

pub use frontier_model::{HostTensor, TensorFile};

/// Writes `tensors` to `path` in one dtype, through a temporary file and a rename.
pub fn write(path: &Path, tensors: &[HostTensor], precision: Precision) -> Result<()> {
    write_with_metadata(path, tensors, precision, BTreeMap::new())
}

/// As [`write()`], with string metadata in the file's `__metadata__` header.
pub fn write_with_metadata(
    path: &Path,
    tensors: &[HostTensor],
    precision: Precision,
    metadata: BTreeMap<String, String>,
) -> Result<()> {
    crate::output::write_atomic(path, &serialize(tensors, precision, &metadata))
}

/// The safetensors bytes of `tensors` (in their order) and `metadata` (sorted by key): an
/// 8-byte little-endian header length, the JSON header padded with spaces to a multiple of
/// 8 bytes, then the tensors' little-endian bytes. Written here rather than by
/// `safetensors::serialize`, whose metadata map iterates in a random order, so that one run
/// gives byte-identical files.
fn serialize(
    tensors: &[HostTensor],
    precision: Precision,
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    let (dtype, size) = match precision {
        Precision::F32 => ("F32", 4),
        Precision::F64 => ("F64", 8),
    };
    let mut header = Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), json!(metadata));
    }
    let mut offset = 0;
    for t in tensors {
        let end = offset + t.values.len() * size;
        header.insert(
            t.name.clone(),
            json!({"dtype": dtype, "shape": t.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut text = Value::Object(header).to_string().into_bytes();
    text.resize(text.len().div_ceil(8) * 8, b' ');
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    for t in tensors {
        match precision {
            Precision::F32 => out.extend(t.values.iter().flat_map(|v| (*v as f32).to_le_bytes())),
            Precision::F64 => out.extend(t.values.iter().flat_map(|v| v.to_le_bytes())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_read_back_through_the_strict_reader() {
        let tensors = [
            HostTensor::new("b", vec![2, 1], vec![1.5, -2.0]),
            HostTensor::new("a", vec![3], vec![0.25, 4.0, 1e-3]),
        ];
        let metadata = BTreeMap::from([
            ("model".to_string(), "cnn".to_string()),
            ("config".to_string(), "{}".to_string()),
        ]);
        for precision in [Precision::F32, Precision::F64] {
            let bytes = serialize(&tensors, precision, &metadata);
            assert_eq!(bytes, serialize(&tensors, precision, &metadata));
            let file = TensorFile::from_bytes("t.safetensors", bytes).unwrap();
            assert_eq!(file.names(), ["a", "b"]);
            assert_eq!(file.metadata("model"), Some("cnn"));
            for t in &tensors {
                let got = file.get(&t.name, t.shape.len()).unwrap();
                assert_eq!(got.shape, t.shape);
                for (a, b) in got.values.iter().zip(&t.values) {
                    assert!((a - b).abs() <= 1e-7 * b.abs(), "{precision:?}: {a} vs {b}");
                }
            }
        }
    }
}
