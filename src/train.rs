//! `frontier train`: generate the data, pre-train the CNN, write the run directory
//! (`data.safetensors`, `weights.safetensors`, `summary.json`, `config.resolved.toml`).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use frontier_model::{Dataset, DeviceData, TrainReport};
use serde::Serialize;

use crate::config::ExperimentConfig;
use crate::models::Net;
use crate::output::{create_dir, write_atomic};
use crate::tensors::{self, HostTensor};

/// A pre-trained model with the data it saw.
pub struct Trained {
    /// The data set, on the host.
    pub data: Dataset,
    /// The model at w*.
    pub net: Net,
    /// The pre-training report.
    pub report: TrainReport,
    /// Wall time of pre-training, seconds.
    pub seconds: f64,
}

/// Generates the data and pre-trains the model of `cfg` on `device`.
pub fn train(cfg: &ExperimentConfig, device: &Device) -> Result<Trained> {
    let data = Dataset::generate(&cfg.data)?;
    let on_device = DeviceData::new(&data, device, cfg.dtype);
    let mut net = cfg.model.init(&cfg.data, device, cfg.dtype)?;
    let start = Instant::now();
    let report = net.pretrain(&on_device, &cfg.train)?;
    Ok(Trained {
        data,
        net,
        report,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// `summary.json`: the training report and the sizes of the run.
#[derive(Serialize)]
struct Summary<'a> {
    n: usize,
    n_forget: usize,
    n_test: usize,
    d: usize,
    patches: usize,
    params: usize,
    snr: f64,
    loss: &'static str,
    eta: f64,
    dtype: &'a str,
    seconds: f64,
    #[serde(flatten)]
    train: &'a TrainReport,
}

/// Writes the four files of a run directory into `out` (created if missing).
pub fn write_run(out: &Path, cfg: &ExperimentConfig, t: &Trained) -> Result<()> {
    create_dir(out)?;
    let data = &t.data;
    let (n, p, d) = (data.n(), data.patches, data.d);
    let forget = data.forget.iter().map(|&f| f as u8 as f64).collect();
    tensors::write(
        &out.join("data.safetensors"),
        &[
            HostTensor::new("x", vec![n, p, d], data.x.clone()),
            HostTensor::new("y", vec![n], data.y.clone()),
            HostTensor::new("forget", vec![n], forget),
            HostTensor::new("x_test", vec![data.n_test(), p, d], data.x_test.clone()),
            HostTensor::new("y_test", vec![data.n_test()], data.y_test.clone()),
        ],
        cfg.dtype,
    )?;
    let (weights, metadata) = t.net.weights();
    tensors::write_with_metadata(
        &out.join("weights.safetensors"),
        &weights,
        cfg.dtype,
        metadata,
    )?;
    let summary = Summary {
        n,
        n_forget: data.forget.iter().filter(|&&f| f).count(),
        n_test: data.n_test(),
        d,
        patches: p,
        params: t.net.param_count(),
        snr: cfg.data.snr,
        loss: cfg.train.loss.name(),
        eta: cfg.train.eta,
        dtype: match cfg.dtype {
            frontier_model::Precision::F32 => "f32",
            frontier_model::Precision::F64 => "f64",
        },
        seconds: t.seconds,
        train: &t.report,
    };
    write_atomic(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    write_atomic(&out.join("config.resolved.toml"), cfg.to_toml().as_bytes())
}
