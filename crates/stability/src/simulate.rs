//! Simulator of the linearised dynamics
//! u ← u − η[(1−α)·mean_{B_r} H_i u − α·mean_{B_f} H_j u]
//! (`docs/science.md`), with the divergence rule ‖u_k‖² ≥ threshold·‖u₀‖².
//!
//! A run lives in span coordinates (the flat part of u₀ never moves and only
//! adds a constant to ‖u‖²). Each step costs O(B·nnz) for rank-one families
//! (O(B) for the synthetic ones, whose g_i have one non-zero): ‖u‖² is
//! updated incrementally and recomputed exactly every 64 steps and whenever
//! it has shrunk 16-fold. The vector is rescaled whenever ‖u‖² leaves
//! [1e-100, 1e100], its scale kept as a logarithm, so nothing overflows and a
//! run always continues to the step budget; this yields the per-run growth
//! rate for the Lyapunov estimate ([`crate::lyapunov`]) from the same runs.
//!
//! Randomness: one ChaCha8 stream per run seeded from (seed, cell, rep), so
//! results do not depend on how runs are spread over threads.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::curvature::{Reduced, Samples};
use crate::error::{Error, Result};
use crate::lyapunov::LyapunovEstimate;
use crate::problem::Problem;
use crate::sampler::Sampler;
use frontier_common::par_map;

/// Distribution of u₀ ∈ R^p.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialState {
    /// Independent U[0, 1) coordinates (the predecessor's w₀; the default).
    #[default]
    Uniform,
    /// Independent standard normal coordinates (E\[u₀u₀ᵀ\] = I).
    Normal,
}

/// Simulation controls (missing keys take the defaults when deserialised).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimOptions {
    /// Step budget per run (≥ 1).
    pub steps: usize,
    /// Runs per cell (≥ 1).
    pub reps: usize,
    /// Master seed.
    pub seed: u64,
    /// A run diverges at the first step with ‖u‖² ≥ threshold·‖u₀‖²
    /// (threshold > 1; `f64::INFINITY` disables the rule).
    pub threshold: f64,
    /// Distribution of u₀.
    pub init: InitialState,
    /// Steps discarded before measuring the growth rate; `None` = steps / 10.
    pub burn_in: Option<usize>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            steps: 1000,
            reps: 10,
            seed: 0,
            threshold: 1000.0,
            init: InitialState::Uniform,
            burn_in: None,
        }
    }
}

impl SimOptions {
    /// The effective burn-in.
    pub fn burn_in(&self) -> usize {
        self.burn_in.unwrap_or(self.steps / 10)
    }

    /// Checks every field; errors name the field and its range.
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 {
            return Err(Error::out_of_range("steps", self.steps, "1 or more"));
        }
        if self.reps == 0 {
            return Err(Error::out_of_range("reps", self.reps, "1 or more"));
        }
        if self.threshold.is_nan() || self.threshold <= 1.0 {
            return Err(Error::out_of_range("threshold", self.threshold, "(1, ∞]"));
        }
        if self.burn_in() >= self.steps {
            return Err(Error::out_of_range(
                "burn_in",
                self.burn_in(),
                format!("0..{} (less than steps)", self.steps),
            ));
        }
        Ok(())
    }
}

/// The result of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RunOutcome {
    /// First step (1-based) at which ‖u‖² ≥ threshold·‖u₀‖² or a value became
    /// non-finite; `None` when the run stayed below the threshold.
    pub diverged_at: Option<usize>,
    /// ‖u‖ (parameter units) when the run ended: at divergence, else after
    /// the last step.
    pub final_norm: f64,
    /// (log‖ū_K‖ − log‖ū_b‖)/(K − b) for the span part ū of u, b = burn-in,
    /// K = steps (+∞ after a non-finite value, −∞ if ū hit exactly zero).
    pub growth_rate: f64,
}

/// Aggregate over the runs of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SimSummary {
    /// Number of runs.
    pub runs: usize,
    /// Fraction of runs that diverged.
    pub diverged_fraction: f64,
    /// Mean divergence step over the diverged runs; `None` when none diverged.
    pub mean_diverge_step: Option<f64>,
    /// Mean of [`RunOutcome::final_norm`].
    pub mean_final_norm: f64,
    /// Top Lyapunov exponent from the runs' growth rates.
    pub lyapunov: LyapunovEstimate,
}

