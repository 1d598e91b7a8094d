//! The `Model` trait: everything the probes and the unlearning trainer need from a model.
//!
//! A model is a score function f(w, x) of a flat parameter vector w ∈ R^p and an input
//! x ∈ R^{P×d}; a binary label y ∈ {−1, +1} is predicted by the sign of f. Implement
//! [`Model::param_count`], [`Model::params`], [`Model::set_params`] and [`Model::scores_at`];
//! the per-sample gradients and the loss gradient then come from Burn autodiff. Override
//! [`Model::score_grads`] and [`Model::loss_grad`] where a closed form is faster, and
//! [`Model::rank_one_hessians`] when the model is piecewise linear in its parameters.
//!
//! The batched methods [`Model::loss_grads_many`], [`Model::scores_many`] and
//! [`Model::scores_each`] advance many
//! runs of one architecture at once (a leading run dimension R, one parameter row each); their
//! defaults loop over the runs, so every model has them. Override them where a few batched
//! kernels can replace R small ones (on a GPU each launch costs about as much as a small
//! kernel).

use burn::tensor::Tensor;

use crate::loss::Loss;

/// One named block of a model's flat parameter vector (e.g. a layer's weight matrix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamBlock {
    /// Its name, e.g. "conv1.weight".
    pub name: String,
    /// Its shape; the block holds shape.iter().product() parameters.
    pub shape: Vec<usize>,
}

impl ParamBlock {
    /// A block named `name` of shape `shape`.
    pub fn new(name: &str, shape: Vec<usize>) -> Self {
        Self {
            name: name.to_string(),
            shape,
        }
    }

    /// Number of parameters in the block.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the block holds no parameter.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

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

    /// The named blocks of the flat parameter vector, in the order of [`Model::params`]
    /// (their sizes sum to p): what weights files store, one tensor per block. Default: one
    /// block `params` \[p\].
    fn param_blocks(&self) -> Vec<ParamBlock> {
        vec![ParamBlock::new("params", vec![self.param_count()])]
    }

    /// The parameters as one flat vector, \[p\].
    fn params(&self) -> Tensor<1>;

    /// Replaces the parameters by a flat vector w, \[p\] (in the order of [`Model::params`]).
    fn set_params(&mut self, w: Tensor<1>);

    /// Scores f(w, x_i) at the given parameters w \[p\] for inputs x [n, P, d] → \[n\].
    /// Must be differentiable in `w` (it is what the autodiff defaults differentiate).
    fn scores_at(&self, w: Tensor<1>, x: Tensor<3>) -> Tensor<1>;

    /// Scores at the model's own parameters, x [n, P, d] → \[n\].
    fn scores(&self, x: Tensor<3>) -> Tensor<1> {
        self.scores_at(self.params(), x)
    }

    /// Per-sample gradients of the score ∇_w f(x_i), x [n, P, d] → [n, p].
    /// Default: one autodiff backward per sample (the slow, always-correct fallback).
    fn score_grads(&self, x: Tensor<3>) -> Tensor<2> {
        autodiff_score_grads(self, x)
    }

    /// Scores \[n\] and per-sample score gradients [n, p] at parameters `w` \[p\] on the smooth
    /// piece of the model that its own parameters lie on, for x [n, P, d]. For a model that
    /// is piecewise polynomial in w (ReLU networks) this is the polynomial the model equals
    /// near its own parameters, with every ReLU gate 1{z > 0} held as it is there: central
    /// finite differences of these gradients then give the exact (almost-everywhere) Hessian,
    /// with no kink crossed by the perturbation (the generic curvature path uses them).
    /// Default: the scores and gradients at `w` (exact for models that are smooth in w).
    fn piece_grads(&self, w: Tensor<1>, x: Tensor<3>) -> (Tensor<1>, Tensor<2>) {
        let mut at = self.clone();
        at.set_params(w);
        (at.scores(x.clone()), at.score_grads(x))
    }

