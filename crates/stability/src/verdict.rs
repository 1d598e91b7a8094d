//! The one verdict engine: every criterion of escape decided with one set of thresholds
//! ([`Thresholds`]), whoever measured its inputs (the Hessian-test grids of [`crate::sweep`],
//! the predictions at w* of a real model). `docs/science.md` ("One verdict engine") states the
//! rules:
//!
//! - **ρ(T) = 1 (mean square)**: escape ⇔ ρ(T) > 1 + tol;
//! - **first moment**: escape ⇔ λ_min(H_α) < −tol·|λ|_max(H_α) or λ_max(H_α) > (2/η)(1 + tol);
//! - **coherence bound** (SGD or pair form, [`crate::bounds`]): escape ⇔ the form applies
//!   (n/B > 1) and coherence ≤ critical·(1 + tol);
//! - **γ_∞ (asymptotic)**: the three-valued sign of [`crate::lyapunov::asymptotic_exponent`]
//!   (positive ⇒ escape, negative ⇒ stable, undetermined stays undetermined);
//! - **linear growth within K steps**: escape ⇔ the mean log-growth per step over K steps
//!   ([`crate::lyapunov::growth_within`]) is > 0;
//! - **T̂_esc ≤ K (finite budget)**: escape ⇔ the predicted escape step
//!   ([`crate::escape::EscapeTime`]) is at most the budget K.
//!
//! tol = [`TOLERANCE`] (relative): outside the span of the curvature the step is the identity
//! (an eigenvalue exactly 1 of T, 0 of H_α), so round-off must not turn "neutral" into
//! "escapes"; and exact ties of the coherence bound (σ = 3 at n = 100, B = 10 has critical
//! value exactly 3) count as escaping, as the bound is stated with ≤.

use serde::{Deserialize, Serialize};

use crate::bounds::CoherenceBound;
use crate::first_moment::FirstMoment;
use crate::lyapunov::Sign;

/// The relative tolerance of every verdict (see the module docs).
pub const TOLERANCE: f64 = 1e-9;

/// A criterion of escape, as drawn on a figure and named in a CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// ρ(T) > 1: the second moment E‖u‖² of the linearised step grows.
    MeanSquare,
    /// λ_min(H_α) < 0 or λ_max(H_α) > 2/η: the mean E u grows.
    FirstMoment,
    /// The coherence bound (SGD form without a forget set, pair form with one).
    CoherenceBound,
    /// γ_∞ > 0: typical runs of the linearised step grow (almost surely).
    Asymptotic,
    /// The linearised step grows on average within the budget of K steps.
    GrowthWithin,
    /// T̂_esc ≤ K: the predicted escape step fits the budget.
    FiniteBudget,
}

impl Rule {
    /// Every rule, in legend order.
    pub const ALL: [Rule; 6] = [
        Rule::MeanSquare,
        Rule::FirstMoment,
        Rule::CoherenceBound,
        Rule::Asymptotic,
        Rule::GrowthWithin,
        Rule::FiniteBudget,
    ];

    /// Legend text: what the rule computes.
    pub fn label(self) -> &'static str {
        match self {
            Rule::MeanSquare => "ρ(T) = 1 (mean square)",
            Rule::FirstMoment => "first moment",
            Rule::CoherenceBound => "coherence bound",
            Rule::Asymptotic => "γ_∞ = 0 (asymptotic)",
            Rule::GrowthWithin => "linear growth within K steps",
            Rule::FiniteBudget => "T̂_esc ≤ K (finite budget)",
        }
    }

    /// Column-name form (e.g. `gamma_inf`).
    pub fn name(self) -> &'static str {
        match self {
            Rule::MeanSquare => "mean_square",
            Rule::FirstMoment => "first_moment",
            Rule::CoherenceBound => "coherence_bound",
            Rule::Asymptotic => "gamma_inf",
            Rule::GrowthWithin => "growth_within_k",
            Rule::FiniteBudget => "finite_budget",
        }
    }
}

/// A rule's verdict on one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Predicted to escape (diverge).
    Escape,
    /// Predicted to stay.
    Stable,
    /// The evidence does not decide (γ_∞ only).
    Undetermined,
}

impl Verdict {
    /// Two-valued form.
    fn of(escapes: bool) -> Verdict {
        if escapes {
            Verdict::Escape
        } else {
            Verdict::Stable
        }
    }

    /// The verdict of a sign of γ_∞.
    fn of_sign(sign: Sign) -> Verdict {
        match sign {
            Sign::Positive => Verdict::Escape,
            Sign::Negative => Verdict::Stable,
            Sign::Undetermined => Verdict::Undetermined,
        }
    }
}

