//! The boundary predicted from the curvature at w* (`docs/science.md`): the per-sample
//! Hessians H_i of the model at w* feed the stability engine, and the one verdict engine
//! ([`Thresholds`]) decides per (η, α, B, budget K) whether the linearised step escapes:
//! ρ(T) = 1 (mean square), first moment (λ_min(H_α) < 0 or λ_max(H_α) > 2/η), the pair
//! coherence bound, γ_∞ (asymptotic, from long simulated linear runs, three-valued), linear
//! growth within K steps (simulated linear runs of the budget's length) and the finite-budget
//! escape T̂_esc ≤ K (from the forget set's margins and score gradients at w*,
//! [`crate::escape`]).
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
//!   grid prints a one-line note on stderr, its `predicted_*` CSV columns are empty and no
//!   boundaries are drawn. The rank-one formula is never used for a model that does not
//!   declare rank-one Hessians.
//!
//! λ_min(H_α) is reported over R^p (0 counts when the span is smaller than R^p, as for the
//! CNN, where p ≫ r). What does not depend on the budget (ρ(T) and γ_∞) is computed once per
//! setup and step setting and shared by every cell that asks for it (e.g. the cells of a
//! budget axis): γ_∞ needs tens of thousands of simulated steps where |γ_∞| is small.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use burn::tensor::DType;
use frontier_model::{DeviceData, Loss, Model};
use frontier_probes::{
    CurvatureGram, GenericOptions, SampleCurvature, pair_coherence, per_sample_hessians,
    retain_first,
};
use frontier_stability::bounds::{curvature_gram, pair_bound};
use frontier_stability::first_moment::{FirstMoment, first_moment};
use frontier_stability::lyapunov::{
    AsymptoticExponent, AsymptoticOptions, asymptotic_exponent, growth_within,
};
use frontier_stability::mean_square::{PowerOptions, rho};
use frontier_stability::simulate::InitialState;
use frontier_stability::verdict::Evidence;
use frontier_stability::{Curvature, Family, Problem, Settings, Thresholds, Verdicts};
use nalgebra::{DMatrix, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};
use crate::escape::EscapeInputs;

/// Lanczos steps for ρ(T) when the first moment already diverges (ρ(T) > 1 is then
/// certain; the iterations only refine the reported value).
const FIRST_MOMENT_ITER: usize = 20;

/// Controls of the predicted verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictConfig {
    /// Compute the predictions at all.
    pub enabled: bool,
    /// Simulated linear runs per cell and seed behind linear growth within K steps (K = the
    /// unlearning budget `unlearn.steps`).
    pub sim_reps: usize,
    /// Lanczos iteration for ρ(T): relative residual tolerance (the field keeps its old name
    /// so configs stay valid).
    pub power_tol: f64,
    /// Lanczos iteration for ρ(T): step cap (the top Ritz value is a lower bound on ρ,
    /// so a capped estimate above 1 still proves divergence).
    pub power_max_iter: usize,
    /// γ_∞ (asymptotic): for how many setups per cell, and how long.
    pub asymptotic: AsymptoticConfig,
}

impl Default for PredictConfig {
    /// On; growth within K from 4 runs; ρ to 1e-6 within 300 iterations; γ_∞ as in
    /// [`AsymptoticConfig::default`].
    fn default() -> Self {
        PredictConfig {
            enabled: true,
            sim_reps: 4,
            power_tol: 1e-6,
            power_max_iter: 300,
            asymptotic: AsymptoticConfig::default(),
        }
    }
}

impl PredictConfig {
    /// Checks the fields; errors name the config key.
    pub fn validate(&self) -> Result<()> {
        if self.sim_reps == 0 {
            return Err(invalid("predict.sim_reps", "must be at least 1, got 0"));
        }
        self.asymptotic
            .options(0)
            .validate()
            .map_err(|e| invalid("predict.asymptotic", e.to_string()))
    }
}

/// How γ_∞ is estimated in a grid (see [`asymptotic_exponent`]): the runs of setup r use a
/// master seed derived from (grid seed, r), and every cell of that setup with the same step
/// settings shares one estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsymptoticConfig {
    /// How many setups (repetitions) of each cell get a γ_∞: the first `setups` (0 = none;
    /// more than the repetitions = all). γ_∞ costs up to about 2·`reps`·`max_steps`
    /// simulated steps per setup and step setting.
    pub setups: usize,
    /// Independent runs per estimate (≥ 2).
    pub reps: usize,
    /// The first horizon T₀ (≥ 2 steps); horizons double from it.
    pub min_steps: usize,
    /// The step cap (≥ `min_steps`): without a sign by then, γ_∞ is undetermined.
    pub max_steps: usize,
    /// The slowest mode must have had this many times 1/|γ̂| steps (> 0).
    pub settle: f64,
}

