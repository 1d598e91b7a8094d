//! The generic curvature path, for any [`Model`] (`docs/science.md#two-curvatures-of-one-network`): per-sample Hessians
//! H_i = ∇²_w ℓ_i(w*) = ℓ''_i g_i g_iᵀ + ℓ'_i ∇²f_i are not rank one in general, and Burn's
//! autodiff is first-order only, so everything comes from central finite differences of
//! per-sample loss gradients ∇ℓ_i = ℓ'_i ∇f_i (the model's `score_grads`), in f64, with the
//! perturbation length ε·max(1, ‖w*‖) (ε = 1e-5 by default, see [`FiniteDifferenceHvp`]).
//!
//! Two methods ([`GenericOptions::dense_max_params`] picks one by the parameter count p):
//!
//! - **Dense** (small p): the n per-sample Hessians column by column (2p batched gradient
//!   evaluations, n·p² memory) → [`CurvatureGram::try_from_dense`]: exact K, λ_max(H_i) and
//!   pair spectra ([`PairSpectra::Dense`], an eigen-decomposition per (r, f) pair); H and H_α
//!   from the dense weighted sums. Everything is exact up to the finite-difference error.
//! - **Hutchinson** (any p): K_ij = tr(H_i H_j) = E[(H_i v)·(H_j v)] over Rademacher probes
//!   v, two batched gradient evaluations per probe for all n samples; a standard error per
//!   entry and, by the delta method, per coherence number ([`HutchinsonGram`]). λ_max(H_i) per
//!   sample from Lanczos on its one-sample finite-difference operator (exact dense solve for
//!   p ≤ [`DENSE_LIMIT`]). **Pair normaliser** \[choice\]: the upper bound
//!   |λ|_max((1−α)H_r − αH_f) ≤ max((1−α)λ_r, αλ_f) ([`PairSpectra::UpperBound`], exact for
//!   PSD H_i), so σ_U and σ_U_signed are lower bounds in this mode (n_r·n_f Lanczos runs
//!   would make them exact). λ_max(H), λ_min/λ_max(H_α) by Lanczos on the finite-difference
//!   operator of the weighted loss gradient (`Model::loss_grad`); tr(H) from the same probes.
//!
//! Definitions are those of [`CoherenceReport`]. Near a kink of a piecewise-linear model
//! (ReLU) finite differences are meaningless; away from kinks the generic path reproduces the
//! rank-one shortcut (tested on the CNN below).

mod finite_difference;
mod hutchinson;

pub use hutchinson::HutchinsonGram;

use burn::tensor::Tensor;
use frontier_model::{Loss, Model};
use nalgebra::DMatrix;
use serde::Serialize;

use crate::coherence::{CurvatureGram, try_coherence};
use crate::error::Result;
use crate::operator::{DenseOperator, LinearOperator};
use crate::report::{CoherenceReport, split_sizes};
use crate::samples::retain_first;
use crate::solvers::{LanczosOptions, extreme_eigenvalues};
use crate::weights::{full_weights, mixed_weights};
use finite_difference::FdProblem;

#[cfg(doc)]
use crate::{coherence::PairSpectra, operator::FiniteDifferenceHvp, solvers::DENSE_LIMIT};

/// Options of the generic path. Every field has a default.
#[derive(Debug, Clone, PartialEq)]
pub struct GenericOptions {
    /// Dense per-sample Hessians when p ≤ this, Hutchinson probes above (default 64).
    pub dense_max_params: usize,
    /// Hutchinson probes (≥ 2; default 100). Standard errors shrink as 1/√probes.
    pub probes: usize,
    /// Relative finite-difference step ε (default 1e-5).
    pub relative_step: f64,
    /// Seed of the Rademacher probes (default 0).
    pub seed: u64,
    /// Lanczos settings for λ_max(H_i) and the spectra of H and H_α on finite-difference
    /// operators (`top`/`bottom` are set per use). Default: 200 steps, tol 1e-7 (the
    /// operators are only accurate to ~1e-10 relative), seed 0.
    pub lanczos: LanczosOptions,
}

