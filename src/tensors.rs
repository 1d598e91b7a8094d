//! The public file format: named f32 or f64 tensors in safetensors files, loadable from NumPy
//! (`safetensors.numpy.load_file`) and PyTorch (`safetensors.torch.load_file`).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use frontier_model::Precision;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// A named host tensor: row-major f64 values and a shape.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// The tensor's name in the file.
    pub name: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// Row-major values.
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

/// Writes `tensors` to `path` in one dtype, through a temporary file and a rename.
pub fn write(path: &Path, tensors: &[HostTensor], precision: Precision) -> Result<()> {
    write_with_metadata(path, tensors, precision, HashMap::new())
}

/// As [`write()`], with string metadata in the file's `__metadata__` header.
pub fn write_with_metadata(
    path: &Path,
    tensors: &[HostTensor],
    precision: Precision,
    metadata: HashMap<String, String>,
) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| match precision {
            Precision::F32 => t
                .values
                .iter()
                .flat_map(|v| (*v as f32).to_le_bytes())
                .collect(),
            Precision::F64 => t.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        })
        .collect();
    let dtype = match precision {
        Precision::F32 => Dtype::F32,
        Precision::F64 => Dtype::F64,
    };
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| Ok((t.name.clone(), TensorView::new(dtype, t.shape.clone(), b)?)))
        .collect::<Result<Vec<_>>>()?;
    let metadata = (!metadata.is_empty()).then_some(metadata);
    let buffer = safetensors::serialize(views, metadata)?;
    crate::output::write_atomic(path, &buffer)
}

/// A safetensors file read into memory.
pub struct TensorFile {
    path: String,
    bytes: Vec<u8>,
    metadata: HashMap<String, String>,
}

impl TensorFile {
    /// Reads `path`; fails with a clear message if it is missing or not safetensors.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .with_context(|| format!("{} is not a safetensors file", path.display()))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{} is not a safetensors file", path.display()))?;
        Ok(Self {
            path: path.display().to_string(),
            bytes,
            metadata,
        })
    }

    /// Whether the file holds a tensor named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.parsed().names().contains(&name)
    }

    /// The tensor `name` as f64 values, checking that it is F32 or F64, has rank `rank`, and
    /// holds only finite values.
    pub fn get(&self, name: &str, rank: usize) -> Result<HostTensor> {
        let st = self.parsed();
        let view = st
            .tensor(name)
            .with_context(|| format!("{}: missing tensor `{name}`", self.path))?;
        let shape = view.shape().to_vec();
        if shape.len() != rank {
            bail!(
                "{}: tensor `{name}` has shape {shape:?}, expected {rank} dimensions",
                self.path
            );
        }
        let values: Vec<f64> = match view.dtype() {
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            other => bail!(
                "{}: tensor `{name}` has dtype {other:?}, expected F32 or F64",
                self.path
            ),
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            bail!(
                "{}: tensor `{name}` holds a non-finite value ({}) at flat index {i}",
                self.path,
                values[i]
            );
        }
        Ok(HostTensor {
            name: name.to_string(),
            shape,
            values,
        })
    }

    /// The value of `key` in the file's `__metadata__` header, if any.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    fn parsed(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("checked when opened")
    }
}
