//! Exact mean-square criterion: the spectral radius ρ(T) of the second-moment
//! operator W_{k+1} = T(W_k), W_k = E[u_k u_kᵀ] (`docs/science.md#linear-stability-and-the-mean-square-operator-t`).
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
//! T is applied in the eigenbasis Q of H_α (X ↦ QᵀXQ is an isometry that
//! fixes I and the spectrum): there J̄ = diag(1 − ηλ_k) and J̄XJ̄ = (d dᵀ) ⊙ X
//! costs O(r²), as does the centring H X H of a family that alone makes up H_α
//! (α = 0, no forget family, or α = 1), whose mean is then diagonal too.
//!
//! Rank-one families (Ĥ_i = f_i f_iᵀ, f_i = √c_i·ĝ_i, F the n×r matrix of
//! rows f_i): (1/n)Σ_i Ĥ_i X Ĥ_i = (1/n)·Fᵀ diag(q) F with q_i = f_iᵀXf_i;
//! with H = FᵀF/n the centring is H X H = Fᵀ M F/n² with M = F X Fᵀ (n×n),
//! so both fold into one Fᵀ N F. Per application: XFᵀ (n·r² multiply-adds)
//! and the symmetric Fᵀ(·)F, of which only the blocks on and above the
//! diagonal are formed (about n·r²/2), on all cores.
//!
//! Diagonal structure (each H_i = s_i e_k e_kᵀ, the synthetic families): T maps
//! diag(x) to diag(m ⊙ x) with m_k = J̄_k² + Σ_fam w²c(q_k − θh_k²),
//! h_k = (1/n)Σ_{i→k}s_i, q_k = (1/n)Σ_{i→k}s_i²; off-diagonal entries are
//! scaled by at most sqrt(m_k m_l) (T is positive), so ρ = max_k m_k exactly,
//! in O(n + r).

use std::f64::consts::FRAC_1_SQRT_2;

use frontier_common::par_map;
use frontier_probes::LinearOperator;
use frontier_probes::solvers::{LanczosOptions, lanczos_from};
use nalgebra::{DMatrix, SymmetricEigen};
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
enum Operator {
    /// The diagonal structure: T(diag x) = diag(m ⊙ x).
    Diagonal(Vec<f64>),
    General(General),
}

/// T on symmetric r×r matrices, written in the eigenbasis Q of
/// H_α = Q diag(λ) Qᵀ (X ↦ QᵀXQ preserves the Frobenius inner product, the
/// identity and the spectrum of T). There J̄ = diag(d), d_k = 1 − ηλ_k, so
/// J̄XJ̄ is the elementwise product (d dᵀ) ⊙ X, and so is the centring term of
/// a family that alone makes up H_α (H = diag(h) with h = λ/(1−α) or −λ/α):
/// T(X) = E ⊙ X + the per-sample terms (+ the other centring terms).
///
/// As a [`LinearOperator`] it acts on the packed upper triangle svec(X) ∈
/// R^{r(r+1)/2} (column by column, off-diagonal entries times √2, so the dot
/// product is the Frobenius inner product), where it is a symmetric matrix.
struct General {
    /// E (r×r, symmetric): E_kl = d_k d_l − Σ κ h_k h_l over the families
    /// whose centring is diagonal in the eigenbasis.
    elementwise: DMatrix<f64>,
    noise: Vec<Noise>,
}

/// One family's noise term κ[(1/n)Σ_i H_i X H_i − θ·H X H], κ = w²c(n, B),
/// in the eigenbasis of H_α.
struct Noise {
    samples: NoiseSamples,
    /// κ/n: the weight of each H_i X H_i.
    per_sample: f64,
    /// The centring −κ·H X H when it is not part of `elementwise`.
    centring: Option<Centring>,
}

/// A family's per-sample Hessians in the form T's products use.
enum NoiseSamples {
    /// Fᵀ (r×n) with column i f_i = √c_i·ĝ_i, and F: Ĥ_i = f_i f_iᵀ and
    /// Ĥ_i X Ĥ_i = (f_iᵀXf_i)·f_i f_iᵀ. Both orientations are stored so that
    /// every product is a plain GEMM.
    RankOne { ft: DMatrix<f64>, f: DMatrix<f64> },
    /// The dense Ĥ_i (each r×r).
    Dense(Vec<DMatrix<f64>>),
}

