//! Per-cell statistics over the repetitions: the fraction of runs meeting each success
//! criterion, mean ± sd of every outcome, and the fraction of repetitions each rule predicts
//! to escape. One summary is one CSV row.

use frontier_common::{Field, Stat};
use frontier_stability::sweep::Rule;
use serde::{Deserialize, Serialize};

use super::config::AxisValue;
use super::records::{CellRecord, RepRecord};
use crate::predict::{Prediction, RULES};

/// The empirical success criteria of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// (a) MIA attack strength near 0.5 (see [`crate::run`]).
    Deletion,
    /// (b) ‖w − w*‖ > k‖w*‖ (or divergence).
    Escape,
    /// (c) (a) or (b) with retain accuracy above the threshold.
    Useful,
}

impl Criterion {
    /// Legend/colourbar text.
    pub fn label(self) -> &'static str {
        match self {
            Criterion::Deletion => "fraction of runs deleting (MIA attack strength near 0.5)",
            Criterion::Escape => "fraction of runs escaping (‖w − w*‖ > k‖w*‖)",
            Criterion::Useful => "fraction of useful successes ((a or b), retain acc ok)",
        }
    }

    /// Column-name form (e.g. "escape"; the CSV column is `<name>_fraction`).
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Deletion => "deletion",
            Criterion::Escape => "escape",
            Criterion::Useful => "useful",
        }
    }

    /// The cell's fraction of runs meeting the criterion.
    pub fn fraction(self, s: &CellSummary) -> f64 {
        match self {
            Criterion::Deletion => s.deletion,
            Criterion::Escape => s.escape,
            Criterion::Useful => s.useful,
        }
    }
}

/// Per-cell statistics over the repetitions (the CSV row of the cell).
#[derive(Debug, Clone, PartialEq)]
pub struct CellSummary {
    /// x value.
    pub x: AxisValue,
    /// y value (`None` without a y axis).
    pub y: Option<AxisValue>,
    /// Repetitions.
    pub reps: usize,
    /// Fraction of runs with (a) deletion.
    pub deletion: f64,
    /// Fraction with (b) escape.
    pub escape: f64,
    /// Fraction with (c) useful success.
    pub useful: f64,
    /// Fraction that hit a non-finite value.
    pub diverged: f64,
    /// Named statistics of the final snapshots and the setups, see [`CellSummary::stats`].
    pub stats: Vec<(&'static str, Stat)>,
    /// Fraction of repetitions whose setup predicts escape, per rule (NaN without
    /// predictions), in [`RULES`] order.
    pub predicted: Vec<(Rule, f64)>,
}

impl CellSummary {
    /// The statistic named `name` (see the CSV header; e.g. "retain_accuracy", "mia_auc").
    pub fn stat(&self, name: &str) -> Stat {
        self.stats
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Stat::MISSING, |(_, s)| *s)
    }

    /// The fraction of repetitions predicting escape under `rule`.
    pub fn predicted(&self, rule: Rule) -> f64 {
        self.predicted
            .iter()
            .find(|(r, _)| *r == rule)
            .map_or(f64::NAN, |(_, f)| *f)
    }

    /// The CSV columns after the axes: names and values, in column order (see the grid CSV
    /// in `grid::csv`).
    pub fn columns(&self) -> Vec<(String, Field)> {
        let mut out: Vec<(String, f64)> = [
            ("reps", self.reps as f64),
            ("deletion_fraction", self.deletion),
            ("escape_fraction", self.escape),
            ("useful_fraction", self.useful),
            ("diverged_fraction", self.diverged),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
        for (name, s) in &self.stats {
            out.push((format!("{name}_mean"), s.mean));
            out.push((format!("{name}_sd"), s.sd));
        }
        for (rule, f) in &self.predicted {
            out.push((format!("predicted_{}_fraction", rule_name(*rule)), *f));
        }
        out.into_iter()
            .map(|(n, v)| (n, Field::Number(v)))
            .collect()
    }
}

/// Column-name form of a rule (the CSV column is `predicted_<name>_fraction`).
pub fn rule_name(rule: Rule) -> &'static str {
    match rule {
        Rule::MeanSquare => "mean_square",
        Rule::Lyapunov => "lyapunov",
        Rule::FirstMoment => "first_moment",
        Rule::CoherenceBound => "pair_bound",
    }
}

