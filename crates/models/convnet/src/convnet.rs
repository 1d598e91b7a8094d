//! The convnet f(w, x) = r·ReLU(K₂ ⋆ ReLU(K₁ ⋆ x + b₁) + b₂) + c and its [`Model`]
//! implementation, with per-sample gradients from one batched backward pass.
//!
//! Flat parameter layout (the blocks of [`Layout::blocks`], in this order): `conv1.weight`
//! [c₁, C, 3, 3], `conv1.bias` \[c₁\], `conv2.weight` [c₂, c₁, 3, 3], `conv2.bias` \[c₂\],
//! `readout.weight` [c₂·H₂·W₂] (over the flattened second feature map), `readout.bias` \[1\].

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::module::{conv_transpose2d, conv2d, unfold4d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, PadMode, UnfoldOptions};
use frontier_model::{Model, ParamBlock, to_f64};

/// The layer sizes of a convnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Input channels C (the inputs' P).
    pub channels: usize,
    /// Image height H.
    pub height: usize,
    /// Image width W.
    pub width: usize,
    /// Channels c₁ of the first convolution.
    pub conv1: usize,
    /// Channels c₂ of the second convolution.
    pub conv2: usize,
    /// Zero padding of both convolutions (0 or 1).
    pub padding: usize,
}

impl Layout {
    /// The side of a feature map after one 3×3 convolution of a side `side`.
    fn after(&self, side: usize) -> usize {
        side + 2 * self.padding - 2
    }

    /// [H₁, W₁], the first feature map.
    pub fn map1(&self) -> [usize; 2] {
        [self.after(self.height), self.after(self.width)]
    }

    /// [H₂, W₂], the second feature map.
    pub fn map2(&self) -> [usize; 2] {
        let [h, w] = self.map1();
        [self.after(h), self.after(w)]
    }

    /// The named parameter blocks, in flat order.
    pub fn blocks(&self) -> Vec<ParamBlock> {
        let [h2, w2] = self.map2();
        vec![
            ParamBlock::new("conv1.weight", vec![self.conv1, self.channels, 3, 3]),
            ParamBlock::new("conv1.bias", vec![self.conv1]),
            ParamBlock::new("conv2.weight", vec![self.conv2, self.conv1, 3, 3]),
            ParamBlock::new("conv2.bias", vec![self.conv2]),
            ParamBlock::new("readout.weight", vec![self.conv2 * h2 * w2]),
            ParamBlock::new("readout.bias", vec![1]),
        ]
    }

    /// Number of parameters p.
    pub fn param_count(&self) -> usize {
        self.blocks().iter().map(ParamBlock::len).sum()
    }

    fn conv_options(&self) -> ConvOptions<2> {
        ConvOptions::new([1, 1], [self.padding; 2], [1, 1], 1)
    }
}

/// The convnet as a Burn module: the flat parameter vector and its layout.
#[derive(Module, Debug)]
pub struct Convnet {
    /// All parameters, \[p\], in the order of [`Layout::blocks`].
    pub params: Param<Tensor<1>>,
    /// The layer sizes (not a parameter).
    #[module(skip)]
    pub layout: Layout,
}

/// The parameters as tensors of their layer shapes.
struct Weights {
    conv1: Tensor<4>,
    b1: Tensor<1>,
    conv2: Tensor<4>,
    b2: Tensor<1>,
    readout: Tensor<1>,
    bias: Tensor<1>,
}

/// The ReLU gates 1{z > 0} of both layers, as floats: [n, c₁, H₁, W₁] and [n, c₂, H₂, W₂].
#[derive(Clone)]
struct Gates {
    first: Tensor<4>,
    second: Tensor<4>,
}

/// A forward pass and what the backward pass needs, for n inputs.
struct Pass {
    /// Inputs as images [n, C, H, W].
    x: Tensor<4>,
    /// Pre-activations of both layers.
    z1: Tensor<4>,
    z2: Tensor<4>,
    /// Activations of the first layer, [n, c₁, H₁, W₁], and of the second, [n, c₂, H₂, W₂].
    a1: Tensor<4>,
    a2: Tensor<4>,
    /// The gates the activations used.
    gates: Gates,
    /// Scores \[n\].
    f: Tensor<1>,
}

impl Convnet {
    /// A convnet of `layout` with the flat parameters `flat` \[p\].
    pub fn from_flat(layout: Layout, flat: Tensor<1>) -> Self {
        debug_assert_eq!(flat.dims()[0], layout.param_count());
        Self {
            params: Param::from_tensor(flat),
            layout,
        }
    }