impl Default for GenericOptions {
    fn default() -> Self {
        Self {
            dense_max_params: 64,
            probes: 100,
            relative_step: 1e-5,
            seed: 0,
            lanczos: LanczosOptions {
                max_iter: 200,
                tol: 1e-7,
                ..LanczosOptions::default()
            },
        }
    }
}

/// Which method produced a [`GenericCoherenceReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CurvatureMethod {
    /// Dense finite-difference per-sample Hessians.
    Dense,
    /// Hutchinson probes.
    Hutchinson,
}

/// Standard errors of the estimated numbers of a [`CoherenceReport`] (all 0 for the dense
/// method). The coherence numbers' errors come from [`HutchinsonGram::coherence_std_error`];
/// they do not cover the bias of σ_U from the pair-normaliser bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CoherenceStdError {
    /// Of σ.
    pub sigma: f64,
    /// Of σ_R.
    pub sigma_r: f64,
    /// Of σ_F.
    pub sigma_f: f64,
    /// Of σ_RF.
    pub sigma_rf: f64,
    /// Of σ_U.
    pub sigma_u: f64,
    /// Of σ_U_signed.
    pub sigma_u_signed: f64,
    /// Of tr(H).
    pub trace_h: f64,
    /// max_ij SE(K_ij) / max_ij |K_ij|: the relative noise of the curvature Gram matrix.
    pub k_relative: f64,
}

/// The coherence report of the generic path, with what only it has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenericCoherenceReport {
    /// The same numbers as the rank-one [`crate::coherence_report`] (σ_U, σ_U_signed lower
    /// bounds with [`CurvatureMethod::Hutchinson`]).
    #[serde(flatten)]
    pub report: CoherenceReport,
    /// Dense or Hutchinson.
    pub method: CurvatureMethod,
    /// Number of parameters p.
    pub params: usize,
    /// Hutchinson probes used (0 for dense).
    pub probes: usize,
    /// Standard errors (0 for dense).
    pub std_error: CoherenceStdError,
    /// Whether every iterative eigen-solve met its tolerance.
    pub converged: bool,
}

/// Dense per-sample loss Hessians H_i (p×p each, symmetrised) of `model` at its parameters
/// on x [n, P, d], y `[n]`, by central differences of per-sample loss gradients (2p batched
/// evaluations, f64 only). For small p; feed them to [`CurvatureGram::try_from_dense`].
pub fn per_sample_hessians<M: Model>(
    model: &M,
    loss: Loss,
    x: Tensor<3>,
    y: Tensor<1>,
    relative_step: f64,
) -> Result<Vec<DMatrix<f64>>> {
    let problem = FdProblem::new(model, loss, x, y, relative_step)?;
    Ok(symmetrised(problem.dense_hessians()))
}

/// The Hutchinson estimate of K = [tr(H_i H_j)] for `model` at its parameters on x [n, P, d],
/// y `[n]` (samples ordered retain first, the first `n_retain` are R), with `options.probes`
/// probes; f64 only.
pub fn hutchinson_gram<M: Model>(
    model: &M,
    loss: Loss,
    x: Tensor<3>,
    y: Tensor<1>,
    n_retain: usize,
    options: &GenericOptions,
) -> Result<HutchinsonGram> {
    let problem = FdProblem::new(model, loss, x, y, options.relative_step)?;
    HutchinsonGram::estimate(
        &problem,
        n_retain,
        options.probes,
        options.seed,
        &options.lanczos,
    )
}

/// The coherence report by the path the model calls for: the rank-one shortcut
/// ([`crate::coherence_report`], any precision) when [`Model::rank_one_hessians`] says the
/// per-sample Hessians are rank one, the generic path ([`generic_coherence_report`], f64)
/// otherwise. Same arguments as those two.
pub fn model_coherence_report<M: Model>(
    model: &M,
    loss: Loss,
    x: Tensor<3>,
    y: Tensor<1>,
    forget: &[bool],
    alpha: f64,
    options: &GenericOptions,
) -> Result<CoherenceReport> {
    if model.rank_one_hessians() {
        crate::coherence_report(model, loss, x, y, forget, alpha)
    } else {
        Ok(generic_coherence_report(model, loss, x, y, forget, alpha, options)?.report)
    }
}

