//! `frontier`: maps the stability frontier of machine unlearning.

mod backend;
mod bench;
mod coherence;
mod config;
mod figures;
mod inspect;
mod memory;
mod models;
mod output;
mod progress;
mod stability;
mod tensors;
mod train;
mod weights;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use frontier_model::{Binary, ForgetKind, Loss, Precision};
use frontier_stability::{Sampling, SimOptions};
use frontier_unlearn::{Shard, Store};

use backend::Backend;
use config::ExperimentConfig;
use progress::Mode;

/// mimalloc instead of the system allocator: the CPU backends allocate a fresh buffer for
/// nearly every tensor operation, and glibc returns large blocks to the kernel on free, so
/// each reallocation page-faults again (figure 7 measured 23.3 s with glibc, see README).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Maps when gradient-ascent unlearning escapes a pre-trained minimum, and when it resists.
#[derive(Parser)]
#[command(name = "frontier", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The most memory a command may use, e.g. `8GiB`, `512MB` or `unlimited` (default: 3/4
    /// of physical memory). Every command estimates its peak from its sizes first and stops
    /// with the estimate, before allocating, when it would exceed this.
    #[arg(long, global = true, value_name = "SIZE")]
    max_memory: Option<String>,
}

/// Where tensors live and in which precision.
#[derive(Args, Clone, Copy)]
struct Compute {
    /// Compute backend (only those compiled in are available; default: the first of flex,
    /// ndarray, wgpu that is).
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    /// Float precision of the model's tensors; overrides the config's `dtype`.
    #[arg(long, value_parser = dtype_parser())]
    dtype: Option<Precision>,
}

/// `--dtype` values, listed in `--help`.
fn dtype_parser() -> impl TypedValueParser<Value = Precision> {
    PossibleValuesParser::new(["f32", "f64"]).try_map(|s| s.parse::<Precision>())
}

/// `--merge N`: a shard count, at least 1.
fn shard_count(text: &str) -> std::result::Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("expected the number of shards N ≥ 1, got `{text}`")),
    }
}

/// `--loss` values, listed in `--help`.
fn loss_parser() -> impl TypedValueParser<Value = Loss> {
    PossibleValuesParser::new(["logistic", "squared"]).try_map(|s| s.parse::<Loss>())
}

/// How grids run and where their cache lives (`heatmap` and `sweep`).
#[derive(Args)]
struct GridArgs {
    /// Cache folder for resumable grids: one folder per config hash, listed with what each
    /// holds in `index.csv`.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// Recompute cached grid cells (and the setups they need).
    #[arg(long)]
    force: bool,
    /// Compute only shard K of N (1 ≤ K ≤ N, e.g. `--shard 2/4`: one task of a job array)
    /// of every grid and figure-3 panel into the `--runs` cache, and write no output; then
    /// `--merge N` renders. Figures that have no cache (kinds hessian_sgd, hessian_unlearning
    /// and models) are left to `--merge`.
    #[arg(long, value_name = "K/N", conflicts_with = "merge")]
    shard: Option<Shard>,
    /// Render every output from the `--runs` cache that `--shard 1/N` … `--shard N/N` filled,
    /// computing no grid cell (figures without a cache are computed): exit 2 with the list of
    /// missing cells, and the shard of N that owns each, if any is missing.
    #[arg(long, value_name = "N", conflicts_with = "force", value_parser = shard_count)]
    merge: Option<usize>,
    /// How the unlearning runs of a grid advance: all together as batched tensors, or
    /// one model at a time (cells in parallel); `auto` batches on wgpu only. Same
    /// results up to rounding.
    #[arg(long, value_enum, default_value = "auto")]
    batching: figures::Batching,
    /// Run the model figures (kinds `grid` and `coherence`) with this registered model
    /// instead of their own: its registered figure config and logistic pre-training η
    /// replace theirs, and the files carry its name (e.g. `figure4_mlp_batch_alpha.png`).
    #[arg(long, value_enum)]
    model: Option<models::ModelKind>,
    /// Merge each config's `[quick]` table over it: small grids for smoke tests (the whole
    /// committed set in under 10 s on a 2-core CPU).
    #[arg(long)]
    quick: bool,
    /// No progress bars, progress lines or notes on stderr (the files written still go to
    /// stdout; warnings, e.g. of a corrupt cache file, still go to stderr).
    #[arg(long)]
    quiet: bool,
    /// Load, resolve and check every config and print what would run (panels, cells, seeds);
    /// compute and write nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    compute: Compute,
}

