//! A data set a user brings in a safetensors file (`data.source = "file"`), read strictly.
//!
//! | tensor | shape | dtype | meaning |
//! |---|---|---|---|
//! | `x` | [n, C, H, W] (images) or [n, P, d] (patches) | F32 or F64 | training inputs |
//! | `y` | \[n\] | float or integer | labels −1/+1, or class ids (integers ≥ 0) with a [`Binary`] mapping |
//! | `forget` | \[n\] | float, integer or BOOL | optional: 1 = forget sample, 0 = retain |
//! | `x_test` | [n_test, …] as `x` | as `x` | optional test inputs (else a seeded split of `x`) |
//! | `y_test` | \[n_test\] | as `y` | with `x_test` |
//!
//! Images travel through the models as P = C patches of dimension d = H·W (row-major), with
//! the image shape [C, H, W] kept beside them for models that need it (the convnet). Any
//! other tensor name is an error, so a typo cannot silently drop a tensor.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};
use crate::forget::ForgetConfig;
use crate::tensor_file::{HostTensor, TensorFile};

/// The tensor names a data file may hold.
pub const DATA_TENSORS: [&str; 5] = ["x", "y", "forget", "x_test", "y_test"];

/// How class ids become ±1 labels (`data.binary`, `--binary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Binary {
    /// "odd-even": odd classes +1, even classes −1 (every sample is kept).
    OddEven,
    /// "A-vs-B", e.g. "3-vs-8": class A +1, class B −1; samples of other classes are left out.
    Pair(u32, u32),
}

impl Binary {
    /// The ±1 label of class `class`, or `None` when the mapping leaves it out.
    pub fn label(self, class: u32) -> Option<f64> {
        match self {
            Binary::OddEven => Some(if class % 2 == 1 { 1.0 } else { -1.0 }),
            Binary::Pair(a, _) if class == a => Some(1.0),
            Binary::Pair(_, b) if class == b => Some(-1.0),
            Binary::Pair(..) => None,
        }
    }
}

impl std::str::FromStr for Binary {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "odd-even" {
            return Ok(Binary::OddEven);
        }
        let pair = s.split_once("-vs-").and_then(|(a, b)| {
            let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
            (a != b).then_some(Binary::Pair(a, b))
        });
        pair.ok_or_else(|| {
            format!(
                "unknown binary mapping `{s}`: expected odd-even or A-vs-B with two different \
                 class ids, e.g. 3-vs-8"
            )
        })
    }
}

impl std::fmt::Display for Binary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Binary::OddEven => write!(f, "odd-even"),
            Binary::Pair(a, b) => write!(f, "{a}-vs-{b}"),
        }
    }
}

impl TryFrom<String> for Binary {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<Binary> for String {
    fn from(b: Binary) -> String {
        b.to_string()
    }
}

/// A data file and how to use it (the `[data]` section with `source = "file"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileData {
    /// The safetensors file (relative paths from the working directory).
    pub path: PathBuf,
    /// Class ids to ±1: "odd-even" or "A-vs-B"; required when `y` holds class ids, refused
    /// when it holds ±1 labels.
    pub binary: Option<Binary>,
    /// Fraction of the samples held out as the test set when the file has no `x_test`, in
    /// [0, 1).
    pub test_fraction: f64,
    /// How the forget set is chosen.
    pub forget: ForgetConfig,
    /// Seed of the test split, the forget choice and the cross-fitting folds.
    pub seed: u64,
}

impl Default for FileData {
    /// The shipped digits, 20 % held out, a random 10 % forget set, seed 0.
    fn default() -> Self {
        Self {
            path: PathBuf::from("assets/data/digits.safetensors"),
            binary: None,
            test_fraction: 0.2,
            forget: ForgetConfig::default(),
            seed: 0,
        }
    }
}

impl FileData {
    /// Checks the fields that do not need the file.
    pub fn validate(&self) -> Result<()> {
        if self.path.as_os_str().is_empty() {
            return Err(invalid("data.path", "must name a safetensors file"));
        }
        if !(0.0..1.0).contains(&self.test_fraction) {
            return Err(invalid(
                "data.test_fraction",
                format!("must lie in [0, 1), got {}", self.test_fraction),
            ));
        }
        self.forget.validate()
    }
}

/// Labels as the file gives them.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    /// −1/+1 labels.
    PlusMinus(Vec<f64>),
    /// Class ids.
    Classes(Vec<u32>),
}

