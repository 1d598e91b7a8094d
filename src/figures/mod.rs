//! `frontier heatmap` and `frontier sweep`: load a config file, run it, render it. Every
//! figure is a TOML file (`assets/configs/figures/figure<i>.toml`); its `kind` picks the code
//! that computes it ([`KINDS`]), everything else (sizes, losses, η, budgets, axes and their
//! values, seeds, criteria, panels) is in the file. Each output PNG gets its CSV and its
//! resolved config (`<stem>.config.toml`) beside it.
//!
//! The work of a set of files can be split among N processes sharing one cache ([`Part`]):
//! `--shard K/N` computes shard K's grid cells and figure-3 panels into the cache and writes
//! nothing; `--merge N` checks that the cache holds every piece (else fails with [`Missing`])
//! and renders, computing only the figures that have no cache.

mod coherence;
pub mod grid;
mod hessian;
mod models;
mod render;
pub mod spec;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use burn::tensor::Device;
use frontier_model::Precision;
use frontier_unlearn::{Shard, Store};

use crate::backend::Backend;
use crate::models::ModelKind;
use crate::progress::Mode;
use spec::ConfigFile;

/// The kinds of figure a config file can ask for, with what each computes.
pub const KINDS: [(&str, &str); 5] = [
    (
        "hessian_sgd",
        "the linear Hessian test of SGD over batch size × coherence (synthetic Hessians)",
    ),
    (
        "hessian_unlearning",
        "the linear Hessian test of unlearning: B × α per forget placement, α × alignment",
    ),
    (
        "coherence",
        "σ, σ_R, σ_F, σ_RF, σ_U of a pre-trained model versus SNR, per panel",
    ),
    (
        "grid",
        "grids of real unlearning runs over one or two parameters, panels, predicted boundaries",
    ),
    (
        "models",
        "coherence versus SNR of several registered models on the same data",
    ),
];

/// Where the committed figure configs live (relative to the working directory).
pub const COMMITTED: &str = "assets/configs/figures";

/// What every figure gets.
#[derive(Clone)]
pub struct Context {
    /// Output folder.
    pub out: PathBuf,
    /// Merge each file's `[quick]` table (small grids, for smoke tests).
    pub quick: bool,
    /// The Burn device for model work.
    pub device: Device,
    /// `--dtype`: the model tensors' precision, replacing the configs' (`None`: theirs).
    pub dtype: Option<Precision>,
    /// The cache of grids and runs.
    pub store: Store,
    /// Recompute cached cells.
    pub force: bool,
    /// Advance all runs of a grid together as batched tensors (false: one at a time).
    pub batched: bool,
    /// `--model`: run model figures with this registered model instead of their own.
    pub model: Option<ModelKind>,
    /// How progress and notes reach the user.
    pub mode: Mode,
    /// Only load, resolve and check each config and print what would run (`--dry-run`).
    pub dry_run: bool,
    /// Which part of the work this process does.
    pub part: Part,
}

/// Which part of the work of a set of config files a process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Compute whatever the cache lacks and write every output.
    Whole,
    /// `--shard K/N`: compute shard K's cells of every grid and panels of every `coherence`
    /// file into the cache; write no output; skip the kinds without a cache.
    Shard(Shard),
    /// `--merge N`: check that the cache holds every piece (else fail with [`Missing`], naming
    /// the shard of N that owns each missing one), then run as [`Part::Whole`].
    Merge(usize),
    /// The check of [`Part::Merge`]: compute and write nothing, fail with [`Missing`].
    Check(usize),
}

impl Part {
    /// Whether outputs are written (and the kinds without a cache computed).
    pub fn renders(self) -> bool {
        matches!(self, Part::Whole | Part::Merge(_))
    }
}

/// What the cache lacks for `--merge`: the missing grid cells and figure-3 panels, each line
/// naming its grid or panel and the shard that owns it.
#[derive(Debug, Default)]
pub struct Missing {
    /// Missing grid cells.
    pub cells: usize,
    /// Missing `coherence` panels.
    pub panels: usize,
    /// The shards (1-based) that own something missing.
    pub shards: BTreeSet<usize>,
    /// N.
    pub of: usize,
    /// One line per grid and shard (its missing cells) or panel.
    pub lines: Vec<String>,
}

