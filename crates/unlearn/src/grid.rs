//! Grids of unlearning runs over two of {B, α, SNR, η, forget fraction}, the others fixed,
//! with `reps` repetitions (seeds) per cell: per cell the fraction of runs meeting each
//! success criterion, mean ± sd of every outcome, and the predicted verdicts of the
//! linearised problem at w* of each repetition's setup.
//!
//! Repetition r of every cell uses the setup seeded from (seed, r) (see
//! [`SetupConfig::seeded`]): the cells of a B × α grid share their r-th pre-trained model, an
//! SNR axis varies ‖μ‖ with the same noise draws. The batches of run (cell, r) come from the
//! stream (seed, cell, r). Cells are cached in `runs/<hash>/cell_<k>.json` ([`RunDir`]).
//!
//! By default the pre-training of every setup ([`SetupConfig::prepare_many`]) and then all
//! runs of the pending cells ([`unlearn_many`]) advance together as batched tensors (a few
//! kernels per step for the whole grid, which is what a GPU needs);
//! [`GridOptions::batched`] = false prepares the setups and runs the cells one model at a
//! time, in parallel. Both give the same outcomes up to floating-point summation order (the
//! cache does not tell them apart).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use frontier_model::{CnnConfig, ModelSpec};
use frontier_stability::parallel::par_map;
use frontier_stability::sweep::{Boundary, Region, Rule, edges, step_line};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::batch::{BatchRun, unlearn_many};
use crate::cache::RunDir;
use crate::error::{Error, Result, invalid};
use crate::outcome::Snapshot;
use crate::predict::{HessianMethod, Linearised, PredictConfig, Prediction, RULES};
use crate::run::{RunOutcome, UnlearnConfig, unlearn};
use crate::seeds;
use crate::setup::{Setup, SetupConfig};
use crate::update::validate;

/// Bump when the meaning of a cached cell changes: old caches are then not reused.
const CACHE_FORMAT: u32 = 3;

/// A grid axis parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    /// Batch size B = B_r (and B_f unless `batch_forget` is set), positive integers.
    Batch,
    /// Mixing ratio α ∈ [0, 1].
    Alpha,
    /// SNR = ‖μ‖/(σ_p√d) ≥ 0 (changes the data, so each value has its own w*).
    Snr,
    /// Unlearning learning rate η > 0.
    Eta,
    /// Forget fraction n_f/n ∈ (0, 1) (changes the forget set, so its own setup).
    ForgetFraction,
}

impl Param {
    /// Axis label with units.
    pub fn label(self) -> &'static str {
        match self {
            Param::Batch => "batch size B = B_r = B_f (samples)",
            Param::Alpha => "mixing ratio α (forget weight)",
            Param::Snr => "SNR ‖μ‖/(σ_p√d) (dimensionless)",
            Param::Eta => "unlearning learning rate η (1/step)",
            Param::ForgetFraction => "forget fraction n_f/n",
        }
    }

    /// Short name (CSV column of the axis).
    pub fn name(self) -> &'static str {
        match self {
            Param::Batch => "batch",
            Param::Alpha => "alpha",
            Param::Snr => "snr",
            Param::Eta => "eta",
            Param::ForgetFraction => "forget_fraction",
        }
    }

    /// Whether the axis is best drawn on a log₂ scale.
    pub fn log2(self) -> bool {
        matches!(self, Param::Batch | Param::Snr)
    }

    /// Which end of this axis, used as y, unlearning is expected to escape at: large α, η
    /// and forget fractions, small B and SNR.
    pub fn escape_region(self) -> Region {
        match self {
            Param::Batch | Param::Snr => Region::LowY,
            Param::Alpha | Param::Eta | Param::ForgetFraction => Region::HighY,
        }
    }

    /// Sets this parameter to `value` in a cell's configs.
    fn apply<C>(self, value: f64, setup: &mut SetupConfig<C>, unlearn: &mut UnlearnConfig) {
        match self {
            Param::Batch => unlearn.step.batch_retain = value as usize,
            Param::Alpha => unlearn.step.alpha = value,
            Param::Snr => setup.data.snr = value,
            Param::Eta => unlearn.step.eta = value,
            Param::ForgetFraction => setup.data.forget_fraction = Some(value),
        }
    }

    /// Checks one axis value.
    fn check(self, v: f64) -> Result<()> {
        let ok = match self {
            Param::Batch => v >= 1.0 && v.fract() == 0.0,
            Param::Alpha => (0.0..=1.0).contains(&v),
            Param::Snr => v >= 0.0 && v.is_finite(),
            Param::Eta => v > 0.0 && v.is_finite(),
            Param::ForgetFraction => v > 0.0 && v < 1.0,
        };
        if ok {
            Ok(())
        } else {
            Err(invalid(
                "grid axis values",
                format!("{v} is not a valid {} value", self.name()),
            ))
        }
    }
}

/// One axis: a parameter and its grid values (strictly ascending).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// The parameter.
    pub param: Param,
    /// Its values.
    pub values: Vec<f64>,
}

/// A grid: a base setup (of any model; the CNN by default) and unlearning config, two axes,
/// repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    bound(serialize = "C: Serialize", deserialize = "C: ModelSpec")
)]
pub struct GridConfig<C = CnnConfig> {
    /// Data, model, pre-training, precision (the seeds are replaced per repetition).
    pub setup: SetupConfig<C>,
    /// The unlearning run.
    pub unlearn: UnlearnConfig,
    /// The predicted verdicts.
    pub predict: PredictConfig,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// Repetitions (seeds) per cell (≥ 1).
    pub reps: usize,
    /// Master seed.
    pub seed: u64,
}

