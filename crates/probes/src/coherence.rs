//! Three-axis and pair coherence of per-sample curvature (`docs/science.md`, "Pair coherence
//! σ_U and its normalisers").
//!
//! Input: the n×n matrix K_ij = tr(H_i H_j) of per-sample Hessians H_i (PSD, p×p) and their
//! largest eigenvalues, samples ordered retain first ([`CurvatureGram`]). Output: σ, σ_R, σ_F,
//! σ_RF, σ_U and σ_U_signed ([`Coherence`], [`coherence`]).

use nalgebra::DMatrix;

use crate::error::{Error, Result, check_alpha, check_finite, check_len};
use crate::operator::{DenseOperator, LinearOperator};
use crate::pair::PairOperator;
use crate::solvers::{DENSE_LIMIT, LanczosOptions, dense_eigen, lanczos_from};

/// What is known about the per-sample Hessians beyond K, for the spectra of the pair
/// matrices A_(r,f) = (1−α)H_r − αH_f.
#[derive(Debug, Clone, PartialEq)]
pub enum PairSpectra {
    /// H_i = c_i g_i g_iᵀ: A_(r,f) has rank two and its eigenvalues follow in closed form from
    /// λ_r, λ_f and K_rf.
    RankOne,
    /// The n dense p×p per-sample Hessians (symmetrised), in sample order: A_(r,f) is
    /// eigen-decomposed per pair (n_r·n_f dense p×p eigenproblems; for small p).
    Dense(Vec<DMatrix<f64>>),
    /// Only K and λ_max(H_i) are known (K from Hutchinson probes, see [`crate::generic`]):
    /// the pair normalisers are replaced by upper bounds valid for PSD H_r, H_f:
    /// λ_max((1−α)H_r + αH_f) ≤ (1−α)λ_r + αλ_f (Weyl) for the magnitude version, and
    /// |λ|_max((1−α)H_r − αH_f) ≤ max((1−α)λ_r, αλ_f) for the signed one (its eigenvalues lie
    /// in [−αλ_f, (1−α)λ_r]). The denominators are then at least the true ones, so σ_U and
    /// σ_U_signed are lower bounds.
    UpperBound,
}

/// The curvature Gram matrix of n per-sample Hessians, samples ordered retain first
/// (indices `0..n_retain` are the retain set R, the rest the forget set F).
#[derive(Debug, Clone, PartialEq)]
pub struct CurvatureGram {
    /// n×n, K_ij = tr(H_i H_j) ≥ 0 (squared curvature units).
    pub k: DMatrix<f64>,
    /// λ_max(H_i) for each sample (length n).
    pub lambda_max: Vec<f64>,
    /// Number of retain samples n_r (the first n_r rows of `k`).
    pub n_retain: usize,
    /// How to get the spectra of A_(r,f) for the pair coherence.
    pub pairs: PairSpectra,
}

impl CurvatureGram {
    /// From rank-one Hessians H_i = c_i g_i g_iᵀ: `g` is n×p (row i = g_i), `c` has length n
    /// (c_i = ℓ''_i ≥ 0). K_ij = c_i c_j (g_i·g_j)², λ_max(H_i) = c_i‖g_i‖². Forms G Gᵀ
    /// (2n²p flops); use [`from_gram`](Self::from_gram) when G Gᵀ is computed elsewhere.
    ///
    /// # Panics
    /// On invalid input (see [`from_gram`](Self::from_gram) for the conditions).
    pub fn from_rank_one(g: &DMatrix<f64>, c: &[f64], n_retain: usize) -> Self {
        let gram = g * g.transpose();
        Self::from_gram(&gram, c, n_retain).unwrap_or_else(|e| panic!("from_rank_one: {e}"))
    }

