//! The grids behind Figures 1 and 2 (SCIENCE §4, §6), as plain serialisable
//! data: per-cell simulation statistics and criteria, plus the boundary curves
//! to overlay and each boundary's agreement score. No plotting here.

use frontier_probes::{Coherence, try_coherence};
use serde::{Deserialize, Serialize};

use crate::bounds::{coherence_bound, curvature_gram};
use crate::curvature::Curvature;
use crate::error::{Error, Result};
use crate::first_moment::first_moment;
use crate::mean_square::{PowerOptions, rho};
use crate::parallel::par_map;
use crate::problem::{Problem, Sampling, Settings};
use crate::simulate::{SimOptions, simulate};
use crate::synthetic::{ForgetPlacement, UnlearningSpec, coherence_dial, unlearning_families};

/// A stability criterion drawn as a boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The coherence bound (SGD form without forget set, pair form with).
    CoherenceBound,
    /// ρ(T) > 1 (exact mean-square).
    MeanSquare,
    /// γ > 0 (almost sure).
    Lyapunov,
    /// λ_min(H_α) < 0 or λ_max(H_α) > 2/η.
    FirstMoment,
}

impl Rule {
    /// Legend text.
    pub fn label(self) -> &'static str {
        match self {
            Rule::CoherenceBound => "coherence bound",
            Rule::MeanSquare => "ρ(T) = 1",
            Rule::Lyapunov => "γ = 0",
            Rule::FirstMoment => "first moment",
        }
    }

    /// The rule's verdict for a cell.
    pub fn diverges(self, cell: &Cell) -> bool {
        match self {
            Rule::CoherenceBound => cell.coherence_bound_diverges,
            Rule::MeanSquare => cell.rho > 1.0,
            Rule::Lyapunov => cell.lyapunov > 0.0,
            Rule::FirstMoment => cell.first_moment_diverges,
        }
    }
}

/// Everything computed for one grid cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// x coordinate (grid value).
    pub x: f64,
    /// y coordinate (grid value).
    pub y: f64,
    /// Fraction of simulated runs that diverged.
    pub diverged_fraction: f64,
    /// Mean divergence step over diverged runs (None when none diverged).
    pub mean_diverge_step: Option<f64>,
    /// Mean ‖u‖ at the end of the runs.
    pub mean_final_norm: f64,
    /// ρ(T) on the curvature span.
    pub rho: f64,
    /// Whether the eigen-solve for ρ converged.
    pub rho_converged: bool,
    /// Lyapunov exponent γ from the same runs.
    pub lyapunov: f64,
    /// Its standard error over runs.
    pub lyapunov_stderr: f64,
    /// λ_min(H_α).
    pub lambda_min_h_alpha: f64,
    /// λ_max(H_α).
    pub lambda_max_h_alpha: f64,
    /// First-moment verdict.
    pub first_moment_diverges: bool,
    /// The coherence the bound compares (σ_R for SGD, σ_U for pairs).
    pub coherence: f64,
    /// The bound's critical coherence.
    pub coherence_critical: f64,
    /// The bound's verdict.
    pub coherence_bound_diverges: bool,
}

impl Cell {
    /// The simulated majority label: more than half of the runs diverged.
    pub fn majority_diverged(&self) -> bool {
        self.diverged_fraction > 0.5
    }
}

/// A rule's boundary as a step line, and how well the rule matches simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Boundary {
    /// The rule.
    pub rule: Rule,
    /// Legend text.
    pub label: String,
    /// Step line in data coordinates: for each column, two points spanning
    /// the column's cell edges at the y edge just beyond the column's extreme
    /// diverging cell (see [`Heatmap`]).
    pub points: Vec<(f64, f64)>,
    /// Fraction of cells where the rule's label equals the simulated majority.
    pub agreement: f64,
}

