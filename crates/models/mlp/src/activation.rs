//! The smooth activations of the MLP and their first derivatives.

use burn::tensor::{Tensor, activation::sigmoid};
use serde::{Deserialize, Serialize};

/// A smooth (C^∞) activation, so that per-sample Hessians exist everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// softplus(z) = log(1 + e^z); derivative sigmoid(z).
    #[default]
    Softplus,
    /// tanh(z); derivative 1 − tanh²(z).
    Tanh,
}

impl Activation {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Softplus => "softplus",
            Activation::Tanh => "tanh",
        }
    }

    /// act(z), element-wise. Softplus is written as max(z, 0) + log1p(e^{−|z|}): it never
    /// overflows and, unlike a thresholded softplus, is exactly smooth (no switch at large z
    /// for finite differences to trip over).
    pub fn apply<const D: usize>(self, z: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Softplus => z.clone().clamp_min(0.0) + (-z.abs()).exp().log1p(),
            Activation::Tanh => z.tanh(),
        }
    }

    /// act'(z), element-wise.
    pub fn derivative<const D: usize>(self, z: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Softplus => sigmoid(z),
            Activation::Tanh => z.tanh().powi_scalar(2).neg().add_scalar(1.0),
        }
    }
}

impl std::str::FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "softplus" => Ok(Activation::Softplus),
            "tanh" => Ok(Activation::Tanh),
            other => Err(format!(
                "unknown activation `{other}`: expected softplus or tanh"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use frontier_model::{Precision, tensor_from, to_f64};

    /// Values against f64 closed forms; derivatives against central differences.
    #[test]
    fn values_and_derivatives_are_correct_in_f64() {
        let device = Device::flex();
        let zs = [-40.0, -3.0, -0.2, 0.0, 0.5, 4.0, 40.0];
        let t = |v: &[f64]| tensor_from(v, [v.len()], &device, Precision::F64);
        let h = 1e-6;
        for act in [Activation::Softplus, Activation::Tanh] {
            let values = to_f64(act.apply(t(&zs)));
            let d = to_f64(act.derivative(t(&zs)));
            let shifted = |s: f64| to_f64(act.apply(t(&zs.map(|z| z + s))));
            let (plus, minus) = (shifted(h), shifted(-h));
            for (i, &z) in zs.iter().enumerate() {
                let reference = match act {
                    Activation::Softplus => z.max(0.0) + (-z.abs()).exp().ln_1p(),
                    Activation::Tanh => z.tanh(),
                };
                assert!(
                    (values[i] - reference).abs() <= 1e-15 * reference.abs().max(1.0),
                    "{act:?}({z}): rust={}, reference={reference}",
                    values[i]
                );
                let fd = (plus[i] - minus[i]) / (2.0 * h);
                assert!(
                    (d[i] - fd).abs() < 1e-8,
                    "{act:?}'({z}): rust={}, reference={fd}",
                    d[i]
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for act in [Activation::Softplus, Activation::Tanh] {
            assert_eq!(act.name().parse::<Activation>().unwrap(), act);
        }
        assert!("relu".parse::<Activation>().is_err());
    }
}
