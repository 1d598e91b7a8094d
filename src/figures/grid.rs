//! Kind `grid`: grids of real unlearning runs (figures 4–6 and every `frontier sweep`). A
//! file gives a base grid (`[grid]`: setup, unlearning, predictions, one or two axes,
//! repetitions, seed) and its panels: a list (`[[panels]]`, each a label and `set`, a table
//! merged over the base), or a third axis (`panel = { param, values }`), or neither (one
//! panel). `[[show]]` says what each panel shows: a heatmap of a success fraction (with the
//! predicted boundaries when it is the escape fraction, the rules predicting escape) or of
//! the mean of an outcome, or (`frontier`) a line plot of the first y value at which a
//! majority of runs meets a criterion, per x, beside each predictor's. Two axes give heatmaps,
//! one axis line plots. The CSV has one row per cell with every outcome, prediction and score
//! (or, with `csv = "shown"`, only what the figure shows and the outcomes of `csv_also`); the
//! scores CSV (`<stem>.scores.csv`) one row per panel and predictor: balanced accuracy, base
//! rate and boundary distance against the escape majority.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use frontier_common::{Field, Record, Table};
use frontier_model::ModelSpec;
use frontier_plot::{LinePlot, Plot, Series, line_panels_png, plots_png};
use frontier_stability::Rule;
use frontier_stability::sweep::Boundary;
use frontier_unlearn::grid::{owners, stat_names, table};
use frontier_unlearn::mia::null_strength_95;
use frontier_unlearn::{Axis, Criterion, Grid, GridConfig, GridOptions, Param, Shard, run_grid};
use serde::{Deserialize, Serialize};

use super::render::{Outputs, Panel, plot_axis, scores_table};
use super::spec::{ConfigFile, merge};
use super::{Context, Missing, ModelFigure, Part, planned};
use crate::models::{Registered, WithModel};

/// A grid figure or sweep (kind `grid`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridFigure {
    /// One line on what it shows.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub about: String,
    /// The registered model of every panel (`cnn`, `mlp`); its config is `grid.setup.model`.
    pub model: String,
    /// Output files: `<file name>_<model>_<stem>.png` (and `.csv`, `.config.toml`); omitted:
    /// the axes' parameters, e.g. `batch_alpha`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stem: Option<String>,
    /// Panels per row of the PNG.
    #[serde(default = "one")]
    pub columns: usize,
    /// The CSV's columns: every outcome, prediction and score (`all`), or what the figure
    /// shows (`shown`).
    #[serde(default)]
    pub csv: Columns,
    /// Outcomes (CSV columns without `_mean`) whose mean and sd a `shown` CSV also holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub csv_also: Vec<String>,
    /// What each panel shows (default: the escape fraction).
    #[serde(default = "escape")]
    pub show: Vec<Show>,
    /// The base grid (see `frontier_unlearn::GridConfig`: `setup`, `unlearn`, `predict`, `x`,
    /// `y`, `reps`, `seed`).
    #[serde(default)]
    pub grid: toml::Table,
    /// The panels, each `set` merged over `grid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub panels: Vec<PanelSpec>,
    /// A third axis: one panel per value (instead of `panels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel: Option<Axis>,
}

fn one() -> usize {
    1
}

fn escape() -> Vec<Show> {
    vec![Show {
        title: "escape".into(),
        fraction: Some(Criterion::Escape),
        mean: None,
        frontier: None,
        label: None,
        range: None,
    }]
}

/// Which columns the CSV has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Columns {
    /// Every outcome, prediction and score.
    #[default]
    All,
    /// The panel, the axes, the repetitions and what the panels show.
    Shown,
}

/// One panel of the list: its label (the CSV's `panel` column) and the settings it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelSpec {
    /// What the panel is, e.g. "logistic snr=0.05".
    pub label: String,
    /// Merged over the base grid (dotted keys into it, e.g. `setup.data.snr = 1.0`).
    #[serde(default)]
    pub set: toml::Table,
}

