//! The one safetensors reader of frontier: data, weights and Hessians files are read through
//! [`TensorFile`], which is strict so that a mistake in a file is an error, never a silently
//! different experiment:
//!
//! - a file that is not safetensors, or whose header does not match its data (offsets, sizes,
//!   shapes), is an error naming the file;
//! - F32 and F64 tensors mixed in one file are an error naming one tensor of each;
//! - [`TensorFile::only`] refuses tensor names the caller does not know (a typo such as
//!   `forget_G` would otherwise be ignored);
//! - a tensor is read with its rank, dtype and finiteness checked, and every message names the
//!   file and the tensor and says its cause once.
//!
//! Values come back as f64 whatever the dtype ([`HostTensor`]). [`TensorHeader::read`] checks
//! a file's header the same way without reading its data (for memory estimates before any
//! allocation).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensors};

use crate::error::{ModelError, Result};

/// A named host tensor: row-major f64 values and a shape.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// The tensor's name in the file.
    pub name: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// Row-major values, shape.iter().product() of them.
    pub values: Vec<f64>,
}

impl HostTensor {
    /// A tensor named `name` of shape `shape`.
    pub fn new(name: &str, shape: Vec<usize>, values: Vec<f64>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        Self {
            name: name.to_string(),
            shape,
            values,
        }
    }
}

/// Which dtypes a tensor may be stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    /// F32 or F64.
    Float,
    /// F32, F64, an integer type or BOOL (labels, class ids, masks).
    Number,
}

/// A safetensors file read into memory and checked as a whole.
#[derive(Debug)]
pub struct TensorFile {
    path: String,
    bytes: Vec<u8>,
    metadata: HashMap<String, String>,
}

