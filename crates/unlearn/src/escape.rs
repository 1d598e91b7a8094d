//! The inputs of the finite-budget escape rule ([`frontier_stability::escape`]) measured on a
//! model at w*: the forget samples' margins, residuals, losses and score-gradient norms, and
//! how the retain and forget gradients line up (cos(∇L_R, ∇L_F) and α_drift).
//!
//! With λ_min(H_α) from the linearised problem ([`crate::predict::Prediction`]) and the
//! escape radius R = escape_factor·‖w*‖ of the runs, [`EscapeInputs::escape_time`] gives
//! T̂_esc = L/κ. The rule sees curvature only: where cos(∇L_R, ∇L_F) is large the retain
//! descent keeps raising the forget margins, and for α below α_drift the mean step lowers the
//! forget loss, which the zero-gradient linearisation cannot see.

use burn::tensor::Tensor;
use frontier_model::{DeviceData, Loss, Model, index_tensor, retain_forget_grads, to_f64};
use frontier_stability::escape::{EscapeTime, ForgetAtOptimum, MarginLoss, alpha_drift};
use serde::Serialize;

use crate::error::{Result, invalid};

/// What the escape rule needs from a model at w*. Per-sample vectors list the forget samples
/// in data order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EscapeInputs {
    /// The loss.
    pub loss: Loss,
    /// Margins y_j·f(x_j).
    pub margins: Vec<f64>,
    /// Residuals f(x_j) − y_j.
    pub residuals: Vec<f64>,
    /// Losses ℓ_j (nats).
    pub losses: Vec<f64>,
    /// Score-gradient norms ‖∇_w f(x_j)‖.
    pub grad_norms: Vec<f64>,
    /// ‖∇L_R‖ (L_R the mean retain loss).
    pub retain_grad_norm: f64,
    /// ‖∇L_F‖ (L_F the mean forget loss).
    pub forget_grad_norm: f64,
    /// cos(∇L_R, ∇L_F) (NaN when either gradient is 0).
    pub grad_cos: f64,
    /// ⟨∇L_F, ∇L_R⟩/(⟨∇L_F, ∇L_R⟩ + ‖∇L_F‖²) when positive, else 0: the mean unlearning step
    /// lowers the forget loss for α below it ([`alpha_drift`]).
    pub alpha_drift: f64,
}

/// The margin form of a training loss.
pub fn margin_loss(loss: Loss) -> MarginLoss {
    match loss {
        Loss::Logistic => MarginLoss::Logistic,
        Loss::Squared => MarginLoss::Squared,
    }
}

impl EscapeInputs {
    /// Measures `model` at its parameters on the training rows of `data` (split by its
    /// forget mask). Errors unless both the retain and the forget set are non-empty.
    pub fn measure<M: Model>(model: &M, loss: Loss, data: &DeviceData) -> Result<EscapeInputs> {
        let [Some(retain), Some(forget)] = retain_forget_grads(model, loss, data) else {
            return Err(invalid(
                "data.n_forget",
                "the escape rule needs at least one forget and one retain sample",
            ));
        };
        let rows: Vec<i64> = (0..data.forget.len())
            .filter(|&i| data.forget[i])
            .map(|i| i as i64)
            .collect();
        let index = index_tensor(rows, &data.y.device());
        let x = data.x.clone().select(0, index.clone());
        let y = data.y.clone().select(0, index);
        let f = model.scores(x.clone());
        let grad_norms = to_f64(model.score_grads(x).powi_scalar(2).sum_dim(1).sqrt());
        let (f_host, y_host) = (to_f64(f.clone()), to_f64(y.clone()));
        let dot = |a: &Tensor<1>, b: &Tensor<1>| to_f64((a.clone() * b.clone()).sum())[0];
        let (rr, ff, rf) = (
            dot(&retain, &retain),
            dot(&forget, &forget),
            dot(&retain, &forget),
        );
        Ok(EscapeInputs {
            loss,
            margins: f_host.iter().zip(&y_host).map(|(f, y)| f * y).collect(),
            residuals: f_host.iter().zip(&y_host).map(|(f, y)| f - y).collect(),
            losses: to_f64(loss.values(f, y)),
            grad_norms,
            retain_grad_norm: rr.sqrt(),
            forget_grad_norm: ff.sqrt(),
            grad_cos: rf / (rr * ff).sqrt(),
            alpha_drift: alpha_drift(rf, ff),
        })
    }

    /// The mean forget loss at w*.
    pub fn forget_loss(&self) -> f64 {
        self.losses.iter().sum::<f64>() / self.losses.len() as f64
    }

    /// ‖g_f‖: the root mean square of the forget score-gradient norms.
    pub fn forget_score_grad_rms(&self) -> f64 {
        let sq: f64 = self.grad_norms.iter().map(|g| g * g).sum();
        (sq / self.grad_norms.len() as f64).sqrt()
    }

