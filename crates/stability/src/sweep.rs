//! Grids of the linearised dynamics as plain serialisable data: the evaluation of every
//! criterion and of the simulated runs per grid cell ([`evaluate`]), the boundary curves to
//! overlay ([`step_line`]) and each boundary's scores against the simulated majority
//! ([`Heatmap`], [`crate::score`]). What a grid spans (the Hessian-test figures, a user's own
//! sweep) is the caller's choice; no plotting here.
//!
//! The label of a cell is the simulated majority: more than half of its `sim.reps` runs
//! diverge within `sim.steps` steps. The simulated predictors (γ_∞ and growth within K) come
//! from runs of their own ([`Predictors`]), with master seeds that must differ from the
//! label's, so that scoring them against the label is not circular. Every verdict is decided
//! by the one engine, [`Thresholds`].

use frontier_common::{Progress, par_map};
use frontier_probes::{Coherence, try_coherence};
use serde::{Deserialize, Serialize};

use crate::bounds::{coherence_bound, curvature_gram};
use crate::curvature::Curvature;
use crate::error::{Error, Result};
use crate::first_moment::first_moment;
use crate::lyapunov::{AsymptoticOptions, asymptotic_exponent, growth_within};
use crate::mean_square::{PowerOptions, rho};
use crate::problem::{Problem, Settings};
use crate::score::{Scores, score};
use crate::simulate::{SimOptions, simulate};
use crate::verdict::{Evidence, Rule, Thresholds, Verdict, Verdicts};

/// How the simulated predictors of a cell are computed, from runs independent of the label's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Predictors {
    /// γ_∞ (asymptotic): its runs, horizons and master seed (≠ the label's `sim.seed`).
    pub asymptotic: AsymptoticOptions,
    /// Runs per cell behind linear growth within K steps (K = the label's `sim.steps`; ≥ 1).
    pub growth_reps: usize,
    /// Their master seed (≠ the label's `sim.seed`).
    pub growth_seed: u64,
}

impl Default for Predictors {
    /// γ_∞ with the defaults of [`AsymptoticOptions`] but seed 1; growth within K from 10
    /// runs, seed 2 (the labels' default seed is 0).
    fn default() -> Self {
        Predictors {
            asymptotic: AsymptoticOptions {
                seed: 1,
                ..AsymptoticOptions::default()
            },
            growth_reps: 10,
            growth_seed: 2,
        }
    }
}

