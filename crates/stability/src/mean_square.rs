//! Exact mean-square criterion: the spectral radius ρ(T) of the second-moment
//! operator W_{k+1} = T(W_k), W_k = E[u_k u_kᵀ] (SCIENCE §2.1).
//!
//! In span coordinates (see [`crate::Curvature`]), with signed step weights
//! w_R = −η(1−α), w_F = +ηα and J̄ = I + w_R H_R + w_F H_F = I − ηH_α,
//!
//!   T(X) = J̄XJ̄ + Σ_fam w² c(n, B) [(1/n)Σ_i H_i X H_i − θ·H X H],
//!
//! θ = 1 (centred) for sampling with or without replacement, θ = 0 for
//! Bernoulli; c(n, B) from [`crate::Sampling::noise_factor`].
//!
//! T is self-adjoint for the Frobenius inner product and maps PSD matrices to
//! PSD matrices, so ρ(T) is its largest eigenvalue, with a PSD eigen-matrix V.
//! [`rho`] finds it by Lanczos on symmetric matrices from X₀ = I, which
//! overlaps V (⟨I, V⟩ = tr V > 0); every Ritz value is a lower bound on ρ.
//! ρ is reported for the span: on the flat complement (dimension p − r) T is
//! the identity, so the spectral radius on all of R^{p×p} is max(ρ, 1) when
//! r < p.
//!
//! Rank-one families (Ĥ_i = f_i f_iᵀ, f_i = √c_i·ĝ_i, F the n×r matrix of
//! rows f_i): (1/n)Σ_i Ĥ_i X Ĥ_i = (1/n)·Fᵀ diag(q) F with q_i = f_iᵀXf_i,
//! two n×r×r matrix products per application of T.
//!
//! Diagonal structure (each H_i = s_i e_k e_kᵀ, the synthetic families): T maps
//! diag(x) to diag(m ⊙ x) with m_k = J̄_k² + Σ_fam w²c(q_k − θh_k²),
//! h_k = (1/n)Σ_{i→k}s_i, q_k = (1/n)Σ_{i→k}s_i²; off-diagonal entries are
//! scaled by at most sqrt(m_k m_l) (T is positive), so ρ = max_k m_k exactly,
//! in O(n + r).

use std::f64::consts::FRAC_1_SQRT_2;

use frontier_probes::LinearOperator;
use frontier_probes::solvers::{LanczosOptions, lanczos_from};
use nalgebra::DMatrix;
use serde::Serialize;

use crate::curvature::{Reduced, Samples};
use crate::problem::Problem;

/// Solver controls of [`rho`] (named after the power iteration that preceded
/// the Lanczos solver).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PowerOptions {
    /// Stop when ‖T(X) − λX‖_F ≤ tol·|λ| (X of unit Frobenius norm).
    pub tol: f64,
    /// Cap on the Lanczos steps (one application of T each); the result says
    /// whether it converged. The basis keeps one packed r×r matrix per step
    /// (4·r(r+1) bytes), at most r(r+1)/2 of them.
    pub max_iter: usize,
}

impl Default for PowerOptions {
    fn default() -> Self {
        PowerOptions {
            tol: 1e-10,
            max_iter: 20_000,
        }
    }
}

/// An eigenvalue estimate with its convergence report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PowerResult {
    /// The estimate (here ρ(T), dimensionless growth of E‖u‖² per step).
    pub value: f64,
    /// Lanczos steps, one application of T each (0 for the closed-form
    /// diagonal case); the final residual check costs one more.
    pub iterations: usize,
    /// Final residual ‖T(X) − value·X‖_F of the Ritz matrix X, ‖X‖_F = 1.
    pub residual: f64,
    /// Whether the residual reached the tolerance.
    pub converged: bool,
}

/// The operator T in span coordinates.
enum Operator<'c> {
    /// The diagonal structure: T(diag x) = diag(m ⊙ x).
    Diagonal(Vec<f64>),
    General(General<'c>),
}

/// T on symmetric r×r matrices. As a [`LinearOperator`] it acts on the packed
/// upper triangle svec(X) ∈ R^{r(r+1)/2} (column by column, off-diagonal
/// entries times √2, so the dot product is the Frobenius inner product), where
/// it is a symmetric matrix.
struct General<'c> {
    /// J̄ = I − ηH_α (r×r).
    jbar: DMatrix<f64>,
    noise: Vec<Noise<'c>>,
}