    /// Splits a flat parameter vector \[p\] into the layers' tensors.
    fn split(&self, flat: Tensor<1>) -> Weights {
        let mut offset = 0;
        let mut take = |len: usize| {
            let t = flat.clone().narrow(0, offset, len);
            offset += len;
            t
        };
        let l = &self.layout;
        let conv1 = take(l.conv1 * l.channels * 9).reshape([l.conv1, l.channels, 3, 3]);
        let b1 = take(l.conv1);
        let conv2 = take(l.conv2 * l.conv1 * 9).reshape([l.conv2, l.conv1, 3, 3]);
        let b2 = take(l.conv2);
        let [h2, w2] = l.map2();
        let readout = take(l.conv2 * h2 * w2);
        let bias = take(1);
        Weights {
            conv1,
            b1,
            conv2,
            b2,
            readout,
            bias,
        }
    }

    /// The forward pass at weights `w` for inputs x [n, C, H·W]: a = ReLU(z), or a = z ⊙ g
    /// with the given gates g (the polynomial piece those gates select).
    fn pass(&self, w: Weights, x: Tensor<3>, frozen: Option<Gates>) -> Pass {
        let l = &self.layout;
        let n = x.dims()[0];
        let x = x.reshape([n, l.channels, l.height, l.width]);
        let gate = |z: &Tensor<4>| relu(z.clone()).sign(); // 1{z > 0}, in the float dtype
        let z1 = conv2d(x.clone(), w.conv1, Some(w.b1), l.conv_options());
        let (a1, first) = match &frozen {
            Some(g) => (z1.clone() * g.first.clone(), g.first.clone()),
            None => (relu(z1.clone()), gate(&z1)),
        };
        let z2 = conv2d(a1.clone(), w.conv2, Some(w.b2), l.conv_options());
        let (a2, second) = match frozen {
            Some(g) => (z2.clone() * g.second.clone(), g.second),
            None => (relu(z2.clone()), gate(&z2)),
        };
        let [h2, w2] = l.map2();
        let features = l.conv2 * h2 * w2;
        let f = a2
            .clone()
            .reshape([n, features])
            .matmul(w.readout.reshape([features, 1]))
            .reshape([n])
            + w.bias;
        Pass {
            x,
            z1,
            z2,
            a1,
            a2,
            gates: Gates { first, second },
            f,
        }
    }

    /// Per-sample score gradients from a forward pass at `readout`, `conv2` (the weights it
    /// ran with): one batched backward pass, see [`Model::score_grads`].
    fn backward(&self, pass: Pass, conv2: Tensor<4>, readout: Tensor<1>) -> Tensor<2> {
        let l = self.layout;
        let Pass {
            x, a1, a2, gates, ..
        } = pass;
        let n = x.dims()[0];
        let [h2, w2] = l.map2();
        let delta2 = readout.reshape([1, l.conv2, h2, w2]) * gates.second;
        let (g_conv2, g_b2) = conv_grads(delta2.clone(), a1, l.padding);
        let back = ConvTransposeOptions::new([1, 1], [l.padding; 2], [0, 0], [1, 1], 1);
        let delta1 = conv_transpose2d(delta2, conv2, None, back) * gates.first;
        let (g_conv1, g_b1) = conv_grads(delta1, x, l.padding);
        let g_readout = a2.reshape([n, l.conv2 * h2 * w2]);
        let g_bias = g_readout.ones_like().narrow(1, 0, 1);
        Tensor::cat(vec![g_conv1, g_b1, g_conv2, g_b2, g_readout, g_bias], 1)
    }

    /// Scores and per-sample score gradients at the flat parameters `w` with `frozen` gates
    /// (or their own).
    fn grads_at(
        &self,
        w: Tensor<1>,
        x: Tensor<3>,
        frozen: Option<Gates>,
    ) -> (Tensor<1>, Tensor<2>) {
        let weights = self.split(w);
        let (conv2, readout) = (weights.conv2.clone(), weights.readout.clone());
        let pass = self.pass(weights, x, frozen);
        let f = pass.f.clone();
        (f, self.backward(pass, conv2, readout))
    }

    /// The smallest |pre-activation| over every ReLU of both layers and every input x
    /// [n, C, H·W]: how far the inputs sit from a kink of the network (finite differences that
    /// do not hold the gates fixed are meaningless when a perturbation moves a pre-activation
    /// by more than this).
    pub fn kink_margin(&self, x: Tensor<3>) -> f64 {
        let pass = self.pass(self.split(self.params.val()), x, None);
        let smallest = |z: Tensor<4>| to_f64(z.abs().min())[0];
        smallest(pass.z1).min(smallest(pass.z2))
    }

    /// Scores f for inputs x [n, C, H·W] → \[n\].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<1> {
        self.pass(self.split(self.params.val()), x, None).f
    }
}

