//! Where a run's data comes from: the signal-plus-noise generator or a data file with a forget
//! kind ([`DataSource`], the `[data]` section), and the prepared data set with its recorded
//! forget set ([`Prepared`]).
//!
//! Everything random (the test split, the forget choice, the cross-fitting folds) is drawn
//! from streams derived from the source's seed, so one source and seed give one data set.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::data::{DataConfig, Dataset};
use crate::error::{Result, invalid};
use crate::file_data::{FileContents, FileData, Split};
use crate::forget::{
    ForgetKind, ForgetSet, class_indices, fold_assignment, largest, random_indices,
};
use crate::model::Model;
use crate::spec::ModelSpec;
use crate::tensor::{Precision, to_f64};
use crate::tensor_file::TensorFile;
use crate::train::{DeviceData, TrainConfig, TrainRun, pretrain_many};

/// The data of a run (`[data]`; `source` selects the variant, "synthetic" by default in
/// config files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum DataSource {
    /// Signal-plus-noise data drawn from a seed.
    Synthetic(DataConfig),
    /// A safetensors data file and how to use it.
    File(FileData),
}

impl Default for DataSource {
    fn default() -> Self {
        DataSource::Synthetic(DataConfig::default())
    }
}

/// Purposes of the random streams derived from a file source's seed.
const SPLIT: u64 = 0x5b11;
const FORGET: u64 = 0xf0e7;
const FOLDS: u64 = 0xf01d;

/// A seed for one purpose, derived from `seed` (SplitMix64 finaliser of a mix of both).
fn stream(seed: u64, purpose: u64) -> u64 {
    let mut z = seed ^ purpose.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl DataSource {
    /// Checks the fields that do not need the data (a file is checked when prepared).
    pub fn validate(&self) -> Result<()> {
        match self {
            DataSource::Synthetic(c) => c.validate(),
            DataSource::File(f) => f.validate(),
        }
    }

    /// The same source with its seed (data draw, or split and forget choice) replaced.
    pub fn with_seed(&self, seed: u64) -> Self {
        match self {
            DataSource::Synthetic(c) => DataSource::Synthetic(DataConfig { seed, ..c.clone() }),
            DataSource::File(f) => DataSource::File(FileData { seed, ..f.clone() }),
        }
    }

    /// The data set with its forget set. The atypical forget kind pre-trains `folds` models
    /// of `spec` with `train` (together, through [`pretrain_many`]) on `device` in
    /// `precision`; no other kind uses them.
    pub fn prepare<C: ModelSpec>(
        &self,
        spec: &C,
        train: &TrainConfig,
        device: &Device,
        precision: Precision,
    ) -> Result<Prepared> {
        match self {
            DataSource::Synthetic(c) => {
                let data = Dataset::generate(c)?;
                let indices = (0..data.n()).filter(|&i| data.forget[i]).collect();
                Ok(Prepared {
                    forget: ForgetSet::new(ForgetKind::Random, indices),
                    data,
                    image: None,
                    classes: None,
                })
            }
            DataSource::File(f) => {
                f.validate()?;
                let file = TensorFile::open(&f.path)?;
                let contents = FileContents::read(&file, f.binary)?;
                let cross_fit = CrossFit {
                    spec,
                    train,
                    device,
                    precision,
                };
                prepare_file(f, &file, contents, &cross_fit)
            }
        }
    }
}

/// A data set ready for pre-training, with its forget set recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Inputs [n, P, d], ±1 labels (those of a mislabelled forget set flipped), the forget
    /// mask, and the test set.
    pub data: Dataset,
    /// The forget set: indices into the training set and how they were chosen.
    pub forget: ForgetSet,
    /// [C, H, W] when the inputs are images (P = C, d = H·W).
    pub image: Option<[usize; 3]>,
    /// The class id of every training sample, when the file gives class ids.
    pub classes: Option<Vec<u32>>,
}