#[derive(Subcommand)]
enum Command {
    /// Pre-train a model and write its run directory (data, weights, config, summary).
    ///
    /// Prepares the data (signal-plus-noise, or a data file with a forget kind), pre-trains the
    /// model and writes the run directory as a whole.
    #[command(display_order = 2)]
    Train {
        /// Experiment config (TOML); the built-in defaults when omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override one config key, e.g. `--set data.snr=0.5` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// The model (sets the config's `model.kind`; the default is the config's, else cnn).
        #[arg(long, value_enum)]
        model: Option<models::ModelKind>,
        /// A data file (safetensors: x [n, C, H, W] or [n, P, d], y of n labels, optional forget,
        /// x_test, y_test) instead of generated data (sets `data.source = "file"`, `data.path`).
        #[arg(long, value_name = "FILE")]
        data: Option<PathBuf>,
        /// Class ids to ±1 labels: `odd-even` or `A-vs-B` such as `3-vs-8` (sets `data.binary`).
        #[arg(long, value_name = "MAP")]
        binary: Option<Binary>,
        /// How the forget set of a data file is chosen: mask, random, mislabelled, sub-class
        /// (with `--set data.forget.class=K`) or atypical (sets `data.forget.kind`).
        #[arg(long, value_name = "KIND")]
        forget: Option<ForgetKind>,
        #[command(flatten)]
        compute: Compute,
    },
    /// Print the coherence (σ, σ_R, σ_F, σ_RF, σ_U) and curvature of a trained model at w*.
    ///
    /// For a model whose per-sample Hessians are not rank one, exact and Gauss–Newton side by
    /// side.
    #[command(display_order = 5)]
    Coherence {
        /// A data file (x [n, P, d] or [n, C, H, W], labels y and a forget mask in {0, 1} of
        /// length n; see the README, "Your own data").
        #[arg(long, requires = "weights", conflicts_with = "run")]
        data: Option<PathBuf>,
        /// A weights file (one tensor per parameter block, e.g. w_pos [m, d], w_neg [m, d] for
        /// the CNN; the model named in its metadata, else the CNN).
        #[arg(long, requires = "data", conflicts_with = "run")]
        weights: Option<PathBuf>,
        /// Class ids of the data file's `y` to ±1 labels: `odd-even` or `A-vs-B`.
        #[arg(long, value_name = "MAP", requires = "data")]
        binary: Option<Binary>,
        /// A run directory written by `frontier train` (instead of --data/--weights).
        #[arg(long, required_unless_present = "data")]
        run: Option<PathBuf>,
        /// The loss whose curvature is probed [default: with --run, the loss the run was
        /// trained with (another value probes that loss at the run's w* and says so on
        /// stderr); with --data/--weights, logistic].
        #[arg(long, value_parser = loss_parser())]
        loss: Option<Loss>,
        /// Mixing ratio α ∈ [0, 1] (weight of the forget term) for H_α and σ_U.
        #[arg(long, default_value_t = 0.5)]
        alpha: f64,
        /// Print exactly one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        compute: Compute,
    },
    /// Print the stability verdicts (ρ(T), first moment, bound, Lyapunov) for Hessians you bring.
    ///
    /// The per-sample Hessians (rank one, dense, or a precomputed Gram matrix) come in a
    /// safetensors file; the criteria are ρ(T), the first moment, the coherence bound, the
    /// Lyapunov exponent and a simulation.
    #[command(display_order = 6)]
    Stability {
        /// File with `retain_g` [n_r, p] + `retain_c` (n_r values; rank one) or `retain_h`
        /// [n_r, p, p] (dense), and optionally the same for `forget_*`; or a precomputed
        /// `gram` [n, n] with `retain_c` (and `forget_c`) and the metadata key `params` = p.
        #[arg(long)]
        hessians: PathBuf,
        /// Learning rate η (> 0).
        #[arg(long)]
        eta: f64,
        /// Mixing ratio α ∈ [0, 1] (weight of the forget term).
        #[arg(long, default_value_t = 0.0)]
        alpha: f64,
        /// Retain batch size B_r (1 ≤ B_r ≤ n_r).
        #[arg(long)]
        batch: usize,
        /// Forget batch size B_f (default: B_r).
        #[arg(long)]
        batch_forget: Option<usize>,
        /// How batches are drawn each step.
        #[arg(long, value_enum, default_value = "without")]
        sampling: SamplingArg,
        /// Simulated steps per run.
        #[arg(long, default_value_t = 1000)]
        steps: usize,
        /// Simulated runs.
        #[arg(long, default_value_t = 10)]
        reps: usize,
        /// Seed of the simulation.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A simulated run diverges at the first step with ‖u‖² ≥ threshold·‖u₀‖² (> 1; `inf`
        /// never).
        #[arg(long, default_value_t = 1000.0)]
        threshold: f64,
        /// The training loss, for the finite-budget escape prediction T̂_esc ≤ K (K =
        /// `--steps`) in the output; needs --forget-loss, --forget-grad-norm and --radius.
        #[arg(long, value_parser = loss_parser(), requires_all = ["forget_loss", "forget_grad_norm", "radius"])]
        loss: Option<Loss>,
        /// Mean loss of the forget samples at w* (nats, ≥ 0; with --loss).
        #[arg(long, requires = "loss")]
        forget_loss: Option<f64>,
        /// Root mean square over the forget samples of the score-gradient norm ‖∇_w f(x_j)‖ at
        /// w* (≥ 0; with --loss).
        #[arg(long, requires = "loss")]
        forget_grad_norm: Option<f64>,
        /// Escape radius R (> 0, parameter units): a run has escaped once ‖w − w*‖ > R (the
        /// figures use R = ‖w*‖; with --loss).
        #[arg(long, requires = "loss")]
        radius: Option<f64>,
        /// Print exactly one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Time the core kernels (or coherence, stability, the convnet); write `<out>/<backend>.csv`.
    ///
    /// The kernels: matmul, per-sample gradients, Gram, one unlearning step over a whole grid
    /// batched and run by run, one simulator step, for a range of sizes; prints a table.
    #[command(args_conflicts_with_subcommands = true, display_order = 7)]
    Bench {
        #[command(subcommand)]
        target: Option<BenchTarget>,
        /// Small sizes only (a few seconds), for smoke tests.
        #[arg(long)]
        quick: bool,
        /// Timed repetitions per kernel (after one warm-up).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Also time every figure once, each with an empty cache (minutes at full scale).
        #[arg(long)]
        figures: bool,
        /// Keep what `--figures` makes (PNGs and CSVs) in this folder instead of discarding it.
        #[arg(long, value_name = "DIR", requires = "figures")]
        figures_out: Option<PathBuf>,
        /// Folder of the CSV (`flex.csv`, `ndarray.csv`, `gpu.csv` for wgpu).
        #[arg(long, default_value = "assets/bench")]
        out: PathBuf,
        #[command(flatten)]
        compute: Compute,
    },
    /// Regenerate every figure: PNG, CSV and resolved config into assets/figures/.
    ///
    /// Each figure comes from its config (`assets/configs/figures/*.toml`); beside each PNG
    /// go the CSV of its grid and its resolved config (`<stem>.config.toml`).
    #[command(display_order = 1)]
    Heatmap {
        /// Run these config files instead of the committed figures (repeatable).
        #[arg(long, value_name = "FILE", conflicts_with = "only")]
        config: Vec<PathBuf>,
        /// Only these committed figures (repeatable): figure1, figure2, figure3, figure4,
        /// figure5, figure6, figure7, figure8 (the file stems in assets/configs/figures); all
        /// when omitted.
        #[arg(long, value_name = "NAME")]
        only: Vec<String>,
        /// Output folder.
        #[arg(long, default_value = "assets/figures")]
        out: PathBuf,
        #[command(flatten)]
        grid: GridArgs,
    },
    /// Run a grid of your own from a TOML file: CSV, heatmap PNG and resolved config.
    ///
    /// One or two axes over B, B_f, α, SNR, η, the step budget, n_f, the forget fraction or
    /// kind, the loss or label noise (a third as panels), any registered model; writes the
    /// CSV (one row per cell), the heatmap PNG with predicted boundaries (a line plot for one
    /// axis) and the resolved config. See assets/configs/sweeps/.
    #[command(display_order = 3)]
    Sweep {
        /// The sweep config (TOML, `kind = "grid"`, which may be omitted).
        #[arg(long)]
        config: PathBuf,
        /// Override one config key, e.g. `--set grid.reps=3` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Output folder.
        #[arg(long, default_value = "sweeps")]
        out: PathBuf,
        #[command(flatten)]
        grid: GridArgs,
    },
    /// Run one unlearning run from a run directory: trajectory CSV, plots, unlearned weights.
    ///
    /// Starts from a `frontier train` run directory and records every outcome every k steps.
    /// The retrain reference (same initialisation, retain set only) is computed.
    #[command(display_order = 4)]
    Unlearn {
        #[command(flatten)]
        args: inspect::Args,
        /// No notes on stderr.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        compute: Compute,
    },
}

/// What `frontier bench` measures.
#[derive(Subcommand)]
enum BenchTarget {
    /// The full coherence report of a CNN (per-sample gradients, G·Gᵀ, σ's, spectra).
    Coherence {
        /// Samples n.
        #[arg(long, default_value_t = 1000)]
        n: usize,
        /// Forget samples n_f (the pair coherence costs O((n_r·n_f)²) per matvec).
        #[arg(long, default_value_t = 10)]
        n_forget: usize,
        /// Patch dimension d.
        #[arg(long, default_value_t = 2000)]
        d: usize,
        /// Filters per class m.
        #[arg(long, default_value_t = 20)]
        m: usize,
        /// Patches P.
        #[arg(long, default_value_t = 2)]
        patches: usize,
        #[command(flatten)]
        compute: Compute,
    },
    /// The convnet on the shipped digits (run from the repository root): pre-training,
    /// per-sample gradients of the whole training set, Gram, Gauss–Newton and exact coherence.
    Convnet {
        /// Timed repetitions of each kernel (after one warm-up).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Hutchinson probes of the exact coherence report.
        #[arg(long, default_value_t = 100)]
        probes: usize,
        /// Skip the exact coherence report (minutes on a 2-core CPU).
        #[arg(long)]
        skip_exact: bool,
        #[command(flatten)]
        compute: Compute,
    },
    /// The stages of `frontier stability` (reduction to the curvature span, ρ(T), first
    /// moment, simulation, coherence) on a random rank-one problem.
    Stability {
        /// Retain samples n_r.
        #[arg(long, default_value_t = 1000)]
        n: usize,
        /// Forget samples n_f (0: plain SGD).
        #[arg(long, default_value_t = 0)]
        n_forget: usize,
        /// Parameter count p.
        #[arg(long, default_value_t = 50_000)]
        p: usize,
    },
}

/// Batch sampling scheme on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SamplingArg {
    /// Without replacement (B distinct samples).
    Without,
    /// With replacement (B independent draws).
    With,
    /// Each sample with probability B/n.
    Bernoulli,
}

