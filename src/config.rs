//! Experiment configs: TOML files with `deny_unknown_fields`, `--set key=value` overrides, and
//! the resolved config written next to every output.

use std::path::Path;

use anyhow::{Context, Result, bail};
use frontier_model::{DataSource, Precision, TrainConfig};
use serde::{Deserialize, Deserializer, Serialize};

use crate::models::{ModelConfig, ModelKind};

/// One experiment: the data, the model and its pre-training. Every field has a default, so an
/// empty file is a valid config (see `assets/configs/default.toml` for all keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentConfig {
    /// Float precision of the model's tensors: "f32" (default) or "f64".
    pub dtype: Precision,
    /// The data: `source = "synthetic"` (the default; signal-plus-noise keys) or `"file"`
    /// (a safetensors data file, its binary mapping and forget kind).
    #[serde(deserialize_with = "deserialize_data")]
    pub data: DataSource,
    /// The model: `kind` names a registered model (`crate::models`; default "cnn"), then that
    /// model's keys.
    #[serde(deserialize_with = "crate::models::deserialize_model")]
    pub model: ModelConfig,
    /// Full-batch pre-training.
    pub train: TrainConfig,
}

impl ExperimentConfig {
    /// Reads `path` (or the defaults when `None`), applies `key=value` overrides with dotted
    /// keys (`data.snr=0.5`), layers the result over the chosen model's defaults
    /// (`assets/configs/models/<kind>.toml`: a key given here wins), and validates every
    /// section.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config file {}", p.display()))?,
            None => String::new(),
        };
        let mut table: toml::Table = toml::from_str(&text).with_context(|| match path {
            Some(p) => format!("config file {} is not valid TOML", p.display()),
            None => "invalid default config".into(),
        })?;
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        let kind = table
            .get("model")
            .and_then(|m| m.get("kind"))
            .and_then(|k| k.as_str())
            .unwrap_or("cnn");
        if let Some(kind) = ModelKind::from_name(kind) {
            let mut layered = kind.defaults_table();
            merge(&mut layered, table);
            table = layered;
        }
        let config: Self = toml::Value::Table(table)
            .try_into()
            .context("invalid config (see assets/configs/default.toml for every key)")?;
        config.data.validate()?;
        config.model.validate()?;
        config.train.validate()?;
        Ok(config)
    }

    /// The config as TOML, every field written out.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config always serialises")
    }
}

/// Reads a `[data]` table, `source` defaulting to "synthetic".
fn deserialize_data<'de, D: Deserializer<'de>>(d: D) -> Result<DataSource, D::Error> {
    let mut table = toml::Table::deserialize(d)?;
    table
        .entry("source")
        .or_insert_with(|| toml::Value::String("synthetic".into()));
    DataSource::deserialize(toml::Value::Table(table)).map_err(serde::de::Error::custom)
}

/// Merges `top` into `base`: tables key by key (recursively), anything else replaced; a table
/// whose `source` differs (another kind of data) replaces the base's whole.
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t))
                if t.get("source").is_none_or(|s| Some(s) == b.get("source")) =>
            {
                merge(b, t)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Applies one `key=value` override; the value is parsed as TOML (a number, a boolean, a quoted
/// string) and falls back to a bare string.
fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let Some((key, raw)) = item.split_once('=') else {
        bail!("--set expects key=value, got `{item}`");
    };
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut parts: Vec<&str> = key.trim().split('.').collect();
    let last = parts.pop().filter(|s| !s.is_empty());
    let Some(last) = last else {
        bail!("--set: empty key in `{item}`");
    };
    let mut node = table;
    for part in parts {
        node = node
            .entry(part)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .with_context(|| format!("--set {key}: `{part}` is not a section"))?;
    }
    node.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_reach_nested_fields_and_unknown_keys_are_refused() {
        let cfg =
            ExperimentConfig::load(None, &["data.snr=0.5".into(), "train.loss=squared".into()])
                .unwrap();
        let DataSource::Synthetic(data) = &cfg.data else {
            panic!("synthetic by default: {cfg:?}");
        };
        assert_eq!(data.snr, 0.5);
        assert_eq!(cfg.train.loss, frontier_model::Loss::Squared);
        let err = ExperimentConfig::load(None, &["data.snrr=0.5".into()]).unwrap_err();
        assert!(format!("{err:#}").contains("snrr"), "{err:#}");
    }

    #[test]
    fn a_model_s_defaults_sit_under_the_user_s_keys() {
        let mlp = ExperimentConfig::load(None, &["model.kind=mlp".into()]).unwrap();
        assert_eq!(mlp.train.eta, 0.5, "from mlp.toml");
        let mine = ExperimentConfig::load(None, &["model.kind=mlp".into(), "train.eta=0.2".into()])
            .unwrap();
        assert_eq!(mine.train.eta, 0.2, "the user's key wins");
        let convnet = ExperimentConfig::load(None, &["model.kind=convnet".into()]).unwrap();
        assert!(matches!(convnet.data, DataSource::File(_)), "{convnet:?}");
        let synthetic = ExperimentConfig::load(
            None,
            &["model.kind=convnet".into(), "data.source=synthetic".into()],
        )
        .unwrap();
        assert_eq!(
            synthetic.data,
            DataSource::default(),
            "the file keys are dropped"
        );
        let cnn = ExperimentConfig::load(None, &["model.kind=cnn".into()]).unwrap();
        assert_eq!(cnn, ExperimentConfig::default());
    }

    #[test]
    fn the_shipped_default_config_is_the_built_in_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/configs/default.toml");
        let cfg = ExperimentConfig::load(Some(&path), &[]).unwrap();
        assert_eq!(cfg, ExperimentConfig::default());
    }
}