    /// From the n×n Gram matrix `gram` = G Gᵀ of per-sample gradients (gram_ij = g_i·g_j) and
    /// c_i ≥ 0: the rank-one case without the n×p matrix. Errors if `gram` is not n×n with
    /// n = `c.len()`, a value is not finite, some c_i < 0, or `n_retain > n`.
    pub fn from_gram(gram: &DMatrix<f64>, c: &[f64], n_retain: usize) -> Result<Self> {
        let n = c.len();
        check_len("Gram matrix: number of rows", n, gram.nrows())?;
        check_len("Gram matrix: number of columns", n, gram.ncols())?;
        check_finite("Gram matrix", gram.iter())?;
        check_finite("curvature factors c", c)?;
        if let Some(bad) = c.iter().find(|&&x| x < 0.0) {
            return Err(Error::Argument {
                name: "c",
                value: bad.to_string(),
                expected: "curvature factors c_i ≥ 0 (per-sample Hessians must be PSD)",
            });
        }
        check_n_retain(n_retain, n)?;
        let k = DMatrix::from_fn(n, n, |i, j| {
            let gij = 0.5 * (gram[(i, j)] + gram[(j, i)]);
            c[i] * c[j] * gij * gij
        });
        let lambda_max = (0..n).map(|i| c[i] * gram[(i, i)]).collect();
        Ok(Self {
            k,
            lambda_max,
            n_retain,
            pairs: PairSpectra::RankOne,
        })
    }

    /// From n dense PSD per-sample Hessians (each p×p): K_ij = Σ_kl (H_i)_kl (H_j)_kl
    /// (= tr(H_i H_j) for symmetric H), λ_max by a dense eigen-decomposition.
    ///
    /// # Panics
    /// On invalid input (see [`try_from_dense`](Self::try_from_dense)).
    pub fn from_dense(h: &[DMatrix<f64>], n_retain: usize) -> Self {
        Self::try_from_dense(h, n_retain).unwrap_or_else(|e| panic!("from_dense: {e}"))
    }

    /// As [`from_dense`](Self::from_dense); errors if the matrices are not all p×p, contain
    /// NaN/Inf, or `n_retain > n`. Each H_i is symmetrised ((H + Hᵀ)/2) first.
    pub fn try_from_dense(h: &[DMatrix<f64>], n_retain: usize) -> Result<Self> {
        let n = h.len();
        check_n_retain(n_retain, n)?;
        let p = h.first().map_or(0, |m| m.nrows());
        for m in h {
            check_len("per-sample Hessian: number of rows", p, m.nrows())?;
            check_len("per-sample Hessian: number of columns", p, m.ncols())?;
            check_finite("per-sample Hessian", m.iter())?;
        }
        let sym: Vec<DMatrix<f64>> = h.iter().map(|m| (m + m.transpose()) * 0.5).collect();
        // Row i of F is vec(H_i); K = F Fᵀ.
        let f = DMatrix::from_fn(n, p * p, |i, kl| sym[i].as_slice()[kl]);
        let k = &f * f.transpose();
        let lambda_max = sym
            .iter()
            .map(|m| m.symmetric_eigenvalues().max())
            .collect();
        Ok(Self {
            k,
            lambda_max,
            n_retain,
            pairs: PairSpectra::Dense(sym),
        })
    }

    /// Number of samples n.
    pub fn n(&self) -> usize {
        self.k.nrows()
    }

    /// Number of forget samples n_f = n − n_r.
    pub fn n_forget(&self) -> usize {
        self.n() - self.n_retain
    }

