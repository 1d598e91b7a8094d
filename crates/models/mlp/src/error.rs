//! Errors of the MLP crate.

/// What can go wrong when building an MLP.
#[derive(Debug, thiserror::Error)]
pub enum MlpError {
    /// A configuration value (or an input dimension) is outside its allowed range.
    #[error("invalid `{field}`: {reason}")]
    InvalidConfig {
        /// The config key, as written in the TOML file.
        field: &'static str,
        /// What is allowed, and what was given.
        reason: String,
    },
}

/// Result alias of the MLP crate.
pub type Result<T> = std::result::Result<T, MlpError>;

/// Shorthand for an [`MlpError::InvalidConfig`].
pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> MlpError {
    MlpError::InvalidConfig {
        field,
        reason: reason.into(),
    }
}

/// The model crate's error, so that [`frontier_model::ModelSpec`] can report MLP config errors.
impl From<MlpError> for frontier_model::ModelError {
    fn from(e: MlpError) -> Self {
        match e {
            MlpError::InvalidConfig { field, reason } => {
                frontier_model::ModelError::InvalidConfig { field, reason }
            }
        }
    }
}
