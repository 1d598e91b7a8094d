//! Retain and forget families projected onto the span of their curvature.
//!
//! Every analysis in this crate works in an orthonormal basis of
//! span ∪_i range(H_i) (dimension r ≤ p): outside it the linearised dynamics is
//! the identity, so the cost is set by the number of samples and the rank, not
//! by the parameter count p.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::error::{Error, Result};
use crate::family::{Family, FamilyKind, SparseRows};

/// Eigenvalues of the Gram (or summed-Hessian) matrix below this fraction of
/// the largest one are treated as zero when the span basis is chosen.
pub const RANK_TOLERANCE: f64 = 1e-12;

/// Retain (and optional forget) curvature in span coordinates; built once and
/// shared by every analysis and every (η, α, B) setting.
#[derive(Debug, Clone)]
pub struct Curvature {
    p: usize,
    basis: Basis,
    pub(crate) retain: Reduced,
    pub(crate) forget: Option<Reduced>,
}

/// The span basis U (p×r, orthonormal columns).
#[derive(Debug, Clone)]
enum Basis {
    /// U = columns of the identity at these coordinates (every g_i has a single
    /// non-zero coordinate, as in the synthetic families).
    Coordinates(Vec<usize>),
    /// U given explicitly.
    Orthonormal(DMatrix<f64>),
}

/// One family in span coordinates (dimension r).
#[derive(Debug, Clone)]
pub(crate) struct Reduced {
    pub samples: Samples,
    /// Mean Hessian (1/n)Σ_i Ĥ_i, r×r.
    pub mean: DMatrix<f64>,
    /// Diagonal structure only: Ĥ_i = s_i e_k e_kᵀ as (k, s_i) per sample
    /// ((0, 0) for a zero Hessian).
    pub axes: Option<Vec<(u32, f64)>>,
}

/// Per-sample Hessians Ĥ_i = Uᵀ H_i U.
#[derive(Debug, Clone)]
pub(crate) enum Samples {
    /// Ĥ_i = c_i ĝ_i ĝ_iᵀ with ĝ_i = Uᵀ g_i (row i; empty when c_i = 0).
    RankOne { g: SparseRows, c: Vec<f64> },
    /// Ĥ_i as dense r×r matrices.
    Dense { h: Vec<DMatrix<f64>> },
}

impl Reduced {
    pub(crate) fn len(&self) -> usize {
        match &self.samples {
            Samples::RankOne { c, .. } => c.len(),
            Samples::Dense { h } => h.len(),
        }
    }

    /// Ĥ_i as a dense r×r matrix.
    pub(crate) fn hessian(&self, i: usize) -> DMatrix<f64> {
        match &self.samples {
            Samples::RankOne { g, c } => {
                let r = self.mean.nrows();
                let mut h = DMatrix::zeros(r, r);
                let (idx, val) = g.row(i);
                for (&a, &va) in idx.iter().zip(val) {
                    for (&b, &vb) in idx.iter().zip(val) {
                        h[(a as usize, b as usize)] += c[i] * va * vb;
                    }
                }
                h
            }
            Samples::Dense { h } => h[i].clone(),
        }
    }

    /// For the diagonal structure (each Ĥ_i = s_i e_k e_kᵀ): per coordinate
    /// h_k = (1/n)Σ_{i→k} s_i and q_k = (1/n)Σ_{i→k} s_i² (zeros otherwise).
    pub(crate) fn diagonal_moments(&self) -> (Vec<f64>, Vec<f64>) {
        let r = self.mean.nrows();
        let (mut h, mut q) = (vec![0.0; r], vec![0.0; r]);
        let inv_n = 1.0 / self.len() as f64;
        for &(k, s) in self.axes.iter().flatten() {
            h[k as usize] += inv_n * s;
            q[k as usize] += inv_n * s * s;
        }
        (h, q)
    }

