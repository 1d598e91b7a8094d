//! What a grid cell stores: every repetition's run outcome, the measured start and retrain
//! reference, and the predicted verdicts. One cell is one file of the cache.

use serde::{Deserialize, Serialize};

use super::config::AxisValue;
use crate::outcome::Snapshot;
use crate::predict::Prediction;
use crate::run::RunOutcome;

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
    /// The predicted verdicts (when enabled).
    pub prediction: Option<Prediction>,
    /// ‖(1/n)Σ∇ℓ_i(w*)‖ (when predictions are enabled).
    pub residual_grad_norm: Option<f64>,
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
