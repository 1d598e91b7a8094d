//! Spectra of rank-one curvature from the n×n Gram matrix G Gᵀ (the rank-one shortcut).
//!
//! For H = Σ_i w_i c_i g_i g_iᵀ = Gᵀ D G (p×p, D = diag(d), d_i = w_i c_i) only the n×n Gram
//! matrix G Gᵀ of the per-sample gradients is needed. With E = diag(|d_i|^{1/2}),
//! s = sign(d) and M = E G Gᵀ E = Bᵀ B (B = Λ^{1/2} Vᵀ from M = V Λ Vᵀ):
//!
//! - the non-zero eigenvalues of Gᵀ D G = (EG)ᵀ diag(s) (EG) equal those of diag(s) M, which
//!   equal those of the symmetric n×n matrix B diag(s) Bᵀ (AB and BA share their non-zero
//!   spectrum), multiplicities included;
//! - when every d_i ≥ 0 (H, H_R, H_F) this is simply the spectrum of M = D^{1/2} G Gᵀ D^{1/2}.
//!
//! The p×p spectrum is the n×n one plus p − n zeros when p ≥ n, or minus the n − p
//! eigenvalues of smallest modulus (which are zeros) when p < n. So for the indefinite H_α
//! (α > 0) with p > n, λ_min(H_α) = min(λ_min of the n×n part, 0): zero counts.

use nalgebra::{DMatrix, SymmetricEigen};

use crate::error::{Result, check_finite, check_len};
use crate::weights::{full_weights, mixed_weights};

/// The spectrum of a p×p rank-one curvature matrix, from [`gram_spectrum`].
#[derive(Debug, Clone, PartialEq)]
pub struct GramSpectrum {
    /// min(n, p) eigenvalues, ascending; together with `implicit_zeros` zeros they are the
    /// whole p×p spectrum (curvature units).
    pub eigenvalues: Vec<f64>,
    /// p − n when p > n (eigenvalues that are exactly 0 and not listed), else 0.
    pub implicit_zeros: usize,
}

impl GramSpectrum {
    /// The smallest eigenvalue of the p×p matrix (0 counts when there are implicit zeros).
    pub fn lambda_min(&self) -> f64 {
        let listed = self.eigenvalues.first().copied().unwrap_or(0.0);
        if self.implicit_zeros > 0 {
            listed.min(0.0)
        } else {
            listed
        }
    }

    /// The largest eigenvalue of the p×p matrix (0 counts when there are implicit zeros).
    pub fn lambda_max(&self) -> f64 {
        let listed = self.eigenvalues.last().copied().unwrap_or(0.0);
        if self.implicit_zeros > 0 {
            listed.max(0.0)
        } else {
            listed
        }
    }

    /// The trace (sum of all eigenvalues).
    pub fn trace(&self) -> f64 {
        self.eigenvalues.iter().sum()
    }
}

/// The spectrum of H = Σ_i weights_i c_i g_i g_iᵀ (p×p) from `gram` = G Gᵀ (n×n, gram_ij =
/// g_i·g_j), curvature factors `c` (length n) and signed `weights` (length n, see
/// [`crate::weights`]); `p` is the number of parameters. Two dense n×n eigen-decompositions
/// (one when all weights·c ≥ 0): O(n³), for n up to a few thousand.
pub fn gram_spectrum(
    gram: &DMatrix<f64>,
    c: &[f64],
    weights: &[f64],
    p: usize,
) -> Result<GramSpectrum> {
    let n = c.len();
    check_len("Gram matrix: number of rows", n, gram.nrows())?;
    check_len("Gram matrix: number of columns", n, gram.ncols())?;
    check_len("gram spectrum: length of weights", n, weights.len())?;
    check_finite("Gram matrix", gram.iter())?;
    check_finite("curvature factors c", c)?;
    check_finite("weights", weights)?;
    let d: Vec<f64> = c.iter().zip(weights).map(|(c, w)| c * w).collect();
    let e: Vec<f64> = d.iter().map(|x| x.abs().sqrt()).collect();
    let m = DMatrix::from_fn(n, n, |i, j| {
        e[i] * 0.5 * (gram[(i, j)] + gram[(j, i)]) * e[j]
    });
    let mut eigenvalues: Vec<f64> = if d.iter().all(|&x| x >= 0.0) {
        symmetric_eigenvalues(m)
    } else {
        let eig = SymmetricEigen::new(m);
        // B = Λ^{1/2} Vᵀ; C = B diag(s) Bᵀ.
        let b = DMatrix::from_fn(n, n, |k, i| {
            eig.eigenvalues[k].max(0.0).sqrt() * eig.eigenvectors[(i, k)]
        });
        let mut bs = b.clone();
        for (i, mut col) in bs.column_iter_mut().enumerate() {
            if d[i] < 0.0 {
                col.neg_mut();
            }
        }
        let cm = &bs * b.transpose();
        symmetric_eigenvalues((&cm + cm.transpose()) * 0.5)
    };
    if p < n {
        // Drop the n − p eigenvalues of smallest modulus (zeros in exact arithmetic).
        let mut by_modulus: Vec<usize> = (0..n).collect();
        by_modulus.sort_by(|&i, &j| eigenvalues[i].abs().total_cmp(&eigenvalues[j].abs()));
        let mut keep = vec![true; n];
        by_modulus[..n - p].iter().for_each(|&i| keep[i] = false);
        eigenvalues = eigenvalues
            .iter()
            .zip(&keep)
            .filter_map(|(x, k)| k.then_some(*x))
            .collect();
    }
    Ok(GramSpectrum {
        eigenvalues,
        implicit_zeros: p.saturating_sub(n),
    })
}

