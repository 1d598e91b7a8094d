//! K_ij = tr(H_i H_j) from Hutchinson probes: E[(H_i v)·(H_j v)] = tr(H_i H_j) for Rademacher
//! v, with all n products H_i v from two batched gradient evaluations per probe.

use frontier_model::{Model, to_f64};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::finite_difference::FdProblem;
use crate::coherence::{Coherence, CurvatureGram, PairSpectra, try_coherence};
use crate::error::{Error, Result};
use crate::solvers::{LanczosOptions, extreme_eigenvalues, rademacher};

/// Probes are grouped into this many batches (at most one per probe) for the standard errors
/// of the coherence numbers.
const SE_BATCHES: usize = 10;

/// A Hutchinson estimate of the curvature Gram matrix, with its uncertainty.
#[derive(Debug, Clone)]
pub struct HutchinsonGram {
    /// K = the mean of (H_i v)·(H_j v) over the probes; λ_max(H_i) by Lanczos (or the dense
    /// path for p ≤ [`crate::solvers::DENSE_LIMIT`]) on each sample's finite-difference
    /// operator for the samples that can hold the maximum of their set (see `solved`), the
    /// largest Rayleigh quotient vᵀH_i v/‖v‖² over the probes (a lower bound) for the others;
    /// pair spectra [`PairSpectra::UpperBound`].
    pub gram: CurvatureGram,
    /// Whether λ_max(H_i) was solved (true) or is the Rayleigh lower bound (false). Samples
    /// are solved in decreasing order of √(K_ii + 3 SE(K_ii)) ≥ ‖H_i‖_F ≥ λ_max(H_i) until no
    /// bound left in the set exceeds the largest λ solved, so the maximum over R and over F
    /// (all the coherence numbers use) is exact unless a K_ii estimate is off by more than
    /// three standard errors.
    pub solved: Vec<bool>,
    /// Standard error of each entry of K (n×n): sample standard deviation over the probes /
    /// √probes.
    pub k_std_error: DMatrix<f64>,
    /// tr(H) = (1/n) Σ_i tr(H_i), estimated from the same probes (vᵀ H_i v).
    pub trace_h: f64,
    /// Its standard error.
    pub trace_h_std_error: f64,
    /// Probes used.
    pub probes: usize,
    /// Whether every per-sample λ_max solve converged.
    pub converged: bool,
    /// Mean K over each batch of consecutive probes (for [`Self::coherence_std_error`]).
    batch_means: Vec<DMatrix<f64>>,
}

