//! `frontier-unlearn`: gradient-ascent/descent unlearning on real models (SCIENCE.md §1, §5).
//!
//! - [`update`]: the step w ← w − η[(1−α)·mean_{B_r} ∇ℓ − α·mean_{B_f} ∇ℓ] on any
//!   [`frontier_model::Model`], plain gradient ascent, and the OpenUnlearning GradDiff mapping;
//! - [`outcome`]: what is measured along a run (losses, accuracies, distances, MIA AUC);
//! - [`mia`]: the loss-threshold membership-inference AUC;
//! - [`retrain`]: the retrain reference (same initialisation, trained on R alone);
//! - [`setup`]: data + pre-trained model at w* + reference, the start of every run;
//! - [`run`]: one unlearning run with its success criteria;
//! - [`batch`]: many runs (a whole grid) advanced together as batched tensors;
//! - [`predict`]: the linearised problem at w* and the stability engine's verdicts;
//! - [`grid`]: grids over one or two of {B, B_f, α, SNR, η, step budget, n_f, forget
//!   fraction, forget kind, loss, label noise} with repetitions, cached (verified) and
//!   resumable in a [`cache::Store`] the caller passes in, splittable among processes
//!   ([`grid::Shard`]);
//! - [`seeds`]: every random stream derived from (seed, cell, rep).
//!
//! Everything random comes from `rand_chacha` streams on the host, never from the backend
//! RNG, so the same config and seed give byte-identical CSVs on the CPU.

pub mod batch;
pub mod cache;
pub mod error;
pub mod grid;
pub mod mia;
pub mod outcome;
pub mod predict;
pub mod retrain;
pub mod run;
pub mod seeds;
pub mod setup;
pub mod update;

pub use batch::{BatchRun, StepBench, bench_step, unlearn_many};
pub use cache::{Entry, RunDir, Store, config_hash};
pub use error::{Error, Result};
pub use grid::{
    Axis, AxisValue, CellRecord, CellSummary, Criterion, Grid, GridConfig, GridOptions, Param,
    Shard, run_grid,
};
pub use mia::auc;
pub use outcome::Snapshot;
pub use predict::{HessianMethod, Linearised, PredictConfig, Prediction};
pub use retrain::Reference;
pub use run::{RunOutcome, Success, UnlearnConfig, unlearn, unlearn_model};
pub use setup::{Setup, SetupConfig};
pub use update::{GradDiff, Stepper, gradient_ascent};
