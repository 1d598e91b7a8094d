//! One-call analysis of a user-supplied problem (what `frontier stability
//! --json` prints): the inputs, every criterion's number and verdict.

use frontier_common::{Progress, Silent};
use serde::{Serialize, Serializer};

use crate::bounds::{BoundForm, coherence, coherence_bound};
use crate::error::{Error, Result};
use crate::first_moment::first_moment;
use crate::mean_square::{PowerOptions, rho};
use crate::problem::{Problem, Sampling};
use crate::simulate::{InitialState, SimOptions, simulate};
use crate::verdict::Thresholds;

/// Every criterion for one problem, with the inputs that produced it. A
/// verdict `*_diverges` is true when that criterion predicts divergence
/// (unlearning escapes). Non-finite numbers serialise as the strings "inf",
/// "-inf" and "nan" (JSON has no such numbers).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Report {
    /// Learning rate η.
    #[serde(serialize_with = "number")]
    pub eta: f64,
    /// Mixing ratio α (weight of the forget term).
    #[serde(serialize_with = "number")]
    pub alpha: f64,
    /// Retain batch size B_r.
    pub batch_retain: usize,
    /// Forget batch size B_f (0 without a forget family).
    pub batch_forget: usize,
    /// How batches are drawn.
    pub sampling: Sampling,
    /// Simulated steps per run.
    pub steps: usize,
    /// Simulated runs.
    pub reps: usize,
    /// Seed of the simulation.
    pub seed: u64,
    /// A run diverges once ‖u‖² ≥ threshold·‖u₀‖².
    #[serde(serialize_with = "number")]
    pub threshold: f64,
    /// Distribution of the simulated u₀.
    pub init: InitialState,
    /// Retain samples n_r.
    pub n_retain: usize,
    /// Forget samples n_f (0 without a forget family).
    pub n_forget: usize,
    /// Parameter count p.
    pub p: usize,
    /// Dimension r of the curvature span.
    pub rank: usize,
    /// ρ(T) on the curvature span (growth of E‖u‖² per step).
    #[serde(serialize_with = "number")]
    pub rho_mean_square: f64,
    /// Whether the ρ(T) solver reached its tolerance (else ρ is a lower bound).
    pub rho_converged: bool,
    /// Mean-square verdict: ρ(T) > 1 + tol ([`Thresholds::mean_square`]).
    pub mean_square_diverges: bool,
    /// λ_min(H_α) over R^p (curvature units).
    #[serde(serialize_with = "number")]
    pub lambda_min_h_alpha: f64,
    /// λ_max(H_α) over R^p.
    #[serde(serialize_with = "number")]
    pub lambda_max_h_alpha: f64,
    /// First-moment verdict: λ_min(H_α) < 0 or λ_max(H_α) > 2/η, up to the relative
    /// tolerance of [`Thresholds::first_moment`].
    pub first_moment_diverges: bool,
    /// Retain coherence σ_R.
    #[serde(serialize_with = "number")]
    pub sigma_r: f64,
    /// Forget coherence σ_F (0 without forget family).
    #[serde(serialize_with = "number")]
    pub sigma_f: f64,
    /// Cross coherence σ_RF (0 without forget family).
    #[serde(serialize_with = "number")]
    pub sigma_rf: f64,
    /// Pair coherence σ_U at α (magnitude version; 0 without forget family).
    #[serde(serialize_with = "number")]
    pub sigma_u: f64,
    /// Which coherence bound applies: the SGD form (σ_R) without a forget
    /// family, the pair form (σ_U) with one.
    pub coherence_bound_form: BoundForm,
    /// The largest coherence for which the bound still predicts divergence.
    #[serde(serialize_with = "number")]
    pub coherence_bound_critical: f64,
    /// Coherence-bound verdict: the form applies and coherence ≤ critical
    /// ([`Thresholds::coherence_bound`]).
    pub coherence_bound_diverges: bool,
    /// Top Lyapunov exponent γ (log growth of ‖u‖ per step).
    #[serde(serialize_with = "number")]
    pub lyapunov: f64,
    /// Standard error of γ over runs.
    #[serde(serialize_with = "number")]
    pub lyapunov_stderr: f64,
    /// Finite-horizon verdict: the simulated mean growth γ over `steps` steps is > 0
    /// ([`Thresholds::growth_within`]; for the asymptotic γ_∞ see
    /// [`crate::lyapunov::asymptotic_exponent`]).
    pub lyapunov_diverges: bool,
    /// Fraction of simulated runs that diverged.
    #[serde(serialize_with = "number")]
    pub diverged_fraction: f64,
    /// Mean divergence step over the diverged runs; `null` when none diverged.
    #[serde(serialize_with = "optional_number")]
    pub mean_diverge_step: Option<f64>,
    /// Simulation verdict: more than half of the runs diverged.
    pub simulation_diverges: bool,
}

