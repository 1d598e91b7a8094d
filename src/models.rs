//! The one place the CLI lists its models. A model is selected by `[model] kind = "cnn" | "mlp"`
//! (or `--model`); the rest of the `[model]` section is that model's own config. The weights
//! file records the model in its safetensors metadata (`model`, and `activation` for the MLP)
//! so that `frontier coherence` can reload it; a file without metadata is read as a CNN.
//!
//! Adding a model: a variant in [`ModelKind`], [`ModelConfig`] and [`Net`] (with their match
//! arms: init, pre-training, coherence, weights file) and one arm in [`ModelKind::with`], the
//! dispatch from the enum to the code generic over [`ModelSpec`] (unlearning grids, figures).

use std::collections::HashMap;

use anyhow::{Result, bail};
use burn::tensor::{Device, Tensor};
use clap::ValueEnum;
use frontier_mlp::{Activation, Mlp, MlpConfig};
use frontier_model::{
    Cnn, CnnConfig, DataConfig, DeviceData, Loss, Model, ModelSpec, Precision, TrainConfig,
    TrainReport, pretrain, tensor_from, to_f64,
};
use frontier_probes::{CoherenceReport, GenericOptions, model_coherence_report};
use serde::{Deserialize, Deserializer, Serialize};

use crate::tensors::{HostTensor, TensorFile};

/// The models the CLI knows (`--model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// The two-layer ReLU CNN (rank-one curvature).
    Cnn,
    /// The two-layer MLP with a smooth activation (generic curvature path).
    Mlp,
}

impl ModelKind {
    /// Its name: the `--model` value and `[model] kind`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Cnn => "cnn",
            ModelKind::Mlp => "mlp",
        }
    }

    /// The `--set` override that selects this model.
    pub fn override_item(self) -> String {
        format!("model.kind={}", self.name())
    }

    /// Runs `task` with this model's registered settings: the one dispatch from the enum to
    /// code generic over [`ModelSpec`]. The MLP of the figures is narrower than its default
    /// and pre-trains at a smaller η (it is unstable at the CNN's η = 1).
    pub fn with<T: WithModel>(self, task: T) -> T::Output {
        match self {
            ModelKind::Cnn => task.run(Registered {
                name: self.name(),
                config: CnnConfig::default(),
                quick: CnnConfig {
                    m: 5,
                    ..CnnConfig::default()
                },
                pretrain_eta: 1.0,
            }),
            ModelKind::Mlp => task.run(Registered {
                name: self.name(),
                config: MlpConfig {
                    hidden: 10,
                    ..MlpConfig::default()
                },
                quick: MlpConfig {
                    hidden: 5,
                    ..MlpConfig::default()
                },
                pretrain_eta: 0.5,
            }),
        }
    }

    /// Every registered model, in `--model` order.
    pub fn all() -> &'static [ModelKind] {
        ModelKind::value_variants()
    }
}

/// A registered model's settings for the figures.
#[derive(Debug, Clone)]
pub struct Registered<C> {
    /// Its name: the `--model` value, in file stems, legends and titles.
    pub name: &'static str,
    /// Its config in the full figure set.
    pub config: C,
    /// Its (smaller) config under `--quick`.
    pub quick: C,
    /// Pre-training η with the logistic loss.
    pub pretrain_eta: f64,
}

impl<C: ModelSpec> Registered<C> {
    /// The config of the full set or of `--quick`.
    pub fn config(&self, quick: bool) -> &C {
        if quick { &self.quick } else { &self.config }
    }

    /// Whether its per-sample Hessians are rank one (asked of a small instance: the answer is
    /// the model's, not the weights').
    pub fn rank_one(&self) -> Result<bool> {
        let data = DataConfig {
            d: 1,
            ..DataConfig::default()
        };
        let device = crate::backend::Backend::cpu_device()?;
        Ok(self
            .config
            .init(&data, &device, Precision::F32)?
            .rank_one_hessians())
    }
}

/// Code generic over the model, run for one registered model by [`ModelKind::with`].
pub trait WithModel {
    /// What the task returns.
    type Output;
    /// Runs the task for the model whose settings are `model`.
    fn run<C: ModelSpec>(self, model: Registered<C>) -> Self::Output;
}

/// The `[model]` section: which model, and its config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModelConfig {
    /// `kind = "cnn"` (the default).
    Cnn(CnnConfig),
    /// `kind = "mlp"`.
    Mlp(MlpConfig),
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig::Cnn(CnnConfig::default())
    }
}

/// Reads a `[model]` table, `kind` defaulting to "cnn".
pub fn deserialize_model<'de, D: Deserializer<'de>>(d: D) -> Result<ModelConfig, D::Error> {
    let mut table = toml::Table::deserialize(d)?;
    table
        .entry("kind")
        .or_insert_with(|| toml::Value::String("cnn".into()));
    ModelConfig::deserialize(toml::Value::Table(table)).map_err(serde::de::Error::custom)
}

