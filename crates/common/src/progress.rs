//! How long computations report progress: through a callback the caller implements. Library
//! code never prints or draws; the command line decides between a bar, periodic lines and
//! silence.

/// Receives the progress of one computation (a grid, a figure's set of runs).
pub trait Progress: Sync {
    /// The computation has `total` units of work (setups, cells, runs); called once, before
    /// any [`Progress::advance`].
    fn start(&self, total: usize);
    /// What is being done now, e.g. "pre-training" or "cells".
    fn stage(&self, _what: &str) {}
    /// `units` more units are done.
    fn advance(&self, units: usize);
    /// Something went wrong and was handled (e.g. a corrupt cache file, recomputed): one line
    /// for the user, which the caller shows even when it shows no progress.
    fn warn(&self, _line: &str) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _total: usize) {}
    fn advance(&self, _units: usize) {}
}