impl Default for AsymptoticConfig {
    /// One setup per cell, 8 runs, horizons 200 … 25 600 steps, settle 5: a sign needs
    /// |γ_∞| ≥ 5/25 600 ≈ 2·10⁻⁴ at the last horizon (the memorisation regime's
    /// γ_∞ ≈ 5·10⁻⁴ at small α).
    fn default() -> Self {
        AsymptoticConfig {
            setups: 1,
            reps: 8,
            min_steps: 200,
            max_steps: 25_600,
            settle: 5.0,
        }
    }
}

impl AsymptoticConfig {
    /// The estimator's options with master seed `seed` (isotropic start).
    pub fn options(&self, seed: u64) -> AsymptoticOptions {
        AsymptoticOptions {
            reps: self.reps,
            seed,
            min_steps: self.min_steps,
            max_steps: self.max_steps,
            settle: self.settle,
            init: InitialState::Normal,
        }
    }
}

/// What one prediction is asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Query {
    /// η, α, B_r, B_f and the sampling scheme of the unlearning step.
    pub settings: Settings,
    /// The step budget K.
    pub budget: usize,
    /// The escape radius R = escape_factor·‖w*‖ (parameter units).
    pub radius: f64,
    /// Master seed of the runs behind growth within K …
    pub growth_seed: u64,
    /// … and the cell index of their streams.
    pub cell: u64,
    /// Master seed of the runs behind γ_∞; `None`: no γ_∞ for this setup.
    pub asymptotic_seed: Option<u64>,
}

/// The predictions for one (setup, settings, budget): every number behind a verdict, and the
/// verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// ρ(T) on the curvature span (growth of E‖u‖² per step): the larger of the Lanczos
    /// iteration's top Ritz value and ρ(I − ηH_α)², both lower bounds.
    #[serde(with = "crate::cache::lossless")]
    pub rho: f64,
    /// Whether its Lanczos iteration converged.
    pub rho_converged: bool,
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
    /// γ̂_∞ (log growth of ‖u‖ per step; NaN when not estimated for this setup).
    #[serde(with = "crate::cache::lossless")]
    pub gamma_inf: f64,
    /// Its standard error (NaN when not estimated).
    #[serde(with = "crate::cache::lossless")]
    pub gamma_inf_stderr: f64,
    /// Steps each of its runs took (0 when not estimated).
    pub gamma_inf_steps: usize,
    /// Linear growth within K steps: mean log growth of ‖u‖ per step over the budget.
    #[serde(with = "crate::cache::lossless")]
    pub growth_within_k: f64,
    /// T̂_esc = L/κ, the predicted escape step (+∞ when no direction is unstable).
    #[serde(with = "crate::cache::lossless")]
    pub escape_steps: f64,
    /// κ = ln(1 + η|λ_min(H_α)|), e-folds per step.
    #[serde(with = "crate::cache::lossless")]
    pub kappa: f64,
    /// L, the loss-shape factor (e-folds the escape needs).
    #[serde(with = "crate::cache::lossless")]
    pub shape_factor: f64,
    /// Every verdict.
    pub verdicts: Verdicts,
}

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

/// What the predictions of one step setting share whatever the budget: ρ(T) and γ_∞.
#[derive(Debug, Clone, Copy)]
struct SettingTerms {
    rho: f64,
    rho_converged: bool,
    asymptotic: Option<AsymptoticExponent>,
}

/// The linearised problem at w*: retain and forget curvature in span coordinates, and the
/// escape rule's inputs.
#[derive(Debug)]
pub struct Linearised {
    curvature: Curvature,
    /// tr(H_i H_j) of every pair of samples, (n_r + n_f)², behind σ_U.
    gram: CurvatureGram,
    /// What depends on α alone, per α asked so far (keyed by its bits): the cells of a grid
    /// that differ only in η or B share one pair-coherence solve and one eigen-solve of H_α.
    by_alpha: Mutex<BTreeMap<u64, AlphaTerms>>,
    /// What does not depend on the budget, per step setting and γ_∞ seed: computed once,
    /// by whichever cell asks first, while the others wait for it.
    by_setting: Mutex<BTreeMap<String, Arc<OnceLock<SettingTerms>>>>,
    /// ‖(1/n) Σ_i ∇ℓ_i(w*)‖₂: how far w* is from the zero-gradient assumption.
    pub residual_grad_norm: f64,
    /// The escape rule's inputs at w* (forget margins, score gradients, cos(∇L_R, ∇L_F),
    /// α_drift).
    pub escape: EscapeInputs,
}

