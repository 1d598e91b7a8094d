//! The `ModelSpec` trait: a model's config as the unlearning trainer and the figures see it.
//!
//! A spec is plain data (serde, so it enters config files and cache keys): it validates
//! itself, initialises its [`Model`] for a data config, and can be re-seeded per repetition.
//! Everything generic over models (setups, grids, figures) is generic over a `ModelSpec`.

use std::fmt::Debug;

use burn::tensor::Device;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::data::DataConfig;
use crate::error::Result;
use crate::model::Model;
use crate::tensor::Precision;

/// The config of a model: validated, seedable, and able to build the model.
pub trait ModelSpec:
    Clone + Debug + PartialEq + Default + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The model it builds.
    type Model: Model + Send + Sync;

    /// A freshly initialised model for inputs of the shape `data` describes ([n, P, d]), its
    /// tensors in `precision` on `device`. Errors name the invalid config field.
    fn init(&self, data: &DataConfig, device: &Device, precision: Precision)
    -> Result<Self::Model>;

    /// The same config with the initialisation's seed replaced by `seed`.
    fn with_seed(&self, seed: u64) -> Self;

    /// Checks every field against its allowed range (errors name the field, e.g. `model.m`).
    fn validate(&self) -> Result<()>;

    /// The sizes that matter, for figure titles, e.g. "m = 10".
    fn describe(&self) -> String;
}
