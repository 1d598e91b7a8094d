//! `frontier bench`: wall-clock measurements. The suite ([`suite`]) times the core kernels
//! (and optionally every figure) for a range of sizes, prints a table and writes
//! `assets/bench/<backend>.csv`; `frontier bench coherence` times the coherence report, and
//! `frontier bench convnet` the convnet on the digits (per-sample gradients, both coherences).

mod coherence;
mod convnet;
mod kernels;
mod stability;

pub use kernels::estimate;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use frontier_model::Precision;
use serde::Serialize;

use crate::backend::Backend;
pub use coherence::{CoherenceSize, coherence};
pub use convnet::{ConvnetBench, convnet};
pub use stability::{StabilitySize, stability};

/// Seconds taken by `f`, and its result.
fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

/// Median and spread of repeated measurements, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Median.
    pub median: f64,
    /// Fastest.
    pub min: f64,
    /// Slowest.
    pub max: f64,
}

/// Runs `f` once to warm up (allocations, first-call costs), then `reps` times, timing each.
/// `f` must return only when its work is done (read a scalar back on lazy backends).
fn repeat(reps: usize, mut f: impl FnMut()) -> Timing {
    f();
    Timing::of((0..reps.max(1)).map(|_| timed(&mut f).0).collect())
}

impl Timing {
    /// Median, min and max of `times` (seconds; at least one).
    fn of(mut times: Vec<f64>) -> Timing {
        times.sort_by(f64::total_cmp);
        Timing {
            median: times[times.len() / 2],
            min: times[0],
            max: times[times.len() - 1],
        }
    }
}

/// One measured kernel at one size: a CSV row of `assets/bench/<backend>.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// "kernel" or "figure".
    pub kind: &'static str,
    /// What was timed, e.g. "matmul", "unlearn_step_batched", "figure4".
    pub name: String,
    /// The sizes, e.g. "n=100 d=500 m=10 P=2 runs=330".
    pub size: String,
    /// Backend and precision, e.g. "flex f32".
    pub backend: String,
    /// CPU model and logical cores, or the GPU.
    pub machine: String,
    /// Timed repetitions (kernels: after one warm-up; figures: one cold run).
    pub reps: usize,
    /// Median seconds per repetition.
    pub median_s: f64,
    /// Fastest repetition, seconds.
    pub min_s: f64,
    /// Slowest repetition, seconds.
    pub max_s: f64,
    /// Floating-point operations counted per repetition (empty when not counted).
    pub flops: Option<f64>,
    /// flops / median_s / 1e9 (empty when not counted).
    pub gflops: Option<f64>,
}

/// What the suite runs.
pub struct SuiteOptions {
    /// Small sizes (seconds, for smoke tests) instead of the full range.
    pub quick: bool,
    /// Timed repetitions per kernel.
    pub reps: usize,
    /// Also time every figure once (fresh cache; minutes at full scale).
    pub figures: bool,
    /// Where those figures' PNGs and CSVs go (discarded when `None`).
    pub figures_out: Option<PathBuf>,
    /// Folder of the CSV (`<out>/<backend>.csv`; wgpu writes `gpu.csv`).
    pub out: PathBuf,
}

/// Where the suite runs.
pub struct Target {
    /// The backend the device belongs to.
    pub backend: Backend,
    /// The device.
    pub device: Device,
    /// Float precision of the tensors.
    pub precision: Precision,
}

impl Target {
    /// "flex f32".
    fn label(&self) -> String {
        format!("{} {:?}", self.backend.name(), self.precision).to_lowercase()
    }

    /// The CPU model and core count, plus the device for GPU backends.
    fn machine(&self) -> String {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        match self.backend {
            Backend::Wgpu => format!(
                "{} (host: {cpu}, {cores} threads)",
                nvidia_gpu().unwrap_or_else(|| format!("{:?}", self.device))
            ),
            _ => format!("{cpu}, {cores} threads"),
        }
    }
}

/// "NVIDIA H200, driver 580.159.04, 143771 MiB" from `nvidia-smi` (first GPU), when it runs:
/// Burn's wgpu device does not name its adapter.
fn nvidia_gpu() -> Option<String> {
    let out = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,driver_version,memory.total",
            "--format=csv,noheader",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let line = String::from_utf8(out.stdout)
        .ok()?
        .lines()
        .next()?
        .to_string();
    let mut fields = line.split(',').map(str::trim);
    let (name, driver, memory) = (fields.next()?, fields.next()?, fields.next()?);
    Some(format!("{name}, driver {driver}, {memory}"))
}

/// Runs the suite on `target`: prints a table, writes the CSV, returns its path.
pub fn suite(opts: &SuiteOptions, target: &Target) -> Result<PathBuf> {
    let machine = target.machine();
    let label = target.label();
    println!("frontier bench: {label} on {machine}, {} reps", opts.reps);
    println!(
        "{:<24} {:<40} {:>11} {:>11} {:>11} {:>9}",
        "kernel", "size", "median s", "min s", "max s", "GFLOP/s"
    );
    crate::output::create_dir(&opts.out)?;
    let path = csv_path(&opts.out, target.backend);
    let mut rows = Vec::new();
    // Every measured row is printed and the CSV rewritten at once (atomically), so a run cut
    // short (a time limit on a borrowed GPU) keeps what it measured.
    let mut record = |kind, name: &str, size: String, reps, t: Timing, flops: Option<f64>| {
        let gflops = flops.map(|f| f / t.median / 1e9);
        println!(
            "{name:<24} {size:<40} {:>11.3e} {:>11.3e} {:>11.3e} {:>9}",
            t.median,
            t.min,
            t.max,
            gflops.map_or("-".into(), |g| format!("{g:.2}"))
        );
        rows.push(Row {
            kind,
            name: name.to_string(),
            size,
            backend: label.clone(),
            machine: machine.clone(),
            reps,
            median_s: t.median,
            min_s: t.min,
            max_s: t.max,
            flops,
            gflops,
        });
        crate::output::write_rows(&path, &rows).map(drop)
    };
    kernels::all(opts, target, &mut |m| {
        record("kernel", m.name, m.size, opts.reps, m.timing, m.flops)
    })?;
    if opts.figures {
        kernels::figures(opts, target, &mut |name, t| {
            record("figure", name, String::new(), 1, t, None)
        })?;
    }
    println!("wrote {}", path.display());
    Ok(path)
}

/// `<out>/<backend>.csv`, `gpu.csv` for wgpu.
fn csv_path(out: &Path, backend: Backend) -> PathBuf {
    let stem = match backend {
        Backend::Wgpu => "gpu",
        other => other.name(),
    };
    out.join(format!("{stem}.csv"))
}
