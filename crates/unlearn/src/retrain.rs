//! The retrain reference: the same model, from the same initialisation, trained on the
//! retain set R alone with the same pre-training settings. It is what "deleted" means: its
//! forget-set loss is the level a successful unlearning run must reach.

use burn::tensor::{Device, Tensor};
use frontier_model::{Dataset, DeviceData, Model, Precision, TrainConfig, TrainReport, pretrain};

use crate::error::Result;

/// The retrained model's parameters and how its training went.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Its parameters w_retrain, \[p\].
    pub params: Tensor<1>,
    /// Its pre-training report (on R alone).
    pub report: TrainReport,
}

impl Reference {
    /// Trains a copy of `init` on the retain rows of `data` (those with `forget == false`)
    /// with `train`, on `device` in `precision`.
    pub fn retrain<M: Model>(
        init: &M,
        data: &Dataset,
        train: &TrainConfig,
        device: &Device,
        precision: Precision,
    ) -> Result<Reference> {
        let retain = retain_only(data);
        let mut model = init.clone();
        let report = pretrain(
            &mut model,
            &DeviceData::new(&retain, device, precision),
            train,
        )?;
        Ok(Reference {
            params: model.params(),
            report,
        })
    }
}

/// The data set restricted to its retain rows (test data unchanged, no forget rows).
pub fn retain_only(data: &Dataset) -> Dataset {
    let stride = data.patches * data.d;
    let keep: Vec<usize> = (0..data.n()).filter(|&i| !data.forget[i]).collect();
    Dataset {
        x: keep
            .iter()
            .flat_map(|&i| data.x[i * stride..(i + 1) * stride].iter().copied())
            .collect(),
        y: keep.iter().map(|&i| data.y[i]).collect(),
        forget: vec![false; keep.len()],
        ..data.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontier_model::DataConfig;

    #[test]
    fn retain_only_keeps_the_retain_rows_in_order() {
        let data = Dataset::generate(&DataConfig {
            n: 9,
            n_test: 3,
            d: 4,
            n_forget: 3,
            ..DataConfig::default()
        })
        .unwrap();
        let r = retain_only(&data);
        assert_eq!(r.n(), 6);
        assert!(r.forget.iter().all(|f| !f));
        let stride = 2 * 4;
        for (k, i) in (0..9).filter(|&i| !data.forget[i]).enumerate() {
            assert_eq!(r.y[k], data.y[i]);
            assert_eq!(
                &r.x[k * stride..(k + 1) * stride],
                &data.x[i * stride..(i + 1) * stride]
            );
        }
        assert_eq!(r.x_test, data.x_test);
    }
}