/// What a panel shows: exactly one of `fraction`, `mean` and `frontier`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Show {
    /// Panel title prefix, e.g. "escape".
    pub title: String,
    /// A heatmap of the fraction of runs meeting a success criterion (`escape`, `deletion`,
    /// `useful`); for `escape`, with the predicted boundaries and their scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<Criterion>,
    /// A heatmap of the mean over seeds of an outcome (a CSV column without `_mean`, e.g.
    /// `retain_accuracy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<String>,
    /// A line plot (two axes only): per x, the first y value, counted from the stable end,
    /// at which a majority of runs meets the criterion, beside the first y each predictor
    /// calls escaping (for `escape`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontier: Option<Criterion>,
    /// Colourbar title of a mean (default: the outcome's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Colour range of a mean (default: the values' range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
}

/// What a [`Show`] asks for.
enum Shown<'a> {
    Fraction(Criterion),
    Mean(&'a str),
    Frontier(Criterion),
}

impl Show {
    /// The one thing it shows; errors unless exactly one of `fraction`, `mean`, `frontier` is
    /// given and a mean names an outcome.
    fn shown(&self) -> Result<Shown<'_>> {
        match (&self.fraction, &self.mean, &self.frontier) {
            (Some(c), None, None) => Ok(Shown::Fraction(*c)),
            (None, Some(name), None) => {
                check_outcome(name).with_context(|| format!("show `{}`", self.title))?;
                Ok(Shown::Mean(name))
            }
            (None, None, Some(c)) => Ok(Shown::Frontier(*c)),
            _ => bail!(
                "show `{}`: give exactly one of `fraction`, `mean` and `frontier`",
                self.title
            ),
        }
    }

    /// What it shows (validated when the file was read).
    fn what(&self) -> Shown<'_> {
        self.shown().expect("validated when the file was read")
    }

    /// The CSV columns it shows.
    fn columns(&self) -> Vec<String> {
        match self.what() {
            Shown::Fraction(c) | Shown::Frontier(c) => vec![format!("{}_fraction", c.name())],
            Shown::Mean(m) => vec![format!("{m}_mean"), format!("{m}_sd")],
        }
    }

    /// Whether it is drawn against the escape fraction, where the predictions apply.
    fn against_escape(&self) -> bool {
        matches!(
            self.what(),
            Shown::Fraction(Criterion::Escape) | Shown::Frontier(Criterion::Escape)
        )
    }
}

/// Errors unless `name` is an outcome (a CSV column `<name>_mean`).
fn check_outcome(name: &str) -> Result<()> {
    if stat_names().contains(&name) {
        Ok(())
    } else {
        bail!(
            "`{name}` is not an outcome: expected one of {}",
            stat_names().join(", ")
        )
    }
}

/// Runs a `grid` file: every panel's grid (cached), then the PNG, CSV and resolved config.
pub fn run(file: &ConfigFile, ctx: &Context, label: &str) -> Result<Vec<PathBuf>> {
    let figure: GridFigure = file.parse()?;
    figure
        .show
        .iter()
        .try_for_each(|show| show.shown().map(drop))
        .and_then(|()| figure.csv_also.iter().try_for_each(|m| check_outcome(m)))
        .with_context(|| format!("{}", file.path.display()))?;
    if figure.show.is_empty() {
        bail!("{}: `show` lists nothing to draw", file.path.display());
    }
    let model = figure.model.clone();
    ModelFigure::run(file, ctx, label, figure, &model)
}

/// A `grid` file run for one registered model.
type Task<'a> = ModelFigure<'a, GridFigure>;

