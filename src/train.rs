//! `frontier train`: prepare the data (generated, or a data file with its forget kind),
//! pre-train the model, write the run directory (`data.safetensors`, `weights.safetensors`,
//! `forget.json`, `summary.json`, `config.resolved.toml`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Device;
use frontier_model::{
    DataSource, DeviceData, ForgetSet, Loss, Model, ModelSpec, Precision, Prepared, TrainReport,
    pretrain, to_f64,
};
use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
use crate::models::{ModelConfig, Registered, WithModel};
use crate::output::{create_dir, write_atomic};
use crate::tensors::{self, HostTensor};
use crate::weights;

/// A pre-trained model with the data it saw.
pub struct Trained {
    /// The data set and its forget set.
    pub prepared: Prepared,
    /// The model's config as used (fitted to the data, e.g. the convnet's image size).
    pub model: ModelConfig,
    /// The weights, one tensor per parameter block, and the metadata naming the model.
    pub weights: (Vec<HostTensor>, BTreeMap<String, String>),
    /// Number of parameters p.
    pub params: usize,
    /// The pre-training report.
    pub report: TrainReport,
    /// How the model fits the forget and retain sets at w*.
    pub fit: Fit,
    /// Wall time of pre-training, seconds.
    pub seconds: f64,
}

/// How the model fits the forget and retain sets at w*, on their training labels (flipped
/// ones for a mislabelled forget set).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Fit {
    /// Fraction of forget samples with sign(f) = their training label.
    pub forget_train_accuracy: f64,
    /// Mean loss over the forget set.
    pub forget_loss: f64,
    /// Fraction of retain samples with sign(f) = their label.
    pub retain_train_accuracy: f64,
    /// Mean loss over the retain set.
    pub retain_loss: f64,
}

/// Prepares the data and pre-trains the model of `cfg` on `device`.
pub fn train(cfg: &ExperimentConfig, device: &Device) -> Result<Trained> {
    cfg.model.with(Train { cfg, device })
}

/// [`train`] for one model type.
struct Train<'a> {
    cfg: &'a ExperimentConfig,
    device: &'a Device,
}

impl WithModel for Train<'_> {
    type Output = Result<Trained>;

    fn run<C: ModelSpec>(self, model: Registered<C>) -> Result<Trained> {
        let (cfg, device) = (self.cfg, self.device);
        let prepared = cfg
            .data
            .prepare(&model.config, &cfg.train, device, cfg.dtype)?;
        let spec = prepared.spec(&model.config);
        let input = [prepared.data.patches, prepared.data.d];
        let mut net = spec.init_input(input, device, cfg.dtype)?;
        let on_device = DeviceData::new(&prepared.data, device, cfg.dtype);
        let start = Instant::now();
        let report = pretrain(&mut net, &on_device, &cfg.train)?;
        let seconds = start.elapsed().as_secs_f64();
        let fit = fit(&net, &on_device, cfg.train.loss);
        Ok(Trained {
            model: resolved(model.name, &spec)?,
            weights: (
                weights::tensors(&net),
                weights::metadata(model.name, &spec)?,
            ),
            params: net.param_count(),
            prepared,
            report,
            fit,
            seconds,
        })
    }
}

/// The `[model]` section of a config that `spec` (of model `name`) is.
fn resolved<C: ModelSpec>(name: &str, spec: &C) -> Result<ModelConfig> {
    let mut table = toml::Table::try_from(spec).context("a model config serialises")?;
    table.insert("kind".into(), toml::Value::String(name.into()));
    Ok(ModelConfig::deserialize(toml::Value::Table(table))?)
}

/// [`Fit`] of `net` on the training rows of `data`.
fn fit<M: Model>(net: &M, data: &DeviceData, loss: Loss) -> Fit {
    let f = to_f64(net.scores(data.x.clone()));
    let y = to_f64(data.y.clone());
    let losses = to_f64(loss.values(net.scores(data.x.clone()), data.y.clone()));
    let part = |forget: bool| {
        let rows: Vec<usize> = (0..y.len()).filter(|&i| data.forget[i] == forget).collect();
        let hits = rows.iter().filter(|&&i| f[i] * y[i] > 0.0).count();
        let mean = rows.iter().map(|&i| losses[i]).sum::<f64>() / rows.len() as f64;
        (hits as f64 / rows.len() as f64, mean)
    };
    let ((forget_train_accuracy, forget_loss), (retain_train_accuracy, retain_loss)) =
        (part(true), part(false));
    Fit {
        forget_train_accuracy,
        forget_loss,
        retain_train_accuracy,
        retain_loss,
    }
}

