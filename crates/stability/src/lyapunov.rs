//! Almost-sure criterion (SCIENCE §2.4): the top Lyapunov exponent
//! γ = lim (1/k) log‖u_k‖ of the linearised dynamics on the curvature span,
//! estimated from simulated runs (see [`crate::simulate`]); γ > 0 ⇔ typical
//! runs diverge.

use serde::Serialize;

use crate::error::Result;
use crate::problem::Problem;
use crate::simulate::{SimOptions, simulate};

/// γ (log growth of ‖u‖ per step) averaged over runs, with its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LyapunovEstimate {
    /// Mean of the per-run growth rates.
    pub gamma: f64,
    /// Sample standard deviation of the rates / sqrt(runs) (NaN for one run).
    pub stderr: f64,
    /// Number of runs.
    pub runs: usize,
}

impl LyapunovEstimate {
    /// Mean and standard error of per-run growth rates.
    pub fn from_rates(rates: &[f64]) -> LyapunovEstimate {
        let n = rates.len() as f64;
        let gamma = rates.iter().sum::<f64>() / n;
        let var = rates.iter().map(|r| (r - gamma).powi(2)).sum::<f64>() / (n - 1.0);
        LyapunovEstimate {
            gamma,
            stderr: (var / n).sqrt(),
            runs: rates.len(),
        }
    }

    /// The almost-sure verdict: γ > 0.
    pub fn diverges(&self) -> bool {
        self.gamma > 0.0
    }
}

/// γ from `opts.reps` runs of `opts.steps` steps after `opts.burn_in()`
/// (the same runs [`simulate`] uses for cell `cell`).
pub fn lyapunov(problem: &Problem<'_>, opts: &SimOptions, cell: u64) -> Result<LyapunovEstimate> {
    simulate(problem, opts, cell).map(|s| s.lyapunov)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curvature::Curvature;
    use crate::family::Family;
    use crate::problem::{Sampling, Settings};

    /// E log|1 − η·h_B| by enumerating every batch of one direction with
    /// per-sample curvature s (the independent reference).
    fn closed_form(s: &[f64], eta: f64, b: usize, sampling: Sampling) -> f64 {
        let n = s.len();
        let mut total = 0.0;
        let mut weight = 0.0;
        match sampling {
            Sampling::Without | Sampling::Bernoulli => {
                let q = b as f64 / n as f64;
                for mask in 0u32..(1 << n) {
                    let k = mask.count_ones() as usize;
                    let w = match sampling {
                        Sampling::Without if k == b => 1.0,
                        Sampling::Without => continue,
                        _ => q.powi(k as i32) * (1.0 - q).powi((n - k) as i32),
                    };
                    let sum: f64 = (0..n).filter(|i| mask >> i & 1 == 1).map(|i| s[i]).sum();
                    total += w * (1.0 - eta * sum / b as f64).abs().ln();
                    weight += w;
                }
            }
            Sampling::With => {
                for code in 0..n.pow(b as u32) {
                    let sum: f64 = (0..b).map(|j| s[code / n.pow(j as u32) % n]).sum();
                    total += (1.0 - eta * sum / b as f64).abs().ln();
                    weight += 1.0;
                }
            }
        }
        total / weight
    }

    #[test]
    fn matches_closed_form_on_one_direction() {
        let s = [0.3, 1.2, 2.5, 0.8, 3.9, 1.7, 0.5, 2.2];
        let rows: Vec<_> = s.iter().map(|_| vec![(0, 1.0)]).collect();
        let curv = Curvature::new(&Family::rank_one_sparse(1, &rows, &s).unwrap(), None).unwrap();
        for (sampling, eta) in [
            (Sampling::Without, 0.5),
            (Sampling::With, 0.5),
            (Sampling::Bernoulli, 0.3),
        ] {
            let settings = Settings {
                sampling,
                ..Settings::new(eta, 0.0, 3)
            };
            let problem = Problem::new(&curv, settings).unwrap();
            let opts = SimOptions {
                steps: 2000,
                reps: 20,
                seed: 1,
                threshold: f64::INFINITY,
                burn_in: Some(0),
                ..SimOptions::default()
            };
            let est = lyapunov(&problem, &opts, 0).unwrap();
            let reference = closed_form(&s, eta, 3, sampling);
            assert!(
                (est.gamma - reference).abs() < 3.0 * est.stderr,
                "{sampling:?}: rust={}±{}, reference={reference}",
                est.gamma,
                est.stderr
            );
        }
    }
}
