//! The convnet's configuration (the `[model]` section of a config file when
//! `kind = "convnet"`).

use std::collections::BTreeMap;

use burn::tensor::Device;
use frontier_model::{ModelError, ModelSpec, Precision, Result, tensor_from};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::convnet::{Convnet, Layout};

/// Shape and initialisation of the convnet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvnetConfig {
    /// Image height H (≥ 1); an input's d must equal H·W. Set from the data for image files.
    pub height: usize,
    /// Image width W (≥ 1).
    pub width: usize,
    /// Channels c₁ of the first 3×3 convolution (≥ 1).
    pub conv1: usize,
    /// Channels c₂ of the second 3×3 convolution (≥ 1).
    pub conv2: usize,
    /// Zero padding of both convolutions: 1 keeps H×W ("same"), 0 shrinks each by 2 ("valid").
    pub padding: usize,
    /// Scale g of the initialisation: convolution weights N(0, g²·2/fan_in) (He), read-out
    /// weights N(0, g²/fan_in), biases 0 (finite, ≥ 0).
    pub init_gain: f64,
    /// Seed of the initialisation's own random stream (no backend RNG is used).
    pub seed: u64,
}

impl Default for ConvnetConfig {
    /// 8×8 images (the shipped digits), c₁ = 12, c₂ = 16, "valid" padding (8×8 → 6×6 → 4×4),
    /// gain 1, seed 1: p = 2,121 parameters for one input channel.
    fn default() -> Self {
        Self {
            height: 8,
            width: 8,
            conv1: 12,
            conv2: 16,
            padding: 0,
            init_gain: 1.0,
            seed: 1,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ModelError {
    ModelError::InvalidConfig {
        field,
        reason: reason.into(),
    }
}

impl ConvnetConfig {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<()> {
        for (field, value) in [
            ("model.height", self.height),
            ("model.width", self.width),
            ("model.conv1", self.conv1),
            ("model.conv2", self.conv2),
        ] {
            if value == 0 {
                return Err(invalid(field, "must be at least 1, got 0"));
            }
        }
        if self.padding > 1 {
            return Err(invalid(
                "model.padding",
                format!("must be 0 (valid) or 1 (same), got {}", self.padding),
            ));
        }
        if self.padding == 0 && (self.height < 5 || self.width < 5) {
            return Err(invalid(
                "model.padding",
                format!(
                    "0 (valid) shrinks each side by 4 over two layers: needs images of at \
                     least 5×5, got {}×{}",
                    self.height, self.width
                ),
            ));
        }
        if !(self.init_gain >= 0.0 && self.init_gain.is_finite()) {
            return Err(invalid(
                "model.init_gain",
                format!("must be a finite number ≥ 0, got {}", self.init_gain),
            ));
        }
        Ok(())
    }

    /// The layer sizes for inputs of `channels` channels.
    pub fn layout(&self, channels: usize) -> Layout {
        Layout {
            channels,
            height: self.height,
            width: self.width,
            conv1: self.conv1,
            conv2: self.conv2,
            padding: self.padding,
        }
    }

    /// A convnet for inputs [P, d] = [C, H·W], drawn from a ChaCha8 stream seeded with
    /// `seed` in parameter order (conv1 weights, conv2 weights, read-out weights; biases 0).
    pub fn init(
        &self,
        input: [usize; 2],
        device: &Device,
        precision: Precision,
    ) -> Result<Convnet> {
        self.validate()?;
        let [channels, d] = input;
        if channels == 0 {
            return Err(invalid(
                "data.patches",
                "must be at least 1 (image channels), got 0",
            ));
        }
        if d != self.height * self.width {
            return Err(invalid(
                "model.height",
                format!(
                    "model.height × model.width = {}×{} = {} must equal the input's d = {d} \
                     (pixels per channel)",
                    self.height,
                    self.width,
                    self.height * self.width
                ),
            ));
        }
        let layout = self.layout(channels);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut values = Vec::with_capacity(layout.param_count());
        for block in layout.blocks() {
            let scale = match block.name.as_str() {
                "conv1.weight" | "conv2.weight" => {
                    let fan_in = block.shape[1] * 9;
                    self.init_gain * (2.0 / fan_in as f64).sqrt()
                }
                "readout.weight" => self.init_gain / (block.len() as f64).sqrt(),
                _ => 0.0,
            };
            values.extend((0..block.len()).map(|_| scale * rng.sample::<f64, _>(StandardNormal)));
        }
        let flat = tensor_from(&values, [values.len()], device, precision);
        Ok(Convnet::from_flat(layout, flat))
    }
}

impl ModelSpec for ConvnetConfig {
    type Model = Convnet;

    fn init_input(
        &self,
        input: [usize; 2],
        device: &Device,
        precision: Precision,
    ) -> Result<Convnet> {
        ConvnetConfig::init(self, input, device, precision)
    }

    /// H and W from the image; the channels are the input's P.
    fn with_image_shape(&self, image: [usize; 3]) -> Self {
        Self {
            height: image[1],
            width: image[2],
            ..self.clone()
        }
    }

    fn example_input(&self) -> [usize; 2] {
        [1, self.height * self.width]
    }

    /// c₁ and c₂ from the first dimensions of `conv1.weight` and `conv2.weight`.
    fn fit_param_shapes(&self, shapes: &BTreeMap<String, Vec<usize>>) -> Self {
        let first = |name: &str, default: usize| {
            shapes
                .get(name)
                .and_then(|s| s.first())
                .copied()
                .unwrap_or(default)
        };
        Self {
            conv1: first("conv1.weight", self.conv1),
            conv2: first("conv2.weight", self.conv2),
            ..self.clone()
        }
    }

    fn with_seed(&self, seed: u64) -> Self {
        Self {
            seed,
            ..self.clone()
        }
    }

    fn validate(&self) -> Result<()> {
        ConvnetConfig::validate(self)
    }

    fn describe(&self) -> String {
        format!(
            "{}×{}, c = {}/{}, {}",
            self.height,
            self.width,
            self.conv1,
            self.conv2,
            if self.padding == 1 { "same" } else { "valid" }
        )
    }
}