    /// The normaliser of the pair coherence: the largest spectral radius over pairs (r, f)
    /// of the pair matrix A_(r,f) = (1−α)H_r + b·H_f, with b = +α (magnitude, `signed` =
    /// false: A is PSD, so this is λ_max((1−α)H_r + αH_f)) or b = −α (signed: the spectral
    /// radius of (1−α)H_r − αH_f). 0 when a set is empty.
    pub fn max_pair_spectral_radius(&self, alpha: f64, signed: bool) -> f64 {
        let (n_r, n) = (self.n_retain, self.n());
        let a = 1.0 - alpha;
        let b = if signed { -alpha } else { alpha };
        let mut best: f64 = 0.0;
        for r in 0..n_r {
            for f in n_r..n {
                let radius = match &self.pairs {
                    PairSpectra::RankOne => {
                        // A = X D Xᵀ, X = [g_r g_f], D = diag(a c_r, b c_f): its non-zero
                        // eigenvalues are those of the 2×2 matrix D XᵀX, with trace
                        // aλ_r + bλ_f and determinant a·b·(λ_rλ_f − K_rf) (λ_rλ_f ≥ K_rf by
                        // Cauchy–Schwarz); both eigenvalues are real.
                        let (lr, lf) = (self.lambda_max[r], self.lambda_max[f]);
                        let trace = a * lr + b * lf;
                        let det = a * b * (lr * lf - self.k[(r, f)]).max(0.0);
                        0.5 * trace.abs() + (0.25 * trace * trace - det).max(0.0).sqrt()
                    }
                    // Weyl: λ_max(aH_r + αH_f) ≤ aλ_r + αλ_f; the eigenvalues of
                    // aH_r − αH_f lie in [−αλ_f, aλ_r].
                    PairSpectra::UpperBound if signed => {
                        (a * self.lambda_max[r]).max(alpha * self.lambda_max[f])
                    }
                    PairSpectra::UpperBound => a * self.lambda_max[r] + alpha * self.lambda_max[f],
                    PairSpectra::Dense(h) => {
                        let pair = &h[r] * a + &h[f] * b;
                        pair.symmetric_eigenvalues().amax()
                    }
                };
                best = best.max(radius);
            }
        }
        best
    }
}

fn check_n_retain(n_retain: usize, n: usize) -> Result<()> {
    if n_retain > n {
        return Err(Error::Argument {
            name: "n_retain",
            value: n_retain.to_string(),
            expected: "at most the number of samples n",
        });
    }
    Ok(())
}

/// The coherence numbers. All are dimensionless ratios ≥ 0; σ ∈ [1, n] for
/// rank-one Hessians. A number whose set is empty (or whose curvature is all zero) is 0:
/// with no forget samples σ_F = σ_RF = σ_U = σ_U_signed = 0, and likewise with no retain
/// samples σ_R = σ_RF = σ_U = σ_U_signed = 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coherence {
    /// σ = λ_max(S) / max_i λ_max(H_i), S_ij = sqrt(K_ij), over all n samples.
    pub sigma: f64,
    /// σ_R = λ_max(S_RR) / max_{i∈R} λ_max(H_i).
    pub sigma_r: f64,
    /// σ_F = λ_max(S_FF) / max_{j∈F} λ_max(H_j).
    pub sigma_f: f64,
    /// σ_RF = ‖S_RF‖₂ / sqrt(max_{i∈R} λ_max(H_i) · max_{j∈F} λ_max(H_j)).
    pub sigma_rf: f64,
    /// σ_U = λ_max(S^U) / max_{(r,f)} λ_max((1−α)H_r + αH_f): the magnitude version
    /// (b = α in S^U, see [`PairOperator`]) with the magnitude pair matrices as normaliser.
    /// Not a measure of memorisation: for mutually orthogonal rank-one curvature of equal
    /// scale (σ = 1) S^U is the weighted adjacency of the n_r × n_f rook graph (pairs that
    /// share a sample are coupled) and σ_U = (√((1−α)² + α²) + (1−α)(n_f − 1) + α(n_r − 1)) /
    /// max(1−α, α) ≈ n_r + n_f. NaN (not computed) when n_r·n_f > [`PAIR_LIMIT`].
    pub sigma_u: f64,
    /// The signed version: b = −α, so the squared entries of S^U are tr(A_(r,f) A_(r',f'))
    /// for A_(r,f) = (1−α)H_r − αH_f (negative ones clamped to 0 before the square root),
    /// normalised by max_{(r,f)} of the spectral radius of that signed A_(r,f).
    pub sigma_u_signed: f64,
}

