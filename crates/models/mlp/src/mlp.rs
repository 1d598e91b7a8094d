//! The two-layer MLP f(w, x) = Σ_k v_k act(W_k·x + b_k) on flattened inputs x ∈ R^{P·d},
//! with a trainable second layer v, and its [`Model`] implementation.
//!
//! Flat parameter layout (p = h·(D + 2), D = P·d): W row-major [h, D], then b `[h]`, then v `[h]`.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use frontier_model::{Loss, Model, ParamBlock};

use crate::activation::Activation;

/// The MLP as a Burn module: W [h, D], b `[h]`, v `[h]` and the activation.
#[derive(Module, Debug)]
pub struct Mlp {
    /// First-layer weights, [h, D].
    pub w: Param<Tensor<2>>,
    /// First-layer bias, `[h]`.
    pub b: Param<Tensor<1>>,
    /// Second-layer weights, `[h]`.
    pub v: Param<Tensor<1>>,
    /// The activation (not a parameter).
    #[module(skip)]
    pub activation: Activation,
}

/// The parameters of one MLP as tensors: W [h, D], b `[h]`, v `[h]`.
struct Weights {
    w: Tensor<2>,
    b: Tensor<1>,
    v: Tensor<1>,
}

/// Pre-activations and what the gradients need, for n inputs.
struct Hidden {
    /// Flattened inputs, [n, D].
    x: Tensor<2>,
    /// act(z), [n, h].
    a: Tensor<2>,
    /// v ⊙ act'(z) = ∂f/∂z, [n, h].
    dz: Tensor<2>,
}

impl Mlp {
    /// An MLP with the given weights W [h, D], b `[h]`, v `[h]`.
    pub fn from_weights(w: Tensor<2>, b: Tensor<1>, v: Tensor<1>, activation: Activation) -> Self {
        Self {
            w: Param::from_tensor(w),
            b: Param::from_tensor(b),
            v: Param::from_tensor(v),
            activation,
        }
    }

    /// (h, D): hidden width and flattened input dimension.
    pub fn dims(&self) -> (usize, usize) {
        let [h, dim] = self.w.dims();
        (h, dim)
    }

    /// Scores f for inputs x [n, P, d] (P·d = D) → `[n]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<1> {
        self.score(&self.weights(), x)
    }

    fn weights(&self) -> Weights {
        Weights {
            w: self.w.val(),
            b: self.b.val(),
            v: self.v.val(),
        }
    }

    /// Splits a flat parameter vector \[p\] into W, b, v.
    fn split(&self, flat: Tensor<1>) -> Weights {
        let (h, dim) = self.dims();
        Weights {
            w: flat.clone().narrow(0, 0, h * dim).reshape([h, dim]),
            b: flat.clone().narrow(0, h * dim, h),
            v: flat.narrow(0, h * dim + h, h),
        }
    }

    /// z = x Wᵀ + b for x [n, P, d] → (flattened x [n, D], z [n, h]).
    fn pre_activations(weights: &Weights, x: Tensor<3>) -> (Tensor<2>, Tensor<2>) {
        let [n, patches, d] = x.dims();
        let x = x.reshape([n, patches * d]);
        let h = weights.b.dims()[0];
        let z = x.clone().matmul(weights.w.clone().transpose()) + weights.b.clone().reshape([1, h]);
        (x, z)
    }

    fn score(&self, weights: &Weights, x: Tensor<3>) -> Tensor<1> {
        let n = x.dims()[0];
        let h = weights.v.dims()[0];
        let (_, z) = Self::pre_activations(weights, x);
        self.activation
            .apply(z)
            .matmul(weights.v.clone().reshape([h, 1]))
            .reshape([n])
    }

    /// act(z) and ∂f/∂z at the model's own parameters.
    fn hidden(&self, x: Tensor<3>) -> Hidden {
        let weights = self.weights();
        let (x, z) = Self::pre_activations(&weights, x);
        let h = weights.v.dims()[0];
        Hidden {
            x,
            a: self.activation.apply(z.clone()),
            dz: self.activation.derivative(z) * weights.v.reshape([1, h]),
        }
    }
}