/// One family's noise term κ[(1/n)Σ_i H_i X H_i − θ·H X H], κ = w²c(n, B).
struct Noise<'c> {
    samples: NoiseSamples<'c>,
    /// κ/n: the weight of each H_i X H_i.
    per_sample: f64,
    /// (κ, H) when centred (θ = 1); `None` for Bernoulli sampling.
    centring: Option<(f64, &'c DMatrix<f64>)>,
}

/// A family's per-sample Hessians in the form T's products use.
enum NoiseSamples<'c> {
    /// Fᵀ (r×n) with column i f_i = √c_i·ĝ_i, and F: Ĥ_i = f_i f_iᵀ and
    /// Ĥ_i X Ĥ_i = (f_iᵀXf_i)·f_i f_iᵀ. Both orientations are stored so that
    /// every product is a plain GEMM.
    RankOne { ft: DMatrix<f64>, f: DMatrix<f64> },
    /// The dense Ĥ_i (each r×r).
    Dense(&'c [DMatrix<f64>]),
}

impl<'c> Operator<'c> {
    fn new(problem: &Problem<'c>) -> Operator<'c> {
        let curv = problem.curvature();
        let sampling = problem.settings().sampling;
        let r = curv.rank();
        // (family, κ = w²c(n, B), centred) for each family that moves u.
        let terms: Vec<(&'c Reduced, f64, bool)> = problem
            .terms()
            .into_iter()
            .map(|(family, w, b)| {
                let (factor, centred) = sampling.noise_factor(family.len(), b);
                (family, w * w * factor, centred)
            })
            .collect();
        let jbar = DMatrix::identity(r, r) - problem.h_alpha() * problem.settings().eta;
        if curv.is_diagonal() {
            let mut m: Vec<f64> = jbar.diagonal().iter().map(|j| j * j).collect();
            for (family, kappa, centred) in terms {
                let (h, q) = family.diagonal_moments();
                let theta = if centred { 1.0 } else { 0.0 };
                for k in 0..r {
                    m[k] += kappa * (q[k] - theta * h[k] * h[k]);
                }
            }
            return Operator::Diagonal(m);
        }
        let noise = terms
            .into_iter()
            .map(|(family, kappa, centred)| {
                let samples = match &family.samples {
                    // Dense rows: one-coordinate rows (the synthetic families)
                    // took the diagonal closed form above, and rows projected
                    // on an orthonormal basis carry all r entries.
                    Samples::RankOne { g, c } => {
                        let mut ft = DMatrix::zeros(r, c.len());
                        for (i, &ci) in c.iter().enumerate() {
                            let (idx, val) = g.row(i);
                            let root = ci.sqrt();
                            for (&k, &v) in idx.iter().zip(val) {
                                ft[(k as usize, i)] = root * v;
                            }
                        }
                        NoiseSamples::RankOne {
                            f: ft.transpose(),
                            ft,
                        }
                    }
                    Samples::Dense { h } => NoiseSamples::Dense(h),
                };
                Noise {
                    samples,
                    per_sample: kappa / family.len() as f64,
                    centring: centred.then_some((kappa, &family.mean)),
                }
            })
            .collect();
        Operator::General(General { jbar, noise })
    }
}

impl General<'_> {
    /// T(X) for symmetric X (r×r).
    fn apply(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let mut out = &self.jbar * x * &self.jbar;
        for t in &self.noise {
            match &t.samples {
                NoiseSamples::RankOne { ft, f } => {
                    // q_i = f_iᵀXf_i (column sums of (XFᵀ) ⊙ Fᵀ);
                    // out += (κ/n)·Fᵀ diag(q) F.
                    let mut scaled = x * ft;
                    for (mut col, f_i) in scaled.column_iter_mut().zip(ft.column_iter()) {
                        let q_i = col.dot(&f_i) * t.per_sample;
                        col.copy_from(&f_i);
                        col *= q_i;
                    }
                    out.gemm(1.0, &scaled, f, 1.0);
                }
                NoiseSamples::Dense(h) => {
                    for hi in h.iter() {
                        out.gemm(t.per_sample, &(hi * x), hi, 1.0);
                    }
                }
            }
            if let Some((kappa, h)) = t.centring {
                out.gemm(-kappa, &(h * x), h, 1.0);
            }
        }
        out
    }

    /// The span dimension r.
    fn rank(&self) -> usize {
        self.jbar.nrows()
    }
}

/// Packed position of the upper-triangle entry (i, j), i ≤ j.
fn packed_index(i: usize, j: usize) -> usize {
    j * (j + 1) / 2 + i
}

impl LinearOperator for General<'_> {
    fn dim(&self) -> usize {
        self.rank() * (self.rank() + 1) / 2
    }

