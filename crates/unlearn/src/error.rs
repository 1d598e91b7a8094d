//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in an unlearning run or grid.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is outside its allowed range.
    #[error("invalid `{field}`: {reason}")]
    InvalidConfig {
        /// The config key, as written in the TOML/JSON config.
        field: &'static str,
        /// What is allowed, and what was given.
        reason: String,
    },
    /// Data generation, the model or pre-training refused its input.
    #[error(transparent)]
    Model(#[from] frontier_model::ModelError),
    /// The curvature probes failed.
    #[error(transparent)]
    Probes(#[from] frontier_probes::Error),
    /// The stability engine failed.
    #[error(transparent)]
    Stability(#[from] frontier_stability::Error),
    /// A file or folder of the run cache could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was attempted ("write", "read", …).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A cached cell or config could not be (de)serialised.
    #[error("cannot (de)serialise {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A CSV table could not be built or encoded.
    #[error(transparent)]
    Csv(#[from] frontier_common::TableError),
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for an [`Error::InvalidConfig`].
pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field,
        reason: reason.into(),
    }
}
