//! `frontier bench convnet`: the convnet on the shipped digits: its per-sample gradients for
//! the whole training set (one batched backward pass, against one autodiff backward per
//! sample), the Gram product, and both coherence reports (Gauss–Newton through the Gram
//! shortcut; exact through finite-difference Hessian-vector products, with the cost of one
//! Hutchinson probe from its parts).

use anyhow::{Result, bail};
use burn::tensor::{Device, Tensor};
use frontier_convnet::ConvnetConfig;
use frontier_model::{
    DataSource, DeviceData, Loss, Model, ModelSpec, Precision, autodiff_score_grads, pretrain,
    to_f64,
};
use frontier_probes::{GenericOptions, coherence_report, generic_coherence_report};

use super::{repeat, timed};
use crate::config::ExperimentConfig;
use crate::models::ModelKind;

/// Waits for `t` by reading its sum back (lazy backends run on read-back).
fn sync(t: Tensor<2>) {
    to_f64(t.sum());
}

/// What `frontier bench convnet` runs.
pub struct ConvnetBench {
    /// Timed repetitions of the per-sample gradients and the Gram product.
    pub reps: usize,
    /// Hutchinson probes of the exact report.
    pub probes: usize,
    /// Skip the exact coherence report (minutes at full size).
    pub skip_exact: bool,
}

/// Prepares the digits as `frontier train --model convnet` does, pre-trains the convnet (the
/// exact path probes w*), and prints one line per measurement.
pub fn convnet(bench: &ConvnetBench, device: &Device, precision: Precision) -> Result<()> {
    if bench.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let cfg = ExperimentConfig::load(None, &[ModelKind::Convnet.override_item()])?;
    let crate::models::ModelConfig::Convnet(spec) = &cfg.model else {
        bail!("the convnet's defaults name another model");
    };
    let prepared = cfg.data.prepare(spec, &cfg.train, device, precision)?;
    let spec: ConvnetConfig = prepared.spec(spec);
    let data = DeviceData::new(&prepared.data, device, precision);
    let mut net = spec.init_input([prepared.data.patches, prepared.data.d], device, precision)?;
    let (n, p) = (data.n(), net.param_count());
    let source = match &cfg.data {
        DataSource::File(f) => f.path.display().to_string(),
        DataSource::Synthetic(_) => "synthetic".into(),
    };
    println!(
        "convnet benchmark: {source}, n = {n} training samples ({} forget), p = {p}, {precision:?}",
        prepared.forget.indices.len()
    );
    let (t_train, report) = timed(|| pretrain(&mut net, &data, &cfg.train));
    let report = report?;
    println!(
        "pre-training ({} steps, loss {:.2e})  {t_train:>8.2} s",
        report.steps, report.final_loss
    );
    let grads = repeat(bench.reps, || sync(net.score_grads(data.x.clone())));
    println!(
        "per-sample gradients G [n, p], one batched backward   {:>8.3} s median ({:.3}–{:.3}, {} reps)",
        grads.median, grads.min, grads.max, bench.reps
    );
    let few = 50.min(n);
    let (t_loop, _) = timed(|| sync(autodiff_score_grads(&net, data.x.clone().narrow(0, 0, few))));
    println!(
        "the same by one autodiff backward per sample        {:>8.3} s for all n (measured on {few}, scaled)",
        t_loop * n as f64 / few as f64
    );
    let g = net.score_grads(data.x.clone());
    let gram = repeat(bench.reps, || sync(g.clone().matmul(g.clone().transpose())));
    println!(
        "Gram G·Gᵀ                                          {:>8.3} s median ({:.1} GFLOP/s)",
        gram.median,
        2.0 * (n as f64).powi(2) * p as f64 / gram.median / 1e9
    );
    let (loss, alpha) = (Loss::Logistic, 0.5);
    let forget = &prepared.data.forget;
    let (t_gn, gn) =
        timed(|| coherence_report(&net, loss, data.x.clone(), data.y.clone(), forget, alpha));
    let gn = gn?;
    println!(
        "Gauss–Newton coherence report                       {t_gn:>8.3} s   σ_R {:.3}, σ_RF {:.3}",
        gn.sigma_r, gn.sigma_rf
    );
    if bench.skip_exact {
        return Ok(());
    }
    let piece = repeat(bench.reps, || {
        sync(net.piece_grads(net.params(), data.x.clone()).1)
    });
    println!(
        "held-gate gradients (one side of a finite difference) {:>8.3} s median: one Hutchinson \
         probe ≈ 2 of them + one Gram = {:.2} s, {} probes ≈ {:.1} s",
        piece.median,
        2.0 * piece.median + gram.median,
        bench.probes,
        bench.probes as f64 * (2.0 * piece.median + gram.median)
    );
    let options = GenericOptions {
        probes: bench.probes,
        ..GenericOptions::default()
    };
    let (t_exact, exact) = timed(|| {
        generic_coherence_report(
            &net,
            loss,
            data.x.clone(),
            data.y.clone(),
            forget,
            alpha,
            &options,
        )
    });
    let exact = exact?;
    println!(
        "exact coherence report (all of it)                  {t_exact:>8.2} s   σ_R {:.3} ± {:.3}, σ_RF {:.3} ± {:.3}",
        exact.report.sigma_r,
        exact.std_error.sigma_r,
        exact.report.sigma_rf,
        exact.std_error.sigma_rf
    );
    Ok(())
}
