//! Errors of the model crate.

/// What can go wrong when building data or models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A configuration value is outside its allowed range.
    #[error("invalid `{field}`: {reason}")]
    InvalidConfig {
        /// The config key, as written in the TOML file.
        field: &'static str,
        /// What is allowed, and what was given.
        reason: String,
    },
    /// A tensor or vector has the wrong shape.
    #[error("shape mismatch for `{name}`: expected {expected}, got {got}")]
    Shape {
        /// The tensor name.
        name: &'static str,
        /// The expected shape, in words.
        expected: String,
        /// The shape that was given.
        got: String,
    },
    /// A data or weights file cannot be used as a whole (unreadable, not safetensors, a header
    /// that does not match the data, mixed float dtypes).
    #[error("{path}: {reason}")]
    File {
        /// The file, as given.
        path: String,
        /// What is wrong, once.
        reason: String,
    },
    /// One tensor of a file cannot be used (missing, unknown, wrong dtype, shape or values).
    #[error("{path}: tensor `{tensor}` {reason}")]
    Tensor {
        /// The file, as given.
        path: String,
        /// The tensor's name in the file.
        tensor: String,
        /// What is wrong, once.
        reason: String,
    },
}

/// Result alias of the model crate.
pub type Result<T> = std::result::Result<T, ModelError>;

/// Shorthand for an [`ModelError::InvalidConfig`].
pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> ModelError {
    ModelError::InvalidConfig {
        field,
        reason: reason.into(),
    }
}
