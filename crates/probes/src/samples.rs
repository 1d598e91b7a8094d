//! Per-sample curvature of a [`Model`] at its current parameters w*: the Gram matrix of the
//! per-sample score gradients and the curvature weights c_i = ℓ''_i (the rank-one
//! Gauss–Newton shortcut H_i = c_i g_i g_iᵀ, exact for the ReLU CNN).
//!
//! The n×p work (per-sample gradients, G Gᵀ) runs on the model's Burn device; what comes back
//! to the host is n×n, in f64.

use burn::tensor::Tensor;
use frontier_model::{Loss, Model, index_tensor, to_f64};
use nalgebra::DMatrix;

/// Per-sample curvature data, samples in the order they were given.
#[derive(Debug, Clone)]
pub struct SampleCurvature {
    /// G Gᵀ, n×n: `gram[(i, j)]` = g_i·g_j with g_i = ∇_w f(x_i) at w*.
    pub gram: DMatrix<f64>,
    /// c_i = ∂²ℓ/∂f² at (f(x_i), y_i), length n.
    pub c: Vec<f64>,
    /// ℓ'_i = ∂ℓ/∂f at (f(x_i), y_i), length n; ∇_w ℓ_i = ℓ'_i g_i.
    pub d1: Vec<f64>,
    /// Number of parameters p.
    pub params: usize,
}

impl SampleCurvature {
    /// Computes G, c and ℓ' for inputs x [n, P, d] and labels y \[n\] at the model's parameters.
    pub fn new<M: Model>(model: &M, loss: Loss, x: Tensor<3>, y: Tensor<1>) -> Self {
        let n = y.dims()[0];
        let f = model.scores(x.clone());
        let g = model.score_grads(x);
        let gram = to_f64(g.clone().matmul(g.transpose()));
        Self {
            gram: DMatrix::from_row_slice(n, n, &gram),
            c: to_f64(loss.d2(f.clone(), y.clone())),
            d1: to_f64(loss.d1(f, y)),
            params: model.param_count(),
        }
    }

    /// Number of samples n.
    pub fn n(&self) -> usize {
        self.c.len()
    }

    /// ‖(1/n) Σ_i ∇_w ℓ_i‖₂ = sqrt(ℓ'ᵀ (G Gᵀ) ℓ') / n: how far w* is from a stationary point.
    pub fn residual_grad_norm(&self) -> f64 {
        let d1 = nalgebra::DVector::from_column_slice(&self.d1);
        (d1.dot(&(&self.gram * &d1))).max(0.0).sqrt() / self.n() as f64
    }
}

/// Reorders samples retain first: returns (x, y) with the rows of `forget == false` first, in
/// their original order, then the forget rows; x [n, P, d], y \[n\].
pub fn retain_first(x: Tensor<3>, y: Tensor<1>, forget: &[bool]) -> (Tensor<3>, Tensor<1>) {
    let order: Vec<i64> = (0..forget.len())
        .filter(|&i| !forget[i])
        .chain((0..forget.len()).filter(|&i| forget[i]))
        .map(|i| i as i64)
        .collect();
    let index = index_tensor(order, &y.device());
    (x.select(0, index.clone()), y.select(0, index))
}
