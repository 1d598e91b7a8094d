//! Power iteration.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{dot, norm, random_unit_vector, residual_norm};
use crate::operator::LinearOperator;

/// Options of [`power_iteration`].
#[derive(Debug, Clone, PartialEq)]
pub struct PowerOptions {
    /// At most this many matvecs.
    pub max_iter: usize,
    /// Converged when ‖Av − θv‖ ≤ `tol` · |θ|.
    pub tol: f64,
    /// Seed of the random start vector.
    pub seed: u64,
}

impl Default for PowerOptions {
    /// 1000 iterations, tol 1e-10, seed 0.
    fn default() -> Self {
        Self {
            max_iter: 1000,
            tol: 1e-10,
            seed: 0,
        }
    }
}

/// The result of [`power_iteration`].
#[derive(Debug, Clone, PartialEq)]
pub struct PowerResult {
    /// The Rayleigh quotient θ = vᵀAv: the eigenvalue of largest modulus, with its sign.
    pub value: f64,
    /// The unit eigenvector estimate v (length p).
    pub vector: Vec<f64>,
    /// Matvecs spent.
    pub iterations: usize,
    /// ‖Av − θv‖₂ at the returned v.
    pub residual: f64,
    /// Whether `residual ≤ tol · |value|` (or Av = 0 exactly).
    pub converged: bool,
}

/// The eigenvalue of largest modulus of a symmetric operator by power iteration.
/// Converges at the rate |λ₂/λ₁| per step; it does not converge when λ and −λ are both
/// extreme (the flag then stays false). Use [`super::lanczos`] when the gap is small.
pub fn power_iteration<A: LinearOperator + ?Sized>(op: &A, options: &PowerOptions) -> PowerResult {
    let p = op.dim();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut v = random_unit_vector(p, &mut rng);
    let mut w = vec![0.0; p];
    let mut result = PowerResult {
        value: 0.0,
        vector: v.clone(),
        iterations: 0,
        residual: 0.0,
        converged: p == 0,
    };
    for it in 1..=options.max_iter {
        op.matvec(&v, &mut w);
        let theta = dot(&v, &w);
        let residual = residual_norm(&w, theta, &v);
        let w_norm = norm(&w);
        result = PowerResult {
            value: theta,
            vector: v.clone(),
            iterations: it,
            residual,
            converged: residual <= options.tol * theta.abs() || w_norm == 0.0,
        };
        if result.converged {
            break;
        }
        v.iter_mut().zip(&w).for_each(|(x, y)| *x = y / w_norm);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::DenseOperator;
    use crate::operator::test_util::{planted_symmetric, random_matrix, rel};
    use crate::solvers::reference::sorted_eigenvalues;

    #[test]
    fn matches_dense_eigendecomposition() {
        // PSD (Wishart plus a planted direction, so the gap is not tiny).
        let x = random_matrix(60, 60, 41);
        let u = random_matrix(60, 1, 42);
        let psd = &x * x.transpose() / 60.0 + &u * u.transpose();
        // Indefinite with the most negative eigenvalue dominant.
        let eigs: Vec<f64> = (0..60).map(|i| 3.0 - 0.1 * i as f64 - 0.0).collect();
        let mut eigs_neg = eigs.clone();
        eigs_neg[59] = -6.0;
        let indefinite = planted_symmetric(&eigs_neg, 43);
        for (m, label) in [(psd, "PSD"), (indefinite, "indefinite")] {
            let reference = sorted_eigenvalues(&m);
            let want = if reference[0].abs() > reference[59].abs() {
                reference[0]
            } else {
                reference[59]
            };
            let r = power_iteration(&DenseOperator::new(m).unwrap(), &PowerOptions::default());
            assert!(r.converged, "{label}: residual {}", r.residual);
            assert!(
                rel(r.value, want, 1e-300) < 1e-8,
                "{label}: rust={}, reference={want}",
                r.value
            );
        }
    }

    #[test]
    fn small_budget_is_not_converged() {
        let eigs: Vec<f64> = (0..40).map(|i| 1.0 - 0.01 * i as f64).collect();
        let op = DenseOperator::new(planted_symmetric(&eigs, 44)).unwrap();
        let r = power_iteration(
            &op,
            &PowerOptions {
                max_iter: 5,
                ..Default::default()
            },
        );
        assert!(!r.converged && r.iterations == 5, "residual {}", r.residual);
    }
}
