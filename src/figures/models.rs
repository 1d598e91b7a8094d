//! Figure 7: coherence versus SNR for every registered model (`crate::models`), each through
//! the curvature path it calls for (the rank-one shortcut, or the generic finite-difference
//! path for a model whose per-sample Hessians are not rank one), on the same data and forget
//! sets. Runs in f64 on a CPU backend whatever `--backend` says: the finite-difference probes
//! need f64, which wgpu cannot do reliably.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use frontier_model::{
    DataConfig, Dataset, DeviceData, Loss, ModelSpec, Precision, TrainConfig, pretrain,
};
use frontier_plot::{Axis, LinePlot, Series};
use frontier_probes::{GenericOptions, model_coherence_report};
use frontier_stability::parallel::par_map;
use frontier_unlearn::grid::Stat;
use serde::Serialize;

use super::render::write_csv;
use super::{Context, Figure};
use crate::backend::Backend;
use crate::models::{ModelKind, Registered, WithModel};

/// Figure 7.
pub const FIGURE7: Figure = Figure {
    name: "figure7",
    about: "every registered model: σ_R and σ_RF at w* versus SNR",
    run: run_figure7,
};

/// Mixing ratio of the coherence report (σ_R and σ_RF do not depend on it).
const ALPHA: f64 = 0.5;

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

/// Pre-trains one registered model on one data set and probes it.
struct Probe<'a> {
    data_cfg: &'a DataConfig,
    data: &'a Dataset,
    on_device: &'a DeviceData,
    device: &'a Device,
}

impl WithModel for Probe<'_> {
    type Output = Result<Row>;

    fn run<C: ModelSpec>(self, model: Registered<C>) -> Result<Row> {
        let mut net = model
            .config
            .init(self.data_cfg, self.device, Precision::F64)?;
        let train = TrainConfig {
            eta: model.pretrain_eta,
            ..TrainConfig::default()
        };
        let report = pretrain(&mut net, self.on_device, &train)?;
        let c = model_coherence_report(
            &net,
            Loss::Logistic,
            self.on_device.x.clone(),
            self.on_device.y.clone(),
            &self.data.forget,
            ALPHA,
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

/// How a registered model appears in the title and caption.
struct Described {
    name: &'static str,
    /// e.g. "CNN (m = 10, rank-one)".
    title: String,
    rank_one: bool,
    pretrain_eta: f64,
}

/// Describes one registered model.
struct Describe;

impl WithModel for Describe {
    type Output = Result<Described>;

    fn run<C: ModelSpec>(self, model: Registered<C>) -> Result<Described> {
        let rank_one = model.rank_one()?;
        let path = if rank_one { "rank-one" } else { "generic path" };
        Ok(Described {
            name: model.name,
            title: format!(
                "{} ({}, {path})",
                model.name.to_uppercase(),
                model.config.describe()
            ),
            rank_one,
            pretrain_eta: model.pretrain_eta,
        })
    }
}

fn run_figure7(ctx: &Context) -> Result<Vec<PathBuf>> {
    let (snrs, seeds): (Vec<f64>, u64) = if ctx.quick {
        (vec![0.05, 1.0], 1)
    } else {
        (vec![0.02, 0.05, 0.1, 0.2, 0.5, 1.0], 3)
    };
    let device = Backend::cpu_device()?;
    let models = ModelKind::all()
        .iter()
        .map(|kind| kind.with(Describe))
        .collect::<Result<Vec<_>>>()?;
    // One job per (SNR, seed), in parallel; par_map keeps the job order, so the rows (and the
    // CSV) do not depend on the thread count.
    let jobs: Vec<(f64, u64)> = snrs
        .iter()
        .flat_map(|&snr| (0..seeds).map(move |seed| (snr, seed)))
        .collect();
    let rows: Vec<Row> = par_map(jobs.len(), 0, |k| -> Result<Vec<Row>> {
        let (snr, seed) = jobs[k];
        let data_cfg = DataConfig {
            snr,
            seed,
            ..DataConfig::default()
        };
        let data = Dataset::generate(&data_cfg)?;
        let on_device = DeviceData::new(&data, &device, Precision::F64);
        ModelKind::all()
            .iter()
            .map(|kind| {
                kind.with(Probe {
                    data_cfg: &data_cfg,
                    data: &data,
                    on_device: &on_device,
                    device: &device,
                })
            })
            .collect()
    })
    .into_iter()
    .collect::<Result<Vec<Vec<Row>>>>()?
    .into_iter()
    .flatten()
    .collect();
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
    let data = DataConfig::default();
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
            "Coherence at w* vs SNR: {}, logistic loss, n = {} (n_f = {}), d = {}, {seeds} seeds",
            models
                .iter()
                .map(|m| m.title.as_str())
                .collect::<Vec<_>>()
                .join(" and "),
            data.n,
            data.n_forget,
            data.d
        ),
        caption: format!(
            "mean ± sd over seeds; {generic}pre-training η = {}",
            models
                .iter()
                .map(|m| format!("{} ({})", m.pretrain_eta, m.name.to_uppercase()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        x: Axis {
            label: "SNR ‖μ‖/(σ_p√d)".into(),
            values: snrs.clone(),
            log2: true,
        },
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
    let stem = format!("figure7_{}_coherence", order.join("_vs_"));
    let png = ctx.out.join(format!("{stem}.png"));
    frontier_plot::render_lines(&plot, &png)?;
    let csv = write_csv(&ctx.out.join(format!("{stem}.csv")), &rows)?;
    Ok(vec![png, csv])
}
