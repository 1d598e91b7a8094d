//! The boundary predicted from the curvature at w* (SCIENCE.md §1–§3): the per-sample
//! Hessians H_i of the model at w* feed the stability engine, which decides per (η, α, B)
//! whether the linearised step escapes: ρ(T) > 1 (mean square), γ > 0 (almost sure, from
//! simulated linear runs), first moment (λ_min(H_α) < 0 or λ_max(H_α) > 2/η) and the pair
//! coherence bound.
//!
//! How the H_i are built ([`HessianMethod::choose`]) depends on the model:
//!
//! - **Rank one**, for a model whose [`Model::rank_one_hessians`] is true (the ReLU CNN):
//!   H_i = c_i g_i g_iᵀ. Only the n×n Gram matrix G Gᵀ of the per-sample gradients leaves the
//!   device: with G Gᵀ = V Λ Vᵀ the rows of V Λ^{1/2} (n×r, eigenvalues below 1e-12·λ_max
//!   dropped) have the same inner products as the g_i, so they are the g_i written in an
//!   r-dimensional orthonormal basis of their span, and the parameter count p never enters.
//! - **Dense**, for any other model with p ≤ [`GenericOptions::default`]'s `dense_max_params`
//!   and f64 parameters: the dense finite-difference per-sample Hessians of the probes
//!   ([`per_sample_hessians`]). They are indefinite in general (the ℓ'_i ∇²f_i term), while
//!   the stability engine takes PSD Hessians, so each is replaced by its PSD part (negative
//!   eigenvalues set to 0, the nearest PSD matrix in Frobenius norm) \[choice\], as the
//!   rank-one path clamps c_i at 0.
//! - **None** otherwise (a curved model with more parameters, or f32): no predictions; the
//!   grid prints a one-line note on stderr, its `predicted_*` CSV columns are NaN and no
//!   boundaries are drawn. The rank-one formula is never used for a model that does not
//!   declare rank-one Hessians.
//!
//! Verdicts use a relative tolerance [`TOLERANCE`]: outside the span of the forget and retain
//! curvature the step is the identity (eigenvalue exactly 1 of T, 0 of H_α), so round-off
//! must not turn "neutral" into "diverges" (e.g. at α = 0 the forget-only directions of the
//! span have H_α-eigenvalue 0 up to 1e-17). λ_min(H_α) is reported over R^p (0 counts when the
//! span is smaller than R^p, as for the CNN, where p ≫ r).

use std::collections::BTreeMap;
use std::sync::Mutex;

use burn::tensor::DType;
use frontier_model::{DeviceData, Loss, Model};
use frontier_probes::{
    CurvatureGram, GenericOptions, SampleCurvature, pair_coherence, per_sample_hessians,
    retain_first,
};
use frontier_stability::bounds::{curvature_gram, pair_bound};
use frontier_stability::first_moment::{FirstMoment, first_moment};
use frontier_stability::lyapunov::lyapunov;
use frontier_stability::mean_square::{PowerOptions, rho};
use frontier_stability::simulate::{InitialState, SimOptions};
use frontier_stability::sweep::Rule;
use frontier_stability::{Curvature, Family, Problem, Settings};
use nalgebra::{DMatrix, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Relative tolerance of the verdicts: ρ > 1 + tol, γ > tol, λ_min(H_α) < −tol·|λ|_max(H_α).
pub const TOLERANCE: f64 = 1e-9;

/// Lanczos steps for ρ(T) when the first moment already diverges (ρ(T) > 1 is then
/// certain; the iterations only refine the reported value).
const FIRST_MOMENT_ITER: usize = 20;

/// Controls of the predicted verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictConfig {
    /// Compute the predictions at all.
    pub enabled: bool,
    /// Steps of each simulated linear run behind γ.
    pub sim_steps: usize,
    /// Simulated linear runs per cell and seed behind γ.
    pub sim_reps: usize,
    /// Lanczos iteration for ρ(T): relative residual tolerance (the field keeps its old name
    /// so configs stay valid).
    pub power_tol: f64,
    /// Lanczos iteration for ρ(T): step cap (the top Ritz value is a lower bound on ρ,
    /// so a capped estimate above 1 still proves divergence).
    pub power_max_iter: usize,
}