impl Linearised {
    /// Probes `model` at its parameters on the training rows of `data` (split by its forget
    /// mask; at least one retain and one forget row), building the H_i by `method` (from
    /// [`HessianMethod::choose`]), and measures the escape rule's inputs.
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
            by_setting: Mutex::new(BTreeMap::new()),
            curvature,
            residual_grad_norm: samples.residual_grad_norm(),
            escape: EscapeInputs::measure(model, loss, data)?,
        })
    }

    /// σ_U and λ_min/λ_max(H_α) over R^p of `problem`, computed once per α (they depend on
    /// α only).
    fn alpha_terms(&self, problem: &Problem<'_>) -> Result<AlphaTerms> {
        let key = problem.settings().alpha.to_bits();
        if let Some(terms) = self.by_alpha.lock().expect("not poisoned").get(&key) {
            return Ok(*terms);
        }
        let mut first = first_moment(problem);
        if self.curvature.rank() < self.curvature.dim() {
            first.lambda_min = first.lambda_min.min(0.0);
            first.lambda_max = first.lambda_max.max(0.0);
        }
        let terms = AlphaTerms {
            sigma_u: pair_coherence(&self.gram, problem.settings().alpha, false)?,
            first,
        };
        self.by_alpha
            .lock()
            .expect("not poisoned")
            .insert(key, terms);
        Ok(terms)
    }

    /// ρ(T) and (when `asymptotic` gives its options, validated) γ_∞ of `problem`, computed
    /// once per step setting. `first_diverges` is the first moment's verdict: it makes
    /// ρ(T) > 1 certain, so that a few Lanczos steps only refine the value.
    fn setting_terms(
        &self,
        problem: &Problem<'_>,
        cfg: &PredictConfig,
        first_diverges: bool,
        asymptotic: Option<AsymptoticOptions>,
    ) -> SettingTerms {
        let key = serde_json::to_string(&(problem.settings(), asymptotic.map(|o| o.seed)))
            .expect("settings serialise");
        let once = Arc::clone(
            self.by_setting
                .lock()
                .expect("not poisoned")
                .entry(key)
                .or_default(),
        );
        *once.get_or_init(|| {
            // E‖u‖² ≥ ‖E u‖², so ρ(T) ≥ ρ(I − ηH_α)²: when the first moment already diverges
            // the Lanczos iteration only refines the value, and a few steps do.
            let power = rho(
                problem,
                &PowerOptions {
                    tol: cfg.power_tol,
                    max_iter: if first_diverges {
                        cfg.power_max_iter.min(FIRST_MOMENT_ITER)
                    } else {
                        cfg.power_max_iter
                    },
                },
            );
            SettingTerms {
                rho: power.value,
                rho_converged: power.converged,
                asymptotic: asymptotic
                    .map(|opts| asymptotic_exponent(problem, &opts, 0).expect("options validated")),
            }
        })
    }

    /// The predictions for `query` under `cfg` (validated: [`PredictConfig::validate`]).
    pub fn predict(&self, query: &Query, cfg: &PredictConfig) -> Result<Prediction> {
        cfg.validate()?;
        let settings = query.settings;
        let problem = Problem::new(&self.curvature, settings)?;
        let AlphaTerms { sigma_u, first } = self.alpha_terms(&problem)?;
        let thresholds = Thresholds::DEFAULT;
        let eta = settings.eta;
        let asymptotic = query
            .asymptotic_seed
            .map(|seed| cfg.asymptotic.options(seed));
        let shared = self.setting_terms(
            &problem,
            cfg,
            thresholds.first_moment(eta, &first),
            asymptotic,
        );
        let jbar = (1.0 - eta * first.lambda_min)
            .abs()
            .max((1.0 - eta * first.lambda_max).abs());
        let rho_value = shared.rho.max(jbar * jbar);
        let growth = growth_within(
            &problem,
            query.budget,
            cfg.sim_reps,
            query.growth_seed,
            query.cell,
        )?;
        let escape =
            self.escape
                .escape_time(eta, thresholds.unstable_lambda(&first), query.radius)?;
        // Every linearisation here has a forget family, so the pair form of the bound applies.
        let bound = pair_bound(
            sigma_u,
            eta,
            first.abs_max(),
            self.curvature.n_retain() * self.curvature.n_forget(),
            settings.batch_retain,
        );
        let verdicts = thresholds.judge(&Evidence {
            eta,
            rho: rho_value,
            first,
            bound,
            asymptotic: shared.asymptotic.map(|a| a.verdict),
            growth_rate: Some(growth.rate),
            escape: Some((escape.steps, query.budget)),
        });
        Ok(Prediction {
            rho: rho_value,
            rho_converged: shared.rho_converged,
            lambda_min_h_alpha: first.lambda_min,
            lambda_max_h_alpha: first.lambda_max,
            sigma_u,
            pair_critical: bound.critical,
            gamma_inf: shared.asymptotic.map_or(f64::NAN, |a| a.gamma),
            gamma_inf_stderr: shared.asymptotic.map_or(f64::NAN, |a| a.stderr),
            gamma_inf_steps: shared.asymptotic.map_or(0, |a| a.steps),
            growth_within_k: growth.rate,
            escape_steps: escape.steps,
            kappa: escape.kappa,
            shape_factor: escape.shape_factor,
            verdicts,
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