    fn from_family(family: &Family, basis: &Basis, p: usize) -> Reduced {
        let r = basis.rank();
        let samples = match (family.kind(), basis) {
            (FamilyKind::RankOne { g, c }, Basis::Coordinates(coords)) => {
                let mut pos = vec![u32::MAX; p];
                for (j, &k) in coords.iter().enumerate() {
                    pos[k] = j as u32;
                }
                let mut out = SparseRows::new();
                for (i, &ci) in c.iter().enumerate() {
                    let (idx, val) = g.row(i);
                    let keep = ci > 0.0;
                    out.push_row(
                        idx.iter()
                            .zip(val)
                            .filter(|_| keep)
                            .map(|(&k, &v)| (pos[k as usize] as usize, v)),
                    );
                }
                Samples::RankOne {
                    g: out,
                    c: c.clone(),
                }
            }
            (FamilyKind::RankOne { g, c }, Basis::Orthonormal(u)) => {
                let mut out = SparseRows::new();
                for (i, &ci) in c.iter().enumerate() {
                    let mut proj = vec![0.0; r];
                    if ci > 0.0 {
                        let (idx, val) = g.row(i);
                        for (&k, &v) in idx.iter().zip(val) {
                            for (pj, uj) in proj.iter_mut().zip(u.row(k as usize).iter()) {
                                *pj += v * uj;
                            }
                        }
                    }
                    out.push_row(proj.into_iter().enumerate().filter(|_| ci > 0.0));
                }
                Samples::RankOne {
                    g: out,
                    c: c.clone(),
                }
            }
            (FamilyKind::Dense { h }, Basis::Orthonormal(u)) => Samples::Dense {
                h: h.iter().map(|m| u.transpose() * m * u).collect(),
            },
            (FamilyKind::Dense { .. }, Basis::Coordinates(_)) => {
                unreachable!("a coordinate basis is only chosen for rank-one families")
            }
        };
        let axes = match (&samples, basis) {
            (Samples::RankOne { g, c }, Basis::Coordinates(_)) => Some(
                (0..g.rows())
                    .map(|i| match g.row(i) {
                        (&[k], &[v]) => (k, c[i] * v * v),
                        _ => (0, 0.0),
                    })
                    .collect(),
            ),
            _ => None,
        };
        let mut reduced = Reduced {
            samples,
            mean: DMatrix::zeros(r, r),
            axes,
        };
        let n = reduced.len();
        let mut mean = DMatrix::zeros(r, r);
        for i in 0..n {
            mean += reduced.hessian(i);
        }
        reduced.mean = mean / n as f64;
        reduced
    }
}

impl Basis {
    fn rank(&self) -> usize {
        match self {
            Basis::Coordinates(c) => c.len(),
            Basis::Orthonormal(u) => u.ncols(),
        }
    }

    /// Chooses the basis of span ∪ range(H_i) over all samples of all families.
    fn of(families: &[&Family], p: usize) -> Basis {
        let rank_one: Vec<(&SparseRows, &Vec<f64>)> = families
            .iter()
            .filter_map(|f| match f.kind() {
                FamilyKind::RankOne { g, c } => Some((g, c)),
                FamilyKind::Dense { .. } => None,
            })
            .collect();
        let active_rows = || {
            rank_one.iter().flat_map(|(g, c)| {
                (0..g.rows())
                    .filter(|&i| c[i] > 0.0)
                    .map(|i| g.row(i))
                    .filter(|(idx, _)| !idx.is_empty())
            })
        };
        if rank_one.len() == families.len() {
            if active_rows().all(|(idx, _)| idx.len() == 1) {
                let mut coords: Vec<usize> =
                    active_rows().map(|(idx, _)| idx[0] as usize).collect();
                coords.sort_unstable();
                coords.dedup();
                return Basis::Coordinates(coords);
            }
            // Gram route: G₊ (m×p, active rows), G₊G₊ᵀ = VΛVᵀ, U = G₊ᵀVΛ^{-1/2}.
            let rows: Vec<_> = active_rows().collect();
            let mut g = DMatrix::zeros(rows.len(), p);
            for (i, (idx, val)) in rows.iter().enumerate() {
                for (&k, &v) in idx.iter().zip(val.iter()) {
                    g[(i, k as usize)] = v;
                }
            }
            let eig = SymmetricEigen::new(&g * g.transpose());
            let keep = kept(&eig.eigenvalues);
            let mut u = DMatrix::zeros(p, keep.len());
            for (j, &e) in keep.iter().enumerate() {
                let col = g.transpose() * eig.eigenvectors.column(e) / eig.eigenvalues[e].sqrt();
                u.set_column(j, &col);
            }
            return Basis::Orthonormal(u);
        }
        // Generic route: range(Σ H_i) = Σ range(H_i) for PSD H_i.
        let mut s = DMatrix::zeros(p, p);
        for f in families {
            match f.kind() {
                FamilyKind::RankOne { g, c } => {
                    for (i, &ci) in c.iter().enumerate() {
                        let (idx, val) = g.row(i);
                        for (&a, &va) in idx.iter().zip(val) {
                            for (&b, &vb) in idx.iter().zip(val) {
                                s[(a as usize, b as usize)] += ci * va * vb;
                            }
                        }
                    }
                }
                FamilyKind::Dense { h } => h.iter().for_each(|m| s += m),
            }
        }
        let eig = SymmetricEigen::new(s);
        let keep = kept(&eig.eigenvalues);
        let mut u = DMatrix::zeros(p, keep.len());
        for (j, &e) in keep.iter().enumerate() {
            u.set_column(j, &eig.eigenvectors.column(e));
        }
        Basis::Orthonormal(u)
    }
}

/// Indices of eigenvalues above [`RANK_TOLERANCE`] times the largest.
fn kept(eigenvalues: &DVector<f64>) -> Vec<usize> {
    let top = eigenvalues.max();
    (0..eigenvalues.len())
        .filter(|&e| top > 0.0 && eigenvalues[e] > RANK_TOLERANCE * top)
        .collect()
}

