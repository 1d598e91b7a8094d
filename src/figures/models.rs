//! Figure 7: coherence versus SNR for every registered model (the MLP through the generic
//! curvature path beside the CNN's rank-one shortcut), on the same data and forget sets.
//! Runs in f64 on a CPU backend whatever `--backend` says: the MLP's finite-difference
//! probes need f64, which wgpu cannot do reliably.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use frontier_model::{DataConfig, Dataset, DeviceData, Loss, Precision, TrainConfig};
use frontier_plot::{Axis, LinePlot, Series};
use frontier_stability::parallel::par_map;
use frontier_unlearn::grid::Stat;
use serde::Serialize;

use super::render::write_csv;
use super::{Context, Figure};
use crate::backend::Backend;
use crate::models::registered;

/// Figure 7.
pub const FIGURE7: Figure = Figure {
    name: "figure7",
    about: "every model (MLP vs CNN): σ_R and σ_RF at w* versus SNR",
    run: run_figure7,
};

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

/// Every registered model pre-trained on the data of (SNR, seed), and its coherence at w*.
fn rows_of((snr, seed): (f64, u64), device: &Device, precision: Precision) -> Result<Vec<Row>> {
    let data_cfg = DataConfig {
        snr,
        seed,
        ..DataConfig::default()
    };
    let data = Dataset::generate(&data_cfg)?;
    let on_device = DeviceData::new(&data, device, precision);
    registered()
        .into_iter()
        .map(|(name, model, eta)| {
            let mut net = model.init(&data_cfg, device, precision)?;
            let train = TrainConfig {
                eta,
                ..TrainConfig::default()
            };
            let report = net.pretrain(&on_device, &train)?;
            let c = net.coherence(
                Loss::Logistic,
                on_device.x.clone(),
                on_device.y.clone(),
                &data.forget,
                0.5,
            )?;
            Ok(Row {
                model: name,
                snr,
                seed,
                sigma: c.sigma,
                sigma_r: c.sigma_r,
                sigma_f: c.sigma_f,
                sigma_rf: c.sigma_rf,
                test_accuracy: report.test_accuracy,
            })
        })
        .collect()
}

fn run_figure7(ctx: &Context) -> Result<Vec<PathBuf>> {
    let (snrs, seeds): (Vec<f64>, u64) = if ctx.quick {
        (vec![0.05, 1.0], 1)
    } else {
        (vec![0.02, 0.05, 0.1, 0.2, 0.5, 1.0], 3)
    };
    let precision = Precision::F64;
    let device = Backend::cpu_device()?;
    // One job per (SNR, seed), in parallel; par_map keeps the job order, so the rows (and the
    // CSV) do not depend on the thread count.
    let jobs: Vec<(f64, u64)> = snrs
        .iter()
        .flat_map(|&snr| (0..seeds).map(move |seed| (snr, seed)))
        .collect();
    let rows: Vec<Row> = par_map(jobs.len(), 0, |k| rows_of(jobs[k], &device, precision))
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
    let plot = LinePlot {
        title: format!(
            "Coherence at w* vs SNR: CNN (m = 10, rank-one) and MLP (h = 10, softplus, generic \
             path), logistic loss, n = 100 (n_f = 10), d = 500, {seeds} seeds"
        ),
        caption: "mean ± sd over seeds; MLP: Hutchinson estimates of tr(H_i H_j) (100 probes), \
                  finite-difference Hessian-vector products in f64; pre-training η = 1 (CNN), 0.5 (MLP)"
            .into(),
        x: Axis {
            label: "SNR ‖μ‖/(σ_p√d)".into(),
            values: snrs.clone(),
            log2: true,
        },
        y_label: "coherence (dimensionless)".into(),
        log_y: true,
        series: registered()
            .into_iter()
            .flat_map(|(name, _, _)| {
                [
                    series(name, "σ_R", |r: &Row| r.sigma_r),
                    series(name, "σ_RF", |r: &Row| r.sigma_rf),
                ]
            })
            .collect(),
    };
    let png = ctx.out.join("figure7_mlp_vs_cnn_coherence.png");
    frontier_plot::render_lines(&plot, &png)?;
    let csv = write_csv(&ctx.out.join("figure7_mlp_vs_cnn_coherence.csv"), &rows)?;
    Ok(vec![png, csv])
}