impl<C: ModelSpec> Default for GridConfig<C> {
    /// B ∈ {1, 2, 5, 10} × α ∈ {0, 0.1, 0.2, 0.4, 0.6, 0.8, 1}, 3 repetitions, defaults
    /// elsewhere.
    fn default() -> Self {
        GridConfig {
            setup: SetupConfig::default(),
            unlearn: UnlearnConfig::default(),
            predict: PredictConfig::default(),
            x: Axis {
                param: Param::Batch,
                values: vec![1.0, 2.0, 5.0, 10.0],
            },
            y: Axis {
                param: Param::Alpha,
                values: vec![0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0],
            },
            reps: 3,
            seed: 0,
        }
    }
}

impl<C: ModelSpec> GridConfig<C> {
    /// A smoke-test grid of `setup` (seconds for a small model): B ∈ {1, 3} × α ∈ {0, 1}, 2
    /// repetitions, 15 unlearning steps recorded every 5, short predictions (20 simulated
    /// steps, 2 runs, 20 power iterations), master seed `seed`.
    pub fn smoke(setup: SetupConfig<C>, seed: u64) -> Self {
        GridConfig {
            setup,
            unlearn: UnlearnConfig {
                steps: 15,
                record_every: 5,
                ..UnlearnConfig::default()
            },
            predict: PredictConfig {
                sim_steps: 20,
                sim_reps: 2,
                power_max_iter: 20,
                ..PredictConfig::default()
            },
            x: Axis {
                param: Param::Batch,
                values: vec![1.0, 3.0],
            },
            y: Axis {
                param: Param::Alpha,
                values: vec![0.0, 1.0],
            },
            reps: 2,
            seed,
        }
    }

    /// Number of cells.
    pub fn cells(&self) -> usize {
        self.x.values.len() * self.y.values.len()
    }

    /// The configs of repetition `rep` of cell (ix, iy): the setup (seeded) and the run.
    pub fn resolve(&self, ix: usize, iy: usize, rep: usize) -> (SetupConfig<C>, UnlearnConfig) {
        let mut setup = self.setup.seeded(self.seed, rep);
        let mut unlearn = self.unlearn.clone();
        self.x
            .param
            .apply(self.x.values[ix], &mut setup, &mut unlearn);
        self.y
            .param
            .apply(self.y.values[iy], &mut setup, &mut unlearn);
        (setup, unlearn)
    }

    /// Checks the axes, the repetitions and every cell's configs.
    pub fn validate(&self) -> Result<()> {
        if self.x.param == self.y.param {
            return Err(invalid(
                "grid.y.param",
                format!(
                    "must differ from grid.x.param (both {})",
                    self.x.param.name()
                ),
            ));
        }
        for (field, axis) in [("grid.x.values", &self.x), ("grid.y.values", &self.y)] {
            if axis.values.is_empty() || axis.values.windows(2).any(|w| w[0] >= w[1]) {
                return Err(invalid(field, "must be non-empty and strictly ascending"));
            }
            axis.values.iter().try_for_each(|&v| axis.param.check(v))?;
        }
        if self.reps == 0 {
            return Err(invalid("grid.reps", "must be at least 1, got 0"));
        }
        self.unlearn.validate()?;
        self.setup.model.validate()?;
        for iy in 0..self.y.values.len() {
            for ix in 0..self.x.values.len() {
                let (setup, unlearn) = self.resolve(ix, iy, 0);
                setup.data.validate()?;
                let n_forget = setup.data.forget_count();
                validate(&unlearn.step, setup.data.n - n_forget, n_forget)?;
            }
        }
        Ok(())
    }
}

/// How to run a grid.
#[derive(Debug, Clone, PartialEq)]
pub struct GridOptions {
    /// Cache root; the grid lives in `runs/<config hash>/`.
    pub runs: PathBuf,
    /// Recompute (and overwrite) cached cells.
    pub force: bool,
    /// Compute at most this many new cells, then stop (the grid is then incomplete; a
    /// re-run continues). For tests and time-boxed runs.
    pub max_cells: Option<usize>,
    /// Worker threads (0 = all cores); results do not depend on it.
    pub threads: usize,
    /// Show a progress bar (it is hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Pre-train every setup and advance every run of the pending cells together as batched
    /// tensors ([`SetupConfig::prepare_many`], one [`unlearn_many`]); false trains and runs one
    /// model at a time, in parallel.
    pub batched: bool,
}

impl GridOptions {
    /// Cache under `runs`, no force, no limit, all cores, progress bar, batched.
    pub fn new(runs: impl Into<PathBuf>) -> Self {
        GridOptions {
            runs: runs.into(),
            force: false,
            max_cells: None,
            threads: 0,
            progress: true,
            batched: true,
        }
    }
}

/// One repetition of one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepRecord {
    /// The run.
    pub outcome: RunOutcome,
    /// The model at w*, measured.
    pub start: Snapshot,
    /// The retrain reference, measured.
    pub retrained: Snapshot,
    /// ‖w*‖.
    pub start_norm: f64,
    /// Whether pre-training reached its loss tolerance.
    pub pretrain_converged: bool,
    /// The predicted verdicts (when enabled).
    pub prediction: Option<Prediction>,
    /// ‖(1/n)Σ∇ℓ_i(w*)‖ (when predictions are enabled).
    pub residual_grad_norm: Option<f64>,
}

