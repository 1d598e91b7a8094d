//! Weights files, generic over the model: one tensor per block of `Model::param_blocks`
//! (e.g. `w_pos`, `w_neg` for the CNN; `conv1.weight` … `readout.bias` for the convnet), in
//! the run's dtype, and in the safetensors `__metadata__` the model's name (`model`) and its
//! config as JSON (`config`). Loading rebuilds the model from that config (or, for a file
//! without one, the model's defaults fitted to the tensors' shapes: `ModelSpec::fit_param_shapes`),
//! then checks every tensor's name and shape against it.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use frontier_model::{HostTensor, Model, ModelSpec, Precision, TensorFile, tensor_from, to_f64};

use crate::models::{ModelKind, Registered};

/// The model's parameters as one named tensor per block.
pub fn tensors<M: Model>(model: &M) -> Vec<HostTensor> {
    let flat = to_f64(model.params());
    let mut offset = 0;
    model
        .param_blocks()
        .into_iter()
        .map(|block| {
            let values = flat[offset..offset + block.len()].to_vec();
            offset += block.len();
            HostTensor::new(&block.name, block.shape, values)
        })
        .collect()
}

/// The metadata that identifies the model: its name and its config as JSON.
pub fn metadata<C: ModelSpec>(name: &str, config: &C) -> Result<BTreeMap<String, String>> {
    Ok(BTreeMap::from([
        ("model".to_string(), name.to_string()),
        ("config".to_string(), serde_json::to_string(config)?),
    ]))
}

/// The model a weights file names in its metadata (`model`; a file without it holds the CNN).
pub fn kind(file: &TensorFile) -> Result<ModelKind> {
    let name = file.metadata("model").unwrap_or("cnn");
    ModelKind::from_name(name).with_context(|| {
        format!(
            "{}: its metadata names an unknown model `{name}` (known: {})",
            file.path(),
            crate::models::known_names()
        )
    })
}

/// Rebuilds the model of `registered` from `file` for inputs [P, d] = `input` (`image` when
/// they are images, for a file without a config), checking every tensor.
pub fn load<C: ModelSpec>(
    registered: &Registered<C>,
    file: &TensorFile,
    input: [usize; 2],
    image: Option<[usize; 3]>,
    device: &Device,
    precision: Precision,
) -> Result<C::Model> {
    let config: C = match file.metadata("config") {
        Some(json) => serde_json::from_str(json).with_context(|| {
            format!(
                "{}: metadata `config` is not a valid {} config",
                file.path(),
                registered.name
            )
        })?,
        None => {
            let shapes: BTreeMap<String, Vec<usize>> = file
                .names()
                .into_iter()
                .filter_map(|n| file.shape(&n).ok().map(|s| (n, s)))
                .collect();
            let config = match image {
                Some(image) => registered.config.with_image_shape(image),
                None => registered.config.clone(),
            };
            config.fit_param_shapes(&shapes)
        }
    };
    config.validate()?;
    let mut model = config.init_input(input, device, precision)?;
    let blocks = model.param_blocks();
    let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
    file.only(&names)?;
    let mut flat = Vec::with_capacity(model.param_count());
    for block in &blocks {
        let t = file.get(&block.name, block.shape.len())?;
        file.check_shape(
            &t,
            &block.shape,
            &format!(
                "the {} config and the inputs' [P, d] = {input:?}",
                registered.name
            ),
        )?;
        flat.extend(t.values);
    }
    if flat.len() != model.param_count() {
        bail!(
            "{}: the tensors hold {} parameters, the model has {}",
            file.path(),
            flat.len(),
            model.param_count()
        );
    }
    model.set_params(tensor_from(&flat, [flat.len()], device, precision));
    Ok(model)
}