    /// The rule's forget-set input for escape radius `radius` (escape_factor·‖w*‖).
    pub fn at_optimum(&self, radius: f64) -> ForgetAtOptimum {
        ForgetAtOptimum {
            loss: margin_loss(self.loss),
            forget_loss: self.forget_loss(),
            forget_grad_norm: self.forget_score_grad_rms(),
            n_forget: self.losses.len(),
            radius,
        }
    }

    /// T̂_esc = L/κ for unlearning rate η, λ_min(H_α) of the setting and escape radius
    /// `radius`. Errors name an invalid input (e.g. a radius ≤ 0).
    pub fn escape_time(&self, eta: f64, lambda_min: f64, radius: f64) -> Result<EscapeTime> {
        let shape = self.at_optimum(radius).shape()?;
        Ok(EscapeTime::new(eta, lambda_min, &shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::tests::{tiny, tiny_setup};
    use burn::tensor::Device;
    use frontier_model::{Precision, autodiff_score_grads};

    /// Every number against an independent computation: per-sample scores, autodiff score
    /// gradients, and ∇L_R, ∇L_F as (1/n_set)Σ ℓ'_i ∇f_i from them.
    #[test]
    fn inputs_match_per_sample_autodiff() {
        let setup = tiny_setup(0.3, Precision::F64);
        let (model, data) = (&setup.model, &setup.data);
        let got = EscapeInputs::measure(model, setup.loss, data).unwrap();
        let f = to_f64(model.scores(data.x.clone()));
        let y = to_f64(data.y.clone());
        let d1 = to_f64(setup.loss.d1(model.scores(data.x.clone()), data.y.clone()));
        let g = to_f64(autodiff_score_grads(model, data.x.clone()));
        let p = model.param_count();
        let mut sums = [vec![0.0; p], vec![0.0; p]];
        let mut counts = [0.0; 2];
        let mut k = 0;
        for i in 0..y.len() {
            let set = usize::from(data.forget[i]);
            counts[set] += 1.0;
            for (s, gi) in sums[set].iter_mut().zip(&g[i * p..(i + 1) * p]) {
                *s += d1[i] * gi;
            }
            if data.forget[i] {
                let norm = g[i * p..(i + 1) * p]
                    .iter()
                    .map(|x| x * x)
                    .sum::<f64>()
                    .sqrt();
                let loss = setup.loss.values(
                    model.scores(data.x.clone()).narrow(0, i, 1),
                    data.y.clone().narrow(0, i, 1),
                );
                for (name, rust, reference) in [
                    ("margin", got.margins[k], f[i] * y[i]),
                    ("residual", got.residuals[k], f[i] - y[i]),
                    ("grad norm", got.grad_norms[k], norm),
                    ("loss", got.losses[k], to_f64(loss)[0]),
                ] {
                    assert!(
                        (rust - reference).abs() <= 1e-10 * reference.abs().max(1e-10),
                        "{name} of forget sample {k}: rust={rust}, reference={reference}"
                    );
                }
                k += 1;
            }
        }
        assert_eq!(k, got.margins.len());
        let [r, fg] = [0, 1].map(|s| sums[s].iter().map(|x| x / counts[s]).collect::<Vec<_>>());
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let (rr, ff, rf) = (dot(&r, &r), dot(&fg, &fg), dot(&r, &fg));
        for (name, rust, reference) in [
            ("retain grad norm", got.retain_grad_norm, rr.sqrt()),
            ("forget grad norm", got.forget_grad_norm, ff.sqrt()),
            ("cos", got.grad_cos, rf / (rr * ff).sqrt()),
            ("alpha_drift", got.alpha_drift, (rf / (rf + ff)).max(0.0)),
        ] {
            assert!(
                (rust - reference).abs() <= 1e-9 * reference.abs().max(1e-9),
                "{name}: rust={rust}, reference={reference}"
            );
        }
        // The rule from these inputs: a radius of ‖w*‖, η = 0.5, a negative λ_min.
        let time = got.escape_time(0.5, -0.01, setup.start_norm).unwrap();
        assert!(time.kappa > 0.0 && time.steps.is_finite() && time.shape_factor > 0.0);
        assert!(
            got.escape_time(0.5, -0.01, 0.0).is_err(),
            "radius 0 is refused"
        );
    }

    #[test]
    fn an_empty_forget_set_is_refused() {
        let mut cfg = tiny(0.05);
        cfg.data.n_forget = 0;
        let setup = cfg.prepare(&Device::flex()).unwrap();
        let err = EscapeInputs::measure(&setup.model, setup.loss, &setup.data).unwrap_err();
        assert!(err.to_string().contains("data.n_forget"), "{err}");
    }
}
