//! The `Model` trait: everything the probes and the unlearning trainer need from a model.
//!
//! A model is a score function f(w, x) of a flat parameter vector w ∈ R^p and an input
//! x ∈ R^{P×d}; a binary label y ∈ {−1, +1} is predicted by the sign of f. Implement
//! [`Model::param_count`], [`Model::params`], [`Model::set_params`] and [`Model::scores_at`];
//! the per-sample gradients and the loss gradient then come from Burn autodiff. Override
//! [`Model::score_grads`] and [`Model::loss_grad`] where a closed form is faster, and
//! [`Model::rank_one_hessians`] when the model is piecewise linear in its parameters.

use burn::tensor::Tensor;

use crate::loss::Loss;

/// A binary classifier with a score f(w, x) that probes and trainers can differentiate.
pub trait Model: Clone {
    /// A short name, e.g. "cnn".
    fn name(&self) -> &'static str;

    /// Number of trainable parameters p.
    fn param_count(&self) -> usize;

    /// Whether every per-sample Hessian of the loss is exactly rank one,
    /// H_i = ℓ''_i ∇f_i ∇f_iᵀ (true when ∇²_w f = 0 almost everywhere, e.g. a network that is
    /// piecewise linear in its parameters). The probes and the predicted boundaries then use the
    /// rank-one shortcut; otherwise they build the Hessians by finite differences. Default:
    /// false (the safe answer: claiming rank one for a curved model gives wrong predictions).
    fn rank_one_hessians(&self) -> bool {
        false
    }

    /// The parameters as one flat vector, [p].
    fn params(&self) -> Tensor<1>;

    /// Replaces the parameters by a flat vector w, [p] (in the order of [`Model::params`]).
    fn set_params(&mut self, w: Tensor<1>);

    /// Scores f(w, x_i) at the given parameters w [p] for inputs x [n, P, d] → [n].
    /// Must be differentiable in `w` (it is what the autodiff defaults differentiate).
    fn scores_at(&self, w: Tensor<1>, x: Tensor<3>) -> Tensor<1>;

    /// Scores at the model's own parameters, x [n, P, d] → [n].
    fn scores(&self, x: Tensor<3>) -> Tensor<1> {
        self.scores_at(self.params(), x)
    }

    /// Per-sample gradients of the score ∇_w f(x_i), x [n, P, d] → [n, p].
    /// Default: one autodiff backward per sample (the slow, always-correct fallback).
    fn score_grads(&self, x: Tensor<3>) -> Tensor<2> {
        autodiff_score_grads(self, x)
    }

    /// Gradient of the weighted loss Σ_i ω_i ℓ(f(w, x_i), y_i) in w, [p]; x [n, P, d], y and
    /// ω [n]. Negative weights give ascent. Default: one autodiff backward.
    fn loss_grad(&self, loss: Loss, x: Tensor<3>, y: Tensor<1>, weights: Tensor<1>) -> Tensor<1> {
        let w = self.params().detach().autodiff().require_grad();
        let f = self.scores_at(w.clone(), x);
        let total = (loss.values(f, y) * weights).sum();
        let grads = total.backward();
        w.grad(&grads).expect("the parameters require a gradient")
    }
}

/// Per-sample score gradients by one autodiff backward per sample, x [n, P, d] → [n, p].
pub fn autodiff_score_grads<M: Model>(model: &M, x: Tensor<3>) -> Tensor<2> {
    let n = x.dims()[0];
    let rows = (0..n)
        .map(|i| {
            let w = model.params().detach().autodiff().require_grad();
            let f = model.scores_at(w.clone(), x.clone().narrow(0, i, 1)).sum();
            let grads = f.backward();
            w.grad(&grads).expect("the parameters require a gradient")
        })
        .collect();
    Tensor::stack(rows, 0)
}
