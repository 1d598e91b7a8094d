//! The kernels `frontier bench` times, with their counted FLOPs, and the per-figure timings.
//!
//! FLOP counts (one multiply-add = 2 flops):
//! - square matmul [N, N]·[N, N]: 2N³;
//! - CNN per-sample gradients (n samples, P patches, d, m filters per bank): the
//!   pre-activations [nP, d]·[d, m] per bank and the gradient products [m, P]·[P, d] per sample
//!   and bank: 8·n·P·d·m;
//! - Gram G·Gᵀ of G [n, p]: 2n²p;
//! - one CNN unlearning step over R runs with k rows each (padding included): forward
//!   pre-activations and the gradient matmul, both banks: 8·R·k·P·d·m;
//! - one simulator step of the linearised dynamics in span coordinates of rank r with
//!   B_r + B_f sampled rank-one Hessians: a dot and an update per sample, 4·r·(B_r + B_f).

use anyhow::Result;
use burn::tensor::{Distribution, Tensor};
use frontier_model::{
    CnnConfig, DataConfig, Dataset, DeviceData, Loss, Model, index_tensor, to_f64,
};
use frontier_stability::simulate::{InitialState, SimOptions, simulate};
use frontier_stability::{Curvature, Family, Problem, Settings};
use frontier_unlearn::{BatchRun, SetupConfig, UnlearnConfig, bench_step, seeds};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{SuiteOptions, Target, Timing, repeat, timed};
use crate::backend::Backend;
use crate::figures::spec::ConfigFile;
use crate::figures::{Batching, Context};
use crate::progress::Mode;
use frontier_unlearn::Store;

/// One timed kernel at one size.
pub struct Measured {
    /// Kernel name.
    pub name: &'static str,
    /// Sizes in words.
    pub size: String,
    /// The timing.
    pub timing: Timing,
    /// Counted flops per repetition.
    pub flops: Option<f64>,
}

/// CNN problem sizes: samples n, patch dimension d, filters per bank m (P = 2).
const CNN_SIZES: [(usize, usize, usize); 2] = [(100, 500, 10), (1000, 2000, 20)];
const CNN_SIZES_QUICK: [(usize, usize, usize); 1] = [(40, 120, 5)];
const PATCHES: usize = 2;

/// Runs of a whole grid for the unlearning-step kernel: figure 4's 6 B × 11 α × 5 seeds,
/// each with the largest batch (B_r = B_f = 10, so k = 20 rows).
const GRID_RUNS: usize = 330;
const GRID_ROWS: usize = 20;

/// Every kernel at every size of `opts`, each handed to `emit` as soon as it is measured (so a
/// run cut short keeps what it measured).
pub fn all(
    opts: &SuiteOptions,
    target: &Target,
    emit: &mut dyn FnMut(Measured) -> Result<()>,
) -> Result<()> {
    let matmul_sizes: &[usize] = match (opts.quick, target.backend) {
        (true, _) => &[128],
        // A GPU needs larger products to reach its rate.
        (false, Backend::Wgpu) => &[1024, 2048, 4096],
        (false, _) => &[512, 1024, 2048],
    };
    for &n in matmul_sizes {
        emit(matmul(opts.reps, target, n))?;
    }
    let cnn_sizes: &[(usize, usize, usize)] = if opts.quick {
        &CNN_SIZES_QUICK
    } else {
        &CNN_SIZES
    };
    for &(n, d, m) in cnn_sizes {
        for measured in cnn_kernels(opts.reps, target, n, d, m)? {
            emit(measured)?;
        }
    }
    let (n, d, m) = cnn_sizes[0];
    let runs = if opts.quick { 18 } else { GRID_RUNS };
    for measured in unlearn_steps(opts.reps, target, n, d, m, runs)? {
        emit(measured)?;
    }
    emit(grid_step(opts, target)?)?;
    emit(simulator_step(
        opts.reps,
        if opts.quick { 20 } else { 100 },
    )?)
}

