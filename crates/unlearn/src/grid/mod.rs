//! Grids of unlearning runs over one or two of the parameters of [`Param`] (B, B_f, α, SNR,
//! η, the step budget, n_f, the forget fraction, the forget kind, the loss, label noise), the
//! others fixed, with `reps` repetitions (seeds) per cell: per cell the fraction of runs
//! meeting each success criterion, mean ± sd of every outcome, and the predicted verdicts of
//! the linearised problem at w* of each repetition's setup.
//!
//! Repetition r of every cell uses the setup seeded from (seed, r) (see
//! [`SetupConfig::seeded`](crate::SetupConfig::seeded)): the cells of a B × α grid share their
//! r-th pre-trained model, an SNR axis varies ‖μ‖ with the same noise draws. The batches of
//! run (cell, r) come from the stream (seed, cell, r). Cells are cached in a
//! [`Store`](crate::Store) the caller passes in, one folder per grid config, and the setups
//! in the store's shared `setups/` folder. A grid can be split among N processes
//! ([`Shard`]): each computes its share of the cells into the same store, and any of them
//! (or a later call) reads the whole grid back.
//!
//! By default the pre-training of every setup and then all runs of the pending cells advance
//! together as batched tensors (a few kernels per step for the whole grid, which is what a
//! GPU needs); [`GridOptions::batched`] = false prepares the setups and runs the cells one
//! model at a time, in parallel. Both give the same outcomes up to floating-point summation
//! order (the cache does not tell them apart).
//!
//! One concern per file: [`config`] (what a grid is), [`records`] (what a cell stores),
//! [`summary`] (per-cell statistics), [`view`] (a computed grid, its heatmap values and
//! predicted boundaries), [`csv`] (its CSV table), [`shard`] (splitting it among
//! processes), `setups` (the shared setups) and [`run`] (execution and caching).

pub mod config;
pub mod csv;
pub mod records;
pub mod run;
mod setups;
pub mod shard;
pub mod summary;
pub mod view;

pub use config::{Axis, AxisValue, GridConfig, Param};
pub use csv::table;
pub use records::{AtOptimum, CellRecord, RepRecord};
pub use run::{GridOptions, run_grid};
pub use shard::{Shard, owners};
pub use summary::{CellSummary, Criterion, stat_names};
pub use view::Grid;

#[cfg(test)]
mod tests;