/// A heatmap grid: colour = `diverged_fraction`; `cells[iy * x.len() + ix]`.
///
/// Boundaries: where the divergent region is at small y (Figure 1: small σ)
/// the line sits on the upper edge of each column's largest diverging cell
/// (σ + 0.5 on an integer grid), at the lower edge of the grid when none
/// diverges; where it is at large y (Figure 2: large α) the line sits on the
/// lower edge of the smallest diverging cell, at the top when none diverges.
/// Cell edges are midpoints between grid values (in log₂ when `x_log2`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heatmap {
    /// Title with η, n, repetitions, steps and seed.
    pub title: String,
    /// x-axis label with units.
    pub x_label: String,
    /// y-axis label with units.
    pub y_label: String,
    /// Whether x is best shown on a log₂ axis (batch size).
    pub x_log2: bool,
    /// Grid values along x.
    pub x: Vec<f64>,
    /// Grid values along y.
    pub y: Vec<f64>,
    /// Cell edges along x (length x.len() + 1).
    pub x_edges: Vec<f64>,
    /// Cell edges along y (length y.len() + 1).
    pub y_edges: Vec<f64>,
    /// The cells, row-major in y.
    pub cells: Vec<Cell>,
    /// Overlaid boundaries.
    pub boundaries: Vec<Boundary>,
    /// Total simulated steps (cells × reps × steps).
    pub simulated_steps: u64,
}

impl Heatmap {
    /// The cell at column `ix`, row `iy`.
    pub fn cell(&self, ix: usize, iy: usize) -> &Cell {
        &self.cells[iy * self.x.len() + ix]
    }
}

/// Which end of the y axis a rule's divergent region sits at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// Small y diverges (Figure 1: small σ).
    LowY,
    /// Large y diverges (Figure 2: large α).
    HighY,
}

/// One cell to evaluate: a curvature (index) and step settings.
struct Spec {
    curvature: usize,
    settings: Settings,
    x: f64,
    y: f64,
}

