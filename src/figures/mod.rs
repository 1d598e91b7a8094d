//! `frontier heatmap`: the registry of figures. Each figure writes its PNG(s) and the CSV of
//! its grid(s) into the output folder and returns the paths it wrote.

mod cnn;
mod hessian;
mod models;
mod render;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use burn::tensor::Device;
use frontier_model::Precision;

use crate::backend::Backend;
use crate::models::ModelKind;

pub use render::write_csv;

/// What every figure gets.
pub struct Context {
    /// Output folder (`assets/figures` by default).
    pub out: PathBuf,
    /// Small grids, for smoke tests (about a minute for the whole set).
    pub quick: bool,
    /// The Burn device for model work.
    pub device: Device,
    /// Float precision of the model's tensors on that device.
    pub precision: Precision,
    /// Cache root for resumable grids (`runs/`).
    pub runs: PathBuf,
    /// Recompute cached cells.
    pub force: bool,
    /// The model of figures 3–6 (`--model`); figures 1, 2 and 7 ignore it.
    pub model: ModelKind,
    /// Advance all runs of a CNN grid together as batched tensors (false: one at a time).
    pub batched: bool,
}

/// How the unlearning runs of a grid advance (`--batching`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Batching {
    /// Batched on a GPU backend, run by run on the CPU backends (measured faster there:
    /// padding to the longest batch costs more than the saved launches).
    #[default]
    Auto,
    /// Every run of a grid together as batched tensors.
    Batched,
    /// One model at a time, cells in parallel.
    PerRun,
}

impl Batching {
    /// Whether grids on `backend` run batched.
    pub fn batched(self, backend: Backend) -> bool {
        match self {
            Batching::Auto => backend == Backend::Wgpu,
            Batching::Batched => true,
            Batching::PerRun => false,
        }
    }
}

/// One figure (or group of panels) of SCIENCE.md §6.
pub struct Figure {
    /// Name used by `--only`, and the stem of its files.
    pub name: &'static str,
    /// One line on what it shows.
    pub about: &'static str,
    /// Computes and writes the figure; returns the files written.
    pub run: fn(&Context) -> Result<Vec<PathBuf>>,
}

/// Every figure, in the order `frontier heatmap` produces them.
pub const FIGURES: &[Figure] = &[
    hessian::FIGURE1,
    hessian::FIGURE2,
    cnn::FIGURE3,
    cnn::FIGURE4,
    cnn::FIGURE5,
    cnn::FIGURE6,
    models::FIGURE7,
];

/// The figures named by `only` (all when empty); an unknown name is an error listing the known.
pub fn select(only: &[String]) -> Result<Vec<&'static Figure>> {
    if only.is_empty() {
        return Ok(FIGURES.iter().collect());
    }
    only.iter()
        .map(|name| match FIGURES.iter().find(|f| f.name == name) {
            Some(f) => Ok(f),
            None => bail!(
                "unknown figure `{name}`: expected one of {}",
                FIGURES
                    .iter()
                    .map(|f| f.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect()
}

/// Runs `figures`, printing what each wrote and how long it took.
pub fn run_all(figures: &[&Figure], ctx: &Context) -> Result<()> {
    crate::output::create_dir(&ctx.out)?;
    let total = Instant::now();
    for figure in figures {
        let start = Instant::now();
        eprintln!("{}: {}", figure.name, figure.about);
        let written = (figure.run)(ctx)?;
        eprintln!(
            "{}: done in {:.1} s",
            figure.name,
            start.elapsed().as_secs_f64()
        );
        for path in written {
            println!("{}", display(&path));
        }
    }
    eprintln!("all figures done in {:.1} s", total.elapsed().as_secs_f64());
    Ok(())
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