/// ∂f/∂w of one convolution per sample: the signal δ [n, c_out, h, w] times the im2col
/// matrix of the layer's input [n, c_in, H, W] (3×3 windows after zero padding `padding`),
/// summed over the h·w positions → [n, c_out·c_in·9] (the weight's row-major order), and
/// ∂f/∂b = Σ_positions δ → [n, c_out].
fn conv_grads(delta: Tensor<4>, input: Tensor<4>, padding: usize) -> (Tensor<2>, Tensor<2>) {
    let [n, c_out, h, w] = delta.dims();
    let c_in = input.dims()[1];
    // Padding first keeps unfold4d on its strided-view path (with padding it runs a
    // convolution with a one-hot kernel, several times slower here).
    let input = if padding > 0 {
        input.pad(
            [(padding, padding), (padding, padding)],
            PadMode::Constant(0.0),
        )
    } else {
        input
    };
    let plain = UnfoldOptions::new([1, 1], [0, 0], [1, 1]);
    let columns = unfold4d(input, [3, 3], plain); // [n, c_in·9, h·w]
    let delta = delta.reshape([n, c_out, h * w]);
    let weight = delta
        .clone()
        .matmul(columns.swap_dims(1, 2)) // [n, c_out, c_in·9]
        .reshape([n, c_out * c_in * 9]);
    let bias = delta.sum_dim(2).reshape([n, c_out]);
    (weight, bias)
}