/// Evaluates every criterion and the simulation for each spec, in parallel;
/// the seeds use cell index `cell_offset + i`.
fn evaluate(
    curvatures: &[Curvature],
    specs: &[Spec],
    sim: &SimOptions,
    threads: usize,
    cell_offset: u64,
) -> Result<Vec<Cell>> {
    sim.validate()?;
    let grams = par_map(curvatures.len(), threads, |i| {
        curvature_gram(&curvatures[i])
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let mut keys: Vec<(usize, u64)> = specs
        .iter()
        .map(|s| (s.curvature, s.settings.alpha.to_bits()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let coherences: Vec<Coherence> = par_map(keys.len(), threads, |j| {
        try_coherence(&grams[keys[j].0], f64::from_bits(keys[j].1)).map_err(Error::from)
    })
    .into_iter()
    .collect::<Result<_>>()?;
    par_map(specs.len(), threads, |i| {
        let spec = &specs[i];
        let problem = Problem::new(&curvatures[spec.curvature], spec.settings)?;
        let summary = simulate(&problem, sim, cell_offset + i as u64)?;
        let power = rho(&problem, &PowerOptions::default());
        let first = first_moment(&problem);
        let key = (spec.curvature, spec.settings.alpha.to_bits());
        let coh = &coherences[keys.binary_search(&key).expect("every key was computed")];
        let bound = coherence_bound(&problem, coh, &first);
        Ok(Cell {
            x: spec.x,
            y: spec.y,
            diverged_fraction: summary.diverged_fraction,
            mean_diverge_step: summary.mean_diverge_step,
            mean_final_norm: summary.mean_final_norm,
            rho: power.value,
            rho_converged: power.converged,
            lyapunov: summary.lyapunov.gamma,
            lyapunov_stderr: summary.lyapunov.stderr,
            lambda_min_h_alpha: first.lambda_min,
            lambda_max_h_alpha: first.lambda_max,
            first_moment_diverges: first.diverges,
            coherence: bound.coherence,
            coherence_critical: bound.critical,
            coherence_bound_diverges: bound.diverges,
        })
    })
    .into_iter()
    .collect()
}

/// Cell edges: midpoints between grid values (in log₂ if `log2`), the outer
/// ones half a spacing out (±0.5, or ×/÷√2, for a single value).
pub fn edges(v: &[f64], log2: bool) -> Vec<f64> {
    let fwd = |x: f64| if log2 { x.log2() } else { x };
    let back = |x: f64| if log2 { x.exp2() } else { x };
    let t: Vec<f64> = v.iter().map(|&x| fwd(x)).collect();
    let n = t.len();
    let half = |i: usize, j: usize| if n > 1 { 0.5 * (t[j] - t[i]) } else { 0.5 };
    let mut out = Vec::with_capacity(n + 1);
    out.push(t[0] - half(0, 1));
    out.extend(t.windows(2).map(|w| 0.5 * (w[0] + w[1])));
    out.push(t[n - 1] + half(n.saturating_sub(2), n - 1));
    out.into_iter().map(back).collect()
}

/// A boundary as a step line over a grid with cell edges `x_edges`, `y_edges`
/// (lengths nx + 1, ny + 1): two points per column at the y edge just beyond
/// the column's extreme diverging cell, as described for [`Heatmap`];
/// `diverging(ix, iy)` is the verdict of cell (ix, iy).
pub fn step_line(
    x_edges: &[f64],
    y_edges: &[f64],
    region: Region,
    diverging: impl Fn(usize, usize) -> bool,
) -> Vec<(f64, f64)> {
    let (nx, ny) = (x_edges.len() - 1, y_edges.len() - 1);
    let mut points = Vec::with_capacity(2 * nx);
    for ix in 0..nx {
        let edge = match region {
            Region::LowY => (0..ny)
                .rev()
                .find(|&iy| diverging(ix, iy))
                .map_or(y_edges[0], |iy| y_edges[iy + 1]),
            Region::HighY => (0..ny)
                .find(|&iy| diverging(ix, iy))
                .map_or(y_edges[ny], |iy| y_edges[iy]),
        };
        points.push((x_edges[ix], edge));
        points.push((x_edges[ix + 1], edge));
    }
    points
}

#[allow(clippy::too_many_arguments)]
fn heatmap(
    title: String,
    x_label: &str,
    y_label: &str,
    x: Vec<f64>,
    y: Vec<f64>,
    x_log2: bool,
    cells: Vec<Cell>,
    rules: &[Rule],
    region: Region,
    sim: &SimOptions,
) -> Heatmap {
    let (x_edges, y_edges) = (edges(&x, x_log2), edges(&y, false));
    let nx = x.len();
    let boundaries = rules
        .iter()
        .map(|&rule| {
            let points = step_line(&x_edges, &y_edges, region, |ix, iy| {
                rule.diverges(&cells[iy * nx + ix])
            });
            let agree = cells
                .iter()
                .filter(|c| rule.diverges(c) == c.majority_diverged())
                .count();
            Boundary {
                rule,
                label: rule.label().to_string(),
                points,
                agreement: agree as f64 / cells.len() as f64,
            }
        })
        .collect();
    Heatmap {
        title,
        x_label: x_label.into(),
        y_label: y_label.into(),
        x_log2,
        simulated_steps: (cells.len() * sim.reps * sim.steps) as u64,
        x,
        y,
        x_edges,
        y_edges,
        cells,
        boundaries,
    }
}

fn sampling_words(s: Sampling) -> &'static str {
    match s {
        Sampling::Without => "without replacement",
        Sampling::With => "with replacement",
        Sampling::Bernoulli => "Bernoulli(B/n)",
    }
}

/// Figure 1: the SGD Hessian test over batch size × coherence dial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Figure1Config {
    /// Samples n.
    pub n: usize,
    /// Coherence dial values σ (y axis), each in 1..=n.
    pub sigmas: Vec<usize>,
    /// Batch sizes B (x axis), each in 1..=n.
    pub batches: Vec<usize>,
    /// Learning rate η.
    pub eta: f64,
    /// Batch sampling scheme.
    pub sampling: Sampling,
    /// Simulation controls (steps, reps, seed, threshold, …).
    pub sim: SimOptions,
    /// Worker threads (0 = all cores); results do not depend on it.
    pub threads: usize,
}

impl Default for Figure1Config {
    /// SCIENCE §4: n = 100, σ ∈ 1..=50, B ∈ 1..=49, η = 0.5, 1000 steps,
    /// 10 repetitions, threshold 1000, without replacement.
    fn default() -> Self {
        Figure1Config {
            n: 100,
            sigmas: (1..=50).collect(),
            batches: (1..=49).collect(),
            eta: 0.5,
            sampling: Sampling::Without,
            sim: SimOptions::default(),
            threads: 0,
        }
    }
}

impl Figure1Config {
    /// A tiny grid (6 × 6 cells, 3 runs of 200 steps) for tests and smoke runs.
    pub fn quick() -> Self {
        Figure1Config {
            sigmas: vec![1, 2, 4, 8, 16, 32],
            batches: vec![1, 2, 5, 10, 20, 40],
            sim: SimOptions {
                steps: 200,
                reps: 3,
                ..SimOptions::default()
            },
            ..Figure1Config::default()
        }
    }
}

/// Computes Figure 1: x = B (log₂), y = σ; overlays coherence bound, ρ(T) = 1
/// and γ = 0.
pub fn figure1(cfg: &Figure1Config) -> Result<Heatmap> {
    let curvatures = cfg
        .sigmas
        .iter()
        .map(|&s| Curvature::new(&coherence_dial(cfg.n, s)?, None))
        .collect::<Result<Vec<_>>>()?;
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
    let cells = evaluate(&curvatures, &specs, &cfg.sim, cfg.threads, 0)?;
    let title = format!(
        "Hessian test, SGD: fraction of diverging runs (η = {}, n = {}, {} runs × {} steps, seed {}, {})",
        cfg.eta,
        cfg.n,
        cfg.sim.reps,
        cfg.sim.steps,
        cfg.sim.seed,
        sampling_words(cfg.sampling)
    );
    Ok(heatmap(
        title,
        "batch size B (samples)",
        "coherence σ (dimensionless)",
        cfg.batches.iter().map(|&b| b as f64).collect(),
        cfg.sigmas.iter().map(|&s| s as f64).collect(),
        true,
        cells,
        &[Rule::CoherenceBound, Rule::MeanSquare, Rule::Lyapunov],
        Region::LowY,
        &cfg.sim,
    ))
}

/// Figure 2: the unlearning Hessian test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Figure2Config {
    /// Retain samples n_r.
    pub n_retain: usize,
    /// Forget samples n_f.
    pub n_forget: usize,
    /// Retain coherence dials σ_R: one set of heatmaps each.
    pub sigma_retain: Vec<usize>,
    /// Forget placements for the B × α heatmaps.
    pub placements: Vec<ForgetPlacement>,
    /// Batch sizes B = B_r = B_f (x axis of the B × α heatmaps), each ≤ n_f.
    pub batches: Vec<usize>,
    /// Mixing ratios α (y axis).
    pub alphas: Vec<f64>,
    /// Aligned fractions (x axis of the α × alignment heatmaps).
    pub dial: Vec<f64>,
    /// Batch size of the α × alignment heatmaps.
    pub dial_batch: usize,
    /// Per-sample forget curvature; `None` = 2n_r/σ_R.
    pub forget_scale: Option<f64>,
    /// Learning rate η.
    pub eta: f64,
    /// Batch sampling scheme.
    pub sampling: Sampling,
    /// Simulation controls.
    pub sim: SimOptions,
    /// Worker threads (0 = all cores).
    pub threads: usize,
}

impl Default for Figure2Config {
    /// n_r = 100, n_f = 10, σ_R ∈ {10, 40}, all four placements (mix at 0.5),
    /// B ∈ {1, 2, 3, 5, 7, 10}, α ∈ {0, 0.05, …, 1}, dial ∈ {0, 0.1, …, 1} at
    /// B = 10, η = 0.5, 1000 steps × 10 runs.
    fn default() -> Self {
        Figure2Config {
            n_retain: 100,
            n_forget: 10,
            sigma_retain: vec![10, 40],
            placements: vec![
                ForgetPlacement::Aligned,
                ForgetPlacement::RetainUnique,
                ForgetPlacement::Fresh,
                ForgetPlacement::Mix {
                    aligned_fraction: 0.5,
                },
            ],
            batches: vec![1, 2, 3, 5, 7, 10],
            alphas: (0..=20).map(|k| k as f64 / 20.0).collect(),
            dial: (0..=10).map(|k| k as f64 / 10.0).collect(),
            dial_batch: 10,
            forget_scale: None,
            eta: 0.5,
            sampling: Sampling::Without,
            sim: SimOptions::default(),
            threads: 0,
        }
    }
}

impl Figure2Config {
    /// A tiny grid (one σ_R, two placements, 3 × 5 and 3 × 5 cells, 3 runs of
    /// 200 steps).
    pub fn quick() -> Self {
        Figure2Config {
            sigma_retain: vec![40],
            placements: vec![ForgetPlacement::Aligned, ForgetPlacement::Fresh],
            batches: vec![1, 3, 10],
            alphas: vec![0.0, 0.1, 0.3, 0.6, 1.0],
            dial: vec![0.0, 0.5, 1.0],
            sim: SimOptions {
                steps: 200,
                reps: 3,
                ..SimOptions::default()
            },
            ..Figure2Config::default()
        }
    }
}

/// Figure 2's heatmaps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure2 {
    /// For each σ_R, then each placement: x = B (log₂), y = α.
    pub batch_alpha: Vec<Heatmap>,
    /// For each σ_R: x = aligned fraction, y = α, at B = `dial_batch`.
    pub alpha_dial: Vec<Heatmap>,
}