/// Every repetition of one cell: what a cell file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// Column.
    pub ix: usize,
    /// Row.
    pub iy: usize,
    /// x value.
    pub x: f64,
    /// y value.
    pub y: f64,
    /// The repetitions, in order.
    pub reps: Vec<RepRecord>,
}

/// Mean and sample standard deviation (0 for one value) of a quantity over repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation.
    pub sd: f64,
}

impl Stat {
    /// Of `values` (NaN for none).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Stat {
        let v: Vec<f64> = values.into_iter().collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let sd = if v.is_empty() {
            f64::NAN
        } else if v.len() > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Stat { mean, sd }
    }
}

/// The empirical success criteria of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// (a) MIA attack strength near 0.5 (see [`crate::run`]).
    Deletion,
    /// (b) ‖w − w*‖ > k‖w*‖ (or divergence).
    Escape,
    /// (c) (a) or (b) with retain accuracy above the threshold.
    Useful,
}

impl Criterion {
    /// Legend/colourbar text.
    pub fn label(self) -> &'static str {
        match self {
            Criterion::Deletion => "fraction of runs deleting (MIA attack strength near 0.5)",
            Criterion::Escape => "fraction of runs escaping (‖w − w*‖ > k‖w*‖)",
            Criterion::Useful => "fraction of useful successes ((a or b), retain acc ok)",
        }
    }

    /// The cell's fraction of runs meeting the criterion.
    pub fn fraction(self, s: &CellSummary) -> f64 {
        match self {
            Criterion::Deletion => s.deletion,
            Criterion::Escape => s.escape,
            Criterion::Useful => s.useful,
        }
    }
}

/// Per-cell statistics over the repetitions (the CSV row of the cell).
#[derive(Debug, Clone, PartialEq)]
pub struct CellSummary {
    /// x value.
    pub x: f64,
    /// y value.
    pub y: f64,
    /// Repetitions.
    pub reps: usize,
    /// Fraction of runs with (a) deletion.
    pub deletion: f64,
    /// Fraction with (b) escape.
    pub escape: f64,
    /// Fraction with (c) useful success.
    pub useful: f64,
    /// Fraction that hit a non-finite value.
    pub diverged: f64,
    /// Named statistics of the final snapshots and the setups, see [`CellSummary::stats`].
    pub stats: Vec<(&'static str, Stat)>,
    /// Fraction of repetitions whose setup predicts escape, per rule (NaN without
    /// predictions), in [`RULES`] order.
    pub predicted: Vec<(Rule, f64)>,
}

impl CellSummary {
    /// The statistic named `name` (see the CSV header; e.g. "retain_accuracy", "mia_auc").
    pub fn stat(&self, name: &str) -> Stat {
        self.stats.iter().find(|(n, _)| *n == name).map_or(
            Stat {
                mean: f64::NAN,
                sd: f64::NAN,
            },
            |(_, s)| *s,
        )
    }

    /// The fraction of repetitions predicting escape under `rule`.
    pub fn predicted(&self, rule: Rule) -> f64 {
        self.predicted
            .iter()
            .find(|(r, _)| *r == rule)
            .map_or(f64::NAN, |(_, f)| *f)
    }