impl SimSummary {
    /// Aggregates run outcomes.
    pub fn from_runs(runs: &[RunOutcome]) -> SimSummary {
        let n = runs.len();
        let steps: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.diverged_at)
            .map(|s| s as f64)
            .collect();
        let rates: Vec<f64> = runs.iter().map(|r| r.growth_rate).collect();
        SimSummary {
            runs: n,
            diverged_fraction: steps.len() as f64 / n as f64,
            mean_diverge_step: (!steps.is_empty())
                .then(|| steps.iter().sum::<f64>() / steps.len() as f64),
            mean_final_norm: runs.iter().map(|r| r.final_norm).sum::<f64>() / n as f64,
            lyapunov: LyapunovEstimate::from_rates(&rates),
        }
    }
}

/// Simulates `opts.reps` runs of cell `cell` (the cell index only enters the
/// seeds).
pub fn simulate(problem: &Problem<'_>, opts: &SimOptions, cell: u64) -> Result<SimSummary> {
    opts.validate()?;
    let runs: Vec<RunOutcome> = (0..opts.reps as u64)
        .map(|rep| run(problem, opts, cell, rep))
        .collect();
    Ok(SimSummary::from_runs(&runs))
}

/// One run, repetition `rep` of cell `cell`.
pub fn simulate_run(
    problem: &Problem<'_>,
    opts: &SimOptions,
    cell: u64,
    rep: u64,
) -> Result<RunOutcome> {
    opts.validate()?;
    Ok(run(problem, opts, cell, rep))
}

/// [`simulate`] for many cells (cell index = position) on `threads` threads
/// (0 = all cores); the result does not depend on `threads`.
pub fn simulate_cells(
    problems: &[Problem<'_>],
    opts: &SimOptions,
    threads: usize,
) -> Result<Vec<SimSummary>> {
    opts.validate()?;
    Ok(par_map(problems.len(), threads, |i| {
        let runs: Vec<RunOutcome> = (0..opts.reps as u64)
            .map(|rep| run(&problems[i], opts, i as u64, rep))
            .collect();
        SimSummary::from_runs(&runs)
    }))
}

/// The random stream of run (seed, cell, rep).
fn run_rng(seed: u64, cell: u64, rep: u64) -> ChaCha8Rng {
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes
        .chunks_exact_mut(8)
        .zip([seed, cell, rep, 0x5eed_f00d_cafe_d00d])
    {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    ChaCha8Rng::from_seed(bytes)
}

/// How one family adds coef·Ĥ_i u (u before the step) to the step's
/// `delta`, recording coordinates it touches for the first time.
pub(crate) trait Gather {
    fn gather(&self, i: usize, coef: f64, u: &[f64], delta: &mut [f64], touched: &mut Vec<u32>);
}

#[inline(always)]
fn add(k: usize, x: f64, delta: &mut [f64], touched: &mut Vec<u32>) {
    if delta[k] == 0.0 {
        touched.push(k as u32);
    }
    delta[k] += x;
}

/// The diagonal structure: Ĥ_i = s_i e_k e_kᵀ as (k, s_i), O(1) per sample.
struct Axes<'c>(&'c [(u32, f64)]);

impl Gather for Axes<'_> {
    #[inline(always)]
    fn gather(&self, i: usize, coef: f64, u: &[f64], delta: &mut [f64], touched: &mut Vec<u32>) {
        let (k, s) = self.0[i];
        add(k as usize, coef * s * u[k as usize], delta, touched);
    }
}

/// The general case: sparse rank-one rows or dense Hessians.
impl Gather for &Reduced {
    #[inline]
    fn gather(&self, i: usize, coef: f64, u: &[f64], delta: &mut [f64], touched: &mut Vec<u32>) {
        match &self.samples {
            Samples::RankOne { g, c } => {
                let (idx, val) = g.row(i);
                let dot: f64 = idx.iter().zip(val).map(|(&k, &v)| v * u[k as usize]).sum();
                let f = coef * c[i] * dot;
                for (&k, &v) in idx.iter().zip(val) {
                    add(k as usize, f * v, delta, touched);
                }
            }
            Samples::Dense { h } => {
                let hu = &h[i] * nalgebra::DVector::from_column_slice(u);
                for (k, x) in hu.iter().enumerate() {
                    add(k, coef * x, delta, touched);
                }
            }
        }
    }
}

