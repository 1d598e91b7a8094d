//! The coherence report of a model at w*: every number `frontier coherence` prints.

use burn::tensor::Tensor;
use frontier_model::{Loss, Model};
use serde::Serialize;

use crate::coherence::{CurvatureGram, try_coherence};
use crate::error::{Error, Result};
use crate::gram::{h_alpha_spectrum, h_spectrum};
use crate::samples::{SampleCurvature, retain_first};

/// Coherence and curvature at w*. H = (1/n) Σ_i H_i over all n samples; H_R and
/// H_F are the means over their sets; H_α = (1−α)H_R − αH_F, a p×p matrix, so 0 counts in its
/// extreme eigenvalues when it is rank-deficient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoherenceReport {
    /// Number of samples n.
    pub n: usize,
    /// Retain-set size n_r.
    pub n_retain: usize,
    /// Forget-set size n_f.
    pub n_forget: usize,
    /// The loss whose curvature is probed.
    pub loss: Loss,
    /// Mixing ratio α (weight of the forget term).
    pub alpha: f64,
    /// σ = λ_max(S) / max_i λ_max(H_i), all samples.
    pub sigma: f64,
    /// σ_R, within the retain set.
    pub sigma_r: f64,
    /// σ_F, within the forget set.
    pub sigma_f: f64,
    /// σ_RF, between retain and forget.
    pub sigma_rf: f64,
    /// σ_U, the pair coherence over (r, f) pairs with magnitudes a = 1−α, b = α; NaN (not
    /// computed) when n_r·n_f exceeds [`crate::PAIR_LIMIT`].
    pub sigma_u: f64,
    /// σ_U with signed b = −α, negative squared entries clamped to 0; NaN like `sigma_u`.
    pub sigma_u_signed: f64,
    /// λ_max(H).
    pub lambda_max_h: f64,
    /// tr(H).
    pub trace_h: f64,
    /// λ_min(H_α) of the p×p matrix.
    pub lambda_min_h_alpha: f64,
    /// λ_max(H_α) of the p×p matrix.
    pub lambda_max_h_alpha: f64,
    /// ‖(1/n) Σ_i ∇_w ℓ_i(w*)‖₂ over all n samples.
    pub residual_grad_norm: f64,
}

/// (n_r, n_f) of a forget mask; errors unless both sets are non-empty.
pub(crate) fn split_sizes(forget: &[bool]) -> Result<(usize, usize)> {
    let n_forget = forget.iter().filter(|&&f| f).count();
    let n = forget.len();
    if n_forget == 0 || n_forget == n {
        return Err(Error::Argument {
            name: "forget",
            value: format!("{n_forget} of {n} samples"),
            expected: "at least one forget and one retain sample",
        });
    }
    Ok((n - n_forget, n_forget))
}

/// Probes `model` at its parameters on inputs x [n, P, d], labels y \[n\] and the forget mask
/// (length n, at least one forget and one retain sample), with the rank-one shortcut.
pub fn coherence_report<M: Model>(
    model: &M,
    loss: Loss,
    x: Tensor<3>,
    y: Tensor<1>,
    forget: &[bool],
    alpha: f64,
) -> Result<CoherenceReport> {
    let (n_retain, n_forget) = split_sizes(forget)?;
    let n = forget.len();
    let (x, y) = retain_first(x, y, forget);
    let curvature = SampleCurvature::new(model, loss, x, y);
    let p = curvature.params;
    let gram = CurvatureGram::from_gram(&curvature.gram, &curvature.c, n_retain)?;
    let sigmas = try_coherence(&gram, alpha)?;
    let h = h_spectrum(&curvature.gram, &curvature.c, p)?;
    let h_alpha = h_alpha_spectrum(&curvature.gram, &curvature.c, n_retain, alpha, p)?;
    Ok(CoherenceReport {
        n,
        n_retain,
        n_forget,
        loss,
        alpha,
        sigma: sigmas.sigma,
        sigma_r: sigmas.sigma_r,
        sigma_f: sigmas.sigma_f,
        sigma_rf: sigmas.sigma_rf,
        sigma_u: sigmas.sigma_u,
        sigma_u_signed: sigmas.sigma_u_signed,
        lambda_max_h: h.lambda_max(),
        trace_h: h.trace(),
        lambda_min_h_alpha: h_alpha.lambda_min(),
        lambda_max_h_alpha: h_alpha.lambda_max(),
        residual_grad_norm: curvature.residual_grad_norm(),
    })
}
