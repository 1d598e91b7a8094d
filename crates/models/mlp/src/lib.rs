//! `frontier-mlp`: a two-layer MLP f(x) = v·act(W x + b) with a smooth activation (softplus
//! or tanh) and a trainable second layer, on the signal-plus-noise data of `frontier-model`
//! (inputs [n, P, d] flattened to P·d).
//!
//! It is the second model of frontier and the worked example of "add a model": it implements
//! [`frontier_model::Model`] and nothing else. Its per-sample Hessians
//! H_i = ℓ''_i g_i g_iᵀ + ℓ'_i ∇²f_i are not rank one (∇²f ≠ 0: the activation is curved
//! and v multiplies W), so the probes take their generic, finite-difference path.

pub mod activation;
pub mod config;
pub mod error;
pub mod mlp;

pub use activation::Activation;
pub use config::MlpConfig;
pub use error::{MlpError, Result};
pub use mlp::Mlp;
