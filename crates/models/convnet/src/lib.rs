//! `frontier-convnet`: a small convolutional network for images [C, H, W]:
//!
//! ```text
//! x ─ conv 3×3 (C → c₁) ─ ReLU ─ conv 3×3 (c₁ → c₂) ─ ReLU ─ linear read-out ─ f(x) ∈ R
//! ```
//!
//! with biases everywhere and zero padding `padding` (1: "same", 0: "valid"). Inputs travel
//! as [n, P, d] with P = C channels and d = H·W pixels (row-major), the image shape kept in
//! the config. It implements [`frontier_model::Model`] and [`frontier_model::ModelSpec`] like
//! every model of frontier.
//!
//! Its per-sample gradients come from **one batched backward pass**
//! ([`Convnet::score_grads`](frontier_model::Model::score_grads)): for each layer, the
//! back-propagated signal δ (∂f/∂ pre-activation, per sample and position) times the layer's
//! input, summed over positions for a convolution (an im2col matrix product per sample, all
//! samples in one batched matmul). Its per-sample Hessians
//! H_i = ℓ''_i g_i g_iᵀ + ℓ'_i ∇²f_i are **not** rank one (the layers multiply each other), so
//! `rank_one_hessians` is false: the probes take the exact, finite-difference path, and
//! [`frontier_model::GaussNewton`] gives the rank-one Gauss–Newton approximation beside it.

pub mod config;
pub mod convnet;

pub use config::ConvnetConfig;
pub use convnet::Convnet;
