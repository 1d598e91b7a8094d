//! The one place the CLI lists its models: the `registry!` invocation below. Each entry names
//! the model (`--model`, `[model] kind`), its config type (a [`ModelSpec`]), its smaller
//! `--quick` figure config and whether it runs on the signal-plus-noise data; its defaults
//! live in `assets/configs/models/<name>.toml` (layered under a user's config, embedded in
//! the binary). Everything else is generic over [`ModelSpec`]: pre-training, the coherence
//! report, weights files ([`crate::weights`]: one safetensors tensor per
//! `Model::param_blocks` block, the config in the file's metadata), grids and figures
//! (through [`ModelKind::with`] and [`WithModel`]).

use anyhow::Result;
use clap::ValueEnum;
use frontier_convnet::ConvnetConfig;
use frontier_mlp::MlpConfig;
use frontier_model::{CnnConfig, Model, ModelSpec, Precision, TrainConfig};
use serde::{Deserialize, Deserializer, Serialize};

/// Declares the registered models: the [`ModelKind`] and [`ModelConfig`] enums and their
/// dispatch to code generic over [`ModelSpec`].
macro_rules! registry {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident($name:literal, $config:ident) {
            quick: { $($field:ident: $value:expr),* $(,)? },
            synthetic: $synthetic:literal $(,)?
        }
    )*) => {
        /// The models the CLI knows (`--model`, `[model] kind`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
        pub enum ModelKind {
            $($(#[doc = $doc])* #[value(name = $name)] $variant,)*
        }

        /// The `[model]` section: which model (`kind`), then that model's own keys.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum ModelConfig {
            $($(#[doc = $doc])* #[serde(rename = $name)] $variant($config),)*
        }

        impl ModelKind {
            /// Its name: the `--model` value and `[model] kind`.
            pub fn name(self) -> &'static str {
                match self {
                    $(ModelKind::$variant => $name,)*
                }
            }

            /// Its defaults, `assets/configs/models/<name>.toml`: a partial config layered
            /// under the user's.
            pub fn defaults(self) -> &'static str {
                match self {
                    $(ModelKind::$variant => include_str!(concat!(
                        "../assets/configs/models/", $name, ".toml"
                    )),)*
                }
            }

            /// Whether it runs on the signal-plus-noise data (figures 3–7); false for models
            /// of images.
            pub fn runs_on_synthetic(self) -> bool {
                match self {
                    $(ModelKind::$variant => $synthetic,)*
                }
            }

            /// Runs `task` with this model's registered settings (its defaults): the one
            /// dispatch from the enum to code generic over [`ModelSpec`].
            pub fn with<T: WithModel>(self, task: T) -> T::Output {
                match self {
                    $(ModelKind::$variant => task.run(Registered::new(
                        self,
                        None,
                        |c: &$config| $config { $($field: $value,)* ..c.clone() },
                    )),)*
                }
            }
        }

        impl ModelConfig {
            /// Which model it configures.
            pub fn kind(&self) -> ModelKind {
                match self {
                    $(ModelConfig::$variant(_) => ModelKind::$variant,)*
                }
            }

            /// Checks every field.
            pub fn validate(&self) -> Result<()> {
                match self {
                    $(ModelConfig::$variant(c) => ModelSpec::validate(c)?,)*
                }
                Ok(())
            }

            /// Runs `task` with this config as the registered model's `config`.
            pub fn with<T: WithModel>(&self, task: T) -> T::Output {
                match self {
                    $(ModelConfig::$variant(c) => task.run(Registered::new(
                        ModelKind::$variant,
                        Some(c.clone()),
                        |c: &$config| $config { $($field: $value,)* ..c.clone() },
                    )),)*
                }
            }
        }
    };
}

registry! {
    /// The two-layer ReLU CNN (rank-one curvature).
    Cnn("cnn", CnnConfig) {
        quick: { m: 5 },
        synthetic: true,
    }
    /// The two-layer MLP with a smooth activation (generic curvature path).
    Mlp("mlp", MlpConfig) {
        quick: { hidden: 5 },
        synthetic: true,
    }
    /// The convolutional network for images (two 3×3 convolutions; exact and Gauss–Newton
    /// curvature).
    Convnet("convnet", ConvnetConfig) {
        quick: { conv1: 4, conv2: 8 },
        synthetic: false,
    }
}

impl ModelKind {
    /// The `--set` override that selects this model.
    pub fn override_item(self) -> String {
        format!("model.kind={}", self.name())
    }

    /// Every registered model that runs on the signal-plus-noise data (the models figure 7
    /// compares), in `--model` order.
    pub fn all() -> Vec<ModelKind> {
        ModelKind::value_variants()
            .iter()
            .copied()
            .filter(|k| k.runs_on_synthetic())
            .collect()
    }