impl Curvature {
    /// Projects the retain family and the optional forget family (absent for
    /// plain SGD) onto the span of their curvature.
    ///
    /// Errors: the two families have different p; every Hessian is zero.
    pub fn new(retain: &Family, forget: Option<&Family>) -> Result<Curvature> {
        let p = retain.dim();
        if let Some(f) = forget
            && f.dim() != p
        {
            return Err(Error::Shape {
                what: "forget family parameter dimension".into(),
                expected: format!("p = {p} (as the retain family)"),
                got: format!("p = {}", f.dim()),
            });
        }
        let families: Vec<&Family> = std::iter::once(retain).chain(forget).collect();
        let basis = Basis::of(&families, p);
        if basis.rank() == 0 {
            return Err(Error::NoCurvature);
        }
        Ok(Curvature {
            p,
            retain: Reduced::from_family(retain, &basis, p),
            forget: forget.map(|f| Reduced::from_family(f, &basis, p)),
            basis,
        })
    }

    /// Parameter dimension p.
    pub fn dim(&self) -> usize {
        self.p
    }

    /// Dimension r of the curvature span.
    pub fn rank(&self) -> usize {
        self.basis.rank()
    }

    /// Number of retain samples n_r.
    pub fn n_retain(&self) -> usize {
        self.retain.len()
    }

    /// Number of forget samples n_f (0 when there is no forget family).
    pub fn n_forget(&self) -> usize {
        self.forget.as_ref().map_or(0, Reduced::len)
    }

    /// True when every g_i has a single non-zero coordinate: then diagonal
    /// matrices are invariant under the mean-square operator and every
    /// analysis runs in O(n + r).
    pub fn is_diagonal(&self) -> bool {
        matches!(self.basis, Basis::Coordinates(_))
    }

    /// Writes Uᵀu (length r) into `out` and returns ‖u − UUᵀu‖², the squared
    /// norm of the flat (curvature-free) part of `u` (length p).
    pub(crate) fn project(&self, u: &[f64], out: &mut [f64]) -> f64 {
        let total: f64 = u.iter().map(|x| x * x).sum();
        match &self.basis {
            Basis::Coordinates(coords) => {
                for (o, &k) in out.iter_mut().zip(coords) {
                    *o = u[k];
                }
            }
            Basis::Orthonormal(b) => {
                let proj = b.tr_mul(&DVector::from_column_slice(u));
                out.copy_from_slice(proj.as_slice());
            }
        }
        let inside: f64 = out.iter().map(|x| x * x).sum();
        (total - inside).max(0.0)
    }

    /// The reduced families in order (retain, then forget if any).
    pub(crate) fn families(&self) -> impl Iterator<Item = &Reduced> {
        std::iter::once(&self.retain).chain(self.forget.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The projected Hessians reproduce the originals: U Ĥ_i Uᵀ = H_i.
    #[test]
    fn projection_preserves_hessians() {
        let g = DMatrix::from_row_slice(
            3,
            4,
            &[1.0, 2.0, 0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 1.0, 3.0, -1.0, 0.0],
        );
        let c = [0.5, 2.0, 1.0];
        let fam = Family::rank_one(&g, &c).unwrap();
        let curv = Curvature::new(&fam, None).unwrap();
        assert_eq!(curv.rank(), 2, "rows 0, 1 span row 2");
        let Basis::Orthonormal(u) = &curv.basis else {
            panic!("expected an explicit basis")
        };
        for (i, &ci) in c.iter().enumerate() {
            let gi = g.row(i).transpose();
            let reference = &gi * gi.transpose() * ci;
            let rust = u * curv.retain.hessian(i) * u.transpose();
            let err = (&rust - &reference).amax();
            assert!(
                err < 1e-12,
                "sample {i}: rust={rust}, reference={reference}"
            );
        }
    }

    #[test]
    fn one_nonzero_rows_use_coordinates() {
        let rows = vec![
            vec![(4, 2.0)],
            vec![(1, 1.0)],
            vec![(4, -1.0)],
            vec![(2, 5.0)],
        ];
        let fam = Family::rank_one_sparse(6, &rows, &[1.0, 1.0, 1.0, 0.0]).unwrap();
        let curv = Curvature::new(&fam, None).unwrap();
        assert!(curv.is_diagonal());
        assert_eq!(curv.rank(), 2, "coordinate 2 carries c = 0");
        let mut out = vec![0.0; 2];
        let flat = curv.project(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &mut out);
        assert_eq!(out, vec![2.0, 5.0]);
        assert!(
            (flat - (1.0 + 9.0 + 16.0 + 36.0)).abs() < 1e-12,
            "rust={flat}, reference=62"
        );
    }

    #[test]
    fn rejects_mismatched_dimensions_and_zero_curvature() {
        let a = Family::rank_one_sparse(3, &[vec![(0, 1.0)]], &[1.0]).unwrap();
        let b = Family::rank_one_sparse(4, &[vec![(0, 1.0)]], &[1.0]).unwrap();
        assert!(matches!(
            Curvature::new(&a, Some(&b)),
            Err(Error::Shape { .. })
        ));
        let z = Family::rank_one_sparse(3, &[vec![(0, 1.0)]], &[0.0]).unwrap();
        assert_eq!(Curvature::new(&z, None).unwrap_err(), Error::NoCurvature);
    }
}