/// One family that moves u: its gather kernel, step coefficient w/B and
/// batch sampler.
pub(crate) struct Term<G> {
    family: G,
    coef: f64,
    sampler: Sampler,
}

impl<G> Term<G> {
    /// Family `family` of n samples with signed step weight w and batch size b.
    fn new(family: G, w: f64, sampling: crate::problem::Sampling, n: usize, b: usize) -> Self {
        Term {
            family,
            coef: w / b as f64,
            sampler: Sampler::new(sampling, n, b),
        }
    }
}

fn norm_sq(u: &[f64]) -> f64 {
    u.iter().map(|x| x * x).sum()
}

/// The state of one run of the linearised dynamics: the span part ū of u, stored divided by
/// exp(`log_scale`) so that it never overflows, with its batch streams. Shared by the
/// divergence runs of this module and the asymptotic exponent of [`crate::lyapunov`].
pub(crate) struct Walk<G> {
    terms: Vec<Term<G>>,
    rng: ChaCha8Rng,
    u: Vec<f64>,
    delta: Vec<f64>,
    touched: Vec<u32>,
    /// ‖u‖² of the stored vector: updated incrementally by [`Walk::step`], exact after
    /// [`Walk::refresh`].
    pub(crate) sq: f64,
    /// The last exact value of `sq`.
    exact_ref: f64,
    /// ū = exp(log_scale)·u.
    pub(crate) log_scale: f64,
    /// ‖u₀‖² of the whole start vector, and of its part outside the span (which never moves).
    pub(crate) start_sq: f64,
    pub(crate) flat: f64,
    /// Steps taken.
    pub(crate) steps: usize,
}

impl<G: Gather> Walk<G> {
    /// Draws u₀ ∈ R^p from `init` with `rng` (which then draws the batches) and projects it.
    fn new(
        problem: &Problem<'_>,
        init: InitialState,
        terms: Vec<Term<G>>,
        mut rng: ChaCha8Rng,
    ) -> Self {
        let curv = problem.curvature();
        let full: Vec<f64> = match init {
            InitialState::Uniform => (0..curv.dim()).map(|_| rng.random::<f64>()).collect(),
            InitialState::Normal => (0..curv.dim())
                .map(|_| rng.sample(StandardNormal))
                .collect(),
        };
        let mut u = vec![0.0; curv.rank()];
        let flat = curv.project(&full, &mut u);
        let sq = norm_sq(&u);
        Walk {
            terms,
            rng,
            delta: vec![0.0; u.len()],
            touched: Vec::with_capacity(u.len()),
            u,
            sq,
            exact_ref: sq,
            log_scale: 0.0,
            start_sq: norm_sq(&full),
            flat,
            steps: 0,
        }
    }

    /// One step: every family draws its batch and adds its update; ‖u‖² is updated
    /// incrementally.
    fn step(&mut self) {
        let (u, delta, touched) = (&mut self.u, &mut self.delta, &mut self.touched);
        for t in &mut self.terms {
            for &i in t.sampler.draw(&mut self.rng) {
                t.family.gather(i as usize, t.coef, u, delta, touched);
            }
        }
        let mut apply = |k: u32| {
            let k = k as usize;
            let (old, new) = (u[k], u[k] + delta[k]);
            u[k] = new;
            delta[k] = 0.0;
            new * new - old * old
        };
        // two partial sums halve the add-latency chain
        let (mut even, mut odd) = (0.0, 0.0);
        let mut pairs = touched.chunks_exact(2);
        for pair in &mut pairs {
            even += apply(pair[0]);
            odd += apply(pair[1]);
        }
        if let [k] = pairs.remainder() {
            even += apply(*k);
        }
        self.sq += even + odd;
        touched.clear();
        self.steps += 1;
    }

    /// Whether the incremental ‖u‖² is due for an exact recomputation: every 64 steps and
    /// whenever it has shrunk 16-fold (cancellation).
    fn due(&self) -> bool {
        self.steps.is_multiple_of(64) || self.sq < self.exact_ref / 16.0
    }

