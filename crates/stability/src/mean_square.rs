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
//! PSD matrices, so ρ(T) is its largest eigenvalue, with a PSD eigen-matrix;
//! power iteration from X₀ = I converges to it. ρ is reported for the span:
//! on the flat complement (dimension p − r) T is the identity, so the
//! spectral radius on all of R^{p×p} is max(ρ, 1) when r < p.
//!
//! Diagonal structure (each H_i = s_i e_k e_kᵀ, the synthetic families): T maps
//! diag(x) to diag(m ⊙ x) with m_k = J̄_k² + Σ_fam w²c(q_k − θh_k²),
//! h_k = (1/n)Σ_{i→k}s_i, q_k = (1/n)Σ_{i→k}s_i²; off-diagonal entries are
//! scaled by at most sqrt(m_k m_l) (T is positive), so ρ = max_k m_k exactly,
//! in O(n + r).

use nalgebra::DMatrix;
use serde::Serialize;

use crate::curvature::{Reduced, Samples};
use crate::problem::Problem;

/// Power-iteration controls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PowerOptions {
    /// Stop when ‖T(X) − λX‖_F ≤ tol·|λ| (X of unit Frobenius norm).
    pub tol: f64,
    /// Iteration cap; the result says whether it converged.
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
    /// Operator applications used (0 for the closed-form diagonal case).
    pub iterations: usize,
    /// Final residual ‖T(X) − value·X‖_F with ‖X‖_F = 1.
    pub residual: f64,
    /// Whether the residual reached the tolerance.
    pub converged: bool,
}

impl PowerResult {
    /// The mean-square verdict: ρ(T) > 1.
    pub fn diverges(&self) -> bool {
        self.value > 1.0
    }
}

/// The operator T in span coordinates.
enum Operator<'c> {
    /// The diagonal structure: T(diag x) = diag(m ⊙ x).
    Diagonal(Vec<f64>),
    General {
        jbar: DMatrix<f64>,
        noise: Vec<Noise<'c>>,
    },
}

struct Noise<'c> {
    family: &'c Reduced,
    kappa: f64,
    centred: bool,
}

