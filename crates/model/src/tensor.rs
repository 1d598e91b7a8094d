//! Moving plain host vectors to and from Burn tensors with an explicit float dtype.

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// The float precision of the tensors a model computes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats (the only precision the wgpu backend supports reliably).
    #[default]
    F32,
    /// 64-bit floats (CPU backends; what the curvature probes use).
    F64,
}

impl Precision {
    /// The Burn dtype.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
        }
    }

    /// The precision a float tensor is stored in (f64, else f32).
    pub fn of<const D: usize>(t: &Tensor<D>) -> Precision {
        if t.dtype() == DType::F64 {
            Precision::F64
        } else {
            Precision::F32
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "f64" => Ok(Precision::F64),
            other => Err(format!("unknown dtype `{other}`: expected f32 or f64")),
        }
    }
}

/// `n` rounded up to one of few sizes: a power of two up to 8, then a multiple of 8. Batched
/// code pads its varying sizes (runs still active, rows per batch) to these, because a GPU
/// backend compiles and tunes its kernels per shape: every new shape costs milliseconds to
/// seconds the first time it is seen.
pub fn shape_bucket(n: usize) -> usize {
    if n <= 8 {
        n.next_power_of_two()
    } else {
        n.div_ceil(8) * 8
    }
}

/// The rows a batch of `rows` rows keeps once only the rows `live` are still running: `None`
/// (keep them all) until a [`shape_bucket`] of the live count is at most half of `rows`, then
/// the live rows padded with stopped ones (`stopped(row)`) to that bucket size, in order.
pub fn shrink_to_bucket(
    live: &[usize],
    rows: usize,
    stopped: impl Fn(usize) -> bool,
) -> Option<Vec<usize>> {
    let target = shape_bucket(live.len());
    if 2 * target > rows {
        return None;
    }
    let mut keep = live.to_vec();
    keep.extend(
        (0..rows)
            .filter(|&row| stopped(row))
            .take(target - live.len()),
    );
    keep.sort_unstable();
    Some(keep)
}

/// A tensor of shape `shape` from row-major f64 values, created directly in `precision`.
pub fn tensor_from<const D: usize>(
    values: &[f64],
    shape: [usize; D],
    device: &Device,
    precision: Precision,
) -> Tensor<D> {
    let data = match precision {
        Precision::F64 => TensorData::new(values.to_vec(), shape),
        Precision::F32 => TensorData::new(values.iter().map(|&v| v as f32).collect(), shape),
    };
    Tensor::from_data(data, (device, precision.dtype()))
}

/// An index tensor of `rows` on `device` (for `select` and gathers), of their length.
pub fn index_tensor(rows: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let len = rows.len();
    Tensor::from_data(TensorData::new(rows, [len]), device)
}

/// Row-major values of a float tensor as f64 (whatever its dtype).
pub fn to_f64<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .expect("a float tensor converts to f64")
}

#[cfg(test)]
mod tests {
    use super::{shape_bucket, shrink_to_bucket};

    #[test]
    fn buckets_are_powers_of_two_then_multiples_of_eight() {
        let got: Vec<usize> = [0, 1, 2, 3, 5, 8, 9, 16, 17, 20, 330]
            .iter()
            .map(|&n| shape_bucket(n))
            .collect();
        assert_eq!(got, [1, 1, 2, 4, 8, 8, 16, 16, 24, 24, 336]);
    }

    #[test]
    fn shrinking_keeps_the_live_rows_padded_to_a_bucket() {
        let stopped = |row: usize| row % 2 == 1;
        assert_eq!(shrink_to_bucket(&[0, 2, 4], 7, stopped), None);
        assert_eq!(
            shrink_to_bucket(&[4, 6, 8], 9, stopped),
            Some(vec![1, 4, 6, 8])
        );
    }
}