impl Labels {
    fn len(&self) -> usize {
        match self {
            Labels::PlusMinus(v) => v.len(),
            Labels::Classes(v) => v.len(),
        }
    }
}

/// One split (training or test) of a data file, after the binary mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Inputs [n, P, d], row-major.
    pub x: Vec<f64>,
    /// ±1 labels \[n\].
    pub y: Vec<f64>,
    /// Class ids \[n\] when the file gives them.
    pub classes: Option<Vec<u32>>,
    /// The file's forget mask \[n\] (training split only).
    pub forget: Option<Vec<bool>>,
}

impl Split {
    /// Number of samples.
    pub fn n(&self) -> usize {
        self.y.len()
    }

    /// The samples at `rows`, in that order.
    pub fn select(&self, rows: &[usize], stride: usize) -> Split {
        Split {
            x: rows
                .iter()
                .flat_map(|&i| self.x[i * stride..(i + 1) * stride].iter().copied())
                .collect(),
            y: rows.iter().map(|&i| self.y[i]).collect(),
            classes: self
                .classes
                .as_ref()
                .map(|c| rows.iter().map(|&i| c[i]).collect()),
            forget: self
                .forget
                .as_ref()
                .map(|f| rows.iter().map(|&i| f[i]).collect()),
        }
    }
}

/// A data file read, checked and mapped to ±1 labels.
#[derive(Debug, Clone, PartialEq)]
pub struct FileContents {
    /// Patches P per sample (the channels C of an image).
    pub patches: usize,
    /// Patch dimension d (H·W of an image).
    pub d: usize,
    /// [C, H, W] when `x` holds images.
    pub image: Option<[usize; 3]>,
    /// The training samples (all of `x` when the file has no test set).
    pub train: Split,
    /// The file's own test set, if it has one.
    pub test: Option<Split>,
}

impl FileContents {
    /// Reads `file` (already opened), checks every tensor and applies `binary`.
    pub fn read(file: &TensorFile, binary: Option<Binary>) -> Result<Self> {
        file.only(&DATA_TENSORS)?;
        let rank = file.shape("x")?.len();
        if rank != 3 && rank != 4 {
            return Err(file.tensor_error(
                "x",
                format!(
                    "has shape {:?}, expected images [n, C, H, W] or patches [n, P, d]",
                    file.shape("x")?
                ),
            ));
        }
        let x = file.get("x", rank)?;
        let (n, patches, d, image) = input_shape(file, &x)?;
        if n == 0 {
            return Err(file.tensor_error("x", "holds no samples (n = 0)"));
        }
        let y = labels(file, "y", n, "n from `x`")?;
        let forget = if file.contains("forget") {
            let f = file.get_numbers("forget", 1)?;
            file.check_shape(&f, &[n], "n from `x`")?;
            if let Some((i, v)) = f
                .values
                .iter()
                .enumerate()
                .find(|(_, v)| **v != 0.0 && **v != 1.0)
            {
                return Err(file.tensor_error(
                    "forget",
                    format!("must hold only 0 (retain) or 1 (forget), found {v} at index {i}"),
                ));
            }
            Some(f.values.iter().map(|&v| v == 1.0).collect())
        } else {
            None
        };
        let test = match (file.contains("x_test"), file.contains("y_test")) {
            (false, false) => None,
            (true, false) => {
                return Err(file.tensor_error("y_test", "is missing (`x_test` is given)"));
            }
            (false, true) => {
                return Err(file.tensor_error("x_test", "is missing (`y_test` is given)"));
            }
            (true, true) => {
                let xt = file.get("x_test", x.shape.len())?;
                let n_test = xt.shape[0];
                let mut expected = x.shape.clone();
                expected[0] = n_test;
                file.check_shape(&xt, &expected, "per-sample shape from `x`")?;
                let yt = labels(file, "y_test", n_test, "n_test from `x_test`")?;
                if std::mem::discriminant(&yt) != std::mem::discriminant(&y) {
                    return Err(file.tensor_error(
                        "y_test",
                        "must hold the same kind of labels as `y` (both −1/+1 or both class ids)",
                    ));
                }
                Some((xt.values, yt))
            }
        };
        let stride = patches * d;
        let train = map_labels(file, "y", x.values, y, forget, binary, stride)?;
        let test = test
            .map(|(xt, yt)| map_labels(file, "y_test", xt, yt, None, binary, stride))
            .transpose()?;
        Ok(Self {
            patches,
            d,
            image,
            train,
            test,
        })
    }
}

