//! The two-layer ReLU CNN (`docs/science.md#the-setting`):
//! f(W, x) = F_{+1}(W_{+1}, x) − F_{−1}(W_{−1}, x), F_j = (1/m) Σ_r Σ_p ReLU(⟨w_{j,r}, x^(p)⟩),
//! with 2m filters in R^d and the second layer fixed at ±1/m.

use std::collections::BTreeMap;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, activation::relu};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};
use crate::loss::Loss;
use crate::model::{Model, ParamBlock};
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
        if crate::data::values(&[2, self.m, d]).is_none() {
            return Err(invalid(
                "model.m",
                format!(
                    "2 × model.m × data.d = 2 × {} × {d} parameters exceed the address space",
                    self.m
                ),
            ));
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

    fn init_input(&self, input: [usize; 2], device: &Device, precision: Precision) -> Result<Cnn> {
        CnnConfig::init(self, input[1], device, precision)
    }

    /// m from the first dimension of `w_pos`.
    fn fit_param_shapes(&self, shapes: &BTreeMap<String, Vec<usize>>) -> Self {
        match shapes.get("w_pos").and_then(|s| s.first()) {
            Some(&m) => Self { m, ..self.clone() },
            None => self.clone(),
        }
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

    /// Scores f for inputs x [n, P, d] → \[n\].
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

    /// The pre-activations of R runs on their own inputs, params [R, p] and x [R, k, P, d]:
    /// (the inputs flattened [R, kP, d], the pre-activations of both banks [R, kP, 2m], the
    /// second layer broadcast like them).
    fn pre_each(&self, params: Tensor<2>, x: Tensor<4>) -> (Tensor<3>, Tensor<3>, Tensor<3>) {
        let (m, d) = self.dims();
        let [runs, k, patches, _] = x.dims();
        let flat = x.reshape([runs, k * patches, d]);
        let filters = params.reshape([runs, 2 * m, d]);
        let pre = flat.clone().matmul(filters.swap_dims(1, 2));
        let layer = second_layer(m, &pre);
        (flat, pre, layer)
    }

    /// ReLU gates 1{⟨w_r, x_i^(p)⟩ > 0} for both filter banks, each [n, P, m], as floats.
    fn gates(&self, x: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let gate = |w| relu(activations(x.clone(), w)).sign(); // keeps the float dtype
        (gate(self.w_pos.val()), gate(self.w_neg.val()))
    }
}

/// Scores f for inputs x [n, P, d] and filters w_pos, w_neg [m, d] → \[n\].
fn score(x: Tensor<3>, w_pos: Tensor<2>, w_neg: Tensor<2>) -> Tensor<1> {
    let m = w_pos.dims()[0];
    let total = relu(activations(x.clone(), w_pos)) - relu(activations(x, w_neg)); // [n, P, m]
    total.sum_dims_squeeze::<1, _>(&[1, 2]).div_scalar(m as f64)
}

/// The second layer of both banks, +1/m for the m filters of w_pos then −1/m for those of
/// w_neg, shaped [1, …, 1, 2m] (D dimensions) to broadcast against pre-activations whose
/// last dimension runs over the 2m filters (in [`Model::params`] order).
fn second_layer<const D: usize>(m: usize, like: &Tensor<D>) -> Tensor<D> {
    let mut shape = [1; D];
    shape[D - 1] = m;
    let pos = Tensor::<D>::ones(shape, (&like.device(), like.dtype())).div_scalar(m as f64);
    Tensor::cat(vec![pos.clone(), pos.neg()], D - 1)
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

    /// `w_pos` [m, d], `w_neg` [m, d].
    fn param_blocks(&self) -> Vec<ParamBlock> {
        let (m, d) = self.dims();
        vec![
            ParamBlock::new("w_pos", vec![m, d]),
            ParamBlock::new("w_neg", vec![m, d]),
        ]
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

    /// Closed form for R runs in two batched matmuls of 2·R·k·P·d·2m flops each: the
    /// pre-activations A = X Wᵀ (x as [R, kP, d], the runs' 2m filters as Wᵀ [R, d, 2m]),
    /// then ∇_W = Gᵀ X with G = ±(1/m)·1{A > 0}·ω_k ℓ'_k, [R, 2m, kP] × [R, kP, d].
    fn loss_grads_many(
        &self,
        loss: Loss,
        params: Tensor<2>,
        x: Tensor<4>,
        y: Tensor<2>,
        weights: Tensor<2>,
    ) -> Tensor<2> {
        let (m, d) = self.dims();
        let [runs, k, patches, _] = x.dims();
        let (flat, pre, layer) = self.pre_each(params, x);
        let f = (relu(pre.clone()) * layer.clone())
            .reshape([runs * k, patches * 2 * m])
            .sum_dim(1)
            .reshape([runs * k]);
        let coef =
            (loss.d1(f, y.reshape([runs * k])) * weights.reshape([runs * k])).reshape([runs, k, 1]);
        let gate = (relu(pre).sign() * layer).reshape([runs, k, patches * 2 * m]) * coef;
        gate.reshape([runs, k * patches, 2 * m])
            .swap_dims(1, 2)
            .matmul(flat)
            .reshape([runs, 2 * m * d])
    }

    /// Closed form for R runs on their own inputs: one batched [kP, d] × [d, 2m] matmul.
    fn scores_each(&self, params: Tensor<2>, x: Tensor<4>) -> Tensor<2> {
        let m = self.dims().0;
        let [runs, k, patches, _] = x.dims();
        let (_, pre, layer) = self.pre_each(params, x);
        (relu(pre) * layer)
            .reshape([runs, k, patches * 2 * m])
            .sum_dim(2)
            .reshape([runs, k])
    }

    /// Closed form for R runs: one [nP, d] × [d, R·2m] matmul for every run's
    /// pre-activations, then the ReLU and the ±1/m second layer.
    fn scores_many(&self, params: Tensor<2>, x: Tensor<3>) -> Tensor<2> {
        let (m, d) = self.dims();
        let runs = params.dims()[0];
        let [n, patches, _] = x.dims();
        let pre = x
            .reshape([n * patches, d])
            .matmul(params.reshape([runs * 2 * m, d]).transpose())
            .reshape([n, patches, runs, 2 * m]);
        let layer = second_layer(m, &pre);
        (relu(pre) * layer)
            .sum_dims_squeeze::<2, _>(&[1, 3])
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        autodiff_score_grads, looped_loss_grads_many, looped_scores_each, looped_scores_many,
    };
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

    /// R = 3 runs of the `setup` CNN's shape at different parameters, k = 4 samples each
    /// (the third run's last two padded with zero weights), f64.
    fn many() -> (Cnn, Tensor<2>, Tensor<4>, Tensor<2>, Tensor<2>) {
        let (cnn, _, _, _, [_, p, d, m]) = setup(Precision::F64);
        let (runs, k) = (3, 4);
        let device = Device::flex();
        let t = |v: &[f64], shape| tensor_from::<2>(v, shape, &device, Precision::F64);
        let params = t(&random(runs * 2 * m * d, 3), [runs, 2 * m * d]);
        let x = tensor_from(
            &random(runs * k * p * d, 4),
            [runs, k, p, d],
            &device,
            Precision::F64,
        );
        let y: Vec<f64> = (0..runs * k)
            .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        let mut weights: Vec<f64> = (0..runs * k).map(|i| 0.5 - 0.1 * i as f64).collect();
        weights[runs * k - 2..].fill(0.0);
        let (y, weights) = (t(&y, [runs, k]), t(&weights, [runs, k]));
        (cnn, params, x, y, weights)
    }

    fn assert_close(rust: &[f64], reference: &[f64], what: &str) {
        assert_eq!(rust.len(), reference.len(), "{what}");
        let scale = reference.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        for (a, b) in rust.iter().zip(reference) {
            assert!(
                (a - b).abs() <= 1e-12 * scale,
                "{what}: rust={a}, reference={b}"
            );
        }
    }

    #[test]
    fn batched_loss_grads_equal_the_loop_and_the_single_run_gradient() {
        let (cnn, params, x, y, weights) = many();
        for loss in [Loss::Logistic, Loss::Squared] {
            let batched = to_f64(cnn.loss_grads_many(
                loss,
                params.clone(),
                x.clone(),
                y.clone(),
                weights.clone(),
            ));
            let looped = to_f64(looped_loss_grads_many(
                &cnn,
                loss,
                params.clone(),
                x.clone(),
                y.clone(),
                weights.clone(),
            ));
            assert_close(&batched, &looped, &format!("{loss:?} vs the loop"));
            // The padded run equals the single-run gradient over its two real samples.
            let [_, _, p, d] = x.dims();
            let mut last = cnn.clone();
            last.set_params(params.clone().narrow(0, 2, 1).reshape([cnn.param_count()]));
            let real = |t: Tensor<2>| t.narrow(0, 2, 1).narrow(1, 0, 2).reshape([2]);
            let single = to_f64(last.loss_grad(
                loss,
                x.clone().narrow(0, 2, 1).narrow(1, 0, 2).reshape([2, p, d]),
                real(y.clone()),
                real(weights.clone()),
            ));
            let row = &batched[2 * cnn.param_count()..];
            assert_close(row, &single, &format!("{loss:?} vs loss_grad"));
        }
    }

    #[test]
    fn batched_scores_equal_the_loop_and_forward() {
        let (cnn, params, ..) = many();
        let (_, x, ..) = setup(Precision::F64);
        let batched = to_f64(cnn.scores_many(params.clone(), x.clone()));
        let looped = to_f64(looped_scores_many(&cnn, params.clone(), x.clone()));
        assert_close(&batched, &looped, "scores vs the loop");
        let mut first = cnn.clone();
        first.set_params(params.narrow(0, 0, 1).reshape([cnn.param_count()]));
        let n = x.dims()[0];
        assert_close(
            &batched[..n],
            &to_f64(first.forward(x)),
            "scores vs forward",
        );
    }

    #[test]
    fn scores_each_equal_the_loop_and_forward() {
        let (cnn, params, x, ..) = many();
        let batched = to_f64(cnn.scores_each(params.clone(), x.clone()));
        let looped = to_f64(looped_scores_each(&cnn, params.clone(), x.clone()));
        assert_close(&batched, &looped, "scores_each vs the loop");
        let [_, k, p, d] = x.dims();
        let mut last = cnn.clone();
        last.set_params(params.narrow(0, 2, 1).reshape([cnn.param_count()]));
        let own = to_f64(last.forward(x.narrow(0, 2, 1).reshape([k, p, d])));
        assert_close(&batched[2 * k..], &own, "scores_each vs forward");
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
