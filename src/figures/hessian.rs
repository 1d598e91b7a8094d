//! The Hessian test with synthetic per-sample Hessians: the linearised dynamics alone, where
//! every criterion can be checked against simulated runs. Kind `hessian_sgd` (figure 1): SGD
//! over batch size × the coherence dial σ. Kind `hessian_unlearning` (figure 2): unlearning
//! with a retain dial σ_R and a forget set placed aligned with it, on its unique directions,
//! on fresh directions or mixed; B × α per placement, and α × the aligned fraction.
//!
//! The label of a cell is the majority of its simulated runs (`sim`); the predictors γ_∞ and
//! linear growth within K steps come from runs of their own (`predictors`, other seeds), so
//! their scores are not circular.

use anyhow::Result;
use frontier_common::{Field, Record, Table, record_of};
use frontier_plot::{Axis as PlotAxis, panels_png};
use frontier_stability::Rule;
use frontier_stability::sweep::{Cell, Heatmap, Predictors, Region, Spec, evaluate};
use frontier_stability::synthetic::{
    ForgetPlacement, UnlearningSpec, coherence_dial, unlearning_families,
};
use frontier_stability::{Curvature, Sampling, Settings, SimOptions};
use serde::{Deserialize, Serialize};

use super::render::{Outputs, Panel, scores_table};
use super::spec::ConfigFile;
use super::{Context, uncached_stops};

/// Figure 1's settings (kind `hessian_sgd`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdFigure {
    /// One line on what the figure shows.
    pub about: String,
    /// Output files: `<file name>_<stem>.png` (and `.csv`, `.config.toml`).
    pub stem: String,
    /// Samples n.
    pub n: usize,
    /// Coherence dial values σ (y axis), each in 1..=n.
    pub sigmas: Vec<usize>,
    /// Batch sizes B (x axis), each in 1..=n.
    pub batches: Vec<usize>,
    /// Learning rate η.
    pub eta: f64,
    /// Batch sampling scheme: "without", "with" or "bernoulli".
    pub sampling: Sampling,
    /// Simulation controls of the label's runs (steps, reps, seed, threshold, initial
    /// state, burn-in).
    pub sim: SimOptions,
    /// The simulated predictors' own runs (γ_∞ and growth within K; other seeds).
    #[serde(default)]
    pub predictors: Predictors,
    /// Worker threads (0 = all cores); results do not depend on it.
    pub threads: usize,
}

/// Figure 2's settings (kind `hessian_unlearning`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlearningFigure {
    /// One line on what the figure shows.
    pub about: String,
    /// Output files: `<file name>_<stem>_batch_alpha` and `<file name>_<stem>_alpha_alignment`.
    pub stem: String,
    /// Retain samples n_r.
    pub n_retain: usize,
    /// Forget samples n_f.
    pub n_forget: usize,
    /// Retain coherence dials σ_R: one set of heatmaps each.
    pub sigma_retain: Vec<usize>,
    /// Forget placements of the B × α heatmaps.
    pub placements: Vec<ForgetPlacement>,
    /// Batch sizes B = B_r = B_f (x axis of the B × α heatmaps), each ≤ n_f.
    pub batches: Vec<usize>,
    /// Mixing ratios α (y axis).
    pub alphas: Vec<f64>,
    /// Aligned fractions (x axis of the α × alignment heatmaps).
    pub dial: Vec<f64>,
    /// Batch size of the α × alignment heatmaps.
    pub dial_batch: usize,
    /// Per-sample forget curvature; omitted: 2n_r/σ_R.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forget_scale: Option<f64>,
    /// Learning rate η.
    pub eta: f64,
    /// Batch sampling scheme.
    pub sampling: Sampling,
    /// Simulation controls of the label's runs.
    pub sim: SimOptions,
    /// The simulated predictors' own runs (γ_∞ and growth within K; other seeds).
    #[serde(default)]
    pub predictors: Predictors,
    /// Worker threads (0 = all cores).
    pub threads: usize,
    /// B × α panels per row of the PNG.
    pub columns: usize,
    /// α × alignment panels per row.
    pub alignment_columns: usize,
}