    fn matvec(&self, v: &[f64], out: &mut [f64]) {
        let r = self.rank();
        let x = DMatrix::from_fn(r, r, |i, j| {
            let (a, b) = if i <= j { (i, j) } else { (j, i) };
            let value = v[packed_index(a, b)];
            if a == b { value } else { value * FRAC_1_SQRT_2 }
        });
        let y = self.apply(&x);
        // Symmetrising here keeps the iterates symmetric under round-off.
        for j in 0..r {
            for i in 0..j {
                out[packed_index(i, j)] = (y[(i, j)] + y[(j, i)]) * FRAC_1_SQRT_2;
            }
            out[packed_index(j, j)] = y[(j, j)];
        }
    }
}

/// ρ(T) restricted to the curvature span (closed form for the diagonal
/// structure; see the module docs).
///
/// Lanczos with full reorthogonalisation on svec(X) from X₀ = I: T is
/// self-adjoint and positive, so ρ(T) = λ_max(T), and I overlaps its PSD
/// eigen-matrix V (⟨I, V⟩ = tr V > 0). The value is the top Ritz value, a
/// lower bound on ρ(T) whether or not it converged, so `value > 1` certifies
/// divergence. Deterministic: the same problem gives bit-identical results.
pub fn rho(problem: &Problem<'_>, opts: &PowerOptions) -> PowerResult {
    let op = match Operator::new(problem) {
        Operator::Diagonal(m) => {
            return PowerResult {
                value: m.iter().copied().fold(0.0, f64::max),
                iterations: 0,
                residual: 0.0,
                converged: true,
            };
        }
        Operator::General(op) => op,
    };
    let mut start = vec![0.0; op.dim()];
    for j in 0..op.rank() {
        start[packed_index(j, j)] = 1.0;
    }
    let eig = lanczos_from(
        &op,
        &start,
        &LanczosOptions {
            top: 1,
            bottom: 0,
            max_iter: opts.max_iter,
            tol: opts.tol,
            seed: 0,
        },
    );
    let value = eig.top[0];
    PowerResult {
        value,
        iterations: eig.iterations,
        residual: eig.residual,
        converged: eig.residual <= opts.tol * value.abs(),
    }
}

/// tr T^k(I_p): the exact E‖u_k‖² from any u₀ with E\[u₀u₀ᵀ\] = I (the flat
/// complement contributes p − r).
pub fn trace_t_power(problem: &Problem<'_>, k: usize) -> f64 {
    let curv = problem.curvature();
    let flat = (curv.dim() - curv.rank()) as f64;
    let exponent = i32::try_from(k).unwrap_or(i32::MAX);
    flat + match Operator::new(problem) {
        Operator::Diagonal(m) => m.iter().map(|mk| mk.powi(exponent)).sum::<f64>(),
        Operator::General(op) => {
            let r = op.rank();
            let mut x = DMatrix::identity(r, r);
            for _ in 0..k {
                x = op.apply(&x);
            }
            x.trace()
        }
    }
}

#[cfg(test)]
mod tests {
    use frontier_probes::solvers::{self, power_iteration};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::StandardNormal;

    use super::*;
    use crate::curvature::Curvature;
    use crate::family::Family;
    use crate::problem::{Sampling, Settings};

    /// Independent reference: T as a p²×p² matrix, vec(AXB) = (Bᵀ⊗A)vec(X),
    /// built from the full (unprojected) Hessians; returns its spectral radius.
    fn kronecker_rho(
        retain: &[DMatrix<f64>],
        forget: &[DMatrix<f64>],
        eta: f64,
        alpha: f64,
        b: usize,
        sampling: Sampling,
    ) -> f64 {
        let p = retain[0].nrows();
        let mean = |hs: &[DMatrix<f64>]| {
            hs.iter().fold(DMatrix::zeros(p, p), |acc, h| acc + h) / hs.len().max(1) as f64
        };
        let (hr, hf) = (mean(retain), mean(forget));
        let j = DMatrix::identity(p, p) - (&hr * (1.0 - alpha) - &hf * alpha) * eta;
        let mut t = j.kronecker(&j);
        for (hs, h, w) in [(retain, &hr, 1.0 - alpha), (forget, &hf, alpha)] {
            let n = hs.len();
            if n == 0 || w == 0.0 {
                continue;
            }
            let (nf, bf) = (n as f64, b as f64);
            let (factor, centre) = match sampling {
                Sampling::Without => ((nf - bf) / (bf * (nf - 1.0)), true),
                Sampling::With => (1.0 / bf, true),
                Sampling::Bernoulli => (1.0 / bf - 1.0 / nf, false),
            };
            for hi in hs {
                let d = if centre { hi - h } else { hi.clone() };
                t += d.kronecker(&d) * (eta * eta * w * w * factor / nf);
            }
        }
        t.symmetric_eigenvalues().amax()
    }

