//! The setups of a grid (each repetition's data, pre-trained w* and retrain reference), shared
//! through the store's `setups/` folder, one verified file per setup keyed by the hash of its
//! config and device. A process loads the setups it needs from there, pre-trains the missing
//! ones once, and writes each with the first writer winning ([`RunDir::store_new`]); then
//! every setup is rebuilt from its stored file, whoever computed it. So shards of one grid,
//! run at the same time or one after the other, start every run from the same w* bit for bit
//! (also where batched pre-training would round differently in another batch).
//!
//! A file stores w* and the reference's parameters as the bit patterns of their floats (f32 or
//! f64, exact) and both pre-training reports; the data, the initialisation and the measured
//! snapshots are regenerated from the config (they are deterministic and cheap).

use burn::tensor::{Device, Tensor};
use frontier_common::par_map;
use frontier_model::{
    Dataset, DeviceData, Model, ModelSpec, Precision, TrainReport, tensor_from, to_f64,
};
use serde::{Deserialize, Serialize};

use super::run::GridOptions;
use crate::cache::{Entry, RunDir, config_hash};
use crate::error::{Error, Result};
use crate::retrain::Reference;
use crate::setup::{Setup, SetupConfig};

/// Bump when the meaning of a stored setup changes: old files are then not reused. (2: the
/// pre-training reports gained the matched-loss and per-set fields.)
const SETUP_FORMAT: u32 = 2;

/// The in-memory key of a setup: its JSON.
pub(super) fn setup_key<C: ModelSpec>(setup: &SetupConfig<C>) -> Result<String> {
    serde_json::to_string(setup).map_err(|source| Error::Json {
        path: std::path::PathBuf::from("<setup>"),
        source,
    })
}

/// What a setup's file name hashes.
#[derive(Serialize)]
struct SetupFileKey<'a, C> {
    format: u32,
    device: String,
    setup: &'a SetupConfig<C>,
}

/// A flat parameter vector as the bit patterns of its floats, in its own precision (exact,
/// non-finite values included, which JSON numbers cannot hold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Bits {
    F32(Vec<u32>),
    F64(Vec<u64>),
}

impl Bits {
    /// The bits of `w` [p].
    fn of(w: Tensor<1>) -> Bits {
        let precision = Precision::of(&w);
        let values = to_f64(w);
        match precision {
            Precision::F32 => Bits::F32(values.iter().map(|&v| (v as f32).to_bits()).collect()),
            Precision::F64 => Bits::F64(values.iter().map(|v| v.to_bits()).collect()),
        }
    }

    /// Whether it holds `p` values in `precision`.
    fn fits(&self, p: usize, precision: Precision) -> bool {
        match self {
            Bits::F32(bits) => precision == Precision::F32 && bits.len() == p,
            Bits::F64(bits) => precision == Precision::F64 && bits.len() == p,
        }
    }

    /// The tensor [p] on `device`, or `None` unless it [fits](Bits::fits) `p` and `precision`.
    fn tensor(&self, p: usize, device: &Device, precision: Precision) -> Option<Tensor<1>> {
        if !self.fits(p, precision) {
            return None;
        }
        let values: Vec<f64> = match self {
            Bits::F32(bits) => bits.iter().map(|&b| f64::from(f32::from_bits(b))).collect(),
            Bits::F64(bits) => bits.iter().map(|&b| f64::from_bits(b)).collect(),
        };
        Some(tensor_from(&values, [p], device, precision))
    }
}

/// What a setup file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSetup {
    /// w*, [p].
    start: Bits,
    /// The retrain reference's parameters, [p].
    retrain: Bits,
    /// Pre-training on all samples.
    #[serde(with = "LosslessReport")]
    pretrain: TrainReport,
    /// The reference's pre-training on the retain set.
    #[serde(with = "LosslessReport")]
    reference: TrainReport,
}

impl StoredSetup {
    fn of<M: Model>(setup: &Setup<M>) -> StoredSetup {
        StoredSetup {
            start: Bits::of(setup.model.params()),
            retrain: Bits::of(setup.reference.params.clone()),
            pretrain: setup.pretrain.clone(),
            reference: setup.reference.report.clone(),
        }
    }