impl ModelConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        match self {
            ModelConfig::Cnn(c) => c.validate()?,
            ModelConfig::Mlp(c) => c.validate()?,
        }
        Ok(())
    }

    /// A freshly initialised model for the data of `data`.
    pub fn init(&self, data: &DataConfig, device: &Device, precision: Precision) -> Result<Net> {
        Ok(match self {
            ModelConfig::Cnn(c) => Net::Cnn(c.init(data.d, device, precision)?),
            ModelConfig::Mlp(c) => Net::Mlp(c.init([data.patches, data.d], device, precision)?),
        })
    }
}

/// A model instance of any registered kind.
#[derive(Debug, Clone)]
pub enum Net {
    /// The CNN.
    Cnn(Cnn),
    /// The MLP.
    Mlp(Mlp),
}

impl Net {
    /// Number of parameters p.
    pub fn param_count(&self) -> usize {
        match self {
            Net::Cnn(m) => m.param_count(),
            Net::Mlp(m) => m.param_count(),
        }
    }

    /// Full-batch pre-training.
    pub fn pretrain(&mut self, data: &DeviceData, cfg: &TrainConfig) -> Result<TrainReport> {
        Ok(match self {
            Net::Cnn(m) => pretrain(m, data, cfg)?,
            Net::Mlp(m) => pretrain(m, data, cfg)?,
        })
    }

    /// The coherence report at the current parameters, by the path the model calls for: the
    /// rank-one shortcut for the CNN (exact), the generic finite-difference/Hutchinson path
    /// for the MLP (needs f64).
    pub fn coherence(
        &self,
        loss: Loss,
        x: Tensor<3>,
        y: Tensor<1>,
        forget: &[bool],
        alpha: f64,
    ) -> Result<CoherenceReport> {
        let options = GenericOptions::default();
        Ok(match self {
            Net::Cnn(m) => model_coherence_report(m, loss, x, y, forget, alpha, &options)?,
            Net::Mlp(m) => model_coherence_report(m, loss, x, y, forget, alpha, &options)?,
        })
    }

    /// The weights as named host tensors, and the metadata that identifies the model.
    pub fn weights(&self) -> (Vec<HostTensor>, HashMap<String, String>) {
        let host = |name: &str, t: Tensor<2>| {
            let shape = t.dims().to_vec();
            HostTensor::new(name, shape, to_f64(t))
        };
        match self {
            Net::Cnn(m) => (
                vec![host("w_pos", m.w_pos.val()), host("w_neg", m.w_neg.val())],
                meta(&[("model", "cnn")]),
            ),
            Net::Mlp(m) => {
                let (h, _) = m.dims();
                (
                    vec![
                        host("w", m.w.val()),
                        HostTensor::new("b", vec![h], to_f64(m.b.val())),
                        HostTensor::new("v", vec![h], to_f64(m.v.val())),
                    ],
                    meta(&[("model", "mlp"), ("activation", m.activation.name())]),
                )
            }
        }
    }

    /// Reloads a model from a weights file for inputs of shape [P, d], checking every shape.
    pub fn load(
        file: &TensorFile,
        input: [usize; 2],
        device: &Device,
        precision: Precision,
    ) -> Result<Net> {
        let [patches, d] = input;
        let kind = file.metadata("model").unwrap_or("cnn");
        let tensor = |t: &HostTensor| -> Tensor<2> {
            tensor_from(&t.values, [t.shape[0], t.shape[1]], device, precision)
        };
        let vector = |t: &HostTensor| -> Tensor<1> {
            tensor_from(&t.values, [t.shape[0]], device, precision)
        };
        match kind {
            "cnn" => {
                let w_pos = file.get("w_pos", 2)?;
                let w_neg = file.get("w_neg", 2)?;
                let m = w_pos.shape[0];
                for w in [&w_pos, &w_neg] {
                    expect_shape(w, &[m, d], "d from `x`, m from `w_pos`")?;
                }
                Ok(Net::Cnn(Cnn::from_filters(tensor(&w_pos), tensor(&w_neg))))
            }
            "mlp" => {
                let w = file.get("w", 2)?;
                let h = w.shape[0];
                expect_shape(&w, &[h, patches * d], "P·d from `x`")?;
                let b = file.get("b", 1)?;
                let v = file.get("v", 1)?;
                expect_shape(&b, &[h], "h from `w`")?;
                expect_shape(&v, &[h], "h from `w`")?;
                let activation: Activation = file
                    .metadata("activation")
                    .unwrap_or("softplus")
                    .parse()
                    .map_err(anyhow::Error::msg)?;
                Ok(Net::Mlp(Mlp::from_weights(
                    tensor(&w),
                    vector(&b),
                    vector(&v),
                    activation,
                )))
            }
            other => {
                bail!("weights file metadata names an unknown model `{other}` (known: cnn, mlp)")
            }
        }
    }
}

fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Errors unless `t` has shape `shape`.
fn expect_shape(t: &HostTensor, shape: &[usize], why: &str) -> Result<()> {
    if t.shape != shape {
        bail!(
            "tensor `{}` has shape {:?}, expected {shape:?} ({why})",
            t.name,
            t.shape
        );
    }
    Ok(())
}