impl Model for Mlp {
    fn name(&self) -> &'static str {
        "mlp"
    }

    fn param_count(&self) -> usize {
        let (h, dim) = self.dims();
        h * (dim + 2)
    }

    /// `w` [h, D], `b` \[h\], `v` \[h\].
    fn param_blocks(&self) -> Vec<ParamBlock> {
        let (h, dim) = self.dims();
        vec![
            ParamBlock::new("w", vec![h, dim]),
            ParamBlock::new("b", vec![h]),
            ParamBlock::new("v", vec![h]),
        ]
    }

    fn params(&self) -> Tensor<1> {
        let (h, dim) = self.dims();
        Tensor::cat(
            vec![self.w.val().reshape([h * dim]), self.b.val(), self.v.val()],
            0,
        )
    }

    fn set_params(&mut self, flat: Tensor<1>) {
        let Weights { w, b, v } = self.split(flat);
        *self = Mlp::from_weights(w, b, v, self.activation);
    }

    fn scores_at(&self, flat: Tensor<1>, x: Tensor<3>) -> Tensor<1> {
        self.score(&self.split(flat), x)
    }

    /// Closed form: ∂f/∂W_k = (v_k act'(z_k)) x, ∂f/∂b_k = v_k act'(z_k), ∂f/∂v_k = act(z_k),
    /// one broadcast outer product for all samples. x [n, P, d] → [n, p].
    fn score_grads(&self, x: Tensor<3>) -> Tensor<2> {
        let (h, dim) = self.dims();
        let n = x.dims()[0];
        let Hidden { x, a, dz } = self.hidden(x);
        // [n, h, 1] ⊙ [n, 1, D] → [n, h, D]
        let dw = dz.clone().reshape([n, h, 1]) * x.reshape([n, 1, dim]);
        Tensor::cat(vec![dw.reshape([n, h * dim]), dz, a], 1)
    }

    /// Closed form: with u_i = ω_i ℓ'_i, ∇_W = (u ⊙ ∂f/∂z)ᵀ X, ∇_b = Σ_i u_i ∂f/∂z_i,
    /// ∇_v = act(Z)ᵀ u. Two [h, n] × [n, ·] matmuls.
    fn loss_grad(&self, loss: Loss, x: Tensor<3>, y: Tensor<1>, weights: Tensor<1>) -> Tensor<1> {
        let (h, dim) = self.dims();
        let n = x.dims()[0];
        let u = (loss.d1(self.forward(x.clone()), y) * weights).reshape([n, 1]);
        let Hidden { x, a, dz } = self.hidden(x);
        let coef = (dz * u.clone()).transpose(); // [h, n]
        let gw = coef.clone().matmul(x).reshape([h * dim]);
        let gb = coef.sum_dim(1).reshape([h]);
        let gv = a.transpose().matmul(u).reshape([h]);
        Tensor::cat(vec![gw, gb, gv], 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MlpConfig;
    use burn::tensor::Device;
    use frontier_model::{Precision, autodiff_score_grads, tensor_from, to_f64};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::StandardNormal;

    fn random(len: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.sample(StandardNormal)).collect()
    }

    /// n = 6 inputs of shape [2, 3], h = 4, weights of order 1 (curved activations).
    fn setup(activation: Activation, precision: Precision) -> (Mlp, Tensor<3>, Vec<f64>) {
        let (n, patches, d) = (6, 2, 3);
        let device = Device::flex();
        let cfg = MlpConfig {
            hidden: 4,
            activation,
            sigma_0: 0.7,
            sigma_1: 1.0,
            seed: 5,
        };
        let mlp = cfg.init([patches, d], &device, precision).unwrap();
        let xs = random(n * patches * d, 9);
        let x = tensor_from(&xs, [n, patches, d], &device, precision);
        (mlp, x, xs)
    }

    #[test]
    fn forward_equals_a_nested_loop() {
        for act in [Activation::Softplus, Activation::Tanh] {
            let (mlp, x, xs) = setup(act, Precision::F64);
            let (h, dim) = mlp.dims();
            let w = to_f64(mlp.params());
            let f = to_f64(mlp.forward(x));
            for (i, fi) in f.iter().enumerate() {
                let mut expected = 0.0;
                for k in 0..h {
                    let z: f64 = w[h * dim + k]
                        + (0..dim)
                            .map(|j| w[k * dim + j] * xs[i * dim + j])
                            .sum::<f64>();
                    let a = match act {
                        Activation::Softplus => z.exp().ln_1p(),
                        Activation::Tanh => z.tanh(),
                    };
                    expected += w[h * dim + h + k] * a;
                }
                assert!(
                    (fi - expected).abs() < 1e-12,
                    "{act:?}: rust={fi}, reference={expected}"
                );
            }
        }
    }

    #[test]
    fn closed_form_score_grads_equal_autodiff() {
        for act in [Activation::Softplus, Activation::Tanh] {
            let (mlp, x, _) = setup(act, Precision::F64);
            let closed = to_f64(mlp.score_grads(x.clone()));
            let auto = to_f64(autodiff_score_grads(&mlp, x));
            assert_eq!(closed.len(), 6 * mlp.param_count());
            for (a, b) in closed.iter().zip(&auto) {
                assert!((a - b).abs() < 1e-12, "{act:?}: rust={a}, reference={b}");
            }
        }
    }

    #[test]
    fn closed_form_loss_grad_equals_autodiff() {
        let device = Device::flex();
        for act in [Activation::Softplus, Activation::Tanh] {
            for loss in [Loss::Logistic, Loss::Squared] {
                let (mlp, x, _) = setup(act, Precision::F64);
                let n = x.dims()[0];
                let y: Vec<f64> = (0..n)
                    .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
                    .collect();
                let weights: Vec<f64> = (0..n).map(|i| 0.4 - 0.15 * i as f64).collect();
                let y = tensor_from(&y, [n], &device, Precision::F64);
                let weights = tensor_from(&weights, [n], &device, Precision::F64);
                let closed = to_f64(mlp.loss_grad(loss, x.clone(), y.clone(), weights.clone()));
                let w = mlp.params().autodiff().require_grad();
                let total = (loss.values(mlp.scores_at(w.clone(), x), y) * weights).sum();
                let auto = to_f64(w.grad(&total.backward()).unwrap());
                for (a, b) in closed.iter().zip(&auto) {
                    assert!(
                        (a - b).abs() < 1e-12,
                        "{act:?}, {loss:?}: rust={a}, reference={b}"
                    );
                }
            }
        }
    }

    #[test]
    fn params_round_trip() {
        let (mut mlp, x, _) = setup(Activation::Tanh, Precision::F64);
        let before = to_f64(mlp.forward(x.clone()));
        let w = mlp.params();
        mlp.set_params(w.clone());
        assert_eq!(to_f64(mlp.params()), to_f64(w.clone()));
        assert_eq!(to_f64(mlp.forward(x.clone())), before);
        // v ↦ 2v doubles f: v is the last h entries.
        let (h, dim) = mlp.dims();
        let mut scaled = to_f64(w);
        scaled[h * dim + h..].iter_mut().for_each(|v| *v *= 2.0);
        let device = Device::flex();
        mlp.set_params(tensor_from(
            &scaled,
            [scaled.len()],
            &device,
            Precision::F64,
        ));
        for (a, b) in before.iter().zip(to_f64(mlp.forward(x))) {
            assert!((2.0 * a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
