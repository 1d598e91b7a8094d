//! The two-layer ReLU CNN of SCIENCE.md §5:
//! f(W, x) = F_{+1}(W_{+1}, x) − F_{−1}(W_{−1}, x), F_j = (1/m) Σ_r Σ_p ReLU(⟨w_{j,r}, x^(p)⟩),
//! with 2m filters in R^d and the second layer fixed at ±1/m.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, activation::relu};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::data::DataConfig;
use crate::error::{Result, invalid};
use crate::loss::Loss;
use crate::model::Model;
use crate::spec::ModelSpec;
use crate::tensor::{Precision, tensor_from};

/// Shape and initialisation of the CNN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CnnConfig {
    /// Filters per class m (≥ 1); the network has 2m filters.
    pub m: usize,
    /// Standard deviation σ_0 of the N(0, σ_0²) initialisation (≥ 0).
    pub sigma_0: f64,
    /// Seed of the initialisation's own random stream.
    pub seed: u64,
}

impl Default for CnnConfig {
    fn default() -> Self {
        Self {
            m: 10,
            sigma_0: 0.01,
            seed: 1,
        }
    }
}

impl CnnConfig {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<()> {
        if self.m == 0 {
            return Err(invalid("model.m", "must be at least 1, got 0"));
        }
        if !(self.sigma_0 >= 0.0 && self.sigma_0.is_finite()) {
            return Err(invalid(
                "model.sigma_0",
                format!("must be a finite number ≥ 0, got {}", self.sigma_0),
            ));
        }
        Ok(())
    }

    /// A CNN for patches of dimension `d`, filters drawn from N(0, σ_0²) with the config's seed.
    pub fn init(&self, d: usize, device: &Device, precision: Precision) -> Result<Cnn> {
        self.validate()?;
        if d == 0 {
            return Err(invalid("data.d", "must be at least 1, got 0"));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut draw = || -> Vec<f64> {
            (0..self.m * d)
                .map(|_| self.sigma_0 * rng.sample::<f64, _>(StandardNormal))
                .collect()
        };
        let (pos, neg) = (draw(), draw());
        Ok(Cnn::from_filters(
            tensor_from(&pos, [self.m, d], device, precision),
            tensor_from(&neg, [self.m, d], device, precision),
        ))
    }
}

impl ModelSpec for CnnConfig {
    type Model = Cnn;

    fn init(&self, data: &DataConfig, device: &Device, precision: Precision) -> Result<Cnn> {
        CnnConfig::init(self, data.d, device, precision)
    }

    fn with_seed(&self, seed: u64) -> Self {
        Self {
            seed,
            ..self.clone()
        }
    }

    fn validate(&self) -> Result<()> {
        CnnConfig::validate(self)
    }

    fn describe(&self) -> String {
        format!("m = {}", self.m)
    }
}

/// The CNN as a Burn module: filters `w_pos`, `w_neg`, each [m, d].
#[derive(Module, Debug)]
pub struct Cnn {
    /// Filters of the +1 class, [m, d].
    pub w_pos: Param<Tensor<2>>,
    /// Filters of the −1 class, [m, d].
    pub w_neg: Param<Tensor<2>>,
}

impl Cnn {
    /// A CNN with the given filters, each [m, d].
    pub fn from_filters(w_pos: Tensor<2>, w_neg: Tensor<2>) -> Self {
        Self {
            w_pos: Param::from_tensor(w_pos),
            w_neg: Param::from_tensor(w_neg),
        }
    }

    /// (m, d).
    pub fn dims(&self) -> (usize, usize) {
        let [m, d] = self.w_pos.dims();
        (m, d)
    }

    /// Scores f for inputs x [n, P, d] → [n].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<1> {
        score(x, self.w_pos.val(), self.w_neg.val())
    }

    /// Splits a flat parameter vector [2·m·d] into (w_pos, w_neg), each [m, d].
    fn split(&self, w: Tensor<1>) -> (Tensor<2>, Tensor<2>) {
        let (m, d) = self.dims();
        let pos = w.clone().narrow(0, 0, m * d).reshape([m, d]);
        let neg = w.narrow(0, m * d, m * d).reshape([m, d]);
        (pos, neg)
    }

