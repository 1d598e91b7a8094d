//! Linear-stability engine for gradient-based unlearning (SCIENCE §1, §2, §4).
pub mod curvature;
pub mod error;
pub mod family;
pub mod mean_square;
pub mod problem;

pub use curvature::Curvature;
pub use error::{Error, Result};
pub use family::Family;
pub use problem::{Problem, Sampling, Settings};