    /// CSV header names and values, in column order.
    fn columns(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = [
            ("x", self.x),
            ("y", self.y),
            ("reps", self.reps as f64),
            ("deletion_fraction", self.deletion),
            ("escape_fraction", self.escape),
            ("useful_fraction", self.useful),
            ("diverged_fraction", self.diverged),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
        for (name, s) in &self.stats {
            out.push((format!("{name}_mean"), s.mean));
            out.push((format!("{name}_sd"), s.sd));
        }
        for (rule, f) in &self.predicted {
            out.push((format!("predicted_{}_fraction", rule_name(*rule)), *f));
        }
        out
    }
}

/// Column-name form of a rule.
fn rule_name(rule: Rule) -> &'static str {
    match rule {
        Rule::MeanSquare => "mean_square",
        Rule::Lyapunov => "lyapunov",
        Rule::FirstMoment => "first_moment",
        Rule::CoherenceBound => "pair_bound",
    }
}

impl CellRecord {
    /// Statistics over the repetitions.
    pub fn summary(&self) -> CellSummary {
        let reps = &self.reps;
        let frac = |f: &dyn Fn(&RepRecord) -> bool| {
            reps.iter().filter(|r| f(r)).count() as f64 / reps.len() as f64
        };
        let stat = |f: &dyn Fn(&RepRecord) -> f64| Stat::of(reps.iter().map(f));
        let pred = |f: &dyn Fn(&Prediction) -> f64| {
            Stat::of(
                reps.iter()
                    .map(|r| r.prediction.as_ref().map_or(f64::NAN, f)),
            )
        };
        let stats = vec![
            ("forget_loss", stat(&|r| r.outcome.last.forget_loss)),
            ("retain_loss", stat(&|r| r.outcome.last.retain_loss)),
            ("test_loss", stat(&|r| r.outcome.last.test_loss)),
            ("forget_accuracy", stat(&|r| r.outcome.last.forget_accuracy)),
            ("retain_accuracy", stat(&|r| r.outcome.last.retain_accuracy)),
            ("test_accuracy", stat(&|r| r.outcome.last.test_accuracy)),
            ("distance", stat(&|r| r.outcome.last.distance)),
            (
                "relative_distance",
                stat(&|r| r.outcome.last.distance / r.start_norm),
            ),
            (
                "retrain_distance",
                stat(&|r| r.outcome.last.retrain_distance),
            ),
            (
                "forget_loss_gap",
                stat(&|r| r.outcome.last.forget_loss - r.retrained.forget_loss),
            ),
            ("mia_auc", stat(&|r| r.outcome.last.mia_auc)),
            ("steps", stat(&|r| r.outcome.steps as f64)),
            (
                "diverged_at",
                Stat::of(
                    reps.iter()
                        .filter_map(|r| r.outcome.diverged_at.map(|k| k as f64)),
                ),
            ),
            (
                "escaped_at",
                Stat::of(
                    reps.iter()
                        .filter_map(|r| r.outcome.escaped_at.map(|k| k as f64)),
                ),
            ),
            ("start_norm", stat(&|r| r.start_norm)),
            ("start_forget_loss", stat(&|r| r.start.forget_loss)),
            ("start_mia_auc", stat(&|r| r.start.mia_auc)),
            ("retrained_forget_loss", stat(&|r| r.retrained.forget_loss)),
            ("retrained_mia_auc", stat(&|r| r.retrained.mia_auc)),
            (
                "retrained_retain_accuracy",
                stat(&|r| r.retrained.retain_accuracy),
            ),
            (
                "residual_grad_norm",
                stat(&|r| r.residual_grad_norm.unwrap_or(f64::NAN)),
            ),
            ("rho", pred(&|p| p.rho)),
            ("gamma", pred(&|p| p.gamma)),
            ("lambda_min_h_alpha", pred(&|p| p.lambda_min_h_alpha)),
            ("lambda_max_h_alpha", pred(&|p| p.lambda_max_h_alpha)),
            ("sigma_u", pred(&|p| p.sigma_u)),
        ];
        let predicted = RULES
            .iter()
            .map(|&rule| {
                let f = if reps.iter().all(|r| r.prediction.is_some()) {
                    frac(&|r| r.prediction.as_ref().is_some_and(|p| p.diverges(rule)))
                } else {
                    f64::NAN
                };
                (rule, f)
            })
            .collect();
        CellSummary {
            x: self.x,
            y: self.y,
            reps: reps.len(),
            deletion: frac(&|r| r.outcome.success.deletion),
            escape: frac(&|r| r.outcome.success.escape),
            useful: frac(&|r| r.outcome.success.useful),
            diverged: frac(&|r| r.outcome.diverged_at.is_some()),
            stats,
            predicted,
        }
    }
}

/// A computed (possibly incomplete) grid.
#[derive(Debug, Clone)]
pub struct Grid<C = CnnConfig> {
    /// The config.
    pub config: GridConfig<C>,
    /// Cells in row-major order (`iy * nx + ix`); `None` for cells not computed yet.
    pub cells: Vec<Option<CellRecord>>,
    /// How many cells this call computed (the others came from the cache).
    pub computed: usize,
    /// Why the grid has no predictions although they are enabled (the model cannot give its
    /// per-sample Hessians, see [`HessianMethod::choose`]); `None` otherwise.
    pub predictions_skipped: Option<String>,
    /// Wall seconds this call spent preparing setups (pre-training, retrain reference,
    /// linearisation at w*).
    pub setup_seconds: f64,
    /// Wall seconds this call spent on the cells (unlearning runs and predictions).
    pub cells_seconds: f64,
    /// The run folder.
    pub dir: PathBuf,
}

impl<C> Grid<C> {
    /// Whether every cell is present.
    pub fn is_complete(&self) -> bool {
        self.cells.iter().all(Option::is_some)
    }

    /// Summaries of the present cells, in row-major order.
    pub fn summaries(&self) -> Vec<CellSummary> {
        self.cells
            .iter()
            .flatten()
            .map(CellRecord::summary)
            .collect()
    }

    /// `f` of each cell's summary as `[iy][ix]` (NaN for missing cells).
    pub fn values(&self, f: impl Fn(&CellSummary) -> f64) -> Vec<Vec<f64>> {
        let nx = self.config.x.values.len();
        self.cells
            .chunks(nx)
            .map(|row| {
                row.iter()
                    .map(|c| c.as_ref().map_or(f64::NAN, |c| f(&c.summary())))
                    .collect()
            })
            .collect()
    }

    /// Cell edges along x and y (midpoints; in log₂ for log₂ axes).
    pub fn edges(&self) -> (Vec<f64>, Vec<f64>) {
        let (x, y) = (&self.config.x, &self.config.y);
        (
            edges(&x.values, x.param.log2()),
            edges(&y.values, y.param.log2()),
        )
    }

