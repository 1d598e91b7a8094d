//! Hessian-vector products by central differences of a gradient.

use super::LinearOperator;
use crate::error::{Error, Result, check_finite};

/// Default relative step ε of [`FiniteDifferenceHvp`].
pub const DEFAULT_RELATIVE_STEP: f64 = 1e-5;

/// Hv ≈ (∇f(w + h v) − ∇f(w − h v)) / (2h), the Hessian of a scalar function f at the point w,
/// for any model whose gradient is available as a closure `grad: ℝ^p → ℝ^p` (in f64).
///
/// Step: h = ε · max(1, ‖w‖₂) / ‖v‖₂, so the perturbation h·v has length ε·max(1, ‖w‖) —
/// a relative step of ε in parameter space whatever the scale of v. The default ε = 1e-5
/// balances the O(h²) truncation error of central differences against the O(u/h) round-off
/// (u ≈ 1.1e-16); on smooth functions the relative error is ~1e-10. A zero v gives a zero
/// product. Each matvec calls `grad` twice. The result is symmetric only up to the
/// finite-difference error (about ε²·‖∇³f‖), which the solvers tolerate.
#[derive(Debug, Clone)]
pub struct FiniteDifferenceHvp<F> {
    grad: F,
    w: Vec<f64>,
    step: f64,
    w_scale: f64,
}

impl<F: Fn(&[f64]) -> Vec<f64>> FiniteDifferenceHvp<F> {
    /// The Hessian at `w` of the function whose gradient is `grad`, with ε = 1e-5.
    /// `w` must be finite and non-empty.
    pub fn new(grad: F, w: Vec<f64>) -> Result<Self> {
        Self::with_relative_step(grad, w, DEFAULT_RELATIVE_STEP)
    }

    /// As [`new`](Self::new) with relative step ε (finite, > 0).
    pub fn with_relative_step(grad: F, w: Vec<f64>, eps: f64) -> Result<Self> {
        check_finite("finite-difference point w", &w)?;
        if w.is_empty() {
            return Err(Error::Argument {
                name: "w",
                value: "[]".into(),
                expected: "a non-empty parameter vector",
            });
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::Argument {
                name: "relative step",
                value: eps.to_string(),
                expected: "a finite number > 0",
            });
        }
        let w_scale = w.iter().map(|x| x * x).sum::<f64>().sqrt().max(1.0);
        Ok(Self {
            grad,
            w,
            step: eps,
            w_scale,
        })
    }

    /// The point w at which the Hessian is taken.
    pub fn point(&self) -> &[f64] {
        &self.w
    }
}

impl<F: Fn(&[f64]) -> Vec<f64>> LinearOperator for FiniteDifferenceHvp<F> {
    fn dim(&self) -> usize {
        self.w.len()
    }

    /// # Panics
    /// If `grad` returns a vector whose length is not p.
    fn matvec(&self, v: &[f64], out: &mut [f64]) {
        let v_norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if v_norm == 0.0 {
            out.fill(0.0);
            return;
        }
        let h = self.step * self.w_scale / v_norm;
        let shifted = |sign: f64| -> Vec<f64> {
            self.w
                .iter()
                .zip(v)
                .map(|(w, v)| w + sign * h * v)
                .collect()
        };
        let plus = (self.grad)(&shifted(1.0));
        let minus = (self.grad)(&shifted(-1.0));
        assert_eq!(
            plus.len(),
            self.dim(),
            "gradient closure returned a wrong length"
        );
        assert_eq!(
            minus.len(),
            self.dim(),
            "gradient closure returned a wrong length"
        );
        for ((o, a), b) in out.iter_mut().zip(&plus).zip(&minus) {
            *o = (a - b) / (2.0 * h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::test_util::random_matrix;
    use nalgebra::{DMatrix, DVector};

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// f(w) = Σ_k log(1 + exp(a_k·w)): ∇f = Σ s_k a_k, ∇²f = Σ s_k(1−s_k) a_k a_kᵀ.
    #[test]
    fn matches_the_exact_hessian_of_a_softplus_sum() {
        let (m, p) = (12, 8);
        let a = random_matrix(m, p, 11);
        let w = DVector::from_column_slice(random_matrix(p, 1, 12).as_slice()) * 3.0;
        let grad = |x: &[f64]| -> Vec<f64> {
            let s = (&a * DVector::from_column_slice(x)).map(sigmoid);
            (a.transpose() * s).as_slice().to_vec()
        };
        let s = (&a * &w).map(sigmoid);
        let mut exact = DMatrix::zeros(p, p);
        for k in 0..m {
            let ak = a.row(k).transpose();
            exact += (&ak * ak.transpose()) * (s[k] * (1.0 - s[k]));
        }
        let op = FiniteDifferenceHvp::new(grad, w.as_slice().to_vec()).unwrap();
        for seed in 0..4 {
            let v = random_matrix(p, 1, 100 + seed) * 10f64.powi(seed as i32 - 2);
            let mut out = vec![0.0; p];
            op.matvec(v.as_slice(), &mut out);
            let reference = &exact * &v;
            let err = (DVector::from_vec(out.clone()) - &reference).norm() / reference.norm();
            assert!(
                err < 1e-6,
                "rust={out:?}, reference={:?}, relative error {err}",
                reference.as_slice()
            );
        }
        let mut zero = vec![1.0; p];
        op.matvec(&vec![0.0; p], &mut zero);
        assert!(zero.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn rejects_bad_arguments() {
        let g = |x: &[f64]| x.to_vec();
        assert!(FiniteDifferenceHvp::new(g, vec![]).is_err());
        assert!(FiniteDifferenceHvp::new(g, vec![f64::NAN]).is_err());
        assert!(FiniteDifferenceHvp::with_relative_step(g, vec![1.0], 0.0).is_err());
    }
}