impl Default for PredictConfig {
    /// On; γ from 4 runs of 200 steps; ρ to 1e-6 within 300 iterations.
    fn default() -> Self {
        PredictConfig {
            enabled: true,
            sim_steps: 200,
            sim_reps: 4,
            power_tol: 1e-6,
            power_max_iter: 300,
        }
    }
}

/// The verdicts for one (setup, settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// ρ(T) on the curvature span (growth of E‖u‖² per step): the larger of the Lanczos
    /// iteration's top Ritz value and ρ(I − ηH_α)², both lower bounds.
    #[serde(with = "crate::cache::lossless")]
    pub rho: f64,
    /// Whether its Lanczos iteration converged.
    pub rho_converged: bool,
    /// Lyapunov exponent γ (log growth of ‖u‖ per step).
    #[serde(with = "crate::cache::lossless")]
    pub gamma: f64,
    /// λ_min(H_α) over R^p (curvature units, 1/η).
    #[serde(with = "crate::cache::lossless")]
    pub lambda_min_h_alpha: f64,
    /// λ_max(H_α) over R^p.
    #[serde(with = "crate::cache::lossless")]
    pub lambda_max_h_alpha: f64,
    /// Pair coherence σ_U at this α.
    #[serde(with = "crate::cache::lossless")]
    pub sigma_u: f64,
    /// The pair bound's critical coherence η·|λ|_max(H_α)·sqrt(N/B − 1).
    #[serde(with = "crate::cache::lossless")]
    pub pair_critical: f64,
    /// ρ(T) > 1.
    pub mean_square: bool,
    /// γ > 0.
    pub lyapunov: bool,
    /// λ_min(H_α) < 0 or λ_max(H_α) > 2/η.
    pub first_moment: bool,
    /// σ_U ≤ critical.
    pub pair_bound: bool,
}

impl Prediction {
    /// The verdict of `rule` (true = predicted to escape).
    pub fn diverges(&self, rule: Rule) -> bool {
        match rule {
            Rule::MeanSquare => self.mean_square,
            Rule::Lyapunov => self.lyapunov,
            Rule::FirstMoment => self.first_moment,
            Rule::CoherenceBound => self.pair_bound,
        }
    }
}

/// The rules predicted for every grid, in legend order.
pub const RULES: [Rule; 4] = [
    Rule::MeanSquare,
    Rule::Lyapunov,
    Rule::FirstMoment,
    Rule::CoherenceBound,
];

/// How the per-sample Hessians at w* are built (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HessianMethod {
    /// H_i = c_i g_i g_iᵀ from the Gram matrix (models with rank-one Hessians; any p).
    RankOne,
    /// Dense finite-difference per-sample Hessians, PSD parts (small p, f64).
    Dense,
}

impl HessianMethod {
    /// The method for `model` (at its parameters, whose dtype decides f64), or why the
    /// boundaries cannot be predicted for it, in one line.
    pub fn choose<M: Model>(model: &M) -> std::result::Result<HessianMethod, String> {
        if model.rank_one_hessians() {
            return Ok(HessianMethod::RankOne);
        }
        let (name, p) = (model.name(), model.param_count());
        let max = GenericOptions::default().dense_max_params;
        if p > max {
            return Err(format!(
                "the {name} model's per-sample Hessians are not rank one and p = {p} parameters \
                 exceed the {max} of dense finite-difference Hessians"
            ));
        }
        if model.params().dtype() != DType::F64 {
            return Err(format!(
                "dense finite-difference Hessians of the {name} model need f64 parameters \
                 (--dtype f64)"
            ));
        }
        Ok(HessianMethod::Dense)
    }
}

/// What the predictions at one α share: the pair coherence σ_U and λ_min/λ_max(H_α).
#[derive(Debug, Clone, Copy)]
struct AlphaTerms {
    sigma_u: f64,
    first: FirstMoment,
}