    /// The model named `name`, if one is registered.
    pub fn from_name(name: &str) -> Option<ModelKind> {
        ModelKind::value_variants()
            .iter()
            .copied()
            .find(|k| k.name() == name)
    }

    /// Its defaults as a TOML table.
    pub fn defaults_table(self) -> toml::Table {
        toml::from_str(self.defaults()).unwrap_or_else(|e| {
            panic!(
                "assets/configs/models/{}.toml is valid TOML (tested): {e}",
                self.name()
            )
        })
    }
}

/// The registered names, comma-separated (for messages).
pub fn known_names() -> String {
    ModelKind::value_variants()
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A registered model's settings for the figures.
#[derive(Debug, Clone)]
pub struct Registered<C> {
    /// Its name: the `--model` value, in file stems, legends and titles.
    pub name: &'static str,
    /// Its config in the full figure set (its defaults, or the config a command was given).
    pub config: C,
    /// Its (smaller) config under `--quick`.
    pub quick: C,
    /// Pre-training η with the logistic loss (`train.eta` of its defaults).
    pub pretrain_eta: f64,
}

impl<C: ModelSpec> Registered<C> {
    /// The settings of `kind`: `config`, else the `[model]` section of its defaults; `quick`
    /// derives the `--quick` config from it.
    fn new(kind: ModelKind, config: Option<C>, quick: impl Fn(&C) -> C) -> Self {
        let mut defaults = kind.defaults_table();
        let section = |name: &str, defaults: &mut toml::Table| match defaults.remove(name) {
            Some(toml::Value::Table(t)) => t,
            _ => toml::Table::new(),
        };
        let config = config.unwrap_or_else(|| {
            let mut model = section("model", &mut defaults);
            model.remove("kind");
            C::deserialize(toml::Value::Table(model)).unwrap_or_else(|e| {
                panic!(
                    "the [model] section of {}.toml is valid (tested): {e}",
                    kind.name()
                )
            })
        });
        let train: TrainConfig =
            TrainConfig::deserialize(toml::Value::Table(section("train", &mut defaults)))
                .unwrap_or_else(|e| {
                    panic!(
                        "the [train] section of {}.toml is valid (tested): {e}",
                        kind.name()
                    )
                });
        Registered {
            name: kind.name(),
            quick: quick(&config),
            config,
            pretrain_eta: train.eta,
        }
    }

    /// The config of the full set or of `--quick`.
    pub fn config(&self, quick: bool) -> &C {
        if quick { &self.quick } else { &self.config }
    }

    /// Whether its per-sample Hessians are rank one (asked of a small instance: the answer is
    /// the model's, not the weights').
    pub fn rank_one(&self) -> Result<bool> {
        let device = crate::backend::Backend::cpu_device()?;
        let input = self.config.example_input();
        Ok(self
            .config
            .init_input(input, &device, Precision::F32)?
            .rank_one_hessians())
    }
}

/// Code generic over the model, run for one registered model by [`ModelKind::with`] or
/// [`ModelConfig::with`].
pub trait WithModel {
    /// What the task returns.
    type Output;
    /// Runs the task for the model whose settings are `model`.
    fn run<C: ModelSpec>(self, model: Registered<C>) -> Self::Output;
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    /// Whether `config` builds a model for its example input.
    fn builds<C: ModelSpec>(config: &C, device: &Device) -> bool {
        config
            .init_input(config.example_input(), device, Precision::F64)
            .is_ok()
    }

    /// Each model's defaults parse, build a model, and name their own kind.
    struct Check;

    impl WithModel for Check {
        type Output = (String, bool, f64);
        fn run<C: ModelSpec>(self, model: Registered<C>) -> Self::Output {
            let device = crate::backend::Backend::cpu_device().unwrap();
            (
                model.name.to_string(),
                builds(&model.config, &device) && builds(&model.quick, &device),
                model.pretrain_eta,
            )
        }
    }

    #[test]
    fn every_model_has_valid_defaults() {
        for &kind in ModelKind::value_variants() {
            let (name, ok, eta) = kind.with(Check);
            assert_eq!(name, kind.name());
            assert!(ok, "{name}: its default and quick configs build a model");
            assert!(eta > 0.0);
            let table = kind.defaults_table();
            assert_eq!(
                table["model"]["kind"].as_str(),
                Some(kind.name()),
                "{name}.toml names its own kind"
            );
            assert_eq!(ModelKind::from_name(kind.name()), Some(kind));
        }
        assert!(ModelKind::all().contains(&ModelKind::Cnn));
        assert!(!ModelKind::all().contains(&ModelKind::Convnet));
    }
}
