//! Per-sample losses ℓ(f, y) of a score f and a label y ∈ {−1, +1}, with their first and
//! second derivatives in the score.

use burn::tensor::{Tensor, activation::sigmoid};
use serde::{Deserialize, Serialize};

/// The training loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// ℓ = log(1 + e^{−y f}); ℓ' = −y·s(−y f); ℓ'' = s(y f)·s(−y f), s = sigmoid.
    #[default]
    Logistic,
    /// ℓ = ½ (f − y)²; ℓ' = f − y; ℓ'' = 1.
    Squared,
}

impl Loss {
    /// The name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Logistic => "logistic",
            Loss::Squared => "squared",
        }
    }

    /// Per-sample loss values, `f` and `y` of shape \[n\] → \[n\].
    pub fn values(self, f: Tensor<1>, y: Tensor<1>) -> Tensor<1> {
        match self {
            Loss::Logistic => {
                // softplus(z), z = −y f, written so that it never overflows.
                let z = -(y * f);
                z.clone().clamp_min(0.0) + (-z.abs()).exp().log1p()
            }
            Loss::Squared => (f - y).powi_scalar(2).mul_scalar(0.5),
        }
    }

    /// First derivative ∂ℓ/∂f per sample, \[n\] → \[n\].
    pub fn d1(self, f: Tensor<1>, y: Tensor<1>) -> Tensor<1> {
        match self {
            Loss::Logistic => -(y.clone() * sigmoid(-(y * f))),
            Loss::Squared => f - y,
        }
    }

    /// Second derivative ∂²ℓ/∂f² per sample, \[n\] → \[n\]; the curvature weight c_i of the
    /// Gauss–Newton Hessian H_i = c_i g_i g_iᵀ.
    pub fn d2(self, f: Tensor<1>, y: Tensor<1>) -> Tensor<1> {
        match self {
            Loss::Logistic => {
                let s = sigmoid(y * f);
                s.clone() * (s.neg().add_scalar(1.0))
            }
            Loss::Squared => f.ones_like(),
        }
    }
}

impl std::str::FromStr for Loss {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "logistic" => Ok(Loss::Logistic),
            "squared" => Ok(Loss::Squared),
            other => Err(format!(
                "unknown loss `{other}`: expected logistic or squared"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{Precision, tensor_from, to_f64};
    use burn::tensor::Device;

    /// Derivatives against central finite differences of the values, in f64.
    #[test]
    fn derivatives_match_finite_differences() {
        let device = Device::flex();
        let fs = [-3.0, -0.4, 0.0, 0.7, 5.0];
        let ys = [1.0, -1.0, 1.0, 1.0, -1.0];
        let t = |v: &[f64]| tensor_from(v, [v.len()], &device, Precision::F64);
        let h = 1e-5;
        for loss in [Loss::Logistic, Loss::Squared] {
            let at = |shift: f64| {
                let f: Vec<f64> = fs.iter().map(|f| f + shift).collect();
                to_f64(loss.values(t(&f), t(&ys)))
            };
            let d1 = to_f64(loss.d1(t(&fs), t(&ys)));
            let d1_at = |shift: f64| {
                let f: Vec<f64> = fs.iter().map(|f| f + shift).collect();
                to_f64(loss.d1(t(&f), t(&ys)))
            };
            let d2 = to_f64(loss.d2(t(&fs), t(&ys)));
            let (plus, minus) = (at(h), at(-h));
            let (d1p, d1m) = (d1_at(h), d1_at(-h));
            for i in 0..fs.len() {
                let fd1 = (plus[i] - minus[i]) / (2.0 * h);
                let fd2 = (d1p[i] - d1m[i]) / (2.0 * h);
                assert!(
                    (d1[i] - fd1).abs() < 1e-8,
                    "{loss:?} d1: rust={}, reference={fd1}",
                    d1[i]
                );
                assert!(
                    (d2[i] - fd2).abs() < 1e-8,
                    "{loss:?} d2: rust={}, reference={fd2}",
                    d2[i]
                );
            }
        }
    }

    #[test]
    fn logistic_loss_does_not_overflow() {
        let device = Device::flex();
        let f = tensor_from(&[-1000.0, 1000.0], [2], &device, Precision::F64);
        let y = tensor_from(&[1.0, 1.0], [2], &device, Precision::F64);
        let v = to_f64(Loss::Logistic.values(f, y));
        assert_eq!(v[0], 1000.0);
        assert_eq!(v[1], 0.0);
    }
}