/// Every rule's verdict on one setting; `None` for a rule that was not evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdicts {
    /// ρ(T) > 1 + tol.
    #[serde(rename = "predicted_mean_square")]
    pub mean_square: bool,
    /// λ_min(H_α) < −tol·|λ|_max or λ_max(H_α) > (2/η)(1 + tol).
    #[serde(rename = "predicted_first_moment")]
    pub first_moment: bool,
    /// The coherence bound fires.
    #[serde(rename = "predicted_coherence_bound")]
    pub coherence_bound: bool,
    /// The sign of γ_∞.
    #[serde(rename = "predicted_gamma_inf")]
    pub asymptotic: Option<Sign>,
    /// Growth within K steps.
    #[serde(rename = "predicted_growth_within_k")]
    pub growth_within: Option<bool>,
    /// T̂_esc ≤ K.
    #[serde(rename = "predicted_finite_budget")]
    pub finite_budget: Option<bool>,
}

impl Verdicts {
    /// The verdict of `rule` (`None` when it was not evaluated).
    pub fn get(&self, rule: Rule) -> Option<Verdict> {
        match rule {
            Rule::MeanSquare => Some(Verdict::of(self.mean_square)),
            Rule::FirstMoment => Some(Verdict::of(self.first_moment)),
            Rule::CoherenceBound => Some(Verdict::of(self.coherence_bound)),
            Rule::Asymptotic => self.asymptotic.map(Verdict::of_sign),
            Rule::GrowthWithin => self.growth_within.map(Verdict::of),
            Rule::FiniteBudget => self.finite_budget.map(Verdict::of),
        }
    }
}

/// What the verdicts of one setting are decided from. The optional parts are criteria that
/// were not evaluated (e.g. no loss-shape inputs for T̂_esc on synthetic Hessians).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// Learning rate η (1/curvature units).
    pub eta: f64,
    /// ρ(T) (dimensionless growth of E‖u‖² per step).
    pub rho: f64,
    /// λ_min and λ_max of H_α over R^p.
    pub first: FirstMoment,
    /// The coherence bound's coherence and critical value.
    pub bound: CoherenceBound,
    /// The sign of γ_∞ ([`crate::lyapunov::AsymptoticExponent::verdict`]).
    pub asymptotic: Option<Sign>,
    /// The mean log-growth per step within K steps ([`crate::lyapunov::GrowthWithinSteps`]).
    pub growth_rate: Option<f64>,
    /// T̂_esc (steps, +∞ for none) and the budget K.
    pub escape: Option<(f64, usize)>,
}

/// The one set of thresholds every verdict is decided with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Relative tolerance of the sign and tie tests (≥ 0).
    pub tolerance: f64,
}

impl Default for Thresholds {
    /// tol = [`TOLERANCE`].
    fn default() -> Self {
        Thresholds::DEFAULT
    }
}

impl Thresholds {
    /// The thresholds every figure uses: tol = [`TOLERANCE`].
    pub const DEFAULT: Thresholds = Thresholds {
        tolerance: TOLERANCE,
    };

    /// ρ(T) > 1 + tol.
    pub fn mean_square(&self, rho: f64) -> bool {
        rho > 1.0 + self.tolerance
    }

    /// λ_min(H_α) < −tol·|λ|_max(H_α) or λ_max(H_α) > (2/η)(1 + tol).
    pub fn first_moment(&self, eta: f64, first: &FirstMoment) -> bool {
        self.unstable_direction(first) || first.lambda_max > 2.0 / eta * (1.0 + self.tolerance)
    }

    /// H_α has a negative eigenvalue beyond round-off: λ_min(H_α) < −tol·|λ|_max(H_α).
    pub fn unstable_direction(&self, first: &FirstMoment) -> bool {
        first.lambda_min < -self.tolerance * first.abs_max()
    }

    /// λ_min(H_α) where [`Thresholds::unstable_direction`] holds, else 0: what the escape
    /// rate κ = ln(1 + η·|λ_min|) may use, so that round-off (e.g. λ_min = −1e-17 at α = 0)
    /// never predicts a finite escape step.
    pub fn unstable_lambda(&self, first: &FirstMoment) -> f64 {
        if self.unstable_direction(first) {
            first.lambda_min
        } else {
            0.0
        }
    }

    /// The form applies (n/B > 1) and coherence ≤ critical·(1 + tol).
    pub fn coherence_bound(&self, bound: &CoherenceBound) -> bool {
        bound.applies && bound.coherence <= bound.critical * (1.0 + self.tolerance)
    }

    /// The sign of γ_∞ as a verdict (decided by the estimator's own rule: two consecutive
    /// windows with |γ̂| > 2·stderr after enough e-folds).
    pub fn asymptotic(&self, sign: Sign) -> Verdict {
        Verdict::of_sign(sign)
    }