    fn random_rank_one(
        rng: &mut ChaCha8Rng,
        n: usize,
        p: usize,
        scale: f64,
    ) -> (DMatrix<f64>, Vec<f64>) {
        let g = DMatrix::from_fn(n, p, |_, _| rng.sample::<f64, _>(StandardNormal) * scale);
        let c = (0..n).map(|_| rng.random_range(0.2..1.5)).collect();
        (g, c)
    }

    fn outer_products(g: &DMatrix<f64>, c: &[f64]) -> Vec<DMatrix<f64>> {
        (0..g.nrows())
            .map(|i| {
                let gi = g.row(i).transpose();
                &gi * gi.transpose() * c[i]
            })
            .collect()
    }

    fn random_dense(
        rng: &mut ChaCha8Rng,
        n: usize,
        p: usize,
        q: usize,
        scale: f64,
    ) -> Vec<DMatrix<f64>> {
        (0..n)
            .map(|_| {
                let a = DMatrix::from_fn(p, q, |_, _| rng.sample::<f64, _>(StandardNormal) * scale);
                &a * a.transpose()
            })
            .collect()
    }

    /// [`rho`] against [`kronecker_rho`] for every sampling scheme and
    /// α ∈ {0, 0.3} (α = 0 only without a forget family), to 1e-8 relative.
    fn check(
        label: &str,
        retain: &Family,
        forget: Option<&Family>,
        dense: (&[DMatrix<f64>], &[DMatrix<f64>]),
        (eta, b): (f64, usize),
    ) {
        let curv = Curvature::new(retain, forget).unwrap();
        assert_eq!(curv.rank(), curv.dim(), "{label}: test cases span R^p");
        for sampling in [Sampling::Without, Sampling::With, Sampling::Bernoulli] {
            for alpha in [0.0, 0.3] {
                if forget.is_none() && alpha > 0.0 {
                    continue;
                }
                let s = Settings {
                    sampling,
                    ..Settings::new(eta, alpha, b)
                };
                let problem = Problem::new(&curv, s).unwrap();
                let rust = rho(&problem, &PowerOptions::default());
                let reference = kronecker_rho(dense.0, dense.1, eta, alpha, b, sampling);
                assert!(rust.converged, "{label} {sampling:?} α={alpha}: {rust:?}");
                assert!(
                    (rust.value - reference).abs() < 1e-8 * reference,
                    "{label} {sampling:?} α={alpha}: rust={}, reference={reference}",
                    rust.value
                );
            }
        }
    }

