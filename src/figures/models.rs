//! Kind `models` (figure 7): coherence versus SNR of several registered models, each through
//! the curvature path it calls for (the rank-one shortcut, or the generic finite-difference
//! path for a model whose per-sample Hessians are not rank one), on the same data and forget
//! sets. Runs in f64 on a CPU backend whatever `--backend` says: the finite-difference probes
//! need f64, which wgpu cannot do reliably.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use frontier_common::{Progress, Stat, par_map};
use frontier_model::{
    DataConfig, Dataset, DeviceData, ModelSpec, Precision, TrainConfig, pretrain,
};
use frontier_plot::{Axis as PlotAxis, LinePlot, Series, lines_png};
use frontier_probes::{GenericOptions, model_coherence_report};
use serde::{Deserialize, Serialize};

use super::render::Outputs;
use super::spec::ConfigFile;
use super::{Context, model_named, uncached_stops};
use crate::backend::Backend;
use crate::models::{Registered, WithModel};

/// Figure 7's settings (kind `models`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsFigure {
    /// One line on what it shows.
    pub about: String,
    /// Output files: `<file name>_<models>_<stem>` with the models named "b_vs_a" (the added
    /// models against the first).
    pub stem: String,
    /// The SNRs (x axis).
    pub snrs: Vec<f64>,
    /// Seeds per SNR: seed r is the data's seed (each model keeps its own init seed).
    pub seeds: u64,
    /// Mixing ratio α of the coherence report (σ_R and σ_RF do not depend on it).
    pub alpha: f64,
    /// The data (`snr` and `seed` are set per run).
    pub data: DataConfig,
    /// Pre-training (its `eta` is replaced by each model's `pretrain_eta`); its loss is the
    /// probed loss.
    pub pretrain: TrainConfig,
    /// The models, in legend order.
    pub models: Vec<ModelEntry>,
}

/// One model of the figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// A registered model (`cnn`, `mlp`).
    pub kind: String,
    /// Its pre-training η.
    pub pretrain_eta: f64,
    /// Its config (the model's keys, e.g. `m` for the CNN, `hidden` for the MLP).
    #[serde(default)]
    pub config: toml::Table,
}

/// One trained model's coherence.
#[derive(Serialize)]
struct Row {
    model: &'static str,
    snr: f64,
    seed: u64,
    sigma: f64,
    sigma_r: f64,
    sigma_f: f64,
    sigma_rf: f64,
    test_accuracy: f64,
}

/// Pre-trains one model on one data set and probes it.
struct Probe<'a> {
    file: &'a ConfigFile,
    entry: &'a ModelEntry,
    figure: &'a ModelsFigure,
    data_cfg: &'a DataConfig,
    data: &'a Dataset,
    on_device: &'a DeviceData,
    device: &'a Device,
}

impl WithModel for Probe<'_> {
    type Output = Result<Row>;

    fn run<C: ModelSpec>(self, model: Registered<C>) -> Result<Row> {
        let config: C = self.file.parse_value(
            &format!("models `{}`", self.entry.kind),
            toml::Value::Table(self.entry.config.clone()),
        )?;
        let mut net = config.init(self.data_cfg, self.device, Precision::F64)?;
        let train = TrainConfig {
            eta: self.entry.pretrain_eta,
            ..self.figure.pretrain.clone()
        };
        let report = pretrain(&mut net, self.on_device, &train)?;
        let c = model_coherence_report(
            &net,
            train.loss,
            self.on_device.x.clone(),
            self.on_device.y.clone(),
            &self.data.forget,
            self.figure.alpha,
            &GenericOptions::default(),
        )?;
        Ok(Row {
            model: model.name,
            snr: self.data_cfg.snr,
            seed: self.data_cfg.seed,
            sigma: c.sigma,
            sigma_r: c.sigma_r,
            sigma_f: c.sigma_f,
            sigma_rf: c.sigma_rf,
            test_accuracy: report.test_accuracy,
        })
    }
}

/// How a model appears in the title and caption.
struct Described {
    name: &'static str,
    /// e.g. "CNN (m = 10, rank-one)".
    title: String,
    rank_one: bool,
}

/// Describes one model of the figure (and checks its config).
struct Describe<'a> {
    file: &'a ConfigFile,
    entry: &'a ModelEntry,
}

impl WithModel for Describe<'_> {
    type Output = Result<Described>;

    fn run<C: ModelSpec>(self, model: Registered<C>) -> Result<Described> {
        let config: C = self.file.parse_value(
            &format!("models `{}`", self.entry.kind),
            toml::Value::Table(self.entry.config.clone()),
        )?;
        config.validate()?;
        let rank_one = model.rank_one()?;
        let path = if rank_one { "rank-one" } else { "generic path" };
        Ok(Described {
            name: model.name,
            title: format!(
                "{} ({}, {path})",
                model.name.to_uppercase(),
                config.describe()
            ),
            rank_one,
        })
    }
}

