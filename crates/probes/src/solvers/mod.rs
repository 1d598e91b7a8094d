//! Eigen, trace and spectral-density solvers, generic over [`LinearOperator`].
//!
//! Every solver returns a struct with the value(s), the number of iterations (matvecs or
//! probes), a residual and a `converged` flag — never a bare number — and is deterministic:
//! random start vectors and probes come from a `ChaCha8Rng` seeded by the options' `seed`.
//!
//! | solver                   | computes                                 | cost            |
//! |--------------------------|------------------------------------------|-----------------|
//! | [`power_iteration`]      | the eigenvalue of largest modulus        | 1 matvec / iter |
//! | [`lanczos`]              | top-k and bottom-k eigenvalues           | 1 matvec / iter + O(p·iter) reorthogonalisation |
//! | [`lanczos_from`]         | the same from a chosen start vector      | as `lanczos`    |
//! | [`dense_eigen`]          | the same, exactly, by materialising A    | p matvecs + O(p³) |
//! | [`extreme_eigenvalues`]  | `dense_eigen` for p ≤ [`DENSE_LIMIT`], else `lanczos` | |
//! | [`hutchinson`]           | tr(A) with its standard error            | 1 matvec / probe |
//! | [`slq`]                  | spectral density (nodes and weights)     | steps matvecs / probe |

mod dense;
mod hutchinson;
mod lanczos;
mod power;
mod slq;

pub use dense::{DENSE_LIMIT, dense_eigen, extreme_eigenvalues};
pub use hutchinson::{HutchinsonOptions, TraceEstimate, hutchinson};
pub use lanczos::{LanczosOptions, lanczos, lanczos_from};
pub use power::{PowerOptions, PowerResult, power_iteration};
pub use slq::{SlqOptions, SpectralDensity, slq};

#[cfg(doc)]
use crate::operator::LinearOperator;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Extreme eigenvalues of a symmetric operator, from [`lanczos`] or [`dense_eigen`].
#[derive(Debug, Clone, PartialEq)]
pub struct EigenResult {
    /// The largest eigenvalues, descending (at most the requested number, and at most p).
    pub top: Vec<f64>,
    /// The smallest eigenvalues, ascending (so `bottom[0]` is the most negative one).
    pub bottom: Vec<f64>,
    /// Matvecs spent (Lanczos steps; p for the dense path), not counting the final residual
    /// check.
    pub iterations: usize,
    /// max ‖A v − θ v‖₂ over the returned Ritz pairs (θ, v), ‖v‖₂ = 1, computed with true
    /// matvecs (not the Lanczos estimate).
    pub residual: f64,
    /// Whether `residual ≤ tol · max|θ|` (always true for the dense path).
    pub converged: bool,
}

/// A vector with entries uniform in [−1, 1], normalised to unit length.
pub(crate) fn random_unit_vector(p: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut v: Vec<f64> = (0..p).map(|_| rng.random_range(-1.0..1.0)).collect();
    let norm = norm(&v);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// A Rademacher vector (entries ±1 with probability ½ each).
pub(crate) fn rademacher(p: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..p)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect()
}

/// Σ_i a_i b_i over equal-length slices, in eight interleaved partial sums so that the loop
/// vectorises (a fixed order, so the result is still deterministic).
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0; 8];
    for (x, y) in a8.zip(b8) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

pub(crate) fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// ‖a − θ b‖₂.
pub(crate) fn residual_norm(a: &[f64], theta: f64, b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - theta * y).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
pub(crate) mod reference {
    use nalgebra::{DMatrix, SymmetricEigen};

    /// All eigenvalues of a symmetric matrix, ascending (nalgebra's dense solver).
    pub fn sorted_eigenvalues(m: &DMatrix<f64>) -> Vec<f64> {
        let mut e: Vec<f64> = SymmetricEigen::new(m.clone())
            .eigenvalues
            .iter()
            .copied()
            .collect();
        e.sort_by(f64::total_cmp);
        e
    }
}
