//! `frontier stability`: the four stability criteria for per-sample Hessians a user brings
//! (for example exported from PyTorch) in a safetensors file.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use frontier_stability::{
    Curvature, Family, Problem, Report, Sampling, Settings, SimOptions, analyze,
};
use nalgebra::DMatrix;

use crate::tensors::TensorFile;

/// The tensor names a Hessians file may hold (any other is an error naming it).
const HESSIAN_TENSORS: [&str; 6] = [
    "retain_g", "retain_c", "retain_h", "forget_g", "forget_c", "forget_h",
];

/// Step-size, mixing and batch settings from the command line.
pub struct Args {
    /// Learning rate η (> 0).
    pub eta: f64,
    /// Mixing ratio α ∈ [0, 1].
    pub alpha: f64,
    /// Retain batch size B_r.
    pub batch: usize,
    /// Forget batch size B_f (default B_r).
    pub batch_forget: Option<usize>,
    /// Batch sampling scheme.
    pub sampling: Sampling,
    /// Simulation options (steps, repetitions, seed).
    pub sim: SimOptions,
}

/// One family (`retain` or `forget`) from the file: `<prefix>_g` [n, p] with `<prefix>_c` \[n\]
/// (rank one, H_i = c_i g_i g_iᵀ) or `<prefix>_h` [n, p, p] (dense). `None` when absent.
fn family(file: &TensorFile, prefix: &str) -> Result<Option<Family>> {
    let (g, c, h) = (
        format!("{prefix}_g"),
        format!("{prefix}_c"),
        format!("{prefix}_h"),
    );
    let context = || format!("`{prefix}` Hessians");
    match (file.contains(&g), file.contains(&h)) {
        (true, true) => bail!("both `{g}` and `{h}` are present: give one form per family"),
        (true, false) => {
            let g = file.get(&g, 2)?;
            let c = file.get(&c, 1)?;
            let (n, p) = (g.shape[0], g.shape[1]);
            ensure!(
                c.shape == [n],
                "tensor `{}` has shape {:?}, expected [{n}] (one weight per row of `{}`)",
                c.name,
                c.shape,
                g.name
            );
            let g = DMatrix::from_row_slice(n, p, &g.values);
            Ok(Some(Family::rank_one(&g, &c.values).with_context(context)?))
        }
        (false, true) => {
            let h = file.get(&h, 3)?;
            let (n, p) = (h.shape[0], h.shape[1]);
            ensure!(
                h.shape[2] == p,
                "tensor `{}` has shape {:?}, expected [n, p, p]",
                h.name,
                h.shape
            );
            let mats = h
                .values
                .chunks_exact(p * p)
                .map(|m| DMatrix::from_row_slice(p, p, m))
                .collect();
            debug_assert_eq!(h.values.len(), n * p * p);
            Ok(Some(Family::dense(mats).with_context(context)?))
        }
        (false, false) => Ok(None),
    }
}

/// Loads the Hessians and runs every criterion.
pub fn run(path: &Path, args: &Args) -> Result<Report> {
    ensure!(
        (0.0..=1.0).contains(&args.alpha),
        "--alpha must lie in [0, 1], got {}",
        args.alpha
    );
    ensure!(
        args.eta > 0.0 && args.eta.is_finite(),
        "--eta must be > 0, got {}",
        args.eta
    );
    let file = TensorFile::open(path)?;
    file.only(&HESSIAN_TENSORS)?;
    let Some(retain) = family(&file, "retain")? else {
        bail!(
            "{}: missing tensor `retain_g` (with `retain_c`) or `retain_h`",
            path.display()
        );
    };
    let forget = family(&file, "forget")?;
    let curvature = Curvature::new(&retain, forget.as_ref())?;
    let settings = Settings {
        batch_forget: args.batch_forget,
        sampling: args.sampling,
        ..Settings::new(args.eta, args.alpha, args.batch)
    };
    let problem = Problem::new(&curvature, settings)?;
    Ok(analyze(&problem, &args.sim)?)
}
