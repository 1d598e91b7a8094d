//! The start of every unlearning run: the data on the device, the pre-trained model at w*,
//! the retrain reference, and both measured.

use burn::tensor::Device;
use frontier_model::{
    CnnConfig, DataConfig, Dataset, DeviceData, Loss, Model, ModelSpec, Precision, TrainConfig,
    TrainReport, TrainRun, pretrain, pretrain_many,
};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::mia::null_strength_95;
use crate::outcome::{Anchors, Retrained, Snapshot, norm};
use crate::retrain::{Reference, retain_only};
use crate::seeds;

/// How to build a setup: data, model (any [`ModelSpec`]; the CNN by default), pre-training and
/// the float precision.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    bound(serialize = "C: Serialize", deserialize = "C: ModelSpec")
)]
pub struct SetupConfig<C = CnnConfig> {
    /// The signal-plus-noise data (n, d, P, SNR, forget set, …).
    pub data: DataConfig,
    /// The model's config (e.g. the CNN's m, σ_0, init seed).
    pub model: C,
    /// Pre-training (loss, η, step budget, loss tolerance); also used for the retrain reference.
    pub pretrain: TrainConfig,
    /// Float precision of the model's tensors.
    pub precision: Precision,
}

impl<C: ModelSpec> SetupConfig<C> {
    /// The config of repetition `rep` under master seed `seed`: the data and init seeds are
    /// derived from (seed, rep), so they are shared by every cell of a grid that does not
    /// change the data (common random numbers across B, α, η and SNR).
    pub fn seeded(&self, seed: u64, rep: usize) -> SetupConfig<C> {
        let mut out = self.clone();
        out.data.seed = seeds::derive(seed, rep as u64, seeds::DATA);
        out.model = self
            .model
            .with_seed(seeds::derive(seed, rep as u64, seeds::INIT));
        out
    }

    /// A freshly initialised model (before pre-training) on `device`.
    pub fn init(&self, device: &Device) -> Result<C::Model> {
        Ok(self.model.init(&self.data, device, self.precision)?)
    }

    /// Generates the data, initialises the model and builds the [`Setup`] on `device`.
    pub fn prepare(&self, device: &Device) -> Result<Setup<C::Model>> {
        let data = Dataset::generate(&self.data)?;
        Setup::new(
            self.init(device)?,
            &data,
            &self.pretrain,
            device,
            self.precision,
        )
    }

    /// [`SetupConfig::prepare`] for every config of `configs` (one loss, precision and model
    /// shape), with all pre-training (each w* and each retrain reference) advancing together
    /// through [`pretrain_many`]: a few batched kernels per step instead of 2·len small runs.
    /// The setups equal [`SetupConfig::prepare`]'s up to the summation order of the batched
    /// kernels. In the order of `configs`.
    pub fn prepare_many(
        configs: &[SetupConfig<C>],
        device: &Device,
    ) -> Result<Vec<Setup<C::Model>>> {
        let mut inits = Vec::with_capacity(configs.len());
        let (mut full, mut retain) = (Vec::new(), Vec::new());
        for cfg in configs {
            let data = Dataset::generate(&cfg.data)?;
            full.push(DeviceData::new(&data, device, cfg.precision));
            retain.push(DeviceData::new(&retain_only(&data), device, cfg.precision));
            inits.push(cfg.init(device)?);
        }
        let mut runs = Vec::with_capacity(2 * configs.len());
        for (i, cfg) in configs.iter().enumerate() {
            for data in [&full[i], &retain[i]] {
                runs.push(TrainRun {
                    model: inits[i].clone(),
                    data,
                    config: &cfg.pretrain,
                });
            }
        }
        let mut trained = pretrain_many(runs)?.into_iter();
        Ok(configs
            .iter()
            .zip(inits)
            .zip(full)
            .map(|((cfg, init), data)| {
                let at_start = trained.next().expect("two runs per setup");
                let (model, report) = trained.next().expect("two runs per setup");
                let reference = Reference {
                    params: model.params(),
                    report,
                };
                Setup::assemble(init, data, cfg.pretrain.loss, at_start, reference)
            })
            .collect())
    }
}

/// A pre-trained model at w* with its data and retrain reference.
#[derive(Debug, Clone)]
pub struct Setup<M> {
    /// The loss of pre-training and unlearning.
    pub loss: Loss,
    /// The data on the device (training rows in their original order, forget mask).
    pub data: DeviceData,
    /// The model at w*.
    pub model: M,
    /// w* and the retrain reference's parameters, \[p\] each.
    pub anchors: Anchors,
    /// ‖w*‖.
    pub start_norm: f64,
    /// Pre-training on all n training samples.
    pub pretrain: TrainReport,
    /// The retrain reference (trained on R alone from the same initialisation).
    pub reference: Reference,
    /// The model at w*, measured.
    pub start: Snapshot,
    /// The retrain reference, measured (its `forget_loss` is the level of the
    /// forget-loss criterion).
    pub retrained: Snapshot,
    /// The 95 % quantile of the MIA attack strength when forget and test losses come from
    /// one distribution, for this setup's forget and test sizes ([`null_strength_95`]): the
    /// default deletion level (NaN without forget or test samples).
    pub attack_strength_null: f64,
}

impl<M: Model> Setup<M> {
    /// Pre-trains a copy of `init` on all of `data` (→ w*) and another on its retain rows
    /// (→ the reference), both with `train`, and measures both.
    pub fn new(
        init: M,
        data: &Dataset,
        train: &TrainConfig,
        device: &Device,
        precision: Precision,
    ) -> Result<Setup<M>> {
        let device_data = DeviceData::new(data, device, precision);
        let mut model = init.clone();
        let report = pretrain(&mut model, &device_data, train)?;
        let reference = Reference::retrain(&init, data, train, device, precision)?;
        Ok(Setup::assemble(
            init,
            device_data,
            train.loss,
            (model, report),
            reference,
        ))
    }

    /// The setup of a model pre-trained on `data` (`trained`: the model at w* and its report)
    /// with its retrain reference, both measured; `init` is their shared initialisation.
    pub fn assemble(
        init: M,
        device_data: DeviceData,
        loss: Loss,
        (model, report): (M, TrainReport),
        reference: Reference,
    ) -> Setup<M> {
        let mut retrained_model = init;
        retrained_model.set_params(reference.params.clone());
        let anchors = Anchors {
            start: model.params(),
            retrain: reference.params.clone(),
            retrained: Retrained::measure(&retrained_model, loss, &device_data),
        };
        let start = Snapshot::measure(&model, loss, &device_data, &anchors, 0);
        let retrained = Snapshot::measure(&retrained_model, loss, &device_data, &anchors, 0);
        let n_forget = device_data.forget.iter().filter(|&&f| f).count();
        Setup {
            attack_strength_null: null_strength_95(n_forget, device_data.y_test.dims()[0]),
            loss,
            start_norm: norm(anchors.start.clone()),
            data: device_data,
            model,
            anchors,
            pretrain: report,
            reference,
            start,
            retrained,
        }
    }
}
