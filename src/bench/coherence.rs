//! `frontier bench coherence`: the coherence report of a CNN and its two heavy kernels.

use anyhow::Result;
use burn::tensor::Device;
use frontier_model::{CnnConfig, DataConfig, Dataset, DeviceData, Loss, Model, Precision, to_f64};
use frontier_probes::coherence_report;

use super::timed;

/// Sizes of the coherence benchmark.
pub struct CoherenceSize {
    /// Samples n.
    pub n: usize,
    /// Forget samples n_f.
    pub n_forget: usize,
    /// Patch dimension d.
    pub d: usize,
    /// Filters per class m.
    pub m: usize,
    /// Patches P.
    pub patches: usize,
}

/// Times the full coherence report of a CNN at initialisation (the cost does not depend on
/// the weights) and, separately, its two heavy kernels: the per-sample gradients G [n, p] and
/// the Gram product G Gᵀ (2·n²·p flops). Prints one line per measurement.
pub fn coherence(size: &CoherenceSize, device: &Device, precision: Precision) -> Result<()> {
    let data = Dataset::generate(&DataConfig {
        n: size.n,
        n_test: 0,
        d: size.d,
        patches: size.patches,
        snr: 0.2,
        n_forget: size.n_forget,
        ..DataConfig::default()
    })?;
    let on_device = DeviceData::new(&data, device, precision);
    let cnn = CnnConfig {
        m: size.m,
        ..CnnConfig::default()
    }
    .init(size.d, device, precision)?;
    let p = cnn.param_count();
    // Warm-up: allocations and first-call costs stay out of the numbers.
    to_f64(cnn.score_grads(on_device.x.clone()).sum());
    let (t_grads, g) = timed(|| {
        let g = cnn.score_grads(on_device.x.clone());
        to_f64(g.clone().sum());
        g
    });
    let (t_gram, _) = timed(|| to_f64(g.clone().matmul(g.transpose())));
    let (t_report, report) = timed(|| {
        coherence_report(
            &cnn,
            Loss::Logistic,
            on_device.x.clone(),
            on_device.y.clone(),
            &data.forget,
            0.5,
        )
    });
    report?;
    let flops = 2.0 * (size.n as f64).powi(2) * p as f64;
    println!(
        "coherence benchmark: n = {}, n_f = {}, d = {}, m = {}, P = {}, p = {p}, {precision:?}",
        size.n, size.n_forget, size.d, size.m, size.patches
    );
    println!("per-sample gradients G [n, p]   {t_grads:>8.3} s");
    println!(
        "Gram G·Gᵀ                       {t_gram:>8.3} s   {:.1} GFLOP/s",
        flops / t_gram / 1e9
    );
    println!("full coherence report           {t_report:>8.3} s");
    Ok(())
}
