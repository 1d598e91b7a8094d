//! Maps the compiled cargo features to a Burn `Device`. The only place that knows which
//! backends exist; everything else receives a `Device`.

use anyhow::{Result, bail};
use burn::tensor::Device;
use clap::ValueEnum;
use frontier_model::Precision;

/// A compute backend the binary may have been compiled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// Burn's pure-Rust CPU backend (cargo feature `flex`, the default).
    Flex,
    /// Burn's ndarray CPU backend (cargo feature `ndarray`; deprecated upstream in Burn 0.22).
    Ndarray,
    /// GPU through wgpu (cargo feature `wgpu`; f32 only).
    Wgpu,
}

impl Backend {
    /// The first backend compiled in, in the order flex, ndarray, wgpu.
    pub fn default_compiled() -> Self {
        if cfg!(feature = "flex") {
            Backend::Flex
        } else if cfg!(feature = "ndarray") {
            Backend::Ndarray
        } else {
            Backend::Wgpu
        }
    }

    /// An f64-capable CPU device (flex, else ndarray), for work that needs f64 whatever
    /// `--backend` says (finite-difference curvature).
    pub fn cpu_device() -> Result<Device> {
        if cfg!(feature = "flex") {
            Backend::Flex.device(Precision::F64)
        } else {
            Backend::Ndarray.device(Precision::F64)
        }
    }

    /// The backend's name, which is also the cargo feature that compiles it in.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
        }
    }

    /// The device for this backend, refusing what cannot work: a backend that is not compiled
    /// in, and f64 on wgpu (exp, log, log1p and tanh return garbage there: cubecl #1316, #1446).
    pub fn device(self, precision: Precision) -> Result<Device> {
        if self == Backend::Wgpu && precision == Precision::F64 {
            bail!(
                "--dtype f64 is refused with --backend wgpu: f64 transcendental functions are \
                 wrong on wgpu; use --dtype f32 (the host-side algebra stays f64)"
            );
        }
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Backend::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)]
            other => bail!(
                "backend `{0}` is not compiled into this binary: rebuild with `--features {0}`",
                other.name()
            ),
        }
    }
}
