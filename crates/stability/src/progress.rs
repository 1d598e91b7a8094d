//! Progress of long computations, reported through a callback: the library
//! never prints; a front end decides what to show (the CLI prints a line on
//! stderr once a computation has run for more than a second).

/// `done` of `total` units of work of one named stage are finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// What is being computed, e.g. "Gram matrix G·Gᵀ".
    pub stage: &'static str,
    /// Units finished so far (0 when the stage starts).
    pub done: usize,
    /// Units in the stage (≥ 1).
    pub total: usize,
}

/// The callback: called from any thread, in no particular order between
/// threads, so it takes `&self` and must be `Sync`.
pub type OnProgress<'a> = &'a (dyn Fn(Progress) + Sync);

/// A callback that ignores every report.
pub fn silent(_: Progress) {}
