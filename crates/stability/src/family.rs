//! Input families of per-sample Hessians, validated.

use nalgebra::DMatrix;

use crate::error::{Error, Result};
use frontier_common::{Progress, Silent};

/// Relative tolerance (with respect to the largest absolute entry) for the
/// symmetry check of dense Hessians; accepted matrices are symmetrised.
pub const SYMMETRY_TOLERANCE: f64 = 1e-8;
/// Relative tolerance (with respect to the largest absolute eigenvalue) below
/// zero that a dense Hessian's eigenvalues may reach and still count as PSD.
pub const PSD_TOLERANCE: f64 = 1e-8;

/// Rows of a sparse n×p matrix in compressed-row form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SparseRows {
    /// Row i occupies `ptr[i]..ptr[i + 1]` of `idx` and `val`; length n + 1.
    pub ptr: Vec<usize>,
    /// Column indices, strictly increasing within a row.
    pub idx: Vec<u32>,
    /// Values.
    pub val: Vec<f64>,
}

impl SparseRows {
    pub(crate) fn new() -> Self {
        SparseRows {
            ptr: vec![0],
            idx: Vec::new(),
            val: Vec::new(),
        }
    }

    /// Appends a row given as (column, value) pairs with increasing columns.
    pub(crate) fn push_row(&mut self, entries: impl IntoIterator<Item = (usize, f64)>) {
        for (k, v) in entries {
            self.idx.push(k as u32);
            self.val.push(v);
        }
        self.ptr.push(self.idx.len());
    }

    pub(crate) fn rows(&self) -> usize {
        self.ptr.len() - 1
    }

    /// (columns, values) of row `i`.
    #[inline]
    pub(crate) fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let (a, b) = (self.ptr[i], self.ptr[i + 1]);
        (&self.idx[a..b], &self.val[a..b])
    }
}

/// The per-sample Hessians of one data set (retain or forget), all p×p.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    p: usize,
    kind: FamilyKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FamilyKind {
    /// H_i = c_i g_i g_iᵀ with g_i row i (stored sparse, zeros dropped).
    RankOne { g: SparseRows, c: Vec<f64> },
    /// H_i given as symmetric PSD p×p matrices.
    Dense { h: Vec<DMatrix<f64>> },
}

impl Family {
    /// Rank-one family H_i = c_i g_i g_iᵀ from a dense n×p matrix `g` (row i =
    /// g_i, parameter units) and n weights `c` (c_i = ℓ''_i ≥ 0).
    pub fn rank_one(g: &DMatrix<f64>, c: &[f64]) -> Result<Family> {
        check_rows(g.nrows(), c)?;
        Family::rank_one_row_major(g.ncols(), g.transpose().as_slice(), c)
    }