    /// Recomputes ‖u‖² exactly.
    fn refresh(&mut self) {
        self.sq = norm_sq(&self.u);
        self.exact_ref = self.sq;
    }

    /// Rescales u to unit norm when ‖u‖² has left [1e-100, 1e100], keeping the scale in
    /// `log_scale`; returns whether it did.
    fn rescale(&mut self) -> bool {
        if (1e-100..=1e100).contains(&self.sq) {
            return false;
        }
        let s = self.sq.sqrt();
        self.u.iter_mut().for_each(|x| *x /= s);
        self.log_scale += s.ln();
        self.refresh();
        true
    }

    /// log‖ū‖ (exact after [`Walk::refresh`]).
    pub(crate) fn log_norm(&self) -> f64 {
        self.log_scale + 0.5 * self.sq.ln()
    }

    /// ‖u‖ of the whole vector (span and flat parts) in parameter units.
    fn true_norm(&self) -> f64 {
        (self.sq * (2.0 * self.log_scale).exp() + self.flat).sqrt()
    }

    /// Takes `k` steps, renormalising as needed; ‖u‖² is exact afterwards. Stops early when
    /// ū becomes non-finite or exactly zero (see [`Walk::ended`]).
    pub(crate) fn advance(&mut self, k: usize) {
        for _ in 0..k {
            self.step();
            if self.due() {
                self.refresh();
            }
            if self.ended() {
                return;
            }
            self.rescale();
        }
        self.refresh();
    }

    /// Whether the run cannot go on: ‖ū‖² non-finite (a single step overflowed) or exactly 0.
    pub(crate) fn ended(&self) -> bool {
        !self.sq.is_finite() || self.sq == 0.0
    }
}

/// What to do with the walks of one cell, whichever gather kernel their families use.
pub(crate) trait OnWalks {
    type Out;
    fn on<G: Gather>(self, walks: Vec<Walk<G>>) -> Self::Out;
}

/// The walks of repetitions `reps` of cell `cell` under master seed `seed`, each from its
/// own stream (seed, cell, rep), handed to `on`. The synthetic diagonal families use the
/// O(1)-per-sample kernel, the others the general one.
pub(crate) fn walks<O: OnWalks>(
    problem: &Problem<'_>,
    init: InitialState,
    seed: u64,
    cell: u64,
    reps: std::ops::Range<u64>,
    on: O,
) -> O::Out {
    let sampling = problem.settings().sampling;
    let terms = problem.terms();
    if terms.iter().all(|(f, ..)| f.axes.is_some()) {
        let make = || {
            terms
                .iter()
                .filter_map(|&(f, w, b)| {
                    Some(Term::new(Axes(f.axes.as_deref()?), w, sampling, f.len(), b))
                })
                .collect()
        };
        let walks = reps
            .map(|rep| Walk::new(problem, init, make(), run_rng(seed, cell, rep)))
            .collect();
        on.on(walks)
    } else {
        let make = || {
            terms
                .iter()
                .map(|&(f, w, b)| Term::new(f, w, sampling, f.len(), b))
                .collect()
        };
        let walks = reps
            .map(|rep| Walk::new(problem, init, make(), run_rng(seed, cell, rep)))
            .collect();
        on.on(walks)
    }
}

/// One divergence run with `opts` (see [`RunOutcome`]).
struct DivergenceRun<'o>(&'o SimOptions);

impl OnWalks for DivergenceRun<'_> {
    type Out = RunOutcome;
    fn on<G: Gather>(self, walks: Vec<Walk<G>>) -> RunOutcome {
        let walk = walks.into_iter().next().expect("one walk per run");
        run_with(self.0, walk)
    }
}

fn run(problem: &Problem<'_>, opts: &SimOptions, cell: u64, rep: u64) -> RunOutcome {
    walks(
        problem,
        opts.init,
        opts.seed,
        cell,
        rep..rep + 1,
        DivergenceRun(opts),
    )
}

