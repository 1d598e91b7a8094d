//! `frontier-probes`: curvature operators, eigen/trace/spectrum solvers and coherence, on the
//! host in f64 (nalgebra).
//!
//! - [`operator`]: the [`LinearOperator`] trait (a dimension and a matvec) and its
//!   implementations: dense, rank-one Gauss–Newton, finite-difference Hessian-vector
//!   products, linear combinations.
//! - [`solvers`]: power iteration, Lanczos (top-k / bottom-k), Hutchinson trace, stochastic
//!   Lanczos quadrature; generic over [`LinearOperator`], each returning value(s), iterations,
//!   residual and a converged flag.
//! - [`gram`]: spectra of H and H_α from the n×n Gram matrix G Gᵀ (rank-one shortcut).
//! - [`coherence`](mod@coherence): σ, σ_R, σ_F, σ_RF and the pair coherence σ_U (`docs/science.md#coherence`).
//! - [`samples`]: per-sample gradients and curvature weights of any `frontier_model::Model`,
//!   with G Gᵀ computed on the model's Burn device.
//! - [`report`]: the full coherence report of a model at w* (what `frontier coherence` prints).
//! - [`generic`]: the same report for any model whose per-sample Hessians are not rank one:
//!   finite-difference per-sample Hessians (dense, small p) or Hutchinson estimates of
//!   tr(H_i H_j) with standard errors; [`model_coherence_report`] picks the path a model
//!   calls for (`Model::rank_one_hessians`).
//!
//! Samples are always ordered retain first: `0..n_retain` is the retain set R.

pub mod coherence;
pub mod error;
pub mod generic;
pub mod gram;
pub mod operator;
pub mod pair;
pub mod report;
pub mod samples;
pub mod solvers;
pub mod weights;

pub use coherence::{
    Coherence, CurvatureGram, PAIR_LIMIT, PairSpectra, coherence, pair_coherence, try_coherence,
};
pub use error::{Error, Result};
pub use generic::{
    CoherenceStdError, CurvatureMethod, GenericCoherenceReport, GenericOptions, HutchinsonGram,
    generic_coherence_report, hutchinson_gram, model_coherence_report, per_sample_hessians,
};
pub use gram::{GramSpectrum, gram_spectrum, h_alpha_spectrum, h_spectrum};
pub use operator::{
    DenseOperator, FiniteDifferenceHvp, LinearCombination, LinearOperator, RankOneOperator,
};
pub use pair::PairOperator;
pub use report::{CoherenceReport, coherence_report};
pub use samples::{SampleCurvature, retain_first};

#[cfg(test)]
mod cnn_tests;