/// The linearised problem at w*: retain and forget curvature in span coordinates.
#[derive(Debug)]
pub struct Linearised {
    curvature: Curvature,
    /// tr(H_i H_j) of every pair of samples, (n_r + n_f)², behind σ_U.
    gram: CurvatureGram,
    /// What depends on α alone, per α asked so far (keyed by its bits): the cells of a grid
    /// that differ only in η or B share one pair-coherence solve and one eigen-solve of H_α.
    by_alpha: Mutex<BTreeMap<u64, AlphaTerms>>,
    /// ‖(1/n) Σ_i ∇ℓ_i(w*)‖₂: how far w* is from the zero-gradient assumption.
    pub residual_grad_norm: f64,
}

impl Linearised {
    /// Probes `model` at its parameters on the training rows of `data` (split by its forget
    /// mask; at least one retain and one forget row), building the H_i by `method` (from
    /// [`HessianMethod::choose`]).
    pub fn at<M: Model>(
        model: &M,
        loss: Loss,
        data: &DeviceData,
        method: HessianMethod,
    ) -> Result<Linearised> {
        let (x, y) = retain_first(data.x.clone(), data.y.clone(), &data.forget);
        let samples = SampleCurvature::new(model, loss, x.clone(), y.clone());
        let n_forget = data.forget.iter().filter(|&&f| f).count();
        let n_retain = samples.n() - n_forget;
        let (retain, forget) = match method {
            HessianMethod::RankOne => {
                let g = gram_factor(&samples.gram);
                let family = |start: usize, len: usize| {
                    let c: Vec<f64> = samples.c[start..start + len]
                        .iter()
                        .map(|c| c.max(0.0))
                        .collect();
                    Family::rank_one(&g.rows(start, len).into_owned(), &c)
                };
                (family(0, n_retain)?, family(n_retain, n_forget)?)
            }
            HessianMethod::Dense => {
                let step = GenericOptions::default().relative_step;
                let mut h: Vec<DMatrix<f64>> = per_sample_hessians(model, loss, x, y, step)?
                    .into_iter()
                    .map(psd_part)
                    .collect();
                let forget = h.split_off(n_retain);
                (Family::dense(h)?, Family::dense(forget)?)
            }
        };
        let curvature = Curvature::new(&retain, Some(&forget))?;
        Ok(Linearised {
            gram: curvature_gram(&curvature)?,
            by_alpha: Mutex::new(BTreeMap::new()),
            curvature,
            residual_grad_norm: samples.residual_grad_norm(),
        })
    }

    /// σ_U and the first moment of `problem`, computed once per α (they depend on
    /// α only; the first moment's `diverges` is left to the caller, which knows η).
    fn alpha_terms(&self, problem: &Problem<'_>) -> Result<AlphaTerms> {
        let key = problem.settings().alpha.to_bits();
        if let Some(terms) = self.by_alpha.lock().expect("not poisoned").get(&key) {
            return Ok(*terms);
        }
        let terms = AlphaTerms {
            sigma_u: pair_coherence(&self.gram, problem.settings().alpha, false)?,
            first: first_moment(problem),
        };
        self.by_alpha
            .lock()
            .expect("not poisoned")
            .insert(key, terms);
        Ok(terms)
    }

    /// The verdicts for one step setting; the simulated runs behind γ use the streams of
    /// (`seed`, `cell`).
    pub fn predict(
        &self,
        settings: Settings,
        cfg: &PredictConfig,
        seed: u64,
        cell: u64,
    ) -> Result<Prediction> {
        let problem = Problem::new(&self.curvature, settings)?;
        let AlphaTerms { sigma_u, mut first } = self.alpha_terms(&problem)?;
        if self.curvature.rank() < self.curvature.dim() {
            first.lambda_min = first.lambda_min.min(0.0);
            first.lambda_max = first.lambda_max.max(0.0);
        }
        let scale = first.abs_max();
        let first_diverges =
            first.lambda_min < -TOLERANCE * scale || first.lambda_max > 2.0 / settings.eta;
        first.diverges = first_diverges;
        // E‖u‖² ≥ ‖E u‖², so ρ(T) ≥ ρ(I − ηH_α)²: when the first moment already diverges the
        // Lanczos iteration only refines the value, and a few steps do.
        let power = rho(
            &problem,
            &PowerOptions {
                tol: cfg.power_tol,
                max_iter: if first_diverges {
                    cfg.power_max_iter.min(FIRST_MOMENT_ITER)
                } else {
                    cfg.power_max_iter
                },
            },
        );
        let eta = settings.eta;
        let jbar = (1.0 - eta * first.lambda_min)
            .abs()
            .max((1.0 - eta * first.lambda_max).abs());
        let rho_value = power.value.max(jbar * jbar);
        let sim = SimOptions {
            steps: cfg.sim_steps,
            reps: cfg.sim_reps,
            seed,
            init: InitialState::Normal,
            ..SimOptions::default()
        };
        let gamma = lyapunov(&problem, &sim, cell)?.gamma;
        // Every linearisation here has a forget family, so the pair form of the bound applies.
        let bound = pair_bound(
            sigma_u,
            eta,
            first.abs_max(),
            self.curvature.n_retain() * self.curvature.n_forget(),
            settings.batch_retain,
        );
        Ok(Prediction {
            rho: rho_value,
            rho_converged: power.converged,
            gamma,
            lambda_min_h_alpha: first.lambda_min,
            lambda_max_h_alpha: first.lambda_max,
            sigma_u,
            pair_critical: bound.critical,
            mean_square: rho_value > 1.0 + TOLERANCE,
            lyapunov: gamma > TOLERANCE,
            first_moment: first_diverges,
            pair_bound: bound.diverges,
        })
    }
}