/// Three-axis and pair coherence for mixing weight α ∈ [0, 1].
///
/// Largest eigenvalues come from an exact dense solve up to dimension 300 and above it from
/// Lanczos started at the all-ones vector (every matrix here is entrywise non-negative, so
/// its top eigenvector is too) with relative residual tolerance 1e-8; S^U is never formed for
/// N = n_r·n_f > 300 (matrix-free [`PairOperator`]). Each σ_U version is normalised by its
/// own pair matrices: magnitude with λ_max((1−α)H_r + αH_f), signed with the spectral
/// radius of (1−α)H_r − αH_f ([`CurvatureGram::max_pair_spectral_radius`]).
///
/// # Panics
/// If α ∉ [0, 1] (use [`try_coherence`] to get an error instead).
pub fn coherence(gram: &CurvatureGram, alpha: f64) -> Coherence {
    try_coherence(gram, alpha).unwrap_or_else(|e| panic!("coherence: {e}"))
}

/// As [`coherence`], with an error for α ∉ [0, 1] or an inconsistent `gram` (K not square,
/// `lambda_max` of the wrong length, `n_retain > n`, NaN/Inf).
pub fn try_coherence(gram: &CurvatureGram, alpha: f64) -> Result<Coherence> {
    check_alpha(alpha)?;
    let n = gram.n();
    check_len("curvature Gram K: number of columns", n, gram.k.ncols())?;
    check_len(
        "curvature Gram: length of lambda_max",
        n,
        gram.lambda_max.len(),
    )?;
    check_n_retain(gram.n_retain, n)?;
    check_finite("curvature Gram K", gram.k.iter())?;
    check_finite("curvature Gram lambda_max", &gram.lambda_max)?;
    let (n_r, n_f) = (gram.n_retain, gram.n_forget());
    let s = gram.k.map(|x| x.max(0.0).sqrt());
    let max_lambda = |range: std::ops::Range<usize>| {
        gram.lambda_max[range]
            .iter()
            .fold(0.0_f64, |m, &x| m.max(x))
    };
    let (lam_all, lam_r, lam_f) = (max_lambda(0..n), max_lambda(0..n_r), max_lambda(n_r..n));
    let block = |start: usize, len: usize| s.view((start, start), (len, len)).into_owned();
    let sigma = ratio(top_eigenvalue(s.clone())?, lam_all);
    let sigma_r = ratio(top_eigenvalue(block(0, n_r))?, lam_r);
    let sigma_f = ratio(top_eigenvalue(block(n_r, n_f))?, lam_f);
    let sigma_rf = if n_r == 0 || n_f == 0 {
        0.0
    } else {
        // ‖S_RF‖₂² = λ_max(BᵀB) on the smaller side.
        let s_rf = s.view((0, n_r), (n_r, n_f));
        let small = if n_f <= n_r {
            s_rf.transpose() * s_rf
        } else {
            s_rf * s_rf.transpose()
        };
        ratio(
            top_eigenvalue(small)?.max(0.0).sqrt(),
            (lam_r * lam_f).sqrt(),
        )
    };
    let (sigma_u, sigma_u_signed) = if n_r == 0 || n_f == 0 {
        (0.0, 0.0)
    } else if n_r * n_f > PAIR_LIMIT {
        (f64::NAN, f64::NAN)
    } else {
        (
            pair_coherence(gram, alpha, false)?,
            pair_coherence(gram, alpha, true)?,
        )
    };
    Ok(Coherence {
        sigma,
        sigma_r,
        sigma_f,
        sigma_rf,
        sigma_u,
        sigma_u_signed,
    })
}