impl Missing {
    /// Adds `other`'s findings.
    fn extend(&mut self, other: Missing) {
        self.cells += other.cells;
        self.panels += other.panels;
        self.shards.extend(other.shards);
        self.of = self.of.max(other.of);
        self.lines.extend(other.lines);
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shards: Vec<String> = self.shards.iter().map(|k| k.to_string()).collect();
        write!(
            f,
            "cannot merge: the cache lacks {} grid cell(s) and {} coherence panel(s), owned by \
             shard(s) {} of {}; run them again (what they finished is skipped), then merge:",
            self.cells,
            self.panels,
            shards.join(", "),
            self.of
        )?;
        for line in &self.lines {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Missing {}

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

/// The committed figure configs in `dir` (every `*.toml`, by name), or those named by
/// `only` (file stems); an unknown name is an error listing the known ones.
pub fn committed(dir: &Path, only: &[String]) -> Result<Vec<PathBuf>> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list the figure configs in {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    all.sort();
    if only.is_empty() {
        return Ok(all);
    }
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned());
    only.iter()
        .map(
            |name| match all.iter().find(|p| stem(p).as_deref() == Some(name)) {
                Some(p) => Ok(p.clone()),
                None => bail!(
                    "unknown figure `{name}`: expected one of {} (the configs in {})",
                    all.iter()
                        .filter_map(|p| stem(p))
                        .collect::<Vec<_>>()
                        .join(", "),
                    dir.display()
                ),
            },
        )
        .collect()
}

/// Loads every file of `paths` (all before any runs, so a bad one stops nothing half-way),
/// then runs them with [`run_all_files`].
pub fn run_all(paths: &[PathBuf], ctx: &Context) -> Result<()> {
    let files = paths
        .iter()
        .map(|p| ConfigFile::load(p, ctx.quick, &[]))
        .collect::<Result<Vec<_>>>()?;
    run_all_files(&files, ctx)
}

/// Runs each of `files` in turn, printing what each wrote (stdout) and how long it took
/// (stderr, unless quiet). Under `--merge N` checks every file's cache first (nothing is
/// computed or written while anything is missing).
pub fn run_all_files(files: &[ConfigFile], ctx: &Context) -> Result<()> {
    if let Part::Merge(shards) = ctx.part {
        let check = Context {
            part: Part::Check(shards),
            ..ctx.clone()
        };
        let mut missing = Missing::default();
        for file in files {
            if let Err(e) = run_file(file, &check, &file.name) {
                missing.extend(e.downcast::<Missing>()?);
            }
        }
        if !missing.lines.is_empty() {
            return Err(missing.into());
        }
    }
    let total = Instant::now();
    for (i, file) in files.iter().enumerate() {
        let start = Instant::now();
        let label = format!("{} ({} of {})", file.name, i + 1, files.len());
        ctx.mode.note(format!("{label}: {}", about(file)));
        let written = run_file(file, ctx, &label)?;
        if ctx.dry_run {
            continue;
        }
        ctx.mode.note(format!(
            "{}: done in {:.1} s",
            file.name,
            start.elapsed().as_secs_f64()
        ));
        for path in written {
            println!("{}", path.display());
        }
    }
    let what = match ctx.part {
        Part::Shard(shard) => format!("shard {shard}"),
        _ => "all figures".to_string(),
    };
    ctx.mode.note(format!(
        "{what} done in {:.1} s",
        total.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The file's `about` line, or its kind's description.
fn about(file: &ConfigFile) -> String {
    match file.table.get("about").and_then(|v| v.as_str()) {
        Some(about) => about.to_string(),
        None => KINDS
            .iter()
            .find(|(k, _)| Some(*k) == file.kind.as_deref())
            .map_or_else(String::new, |(_, what)| what.to_string()),
    }
}

/// Runs one config file by its kind; `label` names it in progress lines (e.g. "figure4 (4
/// of 7)"). Returns the files written (none for a dry run, which prints what would run).
pub fn run_file(file: &ConfigFile, ctx: &Context, label: &str) -> Result<Vec<PathBuf>> {
    let Some(kind) = file.kind.as_deref() else {
        bail!(
            "{}: no `kind`: expected one of {}",
            file.path.display(),
            kind_names()
        );
    };
    match kind {
        "hessian_sgd" => hessian::sgd(file, ctx, label),
        "hessian_unlearning" => hessian::unlearning(file, ctx, label),
        "coherence" => coherence::run(file, ctx, label),
        "grid" => grid::run(file, ctx, label),
        "models" => models::run(file, ctx, label),
        other => bail!(
            "{}: unknown kind `{other}`: expected one of {}",
            file.path.display(),
            kind_names()
        ),
    }
}

/// Under `--dry-run`, prints `plan` (what `file` would run) and says to stop.
fn planned(ctx: &Context, file: &ConfigFile, plan: impl std::fmt::Display) -> bool {
    if ctx.dry_run {
        println!("{}: {plan}", file.path.display());
    }
    ctx.dry_run
}

/// Whether a kind without a cache stops here: under `--dry-run` (printing `plan`), and in a
/// shard or a merge's check (only a rendering run computes it).
fn uncached_stops(ctx: &Context, file: &ConfigFile, plan: impl std::fmt::Display) -> bool {
    planned(ctx, file, plan) || !ctx.part.renders()
}

fn kind_names() -> String {
    KINDS.map(|(k, _)| k).join(", ")
}

/// The registered model named `name` (a `model` key of `file`).
fn model_named(file: &ConfigFile, name: &str) -> Result<ModelKind> {
    <ModelKind as clap::ValueEnum>::from_str(name, false).map_err(|_| {
        anyhow::anyhow!(
            "{}: unknown model `{name}`: expected one of {}",
            file.path.display(),
            ModelKind::all()
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The model a model figure runs (`--model` when given, else the file's `model`), and, when
/// `--model` names another model than the file's, the swap to apply to every setup.
fn model_of(
    file: &ConfigFile,
    ctx: &Context,
    configured: &str,
) -> Result<(ModelKind, Option<ModelSwap>)> {
    let own = model_named(file, configured)?;
    match ctx.model {
        Some(kind) if kind != own => Ok((kind, Some(kind.with(ModelSwap::of(ctx.quick))?))),
        _ => Ok((own, None)),
    }
}

/// A model figure (kinds `grid` and `coherence`) on its way to run: the file, the context,
/// the progress label, the typed settings `F` and the `--model` swap, if any. Each kind runs
/// it for its model through [`crate::models::WithModel`].
pub struct ModelFigure<'a, F> {
    /// The config file.
    pub file: &'a ConfigFile,
    /// What every figure gets.
    pub ctx: &'a Context,
    /// Names the figure in progress lines.
    pub label: &'a str,
    /// The kind's settings.
    pub figure: F,
    /// `--model` naming another model than the file's.
    pub swap: Option<ModelSwap>,
}

impl<'a, F> ModelFigure<'a, F>
where
    ModelFigure<'a, F>: crate::models::WithModel<Output = Result<Vec<PathBuf>>>,
{
    /// Runs `figure` (of `file`, made for the registered model `model`) with its model or
    /// `--model`'s.
    pub fn run(
        file: &'a ConfigFile,
        ctx: &'a Context,
        label: &'a str,
        figure: F,
        model: &str,
    ) -> Result<Vec<PathBuf>> {
        let (kind, swap) = model_of(file, ctx, model)?;
        kind.with(ModelFigure {
            file,
            ctx,
            label,
            figure,
            swap,
        })
    }
}

/// `--model NAME` on a figure made for another model: NAME's registered figure config
/// (`crate::models`, its `--quick` one under `--quick`) replaces the setup's `model` table,
/// and its registered logistic pre-training η replaces the η of every logistic setup.
pub struct ModelSwap {
    model: toml::Table,
    logistic_eta: f64,
    quick: bool,
}

impl ModelSwap {
    /// The swap for `--quick` or the full scale, to be run by [`ModelKind::with`].
    fn of(quick: bool) -> ModelSwap {
        ModelSwap {
            model: toml::Table::new(),
            logistic_eta: 0.0,
            quick,
        }
    }

    /// Applies the swap to a setup table (`data`, `model`, `pretrain`, `precision`).
    fn apply(&self, setup: &mut toml::Table) {
        setup.insert("model".into(), toml::Value::Table(self.model.clone()));
        let pretrain = setup
            .entry("pretrain")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(pretrain) = pretrain.as_table_mut() {
            let logistic = pretrain
                .get("loss")
                .and_then(|l| l.as_str())
                .is_none_or(|l| l == "logistic");
            if logistic {
                pretrain.insert("eta".into(), toml::Value::Float(self.logistic_eta));
            }
        }
    }
}

impl crate::models::WithModel for ModelSwap {
    type Output = Result<ModelSwap>;

    fn run<C: frontier_model::ModelSpec>(
        self,
        model: crate::models::Registered<C>,
    ) -> Result<ModelSwap> {
        Ok(ModelSwap {
            model: toml::Table::try_from(model.config(self.quick))
                .context("the registered model config")?,
            logistic_eta: model.pretrain_eta,
            quick: self.quick,
        })
    }
}