impl TensorFile {
    /// Reads and checks `path` (see the module docs).
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::File {
            path: path.display().to_string(),
            reason: format!("cannot be read ({e})"),
        })?;
        Self::from_bytes(path.display().to_string(), bytes)
    }

    /// Checks the bytes of a file named `path` (the name only labels the messages).
    pub fn from_bytes(path: impl Into<String>, bytes: Vec<u8>) -> Result<Self> {
        let path = path.into();
        let file_error = |reason: String| ModelError::File {
            path: path.clone(),
            reason,
        };
        SafeTensors::deserialize(&bytes)
            .map_err(|e| file_error(format!("is not a valid safetensors file: {}", words(&e))))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).expect("checked above");
        one_float_dtype(&header).map_err(file_error)?;
        let metadata = header.metadata().clone().unwrap_or_default();
        Ok(Self {
            path,
            bytes,
            metadata,
        })
    }

    /// The file's path, as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .parsed()
            .names()
            .into_iter()
            .map(String::from)
            .collect();
        names.sort_unstable();
        names
    }

    /// Whether the file holds a tensor named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.parsed().names().contains(&name)
    }

    /// Errors on the first tensor (in name order) whose name is not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<()> {
        match self
            .names()
            .into_iter()
            .find(|n| !known.contains(&n.as_str()))
        {
            Some(unknown) => Err(self.tensor_error(
                &unknown,
                format!(
                    "is not one this file may hold (known: {})",
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// The shape of tensor `name` (without reading its values).
    pub fn shape(&self, name: &str) -> Result<Vec<usize>> {
        let st = self.parsed();
        let view = st
            .tensor(name)
            .map_err(|_| self.tensor_error(name, "is missing"))?;
        Ok(view.shape().to_vec())
    }

    /// The float tensor `name` (F32 or F64) of rank `rank`, holding only finite values.
    pub fn get(&self, name: &str, rank: usize) -> Result<HostTensor> {
        self.read(name, rank, Allowed::Float)
    }

    /// The tensor `name` of rank `rank` stored as a float (finite), an integer or BOOL: for
    /// labels, class ids and masks, which NumPy and PyTorch users often store as integers.
    pub fn get_numbers(&self, name: &str, rank: usize) -> Result<HostTensor> {
        self.read(name, rank, Allowed::Number)
    }

    /// Errors unless `t` has shape `shape`; `why` says where the expected sizes come from.
    pub fn check_shape(&self, t: &HostTensor, shape: &[usize], why: &str) -> Result<()> {
        if t.shape != shape {
            return Err(self.tensor_error(
                &t.name,
                format!("has shape {:?}, expected {shape:?} ({why})", t.shape),
            ));
        }
        Ok(())
    }

    /// The value of `key` in the file's `__metadata__` header, if any.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// An error about tensor `tensor` of this file.
    pub fn tensor_error(&self, tensor: &str, reason: impl Into<String>) -> ModelError {
        ModelError::Tensor {
            path: self.path.clone(),
            tensor: tensor.to_string(),
            reason: reason.into(),
        }
    }

    fn read(&self, name: &str, rank: usize, allowed: Allowed) -> Result<HostTensor> {
        let st = self.parsed();
        let view = st
            .tensor(name)
            .map_err(|_| self.tensor_error(name, "is missing"))?;
        let shape = view.shape().to_vec();
        if shape.len() != rank {
            return Err(self.tensor_error(
                name,
                format!("has shape {shape:?}, expected {rank} dimensions"),
            ));
        }
        let data = view.data();
        let values: Vec<f64> = match (view.dtype(), allowed) {
            (Dtype::F32, _) => decode::<4>(data, |b| f32::from_le_bytes(b) as f64),
            (Dtype::F64, _) => decode::<8>(data, f64::from_le_bytes),
            (Dtype::U8, Allowed::Number) => decode::<1>(data, |b| b[0] as f64),
            (Dtype::BOOL, Allowed::Number) => decode::<1>(data, |b| (b[0] != 0) as u8 as f64),
            (Dtype::I8, Allowed::Number) => decode::<1>(data, |b| i8::from_le_bytes(b) as f64),
            (Dtype::U16, Allowed::Number) => decode::<2>(data, |b| u16::from_le_bytes(b) as f64),
            (Dtype::I16, Allowed::Number) => decode::<2>(data, |b| i16::from_le_bytes(b) as f64),
            (Dtype::U32, Allowed::Number) => decode::<4>(data, |b| u32::from_le_bytes(b) as f64),
            (Dtype::I32, Allowed::Number) => decode::<4>(data, |b| i32::from_le_bytes(b) as f64),
            (Dtype::U64, Allowed::Number) => decode::<8>(data, |b| u64::from_le_bytes(b) as f64),
            (Dtype::I64, Allowed::Number) => decode::<8>(data, |b| i64::from_le_bytes(b) as f64),
            (other, Allowed::Float) => {
                return Err(
                    self.tensor_error(name, format!("has dtype {other:?}, expected F32 or F64"))
                );
            }
            (other, Allowed::Number) => {
                return Err(self.tensor_error(
                    name,
                    format!("has dtype {other:?}, expected F32, F64, an integer type or BOOL"),
                ));
            }
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(self.tensor_error(
                name,
                format!("holds a non-finite value ({}) at flat index {i}", values[i]),
            ));
        }
        Ok(HostTensor {
            name: name.to_string(),
            shape,
            values,
        })
    }

    fn parsed(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("checked when opened")
    }
}

/// What a safetensors file's header says, read and checked without its data: the same checks
/// as [`TensorFile::open`] makes before reading values (byte ranges that match the shapes,
/// dtypes and the file's size exactly; one float dtype).
#[derive(Debug, Clone, Default)]
pub struct TensorHeader {
    /// Tensor name → (dtype as written, e.g. "F32"; shape).
    pub tensors: BTreeMap<String, (String, Vec<usize>)>,
    /// The `__metadata__` entries.
    pub metadata: HashMap<String, String>,
    /// Size of the whole file, bytes.
    pub file_bytes: u64,
}

/// The largest header accepted (the format's own limit).
const MAX_HEADER: u64 = 100_000_000;

impl TensorHeader {
    /// Reads and checks the header of `path` (the 8-byte length, then the JSON).
    pub fn read(path: &Path) -> Result<Self> {
        let file_error = |reason: String| ModelError::File {
            path: path.display().to_string(),
            reason,
        };
        let invalid = |why: String| file_error(format!("is not a valid safetensors file: {why}"));
        let mut file =
            std::fs::File::open(path).map_err(|e| file_error(format!("cannot be read ({e})")))?;
        let file_bytes = file
            .metadata()
            .map_err(|e| file_error(format!("cannot be read ({e})")))?
            .len();
        let mut length = [0u8; 8];
        file.read_exact(&mut length)
            .map_err(|_| invalid(words(&safetensors::SafeTensorError::HeaderTooSmall)))?;
        let length = u64::from_le_bytes(length);
        if length > MAX_HEADER {
            return Err(invalid(words(
                &safetensors::SafeTensorError::HeaderTooLarge,
            )));
        }
        if length > file_bytes - 8 {
            return Err(invalid(words(
                &safetensors::SafeTensorError::InvalidHeaderLength,
            )));
        }
        let mut json = vec![0u8; length as usize];
        file.read_exact(&mut json)
            .map_err(|e| file_error(format!("cannot be read ({e})")))?;
        let entries: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&json)
            .map_err(|e| invalid(format!("its header is not a JSON object ({e})")))?;
        let mut metadata = None;
        let mut infos = Vec::with_capacity(entries.len());
        for (name, entry) in entries {
            if name == "__metadata__" {
                metadata = Some(serde_json::from_value(entry).map_err(|e| {
                    invalid(format!("its `__metadata__` is not a map of strings ({e})"))
                })?);
                continue;
            }
            let info: TensorInfo = serde_json::from_value(entry).map_err(|e| {
                invalid(format!(
                    "its header entry of tensor `{name}` is not a dtype, shape and data_offsets \
                     ({e})"
                ))
            })?;
            infos.push((name, info));
        }
        infos.sort_by_key(|(_, info)| info.data_offsets);
        let header = Metadata::new(metadata, infos).map_err(|e| invalid(words(&e)))?;
        if 8 + length + header.data_len() as u64 != file_bytes {
            return Err(invalid(words(
                &safetensors::SafeTensorError::MetadataIncompleteBuffer,
            )));
        }
        one_float_dtype(&header).map_err(file_error)?;
        Ok(Self {
            tensors: header
                .tensors()
                .into_iter()
                .map(|(name, info)| (name, (format!("{:?}", info.dtype), info.shape.clone())))
                .collect(),
            metadata: header.metadata().clone().unwrap_or_default(),
            file_bytes,
        })
    }

    /// The shape of tensor `name`, if the file has it.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|(_, shape)| shape.as_slice())
    }

    /// The number of elements of every tensor together.
    pub fn elements(&self) -> f64 {
        self.tensors
            .values()
            .map(|(_, shape)| shape.iter().map(|&d| d as f64).product::<f64>())
            .sum()
    }
}

/// Errors (the reason, in words) when `header` holds both F32 and F64 tensors, naming the
/// first of each in name order.
fn one_float_dtype(header: &Metadata) -> std::result::Result<(), String> {
    let mut tensors: Vec<_> = header.tensors().into_iter().collect();
    tensors.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let first = |dtype: Dtype| {
        tensors
            .iter()
            .find(|(_, info)| info.dtype == dtype)
            .map(|(name, _)| name)
    };
    match (first(Dtype::F32), first(Dtype::F64)) {
        (Some(a), Some(b)) => Err(format!(
            "mixes F32 and F64 tensors (`{a}` is F32, `{b}` is F64): write every float tensor \
             in one dtype"
        )),
        _ => Ok(()),
    }
}

/// Little-endian elements of `N` bytes, decoded by `f`.
fn decode<const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> f64) -> Vec<f64> {
    data.chunks_exact(N)
        .map(|c| f(c.try_into().expect("chunks of N bytes")))
        .collect()
}