/// The spectrum of H = (1/n) Σ_i c_i g_i g_iᵀ over all n samples.
pub fn h_spectrum(gram: &DMatrix<f64>, c: &[f64], p: usize) -> Result<GramSpectrum> {
    gram_spectrum(gram, c, &full_weights(c.len()), p)
}

/// The spectrum of H_α = (1−α)H_R − αH_F (samples ordered retain first; indefinite).
pub fn h_alpha_spectrum(
    gram: &DMatrix<f64>,
    c: &[f64],
    n_retain: usize,
    alpha: f64,
    p: usize,
) -> Result<GramSpectrum> {
    gram_spectrum(gram, c, &mixed_weights(c.len(), n_retain, alpha)?, p)
}

/// All eigenvalues of a symmetric matrix, ascending (empty for 0×0).
fn symmetric_eigenvalues(m: DMatrix<f64>) -> Vec<f64> {
    if m.is_empty() {
        return vec![];
    }
    let mut e: Vec<f64> = m.symmetric_eigenvalues().iter().copied().collect();
    e.sort_by(f64::total_cmp);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::test_util::random_matrix;
    use crate::operator::{LinearOperator, RankOneOperator};
    use crate::solvers::reference::sorted_eigenvalues;

    #[test]
    fn gram_route_equals_dense_p_by_p_spectrum() {
        // p > n (rank deficient: zeros count) and p < n (the n×n route has extra zeros).
        for (n, p, n_r, seed) in [(10, 25, 7, 1), (30, 12, 24, 2), (12, 12, 6, 3)] {
            let g = random_matrix(n, p, seed);
            let c: Vec<f64> = (0..n).map(|i| 0.1 + 0.3 * ((i * 7) % 5) as f64).collect();
            let gram = &g * g.transpose();
            for alpha in [None, Some(0.0), Some(0.35), Some(1.0)] {
                let (dense, route) = match alpha {
                    None => (
                        RankOneOperator::full(&g, &c).unwrap().to_dense(),
                        h_spectrum(&gram, &c, p).unwrap(),
                    ),
                    Some(a) => (
                        RankOneOperator::mixed(&g, &c, n_r, a).unwrap().to_dense(),
                        h_alpha_spectrum(&gram, &c, n_r, a, p).unwrap(),
                    ),
                };
                let reference = sorted_eigenvalues(&dense);
                let scale = reference[0].abs().max(reference[p - 1].abs());
                let label = format!("n={n}, p={p}, alpha={alpha:?}");
                let checks = [
                    ("lambda_min", route.lambda_min(), reference[0]),
                    ("lambda_max", route.lambda_max(), reference[p - 1]),
                    ("trace", route.trace(), dense.trace()),
                ];
                for (name, rust, want) in checks {
                    assert!(
                        (rust - want).abs() <= 1e-10 * scale,
                        "{label} {name}: rust={rust}, reference={want}"
                    );
                }
                // The full spectrum: listed eigenvalues plus implicit zeros.
                let mut all = route.eigenvalues.clone();
                all.extend(std::iter::repeat_n(0.0, route.implicit_zeros));
                all.sort_by(f64::total_cmp);
                assert_eq!(all.len(), p, "{label}");
                for (rust, want) in all.iter().zip(&reference) {
                    assert!(
                        (rust - want).abs() <= 1e-10 * scale,
                        "{label}: rust={rust}, reference={want}"
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        let gram = DMatrix::identity(3, 3);
        assert!(h_spectrum(&gram, &[1.0, 1.0], 5).is_err());
        assert!(h_alpha_spectrum(&gram, &[1.0; 3], 1, 2.0, 5).is_err());
    }
}
