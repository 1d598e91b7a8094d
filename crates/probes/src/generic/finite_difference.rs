//! Per-sample loss gradients of any [`Model`] at shifted parameters, and the finite-difference
//! Hessian-vector products and dense per-sample Hessians built from them (f64 only).

use burn::tensor::{DType, Tensor, TensorData};
use frontier_model::{Loss, Model, to_f64};
use nalgebra::DMatrix;

use crate::error::{Error, Result, check_finite};
use crate::operator::FiniteDifferenceHvp;

/// A model, its loss and data (x [n, P, d], y \[n\]) at the point w*, in f64: everything the
/// finite differences need. Shifts follow [`FiniteDifferenceHvp`]: the perturbation h·v has
/// length ε·max(1, ‖w*‖₂) whatever ‖v‖.
pub(crate) struct FdProblem<'a, M> {
    model: &'a M,
    loss: Loss,
    x: Tensor<3>,
    y: Tensor<1>,
    w: Vec<f64>,
    eps: f64,
    /// ε·max(1, ‖w*‖₂): the length of every perturbation.
    shift: f64,
}

impl<'a, M: Model> FdProblem<'a, M> {
    /// Errors unless the parameters and inputs are f64 (a difference of two gradients over the
    /// step ε·max(1, ‖w*‖), ε = 10⁻⁵ by default, loses about five of f32's seven significant
    /// digits), the parameters are finite and ε is finite and > 0.
    pub(crate) fn new(
        model: &'a M,
        loss: Loss,
        x: Tensor<3>,
        y: Tensor<1>,
        eps: f64,
    ) -> Result<Self> {
        let params = model.params();
        for (what, dtype) in [
            ("model parameters", params.dtype()),
            ("inputs x", x.dtype()),
            ("labels y", y.dtype()),
        ] {
            if dtype != DType::F64 {
                return Err(Error::Argument {
                    name: what,
                    value: format!("{dtype:?}"),
                    expected: "F64 tensors on a CPU device (finite-difference curvature runs in f64)",
                });
            }
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::Argument {
                name: "relative_step",
                value: eps.to_string(),
                expected: "a finite number > 0",
            });
        }
        let w = to_f64(params);
        check_finite("model parameters", &w)?;
        let shift = eps * w.iter().map(|a| a * a).sum::<f64>().sqrt().max(1.0);
        Ok(Self {
            model,
            loss,
            x,
            y,
            w,
            eps,
            shift,
        })
    }

    /// Number of samples n.
    pub(crate) fn n(&self) -> usize {
        self.y.dims()[0]
    }

    /// Number of parameters p.
    pub(crate) fn p(&self) -> usize {
        self.w.len()
    }

    /// The parameters `w` as an f64 tensor on the data's device.
    fn device_params(&self, w: &[f64]) -> Tensor<1> {
        let data = TensorData::new(w.to_vec(), [w.len()]);
        Tensor::from_data(data, (&self.x.device(), DType::F64))
    }

    /// Per-sample loss gradients ∇_w ℓ_i = ℓ'_i ∇_w f(x_i) at parameters `w` for inputs
    /// x [m, P, d] and labels y \[m\] → [m, p] (on the model's device), on the smooth piece
    /// of the model at w* ([`Model::piece_grads`]: no ReLU kink is crossed).
    fn sample_grads(&self, w: &[f64], x: Tensor<3>, y: Tensor<1>) -> Tensor<2> {
        let m = y.dims()[0];
        let (f, g) = self.model.piece_grads(self.device_params(w), x);
        g * self.loss.d1(f, y).reshape([m, 1])
    }

    /// w* + s·v.
    fn shifted(&self, s: f64, v: &[f64]) -> Vec<f64> {
        self.w.iter().zip(v).map(|(w, v)| w + s * v).collect()
    }

    /// Row i = H_i v for every sample, [n, p] on the device, by central differences of the
    /// per-sample loss gradients at w* ± h v: two batched evaluations. Zero for v = 0.
    pub(crate) fn hvp_rows(&self, v: &[f64]) -> Tensor<2> {
        let v_norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let h = if v_norm > 0.0 {
            self.shift / v_norm
        } else {
            self.shift
        };
        let grads = |s: f64| self.sample_grads(&self.shifted(s, v), self.x.clone(), self.y.clone());
        (grads(h) - grads(-h)).div_scalar(2.0 * h)
    }

    /// The n dense per-sample Hessians H_i (p×p, not symmetrised), column k from
    /// [`hvp_rows`](Self::hvp_rows) at the unit vector e_k: 2p batched gradient evaluations
    /// and n·p² memory, for small p.
    pub(crate) fn dense_hessians(&self) -> Vec<DMatrix<f64>> {
        let (n, p) = (self.n(), self.p());
        let mut h = vec![DMatrix::zeros(p, p); n];
        let mut e = vec![0.0; p];
        for k in 0..p {
            e[k] = 1.0;
            let rows = to_f64(self.hvp_rows(&e)); // row-major [n, p]
            e[k] = 0.0;
            for (i, hi) in h.iter_mut().enumerate() {
                hi.column_mut(k).copy_from_slice(&rows[i * p..(i + 1) * p]);
            }
        }
        h
    }

    /// H_i of sample i alone as a finite-difference operator (each matvec: two one-sample
    /// gradient evaluations).
    pub(crate) fn sample_operator(
        &self,
        i: usize,
    ) -> Result<FiniteDifferenceHvp<impl Fn(&[f64]) -> Vec<f64> + '_>> {
        let (x, y) = (
            self.x.clone().narrow(0, i, 1),
            self.y.clone().narrow(0, i, 1),
        );
        let grad = move |w: &[f64]| to_f64(self.sample_grads(w, x.clone(), y.clone()));
        FiniteDifferenceHvp::with_relative_step(grad, self.w.clone(), self.eps)
    }

    /// Σ_i ω_i H_i (e.g. H or H_α, weights from [`crate::weights`]) as a finite-difference
    /// operator over the weighted loss gradient Σ_i ω_i ∇ℓ_i on the model's smooth piece at
    /// w* (one [1, n] × [n, p] product of the per-sample gradients).
    pub(crate) fn weighted_operator(
        &self,
        weights: &[f64],
    ) -> Result<FiniteDifferenceHvp<impl Fn(&[f64]) -> Vec<f64> + '_>> {
        let n = weights.len();
        let weights = self.device_vector(weights).reshape([1, n]);
        let grad = move |w: &[f64]| {
            let rows = self.sample_grads(w, self.x.clone(), self.y.clone());
            to_f64(weights.clone().matmul(rows))
        };
        FiniteDifferenceHvp::with_relative_step(grad, self.w.clone(), self.eps)
    }

    /// ‖Σ_i ω_i ∇_w ℓ_i(w*)‖₂.
    pub(crate) fn weighted_grad_norm(&self, weights: &[f64]) -> f64 {
        let g = self.model.loss_grad(
            self.loss,
            self.x.clone(),
            self.y.clone(),
            self.device_vector(weights),
        );
        to_f64(g).iter().map(|a| a * a).sum::<f64>().sqrt()
    }

    /// A vector of length p as a [p, 1] column on the data's device.
    pub(crate) fn column(&self, v: &[f64]) -> Tensor<2> {
        self.device_vector(v).reshape([v.len(), 1])
    }

    /// A length-n f64 vector on the data's device.
    fn device_vector(&self, values: &[f64]) -> Tensor<1> {
        let data = TensorData::new(values.to_vec(), [values.len()]);
        Tensor::from_data(data, (&self.x.device(), DType::F64))
    }
}
