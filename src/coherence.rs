//! `frontier coherence`: the coherence report of a trained model from the documented files.
//! For a model whose per-sample Hessians are rank one (the CNN) the rank-one shortcut is
//! exact and gives one report. For any other model (the MLP, the convnet) it prints two: the
//! exact curvature H_i = ℓ''_i g_i g_iᵀ + ℓ'_i ∇²f_i by the generic finite-difference path, and
//! the Gauss–Newton part ℓ''_i g_i g_iᵀ alone by the Gram shortcut, with their difference: how
//! far the cheap coherence is from the exact one on that network.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail, ensure};
use burn::tensor::Device;
use frontier_model::file_data::FileContents;
use frontier_model::{Binary, Loss, Model, ModelSpec, Precision, TensorFile, tensor_from};
use frontier_probes::{
    CoherenceReport, GenericCoherenceReport, GenericOptions, coherence_report,
    generic_coherence_report,
};
use serde::Serialize;

use crate::config::ExperimentConfig;
use crate::memory::{Estimate, read_header};
use crate::models::{Registered, WithModel};
use crate::weights;

/// Where the data and weights come from.
pub struct Inputs {
    /// A data file: x [n, P, d] or [n, C, H, W], y \[n\], forget \[n\] (see the README).
    pub data: PathBuf,
    /// `weights.safetensors` written by `frontier train` (or one tensor per parameter block).
    pub weights: PathBuf,
    /// Class ids to ±1, when the data file's `y` holds class ids.
    pub binary: Option<Binary>,
    /// The run directory they come from, if any.
    pub run: Option<PathBuf>,
}

impl Inputs {
    /// The two files of a run directory written by `frontier train`, after checking that the
    /// directory is complete ([`crate::train::check_run`]).
    pub fn from_run(dir: &Path) -> Result<Self> {
        crate::train::check_run(dir)?;
        Ok(Self {
            data: dir.join("data.safetensors"),
            weights: dir.join("weights.safetensors"),
            binary: None,
            run: Some(dir.to_path_buf()),
        })
    }

    /// The loss to probe: `flag` if given, else the run's training loss (logistic without a
    /// run). A flag that differs from the run's loss is honoured, and said on stderr.
    pub fn loss(&self, flag: Option<Loss>) -> Result<Loss> {
        let Some(dir) = &self.run else {
            return Ok(flag.unwrap_or(Loss::Logistic));
        };
        let trained = ExperimentConfig::load(Some(&dir.join("config.resolved.toml")), &[])?
            .train
            .loss;
        match flag {
            Some(loss) if loss != trained => {
                eprintln!(
                    "note: probing the {} loss at the w* of a run trained with the {} loss \
                     (--loss overrides the run's)",
                    loss.name(),
                    trained.name()
                );
                Ok(loss)
            }
            _ => Ok(trained),
        }
    }

    /// Bytes the report holds at its peak (see docs/reference.md, "Memory"), from the files' headers:
    /// the files, the inputs on the host and device, the per-sample gradients [n, p] (f64 on
    /// the generic path of models without rank-one Hessians) and the n×n matrices.
    pub fn estimate(&self, precision: Precision) -> Result<Estimate> {
        let data = read_header(&self.data)?;
        let weights = read_header(&self.weights)?;
        let (n, values) = match data.shape("x") {
            Some(shape) => (
                shape.first().copied().unwrap_or(0) as f64,
                shape.iter().map(|&k| k as f64).product(),
            ),
            None => (0.0, 0.0),
        };
        let generic = weights.metadata.get("model").is_some_and(|m| m != "cnn");
        Ok(estimate(
            "frontier coherence",
            (n, values, weights.elements()),
            precision,
            generic,
        )
        .arrays(
            "the two files",
            1.0,
            (data.file_bytes + weights.file_bytes) as f64,
            1.0,
        ))
    }
}

/// Bytes a coherence report holds at its peak for n samples with `values` input values and
/// p parameters: the inputs on the host (f64) and on the device, the per-sample gradients
/// [n, p] (f64 on the `generic` path of models without rank-one Hessians) and the n×n Gram
/// and coherence matrices with their eigen-solves (calibrated in docs/reference.md, "Memory").
pub fn estimate(
    command: &'static str,
    (n, values, p): (f64, f64, f64),
    precision: Precision,
    generic: bool,
) -> Estimate {
    let s = match precision {
        Precision::F32 => 4.0,
        Precision::F64 => 8.0,
    };
    Estimate::new(command)
        .arrays("inputs x on the host and device", 3.0, values, 8.0)
        .arrays(
            format!("per-sample gradients [n, p], n = {n}, p = {p}"),
            if generic { 6.0 } else { 3.0 },
            n * p,
            if generic { 8.0 } else { s },
        )
        .arrays(
            format!("Gram and coherence matrices n×n, n = {n}"),
            9.0,
            n * n,
            8.0,
        )
}

