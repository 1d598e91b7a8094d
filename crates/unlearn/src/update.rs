//! The unlearning update on any [`Model`]:
//!
//!   w ← w − η [ (1−α)·mean_{i∈B_r} ∇ℓ_i(w) − α·mean_{j∈B_f} ∇ℓ_j(w) ]
//!
//! with a retain batch B_r and a forget batch B_f drawn fresh every step, without
//! replacement by default (a partial Fisher–Yates shuffle, O(B) per draw), with replacement
//! or Bernoulli(B/n) as options: the same [`Settings`] and the same batch [`Sampler`] as the
//! linear engine of `frontier-stability`, so a prediction and a run mean the same step.
//! One step is one weighted loss gradient: ∇_w Σ_k ω_k ℓ_k over the drawn rows with
//! ω = (1−α)/B_r on retain rows and −α/B_f on forget rows (negative weights ascend).
//!
//! **OpenUnlearning's GradDiff** minimises γ·(−L_F) + α'·L_R with learning rate η'. Its step
//! −η'[α'∇L_R − γ∇L_F] equals ours with α = γ/(γ+α') and η = η'·(γ+α') ([`GradDiff`]).
//! **Plain gradient ascent** is α = 1 ([`gradient_ascent`]).

use burn::tensor::Tensor;
use frontier_model::{Loss, Model, Precision, index_tensor, tensor_from};
use frontier_stability::sampler::Sampler;
use frontier_stability::{Sampling, Settings};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};

/// Draws the batches of every step and applies the update to a model.
#[derive(Debug, Clone)]
pub struct Stepper {
    settings: Settings,
    /// Rows of the retain set R in the training data.
    retain: Vec<i64>,
    /// Rows of the forget set F in the training data.
    forget: Vec<i64>,
    retain_batches: Sampler,
    forget_batches: Sampler,
    /// The last draw: training rows and their loss weights ω.
    rows: Vec<i64>,
    weights: Vec<f64>,
}

impl Stepper {
    /// A stepper for training data with forget mask `forget` (length n). Errors name the
    /// field: η ≤ 0, α ∉ [0, 1], B_r ∉ 1..=n_r (when α < 1), B_f ∉ 1..=n_f (when α > 0).
    pub fn new(settings: Settings, forget: &[bool]) -> Result<Stepper> {
        let rows = |member: bool| -> Vec<i64> {
            (0..forget.len())
                .filter(|&i| forget[i] == member)
                .map(|i| i as i64)
                .collect()
        };
        let (retain, forget) = (rows(false), rows(true));
        validate(&settings, retain.len(), forget.len())?;
        let b_f = settings.batch_forget.unwrap_or(settings.batch_retain);
        Ok(Stepper {
            retain_batches: Sampler::new(settings.sampling, retain.len(), settings.batch_retain),
            forget_batches: Sampler::new(settings.sampling, forget.len(), b_f),
            settings,
            retain,
            forget,
            rows: Vec::new(),
            weights: Vec::new(),
        })
    }

    /// Draws the next pair of batches: training rows (retain batch first) and their weights
    /// ω = (1−α)/B_r and −α/B_f. A term with zero weight (α = 0 or α = 1) draws nothing.
    pub fn draw<R: Rng>(&mut self, rng: &mut R) -> (&[i64], &[f64]) {
        let Settings {
            alpha,
            batch_retain,
            batch_forget,
            ..
        } = self.settings;
        self.rows.clear();
        self.weights.clear();
        let terms = [
            (
                alpha < 1.0,
                &self.retain,
                &mut self.retain_batches,
                (1.0 - alpha) / batch_retain as f64,
            ),
            (
                alpha > 0.0,
                &self.forget,
                &mut self.forget_batches,
                -alpha / batch_forget.unwrap_or(batch_retain) as f64,
            ),
        ];
        for (active, set, batches, weight) in terms {
            if active {
                for &k in batches.draw(rng) {
                    self.rows.push(set[k as usize]);
                    self.weights.push(weight);
                }
            }
        }
        (&self.rows, &self.weights)
    }

    /// One step on `model` with training inputs x [n, P, d] and labels y \[n\] (on the model's
    /// device): draws the batches and sets w ← w − η·∇_w Σ_k ω_k ℓ_k.
    pub fn step<M: Model, R: Rng>(
        &mut self,
        model: &mut M,
        loss: Loss,
        x: &Tensor<3>,
        y: &Tensor<1>,
        rng: &mut R,
    ) {
        let eta = self.settings.eta;
        let device = y.device();
        let precision = Precision::of(y);
        let (rows, weights) = self.draw(rng);
        if rows.is_empty() {
            return; // Bernoulli sampling can draw an empty batch: no move.
        }
        let k = rows.len();
        let index = index_tensor(rows.to_vec(), &device);
        let weights = tensor_from(weights, [k], &device, precision);
        let grad = model.loss_grad(
            loss,
            x.clone().select(0, index.clone()),
            y.clone().select(0, index),
            weights,
        );
        model.set_params(model.params() - grad.mul_scalar(eta));
    }
}

