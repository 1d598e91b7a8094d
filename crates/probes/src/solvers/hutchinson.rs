//! Hutchinson's stochastic trace estimator.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{dot, rademacher};
use crate::operator::LinearOperator;

/// Options of [`hutchinson`].
#[derive(Debug, Clone, PartialEq)]
pub struct HutchinsonOptions {
    /// At most this many probes (matvecs); at least 2 are always used.
    pub max_probes: usize,
    /// Stop early once the standard error ≤ `rel_tol` · |estimate| (checked from 10 probes
    /// on). 0 never stops early.
    pub rel_tol: f64,
    /// Seed of the probes.
    pub seed: u64,
}

impl Default for HutchinsonOptions {
    /// 100 probes, rel_tol 0 (use them all), seed 0.
    fn default() -> Self {
        Self {
            max_probes: 100,
            rel_tol: 0.0,
            seed: 0,
        }
    }
}

/// A trace estimate from [`hutchinson`].
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEstimate {
    /// The mean of vᵀAv over the probes: an unbiased estimate of tr(A).
    pub value: f64,
    /// Its standard error: sample standard deviation / √probes.
    pub std_error: f64,
    /// Probes (matvecs) used.
    pub probes: usize,
    /// Whether `std_error ≤ rel_tol · |value|`.
    pub converged: bool,
}

/// tr(A) ≈ mean of vᵀAv over Rademacher probes v (entries ±1), with its standard error.
/// The variance of one probe is 2 Σ_{i≠j} A_ij², so diagonal operators give the exact trace.
pub fn hutchinson<A: LinearOperator + ?Sized>(
    op: &A,
    options: &HutchinsonOptions,
) -> TraceEstimate {
    let p = op.dim();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut out = vec![0.0; p];
    let (mut mean, mut m2) = (0.0, 0.0); // Welford's running mean and sum of squares
    let max_probes = options.max_probes.max(2);
    let mut estimate = TraceEstimate {
        value: 0.0,
        std_error: 0.0,
        probes: 0,
        converged: false,
    };
    for k in 1..=max_probes {
        let v = rademacher(p, &mut rng);
        op.matvec(&v, &mut out);
        let x = dot(&v, &out);
        let delta = x - mean;
        mean += delta / k as f64;
        m2 += delta * (x - mean);
        let std_error = if k > 1 {
            (m2 / (k - 1) as f64 / k as f64).sqrt()
        } else {
            f64::INFINITY
        };
        estimate = TraceEstimate {
            value: mean,
            std_error,
            probes: k,
            converged: std_error <= options.rel_tol * mean.abs(),
        };
        if estimate.converged && k >= 10 {
            break;
        }
    }
    estimate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::DenseOperator;
    use crate::operator::test_util::random_matrix;
    use nalgebra::DMatrix;

    #[test]
    fn within_three_standard_errors_of_the_exact_trace() {
        let x = random_matrix(50, 50, 51);
        let a = &x * x.transpose() + &x + x.transpose();
        let exact = a.trace();
        let r = hutchinson(
            &DenseOperator::new(a).unwrap(),
            &HutchinsonOptions::default(),
        );
        assert_eq!(r.probes, 100);
        assert!(
            (r.value - exact).abs() <= 3.0 * r.std_error,
            "rust={} ± {}, reference={exact}",
            r.value,
            r.std_error
        );
    }

    #[test]
    fn diagonal_operator_is_exact_and_stops_early() {
        let d = DMatrix::from_diagonal(&nalgebra::DVector::from_fn(30, |i, _| i as f64));
        let r = hutchinson(
            &DenseOperator::new(d).unwrap(),
            &HutchinsonOptions {
                rel_tol: 1e-3,
                ..Default::default()
            },
        );
        assert!(r.converged && r.probes == 10, "{r:?}");
        assert!(
            (r.value - 435.0).abs() < 1e-10,
            "rust={}, reference=435",
            r.value
        );
    }
}