impl Prepared {
    /// `spec` fitted to these inputs ([`ModelSpec::with_image_shape`] for images).
    pub fn spec<C: ModelSpec>(&self, spec: &C) -> C {
        match self.image {
            Some(image) => spec.with_image_shape(image),
            None => spec.clone(),
        }
    }

    /// A fresh model of `spec` (fitted by [`Prepared::spec`]) for these inputs.
    pub fn init<C: ModelSpec>(
        &self,
        spec: &C,
        device: &Device,
        precision: Precision,
    ) -> Result<C::Model> {
        self.spec(spec)
            .init_input([self.data.patches, self.data.d], device, precision)
    }
}

/// What the atypical kind's cross-fitting pre-trains with.
struct CrossFit<'a, C> {
    spec: &'a C,
    train: &'a TrainConfig,
    device: &'a Device,
    precision: Precision,
}

/// Splits a file's samples, chooses the forget set and assembles the data set.
fn prepare_file<C: ModelSpec>(
    cfg: &FileData,
    file: &TensorFile,
    contents: FileContents,
    cross_fit: &CrossFit<'_, C>,
) -> Result<Prepared> {
    let stride = contents.patches * contents.d;
    let shape = Shape {
        patches: contents.patches,
        d: contents.d,
        image: contents.image,
    };
    let (mut train, test) = match contents.test {
        Some(test) => (contents.train, test),
        None => split(cfg, &contents.train, stride)?,
    };
    let n = train.n();
    let kind = cfg.forget.kind.unwrap_or(if train.forget.is_some() {
        ForgetKind::Mask
    } else {
        ForgetKind::Random
    });
    let forget = match (kind, &train.forget) {
        (ForgetKind::Mask, Some(mask)) => {
            let indices: Vec<usize> = (0..n).filter(|&i| mask[i]).collect();
            if indices.is_empty() || indices.len() == n {
                return Err(file.tensor_error(
                    "forget",
                    format!(
                        "marks {} of the {n} training samples: the forget and the retain set \
                         must both be non-empty",
                        indices.len()
                    ),
                ));
            }
            ForgetSet::new(kind, indices)
        }
        (ForgetKind::Mask, None) => {
            return Err(file.tensor_error("forget", "is missing (data.forget.kind = \"mask\")"));
        }
        (_, Some(_)) => {
            return Err(file.tensor_error(
                "forget",
                format!(
                    "is a forget mask, but data.forget.kind = \"{}\" chooses another forget \
                     set: drop one of them",
                    kind.name()
                ),
            ));
        }
        (ForgetKind::Random | ForgetKind::Mislabelled, None) => {
            let count = cfg.forget.count_for(n)?;
            ForgetSet::new(kind, random_indices(n, count, stream(cfg.seed, FORGET)))
        }
        (ForgetKind::SubClass, None) => sub_class(cfg, file, &train)?,
        (ForgetKind::Atypical, None) => {
            let count = cfg.forget.count_for(n)?;
            let folds = fold_assignment(n, cfg.forget.folds, stream(cfg.seed, FOLDS));
            let losses = held_out_losses(cross_fit, &train, &shape, &folds)?;
            let mut set = ForgetSet::new(kind, largest(&losses, count));
            set.held_out_loss = Some(losses);
            set
        }
    };
    if kind == ForgetKind::Mislabelled {
        for &i in &forget.indices {
            train.y[i] = -train.y[i];
        }
    }
    let data = Dataset {
        forget: forget.mask(n),
        x: train.x,
        y: train.y,
        x_test: test.x,
        y_test: test.y,
        mu: Vec::new(),
        patches: shape.patches,
        d: shape.d,
    };
    Ok(Prepared {
        data,
        forget,
        image: shape.image,
        classes: train.classes,
    })
}

/// The input shape of a file's samples.
struct Shape {
    patches: usize,
    d: usize,
    image: Option<[usize; 3]>,
}