    /// Gradient of the weighted loss Σ_i ω_i ℓ(f(w, x_i), y_i) in w, \[p\]; x [n, P, d], y and
    /// ω \[n\]. Negative weights give ascent. Default: one autodiff backward.
    fn loss_grad(&self, loss: Loss, x: Tensor<3>, y: Tensor<1>, weights: Tensor<1>) -> Tensor<1> {
        let w = self.params().detach().autodiff().require_grad();
        let f = self.scores_at(w.clone(), x);
        let total = (loss.values(f, y) * weights).sum();
        let grads = total.backward();
        w.grad(&grads).expect("the parameters require a gradient")
    }

    /// Loss gradients of R runs at once: row r is ∇_w Σ_k ω_rk ℓ(f(w_r, x_rk), y_rk) at the
    /// parameters w_r = `params[r]`, [R, p]; x [R, k, P, d], y and ω [R, k] (a zero weight
    /// pads a run's batch; negative weights ascend) → [R, p]. Only the architecture of
    /// `self` is used, not its parameters. Default: [`looped_loss_grads_many`].
    fn loss_grads_many(
        &self,
        loss: Loss,
        params: Tensor<2>,
        x: Tensor<4>,
        y: Tensor<2>,
        weights: Tensor<2>,
    ) -> Tensor<2> {
        looped_loss_grads_many(self, loss, params, x, y, weights)
    }

    /// Scores of R runs on shared inputs: row r is f(w_r, x_i) at w_r = `params[r]`, [R, p],
    /// for x [n, P, d] → [R, n]. Only the architecture of `self` is used. Default:
    /// [`looped_scores_many`].
    fn scores_many(&self, params: Tensor<2>, x: Tensor<3>) -> Tensor<2> {
        looped_scores_many(self, params, x)
    }

    /// Scores of R runs, each on its own inputs: row r is f(w_r, x_rk) at w_r = `params[r]`,
    /// [R, p], for x [R, k, P, d] → [R, k]. Only the architecture of `self` is used. Default:
    /// [`looped_scores_each`].
    fn scores_each(&self, params: Tensor<2>, x: Tensor<4>) -> Tensor<2> {
        looped_scores_each(self, params, x)
    }
}

/// [`Model::loss_grads_many`] as a loop of [`Model::loss_grad`] over the runs (R small
/// kernels): params [R, p], x [R, k, P, d], y and ω [R, k] → [R, p].
pub fn looped_loss_grads_many<M: Model>(
    model: &M,
    loss: Loss,
    params: Tensor<2>,
    x: Tensor<4>,
    y: Tensor<2>,
    weights: Tensor<2>,
) -> Tensor<2> {
    let [runs, k, patches, d] = x.dims();
    let row = |t: &Tensor<2>, r: usize| {
        let len = t.dims()[1];
        t.clone().narrow(0, r, 1).reshape([len])
    };
    let rows = (0..runs)
        .map(|r| {
            let mut run = model.clone();
            run.set_params(row(&params, r));
            let x = x.clone().narrow(0, r, 1).reshape([k, patches, d]);
            run.loss_grad(loss, x, row(&y, r), row(&weights, r))
        })
        .collect();
    Tensor::stack(rows, 0)
}

/// [`Model::scores_many`] as a loop of [`Model::scores_at`] over the runs: params [R, p],
/// x [n, P, d] → [R, n].
pub fn looped_scores_many<M: Model>(model: &M, params: Tensor<2>, x: Tensor<3>) -> Tensor<2> {
    let [runs, p] = params.dims();
    let rows = (0..runs)
        .map(|r| model.scores_at(params.clone().narrow(0, r, 1).reshape([p]), x.clone()))
        .collect();
    Tensor::stack(rows, 0)
}

/// [`Model::scores_each`] as a loop of [`Model::scores_at`] over the runs: params [R, p],
/// x [R, k, P, d] → [R, k].
pub fn looped_scores_each<M: Model>(model: &M, params: Tensor<2>, x: Tensor<4>) -> Tensor<2> {
    let [runs, k, patches, d] = x.dims();
    let p = params.dims()[1];
    let rows = (0..runs)
        .map(|r| {
            model.scores_at(
                params.clone().narrow(0, r, 1).reshape([p]),
                x.clone().narrow(0, r, 1).reshape([k, patches, d]),
            )
        })
        .collect();
    Tensor::stack(rows, 0)
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
