//! One-call analysis of a user-supplied problem (what `frontier stability
//! --json` prints).

use serde::Serialize;

use crate::bounds::{coherence, coherence_bound};
use crate::error::Result;
use crate::first_moment::first_moment;
use crate::mean_square::{PowerOptions, rho};
use crate::problem::Problem;
use crate::simulate::{SimOptions, simulate};
use crate::verdict::Thresholds;

/// Every criterion for one problem, as plain numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Report {
    /// ρ(T) on the curvature span (> 1: mean-square divergence).
    pub rho_mean_square: f64,
    /// λ_min(H_α) (curvature units; < 0: first-moment divergence).
    pub lambda_min_h_alpha: f64,
    /// λ_max(H_α) (> 2/η: first-moment divergence).
    pub lambda_max_h_alpha: f64,
    /// Top Lyapunov exponent γ (log growth per step; > 0: almost-sure divergence).
    pub lyapunov: f64,
    /// Standard error of γ over runs.
    pub lyapunov_stderr: f64,
    /// Fraction of simulated runs that diverged.
    pub diverged_fraction: f64,
    /// Mean divergence step over the diverged runs (null when none diverged).
    pub mean_diverge_step: Option<f64>,
    /// The coherence bound (SGD form without forget family, pair form with), decided by
    /// [`Thresholds::coherence_bound`].
    pub coherence_bound_diverges: bool,
    /// Retain coherence σ_R.
    pub sigma_r: f64,
    /// Forget coherence σ_F (0 without forget family).
    pub sigma_f: f64,
    /// Cross coherence σ_RF (0 without forget family).
    pub sigma_rf: f64,
    /// Pair coherence σ_U at α (magnitude version; 0 without forget family).
    pub sigma_u: f64,
}

/// Runs every criterion on `problem`: ρ(T) (default solver
/// options), the first moment, the coherence numbers and bound, and
/// `sim.reps` simulated runs (divergence statistics and γ), cell index 0.
pub fn analyze(problem: &Problem<'_>, sim: &SimOptions) -> Result<Report> {
    let summary = simulate(problem, sim, 0)?;
    let first = first_moment(problem);
    let coh = coherence(problem)?;
    let bound = coherence_bound(problem, &coh, &first);
    Ok(Report {
        rho_mean_square: rho(problem, &PowerOptions::default()).value,
        lambda_min_h_alpha: first.lambda_min,
        lambda_max_h_alpha: first.lambda_max,
        lyapunov: summary.lyapunov.gamma,
        lyapunov_stderr: summary.lyapunov.stderr,
        diverged_fraction: summary.diverged_fraction,
        mean_diverge_step: summary.mean_diverge_step,
        coherence_bound_diverges: Thresholds::DEFAULT.coherence_bound(&bound),
        sigma_r: coh.sigma_r,
        sigma_f: coh.sigma_f,
        sigma_rf: coh.sigma_rf,
        sigma_u: coh.sigma_u,
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
            "rho_mean_square",
            "lambda_min_h_alpha",
            "lambda_max_h_alpha",
            "lyapunov",
            "lyapunov_stderr",
            "diverged_fraction",
            "mean_diverge_step",
            "coherence_bound_diverges",
            "sigma_r",
            "sigma_f",
            "sigma_rf",
            "sigma_u",
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
}
