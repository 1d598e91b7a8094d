//! Kind `grid`: grids of real unlearning runs (figures 4–6 and every `frontier sweep`). A
//! file gives a base grid (`[grid]`: setup, unlearning, predictions, one or two axes,
//! repetitions, seed) and its panels: a list (`[[panels]]`, each a label and `set`, a table
//! merged over the base), or a third axis (`panel = { param, values }`), or neither (one
//! panel). `[[show]]` says what each panel's heatmap colours: a success fraction (with the
//! predicted boundaries) or the mean of an outcome. Two axes give heatmaps, one axis line
//! plots; the CSV has one row per cell with every outcome, prediction and score (or, with
//! `csv = "shown"`, only what the figure shows).

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use frontier_model::ModelSpec;
use frontier_plot::{LinePlot, Series, line_panels_png, panels_png};
use frontier_stability::sweep::Rule;
use frontier_unlearn::grid::{CellSummary, stat_names, table};
use frontier_unlearn::predict::RULES;
use frontier_unlearn::{Axis, Criterion, Grid, GridConfig, GridOptions, Param, run_grid};
use serde::{Deserialize, Serialize};

use super::render::{Outputs, Panel, plot_axis};
use super::spec::{ConfigFile, merge};
use super::{Context, ModelFigure, planned};
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

/// What a heatmap colours: exactly one of `fraction` and `mean`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Show {
    /// Panel title prefix, e.g. "escape".
    pub title: String,
    /// The fraction of runs meeting a success criterion (`escape`, `deletion`, `useful`),
    /// with the predicted boundaries and their agreement with its majority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<Criterion>,
    /// The mean over seeds of an outcome (a CSV column without `_mean`, e.g.
    /// `retain_accuracy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<String>,
    /// Colourbar title of a mean (default: the outcome's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Colour range of a mean (default: the values' range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
}

impl Show {
    /// Checks that exactly one of `fraction`, `mean` is given and the mean names an outcome.
    fn validate(&self) -> Result<()> {
        match (&self.fraction, &self.mean) {
            (Some(_), None) => Ok(()),
            (None, Some(name)) if stat_names().contains(&name.as_str()) => Ok(()),
            (None, Some(name)) => bail!(
                "show `{}`: `mean = \"{name}\"` is not an outcome: expected one of {}",
                self.title,
                stat_names().join(", ")
            ),
            _ => bail!(
                "show `{}`: give exactly one of `fraction` and `mean`",
                self.title
            ),
        }
    }

    /// The CSV columns it shows.
    fn columns(&self) -> Vec<String> {
        match (&self.fraction, &self.mean) {
            (Some(c), _) => vec![format!("{}_fraction", c.name())],
            (_, Some(m)) => vec![format!("{m}_mean"), format!("{m}_sd")],
            _ => Vec::new(),
        }
    }

    /// The value of a cell.
    fn value(&self, s: &CellSummary) -> f64 {
        match (&self.fraction, &self.mean) {
            (Some(c), _) => c.fraction(s),
            (_, Some(m)) => s.stat(m).mean,
            _ => f64::NAN,
        }
    }
}