/// A seeded split of `all` into (training, test) by `cfg.test_fraction`; test samples are
/// drawn among the retain samples when the file marks a forget set. Both keep file order.
fn split(cfg: &FileData, all: &Split, stride: usize) -> Result<(Split, Split)> {
    let candidates: Vec<usize> = match &all.forget {
        Some(mask) => (0..all.n()).filter(|&i| !mask[i]).collect(),
        None => (0..all.n()).collect(),
    };
    let n_test = (cfg.test_fraction * all.n() as f64).round() as usize;
    if n_test > candidates.len() || all.n() - n_test < 2 {
        return Err(invalid(
            "data.test_fraction",
            format!(
                "holds out {n_test} of {} samples ({} eligible): at least 2 must stay for \
                 training",
                all.n(),
                candidates.len()
            ),
        ));
    }
    let mut is_test = vec![false; all.n()];
    for k in random_indices(candidates.len(), n_test, stream(cfg.seed, SPLIT)) {
        is_test[candidates[k]] = true;
    }
    let rows =
        |test: bool| -> Vec<usize> { (0..all.n()).filter(|&i| is_test[i] == test).collect() };
    let mut test = all.select(&rows(true), stride);
    test.forget = None;
    Ok((all.select(&rows(false), stride), test))
}

/// Every training sample of the configured class.
fn sub_class(cfg: &FileData, file: &TensorFile, train: &Split) -> Result<ForgetSet> {
    let class = cfg
        .forget
        .class
        .expect("validated: sub-class names its class");
    let Some(classes) = &train.classes else {
        return Err(file.tensor_error(
            "y",
            "holds −1/+1 labels: the sub-class forget kind needs class ids",
        ));
    };
    let indices = class_indices(classes, class);
    if indices.is_empty() || indices.len() == train.n() {
        return Err(invalid(
            "data.forget.class",
            format!(
                "class {class} has {} of the {} training samples (after the binary mapping): \
                 the forget and the retain set must both be non-empty",
                indices.len(),
                train.n()
            ),
        ));
    }
    let mut set = ForgetSet::new(ForgetKind::SubClass, indices);
    set.class = Some(class);
    Ok(set)
}

/// The held-out loss of every training sample: for each fold, a model pre-trained on the
/// other folds (all folds' models together, through [`pretrain_many`]) scores the fold.
fn held_out_losses<C: ModelSpec>(
    cf: &CrossFit<'_, C>,
    train: &Split,
    shape: &Shape,
    folds: &[usize],
) -> Result<Vec<f64>> {
    let k = folds.iter().max().map_or(0, |m| m + 1);
    let stride = shape.patches * shape.d;
    let spec = match shape.image {
        Some(image) => cf.spec.with_image_shape(image),
        None => cf.spec.clone(),
    };
    let init = spec.init_input([shape.patches, shape.d], cf.device, cf.precision)?;
    let on_device = |rows: &[usize]| {
        let part = train.select(rows, stride);
        let data = Dataset {
            forget: vec![false; part.n()],
            x: part.x,
            y: part.y,
            x_test: Vec::new(),
            y_test: Vec::new(),
            mu: Vec::new(),
            patches: shape.patches,
            d: shape.d,
        };
        DeviceData::new(&data, cf.device, cf.precision)
    };
    let rows_of = |inside: bool, fold: usize| -> Vec<usize> {
        (0..folds.len())
            .filter(|&i| (folds[i] == fold) == inside)
            .collect()
    };
    let fits: Vec<DeviceData> = (0..k).map(|f| on_device(&rows_of(false, f))).collect();
    let runs = fits
        .iter()
        .map(|data| TrainRun {
            model: init.clone(),
            data,
            config: cf.train,
        })
        .collect();
    let trained = pretrain_many(runs)?;
    let mut losses = vec![0.0; folds.len()];
    for (fold, (model, _)) in trained.iter().enumerate() {
        let rows = rows_of(true, fold);
        let held = on_device(&rows);
        let values = to_f64(cf.train.loss.values(model.scores(held.x), held.y));
        for (&i, v) in rows.iter().zip(values) {
            losses[i] = v;
        }
    }
    Ok(losses)
}