impl Predictors {
    /// Checks every field, and that both seeds differ from the label's `label_seed`; errors
    /// name the field.
    pub fn validate(&self, label_seed: u64) -> Result<()> {
        self.asymptotic.validate()?;
        if self.growth_reps == 0 {
            return Err(Error::out_of_range("growth_reps", 0, "1 or more"));
        }
        for (field, seed) in [
            ("asymptotic.seed", self.asymptotic.seed),
            ("growth_seed", self.growth_seed),
        ] {
            if seed == label_seed {
                return Err(Error::out_of_range(
                    field,
                    seed,
                    format!(
                        "another seed than the label's runs (sim.seed = {label_seed}): a \
                         predictor from the label's own runs scores circularly"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Everything computed for one grid cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// x coordinate (grid value).
    pub x: f64,
    /// y coordinate (grid value).
    pub y: f64,
    /// Fraction of the label's simulated runs that diverged.
    pub diverged_fraction: f64,
    /// Mean divergence step over diverged runs (None when none diverged).
    pub mean_diverge_step: Option<f64>,
    /// Mean ‖u‖ at the end of the label's runs.
    pub mean_final_norm: f64,
    /// ρ(T) on the curvature span.
    pub rho: f64,
    /// Whether the eigen-solve for ρ converged.
    pub rho_converged: bool,
    /// λ_min(H_α).
    pub lambda_min_h_alpha: f64,
    /// λ_max(H_α).
    pub lambda_max_h_alpha: f64,
    /// The coherence the bound compares (σ_R for SGD, σ_U for pairs).
    pub coherence: f64,
    /// The bound's critical coherence.
    pub coherence_critical: f64,
    /// γ̂_∞ (log growth of ‖u‖ per step) from the predictors' own runs.
    pub gamma_inf: f64,
    /// Its standard error over runs.
    pub gamma_inf_stderr: f64,
    /// Steps each of its runs took (the last horizon).
    pub gamma_inf_steps: usize,
    /// Linear growth within K steps (mean log growth of ‖u‖ per step), own runs.
    pub growth_within_k: f64,
    /// Its standard error over runs.
    pub growth_within_k_stderr: f64,
    /// Every rule's verdict.
    #[serde(flatten)]
    pub verdicts: Verdicts,
}

impl Cell {
    /// The simulated majority label: more than half of the runs diverged.
    pub fn majority_diverged(&self) -> bool {
        self.diverged_fraction > 0.5
    }
}

/// A rule's boundary as a step line, and how well the rule matches the empirical labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Boundary {
    /// The rule.
    pub rule: Rule,
    /// Legend text.
    pub label: String,
    /// Step line in data coordinates: for each column, two points spanning
    /// the column's cell edges at the y edge just beyond the column's extreme
    /// escaping cell (see [`Heatmap`]).
    pub points: Vec<(f64, f64)>,
    /// Balanced accuracy, base rate and boundary distance of the rule's labels (escape =
    /// [`Verdict::Escape`]; undetermined counts as not escaping) against the empirical ones.
    pub scores: Scores,
    /// The cells (ix, iy) whose verdict is undetermined (γ_∞ only; empty otherwise).
    pub undetermined: Vec<(usize, usize)>,
}

/// A heatmap grid: colour = `diverged_fraction`; `cells[iy * x.len() + ix]`.
///
/// Boundaries: where the divergent region is at small y (e.g. small coherence σ)
/// the line sits on the upper edge of each column's largest diverging cell
/// (σ + 0.5 on an integer grid), at the lower edge of the grid when none
/// diverges; where it is at large y (e.g. large α) the line sits on the
/// lower edge of the smallest diverging cell, at the top when none diverges.
/// Cell edges are midpoints between grid values (in log₂ when `x_log2`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heatmap {
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
    /// Total simulated steps of the labels (cells × reps × steps).
    pub simulated_steps: u64,
}

impl Heatmap {
    /// The cell at column `ix`, row `iy`.
    pub fn cell(&self, ix: usize, iy: usize) -> &Cell {
        &self.cells[iy * self.x.len() + ix]
    }
}

impl Boundary {
    /// The boundary of `rule` over a grid with cell edges `x_edges`, `y_edges` (lengths
    /// nx + 1, ny + 1), whose escaping region sits at `region` of the y axis:
    /// `labels(ix, iy)` gives cell (ix, iy)'s predicted verdict and observed label (true =
    /// escapes). The step line follows the cells predicted to escape ([`step_line`]); the
    /// scores come from [`score`].
    pub fn of(
        rule: Rule,
        x_edges: &[f64],
        y_edges: &[f64],
        region: Region,
        labels: impl Fn(usize, usize) -> (Verdict, bool),
    ) -> Boundary {
        let (nx, ny) = (x_edges.len() - 1, y_edges.len() - 1);
        let points = step_line(x_edges, y_edges, region, |ix, iy| {
            labels(ix, iy).0 == Verdict::Escape
        });
        let cells: Vec<(usize, usize)> = (0..ny)
            .flat_map(|iy| (0..nx).map(move |ix| (ix, iy)))
            .collect();
        let (predicted, observed): (Vec<bool>, Vec<bool>) = cells
            .iter()
            .map(|&(ix, iy)| {
                let (verdict, observed) = labels(ix, iy);
                (verdict == Verdict::Escape, observed)
            })
            .unzip();
        Boundary {
            rule,
            label: rule.label().to_string(),
            points,
            scores: score(&predicted, &observed, nx, region)
                .expect("a non-empty grid of nx columns"),
            undetermined: cells
                .into_iter()
                .filter(|&(ix, iy)| labels(ix, iy).0 == Verdict::Undetermined)
                .collect(),
        }
    }
}

/// Which end of the y axis a rule's divergent region sits at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// Small y diverges (e.g. small coherence σ).
    LowY,
    /// Large y diverges (e.g. large α).
    HighY,
}

/// One cell to evaluate: a curvature (an index into the curvatures given to [`evaluate`]),
/// the step settings, and the cell's coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// Index of the cell's curvature.
    pub curvature: usize,
    /// η, α, B_r, B_f and the sampling scheme.
    pub settings: Settings,
    /// x coordinate (grid value).
    pub x: f64,
    /// y coordinate (grid value).
    pub y: f64,
}

/// Evaluates every criterion, the label's simulation (`sim`) and the simulated predictors
/// (`predictors`, validated against `sim.seed`) for each spec, in parallel on `threads`
/// workers (0 = all cores; results do not depend on it). The simulations' streams use cell
/// index `cell_offset + i` under their own master seeds. `progress` is told the number of
/// specs and advances by one per finished cell.
pub fn evaluate(
    curvatures: &[Curvature],
    specs: &[Spec],
    sim: &SimOptions,
    predictors: &Predictors,
    threads: usize,
    cell_offset: u64,
    progress: &dyn Progress,
) -> Result<Vec<Cell>> {
    sim.validate()?;
    predictors.validate(sim.seed)?;
    progress.start(specs.len());
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
        let cell = cell_offset + i as u64;
        let problem = Problem::new(&curvatures[spec.curvature], spec.settings)?;
        let summary = simulate(&problem, sim, cell)?;
        let power = rho(&problem, &PowerOptions::default());
        let first = first_moment(&problem);
        let key = (spec.curvature, spec.settings.alpha.to_bits());
        let coh = &coherences[keys.binary_search(&key).expect("every key was computed")];
        let bound = coherence_bound(&problem, coh, &first);
        let asymptotic = asymptotic_exponent(&problem, &predictors.asymptotic, cell)?;
        let growth = growth_within(
            &problem,
            sim.steps,
            predictors.growth_reps,
            predictors.growth_seed,
            cell,
        )?;
        let verdicts = Thresholds::DEFAULT.judge(&Evidence {
            eta: spec.settings.eta,
            rho: power.value,
            first,
            bound,
            asymptotic: Some(asymptotic.verdict),
            growth_rate: Some(growth.rate),
            escape: None,
        });
        progress.advance(1);
        Ok(Cell {
            x: spec.x,
            y: spec.y,
            diverged_fraction: summary.diverged_fraction,
            mean_diverge_step: summary.mean_diverge_step,
            mean_final_norm: summary.mean_final_norm,
            rho: power.value,
            rho_converged: power.converged,
            lambda_min_h_alpha: first.lambda_min,
            lambda_max_h_alpha: first.lambda_max,
            coherence: bound.coherence,
            coherence_critical: bound.critical,
            gamma_inf: asymptotic.gamma,
            gamma_inf_stderr: asymptotic.stderr,
            gamma_inf_steps: asymptotic.steps,
            growth_within_k: growth.rate,
            growth_within_k_stderr: growth.stderr,
            verdicts,
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

impl Heatmap {
    /// The heatmap of `cells` (row-major in y, from [`evaluate`]) over grid values `x` × `y`
    /// with the boundaries of `rules`, whose divergent region lies at `region` of the y axis;
    /// `sim` gave the label's runs.
    pub fn new(
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
            .filter(|&&rule| cells.iter().all(|c| c.verdicts.get(rule).is_some()))
            .map(|&rule| {
                Boundary::of(rule, &x_edges, &y_edges, region, |ix, iy| {
                    let cell = &cells[iy * nx + ix];
                    let verdict = cell.verdicts.get(rule).expect("filtered above");
                    (verdict, cell.majority_diverged())
                })
            })
            .collect();
        Heatmap {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::coherence_dial;
    use frontier_common::Silent;

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

    /// SGD over B ∈ {2, 40} × σ ∈ {1, 32} (n = 100, η = 0.5): the ρ(T) = 1 boundary sits on
    /// the upper edge of each column's largest diverging σ (B = 2: σ ≤ 33 diverges, so the top
    /// row; B = 40: only σ = 1), the cells are row-major, and the result does not depend on
    /// the thread count.
    #[test]
    fn a_small_sgd_grid_has_its_boundary_where_rho_crosses_one() {
        let sigmas = [1, 32];
        let curvatures: Vec<Curvature> = sigmas
            .iter()
            .map(|&s| Curvature::new(&coherence_dial(100, s).unwrap(), None).unwrap())
            .collect();
        let batches = [2, 40];
        let specs: Vec<Spec> = (0..2)
            .flat_map(|iy| {
                batches.iter().map(move |&b| Spec {
                    curvature: iy,
                    settings: Settings::new(0.5, 0.0, b),
                    x: b as f64,
                    y: sigmas[iy] as f64,
                })
            })
            .collect();
        let sim = SimOptions {
            steps: 200,
            reps: 3,
            ..SimOptions::default()
        };
        let predictors = Predictors {
            asymptotic: AsymptoticOptions {
                max_steps: 3200,
                ..Predictors::default().asymptotic
            },
            ..Predictors::default()
        };
        let cells = |threads| {
            evaluate(&curvatures, &specs, &sim, &predictors, threads, 0, &Silent).unwrap()
        };
        let one = cells(1);
        assert_eq!(one, cells(2));
        let map = Heatmap::new(
            vec![2.0, 40.0],
            vec![1.0, 32.0],
            true,
            one,
            &[Rule::MeanSquare, Rule::Asymptotic, Rule::FiniteBudget],
            Region::LowY,
            &sim,
        );
        assert_eq!(
            map.boundaries.iter().map(|b| b.rule).collect::<Vec<_>>(),
            [Rule::MeanSquare, Rule::Asymptotic],
            "T̂_esc is not evaluated on synthetic Hessians: no boundary"
        );
        assert_eq!((map.cell(1, 0).x, map.cell(1, 0).y), (40.0, 1.0));
        assert_eq!(map.simulated_steps, 4 * 3 * 200);
        let ms = &map.boundaries[0];
        assert_eq!(ms.rule, Rule::MeanSquare);
        assert_eq!(ms.points.len(), 4);
        assert_eq!(ms.points[0].1, 47.5, "B = 2: above σ = 32 (edge 32 + 15.5)");
        assert_eq!(ms.points[2].1, 16.5, "B = 40: between σ = 1 and 32");
        assert_eq!(map.cell(0, 0).diverged_fraction, 1.0);
        assert_eq!(map.cell(1, 1).diverged_fraction, 0.0);
        // Labels: the σ = 1 row diverges within 200 steps, the σ = 32 row does not, although
        // ρ(T) > 1 at (B = 2, σ = 32) (σ ≤ 33 diverges there, so slowly that 200 steps do not
        // reach the threshold). By hand: TPR = 2/2, TNR = 1/2 → balanced accuracy 0.75;
        // base rate 2/4; frontier positions (from the stable end, the top) 1 vs 0 for B = 2
        // and 1 vs 1 for B = 40 → distance 0.5.
        assert_eq!(map.cell(1, 0).diverged_fraction, 1.0);
        assert_eq!(map.cell(0, 1).diverged_fraction, 0.0);
        assert!(map.cell(0, 1).verdicts.mean_square, "{:?}", map.cell(0, 1));
        assert_eq!(ms.scores.balanced_accuracy, Some(0.75), "{:?}", ms.scores);
        assert_eq!(
            (ms.scores.base_rate, ms.scores.boundary_distance),
            (0.5, 0.5)
        );
        for cell in &map.cells {
            assert_eq!(
                cell.verdicts.mean_square,
                cell.rho > 1.0 + crate::verdict::TOLERANCE,
                "{cell:?}"
            );
        }
    }

    /// The simulated predictors must not reuse the label's seed.
    #[test]
    fn predictors_on_the_labels_seed_are_refused() {
        let sim = SimOptions::default();
        let ok = Predictors::default();
        ok.validate(sim.seed).unwrap();
        for (bad, field) in [
            (
                Predictors {
                    growth_seed: sim.seed,
                    ..ok
                },
                "growth_seed",
            ),
            (
                Predictors {
                    asymptotic: AsymptoticOptions {
                        seed: sim.seed,
                        ..ok.asymptotic
                    },
                    ..ok
                },
                "asymptotic.seed",
            ),
        ] {
            match bad.validate(sim.seed) {
                Err(Error::OutOfRange { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