/// What `frontier coherence` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Report {
    /// Rank-one per-sample Hessians: the shortcut is exact.
    RankOne(CoherenceReport),
    /// Any other model: exact and Gauss–Newton.
    Curved(Box<Curved>),
}

/// The two curvatures of a model whose per-sample Hessians are not rank one.
#[derive(Debug, Clone, Serialize)]
pub struct Curved {
    /// The exact curvature (generic path; its keys at the top level).
    #[serde(flatten)]
    exact: GenericCoherenceReport,
    /// The Gauss–Newton curvature (rank-one shortcut).
    gauss_newton: CoherenceReport,
    /// Gauss–Newton minus exact.
    gauss_newton_minus_exact: Difference,
}

/// Gauss–Newton minus exact, number by number.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Difference {
    sigma: f64,
    sigma_r: f64,
    sigma_f: f64,
    sigma_rf: f64,
    lambda_max_h: f64,
    trace_h: f64,
    lambda_min_h_alpha: f64,
    lambda_max_h_alpha: f64,
}

impl Difference {
    fn of(gn: &CoherenceReport, exact: &CoherenceReport) -> Self {
        Self {
            sigma: gn.sigma - exact.sigma,
            sigma_r: gn.sigma_r - exact.sigma_r,
            sigma_f: gn.sigma_f - exact.sigma_f,
            sigma_rf: gn.sigma_rf - exact.sigma_rf,
            lambda_max_h: gn.lambda_max_h - exact.lambda_max_h,
            trace_h: gn.trace_h - exact.trace_h,
            lambda_min_h_alpha: gn.lambda_min_h_alpha - exact.lambda_min_h_alpha,
            lambda_max_h_alpha: gn.lambda_max_h_alpha - exact.lambda_max_h_alpha,
        }
    }
}

/// Loads the files, checks names, shapes and values, and probes the model at its weights.
pub fn run(
    inputs: &Inputs,
    loss: Loss,
    alpha: f64,
    device: &Device,
    precision: Precision,
) -> Result<Report> {
    ensure!(
        (0.0..=1.0).contains(&alpha),
        "--alpha must lie in [0, 1], got {alpha}"
    );
    let data = TensorFile::open(&inputs.data)?;
    let weights = TensorFile::open(&inputs.weights)?;
    let contents = FileContents::read(&data, inputs.binary)?;
    let Some(forget) = &contents.train.forget else {
        return Err(data
            .tensor_error("forget", "is missing: coherence needs a forget mask")
            .into());
    };
    let n_forget = forget.iter().filter(|&&f| f).count();
    ensure!(
        n_forget > 0 && n_forget < forget.len(),
        "{}: tensor `forget` marks {n_forget} of {} samples: the forget and the retain set must \
         both be non-empty",
        data.path(),
        forget.len()
    );
    let empty: Vec<String> = weights
        .names()
        .into_iter()
        .filter_map(|name| {
            let shape = weights.shape(&name).ok()?;
            shape
                .contains(&0)
                .then(|| format!("tensor `{name}` has shape {shape:?}"))
        })
        .collect();
    if !empty.is_empty() {
        bail!(
            "{}: {}, expected every dimension at least 1 (a model with no units has no \
             curvature to probe)",
            weights.path(),
            empty.join(", ")
        );
    }
    weights::kind(&weights)?.with(Probe {
        weights: &weights,
        contents: &contents,
        forget,
        loss,
        alpha,
        device,
        precision,
    })
}

/// [`run`] for one model type.
struct Probe<'a> {
    weights: &'a TensorFile,
    contents: &'a FileContents,
    forget: &'a [bool],
    loss: Loss,
    alpha: f64,
    device: &'a Device,
    precision: Precision,
}

