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

/// The two parameter vectors distances are measured from, each \[p\].
#[derive(Debug, Clone)]
pub struct Anchors {
    /// w*, the pre-trained parameters.
    pub start: Tensor<1>,
    /// The retrain reference's parameters.
    pub retrain: Tensor<1>,
}

impl Snapshot {
    /// Measures `model` after `step` steps on `data` (training rows split by its forget
    /// mask, test rows), distances from `anchors`. Two forward passes and a few host reads.
    pub fn measure<M: Model>(
        model: &M,
        loss: Loss,
        data: &DeviceData,
        anchors: &Anchors,
        step: usize,
    ) -> Snapshot {
        let train = Samples::of(loss, model.scores(data.x.clone()), data.y.clone());
        let test = Samples::of(loss, model.scores(data.x_test.clone()), data.y_test.clone());
        let w = model.params();
        let distance = norm(w.clone() - anchors.start.clone());
        let retrain_distance = norm(w - anchors.retrain.clone());
        Snapshot::from_samples(
            step,
            &data.forget,
            &train,
            &test,
            [distance, retrain_distance],
        )
    }

    /// The snapshot after `step` steps from per-sample results on the training rows
    /// (`train`, split by the `forget` mask) and the test rows, and the distances
    /// [‖w − w*‖, ‖w − w_retrain‖].
    pub(crate) fn from_samples(
        step: usize,
        forget: &[bool],
        train: &Samples,
        test: &Samples,
        [distance, retrain_distance]: [f64; 2],
    ) -> Snapshot {
        let pick = |v: &[f64], member: bool| -> Vec<f64> {
            v.iter()
                .zip(forget)
                .filter(|(_, f)| **f == member)
                .map(|(l, _)| *l)
                .collect()
        };
        let hits = |h: &[bool]| -> Vec<f64> { h.iter().map(|&b| f64::from(u8::from(b))).collect() };
        let (forget_loss, retain_loss) = (pick(&train.loss, true), pick(&train.loss, false));
        let train_hits = hits(&train.hit);
        Snapshot {
            step,
            forget_loss: mean(&forget_loss),
            retain_loss: mean(&retain_loss),
            test_loss: mean(&test.loss),
            forget_accuracy: mean(&pick(&train_hits, true)),
            retain_accuracy: mean(&pick(&train_hits, false)),
            test_accuracy: mean(&hits(&test.hit)),
            distance,
            retrain_distance,
            mia_auc: auc(&forget_loss, &test.loss),
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

/// Per-sample results on a set of samples, on the host.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Samples {
    /// Loss ℓ(f_i, y_i) per sample (nats).
    pub loss: Vec<f64>,
    /// Whether sample i is classified correctly (f_i·y_i > 0).
    pub hit: Vec<bool>,
}

impl Samples {
    /// From scores f and labels y, both [N]: the losses computed on the device in the
    /// tensors' precision, one host read.
    pub(crate) fn of(loss: Loss, f: Tensor<1>, y: Tensor<1>) -> Samples {
        let n = y.dims()[0];
        let values = to_f64(Tensor::cat(Samples::on_device(loss, f, y).to_vec(), 0));
        Samples::from_parts(&values[..n], &values[n..])
    }

    /// The device side of [`Samples::of`] for scores f and labels y, both [N]:
    /// [ℓ(f_i, y_i), f_i·y_i], each \[N\] (read them back, in one read with others, and hand
    /// them to [`Samples::from_parts`]).
    pub(crate) fn on_device(loss: Loss, f: Tensor<1>, y: Tensor<1>) -> [Tensor<1>; 2] {
        [loss.values(f.clone(), y.clone()), f * y]
    }

    /// From host losses and margins f_i·y_i (sample i is a hit when its margin is > 0).
    pub(crate) fn from_parts(loss: &[f64], margin: &[f64]) -> Samples {
        Samples {
            loss: loss.to_vec(),
            hit: margin.iter().map(|&m| m > 0.0).collect(),
        }
    }
}

/// ‖v‖₂ of a \[p\] tensor, on the host.
pub(crate) fn norm(v: Tensor<1>) -> f64 {
    to_f64(v.powi_scalar(2).sum())[0].sqrt()
}

/// ‖v_r‖₂ of each row of a [R, p] tensor, on the host (one read).
pub(crate) fn row_norms(v: Tensor<2>) -> Vec<f64> {
    to_f64(v.powi_scalar(2).sum_dim(1))
        .into_iter()
        .map(f64::sqrt)
        .collect()
}

/// Arithmetic mean; NaN for an empty slice.
fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}