/// The most (retain, forget) pairs N = n_r·n_f for which [`try_coherence`] computes σ_U and
/// σ_U_signed. The pair matrix S^U is never formed, but its entries
/// sqrt(a²K_rr' + ab(K_rf' + K_fr') + b²K_ff') do not factor, so each matvec costs O(N²): at
/// N = 10,000 about 10⁸ operations, at the digits' N ≈ 1,300·144 ≈ 190,000 about 4·10¹⁰ per
/// matvec, hours for a report. Above the limit they are NaN (reported as not computed);
/// [`pair_coherence`] still computes them on request.
pub const PAIR_LIMIT: usize = 10_000;

/// σ_U alone (`signed` = false) or σ_U_signed (true) at mixing weight α, as in
/// [`try_coherence`]: for callers that need only the pair coherence (one pair solve instead of
/// two, and none of the α-independent solves). Errors as [`PairOperator::new`] does (α out of
/// range, an empty retain or forget set).
pub fn pair_coherence(gram: &CurvatureGram, alpha: f64, signed: bool) -> Result<f64> {
    let op = PairOperator::new(gram, alpha, signed)?;
    Ok(ratio(
        lambda_max(&op),
        gram.max_pair_spectral_radius(alpha, signed),
    ))
}

/// num / den, or 0 when den is 0 (an empty set or zero curvature).
fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 { num / den } else { 0.0 }
}

/// Relative residual tolerance of the Lanczos solves in [`lambda_max`]. The Ritz value's error
/// is at most residual²/gap (and never more than the residual), so 1e-8 leaves it at round-off
/// for the well-separated Perron roots of coherence matrices (checked against 1e-10 at the
/// CNN's size, N = 900 pairs: within 1e-15 relative), a few matvecs sooner than the solver's
/// default 1e-10.
const PERRON_TOL: f64 = 1e-8;

/// The largest eigenvalue of a symmetric, entrywise non-negative operator (0 for dimension 0):
/// exact up to [`DENSE_LIMIT`], above it Lanczos from the all-ones vector, which overlaps the
/// non-negative Perron eigenvector, to [`PERRON_TOL`].
fn lambda_max<A: LinearOperator + ?Sized>(op: &A) -> f64 {
    let p = op.dim();
    let result = if p <= DENSE_LIMIT {
        dense_eigen(op, 1, 0)
    } else {
        let options = LanczosOptions {
            top: 1,
            bottom: 0,
            tol: PERRON_TOL,
            ..Default::default()
        };
        lanczos_from(op, &vec![1.0; p], &options)
    };
    result.top.first().copied().unwrap_or(0.0)
}

