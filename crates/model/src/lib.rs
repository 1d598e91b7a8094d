//! The model side of frontier: the signal-plus-noise data generator, data files with their
//! forget kinds ([`DataSource`], [`TensorFile`], the one strict safetensors reader), the
//! two-layer ReLU CNN (a Burn module), the losses, full-batch pre-training, and the [`Model`]
//! trait every model implements so that the probes and the unlearning trainer can use it,
//! with the [`ModelSpec`] trait for its config and [`GaussNewton`] to take any model's
//! curvature as its rank-one Gauss–Newton part.

pub mod cnn;
pub mod data;
pub mod error;
pub mod file_data;
pub mod forget;
pub mod gauss_newton;
pub mod loss;
pub mod model;
pub mod source;
pub mod spec;
pub mod tensor;
pub mod tensor_file;
pub mod train;

pub use cnn::{Cnn, CnnConfig};
pub use data::{DataConfig, Dataset, ForgetFrom, MuDirection};
pub use error::{ModelError, Result};
pub use file_data::{Binary, FileData};
pub use forget::{ForgetConfig, ForgetKind, ForgetSet};
pub use gauss_newton::GaussNewton;
pub use loss::Loss;
pub use model::{
    Model, ParamBlock, autodiff_score_grads, looped_loss_grads_many, looped_scores_each,
    looped_scores_many,
};
pub use source::{DataSource, Prepared};
pub use spec::ModelSpec;
pub use tensor::{Precision, index_tensor, shape_bucket, shrink_to_bucket, tensor_from, to_f64};
pub use tensor_file::{HostTensor, TensorFile, TensorHeader};
pub use train::{
    BAND_FACTOR, DeviceData, MAX_HALVINGS, TrainConfig, TrainReport, TrainRun, accuracy, pretrain,
    pretrain_many, retain_forget_grads,
};
