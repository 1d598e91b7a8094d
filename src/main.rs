//! `frontier`: maps the stability frontier of machine unlearning.

mod backend;
mod config;
mod output;
mod tensors;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use frontier_model::Precision;

use backend::Backend;
use config::ExperimentConfig;

/// Maps when gradient-ascent unlearning escapes a pre-trained minimum, and when it resists.
#[derive(Parser)]
#[command(name = "frontier", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where tensors live and in which precision.
#[derive(Args, Clone, Copy)]
struct Compute {
    /// Compute backend (only those compiled in are available; default: the first of flex,
    /// ndarray, wgpu that is).
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    /// Float precision of the model's tensors; overrides the config's `dtype`.
    #[arg(long)]
    dtype: Option<Precision>,
}

#[derive(Subcommand)]
enum Command {
    /// Generate signal-plus-noise data, pre-train the CNN, write a run directory.
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
        #[command(flatten)]
        compute: Compute,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train {
            config,
            overrides,
            out,
            compute,
        } => {
            let mut cfg = ExperimentConfig::load(config.as_deref(), &overrides)?;
            cfg.dtype = compute.dtype.unwrap_or(cfg.dtype);
            let device = compute
                .backend
                .unwrap_or_else(Backend::default_compiled)
                .device(cfg.dtype)?;
            let trained = train::train(&cfg, &device)?;
            train::write_run(&out, &cfg, &trained)?;
            let r = &trained.report;
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
