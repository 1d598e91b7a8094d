//! `frontier-stability`: the linear-stability engine for gradient-based
//! unlearning (`docs/science.md`).
//!
//! Given per-sample Hessians of a retain set and (optionally) a forget set, it
//! decides four ways whether the linearised unlearning step
//! u ← u − η[(1−α)·mean_{B_r} H_i u − α·mean_{B_f} H_j u]
//! escapes the pre-trained minimum (diverges = unlearning succeeds):
//!
//! - [`mean_square`]: exact mean-square criterion ρ(T) > 1, and tr T^k(I);
//! - [`first_moment`]: λ_min(H_α) < 0 or λ_max(H_α) > 2/η;
//! - [`bounds`]: the coherence bounds (SGD and pair forms, via `frontier-probes`);
//! - [`lyapunov`]: almost-sure criterion γ_∞ > 0 (asymptotic exponent, three-valued verdict)
//!   and the finite-horizon growth within K steps, from simulated runs;
//!
//! plus the finite-budget [`escape`] time, the one [`verdict`] engine that decides every
//! criterion with one set of thresholds, the [`score`]s of a predicted frontier (balanced
//! accuracy, base rate, boundary distance), the [`simulate`]d dynamics, the [`synthetic`]
//! Hessian families of the "Hessian test", grids of cells with their boundaries and scores in
//! [`sweep`], and a one-call [`report::analyze`].
//!
//! Flow: validated [`Family`] inputs → [`Curvature`] (projection onto the span
//! of the curvature, built once) → [`Problem`] (curvature + validated
//! [`Settings`]) → criteria.
//!
//! ```
//! use frontier_stability::{Curvature, Problem, Settings, synthetic, mean_square};
//! let retain = synthetic::coherence_dial(100, 10)?; // σ = 10, λ_max(H) = 2
//! let curvature = Curvature::new(&retain, None)?;
//! let problem = Problem::new(&curvature, Settings::new(0.5, 0.0, 10))?;
//! let rho = mean_square::rho(&problem, &Default::default());
//! assert!(rho.value < 1.0); // SGD with B = 10 diverges only for σ ≤ 8
//! # Ok::<(), frontier_stability::Error>(())
//! ```

pub mod bounds;
pub mod curvature;
pub mod error;
pub mod escape;
pub mod family;
pub mod first_moment;
pub mod lyapunov;
pub mod mean_square;
pub mod problem;
pub mod report;
pub mod sampler;
pub mod score;
pub mod simulate;
pub mod sweep;
pub mod synthetic;
pub mod verdict;

pub use curvature::Curvature;
pub use error::{Error, Result};
pub use family::Family;
pub use problem::{Problem, Sampling, Settings};
pub use report::{Report, analyze};
pub use simulate::{InitialState, SimOptions};
pub use verdict::{Rule, Thresholds, Verdict, Verdicts};