/// How a centring term −κ·H X H is computed.
enum Centring {
    /// Rank-one family with n ≤ r, through its samples: H = FᵀF/n, so
    /// H X H = Fᵀ M F/n² with M = F X Fᵀ (n×n), whose diagonal holds the
    /// q_i of the per-sample term; the value is κ/n².
    Samples(f64),
    /// κ and the dense H (r×r).
    Dense(f64, DMatrix<f64>),
}

impl Operator {
    fn new(problem: &Problem<'_>) -> Operator {
        let curv = problem.curvature();
        let sampling = problem.settings().sampling;
        let eta = problem.settings().eta;
        let r = curv.rank();
        // (family, κ = w²c(n, B), centred) for each family that moves u.
        let terms: Vec<(&Reduced, f64, bool)> = problem
            .terms()
            .into_iter()
            .map(|(family, w, b)| {
                let (factor, centred) = sampling.noise_factor(family.len(), b);
                (family, w * w * factor, centred)
            })
            .collect();
        let h_alpha = problem.h_alpha();
        if curv.is_diagonal() {
            let mut m: Vec<f64> = h_alpha
                .diagonal()
                .iter()
                .map(|h| (1.0 - eta * h).powi(2))
                .collect();
            for (family, kappa, centred) in terms {
                let (h, q) = family.diagonal_moments();
                let theta = if centred { 1.0 } else { 0.0 };
                for k in 0..r {
                    m[k] += kappa * (q[k] - theta * h[k] * h[k]);
                }
            }
            return Operator::Diagonal(m);
        }
        let eig = SymmetricEigen::new(h_alpha);
        let (q, lambda) = (&eig.eigenvectors, &eig.eigenvalues);
        let d = lambda.map(|l| 1.0 - eta * l);
        let mut elementwise = &d * d.transpose();
        // A single moving family is all of H_α = (1−α)H_R or −αH_F: its
        // mean is diag(λ)/s in the eigenbasis, with s its share of H_α.
        let single = terms.len() == 1;
        let alpha = problem.settings().alpha;
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
                        let ft = product(&q.transpose(), &ft);
                        NoiseSamples::RankOne {
                            f: ft.transpose(),
                            ft,
                        }
                    }
                    Samples::Dense { h } => {
                        NoiseSamples::Dense(h.iter().map(|hi| rotated(hi, q)).collect())
                    }
                };
                let n = family.len();
                let centring = if !centred {
                    None
                } else if single {
                    let share = if std::ptr::eq(family, &curv.retain) {
                        1.0 - alpha
                    } else {
                        -alpha
                    };
                    let h = lambda.map(|l| l / share);
                    elementwise -= &h * h.transpose() * kappa;
                    None
                } else {
                    match &samples {
                        NoiseSamples::RankOne { .. } if n <= r => {
                            Some(Centring::Samples(kappa / (n * n) as f64))
                        }
                        _ => Some(Centring::Dense(kappa, rotated(&family.mean, q))),
                    }
                };
                Noise {
                    samples,
                    per_sample: kappa / n as f64,
                    centring,
                }
            })
            .collect();
        Operator::General(General { elementwise, noise })
    }
}

/// QᵀAQ for symmetric A (r×r), symmetrised against round-off.
fn rotated(a: &DMatrix<f64>, q: &DMatrix<f64>) -> DMatrix<f64> {
    symmetric_product(&product(&q.transpose(), a), q)
}

/// Columns per block of the parallel products: fixed, so that results do not
/// depend on the number of threads.
const BLOCK: usize = 64;

/// Worker threads for a product of `work` multiply-adds: one below about a
/// millisecond of work (thread start-up would dominate), all cores above.
fn threads_for(work: usize) -> usize {
    if work < 1 << 20 { 1 } else { 0 }
}

/// The column blocks (start, width) of `n` columns.
fn column_blocks(n: usize) -> Vec<(usize, usize)> {
    (0..n.div_ceil(BLOCK))
        .map(|b| (b * BLOCK, BLOCK.min(n - b * BLOCK)))
        .collect()
}

/// A·B (A m×k, B k×n), one GEMM per block of columns of B, in parallel.
fn product(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let blocks = column_blocks(b.ncols());
    let threads = threads_for(a.nrows() * a.ncols() * b.ncols());
    let parts = par_map(blocks.len(), threads, |t| {
        let (start, width) = blocks[t];
        a * b.columns(start, width)
    });
    let mut out = DMatrix::zeros(a.nrows(), b.ncols());
    for (&(start, width), part) in blocks.iter().zip(parts) {
        out.columns_mut(start, width).copy_from(&part);
    }
    out
}