/// Runs a `grid` file: every panel's grid (cached), then the PNG, CSV and resolved config.
pub fn run(file: &ConfigFile, ctx: &Context, label: &str) -> Result<Vec<PathBuf>> {
    let figure: GridFigure = file.parse()?;
    figure
        .show
        .iter()
        .try_for_each(Show::validate)
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
        Ok(panels)
    }

    /// Runs (or loads) one panel's grid, reporting progress as `progress`; `what` labels its
    /// cache folder.
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
            ..GridOptions::new(&ctx.store, what, &reporter)
        };
        let grid = run_grid(cfg, &ctx.device, &opts).with_context(|| format!("grid {what}"))?;
        drop(reporter);
        if let Some(reason) = &grid.predictions_skipped {
            ctx.mode.note(format!(
                "note: no predicted boundaries for this grid (predicted_* columns are NaN): {reason}"
            ));
        }
        ctx.mode.note(format!(
            "  grid {}: {} of {} cells computed, the rest cached (setups {:.1} s, cells {:.1} s)",
            grid.dir.display(),
            grid.computed,
            cfg.cells(),
            grid.setup_seconds,
            grid.cells_seconds
        ));
        Ok(grid)
    }

    /// Writes the PNG (heatmaps for two axes, line plots for one), the CSV and the resolved
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
        let png = if first.y.is_some() {
            let plots: Vec<_> = grids
                .iter()
                .flat_map(|(label, g)| figure.show.iter().map(move |show| heatmap(label, g, show)))
                .collect();
            panels_png(&plots, figure.columns)?
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
            csv = csv.select(&columns.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        let resolved = Resolved {
            about: &figure.about,
            model,
            stem: &stem,
            columns: figure.columns,
            csv: figure.csv,
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
        Ok(out.written)
    }
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

/// The caption notes of a fraction: what escape means and where the predictions come from.
fn fraction_notes<C>(grid: &Grid<C>) -> Vec<String> {
    vec![
        format!(
            "escape = ‖w − w*‖ > {}·‖w*‖ within the budget",
            grid.config.unlearn.escape_factor
        ),
        match &grid.predictions_skipped {
            Some(reason) => format!("no predicted boundaries: {reason}"),
            None => "predictions from the per-sample Hessians at w* (one per seed, majority)"
                .to_string(),
        },
    ]
}

/// The heatmap of the grid of panel `label` showing `show`.
fn heatmap<C: ModelSpec>(label: &str, grid: &Grid<C>, show: &Show) -> frontier_plot::Heatmap {
    let cfg = &grid.config;
    let values = grid.values(|s| show.value(s));
    let (boundaries, colorbar, range, notes) = match (show.fraction, &show.mean) {
        (Some(criterion), _) => (
            grid.boundaries(criterion),
            criterion.label().to_string(),
            Some((0.0, 1.0)),
            fraction_notes(grid),
        ),
        (None, mean) => {
            let flat: Vec<f64> = values
                .iter()
                .flatten()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            let (lo, hi) = (
                flat.iter().copied().fold(f64::INFINITY, f64::min),
                flat.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            );
            let name = mean.clone().unwrap_or_default();
            (
                Vec::new(),
                show.label.clone().unwrap_or(name),
                show.range.map(|[lo, hi]| (lo, hi)),
                vec![format!("mean over seeds; grid range {lo:.3} – {hi:.3}")],
            )
        }
    };
    let y = cfg.y.as_ref().expect("heatmaps are drawn for two axes");
    Panel {
        title: format!("{} · {label}: {}", show.title, describe(cfg)),
        x: plot_axis(&cfg.x),
        y: plot_axis(y),
        values,
        colorbar,
        range,
        boundaries: &boundaries,
        against: "empirical majority",
        notes,
    }
    .plot()
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
        match (&show.fraction, &show.mean) {
            (Some(criterion), _) => {
                series.push(line(
                    format!("{label}: {}", criterion.name()),
                    summaries.iter().map(|s| criterion.fraction(s)).collect(),
                    Vec::new(),
                ));
                if grid.predictions_skipped.is_none() {
                    for rule in RULES {
                        series.push(line(
                            format!("{label}: predicted {}", Rule::label(rule)),
                            summaries.iter().map(|s| s.predicted(rule)).collect(),
                            Vec::new(),
                        ));
                    }
                }
            }
            (_, Some(mean)) => series.push(line(
                format!("{label}: {mean}"),
                summaries.iter().map(|s| s.stat(mean).mean).collect(),
                summaries.iter().map(|s| s.stat(mean).sd).collect(),
            )),
            _ => {}
        }
    }
    let (y_label, caption) = match (&show.fraction, &show.mean) {
        (Some(c), _) => (c.label().to_string(), fraction_notes(grids[0].1).join("; ")),
        (_, Some(m)) => (
            show.label.clone().unwrap_or_else(|| m.clone()),
            "mean ± sd over seeds".to_string(),
        ),
        _ => (String::new(), String::new()),
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