impl<'c> Operator<'c> {
    fn new(problem: &Problem<'c>) -> Operator<'c> {
        let curv = problem.curvature();
        let sampling = problem.settings().sampling;
        let r = curv.rank();
        let noise: Vec<Noise<'c>> = problem
            .terms()
            .into_iter()
            .map(|(family, w, b)| {
                let (factor, centred) = sampling.noise_factor(family.len(), b);
                Noise {
                    family,
                    kappa: w * w * factor,
                    centred,
                }
            })
            .collect();
        let jbar = DMatrix::identity(r, r) - problem.h_alpha() * problem.settings().eta;
        if !curv.is_diagonal() {
            return Operator::General { jbar, noise };
        }
        let mut m: Vec<f64> = jbar.diagonal().iter().map(|j| j * j).collect();
        for t in &noise {
            let (h, q) = t.family.diagonal_moments();
            let theta = if t.centred { 1.0 } else { 0.0 };
            for k in 0..r {
                m[k] += t.kappa * (q[k] - theta * h[k] * h[k]);
            }
        }
        Operator::Diagonal(m)
    }

    /// T(X) for the general case.
    fn apply(jbar: &DMatrix<f64>, noise: &[Noise<'_>], x: &DMatrix<f64>) -> DMatrix<f64> {
        let mut out = jbar * x * jbar;
        for t in noise {
            add_mean_hxh(t.family, x, t.kappa, &mut out);
            if t.centred {
                let h = &t.family.mean;
                out -= (h * x * h) * t.kappa;
            }
        }
        out
    }
}

/// out += scale · (1/n)Σ_i H_i X H_i.
fn add_mean_hxh(family: &Reduced, x: &DMatrix<f64>, scale: f64, out: &mut DMatrix<f64>) {
    let w = scale / family.len() as f64;
    match &family.samples {
        Samples::RankOne { g, c } => {
            for (i, &ci) in c.iter().enumerate() {
                let (idx, val) = g.row(i);
                let mut quad = 0.0;
                for (&a, &va) in idx.iter().zip(val) {
                    for (&b, &vb) in idx.iter().zip(val) {
                        quad += va * x[(a as usize, b as usize)] * vb;
                    }
                }
                let s = w * ci * ci * quad;
                for (&a, &va) in idx.iter().zip(val) {
                    for (&b, &vb) in idx.iter().zip(val) {
                        out[(a as usize, b as usize)] += s * va * vb;
                    }
                }
            }
        }
        Samples::Dense { h } => {
            for hi in h {
                *out += (hi * x * hi) * w;
            }
        }
    }
}

/// ρ(T) restricted to the curvature span, by power iteration from X₀ = I
/// (closed form for the diagonal structure; see the module docs).
pub fn rho(problem: &Problem<'_>, opts: &PowerOptions) -> PowerResult {
    let (jbar, noise) = match Operator::new(problem) {
        Operator::Diagonal(m) => {
            return PowerResult {
                value: m.iter().copied().fold(0.0, f64::max),
                iterations: 0,
                residual: 0.0,
                converged: true,
            };
        }
        Operator::General { jbar, noise } => (jbar, noise),
    };
    let r = jbar.nrows();
    let mut x = DMatrix::identity(r, r) / (r as f64).sqrt();
    let mut result = PowerResult {
        value: 0.0,
        iterations: 0,
        residual: f64::INFINITY,
        converged: false,
    };
    for it in 1..=opts.max_iter {
        let y = Operator::apply(&jbar, &noise, &x);
        let value = x.dot(&y);
        let residual = (&y - &x * value).norm();
        let norm = y.norm();
        result = PowerResult {
            value,
            iterations: it,
            residual,
            converged: residual <= opts.tol * value.abs() || norm == 0.0,
        };
        if result.converged || !norm.is_finite() {
            break;
        }
        x = y / norm;
    }
    result
}

/// tr T^k(I_p): the exact E‖u_k‖² from any u₀ with E\[u₀u₀ᵀ\] = I (the flat
/// complement contributes p − r).
pub fn trace_t_power(problem: &Problem<'_>, k: usize) -> f64 {
    let curv = problem.curvature();
    let flat = (curv.dim() - curv.rank()) as f64;
    let exponent = i32::try_from(k).unwrap_or(i32::MAX);
    flat + match Operator::new(problem) {
        Operator::Diagonal(m) => m.iter().map(|mk| mk.powi(exponent)).sum::<f64>(),
        Operator::General { jbar, noise } => {
            let r = jbar.nrows();
            let mut x = DMatrix::identity(r, r);
            for _ in 0..k {
                x = Operator::apply(&jbar, &noise, &x);
            }
            x.trace()
        }
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::SymmetricEigen;
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
        SymmetricEigen::new(t).eigenvalues.amax()
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

    fn check(
        label: &str,
        retain: &Family,
        forget: Option<&Family>,
        dense: (&[DMatrix<f64>], &[DMatrix<f64>]),
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
                    ..Settings::new(0.3, alpha, 3)
                };
                let problem = Problem::new(&curv, s).unwrap();
                let rust = rho(&problem, &PowerOptions::default());
                let reference = kronecker_rho(dense.0, dense.1, 0.3, alpha, 3, sampling);
                assert!(rust.converged, "{label} {sampling:?} α={alpha}: {rust:?}");
                assert!(
                    (rust.value - reference).abs() < 1e-8,
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
            );
            check(&format!("rank-one SGD p={p}"), &retain, None, (&hr, &[]));

            let hr = random_dense(&mut rng, 6, p, 2, 0.5);
            let hf = random_dense(&mut rng, 4, p, 1, 0.5);
            let retain_d = Family::dense(hr.clone()).unwrap();
            let forget_d = Family::dense(hf.clone()).unwrap();
            check(
                &format!("dense p={p}"),
                &retain_d,
                Some(&forget_d),
                (&hr, &hf),
            );
            let hf1 = outer_products(&gf, &cf);
            check(
                &format!("dense retain, rank-one forget p={p}"),
                &retain_d,
                Some(&forget),
                (&hr, &hf1),
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
        check("diagonal", &retain, Some(&forget), (&hr, &hf));
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
}