    /// ReLU gates 1{⟨w_r, x_i^(p)⟩ > 0} for both filter banks, each [n, P, m], as floats.
    fn gates(&self, x: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let gate = |w| relu(activations(x.clone(), w)).sign(); // keeps the float dtype
        (gate(self.w_pos.val()), gate(self.w_neg.val()))
    }
}

/// Scores f for inputs x [n, P, d] and filters w_pos, w_neg [m, d] → [n].
fn score(x: Tensor<3>, w_pos: Tensor<2>, w_neg: Tensor<2>) -> Tensor<1> {
    let m = w_pos.dims()[0];
    let total = relu(activations(x.clone(), w_pos)) - relu(activations(x, w_neg)); // [n, P, m]
    total.sum_dims_squeeze::<1, _>(&[1, 2]).div_scalar(m as f64)
}

/// Pre-activations ⟨w_r, x_i^(p)⟩, x [n, P, d] and w [m, d] → [n, P, m].
fn activations(x: Tensor<3>, w: Tensor<2>) -> Tensor<3> {
    let [n, p, d] = x.dims();
    let m = w.dims()[0];
    x.reshape([n * p, d])
        .matmul(w.transpose())
        .reshape([n, p, m])
}

impl Model for Cnn {
    fn name(&self) -> &'static str {
        "cnn"
    }

    fn param_count(&self) -> usize {
        let (m, d) = self.dims();
        2 * m * d
    }

    /// ReLU with a fixed second layer: f is piecewise linear in w, ∇²f = 0 off the kinks.
    fn rank_one_hessians(&self) -> bool {
        true
    }

    fn params(&self) -> Tensor<1> {
        let (m, d) = self.dims();
        Tensor::cat(
            vec![
                self.w_pos.val().reshape([m * d]),
                self.w_neg.val().reshape([m * d]),
            ],
            0,
        )
    }

    fn set_params(&mut self, w: Tensor<1>) {
        let (pos, neg) = self.split(w);
        *self = Cnn::from_filters(pos, neg);
    }

    fn scores_at(&self, w: Tensor<1>, x: Tensor<3>) -> Tensor<1> {
        let (pos, neg) = self.split(w);
        score(x, pos, neg)
    }

    /// Closed form: ∇_{w_{j,r}} f(x_i) = (j/m) Σ_p 1{⟨w_{j,r}, x_i^(p)⟩ > 0} x_i^(p), as one
    /// batched matmul per filter bank. x [n, P, d] → [n, 2·m·d] (w_pos block, then w_neg).
    fn score_grads(&self, x: Tensor<3>) -> Tensor<2> {
        let (m, d) = self.dims();
        let n = x.dims()[0];
        let (gate_pos, gate_neg) = self.gates(x.clone());
        // [n, m, P] × [n, P, d] → [n, m, d]
        let pos = gate_pos.swap_dims(1, 2).matmul(x.clone());
        let neg = gate_neg.swap_dims(1, 2).matmul(x).neg();
        Tensor::cat(vec![pos.reshape([n, m * d]), neg.reshape([n, m * d])], 1).div_scalar(m as f64)
    }

    /// Closed form: Σ_i ω_i ℓ'_i ∇f_i, two [m, nP] × [nP, d] matmuls.
    fn loss_grad(&self, loss: Loss, x: Tensor<3>, y: Tensor<1>, weights: Tensor<1>) -> Tensor<1> {
        let (m, d) = self.dims();
        let [n, p, _] = x.dims();
        let coef = (loss.d1(self.forward(x.clone()), y) * weights)
            .reshape([n, 1, 1])
            .div_scalar(m as f64);
        let (gate_pos, gate_neg) = self.gates(x.clone());
        let flat = x.reshape([n * p, d]);
        let bank = |gate: Tensor<3>| -> Tensor<1> {
            (gate * coef.clone())
                .reshape([n * p, m])
                .transpose()
                .matmul(flat.clone())
                .reshape([m * d])
        };
        Tensor::cat(vec![bank(gate_pos), bank(gate_neg).neg()], 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::autodiff_score_grads;
    use crate::tensor::to_f64;

    fn random(len: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.sample(StandardNormal)).collect()
    }

    fn setup(precision: Precision) -> (Cnn, Tensor<3>, Vec<f64>, Vec<f64>, [usize; 4]) {
        let (n, p, d, m) = (7, 3, 5, 4);
        let device = Device::flex();
        let xs = random(n * p * d, 1);
        let ws = random(2 * m * d, 2);
        let cnn = Cnn::from_filters(
            tensor_from(&ws[..m * d], [m, d], &device, precision),
            tensor_from(&ws[m * d..], [m, d], &device, precision),
        );
        let x = tensor_from(&xs, [n, p, d], &device, precision);
        (cnn, x, xs, ws, [n, p, d, m])
    }

    #[test]
    fn forward_equals_a_nested_loop() {
        let (cnn, x, xs, ws, [n, p, d, m]) = setup(Precision::F64);
        let f = to_f64(cnn.forward(x));
        for i in 0..n {
            let mut expected = 0.0;
            for (bank, sign) in [(0, 1.0), (1, -1.0)] {
                for r in 0..m {
                    for q in 0..p {
                        let dot: f64 = (0..d)
                            .map(|k| ws[bank * m * d + r * d + k] * xs[(i * p + q) * d + k])
                            .sum();
                        expected += sign * dot.max(0.0) / m as f64;
                    }
                }
            }
            assert!(
                (f[i] - expected).abs() < 1e-12,
                "rust={}, reference={expected}",
                f[i]
            );
        }
    }

    #[test]
    fn closed_form_score_grads_equal_autodiff_in_f32() {
        let (cnn, x, ..) = setup(Precision::F32);
        let closed = to_f64(cnn.score_grads(x.clone()));
        let auto = to_f64(autodiff_score_grads(&cnn, x));
        let scale = auto.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        for (a, b) in closed.iter().zip(&auto) {
            assert!((a - b).abs() <= 1e-5 * scale, "rust={a}, reference={b}");
        }
    }

    #[test]
    fn closed_form_loss_grad_equals_autodiff() {
        for loss in [Loss::Logistic, Loss::Squared] {
            let (cnn, x, ..) = setup(Precision::F64);
            let n = x.dims()[0];
            let device = Device::flex();
            let y: Vec<f64> = (0..n)
                .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
                .collect();
            let weights: Vec<f64> = (0..n).map(|i| 0.3 - 0.1 * i as f64).collect();
            let y = tensor_from(&y, [n], &device, Precision::F64);
            let weights = tensor_from(&weights, [n], &device, Precision::F64);
            let closed = to_f64(cnn.loss_grad(loss, x.clone(), y.clone(), weights.clone()));
            let generic = Cnn::from_filters(cnn.w_pos.val(), cnn.w_neg.val());
            let w = generic.params().autodiff().require_grad();
            let total = (loss.values(generic.scores_at(w.clone(), x), y) * weights).sum();
            let auto = to_f64(w.grad(&total.backward()).unwrap());
            for (a, b) in closed.iter().zip(&auto) {
                assert!((a - b).abs() < 1e-10, "{loss:?}: rust={a}, reference={b}");
            }
        }
    }

    #[test]
    fn params_round_trip_and_count() {
        let (mut cnn, x, ..) = setup(Precision::F64);
        assert_eq!(cnn.param_count(), 2 * 4 * 5);
        let before = to_f64(cnn.forward(x.clone()));
        let w = cnn.params();
        cnn.set_params(w.clone().mul_scalar(2.0));
        let after = to_f64(cnn.forward(x));
        for (a, b) in before.iter().zip(&after) {
            assert!(
                (2.0 * a - b).abs() < 1e-12,
                "ReLU net is 1-homogeneous: {a} vs {b}"
            );
        }
    }
}
