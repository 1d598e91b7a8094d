//! The `ModelSpec` trait: a model's config as the unlearning trainer and the figures see it.
//!
//! A spec is plain data (serde, so it enters config files and cache keys): it validates
//! itself, initialises its [`Model`] for a data config, and can be re-seeded per repetition.
//! Everything generic over models (setups, grids, figures) is generic over a `ModelSpec`.

use std::collections::BTreeMap;
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

    /// A freshly initialised model for inputs of shape `input` = [P, d] (each sample P
    /// patches of dimension d), its tensors in `precision` on `device`. Errors name the
    /// invalid config field.
    fn init_input(
        &self,
        input: [usize; 2],
        device: &Device,
        precision: Precision,
    ) -> Result<Self::Model>;

    /// [`ModelSpec::init_input`] for the inputs `data` generates ([P, d] = `data.patches`,
    /// `data.d`).
    fn init(
        &self,
        data: &DataConfig,
        device: &Device,
        precision: Precision,
    ) -> Result<Self::Model> {
        self.init_input([data.patches, data.d], device, precision)
    }

    /// The config fitted to image inputs of shape [C, H, W] (they travel as P = C patches of
    /// d = H·W). Default: unchanged (models that see a sample as patches ignore the image
    /// layout); a convolutional model records H and W.
    fn with_image_shape(&self, _image: [usize; 3]) -> Self {
        self.clone()
    }

    /// A small input shape [P, d] this config accepts, for asking a model about itself
    /// (e.g. [`Model::rank_one_hessians`]) without data. Default: [2, 1].
    fn example_input(&self) -> [usize; 2] {
        [2, 1]
    }

    /// The config whose model has the parameter blocks `shapes` (name → shape, the names of
    /// [`Model::param_blocks`]), for a weights file that carries no config: e.g. the CNN's m
    /// is the first dimension of `w_pos`. Default: unchanged. Shapes are checked afterwards
    /// against the model this config builds, so this only reads sizes off them.
    fn fit_param_shapes(&self, _shapes: &BTreeMap<String, Vec<usize>>) -> Self {
        self.clone()
    }

    /// The same config with the initialisation's seed replaced by `seed`.
    fn with_seed(&self, seed: u64) -> Self;

    /// Checks every field against its allowed range (errors name the field, e.g. `model.m`).
    fn validate(&self) -> Result<()>;

    /// The sizes that matter, for figure titles, e.g. "m = 10".
    fn describe(&self) -> String;
}
