//! Experiment configs: TOML files with `deny_unknown_fields`, `--set key=value` overrides, and
//! the resolved config written next to every output.

use std::path::Path;

use anyhow::{Context, Result, bail};
use frontier_model::{DataConfig, DataSource, FileData, Precision, TrainConfig};
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
        // `[data]` on its own, so that its errors name the key inside it (`data.snr`).
        let data = match table.remove("data") {
            None => toml::Table::new(),
            Some(toml::Value::Table(t)) => t,
            Some(other) => bail!(
                "config key `data`: expected a table, got {} (see assets/configs/default.toml \
                 for every key)",
                other.type_str()
            ),
        };
        let mut config: Self = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| invalid_config(&e, ""))?;
        config.data = data_source(data).map_err(|e| invalid_config(&e, "data"))?;
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

/// Reads a `[data]` table ([`data_source`]).
fn deserialize_data<'de, D: Deserializer<'de>>(d: D) -> Result<DataSource, D::Error> {
    data_source(toml::Table::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// A `[data]` table as a [`DataSource`]: `source` selects the variant ("synthetic" by
/// default), whose own keys are then read directly, so that errors keep their key.
fn data_source(mut table: toml::Table) -> Result<DataSource, toml::de::Error> {
    let source = table.remove("source");
    let table = toml::Value::Table(table);
    match source.as_ref().map(|s| s.as_str()) {
        None | Some(Some("synthetic")) => DataConfig::deserialize(table).map(DataSource::Synthetic),
        Some(Some("file")) => FileData::deserialize(table).map(DataSource::File),
        _ => Err(serde::de::Error::custom(format!(
            "`source` = {}: expected \"synthetic\" or \"file\"",
            source.expect("matched above")
        ))),
    }
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

/// A deserialisation error of the table at `section` ("" for the whole config) as one message
/// that names the key first: "config key `data.snr`: invalid type: …".
fn invalid_config(e: &toml::de::Error, section: &str) -> anyhow::Error {
    let text = e.to_string();
    let (message, inner) = match text.split_once("\nin `") {
        Some((message, rest)) => (message.trim(), rest.trim().trim_end_matches('`')),
        None => (text.trim(), ""),
    };
    let path = match (section, inner) {
        (s, p) if s.is_empty() || p.is_empty() => format!("{s}{p}"),
        (s, p) => format!("{s}.{p}"),
    };
    let path = path.as_str();
    // "unknown field `x`" at path `data`: the culprit is `data.x`.
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'));
    let (key, message) = match unknown {
        Some((field, expected)) if path.is_empty() => {
            (field.to_string(), format!("unknown key{expected}"))
        }
        Some((field, expected)) => (format!("{path}.{field}"), format!("unknown key{expected}")),
        None => (path.to_string(), message.to_string()),
    };
    if key.is_empty() {
        anyhow::anyhow!("invalid config: {message} (see assets/configs/default.toml for every key)")
    } else {
        anyhow::anyhow!(
            "config key `{key}`: {message} (see assets/configs/default.toml for every key)"
        )
    }
}

/// Applies one `key=value` override. The key is dotted (`data.snr`), each part made of
/// letters, digits, `_` and `-`; the value is one TOML value (a number, a boolean, a quoted
/// string, an array) or a bare word such as `squared`. Line breaks and other control
/// characters are refused, so that one `--set` can never carry a second assignment.
pub(crate) fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    if let Some(c) = item.chars().find(|c| c.is_control()) {
        bail!(
            "--set `{}`: contains the control character {c:?}; give one key=value per --set",
            item.escape_debug()
        );
    }
    let Some((key, raw)) = item.split_once('=') else {
        bail!("--set `{item}`: expected key=value, e.g. data.snr=0.5");
    };
    let (key, raw) = (key.trim(), raw.trim());
    let parts: Vec<&str> = key.split('.').collect();
    if let Some(bad) = parts.iter().find(|part| {
        part.is_empty()
            || !part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) {
        bail!(
            "--set `{item}`: the key `{key}` has {}; keys look like section.key, e.g. data.snr",
            if bad.is_empty() {
                "an empty part".to_string()
            } else {
                format!("the invalid part `{bad}`")
            }
        );
    }
    let value =
        parse_value(raw).with_context(|| format!("--set `{item}`: the value of `{key}`"))?;
    let (last, sections) = parts.split_last().expect("split yields at least one part");
    let mut node = table;
    for (depth, part) in sections.iter().enumerate() {
        node = node
            .entry(*part)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .with_context(|| {
                format!(
                    "--set `{item}`: `{}` is a value, not a section",
                    parts[..=depth].join(".")
                )
            })?;
    }
    node.insert(last.to_string(), value);
    Ok(())
}

/// One TOML value, or a bare word (letters, digits, `_`, `-`, `.`) taken as a string.
fn parse_value(raw: &str) -> Result<toml::Value> {
    if raw.is_empty() {
        bail!("is empty");
    }
    if let Ok(mut table) = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        && table.len() == 1
        && let Some(value) = table.remove("v")
    {
        return Ok(value);
    }
    if raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Ok(toml::Value::String(raw.to_string()));
    }
    bail!("`{raw}` is not a TOML value (quote a string: key=\"text\")")
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

/// Generated hostile input: whatever `--set` items and TOML files say, loading a config (and
/// estimating its memory) returns a value or an error, never panics.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const KEYS: &[&str] = &[
        "data.n",
        "data.n_test",
        "data.d",
        "data.patches",
        "data.snr",
        "data.sigma_p",
        "data.mu_direction",
        "data.label_flip",
        "data.n_forget",
        "data.forget_fraction",
        "data.forget_from",
        "data.seed",
        "model.kind",
        "model.m",
        "model.hidden",
        "model.sigma_0",
        "model.activation",
        "train.eta",
        "train.loss",
        "train.max_steps",
        "dtype",
        "data",
        "model",
        "data.snr.x",
        "bogus.key",
    ];

    /// Values of every TOML type, edge cases included.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            any::<u64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| v.to_string()),
            Just("9223372036854775807".to_string()),
            Just("1e400".to_string()),
            Just("-0".to_string()),
            Just("nan".to_string()),
            Just("inf".to_string()),
            Just("mlp".to_string()),
            Just("squared".to_string()),
            Just("[1, 2]".to_string()),
            Just("{ a = 1 }".to_string()),
            "\"[a-z]{0,6}\"",
            "[a-z0-9_.-]{0,8}",
            "\\PC{0,12}",
        ]
    }

    fn check(loaded: Result<ExperimentConfig>) {
        // A data file named by the config is read (its header) by the estimate: an error
        // there is a clean error too.
        if let Ok(Ok(estimate)) = loaded.map(|cfg| crate::train::estimate(&cfg)) {
            let total = estimate.total();
            assert!(total >= 0.0, "estimate {total}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn set_items_never_panic(
            key in prop::sample::select(KEYS),
            value in value(),
            noise in "\\PC{0,30}",
            keyed in any::<bool>(),
        ) {
            let item = if keyed { format!("{key}={value}") } else { noise };
            check(ExperimentConfig::load(None, &[item]));
        }

        #[test]
        fn toml_files_never_panic(
            lines in prop::collection::vec(
                prop_oneof![
                    Just("[data]".to_string()),
                    Just("[model]".to_string()),
                    Just("[train]".to_string()),
                    Just("[data.sub]".to_string()),
                    (prop::sample::select(KEYS), value()).prop_map(|(k, v)| {
                        format!("{} = {v}", k.rsplit('.').next().unwrap_or(k))
                    }),
                    "\\PC{0,20}",
                ],
                0..8,
            ),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("config.toml");
            std::fs::write(&path, lines.join("\n")).unwrap();
            check(ExperimentConfig::load(Some(&path), &[]));
        }
    }
}