    /// The predicted boundaries (a rule's label per cell: the majority of the repetitions'
    /// verdicts) as step lines, each with its agreement score: the fraction of cells where
    /// the predicted label equals the empirical majority of `criterion`. Empty without
    /// predictions or for an incomplete grid.
    pub fn boundaries(&self, criterion: Criterion) -> Vec<Boundary> {
        let summaries = self.summaries();
        if !self.is_complete()
            || summaries
                .iter()
                .any(|s| s.predicted(Rule::MeanSquare).is_nan())
        {
            return Vec::new();
        }
        let nx = self.config.x.values.len();
        let (x_edges, y_edges) = self.edges();
        let region = self.config.y.param.escape_region();
        RULES
            .iter()
            .map(|&rule| {
                let predicted = |s: &CellSummary| s.predicted(rule) > 0.5;
                let points = step_line(&x_edges, &y_edges, region, |ix, iy| {
                    predicted(&summaries[iy * nx + ix])
                });
                let agree = summaries
                    .iter()
                    .filter(|s| predicted(s) == (criterion.fraction(s) > 0.5))
                    .count();
                Boundary {
                    rule,
                    label: rule.label().to_string(),
                    points,
                    agreement: agree as f64 / summaries.len() as f64,
                }
            })
            .collect()
    }
}

/// The CSV of one or more grids: a `panel` column with each grid's label, the two axis
/// names, then one row per present cell with every column of [`CellSummary`]. Numbers use
/// Rust's shortest round-trip form, so equal grids give byte-identical text.
pub fn csv<C>(panels: &[(&str, &Grid<C>)]) -> Result<String> {
    let mut writer = csv::Writer::from_writer(vec![]);
    let mut header_written = false;
    for (label, grid) in panels {
        for s in grid.summaries() {
            let columns = s.columns();
            if !header_written {
                let mut header = vec!["panel".to_string(), "x_param".into(), "y_param".into()];
                header.extend(columns.iter().map(|(n, _)| n.clone()));
                writer.write_record(&header)?;
                header_written = true;
            }
            let mut row = vec![
                label.to_string(),
                grid.config.x.param.name().into(),
                grid.config.y.param.name().into(),
            ];
            row.extend(columns.iter().map(|(_, v)| format!("{v:?}")));
            writer.write_record(&row)?;
        }
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| Error::Csv(e.into_error().into()))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8"))
}

/// What the cache key hashes: the format version, the device and the resolved config.
#[derive(Serialize)]
struct CacheKey<'a, C> {
    format: u32,
    device: String,
    config: &'a GridConfig<C>,
}

/// A setup (model `M` at w*) with its linearisation.
struct Prepared<M> {
    setup: Setup<M>,
    linearised: Option<Linearised>,
}

/// The cell file name of cell index `cell`.
fn cell_name(cell: usize) -> String {
    format!("cell_{cell:05}")
}

