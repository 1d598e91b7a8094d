//! Per-cell statistics over the repetitions: the fraction of runs meeting each success
//! criterion, mean ± sd of every outcome, of the model at w* and of every predicted number,
//! and the fraction of repetitions each rule predicts to escape. One summary is one CSV row.
//!
//! A cell's verdict under a rule ([`CellSummary::verdict`]) is the majority of its
//! repetitions that have one: escape when more than half predict escape; for γ_∞,
//! undetermined when at least half are undetermined and fewer than half escape; stable
//! otherwise.

use frontier_common::{Field, Stat};
use frontier_stability::{Rule, Verdict};
use serde::{Deserialize, Serialize};

use super::config::AxisValue;
use super::records::{CellRecord, RepRecord};
use crate::predict::Prediction;

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
    /// Per rule, in [`Rule::ALL`] order: the fraction of the repetitions with a verdict that
    /// predict escape, and the fraction that are undetermined (NaN for a rule without any
    /// verdict, e.g. without predictions).
    pub predicted: Vec<(Rule, f64, f64)>,
}

impl CellSummary {
    /// The statistic named `name` (see the CSV header; e.g. "retain_accuracy", "mia_auc").
    pub fn stat(&self, name: &str) -> Stat {
        self.stats
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Stat::MISSING, |(_, s)| *s)
    }

    /// The fraction of repetitions (with a verdict) predicting escape under `rule`.
    pub fn predicted(&self, rule: Rule) -> f64 {
        self.predicted
            .iter()
            .find(|(r, ..)| *r == rule)
            .map_or(f64::NAN, |(_, f, _)| *f)
    }

    /// The cell's verdict under `rule`: the majority of the repetitions with one (see the
    /// module docs); `None` when no repetition has one.
    pub fn verdict(&self, rule: Rule) -> Option<Verdict> {
        let (_, escape, undetermined) = *self.predicted.iter().find(|(r, ..)| *r == rule)?;
        if escape.is_nan() {
            return None;
        }
        Some(if escape > 0.5 {
            Verdict::Escape
        } else if undetermined >= 0.5 {
            Verdict::Undetermined
        } else {
            Verdict::Stable
        })
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
        for (rule, escape, undetermined) in &self.predicted {
            out.push((format!("predicted_{}_fraction", rule.name()), *escape));
            if *rule == Rule::Asymptotic {
                out.push((
                    format!("{}_undetermined_fraction", rule.name()),
                    *undetermined,
                ));
            }
        }
        out.into_iter()
            .map(|(n, v)| (n, Field::Number(v)))
            .collect()
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
        // A predicted number over the repetitions that have it (NaN: not computed).
        let pred = |f: &dyn Fn(&Prediction) -> f64| {
            Stat::of(
                reps.iter()
                    .filter_map(|r| r.prediction.as_ref().map(f))
                    .filter(|v| !v.is_nan()),
            )
        };
        let at =
            |f: &dyn Fn(&RepRecord) -> f64| Stat::of(reps.iter().map(f).filter(|v| !v.is_nan()));
        let when = |k: &dyn Fn(&RepRecord) -> Option<usize>| {
            Stat::of(reps.iter().filter_map(|r| k(r).map(|k| k as f64)))
        };
        let last = |f: fn(&crate::outcome::Snapshot) -> f64| stat(&|r| f(&r.outcome.last));
        let stats = vec![
            ("forget_loss", last(|s| s.forget_loss)),
            ("retain_loss", last(|s| s.retain_loss)),
            ("test_loss", last(|s| s.test_loss)),
            ("forget_accuracy", last(|s| s.forget_accuracy)),
            ("retain_accuracy", last(|s| s.retain_accuracy)),
            ("test_accuracy", last(|s| s.test_accuracy)),
            ("distance", last(|s| s.distance)),
            (
                "relative_distance",
                stat(&|r| r.outcome.last.distance / r.start_norm),
            ),
            ("retrain_distance", last(|s| s.retrain_distance)),
            (
                "forget_loss_gap",
                stat(&|r| r.outcome.last.forget_loss - r.retrained.forget_loss),
            ),
            ("mia_auc", last(|s| s.mia_auc)),
            ("attack_strength", last(|s| s.attack_strength)),
            ("forget_quality", last(|s| s.forget_quality)),
            ("output_distance", last(|s| s.output_distance)),
            ("steps", stat(&|r| r.outcome.steps as f64)),
            ("diverged_at", when(&|r| r.outcome.diverged_at)),
            ("escaped_at", when(&|r| r.outcome.escaped_at)),
            ("start_norm", stat(&|r| r.start_norm)),
            ("start_forget_loss", stat(&|r| r.start.forget_loss)),
            ("start_attack_strength", stat(&|r| r.start.attack_strength)),
            ("retrained_forget_loss", stat(&|r| r.retrained.forget_loss)),
            (
                "retrained_attack_strength",
                stat(&|r| r.retrained.attack_strength),
            ),
            (
                "retrained_retain_accuracy",
                stat(&|r| r.retrained.retain_accuracy),
            ),
            (
                "pretrain_steps",
                stat(&|r| r.at_optimum.pretrain_steps as f64),
            ),
            ("training_loss", stat(&|r| r.at_optimum.training_loss)),
            ("residual_grad_norm", stat(&|r| r.at_optimum.full_grad_norm)),
            ("retain_grad_norm", stat(&|r| r.at_optimum.retain_grad_norm)),
            ("forget_grad_norm", stat(&|r| r.at_optimum.forget_grad_norm)),
            (
                "max_sample_grad_norm",
                stat(&|r| r.at_optimum.max_sample_grad_norm),
            ),
            ("grad_cos", at(&|r| r.at_optimum.grad_cos)),
            ("alpha_drift", at(&|r| r.at_optimum.alpha_drift)),
            ("rho", pred(&|p| p.rho)),
            ("lambda_min_h_alpha", pred(&|p| p.lambda_min_h_alpha)),
            ("lambda_max_h_alpha", pred(&|p| p.lambda_max_h_alpha)),
            ("sigma_u", pred(&|p| p.sigma_u)),
            ("gamma_inf", pred(&|p| p.gamma_inf)),
            ("growth_within_k", pred(&|p| p.growth_within_k)),
            ("escape_steps_predicted", pred(&|p| p.escape_steps)),
            ("kappa", pred(&|p| p.kappa)),
            ("shape_factor", pred(&|p| p.shape_factor)),
        ];
        let predicted = Rule::ALL
            .iter()
            .map(|&rule| {
                let verdicts: Vec<Verdict> = reps
                    .iter()
                    .filter_map(|r| r.prediction.as_ref()?.verdicts.get(rule))
                    .collect();
                let share = |v: Verdict| {
                    verdicts.iter().filter(|&&x| x == v).count() as f64 / verdicts.len() as f64
                };
                (rule, share(Verdict::Escape), share(Verdict::Undetermined))
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
