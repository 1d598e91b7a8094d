//! The crate's error type.

/// Everything that can go wrong when building or analysing a problem.
///
/// Messages name the offending field and the allowed range, so a command-line
/// front end can print them as they are.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A scalar setting is outside its allowed range.
    #[error("invalid {field} = {value}: allowed range is {allowed}")]
    OutOfRange {
        /// Name of the setting (`alpha`, `eta`, `batch_retain`, …).
        field: &'static str,
        /// The value that was given, formatted.
        value: String,
        /// The allowed range, in words.
        allowed: String,
    },
    /// An input array has the wrong shape.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        /// Which input.
        what: String,
        /// The shape that was expected.
        expected: String,
        /// The shape that was given.
        got: String,
    },
    /// An input contains NaN or an infinity.
    #[error("{what} is not finite ({value})")]
    NonFinite {
        /// Which input entry.
        what: String,
        /// The offending value.
        value: f64,
    },
    /// A rank-one weight c_i is negative (H_i = c_i g_i g_iᵀ must be PSD).
    #[error("c[{index}] = {value} is negative: rank-one weights must be >= 0")]
    NegativeWeight {
        /// Sample index.
        index: usize,
        /// The offending weight.
        value: f64,
    },
    /// A dense per-sample Hessian is not symmetric.
    #[error(
        "dense Hessian {index} is not symmetric: max |H - H^T| = {asymmetry:e} \
         exceeds the tolerance {tolerance:e}"
    )]
    NotSymmetric {
        /// Sample index.
        index: usize,
        /// Largest absolute asymmetry.
        asymmetry: f64,
        /// Allowed asymmetry.
        tolerance: f64,
    },
    /// A dense per-sample Hessian has a negative eigenvalue.
    #[error(
        "dense Hessian {index} is not positive semi-definite: most negative eigenvalue \
         {eigenvalue:e} (tolerance {tolerance:e})"
    )]
    NotPsd {
        /// Sample index.
        index: usize,
        /// Its most negative eigenvalue.
        eigenvalue: f64,
        /// Eigenvalues down to `-tolerance` are accepted as rounding.
        tolerance: f64,
    },
    /// The coherence computation (frontier-probes) rejected its input.
    #[error("coherence: {0}")]
    Coherence(#[from] frontier_probes::Error),
    /// A precomputed Gram matrix is not a Gram matrix of p-vectors.
    #[error("Gram matrix {0}")]
    Gram(String),
    /// Every per-sample Hessian is zero.
    #[error("every per-sample Hessian is zero: there is no curvature to analyse")]
    NoCurvature,
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::OutOfRange`].
    pub(crate) fn out_of_range(
        field: &'static str,
        value: impl std::fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        Error::OutOfRange {
            field,
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }
}
