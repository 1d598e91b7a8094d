//! `frontier coherence`: the coherence report of a trained model from the documented files.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail, ensure};
use burn::tensor::Device;
use frontier_model::{Loss, Precision, tensor_from};
use frontier_probes::CoherenceReport;

use crate::config::ExperimentConfig;
use crate::memory::{Estimate, read_header};
use crate::models::Net;
use crate::tensors::{HostTensor, TensorFile};

/// Where the data and weights come from.
pub struct Inputs {
    /// `data.safetensors`: x [n, P, d], y \[n\], forget \[n\].
    pub data: PathBuf,
    /// `weights.safetensors`: w_pos [m, d], w_neg [m, d].
    pub weights: PathBuf,
    /// The run directory they come from, if any.
    pub run: Option<PathBuf>,
}

impl Inputs {
    /// The two files of a run directory written by `frontier train`, after checking that the
    /// directory is complete ([`crate::train::check_run`]).
    pub fn from_run(dir: &Path) -> Result<Self> {
        crate::train::check_run(dir)?;
        Ok(Self {
            data: dir.join("data.safetensors"),
            weights: dir.join("weights.safetensors"),
            run: Some(dir.to_path_buf()),
        })
    }

    /// The loss to probe: `flag` if given, else the run's training loss (logistic without a
    /// run). A flag that differs from the run's loss is honoured, and said on stderr.
    pub fn loss(&self, flag: Option<Loss>) -> Result<Loss> {
        let Some(dir) = &self.run else {
            return Ok(flag.unwrap_or(Loss::Logistic));
        };
        let trained = ExperimentConfig::load(Some(&dir.join("config.resolved.toml")), &[])?
            .train
            .loss;
        match flag {
            Some(loss) if loss != trained => {
                eprintln!(
                    "note: probing the {} loss at the w* of a run trained with the {} loss \
                     (--loss overrides the run's)",
                    loss.name(),
                    trained.name()
                );
                Ok(loss)
            }
            _ => Ok(trained),
        }
    }

    /// Bytes the report holds at its peak (see the README, "Memory"), from the files' headers:
    /// the files, the inputs on the host and device, the per-sample gradients [n, p] (f64 on
    /// the generic path of models without rank-one Hessians) and the n×n matrices.
    pub fn estimate(&self, precision: Precision) -> Result<Estimate> {
        let data = read_header(&self.data)?;
        let weights = read_header(&self.weights)?;
        let (n, values) = match data.shape("x") {
            Some(shape) => (
                shape.first().copied().unwrap_or(0) as f64,
                shape.iter().map(|&k| k as f64).product(),
            ),
            None => (0.0, 0.0),
        };
        let generic = weights.metadata.get("model").is_some_and(|m| m != "cnn");
        Ok(estimate(
            "frontier coherence",
            (n, values, weights.elements()),
            precision,
            generic,
        )
        .arrays(
            "the two files",
            1.0,
            (data.file_bytes + weights.file_bytes) as f64,
            1.0,
        ))
    }
}

/// Bytes a coherence report holds at its peak for n samples with `values` input values and
/// p parameters: the inputs on the host (f64) and on the device, the per-sample gradients
/// [n, p] (f64 on the `generic` path of models without rank-one Hessians) and the n×n Gram
/// and coherence matrices with their eigen-solves (calibrated in the README, "Memory").
pub fn estimate(
    command: &'static str,
    (n, values, p): (f64, f64, f64),
    precision: Precision,
    generic: bool,
) -> Estimate {
    let s = match precision {
        Precision::F32 => 4.0,
        Precision::F64 => 8.0,
    };
    Estimate::new(command)
        .arrays("inputs x on the host and device", 3.0, values, 8.0)
        .arrays(
            format!("per-sample gradients [n, p], n = {n}, p = {p}"),
            if generic { 6.0 } else { 3.0 },
            n * p,
            if generic { 8.0 } else { s },
        )
        .arrays(
            format!("Gram and coherence matrices n×n, n = {n}"),
            9.0,
            n * n,
            8.0,
        )
}