const FIGURE2_RULES: [Rule; 4] = [
    Rule::MeanSquare,
    Rule::Lyapunov,
    Rule::FirstMoment,
    Rule::CoherenceBound,
];

/// Computes Figure 2 (overlays: ρ(T) = 1, γ = 0, first moment, pair bound).
pub fn figure2(cfg: &Figure2Config) -> Result<Figure2> {
    let families = |sigma_retain: usize, placement: ForgetPlacement| -> Result<Curvature> {
        let spec = UnlearningSpec {
            n_retain: cfg.n_retain,
            sigma_retain,
            n_forget: cfg.n_forget,
            placement,
            forget_scale: cfg.forget_scale,
        };
        let (retain, forget) = unlearning_families(&spec)?;
        Curvature::new(&retain, Some(&forget))
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
    let mut heatmap_index = 0u64;
    let mut next_offset = || {
        heatmap_index += 1;
        heatmap_index << 32
    };
    let mut batch_alpha = Vec::new();
    let mut alpha_dial = Vec::new();
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
            let cells = evaluate(&curvatures, &specs, &cfg.sim, cfg.threads, next_offset())?;
            batch_alpha.push(heatmap(
                describe(
                    format!("forget {}, σ_R = {sigma_retain}", placement.name()),
                    "B_f = B_r",
                ),
                "batch size B = B_r = B_f (samples)",
                "mixing ratio α (forget weight)",
                cfg.batches.iter().map(|&b| b as f64).collect(),
                alphas.clone(),
                true,
                cells,
                &FIGURE2_RULES,
                Region::HighY,
                &cfg.sim,
            ));
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
        let cells = evaluate(&curvatures, &specs, &cfg.sim, cfg.threads, next_offset())?;
        alpha_dial.push(heatmap(
            describe(
                format!("aligned-fraction dial (rest fresh), σ_R = {sigma_retain}"),
                &format!("B_r = B_f = {}", cfg.dial_batch),
            ),
            "aligned fraction of forget samples (dimensionless)",
            "mixing ratio α (forget weight)",
            cfg.dial.clone(),
            alphas.clone(),
            false,
            cells,
            &FIGURE2_RULES,
            Region::HighY,
            &cfg.sim,
        ));
    }
    Ok(Figure2 {
        batch_alpha,
        alpha_dial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_midpoints() {
        assert_eq!(edges(&[1.0, 2.0, 3.0], false), vec![0.5, 1.5, 2.5, 3.5]);
        let e = edges(&[1.0, 4.0], true);
        let reference = [0.5, 2.0, 8.0];
        for (rust, reference) in e.iter().zip(reference) {
            assert!(
                (rust - reference).abs() < 1e-12,
                "rust={rust}, reference={reference}"
            );
        }
        assert_eq!(edges(&[0.3], false), vec![-0.2, 0.8]);
    }

    #[test]
    fn figure1_quick_grid() {
        let cfg = Figure1Config::quick();
        let fig = figure1(&cfg).unwrap();
        let (nx, ny) = (cfg.batches.len(), cfg.sigmas.len());
        assert_eq!(fig.cells.len(), nx * ny);
        assert_eq!(fig.x_edges.len(), nx + 1);
        assert_eq!(fig.simulated_steps, (nx * ny * 3 * 200) as u64);
        // row-major layout
        let c = fig.cell(2, 3);
        assert_eq!((c.x, c.y), (5.0, 8.0));
        // the ρ(T) step line sits on the upper edge of the largest divergent σ:
        // at B = 2 that is σ = 32 (σ ≤ 33 diverges), at B = 40 σ = 1
        let ms = fig
            .boundaries
            .iter()
            .find(|b| b.rule == Rule::MeanSquare)
            .unwrap();
        assert_eq!(ms.points.len(), 2 * nx);
        let y_at = |ix: usize| ms.points[2 * ix].1;
        assert_eq!(
            y_at(1),
            40.0,
            "top row σ = 32 diverges: edge half a spacing (16) above"
        );
        assert_eq!(y_at(5), 1.5);
        for b in &fig.boundaries {
            assert!((0.0..=1.0).contains(&b.agreement), "{b:?}");
        }
        // low coherence, small batch diverges; high coherence, large batch does not
        assert_eq!(fig.cell(0, 0).diverged_fraction, 1.0);
        assert_eq!(fig.cell(nx - 1, ny - 1).diverged_fraction, 0.0);
        let threads1 = figure1(&Figure1Config {
            threads: 1,
            ..cfg.clone()
        })
        .unwrap();
        let threads2 = figure1(&Figure1Config { threads: 2, ..cfg }).unwrap();
        assert_eq!(threads1, threads2);
    }

    #[test]
    fn figure2_quick_grid() {
        let cfg = Figure2Config::quick();
        let fig = figure2(&cfg).unwrap();
        assert_eq!(fig.batch_alpha.len(), 2);
        assert_eq!(fig.alpha_dial.len(), 1);
        let fresh = &fig.batch_alpha[1];
        let fm = fresh
            .boundaries
            .iter()
            .find(|b| b.rule == Rule::FirstMoment)
            .unwrap();
        // fresh directions: first-moment divergence for every α > 0, so the
        // line sits between α = 0 and the next grid value in every column
        for ix in 0..cfg.batches.len() {
            assert_eq!(fm.points[2 * ix].1, 0.05, "{fm:?}");
        }
        let dial = &fig.alpha_dial[0];
        assert_eq!(dial.cells.len(), cfg.dial.len() * cfg.alphas.len());
        assert_eq!(dial.boundaries.len(), 4);
    }
}
