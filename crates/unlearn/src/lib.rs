//! `frontier-unlearn`: gradient-ascent/descent unlearning on real models (`docs/science.md`).
//!
//! - [`update`]: the step w ← w − η[(1−α)·mean_{B_r} ∇ℓ − α·mean_{B_f} ∇ℓ] on any
//!   [`frontier_model::Model`], plain gradient ascent, and the OpenUnlearning GradDiff mapping;
//! - [`outcome`]: what is measured along a run (losses, accuracies, distances, MIA AUC and
//!   attack strength, forget quality, output distance to the retrained model);
//! - [`mia`]: the loss-threshold membership-inference AUC, its attack strength and the
//!   strength's null quantile;
//! - [`ks`]: the two-sample Kolmogorov–Smirnov test behind forget quality;
//! - [`retrain`]: the retrain reference (same initialisation, trained on R alone);
//! - [`setup`]: data + pre-trained model at w* + reference, the start of every run;
//! - [`run`]: one unlearning run with its success criteria;
//! - [`batch`]: many runs (a whole grid) advanced together as batched tensors;
//! - [`predict`]: the linearised problem at w* and the stability engine's verdicts;
//! - [`escape`]: the inputs of the finite-budget escape rule at w* (margins, forget gradient
//!   norms, cos(∇L_R, ∇L_F), α_drift) and T̂_esc;
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
pub mod escape;
pub mod grid;
pub mod ks;
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
pub use escape::EscapeInputs;
pub use grid::{
    Axis, AxisValue, CellRecord, CellSummary, Criterion, Grid, GridConfig, GridOptions, Param,
    Shard, run_grid,
};
pub use ks::{KsTest, ks_test};
pub use mia::{attack_strength, auc, null_strength_95};
pub use outcome::Snapshot;
pub use predict::{AsymptoticConfig, HessianMethod, Linearised, PredictConfig, Prediction, Query};
pub use retrain::Reference;
pub use run::{RunOutcome, Success, UnlearnConfig, unlearn, unlearn_model};
pub use setup::{Setup, SetupConfig};
pub use update::{GradDiff, Stepper, gradient_ascent};