/// One computed heatmap with its panel label and title.
struct Labelled {
    /// What the panel is (the CSV's `panel` column), e.g. "aligned sigma_r=10".
    label: String,
    title: String,
    grid: Heatmap,
}

/// "10 runs of 1000 steps".
fn runs(sim: &SimOptions) -> String {
    format!("{} runs of {} steps", sim.reps, sim.steps)
}

fn sampling_words(s: Sampling) -> &'static str {
    match s {
        Sampling::Without => "without replacement",
        Sampling::With => "with replacement",
        Sampling::Bernoulli => "Bernoulli(B/n)",
    }
}

/// "the predictors γ_∞ (8 runs, seed 1, ≤ 100000 steps) and growth within K (10 runs,
/// seed 2) from their own runs".
fn predictor_runs(p: &Predictors) -> String {
    format!(
        "predictors from their own runs: γ_∞ {} runs (seed {}, ≤ {} steps), growth within K {} \
         runs (seed {})",
        p.asymptotic.reps, p.asymptotic.seed, p.asymptotic.max_steps, p.growth_reps, p.growth_seed
    )
}

/// Evaluates `specs` over `curvatures` with a progress reporter named `label`.
#[allow(clippy::too_many_arguments)]
fn cells(
    ctx: &Context,
    label: &str,
    curvatures: &[Curvature],
    specs: &[Spec],
    sim: &SimOptions,
    predictors: &Predictors,
    threads: usize,
    offset: u64,
) -> Result<Vec<Cell>> {
    let reporter = ctx.mode.reporter(label);
    Ok(evaluate(
        curvatures, specs, sim, predictors, threads, offset, &reporter,
    )?)
}