    /// Growth within K steps: the mean log-growth per step is > 0.
    pub fn growth_within(&self, rate: f64) -> bool {
        rate > 0.0
    }

    /// T̂_esc ≤ K.
    pub fn finite_budget(&self, escape_steps: f64, budget: usize) -> bool {
        escape_steps <= budget as f64
    }

    /// Every verdict of `evidence`.
    pub fn judge(&self, evidence: &Evidence) -> Verdicts {
        Verdicts {
            mean_square: self.mean_square(evidence.rho),
            first_moment: self.first_moment(evidence.eta, &evidence.first),
            coherence_bound: self.coherence_bound(&evidence.bound),
            asymptotic: evidence.asymptotic,
            growth_within: evidence.growth_rate.map(|r| self.growth_within(r)),
            finite_budget: evidence
                .escape
                .map(|(steps, budget)| self.finite_budget(steps, budget)),
        }
    }
}

impl Default for Verdicts {
    /// Nothing escapes; the optional rules not evaluated.
    fn default() -> Self {
        Verdicts {
            mean_square: false,
            first_moment: false,
            coherence_bound: false,
            asymptotic: None,
            growth_within: None,
            finite_budget: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounds::BoundForm;

    fn evidence() -> Evidence {
        Evidence {
            eta: 0.5,
            rho: 1.0,
            first: FirstMoment {
                lambda_min: 0.0,
                lambda_max: 4.0,
            },
            bound: CoherenceBound {
                form: BoundForm::Sgd,
                coherence: 3.0,
                critical: 3.0,
                applies: true,
            },
            asymptotic: Some(Sign::Undetermined),
            growth_rate: Some(0.0),
            escape: Some((200.0, 200)),
        }
    }

    /// Each threshold at its edge: exactly neutral values (ρ = 1, λ_min = 0, λ_max = 2/η,
    /// growth 0) stay stable, round-off-sized excursions too, anything beyond escapes; the
    /// tie of the coherence bound and T̂_esc = K escape.
    #[test]
    fn every_threshold_at_its_edge() {
        let t = Thresholds::default();
        let at_edge = t.judge(&evidence());
        assert_eq!(
            at_edge,
            Verdicts {
                mean_square: false,
                first_moment: false,
                coherence_bound: true,
                asymptotic: Some(Sign::Undetermined),
                growth_within: Some(false),
                finite_budget: Some(true),
            }
        );
        assert_eq!(at_edge.get(Rule::Asymptotic), Some(Verdict::Undetermined));
        assert!(!t.mean_square(1.0 + 1e-12) && t.mean_square(1.0 + 1e-6));
        let first = |lambda_min, lambda_max| FirstMoment {
            lambda_min,
            lambda_max,
        };
        assert!(
            !t.first_moment(0.5, &first(-1e-17, 2.0)),
            "round-off below 0"
        );
        assert!(t.first_moment(0.5, &first(-1e-6, 2.0)));
        assert_eq!(t.unstable_lambda(&first(-1e-17, 2.0)), 0.0);
        assert_eq!(t.unstable_lambda(&first(-1e-6, 2.0)), -1e-6);
        assert!(!t.first_moment(0.5, &first(0.0, 4.0 * (1.0 + 1e-12))));
        assert!(t.first_moment(0.5, &first(0.0, 4.0 * (1.0 + 1e-6))));
        let mut bound = evidence().bound;
        bound.coherence = 3.0 * (1.0 + 1e-6);
        assert!(!t.coherence_bound(&bound));
        bound.applies = false;
        bound.coherence = 0.0;
        assert!(!t.coherence_bound(&bound), "a bound that does not apply");
        assert!(t.growth_within(1e-300) && !t.growth_within(-1e-300));
        assert!(!t.finite_budget(200.5, 200) && !t.finite_budget(f64::INFINITY, 200));
        assert_eq!(t.asymptotic(Sign::Positive), Verdict::Escape);
        assert_eq!(t.asymptotic(Sign::Negative), Verdict::Stable);
    }

    #[test]
    fn unevaluated_rules_have_no_verdict() {
        let v = Thresholds::default().judge(&Evidence {
            asymptotic: None,
            growth_rate: None,
            escape: None,
            ..evidence()
        });
        for rule in [Rule::Asymptotic, Rule::GrowthWithin, Rule::FiniteBudget] {
            assert_eq!(v.get(rule), None, "{rule:?}");
        }
        assert_eq!(v.get(Rule::CoherenceBound), Some(Verdict::Escape));
        let names: std::collections::BTreeSet<_> = Rule::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), Rule::ALL.len(), "distinct column names");
    }
}