fn run_with<G: Gather>(opts: &SimOptions, mut walk: Walk<G>) -> RunOutcome {
    let limit_true = opts.threshold * walk.start_sq - walk.flat;
    let mut limit = limit_true;
    let burn = opts.burn_in();
    let mut log_at_burn = walk.log_norm();
    let mut diverged_at = None;
    let mut final_norm = f64::NAN;

    for step in 1..=opts.steps {
        walk.step();
        let crossing = diverged_at.is_none() && walk.sq >= limit;
        if walk.due() || crossing || step == burn || step == opts.steps {
            walk.refresh();
        }
        if !walk.sq.is_finite() {
            return RunOutcome {
                diverged_at: diverged_at.or(Some(step)),
                final_norm: if diverged_at.is_some() {
                    final_norm
                } else {
                    f64::INFINITY
                },
                growth_rate: f64::INFINITY,
            };
        }
        if walk.sq == 0.0 {
            return RunOutcome {
                diverged_at,
                final_norm: if diverged_at.is_some() {
                    final_norm
                } else {
                    walk.flat.sqrt()
                },
                growth_rate: f64::NEG_INFINITY,
            };
        }
        if diverged_at.is_none() && walk.sq >= limit {
            diverged_at = Some(step);
            final_norm = walk.true_norm();
        }
        if walk.rescale() {
            limit = limit_true * (-2.0 * walk.log_scale).exp();
        }
        if step == burn {
            log_at_burn = walk.log_norm();
        }
    }
    RunOutcome {
        diverged_at,
        final_norm: if diverged_at.is_some() {
            final_norm
        } else {
            walk.true_norm()
        },
        growth_rate: (walk.log_norm() - log_at_burn) / (opts.steps - burn) as f64,
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::DMatrix;

    use super::*;
    use crate::curvature::Curvature;
    use crate::family::Family;
    use crate::mean_square::trace_t_power;
    use crate::problem::{Sampling, Settings};

    fn scalar_family(scales: &[f64]) -> Family {
        let rows: Vec<_> = scales.iter().map(|_| vec![(0, 1.0)]).collect();
        Family::rank_one_sparse(1, &rows, scales).unwrap()
    }

    /// Full batch on one direction is deterministic: ‖u_k‖² = f^{2k}‖u₀‖² with
    /// f = 1 − η·mean(s), so the divergence step and γ = ln|f| are exact.
    #[test]
    fn full_batch_scalar_run_is_exact() {
        let fam = scalar_family(&[3.0, 5.0, 4.0]);
        let curv = Curvature::new(&fam, None).unwrap();
        let problem = Problem::new(&curv, Settings::new(0.6, 0.0, 3)).unwrap();
        let f: f64 = 1.0 - 0.6 * 4.0; // −1.4
        let opts = SimOptions {
            steps: 400,
            burn_in: Some(0),
            ..SimOptions::default()
        };
        let out = simulate_run(&problem, &opts, 0, 0).unwrap();
        let step = (1000f64.ln() / (2.0 * f.abs().ln())).ceil() as usize;
        assert_eq!(out.diverged_at, Some(step), "reference={step}");
        assert!(
            (out.growth_rate - f.abs().ln()).abs() < 1e-12,
            "rust={}, reference={}",
            out.growth_rate,
            f.abs().ln()
        );
    }

    #[test]
    fn non_finite_values_count_as_divergence() {
        let fam = scalar_family(&[1e200, 1e200]);
        let curv = Curvature::new(&fam, None).unwrap();
        let problem = Problem::new(&curv, Settings::new(1e150, 0.0, 1)).unwrap();
        let opts = SimOptions {
            threshold: f64::INFINITY,
            ..SimOptions::default()
        };
        let out = simulate_run(&problem, &opts, 0, 0).unwrap();
        assert_eq!(out.diverged_at, Some(1));
        assert_eq!(out.growth_rate, f64::INFINITY);
    }

    /// tr T^k(I) = E‖u_k‖² for E[u₀u₀ᵀ] = I (the mean-square check: a random 6-dim,
    /// n = 8, B = 3, η = 0.3 rank-one case without replacement, k = 40).
    #[test]
    fn trace_of_t_power_matches_monte_carlo() {
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let (n, p) = (8, 6);
        let g = DMatrix::from_fn(n, p, |_, _| 0.5 * rng.sample::<f64, _>(StandardNormal));
        let c: Vec<f64> = (0..n).map(|_| rng.random_range(0.5..1.5)).collect();
        let curv = Curvature::new(&Family::rank_one(&g, &c).unwrap(), None).unwrap();
        let problem = Problem::new(&curv, Settings::new(0.3, 0.0, 3)).unwrap();
        let k = 40;
        let reference = trace_t_power(&problem, k);
        let opts = SimOptions {
            steps: k,
            reps: 20_000,
            seed: 5,
            threshold: f64::INFINITY,
            init: InitialState::Normal,
            burn_in: Some(0),
        };
        let sq: Vec<f64> = (0..opts.reps as u64)
            .map(|rep| {
                simulate_run(&problem, &opts, 0, rep)
                    .unwrap()
                    .final_norm
                    .powi(2)
            })
            .collect();
        let mean = sq.iter().sum::<f64>() / sq.len() as f64;
        let sd =
            (sq.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (sq.len() - 1) as f64).sqrt();
        let se = sd / (sq.len() as f64).sqrt();
        assert!(
            (mean - reference).abs() < 3.0 * se,
            "Monte-Carlo={mean}±{se}, reference tr T^{k}(I)={reference}"
        );
        assert!(
            reference > 0.5 && reference < 20.0,
            "a case with visible dynamics: {reference}, MC {mean}±{se}"
        );
    }

    fn small_grid(curv: &Curvature) -> Vec<Problem<'_>> {
        [1, 2, 3]
            .iter()
            .flat_map(|&b| {
                [0.0, 0.4].map(|alpha| {
                    let s = Settings {
                        sampling: Sampling::Without,
                        ..Settings::new(0.5, alpha, b)
                    };
                    Problem::new(curv, s).unwrap()
                })
            })
            .collect()
    }

    #[test]
    fn simulation_is_deterministic_and_thread_independent() {
        let rows: Vec<_> = (0..6).map(|i| vec![(i % 4, 1.0)]).collect();
        let retain = Family::rank_one_sparse(5, &rows, &[8.0, 2.0, 3.0, 4.0, 6.0, 1.0]).unwrap();
        let forget = Family::rank_one_sparse(
            5,
            &[vec![(4, 1.0)], vec![(0, 2.0)], vec![(1, 1.0)]],
            &[2.0; 3],
        )
        .unwrap();
        let curv = Curvature::new(&retain, Some(&forget)).unwrap();
        let problems = small_grid(&curv);
        let opts = SimOptions {
            steps: 200,
            reps: 4,
            seed: 9,
            ..SimOptions::default()
        };
        let one = simulate_cells(&problems, &opts, 1).unwrap();
        let two = simulate_cells(&problems, &opts, 2).unwrap();
        let again = simulate_cells(&problems, &opts, 2).unwrap();
        assert_eq!(one, two, "thread count changed the results");
        assert_eq!(two, again, "same seed, different results");
        for (i, problem) in problems.iter().enumerate() {
            let single = simulate(problem, &opts, i as u64).unwrap();
            assert_eq!(one[i], single, "cell {i}: batched vs single cell");
            let runs: Vec<_> = (0..opts.reps as u64)
                .map(|rep| simulate_run(problem, &opts, i as u64, rep).unwrap())
                .collect();
            assert_eq!(
                single,
                SimSummary::from_runs(&runs),
                "cell {i}: summary vs single runs"
            );
        }
        assert!(
            one.iter().any(|s| s.diverged_fraction > 0.0)
                && one.iter().any(|s| s.diverged_fraction < 1.0)
        );
        let other_seed = simulate_cells(&problems, &SimOptions { seed: 10, ..opts }, 2).unwrap();
        assert_ne!(one, other_seed);
    }

    #[test]
    fn options_are_validated() {
        let bad = [
            SimOptions {
                steps: 0,
                ..SimOptions::default()
            },
            SimOptions {
                reps: 0,
                ..SimOptions::default()
            },
            SimOptions {
                threshold: 1.0,
                ..SimOptions::default()
            },
            SimOptions {
                burn_in: Some(1000),
                ..SimOptions::default()
            },
        ];
        for opts in bad {
            assert!(
                matches!(opts.validate(), Err(Error::OutOfRange { .. })),
                "{opts:?}"
            );
        }
    }
}