impl WithModel for Probe<'_> {
    type Output = Result<Report>;

    fn run<C: ModelSpec>(self, model: Registered<C>) -> Result<Report> {
        let c = self.contents;
        let (n, p, d) = (c.train.n(), c.patches, c.d);
        let net = weights::load(
            &model,
            self.weights,
            [p, d],
            c.image,
            self.device,
            self.precision,
        )?;
        let x = tensor_from(&c.train.x, [n, p, d], self.device, self.precision);
        let y = tensor_from(&c.train.y, [n], self.device, self.precision);
        // The Gram shortcut on ∇f and ℓ'': exact for rank-one models, Gauss–Newton otherwise.
        let gauss_newton = coherence_report(
            &net,
            self.loss,
            x.clone(),
            y.clone(),
            self.forget,
            self.alpha,
        )?;
        if net.rank_one_hessians() {
            return Ok(Report::RankOne(gauss_newton));
        }
        let exact = generic_coherence_report(
            &net,
            self.loss,
            x,
            y,
            self.forget,
            self.alpha,
            &GenericOptions::default(),
        )?;
        Ok(Report::Curved(Box::new(Curved {
            gauss_newton_minus_exact: Difference::of(&gauss_newton, &exact.report),
            exact,
            gauss_newton,
        })))
    }
}

/// One row of the table: label and the report's field.
type Row = (&'static str, fn(&CoherenceReport) -> f64, bool);

/// The numbers shown per report (label, value, scientific notation).
const ROWS: [Row; 11] = [
    ("sigma (all samples)", |r| r.sigma, false),
    ("sigma_R (within retain)", |r| r.sigma_r, false),
    ("sigma_F (within forget)", |r| r.sigma_f, false),
    ("sigma_RF (retain-forget)", |r| r.sigma_rf, false),
    ("sigma_U (pairs, |a|,|b|)", |r| r.sigma_u, false),
    ("sigma_U signed (clamped)", |r| r.sigma_u_signed, false),
    ("lambda_max(H)", |r| r.lambda_max_h, true),
    ("tr(H)", |r| r.trace_h, true),
    ("lambda_min(H_alpha)", |r| r.lambda_min_h_alpha, true),
    ("lambda_max(H_alpha)", |r| r.lambda_max_h_alpha, true),
    ("residual |grad| at w*", |r| r.residual_grad_norm, true),
];

fn number(v: f64, sci: bool) -> String {
    if v.is_nan() {
        format!("- (n_r·n_f > {})", frontier_probes::PAIR_LIMIT)
    } else if sci {
        format!("{v:.6e}")
    } else {
        format!("{v:.4}")
    }
}

/// The report as an aligned, readable table.
pub fn table(report: &Report) -> String {
    let head = |r: &CoherenceReport| {
        format!(
            "{:<30} {} ({} + {})\n{:<30} {}\n{:<30} {}\n",
            "samples n (retain + forget)",
            r.n,
            r.n_retain,
            r.n_forget,
            "loss",
            r.loss.name(),
            "alpha (forget weight)",
            r.alpha
        )
    };
    match report {
        Report::RankOne(r) => {
            let rows: String = ROWS
                .iter()
                .map(|(k, f, sci)| format!("{k:<30} {}\n", number(f(r), *sci)))
                .collect();
            head(r) + &rows
        }
        Report::Curved(curved) => {
            let Curved {
                exact,
                gauss_newton,
                ..
            } = curved.as_ref();
            let se = &exact.std_error;
            let errors = [
                se.sigma,
                se.sigma_r,
                se.sigma_f,
                se.sigma_rf,
                se.sigma_u,
                se.sigma_u_signed,
                0.0,
                se.trace_h,
                0.0,
                0.0,
                0.0,
            ];
            let mut out = head(&exact.report);
            out += &format!(
                "{:<30} {} parameters, {} ({} probes){}\n",
                "exact curvature",
                exact.params,
                match exact.method {
                    frontier_probes::CurvatureMethod::Dense => "dense finite differences",
                    frontier_probes::CurvatureMethod::Hutchinson => "Hutchinson estimates",
                },
                exact.probes,
                if exact.converged {
                    ""
                } else {
                    ", NOT every eigen-solve converged"
                }
            );
            out += &format!(
                "{:<30} {:>26} {:>14} {:>14}\n",
                "", "exact (± std error)", "Gauss-Newton", "GN - exact"
            );
            for ((k, f, sci), e) in ROWS.iter().zip(errors) {
                let (x, g) = (f(&exact.report), f(gauss_newton));
                let exact_text = if e > 0.0 {
                    format!("{} ± {}", number(x, *sci), number(e, true))
                } else {
                    number(x, *sci)
                };
                out += &format!(
                    "{k:<30} {exact_text:>26} {:>14} {:>14}\n",
                    number(g, *sci),
                    number(g - x, *sci)
                );
            }
            out
        }
    }
}