/// `summary.json`: the training report and the sizes of the run.
#[derive(Serialize)]
struct Summary<'a> {
    model: &'a str,
    data: &'static str,
    n: usize,
    n_forget: usize,
    n_test: usize,
    d: usize,
    patches: usize,
    image: Option<[usize; 3]>,
    params: usize,
    snr: Option<f64>,
    forget_kind: &'static str,
    loss: &'static str,
    eta: f64,
    dtype: &'a str,
    seconds: f64,
    #[serde(flatten)]
    train: &'a TrainReport,
    #[serde(flatten)]
    fit: Fit,
}

/// Writes the files of a run directory into `out` (created if missing).
pub fn write_run(out: &Path, cfg: &ExperimentConfig, t: &Trained) -> Result<()> {
    create_dir(out)?;
    let data = &t.prepared.data;
    let (n, p, d) = (data.n(), data.patches, data.d);
    // Images keep their [C, H, W] shape, so the file reads back as images.
    let sample: Vec<usize> = match t.prepared.image {
        Some(image) => image.to_vec(),
        None => vec![p, d],
    };
    let shape = |rows: usize| [vec![rows], sample.clone()].concat();
    let forget = data.forget.iter().map(|&f| f as u8 as f64).collect();
    tensors::write(
        &out.join("data.safetensors"),
        &[
            HostTensor::new("x", shape(n), data.x.clone()),
            HostTensor::new("y", vec![n], data.y.clone()),
            HostTensor::new("forget", vec![n], forget),
            HostTensor::new("x_test", shape(data.n_test()), data.x_test.clone()),
            HostTensor::new("y_test", vec![data.n_test()], data.y_test.clone()),
        ],
        cfg.dtype,
    )?;
    let (weights, metadata) = &t.weights;
    tensors::write_with_metadata(
        &out.join("weights.safetensors"),
        weights,
        cfg.dtype,
        metadata.clone(),
    )?;
    write_atomic(
        &out.join("forget.json"),
        serde_json::to_string_pretty(&t.prepared.forget)?.as_bytes(),
    )?;
    let summary = Summary {
        model: t.model.kind().name(),
        data: match cfg.data {
            DataSource::Synthetic(_) => "synthetic",
            DataSource::File(_) => "file",
        },
        n,
        n_forget: t.prepared.forget.indices.len(),
        n_test: data.n_test(),
        d,
        patches: p,
        image: t.prepared.image,
        params: t.params,
        snr: match &cfg.data {
            DataSource::Synthetic(c) => Some(c.snr),
            DataSource::File(_) => None,
        },
        forget_kind: t.prepared.forget.kind.name(),
        loss: cfg.train.loss.name(),
        eta: cfg.train.eta,
        dtype: match cfg.dtype {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        },
        seconds: t.seconds,
        train: &t.report,
        fit: t.fit,
    };
    write_atomic(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    let resolved = ExperimentConfig {
        model: t.model.clone(),
        ..cfg.clone()
    };
    write_atomic(
        &out.join("config.resolved.toml"),
        resolved.to_toml().as_bytes(),
    )
}

/// The line `frontier train` prints about the forget set.
pub fn forget_line(forget: &ForgetSet, fit: &Fit) -> String {
    format!(
        "forget set: {} ({} samples{}): train accuracy {:.3} on its training labels, loss \
         {:.3e} (retain: {:.3}, {:.3e})",
        forget.kind.name(),
        forget.indices.len(),
        forget
            .class
            .map(|c| format!(", class {c}"))
            .unwrap_or_default(),
        fit.forget_train_accuracy,
        fit.forget_loss,
        fit.retain_train_accuracy,
        fit.retain_loss
    )
}