/// Probes any `model` at its parameters (f64) on inputs x [n, P, d], labels y `[n]` and the
/// forget mask (length n, at least one forget and one retain sample) by the generic path:
/// dense when p ≤ `options.dense_max_params`, Hutchinson otherwise (see the module docs).
pub fn generic_coherence_report<M: Model>(
    model: &M,
    loss: Loss,
    x: Tensor<3>,
    y: Tensor<1>,
    forget: &[bool],
    alpha: f64,
    options: &GenericOptions,
) -> Result<GenericCoherenceReport> {
    let (n_retain, n_forget) = split_sizes(forget)?;
    let n = forget.len();
    let (x, y) = retain_first(x, y, forget);
    let problem = FdProblem::new(model, loss, x, y, options.relative_step)?;
    let weights = [full_weights(n), mixed_weights(n, n_retain, alpha)?];
    let c = if problem.p() <= options.dense_max_params {
        dense_curvature(&problem, n_retain, &weights, options)?
    } else {
        hutchinson_curvature(&problem, n_retain, alpha, &weights, options)?
    };
    let sigmas = try_coherence(&c.gram, alpha)?;
    Ok(GenericCoherenceReport {
        report: CoherenceReport {
            n,
            n_retain,
            n_forget,
            loss,
            alpha,
            sigma: sigmas.sigma,
            sigma_r: sigmas.sigma_r,
            sigma_f: sigmas.sigma_f,
            sigma_rf: sigmas.sigma_rf,
            sigma_u: sigmas.sigma_u,
            sigma_u_signed: sigmas.sigma_u_signed,
            lambda_max_h: c.lambda_max_h,
            trace_h: c.trace_h,
            lambda_min_h_alpha: c.lambda_min_h_alpha,
            lambda_max_h_alpha: c.lambda_max_h_alpha,
            residual_grad_norm: problem.weighted_grad_norm(&weights[0]),
        },
        method: c.method,
        params: problem.p(),
        probes: c.probes,
        std_error: c.std_error,
        converged: c.converged,
    })
}

/// Everything but the coherence numbers, from one method.
struct Curvature {
    method: CurvatureMethod,
    gram: CurvatureGram,
    trace_h: f64,
    lambda_max_h: f64,
    lambda_min_h_alpha: f64,
    lambda_max_h_alpha: f64,
    probes: usize,
    std_error: CoherenceStdError,
    converged: bool,
}

/// λ_max(H), λ_min(H_α), λ_max(H_α) and whether both solves converged.
fn spectra(
    h: &dyn LinearOperator,
    h_alpha: &dyn LinearOperator,
    lanczos: &LanczosOptions,
) -> ([f64; 3], bool) {
    let solve = |op: &dyn LinearOperator, top, bottom| {
        extreme_eigenvalues(
            op,
            &LanczosOptions {
                top,
                bottom,
                ..lanczos.clone()
            },
        )
    };
    let (h, h_alpha) = (solve(h, 1, 0), solve(h_alpha, 1, 1));
    (
        [h.top[0], h_alpha.bottom[0], h_alpha.top[0]],
        h.converged && h_alpha.converged,
    )
}

/// The dense method; `weights` are those of H and H_α.
fn dense_curvature<M: Model>(
    problem: &FdProblem<'_, M>,
    n_retain: usize,
    weights: &[Vec<f64>; 2],
    options: &GenericOptions,
) -> Result<Curvature> {
    let (n, p) = (problem.n(), problem.p());
    let hessians = symmetrised(problem.dense_hessians());
    let weighted = |w: &[f64]| {
        DenseOperator::new(
            hessians
                .iter()
                .zip(w)
                .fold(DMatrix::zeros(p, p), |acc, (h, w)| acc + h * *w),
        )
    };
    let ([lambda_max_h, lambda_min_h_alpha, lambda_max_h_alpha], converged) = spectra(
        &weighted(&weights[0])?,
        &weighted(&weights[1])?,
        &options.lanczos,
    );
    Ok(Curvature {
        method: CurvatureMethod::Dense,
        trace_h: hessians.iter().map(|h| h.trace()).sum::<f64>() / n as f64,
        gram: CurvatureGram::try_from_dense(&hessians, n_retain)?,
        lambda_max_h,
        lambda_min_h_alpha,
        lambda_max_h_alpha,
        probes: 0,
        std_error: CoherenceStdError::zero(),
        converged,
    })
}