/// Bytes the suite holds at its peak: its largest CNN problem (as a coherence report of that
/// size), three square matrices of the largest matmul, the timings, and with `--figures` the
/// largest figure.
pub fn estimate(opts: &SuiteOptions, target: &Target) -> crate::memory::Estimate {
    let (n, d, m) = if opts.quick {
        CNN_SIZES_QUICK[0]
    } else {
        CNN_SIZES[CNN_SIZES.len() - 1]
    };
    let matmul: f64 = match (opts.quick, target.backend) {
        (true, _) => 128.0,
        (false, Backend::Wgpu) => 4096.0,
        (false, _) => 2048.0,
    };
    let bytes = match target.precision {
        frontier_model::Precision::F32 => 4.0,
        frontier_model::Precision::F64 => 8.0,
    };
    let (n, d, m) = (n as f64, d as f64, m as f64);
    let figures: Vec<&str> = if opts.figures {
        crate::memory::figure_names()
    } else {
        Vec::new()
    };
    let peak_figure = crate::memory::figures("frontier bench", &figures).total();
    crate::coherence::estimate(
        "frontier bench",
        (n, n * PATCHES as f64 * d, 2.0 * m * d),
        target.precision,
        false,
    )
    .arrays(
        "square matmul operands and product",
        3.0,
        matmul * matmul,
        bytes,
    )
    .arrays(
        format!("timings of --reps {}", opts.reps),
        16.0,
        opts.reps as f64,
        8.0,
    )
    .arrays("the largest figure (--figures)", 1.0, peak_figure, 1.0)
}

/// A random [rows, cols] tensor on the target.
fn random(target: &Target, shape: [usize; 2]) -> Tensor<2> {
    Tensor::<2>::random(
        shape,
        Distribution::Normal(0.0, 1.0),
        (&target.device, target.precision.dtype()),
    )
}

/// Waits for `t` by reading one number back (lazy backends run on read-back).
fn sync<const D: usize>(t: Tensor<D>) {
    to_f64(t.sum());
}

fn matmul(reps: usize, target: &Target, n: usize) -> Measured {
    let (a, b) = (random(target, [n, n]), random(target, [n, n]));
    Measured {
        name: "matmul",
        size: format!("N={n}"),
        timing: repeat(reps, || sync(a.clone().matmul(b.clone()))),
        flops: Some(2.0 * (n as f64).powi(3)),
    }
}

/// Data and a CNN at initialisation (the cost of these kernels does not depend on the weights).
fn cnn_problem(
    target: &Target,
    n: usize,
    d: usize,
    m: usize,
) -> Result<(DeviceData, frontier_model::Cnn)> {
    let data = Dataset::generate(&DataConfig {
        n,
        n_test: 0,
        d,
        patches: PATCHES,
        n_forget: n / 10,
        snr: 0.2,
        ..DataConfig::default()
    })?;
    let on_device = DeviceData::new(&data, &target.device, target.precision);
    let cnn = CnnConfig {
        m,
        ..CnnConfig::default()
    }
    .init(d, &target.device, target.precision)?;
    Ok((on_device, cnn))
}

/// Per-sample gradients G [n, p] and the Gram G·Gᵀ.
fn cnn_kernels(
    reps: usize,
    target: &Target,
    n: usize,
    d: usize,
    m: usize,
) -> Result<Vec<Measured>> {
    let (data, cnn) = cnn_problem(target, n, d, m)?;
    let p = cnn.param_count() as f64;
    let size = format!("n={n} d={d} m={m} P={PATCHES} p={p}");
    let g = cnn.score_grads(data.x.clone());
    let (nf, pf, df, mf) = (n as f64, PATCHES as f64, d as f64, m as f64);
    Ok(vec![
        Measured {
            name: "per_sample_grads",
            size: size.clone(),
            timing: repeat(reps, || sync(cnn.score_grads(data.x.clone()))),
            flops: Some(8.0 * nf * pf * df * mf),
        },
        Measured {
            name: "gram",
            size,
            timing: repeat(reps, || sync(g.clone().matmul(g.clone().transpose()))),
            flops: Some(2.0 * nf * nf * p),
        },
    ])
}