/// Runs a `models` file.
pub fn run(file: &ConfigFile, ctx: &Context, label: &str) -> Result<Vec<PathBuf>> {
    let figure: ModelsFigure = file.parse()?;
    let (snrs, seeds) = (&figure.snrs, figure.seeds);
    let device = Backend::cpu_device()?;
    let kinds = figure
        .models
        .iter()
        .map(|m| model_named(file, &m.kind))
        .collect::<Result<Vec<_>>>()?;
    let models = kinds
        .iter()
        .zip(&figure.models)
        .map(|(kind, entry)| kind.with(Describe { file, entry }))
        .collect::<Result<Vec<_>>>()?;
    if models.is_empty() {
        anyhow::bail!("{}: `models` lists no model", file.path.display());
    }
    let plan = format!(
        "{} × {} SNRs × {seeds} seeds",
        models.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
        snrs.len()
    );
    if uncached_stops(ctx, file, plan) {
        return Ok(Vec::new());
    }
    // One job per (SNR, seed), in parallel; par_map keeps the job order, so the rows (and the
    // CSV) do not depend on the thread count.
    let jobs: Vec<(f64, u64)> = snrs
        .iter()
        .flat_map(|&snr| (0..seeds).map(move |seed| (snr, seed)))
        .collect();
    let reporter = ctx.mode.reporter(label);
    reporter.start(jobs.len());
    let rows: Vec<Row> = par_map(jobs.len(), 0, |k| -> Result<Vec<Row>> {
        let (snr, seed) = jobs[k];
        let data_cfg = DataConfig {
            snr,
            seed,
            ..figure.data.clone()
        };
        let data = Dataset::generate(&data_cfg)?;
        let on_device = DeviceData::new(&data, &device, Precision::F64);
        let rows = kinds
            .iter()
            .zip(&figure.models)
            .map(|(kind, entry)| {
                kind.with(Probe {
                    file,
                    entry,
                    figure: &figure,
                    data_cfg: &data_cfg,
                    data: &data,
                    on_device: &on_device,
                    device: &device,
                })
            })
            .collect();
        reporter.advance(1);
        rows
    })
    .into_iter()
    .collect::<Result<Vec<Vec<Row>>>>()?
    .into_iter()
    .flatten()
    .collect();
    drop(reporter);
    let series = |model: &str, what: &str, pick: fn(&Row) -> f64| {
        let (mean, sd): (Vec<f64>, Vec<f64>) = snrs
            .iter()
            .map(|&snr| {
                let v = rows
                    .iter()
                    .filter(|r| r.model == model && r.snr == snr)
                    .map(pick);
                let stat = Stat::of(v);
                (stat.mean, stat.sd)
            })
            .unzip();
        Series::new(format!("{model} {what}"), snrs.clone(), mean, sd)
    };
    let data = &figure.data;
    let generic: Vec<String> = models
        .iter()
        .filter(|m| !m.rank_one)
        .map(|m| m.name.to_uppercase())
        .collect();
    let generic = if generic.is_empty() {
        String::new()
    } else {
        format!(
            "{}: Hutchinson estimates of tr(H_i H_j) ({} probes), finite-difference \
             Hessian-vector products in f64; ",
            generic.join(", "),
            GenericOptions::default().probes
        )
    };
    let plot = LinePlot {
        title: format!(
            "Coherence at w* vs SNR: {}, {} loss, n = {} (n_f = {}), d = {}, {seeds} seeds",
            models
                .iter()
                .map(|m| m.title.as_str())
                .collect::<Vec<_>>()
                .join(" and "),
            figure.pretrain.loss.name(),
            data.n,
            data.forget_count(),
            data.d
        ),
        caption: format!(
            "mean ± sd over seeds; {generic}pre-training η = {}",
            models
                .iter()
                .zip(&figure.models)
                .map(|(m, e)| format!("{} ({})", e.pretrain_eta, m.name.to_uppercase()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        x: PlotAxis::new("SNR ‖μ‖/(σ_p√d)", snrs.clone()).with_log2(),
        y_label: "coherence (dimensionless)".into(),
        log_y: true,
        series: models
            .iter()
            .flat_map(|m| {
                [
                    series(m.name, "σ_R", |r: &Row| r.sigma_r),
                    series(m.name, "σ_RF", |r: &Row| r.sigma_rf),
                ]
            })
            .collect(),
    };
    // The added models against the first (the baseline), e.g. "figure7_b_vs_a_coherence".
    let names: Vec<&str> = models.iter().map(|m| m.name).collect();
    let order: Vec<&str> = names[1..].iter().chain(&names[..1]).copied().collect();
    let stem = format!("{}_{}_{}", file.name, order.join("_vs_"), figure.stem);
    let mut out = Outputs::new(ctx, file);
    let table = frontier_common::Table::from_rows(&rows)?;
    out.write(&stem, &lines_png(&plot)?, &table, "models", &figure)?;
    Ok(out.written)
}