    /// Rank-one family from g [n, p] in row-major order (`g.len()` = n·p,
    /// n = `c.len()`), as a tensor file stores it.
    pub fn rank_one_row_major(p: usize, g: &[f64], c: &[f64]) -> Result<Family> {
        check_dim(p)?;
        check_rows(g.len() / p, c)?;
        if g.len() != c.len() * p {
            return Err(Error::Shape {
                what: "rank-one gradients g".into(),
                expected: format!("{} values (n = {} rows of p = {p})", c.len() * p, c.len()),
                got: format!("{} values", g.len()),
            });
        }
        check_weights(c)?;
        let mut rows = SparseRows::new();
        for (i, row) in g.chunks_exact(p).enumerate() {
            if let Some((k, &v)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::NonFinite {
                    what: format!("g[{i}][{k}]"),
                    value: v,
                });
            }
            rows.push_row(row.iter().copied().enumerate().filter(|&(_, v)| v != 0.0));
        }
        Ok(Family {
            p,
            kind: FamilyKind::RankOne {
                g: rows,
                c: c.to_vec(),
            },
        })
    }

    /// Rank-one family from sparse rows: `rows[i]` lists the non-zero
    /// (coordinate, value) pairs of g_i ∈ R^p, coordinates distinct and < p.
    pub fn rank_one_sparse(p: usize, rows: &[Vec<(usize, f64)>], c: &[f64]) -> Result<Family> {
        check_dim(p)?;
        check_rows(rows.len(), c)?;
        check_weights(c)?;
        let mut g = SparseRows::new();
        for (i, row) in rows.iter().enumerate() {
            let mut sorted = row.clone();
            sorted.sort_by_key(|&(k, _)| k);
            for (j, &(k, v)) in sorted.iter().enumerate() {
                if k >= p {
                    return Err(Error::Shape {
                        what: format!("g[{i}]"),
                        expected: format!("coordinates < p = {p}"),
                        got: format!("coordinate {k}"),
                    });
                }
                if j > 0 && sorted[j - 1].0 == k {
                    return Err(Error::Shape {
                        what: format!("g[{i}]"),
                        expected: "distinct coordinates".into(),
                        got: format!("coordinate {k} twice"),
                    });
                }
                check_finite(|| format!("g[{i}][{k}]"), v)?;
            }
            g.push_row(sorted.into_iter().filter(|&(_, v)| v != 0.0));
        }
        Ok(Family {
            p,
            kind: FamilyKind::RankOne { g, c: c.to_vec() },
        })
    }

    /// Dense family from n symmetric PSD p×p matrices (same units as the loss
    /// curvature). Matrices within [`SYMMETRY_TOLERANCE`] of symmetric are
    /// symmetrised; eigenvalues down to −[`PSD_TOLERANCE`]·max|λ| are accepted.
    pub fn dense(h: Vec<DMatrix<f64>>) -> Result<Family> {
        Family::dense_with_progress(h, &Silent)
    }

    /// As [`Family::dense`], reporting each checked matrix to `on` (the PSD
    /// check is an eigen-solve, O(p³) per matrix).
    pub fn dense_with_progress(h: Vec<DMatrix<f64>>, on: &dyn Progress) -> Result<Family> {
        check_nonempty(h.len())?;
        let p = h[0].nrows();
        check_dim(p)?;
        on.stage("checking the dense Hessians (symmetric, PSD)");
        on.start(h.len());
        let mut out = Vec::with_capacity(h.len());
        for (index, m) in h.into_iter().enumerate() {
            if m.shape() != (p, p) {
                return Err(Error::Shape {
                    what: format!("dense Hessian {index}"),
                    expected: format!("{p}×{p}"),
                    got: format!("{}×{}", m.nrows(), m.ncols()),
                });
            }
            if let Some((k, &v)) = m.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::NonFinite {
                    what: format!("dense Hessian {index} entry ({}, {})", k % p, k / p),
                    value: v,
                });
            }
            let scale = m.amax();
            let asymmetry = (&m - m.transpose()).amax();
            let tolerance = SYMMETRY_TOLERANCE * scale;
            if asymmetry > tolerance {
                return Err(Error::NotSymmetric {
                    index,
                    asymmetry,
                    tolerance,
                });
            }
            let sym = (&m + m.transpose()) * 0.5;
            let eig = sym.symmetric_eigenvalues();
            let tolerance = PSD_TOLERANCE * eig.amax();
            let eigenvalue = eig.min();
            if eigenvalue < -tolerance {
                return Err(Error::NotPsd {
                    index,
                    eigenvalue,
                    tolerance,
                });
            }
            out.push(sym);
            on.advance(1);
        }
        Ok(Family {
            p,
            kind: FamilyKind::Dense { h: out },
        })
    }

    /// Number of samples n.
    pub fn len(&self) -> usize {
        match &self.kind {
            FamilyKind::RankOne { c, .. } => c.len(),
            FamilyKind::Dense { h } => h.len(),
        }
    }

    /// Always false: a family has at least one sample (absence is `None`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parameter dimension p.
    pub fn dim(&self) -> usize {
        self.p
    }

    /// Whether the family is rank-one (H_i = c_i g_i g_iᵀ).
    pub fn is_rank_one(&self) -> bool {
        matches!(self.kind, FamilyKind::RankOne { .. })
    }

    pub(crate) fn kind(&self) -> &FamilyKind {
        &self.kind
    }
}