/// The names of the statistics of every [`CellSummary`] (the CSV columns `<name>_mean`,
/// `<name>_sd`), in column order.
pub fn stat_names() -> Vec<&'static str> {
    let empty = CellRecord {
        ix: 0,
        iy: 0,
        x: AxisValue::Number(0.0),
        y: None,
        reps: Vec::new(),
    };
    empty
        .summary()
        .stats
        .iter()
        .map(|(name, _)| *name)
        .collect()
}

impl CellRecord {
    /// Statistics over the repetitions.
    pub fn summary(&self) -> CellSummary {
        let reps = &self.reps;
        let frac = |f: &dyn Fn(&RepRecord) -> bool| {
            reps.iter().filter(|r| f(r)).count() as f64 / reps.len() as f64
        };
        let stat = |f: &dyn Fn(&RepRecord) -> f64| Stat::of(reps.iter().map(f));
        let pred = |f: &dyn Fn(&Prediction) -> f64| {
            Stat::of(
                reps.iter()
                    .map(|r| r.prediction.as_ref().map_or(f64::NAN, f)),
            )
        };
        let stats = vec![
            ("forget_loss", stat(&|r| r.outcome.last.forget_loss)),
            ("retain_loss", stat(&|r| r.outcome.last.retain_loss)),
            ("test_loss", stat(&|r| r.outcome.last.test_loss)),
            ("forget_accuracy", stat(&|r| r.outcome.last.forget_accuracy)),
            ("retain_accuracy", stat(&|r| r.outcome.last.retain_accuracy)),
            ("test_accuracy", stat(&|r| r.outcome.last.test_accuracy)),
            ("distance", stat(&|r| r.outcome.last.distance)),
            (
                "relative_distance",
                stat(&|r| r.outcome.last.distance / r.start_norm),
            ),
            (
                "retrain_distance",
                stat(&|r| r.outcome.last.retrain_distance),
            ),
            (
                "forget_loss_gap",
                stat(&|r| r.outcome.last.forget_loss - r.retrained.forget_loss),
            ),
            ("mia_auc", stat(&|r| r.outcome.last.mia_auc)),
            ("steps", stat(&|r| r.outcome.steps as f64)),
            (
                "diverged_at",
                Stat::of(
                    reps.iter()
                        .filter_map(|r| r.outcome.diverged_at.map(|k| k as f64)),
                ),
            ),
            (
                "escaped_at",
                Stat::of(
                    reps.iter()
                        .filter_map(|r| r.outcome.escaped_at.map(|k| k as f64)),
                ),
            ),
            ("start_norm", stat(&|r| r.start_norm)),
            ("start_forget_loss", stat(&|r| r.start.forget_loss)),
            ("start_mia_auc", stat(&|r| r.start.mia_auc)),
            ("retrained_forget_loss", stat(&|r| r.retrained.forget_loss)),
            ("retrained_mia_auc", stat(&|r| r.retrained.mia_auc)),
            (
                "retrained_retain_accuracy",
                stat(&|r| r.retrained.retain_accuracy),
            ),
            (
                "residual_grad_norm",
                stat(&|r| r.residual_grad_norm.unwrap_or(f64::NAN)),
            ),
            ("rho", pred(&|p| p.rho)),
            ("gamma", pred(&|p| p.gamma)),
            ("lambda_min_h_alpha", pred(&|p| p.lambda_min_h_alpha)),
            ("lambda_max_h_alpha", pred(&|p| p.lambda_max_h_alpha)),
            ("sigma_u", pred(&|p| p.sigma_u)),
        ];
        let predicted = RULES
            .iter()
            .map(|&rule| {
                let f = if reps.iter().all(|r| r.prediction.is_some()) {
                    frac(&|r| r.prediction.as_ref().is_some_and(|p| p.diverges(rule)))
                } else {
                    f64::NAN
                };
                (rule, f)
            })
            .collect();
        CellSummary {
            x: self.x.clone(),
            y: self.y.clone(),
            reps: reps.len(),
            deletion: frac(&|r| r.outcome.success.deletion),
            escape: frac(&|r| r.outcome.success.escape),
            useful: frac(&|r| r.outcome.success.useful),
            diverged: frac(&|r| r.outcome.diverged_at.is_some()),
            stats,
            predicted,
        }
    }
}