/// (n, P, d, image shape) of the inputs `x`.
fn input_shape(
    file: &TensorFile,
    x: &HostTensor,
) -> Result<(usize, usize, usize, Option<[usize; 3]>)> {
    let s = &x.shape;
    let (n, patches, d, image) = match s.len() {
        4 => (s[0], s[1], s[2] * s[3], Some([s[1], s[2], s[3]])),
        _ => (s[0], s[1], s[2], None),
    };
    if patches == 0 || d == 0 {
        return Err(file.tensor_error(
            "x",
            format!("has shape {s:?}: every dimension but n must be at least 1"),
        ));
    }
    Ok((n, patches, d, image))
}

/// The labels `name` \[n\]: ±1 when every value is −1 or +1, else class ids.
fn labels(file: &TensorFile, name: &str, n: usize, why: &str) -> Result<Labels> {
    let t = file.get_numbers(name, 1)?;
    file.check_shape(&t, &[n], why)?;
    let plus_minus = |v: f64| v == 1.0 || v == -1.0;
    if t.values.iter().all(|&v| plus_minus(v)) {
        return Ok(Labels::PlusMinus(t.values));
    }
    // A −1 says the file means ±1 labels; otherwise it means class ids.
    let (bad, expected) = if t.values.contains(&-1.0) {
        (
            t.values.iter().position(|&v| !plus_minus(v)),
            "labels −1 or +1 (it holds −1, so not class ids)",
        )
    } else {
        (
            t.values
                .iter()
                .position(|v| !(*v >= 0.0 && v.fract() == 0.0 && *v <= u32::MAX as f64)),
            "labels −1/+1 or class ids (integers ≥ 0)",
        )
    };
    if let Some(i) = bad {
        return Err(file.tensor_error(
            name,
            format!("must hold {expected}, found {} at index {i}", t.values[i]),
        ));
    }
    Ok(Labels::Classes(
        t.values.iter().map(|&v| v as u32).collect(),
    ))
}

/// ±1 labels for inputs `x` [n, stride] by `binary`, dropping the samples it leaves out.
fn map_labels(
    file: &TensorFile,
    name: &str,
    x: Vec<f64>,
    y: Labels,
    forget: Option<Vec<bool>>,
    binary: Option<Binary>,
    stride: usize,
) -> Result<Split> {
    debug_assert_eq!(x.len(), y.len() * stride);
    match (y, binary) {
        (Labels::PlusMinus(y), None) => Ok(Split {
            x,
            y,
            classes: None,
            forget,
        }),
        (Labels::PlusMinus(_), Some(b)) => Err(file.tensor_error(
            name,
            format!(
                "holds −1/+1 labels already: the binary mapping `{b}` applies to class ids only"
            ),
        )),
        (Labels::Classes(_), None) => Err(file.tensor_error(
            name,
            "holds class ids: give a binary mapping (`--binary odd-even` or `--binary A-vs-B`, \
             config key data.binary)",
        )),
        (Labels::Classes(classes), Some(b)) => {
            let keep: Vec<usize> = (0..classes.len())
                .filter(|&i| b.label(classes[i]).is_some())
                .collect();
            if let Binary::Pair(a, c) = b {
                for class in [a, c] {
                    if !classes.contains(&class) {
                        return Err(file.tensor_error(
                            name,
                            format!("holds no sample of class {class} (binary mapping `{b}`)"),
                        ));
                    }
                }
            }
            let all = Split {
                y: classes.iter().map(|&c| b.label(c).unwrap_or(0.0)).collect(),
                classes: Some(classes),
                x,
                forget,
            };
            Ok(if keep.len() == all.n() {
                all
            } else {
                all.select(&keep, stride)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_mappings_parse_print_and_label() {
        let b: Binary = "3-vs-8".parse().unwrap();
        assert_eq!(b, Binary::Pair(3, 8));
        assert_eq!(b.to_string(), "3-vs-8");
        assert_eq!(
            (b.label(3), b.label(8), b.label(5)),
            (Some(1.0), Some(-1.0), None)
        );
        let oe: Binary = "odd-even".parse().unwrap();
        assert_eq!((oe.label(7), oe.label(0)), (Some(1.0), Some(-1.0)));
        for bad in ["3-vs-3", "three-vs-8", "odd", ""] {
            assert!(bad.parse::<Binary>().is_err(), "{bad}");
        }
    }
}