/// Checks that every value of `t` is in `allowed`.
fn check_values(t: &HostTensor, allowed: &[f64], words: &str) -> Result<()> {
    if let Some((i, v)) = t
        .values
        .iter()
        .enumerate()
        .find(|(_, v)| !allowed.contains(v))
    {
        bail!(
            "tensor `{}` must hold only {words}, found {v} at index {i}",
            t.name
        );
    }
    Ok(())
}

/// Loads the files, checks names, shapes and values, and probes the model at its weights.
pub fn run(
    inputs: &Inputs,
    loss: Loss,
    alpha: f64,
    device: &Device,
    precision: Precision,
) -> Result<CoherenceReport> {
    ensure!(
        (0.0..=1.0).contains(&alpha),
        "--alpha must lie in [0, 1], got {alpha}"
    );
    let data = TensorFile::open(&inputs.data)?;
    let weights = TensorFile::open(&inputs.weights)?;
    let x = data.get("x", 3)?;
    ensure!(
        x.shape.iter().all(|&k| k > 0),
        "{}: tensor `x` has shape {:?}, expected [n, P, d] with every dimension at least 1",
        inputs.data.display(),
        x.shape
    );
    let (n, p, d) = (x.shape[0], x.shape[1], x.shape[2]);
    let y = data.get("y", 1)?;
    let forget = data.get("forget", 1)?;
    for t in [&y, &forget] {
        ensure!(
            t.shape == [n],
            "tensor `{}` has shape {:?}, expected [{n}] (n from `x`)",
            t.name,
            t.shape
        );
    }
    check_values(&y, &[-1.0, 1.0], "labels −1 or +1")?;
    check_values(&forget, &[0.0, 1.0], "0 (retain) or 1 (forget)")?;
    let forget: Vec<bool> = forget.values.iter().map(|&v| v == 1.0).collect();
    let n_forget = forget.iter().filter(|&&f| f).count();
    ensure!(
        n_forget > 0,
        "tensor `forget` marks no sample: the forget set is empty"
    );
    ensure!(
        n_forget < n,
        "tensor `forget` marks every sample: the retain set is empty"
    );
    let net = Net::load(&weights, [p, d], device, precision)?;
    if let Some(empty) = net.weights().0.iter().find(|t| t.values.is_empty()) {
        bail!(
            "{}: tensor `{}` has shape {:?}, expected every dimension at least 1 (a model with \
             no units has no curvature to probe)",
            inputs.weights.display(),
            empty.name,
            empty.shape
        );
    }
    net.coherence(
        loss,
        tensor_from(&x.values, [n, p, d], device, precision),
        tensor_from(&y.values, [n], device, precision),
        &forget,
        alpha,
    )
}

/// The report as an aligned, readable table.
pub fn table(r: &CoherenceReport) -> String {
    let rows = [
        (
            "samples n (retain + forget)",
            format!("{} ({} + {})", r.n, r.n_retain, r.n_forget),
        ),
        ("loss", r.loss.name().to_string()),
        ("alpha (forget weight)", format!("{}", r.alpha)),
        ("sigma (all samples)", format!("{:.4}", r.sigma)),
        ("sigma_R (within retain)", format!("{:.4}", r.sigma_r)),
        ("sigma_F (within forget)", format!("{:.4}", r.sigma_f)),
        ("sigma_RF (retain-forget)", format!("{:.4}", r.sigma_rf)),
        ("sigma_U (pairs, |a|,|b|)", format!("{:.4}", r.sigma_u)),
        (
            "sigma_U signed (clamped)",
            format!("{:.4}", r.sigma_u_signed),
        ),
        ("lambda_max(H)", format!("{:.6e}", r.lambda_max_h)),
        ("tr(H)", format!("{:.6e}", r.trace_h)),
        (
            "lambda_min(H_alpha)",
            format!("{:.6e}", r.lambda_min_h_alpha),
        ),
        (
            "lambda_max(H_alpha)",
            format!("{:.6e}", r.lambda_max_h_alpha),
        ),
        (
            "residual |grad| at w*",
            format!("{:.6e}", r.residual_grad_norm),
        ),
    ];
    rows.iter().map(|(k, v)| format!("{k:<30} {v}\n")).collect()
}
