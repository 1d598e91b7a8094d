//! [`GaussNewton`]: any model seen through its Gauss–Newton curvature.
//!
//! A per-sample loss Hessian is H_i = ℓ''_i g_i g_iᵀ + ℓ'_i ∇²_w f_i (g_i = ∇_w f_i). The first
//! term, the Gauss–Newton part, is rank one; the second vanishes only for models that are
//! piecewise linear in their parameters (the CNN). Wrapping a model in [`GaussNewton`] keeps
//! its scores and gradients and declares its Hessians rank one, so the probes' Gram shortcut
//! and the unlearning grids' rank-one predictions (ρ(T), λ(H_α), σ's) run on the Gauss–Newton
//! curvature: cheap for any p, and an approximation whose error the exact (finite-difference)
//! path measures.

use burn::tensor::Tensor;

use crate::loss::Loss;
use crate::model::{Model, ParamBlock};

/// A model whose curvature is taken as its Gauss–Newton part (see the module docs).
#[derive(Debug, Clone)]
pub struct GaussNewton<M>(pub M);

impl<M: Model> Model for GaussNewton<M> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn param_count(&self) -> usize {
        self.0.param_count()
    }

    /// True: H_i is replaced by ℓ''_i g_i g_iᵀ.
    fn rank_one_hessians(&self) -> bool {
        true
    }

    fn param_blocks(&self) -> Vec<ParamBlock> {
        self.0.param_blocks()
    }

    fn params(&self) -> Tensor<1> {
        self.0.params()
    }

    fn set_params(&mut self, w: Tensor<1>) {
        self.0.set_params(w)
    }

    fn scores_at(&self, w: Tensor<1>, x: Tensor<3>) -> Tensor<1> {
        self.0.scores_at(w, x)
    }

    fn scores(&self, x: Tensor<3>) -> Tensor<1> {
        self.0.scores(x)
    }

    fn score_grads(&self, x: Tensor<3>) -> Tensor<2> {
        self.0.score_grads(x)
    }

    fn piece_grads(&self, w: Tensor<1>, x: Tensor<3>) -> (Tensor<1>, Tensor<2>) {
        self.0.piece_grads(w, x)
    }

    fn loss_grad(&self, loss: Loss, x: Tensor<3>, y: Tensor<1>, weights: Tensor<1>) -> Tensor<1> {
        self.0.loss_grad(loss, x, y, weights)
    }

    fn loss_grads_many(
        &self,
        loss: Loss,
        params: Tensor<2>,
        x: Tensor<4>,
        y: Tensor<2>,
        weights: Tensor<2>,
    ) -> Tensor<2> {
        self.0.loss_grads_many(loss, params, x, y, weights)
    }

    fn scores_many(&self, params: Tensor<2>, x: Tensor<3>) -> Tensor<2> {
        self.0.scores_many(params, x)
    }

    fn scores_each(&self, params: Tensor<2>, x: Tensor<4>) -> Tensor<2> {
        self.0.scores_each(params, x)
    }
}