/// Checks step settings against the retain and forget set sizes.
pub(crate) fn validate(s: &Settings, n_retain: usize, n_forget: usize) -> Result<()> {
    if !(s.eta > 0.0 && s.eta.is_finite()) {
        return Err(invalid(
            "unlearn.step.eta",
            format!("must be a finite number > 0, got {}", s.eta),
        ));
    }
    if !(0.0..=1.0).contains(&s.alpha) {
        return Err(invalid(
            "unlearn.step.alpha",
            format!("must lie in [0, 1], got {}", s.alpha),
        ));
    }
    if s.alpha < 1.0 && !(1..=n_retain).contains(&s.batch_retain) {
        return Err(invalid(
            "unlearn.step.batch_retain",
            format!(
                "must lie in 1..={n_retain} (the retain-set size), got {}",
                s.batch_retain
            ),
        ));
    }
    let b_f = s.batch_forget.unwrap_or(s.batch_retain);
    if s.alpha > 0.0 && !(1..=n_forget).contains(&b_f) {
        let how = if s.batch_forget.is_none() {
            " (defaulted to batch_retain)"
        } else {
            ""
        };
        return Err(invalid(
            "unlearn.step.batch_forget",
            format!("must lie in 1..={n_forget} (the forget-set size), got {b_f}{how}"),
        ));
    }
    Ok(())
}

/// Plain gradient ascent on the forget set (α = 1) with learning rate η and forget batch
/// B_f; the retain batch size is unused.
pub fn gradient_ascent(eta: f64, batch_forget: usize) -> Settings {
    Settings {
        batch_forget: Some(batch_forget),
        ..Settings::new(eta, 1.0, 1)
    }
}

/// OpenUnlearning's GradDiff: minimise γ·(−L_F) + α'·L_R with learning rate η' (`lr`), L_F
/// and L_R batch-mean losses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradDiff {
    /// γ ≥ 0: weight of the forget (ascent) term.
    pub gamma: f64,
    /// α' ≥ 0: weight of the retain (descent) term.
    pub alpha: f64,
    /// η' > 0: their learning rate.
    pub lr: f64,
}