/// One unlearning step of `runs` CNNs with k = 20 rows each: all runs as one batched call,
/// and the same work one run at a time.
fn unlearn_steps(
    reps: usize,
    target: &Target,
    n: usize,
    d: usize,
    m: usize,
    runs: usize,
) -> Result<Vec<Measured>> {
    let (data, cnn) = cnn_problem(target, n, d, m)?;
    let k = GRID_ROWS.min(n);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let rows: Vec<i64> = (0..runs * k)
        .map(|_| rng.random_range(0..n as i64))
        .collect();
    let index = index_tensor(rows, &target.device);
    let x = data.x.clone().select(0, index.clone());
    let y = data.y.clone().select(0, index);
    let weights = Tensor::<1>::full(
        [runs * k],
        1.0 / k as f64,
        (&target.device, target.precision.dtype()),
    );
    let params: Tensor<2> = Tensor::stack(vec![cnn.params(); runs], 0);
    let size = format!("n={n} d={d} m={m} P={PATCHES} runs={runs} k={k}");
    let flops = Some(8.0 * (runs * k * PATCHES * d * m) as f64);
    let batched = repeat(reps, || {
        let grads = cnn.loss_grads_many(
            Loss::Logistic,
            params.clone(),
            x.clone().reshape([runs, k, PATCHES, d]),
            y.clone().reshape([runs, k]),
            weights.clone().reshape([runs, k]),
        );
        sync(params.clone() - grads.mul_scalar(0.5));
    });
    let per_run = repeat(reps, || {
        for r in 0..runs {
            let rows = r * k..(r + 1) * k;
            let grad = cnn.loss_grad(
                Loss::Logistic,
                x.clone().slice([rows.clone()]),
                y.clone().slice([rows.clone()]),
                weights.clone().slice([rows]),
            );
            sync(cnn.params() - grad.mul_scalar(0.5));
        }
    });
    Ok(vec![
        Measured {
            name: "unlearn_step_batched",
            size: size.clone(),
            timing: batched,
            flops,
        },
        Measured {
            name: "unlearn_step_per_run",
            size,
            timing: per_run,
            flops,
        },
    ])
}

/// Timed steps per repetition of [`grid_step`] (each repetition reports their mean).
const GRID_STEPS: usize = 5;

/// One real step of a whole unlearning grid, batched (`frontier_unlearn::bench_step`):
/// figure 4's logistic grid at SNR 0.05 (B ∈ {1, 2, 3, 5, 7, 10} × 11 α × 5 seeds = 330
/// runs from 5 pre-trained setups), host batch draws, padding and the read-back of ‖w − w*‖
/// included; flops are those of its two matmuls. `--quick`: n = 40, d = 120, m = 5,
/// B ∈ {1, 3} × 3 α × 2 seeds.
fn grid_step(opts: &SuiteOptions, target: &Target) -> Result<Measured> {
    let ((n, d, m), batches, alphas, seeds): ((usize, usize, usize), &[usize], Vec<f64>, u64) =
        if opts.quick {
            (CNN_SIZES_QUICK[0], &[1, 3], vec![0.0, 0.5, 1.0], 2)
        } else {
            (
                CNN_SIZES[0],
                &[1, 2, 3, 5, 7, 10],
                vec![0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0],
                5,
            )
        };
    let mut base: SetupConfig = SetupConfig::default();
    base.data.n = n;
    base.data.d = d;
    base.data.n_forget = (n / 10).max(3);
    base.data.snr = 0.05;
    base.model.m = m;
    base.precision = target.precision;
    let setups = (0..seeds)
        .map(|rep| base.seeded(0, rep as usize).prepare(&target.device))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let setups: Vec<_> = setups.iter().collect();
    let runs = || {
        let mut runs = Vec::new();
        for (rep, _) in setups.iter().enumerate() {
            for (cell, (&b, &alpha)) in batches
                .iter()
                .flat_map(|b| alphas.iter().map(move |a| (b, a)))
                .enumerate()
            {
                let config = UnlearnConfig {
                    step: Settings::new(0.5, alpha, b),
                    ..UnlearnConfig::default()
                };
                let rng = seeds::stream(0, cell as u64, rep as u64);
                runs.push(BatchRun {
                    setup: rep,
                    config,
                    rng,
                });
            }
        }
        runs
    };
    // bench_step warms up with one untimed step and times only the steps themselves.
    let steps = (0..opts.reps.max(1))
        .map(|_| bench_step(&setups, runs(), GRID_STEPS))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let last = steps[steps.len() - 1];
    Ok(Measured {
        name: "unlearn_step_grid",
        size: format!(
            "n={n} d={d} m={m} P={PATCHES} runs={} mean_k={:.1}",
            last.runs, last.rows
        ),
        timing: Timing::of(steps.iter().map(|s| s.seconds).collect()),
        flops: Some(last.flops),
    })
}