/// A·B (A r×k, B k×r) when the product is symmetric in exact arithmetic: only
/// the blocks on and above the diagonal are computed (in parallel, about half
/// the multiply-adds), the rest is their mirror image.
fn symmetric_product(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let r = a.nrows();
    let blocks = column_blocks(r);
    let threads = threads_for(r * r * a.ncols() / 2);
    // Largest blocks first, for balance.
    let parts = par_map(blocks.len(), threads, |t| {
        let (start, width) = blocks[blocks.len() - 1 - t];
        a.rows(0, start + width) * b.columns(start, width)
    });
    let mut out = DMatrix::zeros(r, r);
    for (t, part) in parts.into_iter().enumerate() {
        let (start, width) = blocks[blocks.len() - 1 - t];
        out.view_mut((0, start), (start + width, width))
            .copy_from(&part);
    }
    for j in 0..r {
        for i in j + 1..r {
            out[(i, j)] = out[(j, i)];
        }
    }
    out
}

impl General {
    /// T(X) for symmetric X (r×r), in the eigenbasis of H_α.
    fn apply(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let mut out = self.elementwise.component_mul(x);
        for t in &self.noise {
            match &t.samples {
                NoiseSamples::RankOne { ft, f } => {
                    // P = XFᵀ (r×n), q_i = f_iᵀXf_i (column sums of P ⊙ Fᵀ);
                    // out += Fᵀ N F with N = (κ/n)·diag(q), minus
                    // (κ/n²)·F X Fᵀ for the centring through the samples.
                    let p = product(x, ft);
                    let q: Vec<f64> = p
                        .column_iter()
                        .zip(ft.column_iter())
                        .map(|(pi, fi)| pi.dot(&fi) * t.per_sample)
                        .collect();
                    let weighted = match &t.centring {
                        Some(Centring::Samples(c)) => {
                            let mut n = symmetric_product(f, &p) * -c;
                            for (i, qi) in q.iter().enumerate() {
                                n[(i, i)] += qi;
                            }
                            product(ft, &n)
                        }
                        _ => {
                            let mut scaled = ft.clone();
                            for (mut col, qi) in scaled.column_iter_mut().zip(&q) {
                                col *= *qi;
                            }
                            scaled
                        }
                    };
                    out += symmetric_product(&weighted, f);
                }
                NoiseSamples::Dense(h) => {
                    for hi in h {
                        out += symmetric_product(&product(hi, x), hi) * t.per_sample;
                    }
                }
            }
            if let Some(Centring::Dense(kappa, h)) = &t.centring {
                out -= symmetric_product(&product(h, x), h) * *kappa;
            }
        }
        out
    }

    /// The span dimension r.
    fn rank(&self) -> usize {
        self.elementwise.nrows()
    }
}

/// Packed position of the upper-triangle entry (i, j), i ≤ j.
fn packed_index(i: usize, j: usize) -> usize {
    j * (j + 1) / 2 + i
}

impl LinearOperator for General {
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
        pack(&self.apply(&x), out);
    }
}

