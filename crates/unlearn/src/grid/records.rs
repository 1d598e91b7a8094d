//! What a grid cell stores: every repetition's run outcome, the measured start and retrain
//! reference, the state of the pre-trained model at w*, and the predictions. One cell is one
//! file of the cache.

use frontier_model::TrainReport;
use serde::{Deserialize, Serialize};

use super::config::AxisValue;
use crate::escape::EscapeInputs;
use crate::outcome::Snapshot;
use crate::predict::Prediction;
use crate::run::RunOutcome;

/// The pre-trained model at w*: how pre-training ended, and the residual gradients that the
/// zero-gradient linearisation ignores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtOptimum {
    /// Pre-training steps.
    pub pretrain_steps: usize,
    /// Mean training loss at w* (nats).
    #[serde(with = "crate::cache::lossless")]
    pub training_loss: f64,
    /// Mean forget loss at w* (nats).
    #[serde(with = "crate::cache::lossless")]
    pub forget_loss: f64,
    /// ‖(1/n) Σ_i ∇ℓ_i(w*)‖, the full gradient.
    #[serde(with = "crate::cache::lossless")]
    pub full_grad_norm: f64,
    /// ‖∇L_R(w*)‖.
    #[serde(with = "crate::cache::lossless")]
    pub retain_grad_norm: f64,
    /// ‖∇L_F(w*)‖.
    #[serde(with = "crate::cache::lossless")]
    pub forget_grad_norm: f64,
    /// max_i ‖∇ℓ_i(w*)‖.
    #[serde(with = "crate::cache::lossless")]
    pub max_sample_grad_norm: f64,
    /// cos(∇L_R, ∇L_F) (NaN without predictions).
    #[serde(with = "crate::cache::lossless")]
    pub grad_cos: f64,
    /// α_drift: below it the mean unlearning step lowers the forget loss (NaN without
    /// predictions).
    #[serde(with = "crate::cache::lossless")]
    pub alpha_drift: f64,
}

impl AtOptimum {
    /// From the pre-training report and, when measured, the escape rule's inputs.
    pub fn new(report: &TrainReport, escape: Option<&EscapeInputs>) -> AtOptimum {
        AtOptimum {
            pretrain_steps: report.steps,
            training_loss: report.final_loss,
            forget_loss: report.forget_loss,
            full_grad_norm: report.full_grad_norm,
            retain_grad_norm: report.retain_grad_norm,
            forget_grad_norm: report.forget_grad_norm,
            max_sample_grad_norm: report.max_sample_grad_norm,
            grad_cos: escape.map_or(f64::NAN, |e| e.grad_cos),
            alpha_drift: escape.map_or(f64::NAN, |e| e.alpha_drift),
        }
    }
}

/// One repetition of one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepRecord {
    /// The run.
    pub outcome: RunOutcome,
    /// The model at w*, measured.
    pub start: Snapshot,
    /// The retrain reference, measured.
    pub retrained: Snapshot,
    /// ‖w*‖.
    pub start_norm: f64,
    /// Whether pre-training reached its loss tolerance.
    pub pretrain_converged: bool,
    /// The model at w*.
    pub at_optimum: AtOptimum,
    /// The predictions (when enabled and possible).
    pub prediction: Option<Prediction>,
}

/// Every repetition of one cell: what a cell file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// Column.
    pub ix: usize,
    /// Row (0 without a y axis).
    pub iy: usize,
    /// x value.
    pub x: AxisValue,
    /// y value (`None` without a y axis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<AxisValue>,
    /// The repetitions, in order.
    pub reps: Vec<RepRecord>,
}