/// Simulated steps of the linearised dynamics per repetition.
const SIM_STEPS: usize = 2000;

/// One step of the linearised simulator on dense rank-one families of rank r (r retain +
/// forget samples, 90 % retain), B_r = B_f = min(5, n_f), α = 0.5: the time of 2000 steps / 2000.
fn simulator_step(reps: usize, r: usize) -> Result<Measured> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let family = |rows: usize, rng: &mut ChaCha8Rng| {
        let g = DMatrix::from_fn(rows, r, |_, _| rng.random::<f64>() - 0.5);
        let c = vec![1.0; rows];
        Family::rank_one(&g, &c)
    };
    let n_forget = r / 10;
    let retain = family(r - n_forget, &mut rng)?;
    let forget = family(n_forget, &mut rng)?;
    let curvature = Curvature::new(&retain, Some(&forget))?;
    let (b, eta) = (5.min(n_forget), 1e-3);
    let problem = Problem::new(&curvature, Settings::new(eta, 0.5, b))?;
    let opts = SimOptions {
        steps: SIM_STEPS,
        reps: 1,
        threshold: f64::INFINITY,
        init: InitialState::Normal,
        ..SimOptions::default()
    };
    let mut error = None;
    let total = repeat(reps, || {
        if let Err(e) = simulate(&problem, &opts, 0) {
            error = Some(e);
        }
    });
    if let Some(e) = error {
        return Err(e.into());
    }
    let per_step = |t: f64| t / SIM_STEPS as f64;
    Ok(Measured {
        name: "simulator_step",
        size: format!("r={r} B_r=B_f={b}"),
        timing: Timing {
            median: per_step(total.median),
            min: per_step(total.min),
            max: per_step(total.max),
        },
        flops: Some(4.0 * (r * 2 * b) as f64),
    })
}

/// Every committed figure once, each into a fresh temporary output and cache folder (so
/// nothing is cached), at `--quick` scale when `opts.quick`.
pub fn figures(
    opts: &SuiteOptions,
    target: &Target,
    emit: &mut dyn FnMut(&str, Timing) -> Result<()>,
) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let paths = crate::figures::committed(std::path::Path::new(crate::figures::COMMITTED), &[])?;
    for path in &paths {
        let file = ConfigFile::load(path, opts.quick, &[])?;
        let ctx = Context {
            out: opts
                .figures_out
                .clone()
                .unwrap_or_else(|| scratch.path().join("figures")),
            quick: opts.quick,
            device: target.device.clone(),
            dtype: None,
            store: Store::at(scratch.path().join(format!("runs_{}", file.name))),
            force: false,
            batched: Batching::Auto.batched(target.backend),
            model: None,
            mode: Mode::Quiet,
            dry_run: false,
            part: crate::figures::Part::Whole,
        };
        let (seconds, written) = timed(|| crate::figures::run_file(&file, &ctx, &file.name));
        written?;
        emit(
            &file.name,
            Timing {
                median: seconds,
                min: seconds,
                max: seconds,
            },
        )?;
    }
    Ok(())
}
