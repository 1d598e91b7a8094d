//! What is measured along an unlearning run: one [`Snapshot`] per record.

use burn::tensor::Tensor;
use frontier_model::{DeviceData, Loss, Model, to_f64};
use serde::{Deserialize, Serialize};

use crate::ks::ks_test;
use crate::mia::{attack_strength, auc};

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
    /// Loss-threshold membership-inference AUC, forget vs test samples (0.5 = unseen-like;
    /// below 0.5 reveals membership too, see `attack_strength`).
    #[serde(with = "crate::cache::lossless")]
    pub mia_auc: f64,
    /// max(AUC, 1 − AUC) ∈ [0.5, 1]: what an attacker who picks the threshold's direction
    /// achieves.
    #[serde(with = "crate::cache::lossless")]
    pub attack_strength: f64,
    /// Forget quality: the p-value of the two-sample Kolmogorov–Smirnov test between the
    /// forget-sample losses of this model and of the retrained model (high = indistinguishable
    /// from never having seen F), see [`crate::ks`].
    #[serde(with = "crate::cache::lossless")]
    pub forget_quality: f64,
    /// Output-space distance to the retrained model: mean over test inputs of
    /// |f(x) − f_retrain(x)| (score units; NaN without test data).
    #[serde(with = "crate::cache::lossless")]
    pub output_distance: f64,
}

/// What a snapshot is measured against: w* and the retrained model.
#[derive(Debug, Clone)]
pub struct Anchors {
    /// w*, the pre-trained parameters, \[p\].
    pub start: Tensor<1>,
    /// The retrain reference's parameters, \[p\].
    pub retrain: Tensor<1>,
    /// The retrained model on the host: its forget-sample losses (forget rows in data order)
    /// and its test margins y·f (test rows in order).
    pub retrained: Retrained,
}

/// The retrained model's per-sample outputs a snapshot compares with, computed once per
/// setup.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrained {
    /// Loss of each forget sample (nats), forget rows in data order.
    pub forget_losses: Vec<f64>,
    /// Margin y·f of each test sample.
    pub test_margins: Vec<f64>,
}

impl Retrained {
    /// The retrained model's outputs from its per-sample results on the training rows
    /// (split by `forget`) and on the test rows.
    pub(crate) fn from_samples(forget: &[bool], train: &Samples, test: &Samples) -> Retrained {
        Retrained {
            forget_losses: pick(&train.loss, forget, true),
            test_margins: test.margin.clone(),
        }
    }

    /// Measures the retrained `model` on `data`.
    pub fn measure<M: Model>(model: &M, loss: Loss, data: &DeviceData) -> Retrained {
        let train = Samples::of(loss, model.scores(data.x.clone()), data.y.clone());
        let test = Samples::of(loss, model.scores(data.x_test.clone()), data.y_test.clone());
        Retrained::from_samples(&data.forget, &train, &test)
    }
}

/// The values of `v` whose `forget` flag equals `member`, in order.
fn pick(v: &[f64], forget: &[bool], member: bool) -> Vec<f64> {
    v.iter()
        .zip(forget)
        .filter(|(_, f)| **f == member)
        .map(|(l, _)| *l)
        .collect()
}

impl Snapshot {
    /// Measures `model` after `step` steps on `data` (training rows split by its forget
    /// mask, test rows), against `anchors`. Two forward passes and a few host reads.
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
            &anchors.retrained,
        )
    }

    /// The snapshot after `step` steps from per-sample results on the training rows
    /// (`train`, split by the `forget` mask) and the test rows, the distances
    /// [‖w − w*‖, ‖w − w_retrain‖] and the retrained model's outputs.
    pub(crate) fn from_samples(
        step: usize,
        forget: &[bool],
        train: &Samples,
        test: &Samples,
        [distance, retrain_distance]: [f64; 2],
        retrained: &Retrained,
    ) -> Snapshot {
        let hits = |h: &[bool]| -> Vec<f64> { h.iter().map(|&b| f64::from(u8::from(b))).collect() };
        let (forget_loss, retain_loss) = (
            pick(&train.loss, forget, true),
            pick(&train.loss, forget, false),
        );
        let train_hits = hits(&train.hit);
        let mia_auc = auc(&forget_loss, &test.loss);
        // |f − f_retrain| = |y·f − y·f_retrain| for labels ±1.
        let output_gaps: Vec<f64> = test
            .margin
            .iter()
            .zip(&retrained.test_margins)
            .map(|(a, b)| (a - b).abs())
            .collect();
        Snapshot {
            step,
            forget_loss: mean(&forget_loss),
            retain_loss: mean(&retain_loss),
            test_loss: mean(&test.loss),
            forget_accuracy: mean(&pick(&train_hits, forget, true)),
            retain_accuracy: mean(&pick(&train_hits, forget, false)),
            test_accuracy: mean(&hits(&test.hit)),
            distance,
            retrain_distance,
            mia_auc,
            attack_strength: attack_strength(mia_auc),
            forget_quality: ks_test(&forget_loss, &retrained.forget_losses).p_value,
            output_distance: mean(&output_gaps),
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
    /// Margin f_i·y_i per sample.
    pub margin: Vec<f64>,
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
            margin: margin.to_vec(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::tests::tiny_setup;
    use frontier_model::Precision;

    /// The deletion metrics of the setup's snapshots against a computation from the two
    /// models' scores: output distance = mean |f_w* − f_retrain| over test inputs, forget
    /// quality = KS p of the two models' forget losses, attack strength = max(AUC, 1 − AUC);
    /// the retrained model measured against itself has quality 1 and distance 0.
    #[test]
    fn deletion_metrics_from_the_two_models_scores() {
        let s = tiny_setup(0.05, Precision::F64);
        let mut retrained = s.model.clone();
        retrained.set_params(s.anchors.retrain.clone());
        let scores = |m: &frontier_model::Cnn, x: &Tensor<3>| to_f64(m.scores(x.clone()));
        let (f, g) = (
            scores(&s.model, &s.data.x_test),
            scores(&retrained, &s.data.x_test),
        );
        let distance = f.iter().zip(&g).map(|(a, b)| (a - b).abs()).sum::<f64>() / f.len() as f64;
        let forget_losses = |m: &frontier_model::Cnn| {
            let all = to_f64(s.loss.values(m.scores(s.data.x.clone()), s.data.y.clone()));
            pick(&all, &s.data.forget, true)
        };
        let quality = ks_test(&forget_losses(&s.model), &forget_losses(&retrained)).p_value;
        for (name, rust, reference) in [
            ("output_distance", s.start.output_distance, distance),
            ("forget_quality", s.start.forget_quality, quality),
            (
                "attack_strength",
                s.start.attack_strength,
                s.start.mia_auc.max(1.0 - s.start.mia_auc),
            ),
        ] {
            assert!(
                (rust - reference).abs() <= 1e-12 * reference.abs().max(1.0),
                "{name}: rust={rust}, reference={reference}"
            );
        }
        assert!(
            distance > 0.0 && quality < 1.0,
            "w* differs from the retrained model"
        );
        assert_eq!(
            (s.retrained.forget_quality, s.retrained.output_distance),
            (1.0, 0.0)
        );
    }
}