/// The Hutchinson method; `weights` are those of H and H_α.
fn hutchinson_curvature<M: Model>(
    problem: &FdProblem<'_, M>,
    n_retain: usize,
    alpha: f64,
    weights: &[Vec<f64>; 2],
    options: &GenericOptions,
) -> Result<Curvature> {
    let estimate = HutchinsonGram::estimate(
        problem,
        n_retain,
        options.probes,
        options.seed,
        &options.lanczos,
    )?;
    let se = estimate.coherence_std_error(alpha)?;
    let k_max = estimate.gram.k.amax();
    let ([lambda_max_h, lambda_min_h_alpha, lambda_max_h_alpha], converged) = spectra(
        &problem.weighted_operator(&weights[0])?,
        &problem.weighted_operator(&weights[1])?,
        &options.lanczos,
    );
    Ok(Curvature {
        method: CurvatureMethod::Hutchinson,
        trace_h: estimate.trace_h,
        lambda_max_h,
        lambda_min_h_alpha,
        lambda_max_h_alpha,
        probes: estimate.probes,
        std_error: CoherenceStdError {
            sigma: se.sigma,
            sigma_r: se.sigma_r,
            sigma_f: se.sigma_f,
            sigma_rf: se.sigma_rf,
            sigma_u: se.sigma_u,
            sigma_u_signed: se.sigma_u_signed,
            trace_h: estimate.trace_h_std_error,
            k_relative: if k_max > 0.0 {
                estimate.k_std_error.amax() / k_max
            } else {
                0.0
            },
        },
        converged: converged && estimate.converged,
        gram: estimate.gram,
    })
}

impl CoherenceStdError {
    fn zero() -> Self {
        Self {
            sigma: 0.0,
            sigma_r: 0.0,
            sigma_f: 0.0,
            sigma_rf: 0.0,
            sigma_u: 0.0,
            sigma_u_signed: 0.0,
            trace_h: 0.0,
            k_relative: 0.0,
        }
    }
}