/// Runs (or resumes) the grid `cfg` on `device`, caching every finished cell. Predictions
/// (when enabled) need per-sample Hessians the model can give ([`HessianMethod::choose`]);
/// when it cannot, a one-line note goes to stderr and the grid has none.
pub fn run_grid<C: ModelSpec>(
    cfg: &GridConfig<C>,
    device: &Device,
    opts: &GridOptions,
) -> Result<Grid<C>> {
    cfg.validate()?;
    let (method, predictions_skipped) = prediction_method(cfg, device)?;
    let dir = RunDir::open(
        &opts.runs,
        &CacheKey {
            format: CACHE_FORMAT,
            device: format!("{device:?}"),
            config: cfg,
        },
    )?;
    let total = cfg.cells();
    let mut pending = Vec::new();
    for cell in 0..total {
        if opts.force || dir.load::<CellRecord>(&cell_name(cell))?.is_none() {
            pending.push(cell);
        }
    }
    pending.truncate(opts.max_cells.unwrap_or(usize::MAX));
    let nx = cfg.x.values.len();
    let mut needed: BTreeMap<String, SetupConfig<C>> = BTreeMap::new();
    for &cell in &pending {
        for rep in 0..cfg.reps {
            let (setup, _) = cfg.resolve(cell % nx, cell / nx, rep);
            needed.insert(setup_key(&setup)?, setup);
        }
    }
    let needed: Vec<(String, SetupConfig<C>)> = needed.into_iter().collect();
    let bar = progress(opts.progress, needed.len() + pending.len());
    bar.set_message("pre-training");
    let started = Instant::now();
    let setups = if opts.batched {
        let configs: Vec<SetupConfig<C>> = needed.iter().map(|(_, s)| s.clone()).collect();
        SetupConfig::prepare_many(&configs, device)?
    } else {
        par_map(needed.len(), opts.threads, |i| needed[i].1.prepare(device))
            .into_iter()
            .collect::<Result<Vec<_>>>()?
    };
    let linearised = par_map(setups.len(), opts.threads, |i| {
        let setup = &setups[i];
        let linearised = method
            .map(|m| Linearised::at(&setup.model, setup.loss, &setup.data, m))
            .transpose();
        bar.inc(1);
        linearised
    });
    let prepared = setups
        .into_iter()
        .zip(linearised)
        .map(|(setup, linearised)| {
            Ok(Prepared {
                setup,
                linearised: linearised?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let prepared: BTreeMap<&str, &Prepared<C::Model>> = needed
        .iter()
        .map(|(k, _)| k.as_str())
        .zip(&prepared)
        .collect();
    let setup_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let finish = |k: usize, record: CellRecord| {
        dir.store(&cell_name(pending[k]), &record)?;
        bar.inc(1);
        Ok(())
    };
    if opts.batched {
        bar.set_message("unlearning");
        run_cells_batched(cfg, &pending, &prepared, opts.threads, finish)?;
    } else {
        bar.set_message("cells");
        par_map(pending.len(), opts.threads, |k| {
            finish(k, compute_cell(cfg, pending[k], &prepared)?)
        })
        .into_iter()
        .collect::<Result<()>>()?;
    }
    bar.finish_and_clear();
    let cells = (0..total)
        .map(|cell| dir.load::<CellRecord>(&cell_name(cell)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Grid {
        config: cfg.clone(),
        cells,
        computed: pending.len(),
        predictions_skipped,
        setup_seconds,
        cells_seconds: started.elapsed().as_secs_f64(),
        dir: dir.path().to_path_buf(),
    })
}

/// How the grid's predictions are made (`None` when disabled or impossible), and why they are
/// impossible, if they are: then a one-line note goes to stderr. Decided once per grid on a
/// freshly initialised model (every cell has the same model, p and precision).
fn prediction_method<C: ModelSpec>(
    cfg: &GridConfig<C>,
    device: &Device,
) -> Result<(Option<HessianMethod>, Option<String>)> {
    if !cfg.predict.enabled {
        return Ok((None, None));
    }
    Ok(match HessianMethod::choose(&cfg.setup.init(device)?) {
        Ok(method) => (Some(method), None),
        Err(reason) => {
            eprintln!(
                "note: no predicted boundaries for this grid (predicted_* columns are NaN): \
                 {reason}"
            );
            (None, Some(reason))
        }
    })
}

/// The in-memory key of a setup: its JSON.
fn setup_key<C: ModelSpec>(setup: &SetupConfig<C>) -> Result<String> {
    serde_json::to_string(setup).map_err(|source| Error::Json {
        path: PathBuf::from("<setup>"),
        source,
    })
}

/// A progress bar over `len` units with an ETA (hidden unless `show` and stderr is a
/// terminal).
fn progress(show: bool, len: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Every repetition of one cell, one run at a time.
fn compute_cell<C: ModelSpec>(
    cfg: &GridConfig<C>,
    cell: usize,
    prepared: &BTreeMap<&str, &Prepared<C::Model>>,
) -> Result<CellRecord> {
    let nx = cfg.x.values.len();
    let outcomes = (0..cfg.reps)
        .map(|rep| {
            let (setup_cfg, unlearn_cfg) = cfg.resolve(cell % nx, cell / nx, rep);
            let p = prepared[setup_key(&setup_cfg)?.as_str()];
            let mut rng = seeds::stream(cfg.seed, cell as u64, rep as u64);
            unlearn(&p.setup, &unlearn_cfg, &mut rng)
        })
        .collect::<Result<Vec<_>>>()?;
    cell_record(cfg, cell, prepared, outcomes)
}

/// Every repetition of every cell of `pending`: all unlearning runs in one
/// [`unlearn_many`] (the same streams as [`compute_cell`]), then per cell in parallel the
/// predictions and `finish(k, record of pending[k])`.
fn run_cells_batched<C: ModelSpec>(
    cfg: &GridConfig<C>,
    pending: &[usize],
    prepared: &BTreeMap<&str, &Prepared<C::Model>>,
    threads: usize,
    finish: impl Fn(usize, CellRecord) -> Result<()> + Sync,
) -> Result<()> {
    let keys: Vec<&str> = prepared.keys().copied().collect();
    let setups: Vec<&Setup<C::Model>> = prepared.values().map(|p| &p.setup).collect();
    let nx = cfg.x.values.len();
    let mut runs = Vec::with_capacity(pending.len() * cfg.reps);
    for &cell in pending {
        for rep in 0..cfg.reps {
            let (setup_cfg, config) = cfg.resolve(cell % nx, cell / nx, rep);
            let key = setup_key(&setup_cfg)?;
            runs.push(BatchRun {
                setup: keys
                    .binary_search(&key.as_str())
                    .expect("every setup is prepared"),
                config,
                rng: seeds::stream(cfg.seed, cell as u64, rep as u64),
            });
        }
    }
    let outcomes = unlearn_many(&setups, runs)?;
    par_map(pending.len(), threads, |k| {
        let reps = outcomes[k * cfg.reps..(k + 1) * cfg.reps].to_vec();
        finish(k, cell_record(cfg, pending[k], prepared, reps)?)
    })
    .into_iter()
    .collect()
}

/// The record of one cell from its runs' outcomes (one per repetition, in order), with the
/// predicted verdicts of each repetition's setup.
fn cell_record<C: ModelSpec>(
    cfg: &GridConfig<C>,
    cell: usize,
    prepared: &BTreeMap<&str, &Prepared<C::Model>>,
    outcomes: Vec<RunOutcome>,
) -> Result<CellRecord> {
    let nx = cfg.x.values.len();
    let (ix, iy) = (cell % nx, cell / nx);
    let reps = outcomes
        .into_iter()
        .enumerate()
        .map(|(rep, outcome)| {
            let (setup_cfg, unlearn_cfg) = cfg.resolve(ix, iy, rep);
            let p = prepared[setup_key(&setup_cfg)?.as_str()];
            let prediction = p
                .linearised
                .as_ref()
                .map(|l| {
                    let seed = seeds::derive(cfg.seed, rep as u64, seeds::LYAPUNOV);
                    l.predict(unlearn_cfg.step, &cfg.predict, seed, cell as u64)
                })
                .transpose()?;
            Ok(RepRecord {
                outcome,
                start: p.setup.start.clone(),
                retrained: p.setup.retrained.clone(),
                start_norm: p.setup.start_norm,
                pretrain_converged: p.setup.pretrain.converged,
                prediction,
                residual_grad_norm: p.linearised.as_ref().map(|l| l.residual_grad_norm),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(CellRecord {
        ix,
        iy,
        x: cfg.x.values[ix],
        y: cfg.y.values[iy],
        reps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::tests::tiny;
    use frontier_model::Precision;

    /// 2 × 2 cells (B ∈ {1, 3}, α ∈ {0, 1}), 2 repetitions, 15 steps.
    fn config(seed: u64) -> GridConfig {
        GridConfig::smoke(tiny(0.05), seed)
    }

    fn run(
        cfg: &GridConfig,
        runs: &std::path::Path,
        max_cells: Option<usize>,
        threads: usize,
    ) -> Grid {
        let opts = GridOptions {
            max_cells,
            threads,
            progress: false,
            ..GridOptions::new(runs)
        };
        run_grid(cfg, &Device::flex(), &opts).unwrap()
    }

    fn csv_of(grid: &Grid) -> String {
        csv(&[("tiny", grid)]).unwrap()
    }

    #[test]
    fn resume_gives_the_same_csv_and_computes_each_cell_once() {
        let cfg = config(7);
        let interrupted = tempfile::tempdir().unwrap();
        let first = run(&cfg, interrupted.path(), Some(1), 1);
        assert_eq!((first.computed, first.is_complete()), (1, false));
        let second = run(&cfg, interrupted.path(), Some(2), 2);
        assert_eq!((second.computed, second.is_complete()), (2, false));
        let third = run(&cfg, interrupted.path(), None, 1);
        assert_eq!((third.computed, third.is_complete()), (1, true));
        assert_eq!(
            run(&cfg, interrupted.path(), None, 1).computed,
            0,
            "all cached"
        );
        let fresh = tempfile::tempdir().unwrap();
        let whole = run(&cfg, fresh.path(), None, 2);
        assert_eq!(whole.computed, 4);
        assert_eq!(csv_of(&third), csv_of(&whole), "resumed vs uninterrupted");
        let forced = run_grid(
            &cfg,
            &Device::flex(),
            &GridOptions {
                force: true,
                progress: false,
                ..GridOptions::new(fresh.path())
            },
        )
        .unwrap();
        assert_eq!(forced.computed, 4);
        assert_eq!(csv_of(&forced), csv_of(&whole));
    }

    #[test]
    fn same_config_and_seed_give_byte_identical_csv() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let one = csv_of(&run(&config(3), a.path(), None, 1));
        let two = csv_of(&run(&config(3), b.path(), None, 2));
        assert_eq!(one, two);
        let lines: Vec<&str> = one.lines().collect();
        assert_eq!(lines.len(), 5, "header + 4 cells");
        for column in [
            "panel",
            "escape_fraction",
            "mia_auc_mean",
            "predicted_mean_square_fraction",
        ] {
            assert!(
                lines[0].split(',').any(|c| c == column),
                "{column} in {}",
                lines[0]
            );
        }
        let c = tempfile::tempdir().unwrap();
        assert_ne!(
            one,
            csv_of(&run(&config(4), c.path(), None, 2)),
            "another seed"
        );
    }

    /// The whole grid through one batched call and one run at a time, in f64, over η × α
    /// (B = 3, 25 steps, 3 repetitions; the large η escapes at α > 0): the same CSV up to
    /// summation order (the batched kernels add in another order, so the last digits of some
    /// means differ): every number within 1e-9 relative, the fractions equal.
    #[test]
    fn batched_and_one_at_a_time_grids_give_the_same_csv_in_f64() {
        let mut cfg = config(11);
        cfg.setup.precision = Precision::F64;
        cfg.unlearn.steps = 25;
        cfg.unlearn.step.batch_retain = 3;
        cfg.x = Axis {
            param: Param::Eta,
            values: vec![0.5, 5.0],
        };
        cfg.y.values = vec![0.0, 0.5, 1.0];
        cfg.reps = 3;
        let grid = |batched| {
            let dir = tempfile::tempdir().unwrap();
            let opts = GridOptions {
                batched,
                progress: false,
                ..GridOptions::new(dir.path())
            };
            csv_of(&run_grid(&cfg, &Device::flex(), &opts).unwrap())
        };
        let (batched, single) = (grid(true), grid(false));
        let (b_lines, s_lines): (Vec<&str>, Vec<&str>) =
            (batched.lines().collect(), single.lines().collect());
        assert_eq!(b_lines.len(), s_lines.len());
        assert_eq!(b_lines[0], s_lines[0], "header");
        for (b, s) in b_lines[1..].iter().zip(&s_lines[1..]) {
            for (x, y) in b.split(',').zip(s.split(',')) {
                match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(x), Ok(y)) if x.is_finite() => assert!(
                        (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                        "batched={x}, one-run={y}\n{b}\n{s}"
                    ),
                    _ => assert_eq!(x, y),
                }
            }
        }
        let escape = b_lines[0].split(',').position(|c| c == "escape_fraction");
        let escapes = |line: &&str| line.split(',').nth(escape.unwrap()) != Some("0.0");
        assert!(
            b_lines[1..].iter().any(escapes),
            "some cell escapes:\n{batched}"
        );
        assert!(
            !b_lines[1..].iter().all(escapes),
            "some cell stays:\n{batched}"
        );
    }

    #[test]
    fn boundaries_and_values_cover_the_grid() {
        let dir = tempfile::tempdir().unwrap();
        let grid = run(&config(5), dir.path(), None, 2);
        let values = grid.values(|s| s.stat("retain_accuracy").mean);
        assert_eq!((values.len(), values[0].len()), (2, 2));
        let boundaries = grid.boundaries(Criterion::Escape);
        assert_eq!(boundaries.len(), 4);
        for b in &boundaries {
            assert_eq!(b.points.len(), 4);
            assert!((0.0..=1.0).contains(&b.agreement), "{b:?}");
        }
        // α = 0: descent only, nothing escapes; the first moment agrees.
        let s = grid.summaries();
        assert_eq!((s[0].escape, s[0].predicted(Rule::FirstMoment)), (0.0, 0.0));
    }

    /// The rank-one predictions of the CNN (B ∈ {1, 3} × α ∈ {0, 0.3, 1}, 2 seeds), recorded
    /// before the trainer became generic over models: (ix, iy, ρ, γ, λ_min(H_α), λ_max(H_α),
    /// σ_U, [mean square, Lyapunov, first moment, pair bound]) per cell and repetition. ρ was
    /// re-recorded when ρ(T) moved from power iteration to Lanczos (same 20-step budget): every
    /// new value is ≥ the old one (both are lower bounds; the old ones, e.g. 1.0072379 for
    /// cell (0, 1), were unconverged), and no verdict changed. σ_U at α = 0.3 was re-recorded
    /// when the magnitude σ_U got its own normaliser, max λ_max((1−α)H_r + αH_f).
    #[allow(clippy::type_complexity)]
    #[rustfmt::skip]
    const RANK_ONE_GOLDEN: [(usize, usize, f64, f64, f64, f64, f64, [bool; 4]); 12] = [
        (0, 0, 1.0, -0.0022118329528696043, -2.359970127844732e-18, 0.01254785595335617, 7.156876126207942, [false, false, false, false]),
        (0, 0, 1.0, -0.0026711079352416986, -9.265203384138007e-19, 0.010747708332157184, 8.442108395567562, [false, false, false, false]),
        (1, 0, 1.0, -0.0014013658924667302, -2.359970127844732e-18, 0.01254785595335617, 7.156876126207942, [false, false, false, false]),
        (1, 0, 1.0, -0.001830479976890182, -9.265203384138007e-19, 0.010747708332157184, 8.442108395567562, [false, false, false, false]),
        (0, 1, 1.007297188663415, -0.0010642428543287982, -0.007224834400806995, 0.008643442840657345, 10.771090871921475, [true, false, true, false]),
        (0, 1, 1.0087481972949237, -0.00036648553568475247, -0.008688088714845336, 0.0072662317260231805, 15.448399567698978, [true, false, true, false]),
        (1, 1, 1.0072496521859475, -0.0003176494488690532, -0.007224834400806995, 0.008643442840657345, 10.771090871921475, [true, false, true, false]),
        (1, 1, 1.0087150688225157, -0.0003063768222143431, -0.008688088714845336, 0.0072662317260231805, 15.448399567698978, [true, false, true, false]),
        (0, 2, 1.025632243364415, 0.0010448460043708746, -0.02480187611984106, 3.57352699994199e-18, 24.35246783708648, [true, true, true, false]),
        (0, 2, 1.031599414184366, 0.0018796332209912786, -0.030860692282101924, 3.2395285481459035e-18, 27.283540332106924, [true, true, true, false]),
        (1, 2, 1.0250875665933543, 0.001506671961996627, -0.02480187611984106, 3.57352699994199e-18, 24.35246783708648, [true, true, true, false]),
        (1, 2, 1.0311925905039865, 0.0013931514112749028, -0.030860692282101924, 3.2395285481459035e-18, 27.283540332106924, [true, true, true, false]),
    ];

    #[test]
    fn rank_one_predictions_of_the_cnn_are_unchanged() {
        let mut cfg = config(3);
        cfg.y.values = vec![0.0, 0.3, 1.0];
        let dir = tempfile::tempdir().unwrap();
        // Recorded with setups pre-trained one at a time (in f32 batched pre-training moves w*
        // at the 1e-7 level, which moves γ by ~1e-6).
        let opts = GridOptions {
            threads: 2,
            progress: false,
            batched: false,
            ..GridOptions::new(dir.path())
        };
        let grid = run_grid(&cfg, &Device::flex(), &opts).unwrap();
        let got: Vec<_> = grid
            .cells
            .iter()
            .flatten()
            .flat_map(|c| c.reps.iter().map(move |r| (c.ix, c.iy, r)))
            .collect();
        assert_eq!(got.len(), RANK_ONE_GOLDEN.len());
        for ((ix, iy, r), golden) in got.into_iter().zip(RANK_ONE_GOLDEN) {
            let p = r.prediction.as_ref().expect("CNN grids predict");
            let (gx, gy, rho, gamma, lmin, lmax, sigma_u, verdicts) = golden;
            assert_eq!((ix, iy), (gx, gy));
            for (name, rust, reference) in [
                ("rho", p.rho, rho),
                ("gamma", p.gamma, gamma),
                ("lambda_min_h_alpha", p.lambda_min_h_alpha, lmin),
                ("lambda_max_h_alpha", p.lambda_max_h_alpha, lmax),
                ("sigma_u", p.sigma_u, sigma_u),
            ] {
                // 1e-9 relative, 1e-15 absolute for the round-off zeros of λ(H_α).
                assert!(
                    (rust - reference).abs() <= 1e-9 * reference.abs() + 1e-15,
                    "cell ({ix}, {iy}) {name}: rust={rust}, reference={reference}"
                );
            }
            let rules = [p.mean_square, p.lyapunov, p.first_moment, p.pair_bound];
            assert_eq!(rules, verdicts, "cell ({ix}, {iy})");
        }
    }

    #[test]
    fn bad_grids_name_their_field() {
        let mut same = config(0);
        same.y.param = Param::Batch;
        let mut unsorted = config(0);
        unsorted.x.values = vec![3.0, 1.0];
        let mut too_big = config(0);
        too_big.x.values = vec![1.0, 7.0];
        for (cfg, field) in [
            (same, "grid.y.param"),
            (unsorted, "grid.x.values"),
            (too_big, "unlearn.step.batch_forget"),
        ] {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err} should name {field}");
        }
    }
}