impl HutchinsonGram {
    /// Runs `probes` (≥ 2) probes seeded by `seed`; samples ordered retain first.
    pub(crate) fn estimate<M: Model>(
        problem: &FdProblem<'_, M>,
        n_retain: usize,
        probes: usize,
        seed: u64,
        lanczos: &LanczosOptions,
    ) -> Result<Self> {
        if probes < 2 {
            return Err(Error::Argument {
                name: "probes",
                value: probes.to_string(),
                expected: "at least 2 Hutchinson probes (a standard error needs two)",
            });
        }
        let (n, p) = (problem.n(), problem.p());
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let batches = SE_BATCHES.min(probes);
        let mut batch_means = vec![DMatrix::zeros(n, n); batches];
        let mut batch_sizes = vec![0usize; batches];
        let (mut mean, mut m2) = (DMatrix::zeros(n, n), DMatrix::zeros(n, n)); // Welford
        let (mut t_mean, mut t_m2) = (0.0, 0.0);
        // max over probes of the Rayleigh quotient vᵀH_i v / ‖v‖², a lower bound on λ_max(H_i)
        let mut rayleigh = vec![f64::NEG_INFINITY; n];
        for k in 0..probes {
            let v = rademacher(p, &mut rng);
            let rows = problem.hvp_rows(&v); // [n, p], row i = H_i v
            let quotients = to_f64(rows.clone().matmul(problem.column(&v)));
            for (r, q) in rayleigh.iter_mut().zip(quotients) {
                *r = r.max(q / p as f64);
            }
            let kk = DMatrix::from_row_slice(
                n,
                n,
                &to_f64(rows.clone().matmul(rows.clone().transpose())),
            );
            // (1/n) Σ_i vᵀ H_i v
            let t = to_f64(rows.sum_dim(0))
                .iter()
                .zip(&v)
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / n as f64;
            let count = (k + 1) as f64;
            let delta = &kk - &mean;
            mean += &delta / count;
            m2 += delta.component_mul(&(&kk - &mean));
            let t_delta = t - t_mean;
            t_mean += t_delta / count;
            t_m2 += t_delta * (t - t_mean);
            let b = k * batches / probes;
            batch_means[b] += &kk;
            batch_sizes[b] += 1;
        }
        for (m, &size) in batch_means.iter_mut().zip(&batch_sizes) {
            *m /= size as f64;
        }
        let denom = (probes * (probes - 1)) as f64;
        let k_std_error = m2.map(|x| (x.max(0.0) / denom).sqrt());
        let options = LanczosOptions {
            top: 1,
            bottom: 0,
            ..lanczos.clone()
        };
        let mut converged = true;
        let mut lambda_max = rayleigh;
        let mut solved = vec![false; n];
        // Only the largest λ_max(H_i) of R and of F enter the coherence numbers. Solve samples
        // in decreasing order of the upper bound ‖H_i‖_F = √K_ii (its estimate plus three
        // standard errors) and stop in each set once no bound left exceeds the largest λ
        // solved; the others keep their Rayleigh lower bound.
        for range in [0..n_retain, n_retain..n] {
            let bound = |i: usize| (mean[(i, i)] + 3.0 * k_std_error[(i, i)]).max(0.0).sqrt();
            let mut order: Vec<usize> = range.collect();
            order.sort_by(|&a, &b| bound(b).total_cmp(&bound(a)));
            let mut best = f64::NEG_INFINITY;
            for i in order {
                if bound(i) <= best {
                    break;
                }
                let solve = extreme_eigenvalues(&problem.sample_operator(i)?, &options);
                converged &= solve.converged;
                lambda_max[i] = solve.top.first().copied().unwrap_or(0.0);
                solved[i] = true;
                best = best.max(lambda_max[i]);
            }
        }
        Ok(Self {
            gram: CurvatureGram {
                k: (&mean + mean.transpose()) * 0.5,
                lambda_max,
                n_retain,
                pairs: PairSpectra::UpperBound,
            },
            solved,
            k_std_error,
            trace_h: t_mean,
            trace_h_std_error: (t_m2 / denom).max(0.0).sqrt(),
            probes,
            converged,
            batch_means,
        })
    }

    /// Standard errors of the six coherence numbers at mixing weight α, by the delta method
    /// over batch means: with K̄ the mean over all probes and K_b over batch b (up to 10
    /// batches of consecutive probes), d_b = (σ(K̄ + Δ_b) − σ(K̄ − Δ_b)) / 2, Δ_b = K_b − K̄
    /// (a symmetric secant, robust where √K has a kink at 0), and SE = sd(d_b) / √batches.
    /// λ_max(H_i) is held fixed (it is computed deterministically). Returned in a
    /// [`Coherence`] whose fields are the standard errors.
    pub fn coherence_std_error(&self, alpha: f64) -> Result<Coherence> {
        let b = self.batch_means.len();
        let at = |k: DMatrix<f64>| -> Result<[f64; 6]> {
            let c = try_coherence(
                &CurvatureGram {
                    k,
                    ..self.gram.clone()
                },
                alpha,
            )?;
            Ok([
                c.sigma,
                c.sigma_r,
                c.sigma_f,
                c.sigma_rf,
                c.sigma_u,
                c.sigma_u_signed,
            ])
        };
        let mut d = Vec::with_capacity(b);
        for batch in &self.batch_means {
            let delta = batch - &self.gram.k;
            let (plus, minus) = (at(&self.gram.k + &delta)?, at(&self.gram.k - &delta)?);
            d.push(std::array::from_fn::<f64, 6, _>(|j| {
                0.5 * (plus[j] - minus[j])
            }));
        }
        let se: [f64; 6] = std::array::from_fn(|j| {
            let mean = d.iter().map(|x| x[j]).sum::<f64>() / b as f64;
            let var = d.iter().map(|x| (x[j] - mean).powi(2)).sum::<f64>() / (b - 1) as f64;
            (var / b as f64).sqrt()
        });
        Ok(Coherence {
            sigma: se[0],
            sigma_r: se[1],
            sigma_f: se[2],
            sigma_rf: se[3],
            sigma_u: se[4],
            sigma_u_signed: se[5],
        })
    }
}