/// A safetensors error in words a user can act on.
fn words(e: &safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::HeaderTooSmall => "shorter than the 8-byte header length".into(),
        E::HeaderTooLarge => "its header length is larger than allowed (100 MB)".into(),
        E::InvalidHeaderLength => "its header length points past the end of the file".into(),
        E::MetadataIncompleteBuffer => {
            "its header does not match its data (the tensors' byte ranges do not cover the \
             file exactly: truncated or padded)"
                .into()
        }
        E::TensorInvalidInfo => {
            "its header does not match its data (a tensor's byte range differs from its \
             shape times its dtype size)"
                .into()
        }
        E::InvalidOffset(name) => {
            format!("its header gives tensor `{name}` byte offsets that overlap or leave gaps")
        }
        E::ValidationOverflow => "its header gives a tensor shape whose size overflows".into(),
        other => format!("its header cannot be parsed ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    /// A file of (name, dtype, shape, raw bytes).
    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    fn f64_bytes(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn message(r: Result<TensorFile>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn reads_floats_integers_and_metadata() {
        let bytes = file(&[
            ("x", Dtype::F32, vec![2, 1], f32_bytes(&[0.5, -1.0])),
            ("y", Dtype::U8, vec![2], vec![3, 8]),
            ("z", Dtype::I64, vec![1], (-7i64).to_le_bytes().to_vec()),
        ]);
        let f = TensorFile::from_bytes("a.safetensors", bytes).unwrap();
        assert_eq!(f.names(), ["x", "y", "z"]);
        assert_eq!(f.get("x", 2).unwrap().values, [0.5, -1.0]);
        assert_eq!(f.get_numbers("y", 1).unwrap().values, [3.0, 8.0]);
        assert_eq!(f.get_numbers("z", 1).unwrap().values, [-7.0]);
        assert!(f.only(&["x", "y", "z", "w"]).is_ok());
        // integers are not floats
        let err = f.get("y", 1).unwrap_err().to_string();
        assert_eq!(
            err,
            "a.safetensors: tensor `y` has dtype U8, expected F32 or F64"
        );
    }

    #[test]
    fn mixed_float_dtypes_name_a_tensor_of_each() {
        let bytes = file(&[
            ("retain_c", Dtype::F32, vec![1], f32_bytes(&[1.0])),
            ("retain_g", Dtype::F64, vec![1, 1], f64_bytes(&[1.0])),
        ]);
        let err = message(TensorFile::from_bytes("h.safetensors", bytes));
        assert_eq!(
            err,
            "h.safetensors: mixes F32 and F64 tensors (`retain_c` is F32, `retain_g` is F64): \
             write every float tensor in one dtype"
        );
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        let bytes = file(&[
            ("retain_g", Dtype::F64, vec![1, 1], f64_bytes(&[1.0])),
            ("forget_G", Dtype::F64, vec![1, 1], f64_bytes(&[1.0])),
        ]);
        let f = TensorFile::from_bytes("h.safetensors", bytes).unwrap();
        let err = f.only(&["retain_g", "forget_g"]).unwrap_err().to_string();
        assert_eq!(
            err,
            "h.safetensors: tensor `forget_G` is not one this file may hold (known: retain_g, \
             forget_g)"
        );
    }

    #[test]
    fn lying_or_truncated_headers_name_the_file() {
        let good = file(&[("x", Dtype::F64, vec![2], f64_bytes(&[1.0, 2.0]))]);
        // The header claims 3 elements for 16 bytes of data (same header length).
        let at = good.windows(3).position(|w| w == b"[2]").unwrap();
        let mut lying = good.clone();
        lying[at + 1] = b'3';
        let err = message(TensorFile::from_bytes("l.safetensors", lying));
        assert!(
            err.starts_with(
                "l.safetensors: is not a valid safetensors file: its header does not match its \
                 data"
            ),
            "{err}"
        );
        let truncated = good[..good.len() - 3].to_vec();
        let err = message(TensorFile::from_bytes("t.safetensors", truncated));
        assert!(
            err.starts_with("t.safetensors: is not a valid safetensors file"),
            "{err}"
        );
        let err = message(TensorFile::from_bytes("e.safetensors", vec![1, 2]));
        assert_eq!(
            err,
            "e.safetensors: is not a valid safetensors file: shorter than the 8-byte header \
             length"
        );
    }

    #[test]
    fn rank_dtype_and_finiteness_are_checked_per_tensor() {
        let bytes = file(&[
            ("x", Dtype::F64, vec![2], f64_bytes(&[1.0, f64::NAN])),
            ("h", Dtype::F16, vec![1], vec![0, 0]),
        ]);
        let f = TensorFile::from_bytes("d.safetensors", bytes).unwrap();
        assert_eq!(
            f.get("x", 2).unwrap_err().to_string(),
            "d.safetensors: tensor `x` has shape [2], expected 2 dimensions"
        );
        assert_eq!(
            f.get("x", 1).unwrap_err().to_string(),
            "d.safetensors: tensor `x` holds a non-finite value (NaN) at flat index 1"
        );
        assert_eq!(
            f.get_numbers("h", 1).unwrap_err().to_string(),
            "d.safetensors: tensor `h` has dtype F16, expected F32, F64, an integer type or BOOL"
        );
        assert_eq!(
            f.get("w", 1).unwrap_err().to_string(),
            "d.safetensors: tensor `w` is missing"
        );
    }
}
