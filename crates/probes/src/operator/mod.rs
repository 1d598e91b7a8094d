//! Curvature objects as symmetric linear operators on ℝ^p (f64).
//!
//! Every curvature object — a dense matrix, the rank-one Gauss–Newton sum, finite-difference
//! Hessian-vector products, linear combinations of these — implements [`LinearOperator`], and
//! every solver in [`crate::solvers`] is generic over it (the curvlinops design).

mod combination;
mod dense;
mod finite_difference;
mod rank_one;

pub use combination::LinearCombination;
pub use dense::DenseOperator;
pub use finite_difference::FiniteDifferenceHvp;
pub use rank_one::RankOneOperator;

use nalgebra::DMatrix;

/// A symmetric linear operator A: ℝ^p → ℝ^p, known only through its action on vectors.
///
/// Implementations must be symmetric (`uᵀ(Av) = vᵀ(Au)`); the solvers rely on it.
pub trait LinearOperator {
    /// The dimension p (the operator is p×p).
    fn dim(&self) -> usize;

    /// `out = A v`, with `v.len() == out.len() == self.dim()` (callers guarantee the lengths;
    /// implementations may panic otherwise). `out` is overwritten, not accumulated into.
    fn matvec(&self, v: &[f64], out: &mut [f64]);

    /// The p×p matrix of the operator, built column by column from `p` matvecs with the unit
    /// vectors and then symmetrised ((A + Aᵀ)/2, which removes round-off asymmetry).
    /// Costs p matvecs and p² memory: for small p and for tests.
    fn to_dense(&self) -> DMatrix<f64> {
        let p = self.dim();
        let mut m = DMatrix::zeros(p, p);
        let mut e = vec![0.0; p];
        for j in 0..p {
            e[j] = 1.0;
            self.matvec(&e, m.column_mut(j).as_mut_slice());
            e[j] = 0.0;
        }
        let mt = m.transpose();
        (m + mt) * 0.5
    }
}

impl<T: LinearOperator + ?Sized> LinearOperator for &T {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn matvec(&self, v: &[f64], out: &mut [f64]) {
        (**self).matvec(v, out)
    }
}

impl<T: LinearOperator + ?Sized> LinearOperator for Box<T> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn matvec(&self, v: &[f64], out: &mut [f64]) {
        (**self).matvec(v, out)
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use nalgebra::DMatrix;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A random matrix with entries uniform in [−1, 1].
    pub fn random_matrix(rows: usize, cols: usize, seed: u64) -> DMatrix<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        DMatrix::from_fn(rows, cols, |_, _| rng.random_range(-1.0..1.0))
    }

    /// A random symmetric matrix Q diag(eigs) Qᵀ with Q a random orthogonal matrix.
    pub fn planted_symmetric(eigs: &[f64], seed: u64) -> DMatrix<f64> {
        let n = eigs.len();
        let q = random_matrix(n, n, seed).qr().q();
        let d = DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(eigs));
        let a = &q * d * q.transpose();
        (&a + a.transpose()) * 0.5
    }

    /// Relative difference |a − b| / max(|b|, floor).
    pub fn rel(a: f64, b: f64, floor: f64) -> f64 {
        (a - b).abs() / b.abs().max(floor)
    }
}