impl From<SamplingArg> for Sampling {
    fn from(s: SamplingArg) -> Self {
        match s {
            SamplingArg::Without => Sampling::Without,
            SamplingArg::With => Sampling::With,
            SamplingArg::Bernoulli => Sampling::Bernoulli,
        }
    }
}

impl Compute {
    /// The device for the chosen (or default) backend in `precision`.
    fn device(&self, precision: Precision) -> Result<burn::tensor::Device> {
        self.backend
            .unwrap_or_else(Backend::default_compiled)
            .device(precision)
    }

    /// The precision: the flag, else f32 on wgpu and f64 on the CPU backends.
    fn precision_or_best(&self) -> Precision {
        self.dtype.unwrap_or(match self.backend {
            Some(Backend::Wgpu) => Precision::F32,
            _ => Precision::F64,
        })
    }
}

fn run(cli: Cli) -> Result<()> {
    let budget = memory::Budget::new(cli.max_memory.as_deref())?;
    match cli.command {
        Command::Train {
            config,
            mut overrides,
            out,
            model,
            data,
            binary,
            forget,
            compute,
        } => {
            // The flags come first, so that `--set` can still override them.
            let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
            let flags = [
                model.map(|kind| kind.override_item()),
                data.as_ref().map(|_| "data.source=\"file\"".to_string()),
                data.as_ref()
                    .map(|p| format!("data.path={}", quoted(&p.display().to_string()))),
                binary.map(|b| format!("data.binary={}", quoted(&b.to_string()))),
                forget.map(|k| format!("data.forget.kind={}", quoted(k.name()))),
            ];
            for (i, item) in flags.into_iter().flatten().enumerate() {
                overrides.insert(i, item);
            }
            let mut cfg = ExperimentConfig::load(config.as_deref(), &overrides)?;
            cfg.dtype = compute.dtype.unwrap_or(cfg.dtype);
            train::estimate(&cfg)?.check(&budget)?;
            let device = compute.device(cfg.dtype)?;
            let trained = train::train(&cfg, &device)?;
            train::write_run(&out, &cfg, &trained)?;
            let r = &trained.report;
            println!(
                "{}",
                train::forget_line(&trained.prepared.forget, &trained.fit, &trained.report)
            );
            println!(
                "trained {} steps in {:.2} s: loss {:.3e}, train acc {:.3}, test acc {:.3}, \
                 |grad| {:.2e}, max per-sample |grad| {:.2e}{}",
                r.steps,
                trained.seconds,
                r.final_loss,
                r.train_accuracy,
                r.test_accuracy,
                r.full_grad_norm,
                r.max_sample_grad_norm,
                r.diverged_at
                    .map(|k| format!(" (diverged at step {k})"))
                    .unwrap_or_default()
            );
            println!("wrote {}", out.display());
            Ok(())
        }
        Command::Coherence {
            data,
            weights,
            binary,
            run,
            loss,
            alpha,
            json,
            compute,
        } => {
            let inputs = match (run, data, weights) {
                (Some(dir), _, _) => coherence::Inputs::from_run(&dir)?,
                (None, Some(data), Some(weights)) => coherence::Inputs {
                    data,
                    weights,
                    binary,
                    run: None,
                },
                _ => anyhow::bail!("give --run DIR, or both --data and --weights"),
            };
            let loss = inputs.loss(loss)?;
            let precision = compute.precision_or_best();
            inputs.estimate(precision)?.check(&budget)?;
            let report =
                coherence::run(&inputs, loss, alpha, &compute.device(precision)?, precision)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", coherence::table(&report));
            }
            Ok(())
        }
        Command::Stability {
            hessians,
            eta,
            alpha,
            batch,
            batch_forget,
            sampling,
            steps,
            reps,
            seed,
            threshold,
            loss,
            forget_loss,
            forget_grad_norm,
            radius,
            json,
        } => {
            let escape = loss.map(|loss| stability::EscapeArgs {
                loss,
                forget_loss: forget_loss.unwrap_or_default(),
                forget_grad_norm: forget_grad_norm.unwrap_or_default(),
                radius: radius.unwrap_or_default(),
            });
            let args = stability::Args {
                escape,
                eta,
                alpha,
                batch,
                batch_forget,
                sampling: sampling.into(),
                sim: SimOptions {
                    steps,
                    reps,
                    seed,
                    threshold,
                    ..SimOptions::default()
                },
            };
            let report = stability::run(&hessians, &args, &budget)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                for (key, value) in serde_json::to_value(report)?
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    println!("{key:<26} {value}");
                }
            }
            Ok(())
        }
        Command::Bench {
            target: None,
            quick,
            reps,
            figures,
            figures_out,
            out,
            compute,
        } => {
            if reps == 0 {
                anyhow::bail!("--reps must be at least 1");
            }
            let backend = compute.backend.unwrap_or_else(Backend::default_compiled);
            let precision = compute.dtype.unwrap_or(Precision::F32);
            let target = bench::Target {
                backend,
                device: backend.device(precision)?,
                precision,
            };
            let opts = bench::SuiteOptions {
                quick,
                reps,
                figures,
                figures_out,
                out,
            };
            bench::estimate(&opts, &target).check(&budget)?;
            bench::suite(&opts, &target).map(|_| ())
        }
        Command::Bench {
            target:
                Some(BenchTarget::Coherence {
                    n,
                    n_forget,
                    d,
                    m,
                    patches,
                    compute,
                }),
            ..
        } => {
            let precision = compute.dtype.unwrap_or(Precision::F32);
            let size = bench::CoherenceSize {
                n,
                n_forget,
                d,
                m,
                patches,
            };
            let (nf, values) = (n as f64, n as f64 * patches as f64 * d as f64);
            let params = 2.0 * m as f64 * d as f64;
            coherence::estimate(
                "frontier bench coherence",
                (nf, values, params),
                precision,
                false,
            )
            .check(&budget)?;
            bench::coherence(&size, &compute.device(precision)?, precision)
        }
        Command::Bench {
            target:
                Some(BenchTarget::Convnet {
                    reps,
                    probes,
                    skip_exact,
                    compute,
                }),
            ..
        } => {
            let precision = compute.precision_or_best();
            let bench = bench::ConvnetBench {
                reps,
                probes,
                skip_exact,
            };
            bench::convnet(&bench, &compute.device(precision)?, precision)
        }
        Command::Bench {
            target: Some(BenchTarget::Stability { n, n_forget, p }),
            ..
        } => bench::stability(&bench::StabilitySize {
            n_retain: n,
            n_forget,
            p,
        }),
        Command::Heatmap {
            config,
            only,
            out,
            grid,
        } => {
            let paths = if config.is_empty() {
                figures::committed(std::path::Path::new(figures::COMMITTED), &only)?
            } else {
                config
            };
            let names: Vec<String> = paths
                .iter()
                .filter_map(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
                .collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            memory::figures("frontier heatmap", &names).check(&budget)?;
            figures::run_all(&paths, &grid.context(out)?)
        }
        Command::Sweep {
            config,
            overrides,
            out,
            grid,
        } => {
            let ctx = grid.context(out)?;
            let mut file = figures::spec::ConfigFile::load(&config, ctx.quick, &overrides)?;
            match file.kind.as_deref() {
                None | Some("grid") => file.kind = Some("grid".into()),
                Some(other) => anyhow::bail!(
                    "{}: a sweep is a `kind = \"grid\"` config, got kind `{other}` (run it with \
                     `frontier heatmap --config`)",
                    config.display()
                ),
            }
            figures::run_all_files(&[file], &ctx)
        }
        Command::Unlearn {
            args,
            quiet,
            compute,
        } => inspect::run(&args, &compute, Mode::detect(quiet)),
    }
}

impl GridArgs {
    /// The figures' context writing into `out`.
    fn context(self, out: PathBuf) -> Result<figures::Context> {
        let backend = self
            .compute
            .backend
            .unwrap_or_else(Backend::default_compiled);
        Ok(figures::Context {
            out,
            quick: self.quick,
            device: backend.device(self.compute.dtype.unwrap_or(Precision::F32))?,
            dtype: self.compute.dtype,
            store: Store::at(self.runs),
            force: self.force,
            batched: self.batching.batched(backend),
            model: self.model,
            mode: Mode::detect(self.quiet),
            dry_run: self.dry_run,
            part: match (self.shard, self.merge) {
                (Some(shard), _) => figures::Part::Shard(shard),
                (None, Some(shards)) => figures::Part::Merge(shards),
                (None, None) => figures::Part::Whole,
            },
        })
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