/// Figure 1: x = B (log₂), y = σ; overlays the coherence bound, ρ(T) = 1, γ_∞ = 0 and
/// linear growth within K steps.
pub fn sgd(file: &ConfigFile, ctx: &Context, label: &str) -> Result<Vec<std::path::PathBuf>> {
    let cfg: SgdFigure = file.parse()?;
    let plan = format!(
        "{} B × {} σ cells × {}",
        cfg.batches.len(),
        cfg.sigmas.len(),
        runs(&cfg.sim)
    );
    if uncached_stops(ctx, file, plan) {
        return Ok(Vec::new());
    }
    let curvatures = cfg
        .sigmas
        .iter()
        .map(|&s| Curvature::new(&coherence_dial(cfg.n, s)?, None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let specs: Vec<Spec> = cfg
        .sigmas
        .iter()
        .enumerate()
        .flat_map(|(iy, &s)| {
            cfg.batches.iter().map(move |&b| Spec {
                curvature: iy,
                settings: Settings {
                    sampling: cfg.sampling,
                    ..Settings::new(cfg.eta, 0.0, b)
                },
                x: b as f64,
                y: s as f64,
            })
        })
        .collect();
    let cells = cells(
        ctx,
        label,
        &curvatures,
        &specs,
        &cfg.sim,
        &cfg.predictors,
        cfg.threads,
        0,
    )?;
    let grid = Heatmap::new(
        cfg.batches.iter().map(|&b| b as f64).collect(),
        cfg.sigmas.iter().map(|&s| s as f64).collect(),
        true,
        cells,
        &[
            Rule::CoherenceBound,
            Rule::MeanSquare,
            Rule::Asymptotic,
            Rule::GrowthWithin,
        ],
        Region::LowY,
        &cfg.sim,
    );
    let panel = Labelled {
        label: "sgd".into(),
        title: format!(
            "Hessian test, SGD: fraction of diverging runs (η = {}, n = {}, {} runs × {} steps, seed {}, {})",
            cfg.eta,
            cfg.n,
            cfg.sim.reps,
            cfg.sim.steps,
            cfg.sim.seed,
            sampling_words(cfg.sampling)
        ),
        grid,
    };
    let axes = [
        ("batch", "batch size B (samples)"),
        ("sigma", "coherence σ (dimensionless)"),
    ];
    let mut out = Outputs::new(ctx, file);
    let stem = format!("{}_{}", file.name, cfg.stem);
    let notes = vec![predictor_runs(&cfg.predictors)];
    write(
        &mut out,
        "hessian_sgd",
        &stem,
        &[panel],
        axes,
        1,
        &notes,
        &cfg,
    )?;
    Ok(out.written)
}

/// Figure 2: per σ_R, the B × α heatmap of each placement, then the α × alignment heatmap
/// (overlays: ρ(T) = 1, γ_∞ = 0, growth within K, first moment, pair bound).
pub fn unlearning(
    file: &ConfigFile,
    ctx: &Context,
    label: &str,
) -> Result<Vec<std::path::PathBuf>> {
    let cfg: UnlearningFigure = file.parse()?;
    let (a, b) = (cfg.alphas.len(), cfg.batches.len());
    let plan = format!(
        "{} σ_R × ({} placements × {b} B × {a} α + {} × {a} α) cells × {}",
        cfg.sigma_retain.len(),
        cfg.placements.len(),
        cfg.dial.len(),
        runs(&cfg.sim)
    );
    if uncached_stops(ctx, file, plan) {
        return Ok(Vec::new());
    }
    let rules = [
        Rule::MeanSquare,
        Rule::FirstMoment,
        Rule::CoherenceBound,
        Rule::Asymptotic,
        Rule::GrowthWithin,
    ];
    let families = |sigma_retain: usize, placement: ForgetPlacement| -> Result<Curvature> {
        let spec = UnlearningSpec {
            n_retain: cfg.n_retain,
            sigma_retain,
            n_forget: cfg.n_forget,
            placement,
            forget_scale: cfg.forget_scale,
        };
        let (retain, forget) = unlearning_families(&spec)?;
        Ok(Curvature::new(&retain, Some(&forget))?)
    };
    let settings = |alpha: f64, b: usize| Settings {
        sampling: cfg.sampling,
        ..Settings::new(cfg.eta, alpha, b)
    };
    let describe = |what: String, b: &str| {
        format!(
            "Unlearning, {what}: fraction of diverging runs (η = {}, n_r = {}, n_f = {}, {b}, {} runs × {} steps, seed {}, {})",
            cfg.eta,
            cfg.n_retain,
            cfg.n_forget,
            cfg.sim.reps,
            cfg.sim.steps,
            cfg.sim.seed,
            sampling_words(cfg.sampling)
        )
    };
    let alphas = &cfg.alphas;
    // One heatmap over x (its values and whether log₂) × α, its simulations' streams starting
    // at cell `offset`.
    let grid = |panel: &str,
                curvatures: &[Curvature],
                specs: &[Spec],
                (x, x_log2): (Vec<f64>, bool),
                offset: u64|
     -> Result<Heatmap> {
        let progress = format!("{label} · {panel}");
        let cells = cells(
            ctx,
            &progress,
            curvatures,
            specs,
            &cfg.sim,
            &cfg.predictors,
            cfg.threads,
            offset,
        )?;
        let (y, region) = (alphas.clone(), Region::HighY);
        Ok(Heatmap::new(x, y, x_log2, cells, &rules, region, &cfg.sim))
    };
    // Each heatmap's simulations use their own block of 2³² cell streams.
    let mut heatmap_index = 0u64;
    let mut next_offset = || {
        heatmap_index += 1;
        heatmap_index << 32
    };
    let (mut batch_alpha, mut alpha_dial) = (Vec::new(), Vec::new());
    for &sigma_retain in &cfg.sigma_retain {
        for &placement in &cfg.placements {
            let curvatures = [families(sigma_retain, placement)?];
            let specs: Vec<Spec> = alphas
                .iter()
                .flat_map(|&a| {
                    cfg.batches.iter().map(move |&b| Spec {
                        curvature: 0,
                        settings: settings(a, b),
                        x: b as f64,
                        y: a,
                    })
                })
                .collect();
            let panel = format!("{} sigma_r={sigma_retain}", placement.name());
            let x = cfg.batches.iter().map(|&b| b as f64).collect();
            batch_alpha.push(Labelled {
                title: describe(
                    format!("forget {}, σ_R = {sigma_retain}", placement.name()),
                    "B_f = B_r",
                ),
                grid: grid(&panel, &curvatures, &specs, (x, true), next_offset())?,
                label: panel,
            });
        }
        let curvatures = cfg
            .dial
            .iter()
            .map(|&f| {
                families(
                    sigma_retain,
                    ForgetPlacement::Mix {
                        aligned_fraction: f,
                    },
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let specs: Vec<Spec> = alphas
            .iter()
            .flat_map(|&a| {
                cfg.dial.iter().enumerate().map(move |(ix, &f)| Spec {
                    curvature: ix,
                    settings: settings(a, cfg.dial_batch),
                    x: f,
                    y: a,
                })
            })
            .collect();
        let panel = format!("sigma_r={sigma_retain}");
        alpha_dial.push(Labelled {
            title: describe(
                format!("aligned-fraction dial (rest fresh), σ_R = {sigma_retain}"),
                &format!("B_r = B_f = {}", cfg.dial_batch),
            ),
            grid: grid(
                &format!("alignment {panel}"),
                &curvatures,
                &specs,
                (cfg.dial.clone(), false),
                next_offset(),
            )?,
            label: panel,
        });
    }
    let stem = format!("{}_{}", file.name, cfg.stem);
    let alpha = ("alpha", "mixing ratio α (forget weight)");
    let notes = vec![predictor_runs(&cfg.predictors)];
    let mut out = Outputs::new(ctx, file);
    write(
        &mut out,
        "hessian_unlearning",
        &format!("{stem}_batch_alpha"),
        &batch_alpha,
        [("batch", "batch size B = B_r = B_f (samples)"), alpha],
        cfg.columns,
        &notes,
        &cfg,
    )?;
    write(
        &mut out,
        "hessian_unlearning",
        &format!("{stem}_alpha_alignment"),
        &alpha_dial,
        [
            (
                "aligned_fraction",
                "aligned fraction of forget samples (dimensionless)",
            ),
            alpha,
        ],
        cfg.alignment_columns,
        &notes,
        &cfg,
    )?;
    Ok(out.written)
}

/// Writes the heatmaps of `panels` as one PNG (`columns` per row, `notes` in every caption),
/// one CSV (a `panel` column, the two axes named after their parameters (`axes`: CSV name,
/// axis label), then every number and verdict of the cell) and the scores CSV of every
/// boundary.
#[allow(clippy::too_many_arguments)]
fn write<T: Serialize>(
    out: &mut Outputs<'_>,
    kind: &str,
    stem: &str,
    panels: &[Labelled],
    axes: [(&str, &str); 2],
    columns: usize,
    notes: &[String],
    resolved: &T,
) -> Result<()> {
    let [(x_name, x_label), (y_name, y_label)] = axes;
    let plots: Vec<_> = panels
        .iter()
        .map(|p| {
            let g = &p.grid;
            let x = PlotAxis::new(x_label, g.x.clone());
            Panel {
                title: p.title.clone(),
                x: if g.x_log2 { x.with_log2() } else { x },
                y: PlotAxis::new(y_label, g.y.clone()),
                values: (0..g.y.len())
                    .map(|iy| {
                        (0..g.x.len())
                            .map(|ix| g.cell(ix, iy).diverged_fraction)
                            .collect()
                    })
                    .collect(),
                colorbar: "fraction of runs diverged".into(),
                range: Some((0.0, 1.0)),
                boundaries: &g.boundaries,
                against: "simulated majority",
                notes: notes.to_vec(),
            }
            .plot()
        })
        .collect();
    let mut records: Vec<Record> = Vec::new();
    for p in panels {
        for cell in &p.grid.cells {
            let mut record = vec![("panel".to_string(), Field::from(p.label.as_str()))];
            let mut fields = record_of(cell)?;
            fields[0].0 = x_name.into();
            fields[1].0 = y_name.into();
            record.extend(fields);
            records.push(record);
        }
    }
    out.write(
        stem,
        &panels_png(&plots, columns)?,
        &Table::from_records(records)?,
        kind,
        resolved,
    )?;
    let scores = scores_table(
        panels
            .iter()
            .map(|p| (p.label.as_str(), p.grid.boundaries.as_slice())),
    )?;
    out.extra(stem, "scores", &scores)
}