/// (H + Hᵀ)/2 for each matrix.
fn symmetrised(h: Vec<DMatrix<f64>>) -> Vec<DMatrix<f64>> {
    h.into_iter().map(|m| (&m + m.transpose()) * 0.5).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::coherence_report;
    use burn::tensor::Device;
    use frontier_model::{Cnn, Precision, tensor_from, to_f64};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A tiny CNN (n = 8, P = 2, d = 6, m = 2, p = 24) with U(−1.5, 1.5) filters and inputs, far
    /// from every ReLU kink (checked), in `precision`; 3 of the 8 samples are forgotten.
    fn tiny_cnn(precision: Precision) -> (Cnn, Tensor<3>, Tensor<1>, Vec<bool>) {
        let (n, patches, d, m) = (8, 2, 6, 2);
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let mut draw =
            |len: usize| -> Vec<f64> { (0..len).map(|_| rng.random_range(-1.5..1.5)).collect() };
        let (xs, ws) = (draw(n * patches * d), draw(2 * m * d));
        let device = Device::flex();
        let cnn = Cnn::from_filters(
            tensor_from(&ws[..m * d], [m, d], &device, precision),
            tensor_from(&ws[m * d..], [m, d], &device, precision),
        );
        // Smallest |⟨w_r, x^(p)⟩| against the most a finite-difference shift of length
        // 1e-5·max(1, ‖w‖) can move it: 1e-5·max(1, ‖w‖)·max_q ‖x^(q)‖.
        let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let max_x = xs.chunks(d).map(norm).fold(0.0, f64::max);
        let shift = 1e-5 * norm(&ws).max(1.0) * max_x;
        let gap = (0..n * patches)
            .flat_map(|q| (0..2 * m).map(move |r| (q, r)))
            .map(|(q, r)| {
                (0..d)
                    .map(|k| ws[r * d + k] * xs[q * d + k])
                    .sum::<f64>()
                    .abs()
            })
            .fold(f64::INFINITY, f64::min);
        assert!(
            gap > 10.0 * shift,
            "a pre-activation is too close to a ReLU kink: {gap} vs shift {shift}"
        );
        let y: Vec<f64> = (0..n)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let forget = (0..n).map(|i| i % 3 == 1).collect();
        (
            cnn,
            tensor_from(&xs, [n, patches, d], &device, precision),
            tensor_from(&y, [n], &device, precision),
            forget,
        )
    }

    fn rel(a: f64, b: f64, floor: f64) -> f64 {
        (a - b).abs() / b.abs().max(floor)
    }

    /// Dense finite-difference per-sample Hessians reproduce the rank-one shortcut on the CNN:
    /// every number of the report to 1e-6 relative (λ_min(H_α) is 0 there, compared on the
    /// scale of λ_max(H)).
    #[test]
    fn dense_generic_path_equals_rank_one_on_the_cnn() {
        for loss in [Loss::Logistic, Loss::Squared] {
            let (cnn, x, y, forget) = tiny_cnn(Precision::F64);
            let alpha = 0.4;
            let r1 = coherence_report(&cnn, loss, x.clone(), y.clone(), &forget, alpha).unwrap();
            let g = generic_coherence_report(
                &cnn,
                loss,
                x,
                y,
                &forget,
                alpha,
                &GenericOptions::default(),
            )
            .unwrap();
            assert_eq!(
                (g.method, g.params, g.probes),
                (CurvatureMethod::Dense, 24, 0)
            );
            assert!(g.converged);
            let scale = r1.lambda_max_h;
            let pairs = [
                ("sigma", g.report.sigma, r1.sigma),
                ("sigma_r", g.report.sigma_r, r1.sigma_r),
                ("sigma_f", g.report.sigma_f, r1.sigma_f),
                ("sigma_rf", g.report.sigma_rf, r1.sigma_rf),
                ("sigma_u", g.report.sigma_u, r1.sigma_u),
                ("sigma_u_signed", g.report.sigma_u_signed, r1.sigma_u_signed),
                ("lambda_max_h", g.report.lambda_max_h, r1.lambda_max_h),
                ("trace_h", g.report.trace_h, r1.trace_h),
                (
                    "lambda_min_h_alpha",
                    g.report.lambda_min_h_alpha,
                    r1.lambda_min_h_alpha,
                ),
                (
                    "lambda_max_h_alpha",
                    g.report.lambda_max_h_alpha,
                    r1.lambda_max_h_alpha,
                ),
                (
                    "residual_grad_norm",
                    g.report.residual_grad_norm,
                    r1.residual_grad_norm,
                ),
            ];
            for (name, generic, rank_one) in pairs {
                let floor = if name.starts_with("lambda") {
                    scale
                } else {
                    1e-300
                };
                assert!(
                    rel(generic, rank_one, floor) < 1e-6,
                    "{loss:?} {name}: generic rust={generic}, rank-one reference={rank_one}"
                );
            }
            assert_eq!(
                (g.report.n, g.report.n_retain, g.report.n_forget),
                (8, 5, 3)
            );
        }
    }

    /// Hutchinson probes on the CNN agree with the rank-one shortcut: σ, σ_R, σ_F, σ_RF and
    /// tr(H) within 4 standard errors (plus 1e-6 relative for the finite differences); the
    /// spectra (deterministic) to 1e-6; σ_U is a lower bound (upper-bound pair normaliser).
    #[test]
    fn hutchinson_generic_path_agrees_with_rank_one_on_the_cnn() {
        let (cnn, x, y, forget) = tiny_cnn(Precision::F64);
        let (loss, alpha) = (Loss::Logistic, 0.4);
        let r1 = coherence_report(&cnn, loss, x.clone(), y.clone(), &forget, alpha).unwrap();
        let options = GenericOptions {
            dense_max_params: 0,
            probes: 400,
            ..GenericOptions::default()
        };
        let g = generic_coherence_report(&cnn, loss, x, y, &forget, alpha, &options).unwrap();
        println!(
            "rank-one: {r1:?}\ngeneric: {:?}\nstd errors: {:?}",
            g.report, g.std_error
        );
        assert_eq!((g.method, g.probes), (CurvatureMethod::Hutchinson, 400));
        assert!(g.converged);
        let se = g.std_error;
        let noisy = [
            ("sigma", g.report.sigma, r1.sigma, se.sigma),
            ("sigma_r", g.report.sigma_r, r1.sigma_r, se.sigma_r),
            ("sigma_f", g.report.sigma_f, r1.sigma_f, se.sigma_f),
            ("sigma_rf", g.report.sigma_rf, r1.sigma_rf, se.sigma_rf),
            ("trace_h", g.report.trace_h, r1.trace_h, se.trace_h),
        ];
        for (name, generic, rank_one, se) in noisy {
            assert!(
                se > 0.0 && se < 0.2 * rank_one.abs(),
                "{name}: standard error {se}"
            );
            assert!(
                (generic - rank_one).abs() <= 4.0 * se + 1e-6 * rank_one.abs(),
                "{name}: generic rust={generic} ± {se}, rank-one reference={rank_one}"
            );
        }
        let exact = [
            ("lambda_max_h", g.report.lambda_max_h, r1.lambda_max_h),
            (
                "lambda_min_h_alpha",
                g.report.lambda_min_h_alpha,
                r1.lambda_min_h_alpha,
            ),
            (
                "lambda_max_h_alpha",
                g.report.lambda_max_h_alpha,
                r1.lambda_max_h_alpha,
            ),
        ];
        for (name, generic, rank_one) in exact {
            assert!(
                rel(generic, rank_one, r1.lambda_max_h) < 1e-6,
                "{name}: generic rust={generic}, rank-one reference={rank_one}"
            );
        }
        for (name, generic, rank_one, se) in [
            ("sigma_u", g.report.sigma_u, r1.sigma_u, se.sigma_u),
            (
                "sigma_u_signed",
                g.report.sigma_u_signed,
                r1.sigma_u_signed,
                se.sigma_u_signed,
            ),
        ] {
            assert!(
                generic <= rank_one + 4.0 * se,
                "{name}: lower bound rust={generic} ± {se}, reference={rank_one}"
            );
        }
    }

    /// The per-sample Hessians are c_i g_i g_iᵀ on the CNN (closed-form g_i), to 1e-7.
    #[test]
    fn per_sample_hessians_are_rank_one_on_the_cnn() {
        let (cnn, x, y, _) = tiny_cnn(Precision::F64);
        let loss = Loss::Logistic;
        let h = per_sample_hessians(&cnn, loss, x.clone(), y.clone(), 1e-5).unwrap();
        let g = to_f64(cnn.score_grads(x.clone()));
        let c = to_f64(loss.d2(cnn.forward(x), y));
        let p = cnn.param_count();
        for (i, hi) in h.iter().enumerate() {
            let gi = nalgebra::DVector::from_column_slice(&g[i * p..(i + 1) * p]);
            let exact = &gi * gi.transpose() * c[i];
            let err = (hi - &exact).norm() / exact.norm();
            assert!(err < 1e-7, "sample {i}: relative error {err}");
        }
    }

    #[test]
    fn f32_models_and_bad_masks_are_errors() {
        let (cnn, x, y, forget) = tiny_cnn(Precision::F32);
        let options = GenericOptions::default();
        let err = generic_coherence_report(&cnn, Loss::Logistic, x, y, &forget, 0.5, &options)
            .unwrap_err();
        assert!(err.to_string().contains("F64"), "{err}");
        let (cnn, x, y, _) = tiny_cnn(Precision::F64);
        let err = generic_coherence_report(
            &cnn,
            Loss::Logistic,
            x.clone(),
            y.clone(),
            &[false; 8],
            0.5,
            &options,
        )
        .unwrap_err();
        assert!(err.to_string().contains("forget"), "{err}");
        let few = GenericOptions {
            dense_max_params: 0,
            probes: 1,
            ..options
        };
        assert!(hutchinson_gram(&cnn, Loss::Logistic, x, y, 5, &few).is_err());
    }
}
