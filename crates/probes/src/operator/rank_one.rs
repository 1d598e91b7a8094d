//! The rank-one Gauss–Newton operator Σ_i w_i c_i g_i g_iᵀ.

use nalgebra::{DMatrix, DVector, DVectorView, DVectorViewMut};

use super::LinearOperator;
use crate::error::{Result, check_finite, check_len};
use crate::weights::{forget_weights, full_weights, mixed_weights, retain_weights};

/// H = Σ_i w_i c_i g_i g_iᵀ = Gᵀ diag(w ∘ c) G, from the per-sample gradients G (n×p, row
/// i = g_i = ∇_w f(x_i)), the curvature factors c_i = ℓ''_i and per-sample weights w_i.
///
/// Exact for models that are piecewise linear in their parameters (`docs/science.md#coherence`, rank-one
/// shortcut). A matvec costs two passes over G (4np flops). The weights decide the object:
/// see [`crate::weights`] and the constructors [`full`](Self::full),
/// [`retain`](Self::retain), [`forget`](Self::forget), [`mixed`](Self::mixed).
#[derive(Debug, Clone)]
pub struct RankOneOperator<'a> {
    g: &'a DMatrix<f64>,
    /// d_i = w_i c_i, length n.
    coef: DVector<f64>,
}

impl<'a> RankOneOperator<'a> {
    /// Σ_i w_i c_i g_i g_iᵀ with arbitrary (possibly negative) weights.
    /// `g` is n×p; `c` and `weights` have length n and must be finite.
    pub fn new(g: &'a DMatrix<f64>, c: &[f64], weights: &[f64]) -> Result<Self> {
        let n = g.nrows();
        check_len("rank-one operator: length of c", n, c.len())?;
        check_len("rank-one operator: length of weights", n, weights.len())?;
        check_finite("rank-one operator: c", c)?;
        check_finite("rank-one operator: weights", weights)?;
        let coef = DVector::from_iterator(n, c.iter().zip(weights).map(|(c, w)| c * w));
        Ok(Self { g, coef })
    }

    /// H = (1/n) Σ_i c_i g_i g_iᵀ over all n samples.
    pub fn full(g: &'a DMatrix<f64>, c: &[f64]) -> Result<Self> {
        Self::new(g, c, &full_weights(g.nrows()))
    }

    /// H_R, the mean over the first `n_retain` samples.
    pub fn retain(g: &'a DMatrix<f64>, c: &[f64], n_retain: usize) -> Result<Self> {
        Self::new(g, c, &retain_weights(g.nrows(), n_retain)?)
    }

    /// H_F, the mean over the samples after the first `n_retain`.
    pub fn forget(g: &'a DMatrix<f64>, c: &[f64], n_retain: usize) -> Result<Self> {
        Self::new(g, c, &forget_weights(g.nrows(), n_retain)?)
    }

    /// H_α = (1−α)H_R − αH_F (indefinite in general).
    pub fn mixed(g: &'a DMatrix<f64>, c: &[f64], n_retain: usize, alpha: f64) -> Result<Self> {
        Self::new(g, c, &mixed_weights(g.nrows(), n_retain, alpha)?)
    }

    /// The products d_i = w_i c_i (length n).
    pub fn coefficients(&self) -> &[f64] {
        self.coef.as_slice()
    }
}

impl LinearOperator for RankOneOperator<'_> {
    fn dim(&self) -> usize {
        self.g.ncols()
    }

    fn matvec(&self, v: &[f64], out: &mut [f64]) {
        let p = self.dim();
        let v = DVectorView::from_slice(v, p);
        let mut t = self.g * v; // G v, length n
        t.component_mul_assign(&self.coef);
        let mut out = DVectorViewMut::from_slice(out, p);
        out.gemv_tr(1.0, self.g, &t, 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::test_util::random_matrix;

    fn dense_reference(g: &DMatrix<f64>, c: &[f64], w: &[f64]) -> DMatrix<f64> {
        let p = g.ncols();
        let mut h = DMatrix::zeros(p, p);
        for i in 0..g.nrows() {
            let gi = g.row(i).transpose();
            h += (&gi * gi.transpose()) * (c[i] * w[i]);
        }
        h
    }

    #[test]
    fn every_constructor_matches_the_dense_sum() {
        let (n, p, n_r, alpha) = (6, 9, 4, 0.3);
        let g = random_matrix(n, p, 3);
        let c: Vec<f64> = (0..n).map(|i| 0.1 + 0.2 * i as f64).collect();
        let cases = [
            (RankOneOperator::full(&g, &c).unwrap(), full_weights(n)),
            (
                RankOneOperator::retain(&g, &c, n_r).unwrap(),
                retain_weights(n, n_r).unwrap(),
            ),
            (
                RankOneOperator::forget(&g, &c, n_r).unwrap(),
                forget_weights(n, n_r).unwrap(),
            ),
            (
                RankOneOperator::mixed(&g, &c, n_r, alpha).unwrap(),
                mixed_weights(n, n_r, alpha).unwrap(),
            ),
        ];
        for (op, w) in cases {
            let reference = dense_reference(&g, &c, &w);
            let rust = op.to_dense();
            let err = (&rust - &reference).norm() / reference.norm();
            assert!(
                err < 1e-13,
                "rust={rust}, reference={reference}, relative error {err}"
            );
        }
    }

    #[test]
    fn rejects_bad_lengths() {
        let g = random_matrix(3, 2, 0);
        assert!(RankOneOperator::full(&g, &[1.0, 1.0]).is_err());
        assert!(RankOneOperator::mixed(&g, &[1.0; 3], 4, 0.5).is_err());
        assert!(RankOneOperator::new(&g, &[1.0; 3], &[f64::NAN; 3]).is_err());
    }
}