    /// The setup of `cfg` on `device` with these parameters and reports, or `None` when they
    /// do not fit its model (parameter count or precision).
    fn restore<C: ModelSpec>(
        &self,
        cfg: &SetupConfig<C>,
        device: &Device,
    ) -> Result<Option<Setup<C::Model>>> {
        let init = cfg.init(device)?;
        let (p, precision) = (init.param_count(), cfg.precision);
        let (Some(start), Some(retrain)) = (
            self.start.tensor(p, device, precision),
            self.retrain.tensor(p, device, precision),
        ) else {
            return Ok(None);
        };
        let mut model = init.clone();
        model.set_params(start);
        let data = DeviceData::new(&Dataset::generate(&cfg.data)?, device, precision);
        let reference = Reference {
            params: retrain,
            report: self.reference.clone(),
        };
        Ok(Some(Setup::assemble(
            init,
            data,
            cfg.pretrain.loss,
            (model, self.pretrain.clone()),
            reference,
        )))
    }
}

/// The setups of `configs` on `device`, in order: each loaded from the store's setups (a
/// rejected file reported through the progress callback and recomputed), the missing ones
/// pre-trained (batched or one at a time, as `opts` says; all of them with `opts.force`) and
/// stored, then every one rebuilt from its stored file.
pub(super) fn prepare<C: ModelSpec>(
    configs: &[SetupConfig<C>],
    device: &Device,
    opts: &GridOptions<'_>,
) -> Result<Vec<Setup<C::Model>>> {
    let dir = opts.store.setups()?;
    let names = configs
        .iter()
        .map(|setup| {
            config_hash(&SetupFileKey {
                format: SETUP_FORMAT,
                device: format!("{device:?}"),
                setup,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut stored = Vec::with_capacity(configs.len());
    // Whether a file is there that must be replaced (rejected, or `--force`).
    let mut replace = Vec::with_capacity(configs.len());
    for (cfg, name) in configs.iter().zip(&names) {
        let p = cfg.init(device)?.param_count();
        let entry = match dir.load::<StoredSetup>(name)? {
            Entry::Found(s)
                if !(s.start.fits(p, cfg.precision) && s.retrain.fits(p, cfg.precision)) =>
            {
                Entry::Rejected(format!(
                    "does not fit its model ({p} parameters in {:?})",
                    cfg.precision
                ))
            }
            entry => entry,
        };
        if let Entry::Rejected(why) = &entry {
            opts.progress.warn(&format!(
                "cache: {}: {why}; not used",
                dir.file(name).display()
            ));
        }
        replace.push(opts.force || matches!(entry, Entry::Rejected(_)));
        stored.push(entry.found().filter(|_| !opts.force));
    }
    let missing: Vec<usize> = (0..configs.len())
        .filter(|&i| stored[i].is_none())
        .collect();
    let computed = if opts.batched {
        let batch: Vec<SetupConfig<C>> = missing.iter().map(|&i| configs[i].clone()).collect();
        SetupConfig::prepare_many(&batch, device)?
    } else {
        par_map(missing.len(), opts.threads, |k| {
            configs[missing[k]].prepare(device)
        })
        .into_iter()
        .collect::<Result<Vec<_>>>()?
    };
    for (&i, setup) in missing.iter().zip(&computed) {
        stored[i] = Some(keep(&dir, &names[i], StoredSetup::of(setup), replace[i])?);
    }
    par_map(configs.len(), opts.threads, |i| {
        let setup = stored[i]
            .as_ref()
            .expect("every setup is stored or computed");
        setup.restore(&configs[i], device)?.ok_or_else(|| {
            crate::error::invalid("setup", "a freshly stored setup does not fit its model")
        })
    })
    .into_iter()
    .collect()
}

/// Stores `setup` under `name` in `dir` (replacing the file when `replace`, else only if
/// absent) and returns what the file now holds: `setup`, or the setup another process stored
/// first.
fn keep(dir: &RunDir, name: &str, setup: StoredSetup, replace: bool) -> Result<StoredSetup> {
    if replace {
        dir.store(name, &setup)?;
        return Ok(setup);
    }
    if dir.store_new(name, &setup)? {
        return Ok(setup);
    }
    Ok(dir.load::<StoredSetup>(name)?.found().unwrap_or(setup))
}

/// Serde for [`TrainReport`] that keeps its non-finite floats (the loss of a diverged
/// pre-training, the NaN test accuracy without test data) through
/// [`lossless`](crate::cache::lossless); plain serde_json would write them as `null`. Use as
/// `#[serde(with = "LosslessReport")]`.
#[derive(Serialize, Deserialize)]
#[serde(remote = "TrainReport")]
struct LosslessReport {
    steps: usize,
    shortened_steps: usize,
    converged: bool,
    diverged_at: Option<usize>,
    #[serde(with = "crate::cache::lossless")]
    final_loss: f64,
    #[serde(with = "crate::cache::lossless")]
    forget_loss: f64,
    #[serde(with = "crate::cache::lossless")]
    retain_loss: f64,
    #[serde(with = "crate::cache::lossless")]
    train_accuracy: f64,
    #[serde(with = "crate::cache::lossless")]
    test_accuracy: f64,
    #[serde(with = "crate::cache::lossless")]
    full_grad_norm: f64,
    #[serde(with = "crate::cache::lossless")]
    retain_grad_norm: f64,
    #[serde(with = "crate::cache::lossless")]
    forget_grad_norm: f64,
    #[serde(with = "crate::cache::lossless")]
    max_sample_grad_norm: f64,
    #[serde(with = "crate::cache::lossless")]
    mean_sample_grad_norm: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontier_common::Silent;

    use crate::cache::Store;
    use crate::run::tests::tiny;

    #[test]
    fn bits_are_exact_in_both_precisions_and_check_their_shape() {
        let device = Device::flex();
        let values = [0.1, -1.0 / 3.0, f64::INFINITY, 1e-300, -0.0];
        for precision in [Precision::F32, Precision::F64] {
            let bits = Bits::of(tensor_from(&values, [5], &device, precision));
            let back = to_f64(bits.tensor(5, &device, precision).unwrap());
            let expected: Vec<f64> = match precision {
                Precision::F32 => values.iter().map(|&v| f64::from(v as f32)).collect(),
                Precision::F64 => values.to_vec(),
            };
            let same =
                |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(
                same(&back, &expected),
                "{precision:?}: {back:?} vs {expected:?}"
            );
            assert!(bits.tensor(4, &device, precision).is_none());
        }
        let f32_bits = Bits::of(tensor_from(&values, [5], &device, Precision::F32));
        assert!(f32_bits.tensor(5, &device, Precision::F64).is_none());
    }

    #[test]
    fn reports_with_non_finite_numbers_round_trip() {
        #[derive(Serialize, Deserialize)]
        struct R(#[serde(with = "LosslessReport")] TrainReport);
        let report = TrainReport {
            steps: 7,
            shortened_steps: 2,
            converged: false,
            diverged_at: Some(6),
            final_loss: f64::INFINITY,
            forget_loss: f64::NAN,
            retain_loss: 0.25,
            train_accuracy: 0.5,
            test_accuracy: f64::NAN,
            full_grad_norm: f64::NEG_INFINITY,
            retain_grad_norm: 3.0,
            forget_grad_norm: f64::NAN,
            max_sample_grad_norm: 1e300,
            mean_sample_grad_norm: 0.1,
        };
        let back: R =
            serde_json::from_str(&serde_json::to_string(&R(report.clone())).unwrap()).unwrap();
        assert!(back.0.test_accuracy.is_nan());
        let same = TrainReport {
            test_accuracy: f64::NAN,
            ..back.0
        };
        assert_eq!(format!("{same:?}"), format!("{report:?}"));
    }

    /// A stored setup rebuilds the very setup that was computed: same w*, reference, reports
    /// and measured snapshots; a second process finds it and computes nothing.
    #[test]
    fn a_stored_setup_restores_bit_for_bit() {
        let device = Device::flex();
        let cfg = tiny(0.05).seeded(3, 1);
        let computed = cfg.prepare(&device).unwrap();
        let root = tempfile::tempdir().unwrap();
        let store = Store::at(root.path());
        let opts = GridOptions {
            batched: false,
            ..GridOptions::new(&store, "test", &Silent)
        };
        let first = prepare(std::slice::from_ref(&cfg), &device, &opts).unwrap();
        let again = prepare(std::slice::from_ref(&cfg), &device, &opts).unwrap();
        for setup in [&first[0], &again[0]] {
            assert_eq!(
                to_f64(setup.model.params()),
                to_f64(computed.model.params())
            );
            assert_eq!(
                to_f64(setup.reference.params.clone()),
                to_f64(computed.reference.params.clone())
            );
            assert_eq!(setup.pretrain, computed.pretrain);
            assert_eq!(setup.start, computed.start);
            assert_eq!(setup.retrained, computed.retrained);
        }
        let files = std::fs::read_dir(store.setups().unwrap().path())
            .unwrap()
            .count();
        assert_eq!(files, 1, "one file per setup");
    }
}
