//! The MLP's configuration (the `[model]` section of a config file when `model = "mlp"`).

use burn::tensor::Device;
use std::collections::BTreeMap;

use frontier_model::{ModelSpec, Precision, tensor_from};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::error::{Result, invalid};
use crate::mlp::Mlp;

/// Shape and initialisation of the two-layer MLP f(x) = v·act(W x + b).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpConfig {
    /// Hidden width h (≥ 1).
    pub hidden: usize,
    /// The activation: "softplus" or "tanh".
    pub activation: Activation,
    /// Standard deviation σ_0 of the N(0, σ_0²) initialisation of the first layer W and its
    /// bias b (finite, ≥ 0).
    pub sigma_0: f64,
    /// Standard deviation σ_1 of the N(0, σ_1²) initialisation of the (trainable) second
    /// layer v (finite, ≥ 0).
    pub sigma_1: f64,
    /// Seed of the initialisation's own random stream (no backend RNG is used).
    pub seed: u64,
}

impl Default for MlpConfig {
    /// h = 20, softplus, σ_0 = 0.01 (pre-activations ≈ 0.3 at the default data sizes), σ_1 =
    /// 0.1, seed 1.
    fn default() -> Self {
        Self {
            hidden: 20,
            activation: Activation::Softplus,
            sigma_0: 0.01,
            sigma_1: 0.1,
            seed: 1,
        }
    }
}

impl MlpConfig {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<()> {
        if self.hidden == 0 {
            return Err(invalid("model.hidden", "must be at least 1, got 0"));
        }
        for (field, sigma) in [
            ("model.sigma_0", self.sigma_0),
            ("model.sigma_1", self.sigma_1),
        ] {
            if !(sigma >= 0.0 && sigma.is_finite()) {
                return Err(invalid(
                    field,
                    format!("must be a finite number ≥ 0, got {sigma}"),
                ));
            }
        }
        Ok(())
    }

    /// An MLP for inputs of shape `[patches, d]` (flattened to D = patches·d), drawn in the
    /// order W (row-major), b, v from a ChaCha8 stream seeded with `seed`.
    pub fn init(&self, input: [usize; 2], device: &Device, precision: Precision) -> Result<Mlp> {
        self.validate()?;
        let [patches, d] = input;
        if patches == 0 {
            return Err(invalid("data.patches", "must be at least 1, got 0"));
        }
        if d == 0 {
            return Err(invalid("data.d", "must be at least 1, got 0"));
        }
        if frontier_model::data::values(&[self.hidden, patches, d]).is_none() {
            return Err(invalid(
                "model.hidden",
                format!(
                    "model.hidden × data.patches × data.d = {} × {patches} × {d} parameters \
                     exceed the address space",
                    self.hidden
                ),
            ));
        }
        let (h, dim) = (self.hidden, patches * d);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut draw = |len: usize, sigma: f64| -> Vec<f64> {
            (0..len)
                .map(|_| sigma * rng.sample::<f64, _>(StandardNormal))
                .collect()
        };
        let w = draw(h * dim, self.sigma_0);
        let b = draw(h, self.sigma_0);
        let v = draw(h, self.sigma_1);
        Ok(Mlp::from_weights(
            tensor_from(&w, [h, dim], device, precision),
            tensor_from(&b, [h], device, precision),
            tensor_from(&v, [h], device, precision),
            self.activation,
        ))
    }
}

impl ModelSpec for MlpConfig {
    type Model = Mlp;

    fn init_input(
        &self,
        input: [usize; 2],
        device: &Device,
        precision: Precision,
    ) -> frontier_model::Result<Mlp> {
        Ok(MlpConfig::init(self, input, device, precision)?)
    }

    /// h from the first dimension of `w`.
    fn fit_param_shapes(&self, shapes: &BTreeMap<String, Vec<usize>>) -> Self {
        match shapes.get("w").and_then(|s| s.first()) {
            Some(&hidden) => Self {
                hidden,
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    fn with_seed(&self, seed: u64) -> Self {
        Self {
            seed,
            ..self.clone()
        }
    }

    fn validate(&self) -> frontier_model::Result<()> {
        Ok(MlpConfig::validate(self)?)
    }

    fn describe(&self) -> String {
        format!("h = {}, {}", self.hidden, self.activation.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontier_model::{DataConfig, Model};

    #[test]
    fn validate_names_the_field() {
        let bad = |cfg: MlpConfig, field: &str| {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        };
        bad(
            MlpConfig {
                hidden: 0,
                ..MlpConfig::default()
            },
            "model.hidden",
        );
        bad(
            MlpConfig {
                sigma_0: -1.0,
                ..MlpConfig::default()
            },
            "model.sigma_0",
        );
        bad(
            MlpConfig {
                sigma_1: f64::NAN,
                ..MlpConfig::default()
            },
            "model.sigma_1",
        );
        let device = Device::flex();
        let err = MlpConfig::default()
            .init([2, 0], &device, Precision::F32)
            .unwrap_err();
        assert!(err.to_string().contains("data.d"), "{err}");
    }

    #[test]
    fn toml_style_keys_and_unknown_keys() {
        let cfg: MlpConfig = serde_json::from_str(r#"{"hidden": 8, "activation": "tanh"}"#)
            .expect("known keys parse");
        assert_eq!((cfg.hidden, cfg.activation), (8, Activation::Tanh));
        assert!(serde_json::from_str::<MlpConfig>(r#"{"width": 8}"#).is_err());
    }

    #[test]
    fn the_spec_builds_from_the_data_config_and_reports_errors_by_field() {
        let device = Device::flex();
        let data = DataConfig {
            d: 4,
            ..DataConfig::default()
        };
        let cfg = MlpConfig {
            hidden: 3,
            ..MlpConfig::default()
        };
        let mlp = ModelSpec::init(&cfg, &data, &device, Precision::F64).unwrap();
        assert_eq!(mlp.param_count(), 3 * (data.patches * 4 + 2));
        assert!(!mlp.rank_one_hessians());
        let reseeded = cfg.with_seed(9);
        assert_eq!((reseeded.seed, reseeded.hidden), (9, 3));
        assert_eq!(cfg.describe(), "h = 3, softplus");
        let bad = MlpConfig {
            hidden: 0,
            ..MlpConfig::default()
        };
        let err = ModelSpec::validate(&bad).unwrap_err().to_string();
        assert!(err.contains("model.hidden"), "{err}");
    }

    #[test]
    fn init_is_seeded_and_sized() {
        let device = Device::flex();
        let cfg = MlpConfig {
            hidden: 3,
            ..MlpConfig::default()
        };
        let a = cfg.init([2, 4], &device, Precision::F64).unwrap();
        let b = cfg.init([2, 4], &device, Precision::F64).unwrap();
        assert_eq!(a.param_count(), 3 * (8 + 2));
        assert_eq!(
            frontier_model::to_f64(a.params()),
            frontier_model::to_f64(b.params())
        );
        assert_eq!(a.params().dtype(), burn::tensor::DType::F64);
    }
}