impl GradDiff {
    /// Our settings for the same step: α = γ/(γ+α'), η = η'·(γ+α'), B_r = B_f = `batch`.
    /// Errors if γ or α' is negative or both are 0, or η' ≤ 0.
    pub fn settings(&self, batch: usize, sampling: Sampling) -> Result<Settings> {
        let total = self.gamma + self.alpha;
        if !(self.gamma >= 0.0 && self.alpha >= 0.0 && total > 0.0 && total.is_finite()) {
            return Err(invalid(
                "grad_diff",
                format!(
                    "gamma and alpha must be finite, ≥ 0 and not both 0, got gamma = {}, alpha = {}",
                    self.gamma, self.alpha
                ),
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(invalid(
                "grad_diff.lr",
                format!("must be a finite number > 0, got {}", self.lr),
            ));
        }
        Ok(Settings {
            sampling,
            ..Settings::new(self.lr * total, self.gamma / total, batch)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn mask(n: usize, forget: &[usize]) -> Vec<bool> {
        (0..n).map(|i| forget.contains(&i)).collect()
    }

    #[test]
    fn draws_distinct_rows_from_each_set_with_the_documented_weights() {
        let forget = mask(12, &[1, 4, 9, 10]);
        let mut s = Stepper::new(Settings::new(0.1, 0.25, 3), &forget).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..50 {
            let (rows, weights) = s.draw(&mut rng);
            assert_eq!(rows.len(), 6);
            let (r, f) = rows.split_at(3);
            assert!(r.iter().all(|&i| !forget[i as usize]));
            assert!(f.iter().all(|&i| forget[i as usize]));
            let mut distinct = rows.to_vec();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 6, "without replacement: {rows:?}");
            assert_eq!(&weights[..3], &[0.25; 3]);
            assert_eq!(&weights[3..], &[-0.25 / 3.0; 3]);
        }
        let mut ascent = Stepper::new(gradient_ascent(0.1, 2), &forget).unwrap();
        let (rows, weights) = ascent.draw(&mut rng);
        assert_eq!(rows.len(), 2);
        assert_eq!(weights, &[-0.5, -0.5]);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let forget = mask(6, &[0, 1]);
        for (settings, field) in [
            (Settings::new(0.0, 0.5, 1), "unlearn.step.eta"),
            (Settings::new(0.1, 1.5, 1), "unlearn.step.alpha"),
            (Settings::new(0.1, 0.5, 5), "unlearn.step.batch_retain"),
            (Settings::new(0.1, 0.5, 3), "unlearn.step.batch_forget"),
        ] {
            let err = Stepper::new(settings, &forget).unwrap_err().to_string();
            assert!(err.contains(field), "{err} should name {field}");
        }
        // α = 1 ignores B_r, α = 0 ignores B_f.
        assert!(Stepper::new(gradient_ascent(0.1, 2), &forget).is_ok());
        assert!(Stepper::new(Settings::new(0.1, 0.0, 4), &forget).is_ok());
    }

    /// One step on the CNN against the closed form by hand: f_i = (1/m)Σ_r Σ_p
    /// [ReLU(⟨w⁺_r, x_ip⟩) − ReLU(⟨w⁻_r, x_ip⟩)], ∇_{w^±_r} ℓ_i = ±ℓ'_i (1/m) Σ_p
    /// 1{⟨w^±_r, x_ip⟩ > 0} x_ip, ℓ' = −y·sigmoid(−y f), in f64 loops.
    #[test]
    fn one_cnn_step_equals_the_hand_computed_update() {
        use burn::tensor::Device;
        use frontier_model::{CnnConfig, DataConfig, Dataset, DeviceData, to_f64};
        let (n, d, m, p) = (16, 12, 3, 2);
        let device = Device::flex();
        let data = Dataset::generate(&DataConfig {
            n,
            n_test: 4,
            d,
            n_forget: 5,
            snr: 0.3,
            ..DataConfig::default()
        })
        .unwrap();
        let dd = DeviceData::new(&data, &device, Precision::F32);
        let mut cnn = CnnConfig {
            m,
            sigma_0: 0.5,
            seed: 3,
        }
        .init(d, &device, Precision::F32)
        .unwrap();
        let (eta, alpha) = (0.3, 0.4);
        let settings = Settings {
            batch_forget: Some(2),
            ..Settings::new(eta, alpha, 4)
        };
        let mut stepper = Stepper::new(settings, &data.forget).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut probe = stepper.clone();
        let (rows, weights) = {
            let (r, w) = probe.draw(&mut rng.clone());
            (r.to_vec(), w.to_vec())
        };
        let w0 = to_f64(cnn.params());
        stepper.step(&mut cnn, Loss::Logistic, &dd.x, &dd.y, &mut rng);
        let w1 = to_f64(cnn.params());
        // By hand.
        let mut grad = vec![0.0; 2 * m * d];
        for (&i, &omega) in rows.iter().zip(&weights) {
            let i = i as usize;
            let patch = |q: usize| &data.x[(i * p + q) * d..(i * p + q + 1) * d];
            let pre = |bank: usize, r: usize, q: usize| -> f64 {
                let w = &w0[bank * m * d + r * d..bank * m * d + (r + 1) * d];
                w.iter().zip(patch(q)).map(|(a, b)| a * b).sum()
            };
            let mut f = 0.0;
            for r in 0..m {
                for q in 0..p {
                    f += (pre(0, r, q).max(0.0) - pre(1, r, q).max(0.0)) / m as f64;
                }
            }
            let y = data.y[i];
            let d1 = -y / (1.0 + (y * f).exp());
            for (bank, sign) in [(0, 1.0), (1, -1.0)] {
                for r in 0..m {
                    for q in 0..p {
                        if pre(bank, r, q) > 0.0 {
                            for k in 0..d {
                                grad[bank * m * d + r * d + k] +=
                                    omega * d1 * sign * patch(q)[k] / m as f64;
                            }
                        }
                    }
                }
            }
        }
        let scale = w0.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        for k in 0..w0.len() {
            let reference = w0[k] - eta * grad[k];
            assert!(
                (w1[k] - reference).abs() <= 1e-5 * scale,
                "coordinate {k}: rust={}, reference={reference}",
                w1[k]
            );
        }
        assert!(grad.iter().any(|g| g.abs() > 1e-3), "the step moved");
    }

    #[test]
    fn grad_diff_maps_to_the_same_step() {
        let g = GradDiff {
            gamma: 1.0,
            alpha: 3.0,
            lr: 0.05,
        };
        let s = g.settings(4, Sampling::Without).unwrap();
        assert_eq!((s.alpha, s.eta), (0.25, 0.2));
        // Same step coefficients: η(1−α) = η'α', ηα = η'γ.
        assert!((s.eta * (1.0 - s.alpha) - g.lr * g.alpha).abs() < 1e-15);
        assert!((s.eta * s.alpha - g.lr * g.gamma).abs() < 1e-15);
        let bad = GradDiff {
            gamma: 0.0,
            alpha: 0.0,
            lr: 0.1,
        };
        assert!(bad.settings(1, Sampling::Without).is_err());
    }
}