impl WithModel for Task<'_> {
    type Output = Result<Vec<PathBuf>>;

    fn run<C: ModelSpec>(self, model: Registered<C>) -> Result<Vec<PathBuf>> {
        let panels = self.panels::<C>()?;
        let plan: Vec<String> = panels
            .iter()
            .map(|(label, cfg)| {
                let axes: Vec<String> = cfg
                    .axes()
                    .map(|a| format!("{} {}", a.values.len(), a.param.name()))
                    .collect();
                format!("`{label}` {} × {} seeds", axes.join(" × "), cfg.reps)
            })
            .collect();
        if planned(
            self.ctx,
            self.file,
            format!("{} {}", model.name, plan.join(", ")),
        ) {
            return Ok(Vec::new());
        }
        let n = panels.len();
        let grids = panels
            .iter()
            .enumerate()
            .map(|(i, (panel, cfg))| {
                let what = format!("{} {}: {panel}", self.file.name, model.name);
                self.grid(
                    cfg,
                    &what,
                    &format!("{} · {panel} ({} of {n})", self.label, i + 1),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        if let Part::Check(shards) = self.ctx.part {
            return self.check(&panels, &grids, shards);
        }
        if !self.ctx.part.renders() {
            return Ok(Vec::new());
        }
        let labelled: Vec<(&str, &Grid<C>)> = panels
            .iter()
            .zip(&grids)
            .map(|((l, _), g)| (l.as_str(), g))
            .collect();
        self.write(model.name, &labelled)
    }
}

impl Task<'_> {
    /// Every panel's label and resolved grid, validated (before anything runs).
    fn panels<C: ModelSpec>(&self) -> Result<Vec<(String, GridConfig<C>)>> {
        let (file, figure) = (self.file, &self.figure);
        let resolve = |what: &str, set: Option<&toml::Table>| -> Result<GridConfig<C>> {
            let mut table = figure.grid.clone();
            if let Some(set) = set {
                merge(&mut table, set);
            }
            if let Some(swap) = &self.swap {
                let setup = table
                    .entry("setup")
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let Some(setup) = setup.as_table_mut() {
                    swap.apply(setup);
                }
            }
            let mut cfg: GridConfig<C> = file.parse_value(what, toml::Value::Table(table))?;
            if let Some(dtype) = self.ctx.dtype {
                cfg.setup.precision = dtype;
            }
            Ok(cfg)
        };
        let panels: Vec<(String, GridConfig<C>)> = match (&figure.panel, figure.panels.as_slice()) {
            (Some(_), [_, ..]) => bail!(
                "{}: give `panels` or `panel`, not both",
                file.path.display()
            ),
            (Some(axis), []) => {
                let base = resolve("grid", None)?;
                axis.values
                    .iter()
                    .map(|value| {
                        let mut cfg = base.clone();
                        axis.param
                            .apply(value, &mut cfg.setup, &mut cfg.unlearn)
                            .with_context(|| format!("{}: `panel`", file.path.display()))?;
                        Ok((format!("{}={value}", axis.param.name()), cfg))
                    })
                    .collect::<Result<_>>()?
            }
            (None, []) => vec![(file.name.clone(), resolve("grid", None)?)],
            (None, specs) => specs
                .iter()
                .map(|p| {
                    Ok((
                        p.label.clone(),
                        resolve(&format!("panel `{}`", p.label), Some(&p.set))?,
                    ))
                })
                .collect::<Result<_>>()?,
        };
        let params = |cfg: &GridConfig<C>| cfg.axes().map(|a| a.param).collect::<Vec<Param>>();
        for (panel, cfg) in &panels {
            cfg.validate()
                .with_context(|| format!("{}: panel `{panel}`", file.path.display()))?;
            if params(cfg) != params(&panels[0].1) {
                bail!(
                    "{}: panel `{panel}` has other axes than panel `{}`; the panels of one figure share their axes",
                    file.path.display(),
                    panels[0].0
                );
            }
        }
        if panels[0].1.y.is_none()
            && let Some(show) = figure.show.iter().find(|s| s.frontier.is_some())
        {
            bail!(
                "{}: show `{}`: a frontier needs two axes (x and y)",
                file.path.display(),
                show.title
            );
        }
        Ok(panels)
    }

    /// Runs (or loads) one panel's grid, reporting progress as `progress`; `what` labels its
    /// cache folder. A shard computes its own cells only; a merge's check computes nothing.
    fn grid<C: ModelSpec>(
        &self,
        cfg: &GridConfig<C>,
        what: &str,
        progress: &str,
    ) -> Result<Grid<C>> {
        let ctx = self.ctx;
        let reporter = ctx.mode.reporter(progress);
        let opts = GridOptions {
            force: ctx.force,
            batched: ctx.batched,
            shard: match ctx.part {
                Part::Shard(shard) => shard,
                _ => Shard::WHOLE,
            },
            max_cells: matches!(ctx.part, Part::Check(_)).then_some(0),
            ..GridOptions::new(&ctx.store, what, &reporter)
        };
        let grid = run_grid(cfg, &ctx.device, &opts).with_context(|| format!("grid {what}"))?;
        drop(reporter);
        if matches!(ctx.part, Part::Check(_)) {
            return Ok(grid);
        }
        if let Some(reason) = &grid.predictions_skipped {
            ctx.mode.note(format!(
                "note: no predicted boundaries for this grid (predicted_* columns are NaN): {reason}"
            ));
        }
        let of = match ctx.part {
            Part::Shard(shard) => format!(
                "the {} cells of shard {shard}",
                owners(cfg, shard.count())?
                    .iter()
                    .filter(|&&k| k == shard.index())
                    .count()
            ),
            _ => format!("{} cells", cfg.cells()),
        };
        ctx.mode.note(format!(
            "  grid {}: {} of {of} computed, the rest cached (setups {:.1} s, cells {:.1} s)",
            grid.dir.display(),
            grid.computed,
            grid.setup_seconds,
            grid.cells_seconds
        ));
        Ok(grid)
    }

    /// A merge's check: `Ok` with nothing written when every panel's grid is complete, else
    /// [`Missing`] listing each grid's missing cells by the shard of `shards` that owns them.
    fn check<C: ModelSpec>(
        &self,
        panels: &[(String, GridConfig<C>)],
        grids: &[Grid<C>],
        shards: usize,
    ) -> Result<Vec<PathBuf>> {
        let mut missing = Missing {
            of: shards,
            ..Missing::default()
        };
        for ((panel, cfg), grid) in panels.iter().zip(grids) {
            let owner = owners(cfg, shards)?;
            for shard in 1..=shards {
                let cells: Vec<String> = (0..cfg.cells())
                    .filter(|&c| owner[c] == shard && grid.cells[c].is_none())
                    .map(|c| describe_cell(cfg, c))
                    .collect();
                if cells.is_empty() {
                    continue;
                }
                missing.cells += cells.len();
                missing.shards.insert(shard);
                missing.lines.push(format!(
                    "{} · {panel} ({}): shard {shard}/{shards} lacks {} cell(s): {}",
                    self.file.name,
                    grid.dir.display(),
                    cells.len(),
                    cells.join(", ")
                ));
            }
        }
        if missing.lines.is_empty() {
            Ok(Vec::new())
        } else {
            Err(missing.into())
        }
    }

    /// Writes the PNG (heatmaps and frontier plots for two axes, line plots for one), the
    /// CSV, the scores CSV (two axes, when a panel shows the escape fraction or frontier and
    /// the grids have predictions), the frontier CSV (for frontier panels) and the resolved
    /// config.
    fn write<C: ModelSpec>(&self, model: &str, grids: &[(&str, &Grid<C>)]) -> Result<Vec<PathBuf>> {
        let figure = &self.figure;
        let first = &grids[0].1.config;
        let stem = figure.stem.clone().unwrap_or_else(|| {
            first
                .axes()
                .map(|a| a.param.name())
                .collect::<Vec<_>>()
                .join("_")
        });
        let boundaries: Vec<Vec<Boundary>> = grids
            .iter()
            .map(|(_, g)| g.boundaries(Criterion::Escape))
            .collect();
        let png = if first.y.is_some() {
            let mut plots = Vec::new();
            for ((label, g), b) in grids.iter().zip(&boundaries) {
                for show in &figure.show {
                    plots.push(match show.what() {
                        Shown::Frontier(c) => Plot::Lines(frontier(label, g, c, b)),
                        _ => Plot::Heatmap(heatmap(label, g, show, b)),
                    });
                }
            }
            plots_png(&plots, figure.columns)?
        } else {
            let plots: Vec<_> = figure.show.iter().map(|show| lines(grids, show)).collect();
            line_panels_png(&plots, figure.columns)?
        };
        let mut csv = table(grids)?;
        if figure.csv == Columns::Shown {
            let mut columns: Vec<String> = vec!["panel".into()];
            columns.extend(first.axes().map(|a| a.param.name().to_string()));
            columns.push("reps".into());
            columns.extend(figure.show.iter().flat_map(Show::columns));
            columns.extend(
                figure
                    .csv_also
                    .iter()
                    .flat_map(|m| [format!("{m}_mean"), format!("{m}_sd")]),
            );
            columns.dedup();
            csv = csv.select(&columns.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        let resolved = Resolved {
            about: &figure.about,
            model,
            stem: &stem,
            columns: figure.columns,
            csv: figure.csv,
            csv_also: &figure.csv_also,
            show: &figure.show,
            panels: grids
                .iter()
                .map(|(label, g)| ResolvedPanel {
                    label,
                    set: &g.config,
                })
                .collect(),
        };
        let mut out = Outputs::new(self.ctx, self.file);
        let stem = format!("{}_{model}_{stem}", self.file.name);
        out.write(&stem, &png, &csv, "grid", &resolved)?;
        let scored = boundaries.iter().any(|b| !b.is_empty());
        if scored && figure.show.iter().any(Show::against_escape) {
            let panels = grids
                .iter()
                .zip(&boundaries)
                .map(|((label, _), b)| (*label, b.as_slice()));
            out.extra(&stem, "scores", &scores_table(panels)?)?;
        }
        if let Some(criterion) = figure.show.iter().find_map(|s| s.frontier) {
            out.extra(&stem, "frontier", &frontier_table(grids, criterion)?)?;
        }
        Ok(out.written)
    }
}

/// Cell `cell` of `cfg` for a message: its index and axis values, e.g. "13 (batch=2,
/// alpha=0.1)".
fn describe_cell<C>(cfg: &GridConfig<C>, cell: usize) -> String {
    let nx = cfg.nx();
    let values: Vec<String> = std::iter::once((&cfg.x, cell % nx))
        .chain(cfg.y.iter().map(|y| (y, cell / nx)))
        .map(|(axis, i)| format!("{}={}", axis.param.name(), axis.values[i]))
        .collect();
    format!("{cell} ({})", values.join(", "))
}

/// The resolved config of a grid file: every panel's full grid (given to `--config` it runs
/// the same grids, from the cache).
#[derive(Serialize)]
struct Resolved<'a, C> {
    #[serde(skip_serializing_if = "str::is_empty")]
    about: &'a str,
    model: &'a str,
    stem: &'a str,
    columns: usize,
    csv: Columns,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    csv_also: &'a [String],
    show: &'a [Show],
    panels: Vec<ResolvedPanel<'a, C>>,
}

#[derive(Serialize)]
struct ResolvedPanel<'a, C> {
    label: &'a str,
    set: &'a GridConfig<C>,
}

/// "logistic loss, SNR 0.05, η = 0.5 (pre-training η = 1), n = 100 (n_f = 10), d = 500, m =
/// 10, 5 seeds, 200 steps": every setting a reader needs, except those an axis varies.
fn describe<C: ModelSpec>(cfg: &GridConfig<C>) -> String {
    let (s, u) = (&cfg.setup, &cfg.unlearn);
    let fixed = |p: Param| !cfg.varies(p);
    let mut parts = Vec::new();
    if fixed(Param::Loss) {
        parts.push(format!("{} loss", s.pretrain.loss.name()));
    }
    if fixed(Param::Snr) {
        parts.push(format!("SNR {}", s.data.snr));
    }
    if fixed(Param::Batch) {
        parts.push(format!("B = {}", u.step.batch_retain));
    }
    if let Some(b_f) = u.step.batch_forget.filter(|_| fixed(Param::BatchForget)) {
        parts.push(format!("B_f = {b_f}"));
    }
    parts.push(if fixed(Param::Eta) {
        format!("η = {} (pre-training η = {})", u.step.eta, s.pretrain.eta)
    } else {
        format!("pre-training η = {}", s.pretrain.eta)
    });
    parts.push(if fixed(Param::NForget) && fixed(Param::ForgetFraction) {
        format!("n = {} (n_f = {})", s.data.n, s.data.forget_count())
    } else {
        format!("n = {}", s.data.n)
    });
    if s.data.label_flip > 0.0 && fixed(Param::LabelFlip) {
        parts.push(format!("label flip {}", s.data.label_flip));
    }
    parts.push(format!("d = {}", s.data.d));
    parts.push(s.model.describe());
    parts.push(format!("{} seeds", cfg.reps));
    if fixed(Param::Steps) {
        parts.push(format!("{} steps", u.steps));
    }
    parts.join(", ")
}

/// "training loss at w* 0.0079–0.0099, forget loss 0.0031–0.012 (5 seeds)": the range over
/// the grid's setups of the losses at w* (matched-loss pre-training lands every training loss
/// in [loss_tol/4, loss_tol]).
fn at_optimum_note<C>(grid: &Grid<C>) -> String {
    let range = |name: &str| {
        let (lo, hi) = grid.cells.iter().flatten().flat_map(|c| &c.reps).fold(
            (f64::INFINITY, f64::NEG_INFINITY),
            |(lo, hi), r| {
                let v = match name {
                    "training" => r.at_optimum.training_loss,
                    _ => r.at_optimum.forget_loss,
                };
                (lo.min(v), hi.max(v))
            },
        );
        format!("{lo:.2e}–{hi:.2e}")
    };
    format!(
        "at w*: training loss {}, forget loss {} (matched-loss band [{}, {}])",
        range("training"),
        range("forget"),
        grid.config.setup.pretrain.loss_tol / 4.0,
        grid.config.setup.pretrain.loss_tol
    )
}

/// What "deleted" means for the grid: attack strength at most the configured level, or the
/// 95 % null quantile for its forget and test sizes.
fn deletion_note<C>(grid: &Grid<C>) -> String {
    let data = &grid.config.setup.data;
    match grid.config.unlearn.attack_strength_max {
        Some(level) => format!(
            "deleted = MIA attack strength max(AUC, 1 − AUC) ≤ {level} (configured); 0.5 = no \
             membership signal"
        ),
        None => format!(
            "deleted = MIA attack strength max(AUC, 1 − AUC) ≤ {:.3}: the 95 % quantile of the \
             strength when {} forget and {} test losses come from one distribution (what a model \
             that never saw F shows by chance); 0.5 = no membership signal",
            null_strength_95(data.forget_count(), data.n_test),
            data.forget_count(),
            data.n_test
        ),
    }
}

/// The caption notes of a panel drawn against `criterion`: what it means, and (escape only)
/// where the predictions come from.
fn criterion_notes<C>(grid: &Grid<C>, criterion: Criterion) -> Vec<String> {
    let u = &grid.config.unlearn;
    let mut notes = vec![match criterion {
        Criterion::Escape => format!(
            "escape = ‖w − w*‖ > {}·‖w*‖ within the budget",
            u.escape_factor
        ),
        Criterion::Deletion => deletion_note(grid),
        Criterion::Useful => format!(
            "useful = escape or deletion with retain accuracy ≥ {}",
            u.retain_accuracy_min
        ),
    }];
    if criterion == Criterion::Escape {
        let p = &grid.config.predict;
        notes.push(match &grid.predictions_skipped {
            Some(reason) => format!("no predicted boundaries: {reason}"),
            None if !p.enabled => "predictions disabled".to_string(),
            None => format!(
                "predictions from the per-sample Hessians at w* of each seed (cell = majority \
                 of seeds); γ_∞ from {} simulated runs of up to {} steps for the first {} \
                 seed(s); linear growth within K from {} runs of K = budget steps; T̂_esc = L/κ \
                 from the forget margins and score gradients at w*",
                p.asymptotic.reps,
                p.asymptotic.max_steps,
                p.asymptotic.setups.min(grid.config.reps),
                p.sim_reps
            ),
        });
    }
    notes.push(at_optimum_note(grid));
    notes
}

/// The heatmap of the grid of panel `label` showing `show` (a fraction or a mean), with
/// `boundaries` (the predictions against the escape majority) when it shows the escape
/// fraction.
fn heatmap<C: ModelSpec>(
    label: &str,
    grid: &Grid<C>,
    show: &Show,
    boundaries: &[Boundary],
) -> frontier_plot::Heatmap {
    let cfg = &grid.config;
    let (values, boundaries, colorbar, range, notes) = match show.what() {
        Shown::Fraction(criterion) => (
            grid.values(|s| criterion.fraction(s)),
            if criterion == Criterion::Escape {
                boundaries
            } else {
                &[]
            },
            criterion.label().to_string(),
            Some((0.0, 1.0)),
            criterion_notes(grid, criterion),
        ),
        Shown::Mean(name) => {
            let values = grid.values(|s| s.stat(name).mean);
            let (lo, hi) = values
                .iter()
                .flatten()
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            let mut notes = vec![format!("mean over seeds; grid range {lo:.3} – {hi:.3}")];
            if name == "attack_strength" {
                notes.push(deletion_note(grid));
            }
            notes.push(at_optimum_note(grid));
            (
                values,
                &[][..],
                show.label.clone().unwrap_or_else(|| name.to_string()),
                show.range.map(|[lo, hi]| (lo, hi)),
                notes,
            )
        }
        Shown::Frontier(_) => unreachable!("frontiers are line plots"),
    };
    let y = cfg.y.as_ref().expect("heatmaps are drawn for two axes");
    Panel {
        title: format!("{} · {label}: {}", show.title, describe(cfg)),
        x: plot_axis(&cfg.x),
        y: plot_axis(y),
        values,
        colorbar,
        range,
        boundaries,
        against: "empirical majority",
        notes,
    }
    .plot()
}

/// The frontier plot of the grid of panel `label`: per x, the first y with a majority of
/// runs meeting `criterion`, and (escape) the first y each predictor with `boundaries` calls
/// escaping; the caption gives each predictor's boundary distance (in grid steps of y).
fn frontier<C: ModelSpec>(
    label: &str,
    grid: &Grid<C>,
    criterion: Criterion,
    boundaries: &[Boundary],
) -> LinePlot {
    let cfg = &grid.config;
    let x = plot_axis(&cfg.x);
    let y = cfg.y.as_ref().expect("validated: frontiers need two axes");
    let line =
        |name: String, values: Vec<f64>| Series::new(name, x.values.clone(), values, Vec::new());
    let mut series = vec![line(
        format!("measured: first {} with a majority", y.param.name()),
        grid.first_escaping(|s| criterion.fraction(s) > 0.5),
    )];
    let predicted: &[Boundary] = if criterion == Criterion::Escape {
        boundaries
    } else {
        &[]
    };
    for b in predicted {
        series.push(line(
            format!("predicted: {}", b.label),
            grid.first_predicted(b.rule),
        ));
    }
    let mut caption: Vec<String> = predicted
        .iter()
        .map(|b| {
            format!(
                "{}: {:.1} grid steps of {} off (balanced accuracy {})",
                b.label,
                b.scores.boundary_distance,
                y.param.name(),
                b.scores
                    .balanced_accuracy
                    .map_or_else(|| "undefined".into(), |a| format!("{a:.2}"))
            )
        })
        .collect();
    caption.push(format!(
        "no point where no {} of the grid ({}) gets there",
        y.param.name(),
        y.values
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    caption.extend(criterion_notes(grid, criterion));
    LinePlot {
        title: format!(
            "first {} with a majority ({}) · {label}: {}",
            y.param.name(),
            criterion.name(),
            describe(cfg)
        ),
        caption: caption.join("; "),
        x,
        y_label: y.param.label().to_string(),
        log_y: false,
        series,
    }
}

/// The frontier CSV: per panel and x value, the first y with a majority of runs meeting
/// `criterion` (`measured`; empty where none) and the first y each rule calls escaping
/// (`predicted_<rule>`).
fn frontier_table<C: ModelSpec>(grids: &[(&str, &Grid<C>)], criterion: Criterion) -> Result<Table> {
    let mut records: Vec<Record> = Vec::new();
    let value = |v: f64| {
        if v.is_nan() {
            Field::Missing
        } else {
            Field::from(v)
        }
    };
    for (label, grid) in grids {
        let measured = grid.first_escaping(|s| criterion.fraction(s) > 0.5);
        let predicted: Vec<(Rule, Vec<f64>)> = Rule::ALL
            .iter()
            .map(|&rule| (rule, grid.first_predicted(rule)))
            .collect();
        for (ix, x) in grid.config.x.values.iter().enumerate() {
            let mut record: Record = vec![
                ("panel".into(), Field::from(*label)),
                (
                    grid.config.x.param.name().into(),
                    Field::from(x.to_string()),
                ),
                ("measured".into(), value(measured[ix])),
            ];
            for (rule, firsts) in &predicted {
                record.push((format!("predicted_{}", rule.name()), value(firsts[ix])));
            }
            records.push(record);
        }
    }
    Ok(Table::from_records(records)?)
}

/// The line plot of one-axis grids showing `show`: one line per panel, and for a fraction
/// the fraction of seeds each rule predicts to escape.
fn lines<C: ModelSpec>(grids: &[(&str, &Grid<C>)], show: &Show) -> LinePlot {
    let cfg = &grids[0].1.config;
    let x = plot_axis(&cfg.x);
    let mut series = Vec::new();
    for (label, grid) in grids {
        let summaries = grid.summaries();
        let line = |name: String, mean: Vec<f64>, sd: Vec<f64>| {
            Series::new(name, x.values.clone(), mean, sd)
        };
        match show.what() {
            Shown::Fraction(criterion) => {
                series.push(line(
                    format!("{label}: {}", criterion.name()),
                    summaries.iter().map(|s| criterion.fraction(s)).collect(),
                    Vec::new(),
                ));
                if criterion == Criterion::Escape {
                    for rule in Rule::ALL {
                        let predicted: Vec<f64> =
                            summaries.iter().map(|s| s.predicted(rule)).collect();
                        if predicted.iter().any(|v| !v.is_nan()) {
                            series.push(line(
                                format!("{label}: predicted {}", rule.label()),
                                predicted,
                                Vec::new(),
                            ));
                        }
                    }
                }
            }
            Shown::Mean(mean) => series.push(line(
                format!("{label}: {mean}"),
                summaries.iter().map(|s| s.stat(mean).mean).collect(),
                summaries.iter().map(|s| s.stat(mean).sd).collect(),
            )),
            Shown::Frontier(_) => unreachable!("refused for one axis"),
        }
    }
    let (y_label, caption) = match show.what() {
        Shown::Fraction(c) => (
            c.label().to_string(),
            criterion_notes(grids[0].1, c).join("; "),
        ),
        Shown::Mean(m) => (
            show.label.clone().unwrap_or_else(|| m.to_string()),
            format!("mean ± sd over seeds; {}", at_optimum_note(grids[0].1)),
        ),
        Shown::Frontier(_) => unreachable!("refused for one axis"),
    };
    LinePlot {
        title: format!("{}: {}", show.title, describe(cfg)),
        caption,
        x,
        y_label,
        log_y: false,
        series,
    }
}