/// n ≥ 1 rows and one weight per row.
fn check_rows(n: usize, c: &[f64]) -> Result<()> {
    check_nonempty(n)?;
    if c.len() != n {
        return Err(Error::Shape {
            what: "rank-one weights c".into(),
            expected: format!("[{n}] (one per row of g)"),
            got: format!("[{}]", c.len()),
        });
    }
    Ok(())
}

/// Rank-one weights c_i: finite and ≥ 0 (H_i = c_i g_i g_iᵀ must be PSD).
pub(crate) fn check_weights(c: &[f64]) -> Result<()> {
    for (i, &ci) in c.iter().enumerate() {
        check_finite(|| format!("c[{i}]"), ci)?;
        if ci < 0.0 {
            return Err(Error::NegativeWeight {
                index: i,
                value: ci,
            });
        }
    }
    Ok(())
}

/// The parameter dimension p ≥ 1.
fn check_dim(p: usize) -> Result<()> {
    if p == 0 {
        return Err(Error::Shape {
            what: "parameter dimension".into(),
            expected: "p ≥ 1".into(),
            got: "p = 0".into(),
        });
    }
    Ok(())
}

fn check_nonempty(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::Shape {
            what: "family".into(),
            expected: "at least one sample".into(),
            got: "0 samples".into(),
        });
    }
    Ok(())
}

fn check_finite(what: impl FnOnce() -> String, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite {
            what: what(),
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_psd_with_most_negative_eigenvalue() {
        let h = DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 0.0, -0.5]);
        let err = Family::dense(vec![DMatrix::identity(2, 2), h]).unwrap_err();
        match &err {
            Error::NotPsd {
                index, eigenvalue, ..
            } => {
                assert_eq!(*index, 1);
                assert!(
                    (eigenvalue + 0.5).abs() < 1e-12,
                    "rust={eigenvalue}, reference=-0.5"
                );
            }
            other => panic!("expected NotPsd, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("-5e-1"),
            "message should carry the eigenvalue: {msg}"
        );
    }

    #[test]
    fn rejects_asymmetric_and_misshaped_dense() {
        let h = DMatrix::from_row_slice(2, 2, &[1.0, 0.5, 0.0, 1.0]);
        assert!(matches!(
            Family::dense(vec![h]),
            Err(Error::NotSymmetric { index: 0, .. })
        ));
        let err = Family::dense(vec![DMatrix::identity(2, 2), DMatrix::identity(3, 3)]);
        assert!(matches!(err, Err(Error::Shape { .. })), "{err:?}");
    }

    #[test]
    fn rejects_bad_rank_one_inputs() {
        let g = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 1.0]);
        assert!(matches!(
            Family::rank_one(&g, &[1.0]),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            Family::rank_one(&g, &[1.0, -0.5]),
            Err(Error::NegativeWeight { index: 1, .. })
        ));
        assert!(matches!(
            Family::rank_one(&g, &[1.0, f64::NAN]),
            Err(Error::NonFinite { .. })
        ));
        let rows = vec![vec![(3, 1.0)]];
        assert!(matches!(
            Family::rank_one_sparse(3, &rows, &[1.0]),
            Err(Error::Shape { .. })
        ));
        let rows = vec![vec![(1, 1.0), (1, 2.0)]];
        assert!(matches!(
            Family::rank_one_sparse(3, &rows, &[1.0]),
            Err(Error::Shape { .. })
        ));
        let empty = DMatrix::<f64>::zeros(0, 3);
        assert!(matches!(
            Family::rank_one(&empty, &[]),
            Err(Error::Shape { .. })
        ));
    }
}
