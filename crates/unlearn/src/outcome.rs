//! What is measured along an unlearning run: one [`Snapshot`] per record.

use burn::tensor::Tensor;
use frontier_model::{DeviceData, Loss, Model, to_f64};
use serde::{Deserialize, Serialize};

use crate::mia::auc;

/// The state of a model at one step. Losses are means in nats, accuracies fractions in
/// [0, 1], distances Euclidean norms in parameter units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Unlearning steps taken (0 = at w*).
    pub step: usize,
    /// Mean loss on the forget set F.
    #[serde(with = "crate::cache::lossless")]
    pub forget_loss: f64,
    /// Mean loss on the retain set R.
    #[serde(with = "crate::cache::lossless")]
    pub retain_loss: f64,
    /// Mean loss on the held-out test set.
    #[serde(with = "crate::cache::lossless")]
    pub test_loss: f64,
    /// Accuracy on F.
    #[serde(with = "crate::cache::lossless")]
    pub forget_accuracy: f64,
    /// Accuracy on R.
    #[serde(with = "crate::cache::lossless")]
    pub retain_accuracy: f64,
    /// Accuracy on the test set.
    #[serde(with = "crate::cache::lossless")]
    pub test_accuracy: f64,
    /// ‖w − w*‖.
    #[serde(with = "crate::cache::lossless")]
    pub distance: f64,
    /// ‖w − w_retrain‖: distance to the retrain reference.
    #[serde(with = "crate::cache::lossless")]
    pub retrain_distance: f64,
    /// Loss-threshold membership-inference AUC, forget vs test samples (0.5 = unseen-like).
    #[serde(with = "crate::cache::lossless")]
    pub mia_auc: f64,
}

/// The two parameter vectors distances are measured from, each [p].
#[derive(Debug, Clone)]
pub struct Anchors {
    /// w*, the pre-trained parameters.
    pub start: Tensor<1>,
    /// The retrain reference's parameters.
    pub retrain: Tensor<1>,
}

impl Snapshot {
    /// Measures `model` after `step` steps on `data` (training rows split by its forget
    /// mask, test rows), distances from `anchors`. Two forward passes and two host reads.
    pub fn measure<M: Model>(
        model: &M,
        loss: Loss,
        data: &DeviceData,
        anchors: &Anchors,
        step: usize,
    ) -> Snapshot {
        let per_sample = |x: &Tensor<3>, y: &Tensor<1>| {
            let f = model.scores(x.clone());
            let l = to_f64(loss.values(f.clone(), y.clone()));
            let hit: Vec<bool> = to_f64(f)
                .iter()
                .zip(to_f64(y.clone()))
                .map(|(f, y)| f * y > 0.0)
                .collect();
            (l, hit)
        };
        let (train_loss, train_hit) = per_sample(&data.x, &data.y);
        let (test_loss, test_hit) = per_sample(&data.x_test, &data.y_test);
        let pick = |v: &[f64], member: bool| -> Vec<f64> {
            v.iter()
                .zip(&data.forget)
                .filter(|(_, f)| **f == member)
                .map(|(l, _)| *l)
                .collect()
        };
        let hits = |h: &[bool]| -> Vec<f64> { h.iter().map(|&b| f64::from(u8::from(b))).collect() };
        let (forget_loss, retain_loss) = (pick(&train_loss, true), pick(&train_loss, false));
        let train_hits = hits(&train_hit);
        let w = model.params();
        Snapshot {
            step,
            forget_loss: mean(&forget_loss),
            retain_loss: mean(&retain_loss),
            test_loss: mean(&test_loss),
            forget_accuracy: mean(&pick(&train_hits, true)),
            retain_accuracy: mean(&pick(&train_hits, false)),
            test_accuracy: mean(&hits(&test_hit)),
            distance: norm(w.clone() - anchors.start.clone()),
            retrain_distance: norm(w - anchors.retrain.clone()),
            mia_auc: auc(&forget_loss, &test_loss),
        }
    }

    /// Whether every number is finite (a run with a non-finite snapshot has diverged).
    pub fn is_finite(&self) -> bool {
        [
            self.forget_loss,
            self.retain_loss,
            self.test_loss,
            self.distance,
            self.retrain_distance,
        ]
        .iter()
        .all(|v| v.is_finite())
    }
}

/// ‖v‖₂ of a [p] tensor, on the host.
pub(crate) fn norm(v: Tensor<1>) -> f64 {
    to_f64(v.powi_scalar(2).sum())[0].sqrt()
}

/// Arithmetic mean; NaN for an empty slice.
fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}