impl Model for Convnet {
    fn name(&self) -> &'static str {
        "convnet"
    }

    fn param_count(&self) -> usize {
        self.layout.param_count()
    }

    fn param_blocks(&self) -> Vec<ParamBlock> {
        self.layout.blocks()
    }

    fn params(&self) -> Tensor<1> {
        self.params.val()
    }

    fn set_params(&mut self, w: Tensor<1>) {
        *self = Convnet::from_flat(self.layout, w);
    }

    fn scores_at(&self, w: Tensor<1>, x: Tensor<3>) -> Tensor<1> {
        self.pass(self.split(w), x, None).f
    }

    /// One batched backward pass: with δ₂ = r ⊙ 1{z₂ > 0} (∂f/∂z₂, per sample and
    /// position), ∂f/∂K₂ = Σ_positions δ₂ · im2col(a₁), ∂f/∂b₂ = Σ δ₂, ∂f/∂r = a₂, ∂f/∂c = 1;
    /// δ₁ = (K₂ᵀ ⋆ δ₂) ⊙ 1{z₁ > 0} (a transposed convolution), ∂f/∂K₁ = Σ δ₁ · im2col(x),
    /// ∂f/∂b₁ = Σ δ₁. x [n, C, H·W] → [n, p].
    fn score_grads(&self, x: Tensor<3>) -> Tensor<2> {
        self.grads_at(self.params.val(), x, None).1
    }

    /// The gates of the model's own parameters on x, held while the weights move to `w`: f is
    /// then a polynomial of degree 3 in w (the two convolutions and the read-out multiply),
    /// so central differences of these gradients are exact up to rounding.
    fn piece_grads(&self, w: Tensor<1>, x: Tensor<3>) -> (Tensor<1>, Tensor<2>) {
        let own = self.pass(self.split(self.params.val()), x.clone(), None);
        self.grads_at(w, x, Some(own.gates))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConvnetConfig;
    use burn::tensor::Device;
    use frontier_model::{Loss, Precision, autodiff_score_grads, tensor_from, to_f64};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn uniform(len: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// A convnet on C = 2 channels of 6×5 images, c₁ = 3, c₂ = 2, with biases drawn like the
    /// weights (so that zero-padded windows are not exactly at a ReLU kink); n = 4 inputs.
    fn case(padding: usize, precision: Precision) -> (Convnet, Tensor<3>, Vec<f64>, Vec<f64>) {
        let cfg = ConvnetConfig {
            height: 6,
            width: 5,
            conv1: 3,
            conv2: 2,
            padding,
            ..ConvnetConfig::default()
        };
        let layout = cfg.layout(2);
        let (n, d) = (4, 30);
        let device = Device::flex();
        let w = uniform(layout.param_count(), 7);
        let xs = uniform(n * 2 * d, 8);
        (
            Convnet::from_flat(layout, tensor_from(&w, [w.len()], &device, precision)),
            tensor_from(&xs, [n, 2, d], &device, precision),
            w,
            xs,
        )
    }

    /// The forward pass by plain loops over every output pixel, zero padding included.
    fn naive_scores(layout: &Layout, w: &[f64], xs: &[f64]) -> Vec<f64> {
        let l = layout;
        let conv = |input: &[f64], c_in: usize, [h, wd]: [usize; 2], k: &[f64], b: &[f64]| {
            let c_out = b.len();
            let (ho, wo) = (h + 2 * l.padding - 2, wd + 2 * l.padding - 2);
            let mut out = vec![0.0; c_out * ho * wo];
            for o in 0..c_out {
                for r in 0..ho {
                    for c in 0..wo {
                        let mut s = b[o];
                        for i in 0..c_in {
                            for a in 0..3 {
                                for bb in 0..3 {
                                    let (rr, cc) = (r + a, c + bb);
                                    if rr < l.padding || cc < l.padding {
                                        continue;
                                    }
                                    let (rr, cc) = (rr - l.padding, cc - l.padding);
                                    if rr >= h || cc >= wd {
                                        continue;
                                    }
                                    s += k[((o * c_in + i) * 3 + a) * 3 + bb]
                                        * input[(i * h + rr) * wd + cc];
                                }
                            }
                        }
                        out[(o * ho + r) * wo + c] = s.max(0.0);
                    }
                }
            }
            out
        };
        let sizes: Vec<usize> = l.blocks().iter().map(ParamBlock::len).collect();
        let mut parts = Vec::new();
        let mut at = 0;
        for s in sizes {
            parts.push(&w[at..at + s]);
            at += s;
        }
        let per = l.channels * l.height * l.width;
        xs.chunks(per)
            .map(|x| {
                let a1 = conv(x, l.channels, [l.height, l.width], parts[0], parts[1]);
                let a2 = conv(&a1, l.conv1, l.map1(), parts[2], parts[3]);
                a2.iter().zip(parts[4]).map(|(a, r)| a * r).sum::<f64>() + parts[5][0]
            })
            .collect()
    }

    #[test]
    fn forward_equals_plain_loops() {
        for padding in [0, 1] {
            let (net, x, w, xs) = case(padding, Precision::F64);
            let got = to_f64(net.forward(x));
            let expected = naive_scores(&net.layout, &w, &xs);
            for (a, b) in got.iter().zip(&expected) {
                assert!(
                    (a - b).abs() < 1e-12,
                    "padding {padding}: rust={a}, reference={b}"
                );
            }
        }
    }

    #[test]
    fn per_sample_gradients_equal_per_sample_autodiff() {
        for (precision, tol) in [(Precision::F64, 1e-10), (Precision::F32, 1e-5)] {
            for padding in [0, 1] {
                let (net, x, _, _) = case(padding, precision);
                let fast = to_f64(net.score_grads(x.clone()));
                let slow = to_f64(autodiff_score_grads(&net, x));
                assert_eq!(fast.len(), 4 * net.param_count());
                let scale = slow.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (k, (a, b)) in fast.iter().zip(&slow).enumerate() {
                    assert!(
                        (a - b).abs() <= tol * scale,
                        "{precision:?}, padding {padding}, entry {k}: rust={a}, autodiff \
                         reference={b}"
                    );
                }
            }
        }
    }

    #[test]
    fn summed_per_sample_gradients_equal_the_batch_gradient() {
        let device = Device::flex();
        let (net, x, _, _) = case(1, Precision::F64);
        let y = tensor_from(&[1.0, -1.0, -1.0, 1.0], [4], &device, Precision::F64);
        let weights = tensor_from(&[0.25, 0.5, -0.3, 0.1], [4], &device, Precision::F64);
        for loss in [Loss::Logistic, Loss::Squared] {
            // Σ_i ω_i ℓ'_i g_i from the per-sample rows, against one autodiff backward of the
            // weighted batch loss.
            let rows = to_f64(net.score_grads(x.clone()));
            let u = to_f64(loss.d1(net.forward(x.clone()), y.clone()) * weights.clone());
            let p = net.param_count();
            let summed: Vec<f64> = (0..p)
                .map(|k| (0..4).map(|i| u[i] * rows[i * p + k]).sum())
                .collect();
            let wv = net.params().detach().autodiff().require_grad();
            let total = (loss.values(net.scores_at(wv.clone(), x.clone()), y.clone())
                * weights.clone())
            .sum();
            let batch = to_f64(wv.grad(&total.backward()).unwrap());
            for k in 0..p {
                assert!(
                    (summed[k] - batch[k]).abs() < 1e-12,
                    "{loss:?} entry {k}: summed rows rust={}, autodiff reference={}",
                    summed[k],
                    batch[k]
                );
            }
        }
    }

    #[test]
    fn params_and_blocks_round_trip() {
        let (mut net, x, w, _) = case(1, Precision::F64);
        let blocks = net.param_blocks();
        let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "conv1.weight",
                "conv1.bias",
                "conv2.weight",
                "conv2.bias",
                "readout.weight",
                "readout.bias"
            ]
        );
        assert_eq!(blocks.iter().map(ParamBlock::len).sum::<usize>(), w.len());
        // 3·2·9 + 3 + 2·3·9 + 2 + 2·6·5 + 1
        assert_eq!(net.param_count(), 54 + 3 + 54 + 2 + 60 + 1);
        let before = to_f64(net.forward(x.clone()));
        net.set_params(net.params());
        assert_eq!(to_f64(net.forward(x)), before);
    }
}