/// svec((Y + Yᵀ)/2) into `out` (length r(r+1)/2): symmetrising keeps the
/// Lanczos vectors symmetric under round-off.
fn pack(y: &DMatrix<f64>, out: &mut [f64]) {
    for j in 0..y.ncols() {
        for i in 0..j {
            out[packed_index(i, j)] = (y[(i, j)] + y[(j, i)]) * FRAC_1_SQRT_2;
        }
        out[packed_index(j, j)] = y[(j, j)];
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
    pack(&DMatrix::identity(op.rank(), op.rank()), &mut start);
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

    /// T(X) from its definition in the span basis: J̄ = I − ηH_α and every
    /// Ĥ_i as a dense matrix, plain products, no eigenbasis.
    fn reference_apply(problem: &Problem<'_>, x: &DMatrix<f64>) -> DMatrix<f64> {
        let r = problem.curvature().rank();
        let s = problem.settings();
        let j = DMatrix::identity(r, r) - problem.h_alpha() * s.eta;
        let mut out = &j * x * &j;
        for (family, w, b) in problem.terms() {
            let (factor, centred) = s.sampling.noise_factor(family.len(), b);
            let kappa = w * w * factor;
            let n = family.len();
            for i in 0..n {
                let h = family.hessian(i);
                out += &h * x * &h * (kappa / n as f64);
            }
            if centred {
                out -= &family.mean * x * &family.mean * kappa;
            }
        }
        out
    }

    /// [`reference_apply`] as an operator on svec(X), for Lanczos from I.
    struct Reference<'p>(Problem<'p>);

    impl LinearOperator for Reference<'_> {
        fn dim(&self) -> usize {
            let r = self.0.curvature().rank();
            r * (r + 1) / 2
        }

        fn matvec(&self, v: &[f64], out: &mut [f64]) {
            let r = self.0.curvature().rank();
            let x = DMatrix::from_fn(r, r, |i, j| {
                let (a, b) = if i <= j { (i, j) } else { (j, i) };
                v[packed_index(a, b)] * if a == b { 1.0 } else { FRAC_1_SQRT_2 }
            });
            pack(&reference_apply(&self.0, &x), out);
        }
    }

    /// The settings of the blocked-size checks: two moving families (centring
    /// through the samples, or dense when n > r), α = 0 and α = 1 (one family,
    /// centring in the eigenbasis), Bernoulli (no centring).
    fn blocked_cases() -> Vec<Settings> {
        let base = Settings::new(0.05, 0.3, 4);
        vec![
            base,
            Settings { alpha: 0.0, ..base },
            Settings { alpha: 1.0, ..base },
            Settings {
                sampling: Sampling::Bernoulli,
                ..base
            },
        ]
    }

    /// Curvatures of rank r > BLOCK (several column blocks) from rank-one
    /// families of (n_r, n_f, p) samples.
    fn blocked_curvatures(sizes: &[(usize, usize, usize)]) -> Vec<Curvature> {
        let mut rng = ChaCha8Rng::seed_from_u64(41);
        sizes
            .iter()
            .map(|&(n_r, n_f, p)| {
                let (gr, cr) = random_rank_one(&mut rng, n_r, p, 0.3);
                let (gf, cf) = random_rank_one(&mut rng, n_f, p, 0.3);
                let retain = Family::rank_one(&gr, &cr).unwrap();
                let forget = Family::rank_one(&gf, &cf).unwrap();
                Curvature::new(&retain, Some(&forget)).unwrap()
            })
            .collect()
    }

    /// The eigenbasis operator, rotated back, against the definition on a
    /// random symmetric X, to 1e-12 relative, at r = 130 (products on several
    /// threads): n_r = 100, n_f = 30 in p = 140 (n ≤ r: centring through the
    /// samples), and n_r = 200 in p = 130 (n > r: dense centring).
    #[test]
    fn blocked_operator_matches_definition() {
        let mut rng = ChaCha8Rng::seed_from_u64(43);
        for curv in blocked_curvatures(&[(100, 30, 140), (200, 30, 130)]) {
            let r = curv.rank();
            assert!(r > BLOCK, "r = {r}");
            let x = DMatrix::from_fn(r, r, |_, _| rng.sample::<f64, _>(StandardNormal));
            let x = &x + x.transpose();
            for s in blocked_cases() {
                let problem = Problem::new(&curv, s).unwrap();
                let Operator::General(op) = Operator::new(&problem) else {
                    panic!("dense rows take the general path")
                };
                let q = SymmetricEigen::new(problem.h_alpha()).eigenvectors;
                let rust = &q * op.apply(&(q.transpose() * &x * &q)) * q.transpose();
                let reference = reference_apply(&problem, &x);
                let err = (&rust - &reference).norm() / reference.norm();
                assert!(
                    err < 1e-12,
                    "r={r} {s:?}: ‖rust − reference‖/‖reference‖ = {err:e}"
                );
            }
        }
    }

    /// [`rho`] against Lanczos from I on the definition, at r = 70 (two
    /// column blocks; n_r = 50, n_f = 20 in p = 80), to 1e-8 relative.
    #[test]
    fn rho_matches_definition_at_blocked_size() {
        for curv in blocked_curvatures(&[(50, 20, 80)]) {
            for s in blocked_cases() {
                let problem = Problem::new(&curv, s).unwrap();
                let rust = rho(&problem, &PowerOptions::default());
                let r = curv.rank();
                let mut identity = vec![0.0; r * (r + 1) / 2];
                pack(&DMatrix::identity(r, r), &mut identity);
                let reference = lanczos_from(
                    &Reference(problem),
                    &identity,
                    &LanczosOptions {
                        top: 1,
                        bottom: 0,
                        max_iter: 20_000,
                        tol: 1e-10,
                        seed: 0,
                    },
                )
                .top[0];
                assert!(rust.converged, "r={r} {s:?}: {rust:?}");
                assert!(
                    (rust.value - reference).abs() < 1e-8 * reference,
                    "r={r} {s:?}: rust={}, reference={reference}",
                    rust.value
                );
            }
        }
    }
}