/// A finite number as a JSON number, otherwise "inf", "-inf" or "nan" (a serde
/// `serialize_with` helper).
pub fn number<S: Serializer>(value: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if value.is_finite() {
        s.serialize_f64(*value)
    } else if value.is_nan() {
        s.serialize_str("nan")
    } else if *value > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

/// As [`number`], `null` for `None`.
pub fn optional_number<S: Serializer>(
    value: &Option<f64>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match value {
        Some(v) => number(v, s),
        None => s.serialize_none(),
    }
}

/// Runs every criterion on `problem`: ρ(T) (default solver
/// options), the first moment, the coherence numbers and bound, and
/// `sim.reps` simulated runs (divergence statistics and γ), cell index 0.
pub fn analyze(problem: &Problem<'_>, sim: &SimOptions) -> Result<Report> {
    analyze_with_progress(problem, sim, &Silent)
}

/// As [`analyze`], telling `on` when each criterion starts and ends.
///
/// Errors: invalid `sim`; a curvature from a precomputed Gram matrix with a
/// start other than [`InitialState::Normal`] (its span is known only up to a
/// rotation).
pub fn analyze_with_progress(
    problem: &Problem<'_>,
    sim: &SimOptions,
    on: &dyn Progress,
) -> Result<Report> {
    sim.validate()?;
    let curv = problem.curvature();
    if curv.needs_normal_start() && sim.init != InitialState::Normal {
        return Err(Error::out_of_range(
            "init",
            format!("{:?}", sim.init).to_lowercase(),
            "normal only: from a Gram matrix the span is known only up to a rotation",
        ));
    }
    on.start(3);
    on.stage("simulating runs");
    let summary = simulate(problem, sim, 0)?;
    on.advance(1);
    let first = first_moment(problem);
    on.stage("coherence");
    let coh = coherence(problem)?;
    on.advance(1);
    let bound = coherence_bound(problem, &coh, &first);
    on.stage("mean-square ρ(T)");
    let rho = rho(problem, &PowerOptions::default());
    on.advance(1);
    let settings = problem.settings();
    let verdicts = Thresholds::DEFAULT;
    Ok(Report {
        eta: settings.eta,
        alpha: settings.alpha,
        batch_retain: settings.batch_retain,
        batch_forget: if curv.n_forget() > 0 {
            problem.batch_forget()
        } else {
            0
        },
        sampling: settings.sampling,
        steps: sim.steps,
        reps: sim.reps,
        seed: sim.seed,
        threshold: sim.threshold,
        init: sim.init,
        n_retain: curv.n_retain(),
        n_forget: curv.n_forget(),
        p: curv.dim(),
        rank: curv.rank(),
        rho_mean_square: rho.value,
        rho_converged: rho.converged,
        mean_square_diverges: verdicts.mean_square(rho.value),
        lambda_min_h_alpha: first.lambda_min,
        lambda_max_h_alpha: first.lambda_max,
        first_moment_diverges: verdicts.first_moment(settings.eta, &first),
        sigma_r: coh.sigma_r,
        sigma_f: coh.sigma_f,
        sigma_rf: coh.sigma_rf,
        sigma_u: coh.sigma_u,
        coherence_bound_form: bound.form,
        coherence_bound_critical: bound.critical,
        coherence_bound_diverges: verdicts.coherence_bound(&bound),
        lyapunov: summary.lyapunov.gamma,
        lyapunov_stderr: summary.lyapunov.stderr,
        lyapunov_diverges: verdicts.growth_within(summary.lyapunov.gamma),
        diverged_fraction: summary.diverged_fraction,
        mean_diverge_step: summary.mean_diverge_step,
        simulation_diverges: summary.diverged_fraction > 0.5,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curvature::Curvature;
    use crate::problem::Settings;
    use crate::synthetic::{ForgetPlacement, UnlearningSpec, unlearning_families};

    #[test]
    fn report_has_the_cli_fields_and_consistent_values() {
        let spec = UnlearningSpec {
            n_retain: 100,
            sigma_retain: 40,
            n_forget: 10,
            placement: ForgetPlacement::Fresh,
            forget_scale: None,
        };
        let (r, f) = unlearning_families(&spec).unwrap();
        let curv = Curvature::new(&r, Some(&f)).unwrap();
        let problem = Problem::new(&curv, Settings::new(0.5, 0.5, 10)).unwrap();
        let sim = SimOptions {
            steps: 300,
            reps: 4,
            ..SimOptions::default()
        };
        let report = analyze(&problem, &sim).unwrap();
        let json = serde_json::to_value(report).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut expected = vec![
            "eta",
            "alpha",
            "batch_retain",
            "batch_forget",
            "sampling",
            "steps",
            "reps",
            "seed",
            "threshold",
            "init",
            "n_retain",
            "n_forget",
            "p",
            "rank",
            "rho_mean_square",
            "rho_converged",
            "mean_square_diverges",
            "lambda_min_h_alpha",
            "lambda_max_h_alpha",
            "first_moment_diverges",
            "sigma_r",
            "sigma_f",
            "sigma_rf",
            "sigma_u",
            "coherence_bound_form",
            "coherence_bound_critical",
            "coherence_bound_diverges",
            "lyapunov",
            "lyapunov_stderr",
            "lyapunov_diverges",
            "diverged_fraction",
            "mean_diverge_step",
            "simulation_diverges",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
        // each fresh axis carries one forget sample of curvature 2n_r/σ_R = 5,
        // so H_α = −α·5/n_f = −0.25 there: every criterion says diverge
        let lmin = report.lambda_min_h_alpha;
        assert!((lmin + 0.25).abs() < 1e-12, "rust={lmin}, reference=-0.25");
        assert!(
            report.rho_mean_square > 1.0 && report.lyapunov > 0.0,
            "{report:?}"
        );
        assert_eq!(report.diverged_fraction, 1.0);
        assert!(
            report.first_moment_diverges
                && report.mean_square_diverges
                && report.lyapunov_diverges
                && report.simulation_diverges,
            "{report:?}"
        );
        assert_eq!(
            (json["n_retain"].as_u64(), json["n_forget"].as_u64()),
            (Some(100), Some(10))
        );
        assert!(
            report.sigma_rf.abs() < 1e-12,
            "fresh axes: σ_RF = 0, rust={}",
            report.sigma_rf
        );
        assert!(
            (report.sigma_r - 40.0).abs() < 1e-9,
            "rust={}, reference=40",
            report.sigma_r
        );
    }

    #[test]
    fn non_finite_numbers_serialise_as_documented_strings() {
        #[derive(Serialize)]
        struct Numbers {
            #[serde(serialize_with = "number")]
            a: f64,
            #[serde(serialize_with = "number")]
            b: f64,
            #[serde(serialize_with = "number")]
            c: f64,
            #[serde(serialize_with = "number")]
            d: f64,
            #[serde(serialize_with = "optional_number")]
            e: Option<f64>,
        }
        let json = serde_json::to_string(&Numbers {
            a: f64::INFINITY,
            b: f64::NEG_INFINITY,
            c: f64::NAN,
            d: 1.5,
            e: None,
        })
        .unwrap();
        assert_eq!(json, r#"{"a":"inf","b":"-inf","c":"nan","d":1.5,"e":null}"#);
    }
}