/// Rows of V Λ^{1/2} for a symmetric PSD Gram matrix G Gᵀ = V Λ Vᵀ (n×n): an n×r matrix
/// whose rows have the same inner products as the g_i (eigenvalues below 1e-12·λ_max
/// dropped, so r is the numerical rank).
pub fn gram_factor(gram: &DMatrix<f64>) -> DMatrix<f64> {
    let sym = (gram + gram.transpose()) * 0.5;
    let eig = SymmetricEigen::new(sym);
    let top = eig.eigenvalues.max();
    let keep: Vec<usize> = (0..eig.eigenvalues.len())
        .filter(|&k| top > 0.0 && eig.eigenvalues[k] > 1e-12 * top)
        .collect();
    DMatrix::from_fn(gram.nrows(), keep.len(), |i, j| {
        eig.eigenvectors[(i, keep[j])] * eig.eigenvalues[keep[j]].sqrt()
    })
}

/// The PSD part V max(Λ, 0) Vᵀ of a symmetric matrix V Λ Vᵀ: its nearest PSD matrix in the
/// Frobenius norm.
fn psd_part(h: DMatrix<f64>) -> DMatrix<f64> {
    let eig = SymmetricEigen::new(h);
    let clipped = eig.eigenvalues.map(|l| l.max(0.0));
    let v = &eig.eigenvectors;
    let half = v * DMatrix::from_diagonal(&clipped.map(f64::sqrt));
    &half * half.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psd_part_drops_the_negative_eigenvalues() {
        // Q diag(2, −0.5, 0.25) Qᵀ for a rotation Q → Q diag(2, 0, 0.25) Qᵀ.
        let q = nalgebra::Rotation3::from_euler_angles(0.3, -0.7, 1.1).into_inner();
        let q = DMatrix::from_fn(3, 3, |i, j| q[(i, j)]);
        let with = |d: [f64; 3]| {
            &q * DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(&d)) * q.transpose()
        };
        let got = psd_part(with([2.0, -0.5, 0.25]));
        let err = (&got - with([2.0, 0.0, 0.25])).amax();
        assert!(err < 1e-14, "max error {err}");
        assert_eq!(got, got.transpose(), "exactly symmetric");
    }

    #[test]
    fn gram_factor_reproduces_the_inner_products_with_the_rank() {
        // 5 vectors in R^7 spanning 3 dimensions.
        let basis = DMatrix::from_fn(3, 7, |i, j| (((i * 7 + j) as f64).powi(2) * 0.37).sin());
        let mix = DMatrix::from_fn(5, 3, |i, j| (((i + 2 * j) as f64).powi(2) * 0.91).cos());
        let g = mix * basis;
        let gram = &g * g.transpose();
        let f = gram_factor(&gram);
        assert_eq!(f.ncols(), 3);
        let back = &f * f.transpose();
        let err = (&back - &gram).amax();
        assert!(err < 1e-12 * gram.amax(), "max error {err}");
    }
}