    #[test]
    fn rho_matches_kronecker_construction() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for p in [2, 4, 6] {
            let (gr, cr) = random_rank_one(&mut rng, p + 3, p, 0.8);
            let (gf, cf) = random_rank_one(&mut rng, 5, p, 0.8);
            let (hr, hf) = (outer_products(&gr, &cr), outer_products(&gf, &cf));
            let retain = Family::rank_one(&gr, &cr).unwrap();
            let forget = Family::rank_one(&gf, &cf).unwrap();
            check(
                &format!("rank-one p={p}"),
                &retain,
                Some(&forget),
                (&hr, &hf),
                (0.3, 3),
            );
            check(
                &format!("rank-one SGD p={p}"),
                &retain,
                None,
                (&hr, &[]),
                (0.3, 3),
            );

            let hr = random_dense(&mut rng, 6, p, 2, 0.5);
            let hf = random_dense(&mut rng, 4, p, 1, 0.5);
            let retain_d = Family::dense(hr.clone()).unwrap();
            let forget_d = Family::dense(hf.clone()).unwrap();
            check(
                &format!("dense p={p}"),
                &retain_d,
                Some(&forget_d),
                (&hr, &hf),
                (0.3, 3),
            );
            let hf1 = outer_products(&gf, &cf);
            check(
                &format!("dense retain, rank-one forget p={p}"),
                &retain_d,
                Some(&forget),
                (&hr, &hf1),
                (0.3, 3),
            );
        }
    }

    #[test]
    fn diagonal_closed_form_matches_kronecker() {
        // one non-zero coordinate per g_i, several samples per coordinate
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let p = 4;
        let mk = |rng: &mut ChaCha8Rng, n: usize| {
            let rows: Vec<_> = (0..n)
                .map(|i| vec![(i % p, rng.random_range(0.5..2.0))])
                .collect();
            let c: Vec<f64> = (0..n).map(|_| rng.random_range(0.5..1.5)).collect();
            let mut g = DMatrix::zeros(n, p);
            for (i, row) in rows.iter().enumerate() {
                g[(i, row[0].0)] = row[0].1;
            }
            (
                Family::rank_one_sparse(p, &rows, &c).unwrap(),
                outer_products(&g, &c),
            )
        };
        let (retain, hr) = mk(&mut rng, 9);
        let (forget, hf) = mk(&mut rng, 5);
        let curv = Curvature::new(&retain, Some(&forget)).unwrap();
        assert!(curv.is_diagonal());
        check("diagonal", &retain, Some(&forget), (&hr, &hf), (0.3, 3));
    }

    #[test]
    fn rank_deficient_span_gives_full_radius_max_with_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (g, c) = random_rank_one(&mut rng, 2, 4, 0.5);
        let fam = Family::rank_one(&g, &c).unwrap();
        let curv = Curvature::new(&fam, None).unwrap();
        assert_eq!(curv.rank(), 2);
        let problem = Problem::new(&curv, Settings::new(0.3, 0.0, 1)).unwrap();
        let rust = rho(&problem, &PowerOptions::default()).value.max(1.0);
        let reference = kronecker_rho(&outer_products(&g, &c), &[], 0.3, 0.0, 1, Sampling::Without);
        assert!(
            (rust - reference).abs() < 1e-8,
            "rust={rust}, reference={reference}"
        );
    }

    /// The CNN's shape in span coordinates, scaled down: every ĝ_i dense in
    /// r = 30, n_r = 32 retain and n_f = 8 forget samples.
    #[test]
    fn rho_matches_kronecker_at_cnn_like_size() {
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        let p = 30;
        let (gr, cr) = random_rank_one(&mut rng, 32, p, 1.0);
        let (gf, cf) = random_rank_one(&mut rng, 8, p, 1.0);
        let retain = Family::rank_one(&gr, &cr).unwrap();
        let forget = Family::rank_one(&gf, &cf).unwrap();
        let (hr, hf) = (outer_products(&gr, &cr), outer_products(&gf, &cf));
        check("CNN-like", &retain, Some(&forget), (&hr, &hf), (0.1, 4));
    }

    /// Near ρ = 1, where power iteration stalls. The retain curvature (n_r = 20
    /// samples in r = 30) misses directions the forget set spans, so at α = 0
    /// T fixes every X supported there and ρ = 1 exactly, with a dense cluster
    /// of eigenvalues just below; a small α lifts ρ just above 1. With the
    /// options `frontier heatmap` uses, Lanczos converges where power iteration
    /// with the same budget does not.
    #[test]
    fn lanczos_converges_near_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        let p = 30;
        let (gr, cr) = random_rank_one(&mut rng, 20, p, 1.0);
        let (gf, cf) = random_rank_one(&mut rng, 10, p, 1.0);
        let retain = Family::rank_one(&gr, &cr).unwrap();
        let forget = Family::rank_one(&gf, &cf).unwrap();
        let (hr, hf) = (outer_products(&gr, &cr), outer_products(&gf, &cf));
        let curv = Curvature::new(&retain, Some(&forget)).unwrap();
        let heatmap = PowerOptions {
            tol: 1e-6,
            max_iter: 300,
        };
        for alpha in [0.0, 0.01] {
            let problem = Problem::new(&curv, Settings::new(0.05, alpha, 5)).unwrap();
            let reference = kronecker_rho(&hr, &hf, 0.05, alpha, 5, Sampling::Without);
            let rust = rho(&problem, &heatmap);
            assert!(rust.converged, "α={alpha}: {rust:?}");
            assert!(
                rust.value <= reference * (1.0 + 1e-12)
                    && reference - rust.value <= heatmap.tol * reference,
                "α={alpha}: rust={}, reference={reference} (a lower bound within tol)",
                rust.value
            );
            let Operator::General(op) = Operator::new(&problem) else {
                panic!("dense rows take the general path")
            };
            let power = power_iteration(
                &op,
                &solvers::PowerOptions {
                    max_iter: heatmap.max_iter,
                    tol: heatmap.tol,
                    seed: 0,
                },
            );
            assert!(!power.converged, "α={alpha}: power iteration {power:?}");
        }
    }
}
