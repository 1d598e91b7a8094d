//! The crate's one error type.

/// Everything that can go wrong in `frontier-probes`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An input has the wrong size.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which input and which of its dimensions.
        what: &'static str,
        /// The size the other inputs imply.
        expected: usize,
        /// The size found.
        got: usize,
    },
    /// An argument is outside its valid range.
    #[error("{name} = {value}: {expected}")]
    Argument {
        /// The argument's name.
        name: &'static str,
        /// The value given, formatted.
        value: String,
        /// What was expected instead.
        expected: &'static str,
    },
    /// An input contains NaN or ±Inf.
    #[error("{0} contains NaN or Inf")]
    NonFinite(&'static str),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// `Err(Error::Shape)` unless `got == expected`.
pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(Error::Shape {
            what,
            expected,
            got,
        })
    }
}

/// `Err(Error::NonFinite)` if any value is NaN or ±Inf.
pub(crate) fn check_finite<'a>(
    what: &'static str,
    values: impl IntoIterator<Item = &'a f64>,
) -> Result<()> {
    if values.into_iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite(what))
    }
}

/// `Err(Error::Argument)` unless `0 ≤ alpha ≤ 1`.
pub(crate) fn check_alpha(alpha: f64) -> Result<()> {
    if (0.0..=1.0).contains(&alpha) {
        Ok(())
    } else {
        Err(Error::Argument {
            name: "alpha",
            value: alpha.to_string(),
            expected: "a number in [0, 1]",
        })
    }
}