fn top_eigenvalue(m: DMatrix<f64>) -> Result<f64> {
    Ok(lambda_max(&DenseOperator::new(m)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::test_util::{random_matrix, rel};
    use crate::solvers::reference::sorted_eigenvalues;

    /// S^U built densely, straight from the definition.
    fn dense_pair_matrix(gram: &CurvatureGram, alpha: f64, signed: bool) -> DMatrix<f64> {
        let (n_r, n_f) = (gram.n_retain, gram.n_forget());
        let (a, b) = (1.0 - alpha, if signed { -alpha } else { alpha });
        let k = &gram.k;
        DMatrix::from_fn(n_r * n_f, n_r * n_f, |i, j| {
            let (r, f) = (i / n_f, n_r + i % n_f);
            let (rp, fp) = (j / n_f, n_r + j % n_f);
            let sq = a * a * k[(r, rp)] + a * b * (k[(r, fp)] + k[(f, rp)]) + b * b * k[(f, fp)];
            sq.max(0.0).sqrt()
        })
    }

    fn rank_one_case(n: usize, p: usize, seed: u64) -> (DMatrix<f64>, Vec<f64>) {
        let g = random_matrix(n, p, seed);
        let c = (0..n).map(|i| 0.2 + 0.05 * (i % 7) as f64).collect();
        (g, c)
    }

    #[test]
    fn orthogonal_rank_one_hessians_give_sigma_one() {
        let n = 6;
        let g = DMatrix::from_fn(n, 8, |i, j| if i == j { 1.0 + i as f64 } else { 0.0 });
        let c = vec![0.5; n];
        let s = coherence(&CurvatureGram::from_rank_one(&g, &c, 4), 0.5);
        for (name, x) in [
            ("sigma", s.sigma),
            ("sigma_r", s.sigma_r),
            ("sigma_f", s.sigma_f),
        ] {
            assert!((x - 1.0).abs() < 1e-12, "{name}: rust={x}, reference=1");
        }
        assert!(
            s.sigma_rf.abs() < 1e-12,
            "sigma_rf: rust={}, reference=0",
            s.sigma_rf
        );
    }

    #[test]
    fn identical_rank_one_hessians_give_sigma_n() {
        let (n, n_r) = (7, 5);
        let row = random_matrix(1, 9, 71);
        let g = DMatrix::from_fn(n, 9, |_, j| row[j]);
        let s = coherence(&CurvatureGram::from_rank_one(&g, &vec![0.3; n], n_r), 0.5);
        let n_f = n - n_r;
        let checks = [
            ("sigma", s.sigma, n as f64),
            ("sigma_r", s.sigma_r, n_r as f64),
            ("sigma_f", s.sigma_f, n_f as f64),
            ("sigma_rf", s.sigma_rf, ((n_r * n_f) as f64).sqrt()),
        ];
        for (name, rust, reference) in checks {
            assert!(
                rel(rust, reference, 1.0) < 1e-12,
                "{name}: rust={rust}, reference={reference}"
            );
        }
    }

    #[test]
    fn pair_coherence_matrix_free_equals_dense() {
        // N = 18·20 = 360 > 300, so `coherence` itself goes through Lanczos on the
        // matrix-free operator; N = 3·5 = 15 takes the dense path. Both roles orders.
        for (n, n_r, p, seed) in [(38, 18, 12, 81), (38, 20, 30, 82), (8, 3, 5, 83)] {
            let (g, c) = rank_one_case(n, p, seed);
            let gram = CurvatureGram::from_rank_one(&g, &c, n_r);
            for alpha in [0.0, 0.3, 1.0] {
                let s = coherence(&gram, alpha);
                for (signed, rust) in [(false, s.sigma_u), (true, s.sigma_u_signed)] {
                    let den = gram.max_pair_spectral_radius(alpha, signed);
                    let dense = dense_pair_matrix(&gram, alpha, signed);
                    let reference = sorted_eigenvalues(&dense).last().unwrap() / den;
                    assert!(
                        rel(rust, reference, 1e-300) < 1e-9,
                        "n_r={n_r}, alpha={alpha}, signed={signed}: rust={rust}, \
                         reference={reference}"
                    );
                    // The operator's matvec against the dense product.
                    let op = PairOperator::new(&gram, alpha, signed).unwrap();
                    let v = random_matrix(op.dim(), 1, seed + 7);
                    let mut out = vec![0.0; op.dim()];
                    op.matvec(v.as_slice(), &mut out);
                    let want = &dense * &v;
                    let err = (DMatrix::from_column_slice(op.dim(), 1, &out) - &want).norm()
                        / want.norm();
                    assert!(err < 1e-13, "matvec relative error {err}");
                }
            }
        }
    }

    /// σ_U and σ_U_signed straight from dense p×p Hessians H_i = c_i g_i g_iᵀ: every pair
    /// matrix A_(r,f) = (1−α)H_r ± αH_f formed and eigen-solved, the N×N matrix S^U formed from
    /// tr(H_i H_j) of dense products and eigen-solved, all with nalgebra; against the rank-one
    /// path (2×2 closed form) and the dense path of [`coherence`].
    #[test]
    fn pair_normalisers_match_dense_pair_matrices() {
        for (n, n_r, p, seed) in [(7, 4, 5, 111), (9, 3, 12, 112)] {
            let (g, c) = rank_one_case(n, p, seed);
            let h: Vec<DMatrix<f64>> = (0..n)
                .map(|i| {
                    let gi = g.row(i).transpose();
                    &gi * gi.transpose() * c[i]
                })
                .collect();
            let paths = [
                ("rank one", CurvatureGram::from_rank_one(&g, &c, n_r)),
                ("dense", CurvatureGram::from_dense(&h, n_r)),
            ];
            let pairs: Vec<(usize, usize)> = (0..n_r)
                .flat_map(|r| (n_r..n).map(move |f| (r, f)))
                .collect();
            for alpha in [0.1, 0.5, 0.85] {
                let a = 1.0 - alpha;
                for signed in [false, true] {
                    let b = if signed { -alpha } else { alpha };
                    let normaliser = pairs
                        .iter()
                        .map(|&(r, f)| (&h[r] * a + &h[f] * b).symmetric_eigenvalues().amax())
                        .fold(0.0, f64::max);
                    let tr = |i: usize, j: usize| (&h[i] * &h[j]).trace();
                    let su = DMatrix::from_fn(pairs.len(), pairs.len(), |u, v| {
                        let ((r, f), (r2, f2)) = (pairs[u], pairs[v]);
                        let sq =
                            a * a * tr(r, r2) + a * b * (tr(r, f2) + tr(f, r2)) + b * b * tr(f, f2);
                        sq.max(0.0).sqrt()
                    });
                    let reference = sorted_eigenvalues(&su).last().unwrap() / normaliser;
                    for (path, gram) in &paths {
                        let got = coherence(gram, alpha);
                        let rust = if signed {
                            got.sigma_u_signed
                        } else {
                            got.sigma_u
                        };
                        assert!(
                            rel(rust, reference, 1e-300) < 1e-10,
                            "{path}, n={n}, alpha={alpha}, signed={signed}: rust={rust}, \
                             reference={reference}"
                        );
                        let den = gram.max_pair_spectral_radius(alpha, signed);
                        assert!(
                            rel(den, normaliser, 1e-300) < 1e-10,
                            "{path} normaliser: rust={den}, reference={normaliser}"
                        );
                    }
                }
            }
        }
    }

    /// Mutually orthogonal rank-one curvature of equal scale λ (σ = 1, pure memorisation):
    /// S^U/λ = √(a² + α²)·I + a·(pairs sharing r) + α·(pairs sharing f), the rook graph, with
    /// Perron root √(a² + α²) + a(n_f − 1) + α(n_r − 1); both pair normalisers are
    /// λ·max(a, α). So σ_U ≈ n_r + n_f although nothing is coherent.
    #[test]
    fn orthogonal_curvature_gives_the_rook_graph_value() {
        let (n_r, n_f) = (5, 3);
        let n = n_r + n_f;
        // ‖g_i‖² c_i = 2·0.75 = 1.5 for every sample.
        let g = DMatrix::from_fn(n, n + 2, |i, j| if i == j { 2f64.sqrt() } else { 0.0 });
        let gram = CurvatureGram::from_rank_one(&g, &vec![0.75; n], n_r);
        for alpha in [0.2f64, 0.5, 0.7] {
            let a = 1.0 - alpha;
            let reference =
                ((a * a + alpha * alpha).sqrt() + a * (n_f - 1) as f64 + alpha * (n_r - 1) as f64)
                    / a.max(alpha);
            let s = coherence(&gram, alpha);
            for (name, rust) in [("sigma_u", s.sigma_u), ("sigma_u_signed", s.sigma_u_signed)] {
                assert!(
                    rel(rust, reference, 1.0) < 1e-12,
                    "{name}, alpha={alpha}: rust={rust}, reference={reference}"
                );
            }
            assert!(
                (s.sigma - 1.0).abs() < 1e-12,
                "sigma: rust={}, reference=1",
                s.sigma
            );
        }
    }

    #[test]
    fn threaded_pair_matvec_equals_dense() {
        // N = 40·52 = 2080 ≥ 2048 takes the multi-threaded path.
        let (g, c) = rank_one_case(92, 10, 85);
        let gram = CurvatureGram::from_rank_one(&g, &c, 40);
        for signed in [false, true] {
            let op = PairOperator::new(&gram, 0.6, signed).unwrap();
            let dense = dense_pair_matrix(&gram, 0.6, signed);
            let v = random_matrix(op.dim(), 1, 86);
            let mut out = vec![0.0; op.dim()];
            op.matvec(v.as_slice(), &mut out);
            let want = &dense * &v;
            let err = (DMatrix::from_column_slice(op.dim(), 1, &out) - &want).norm() / want.norm();
            assert!(err < 1e-13, "signed={signed}: matvec relative error {err}");
        }
    }

    #[test]
    fn rank_one_and_dense_agree() {
        let (n, n_r, p) = (9, 6, 7);
        let (g, c) = rank_one_case(n, p, 91);
        let h: Vec<DMatrix<f64>> = (0..n)
            .map(|i| {
                let gi = g.row(i).transpose();
                &gi * gi.transpose() * c[i]
            })
            .collect();
        let r1 = CurvatureGram::from_rank_one(&g, &c, n_r);
        let dense = CurvatureGram::from_dense(&h, n_r);
        let err = (&r1.k - &dense.k).norm() / dense.k.norm();
        assert!(err < 1e-12, "K relative error {err}");
        for (a, b) in r1.lambda_max.iter().zip(&dense.lambda_max) {
            assert!(
                rel(*a, *b, 1e-300) < 1e-12,
                "lambda_max: rust={a}, reference={b}"
            );
        }
        for alpha in [0.0, 0.4, 0.9] {
            let (x, y) = (coherence(&r1, alpha), coherence(&dense, alpha));
            let pairs = [
                ("sigma", x.sigma, y.sigma),
                ("sigma_r", x.sigma_r, y.sigma_r),
                ("sigma_f", x.sigma_f, y.sigma_f),
                ("sigma_rf", x.sigma_rf, y.sigma_rf),
                ("sigma_u", x.sigma_u, y.sigma_u),
                ("sigma_u_signed", x.sigma_u_signed, y.sigma_u_signed),
            ];
            for (name, rust, reference) in pairs {
                assert!(
                    rel(rust, reference, 1e-300) < 1e-10,
                    "{name}, alpha={alpha}: rank-one rust={rust}, dense reference={reference}"
                );
            }
            assert!(x.sigma >= 1.0 - 1e-12 && x.sigma_u >= 1.0 - 1e-12, "{x:?}");
        }
    }

    #[test]
    fn empty_sets_give_zeros() {
        let (g, c) = rank_one_case(5, 4, 95);
        let no_forget = coherence(&CurvatureGram::from_rank_one(&g, &c, 5), 0.5);
        assert_eq!(
            (
                no_forget.sigma_f,
                no_forget.sigma_rf,
                no_forget.sigma_u,
                no_forget.sigma_u_signed
            ),
            (0.0, 0.0, 0.0, 0.0)
        );
        assert!(no_forget.sigma >= 1.0 && no_forget.sigma == no_forget.sigma_r);
        let no_retain = coherence(&CurvatureGram::from_rank_one(&g, &c, 0), 0.5);
        assert_eq!((no_retain.sigma_r, no_retain.sigma_u), (0.0, 0.0));
        assert!(no_retain.sigma == no_retain.sigma_f);
    }

    #[test]
    fn bad_input_is_an_error() {
        let (g, c) = rank_one_case(4, 3, 96);
        let gram = &g * g.transpose();
        assert!(CurvatureGram::from_gram(&gram, &c[..3], 2).is_err());
        assert!(CurvatureGram::from_gram(&gram, &[1.0, -1.0, 1.0, 1.0], 2).is_err());
        assert!(CurvatureGram::from_gram(&gram, &c, 5).is_err());
        let ok = CurvatureGram::from_gram(&gram, &c, 2).unwrap();
        assert!(try_coherence(&ok, 1.5).is_err());
        assert!(try_coherence(&ok, f64::NAN).is_err());
    }
}
