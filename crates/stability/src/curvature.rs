//! Retain and forget families projected onto the span of their curvature.
//!
//! Every analysis in this crate works in an orthonormal basis U (p×r) of
//! span ∪_i range(H_i) (dimension r ≤ p): outside it the linearised dynamics is
//! the identity, so the cost is set by the number of samples and the rank, not
//! by the parameter count p.
//!
//! How the basis is found (see `docs/science.md`, "The curvature span"):
//!
//! - every rank-one row has a single non-zero coordinate (the synthetic
//!   families): U is a set of coordinate axes;
//! - rank-one families, m active rows g_a (c_a > 0, g_a ≠ 0) with m ≤ p: the
//!   Gram matrix K = G Gᵀ (m×m, one blocked GEMM on all cores) has
//!   K = VΛVᵀ; with the eigenpairs above [`RANK_TOLERANCE`], U = GᵀVΛ^{-1/2}
//!   and the reduced rows are ĝ_a = Uᵀg_a = (VΛ^{1/2})_a: nothing of size p
//!   is formed beyond G itself, and the cost is m²p + O(m³);
//! - rank-one families with m > p: S = GᵀG (p×p) = U Λ Uᵀ, ĝ = Uᵀg;
//! - dense families: S = Σ_i H_i (p×p), whose range is the union of the
//!   ranges for PSD H_i, and Ĥ_i = UᵀH_iU;
//! - a precomputed Gram ([`Curvature::from_gram`]): as the second case, with
//!   U known only up to a rotation.

use nalgebra::{DMatrix, DMatrixView, DVector, Dyn, SymmetricEigen};

use crate::error::{Error, Result};
use crate::family::{Family, FamilyKind, PSD_TOLERANCE, SYMMETRY_TOLERANCE, SparseRows};
use frontier_common::{Progress, Silent, par_map};

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
    /// U = A·W, kept factored: A (p×m) holds the active gradient rows as
    /// columns, W = VΛ^{-1/2} (m×r).
    Gram { a: DMatrix<f64>, w: DMatrix<f64> },
    /// Known only up to a rotation (from a precomputed Gram matrix, without
    /// the gradients): a vector's span part is represented by its first r
    /// coordinates and the rest is flat, which is exact in distribution for a
    /// rotation-invariant u (u ~ N(0, I_p)) and for nothing else.
    Rotated(usize),
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

    /// A rank-one family on a coordinate basis: row i keeps its single
    /// coordinate, renumbered to its position among `coords`.
    fn on_coordinates(g: &SparseRows, c: &[f64], coords: &[usize], p: usize) -> Reduced {
        let mut pos = vec![u32::MAX; p];
        for (j, &k) in coords.iter().enumerate() {
            pos[k] = j as u32;
        }
        let mut rows = SparseRows::new();
        for (i, &ci) in c.iter().enumerate() {
            let (idx, val) = g.row(i);
            let keep = ci > 0.0;
            rows.push_row(
                idx.iter()
                    .zip(val)
                    .filter(|_| keep)
                    .map(|(&k, &v)| (pos[k as usize] as usize, v)),
            );
        }
        let axes = (0..rows.rows())
            .map(|i| match rows.row(i) {
                (&[k], &[v]) => (k, c[i] * v * v),
                _ => (0, 0.0),
            })
            .collect();
        let mut mean = DMatrix::zeros(coords.len(), coords.len());
        for (i, &ci) in c.iter().enumerate() {
            if let (&[k], &[v]) = rows.row(i) {
                mean[(k as usize, k as usize)] += ci * v * v;
            }
        }
        Reduced {
            samples: Samples::RankOne {
                g: rows,
                c: c.to_vec(),
            },
            mean: mean / c.len() as f64,
            axes: Some(axes),
        }
    }

    /// A rank-one family whose rows ĝ_i are the rows of `rows` (n×r); rows
    /// with c_i = 0 are dropped. The mean is (1/n)·ĜᵀCĜ, one GEMM.
    fn from_rows(rows: &DMatrix<f64>, c: &[f64]) -> Reduced {
        let mut g = SparseRows::new();
        let mut weighted = rows.clone();
        for (i, &ci) in c.iter().enumerate() {
            g.push_row(rows.row(i).iter().copied().enumerate().filter(|_| ci > 0.0));
            weighted.row_mut(i).scale_mut(ci);
        }
        let mean = rows.transpose() * weighted / c.len() as f64;
        Reduced {
            samples: Samples::RankOne { g, c: c.to_vec() },
            mean: symmetrised(mean),
            axes: None,
        }
    }

    /// A dense family from its reduced Hessians.
    fn from_hessians(h: Vec<DMatrix<f64>>, r: usize) -> Reduced {
        let mean = h.iter().fold(DMatrix::zeros(r, r), |acc, m| acc + m) / h.len() as f64;
        Reduced {
            samples: Samples::Dense { h },
            mean,
            axes: None,
        }
    }
}

/// (M + Mᵀ)/2: removes the rounding asymmetry of a product that is
/// symmetric in exact arithmetic.
fn symmetrised(m: DMatrix<f64>) -> DMatrix<f64> {
    (&m + m.transpose()) * 0.5
}

impl Basis {
    fn rank(&self) -> usize {
        match self {
            Basis::Coordinates(c) => c.len(),
            Basis::Orthonormal(u) => u.ncols(),
            Basis::Gram { w, .. } => w.ncols(),
            Basis::Rotated(r) => *r,
        }
    }
}

/// Indices of eigenvalues above [`RANK_TOLERANCE`] times the largest.
fn kept(eigenvalues: &DVector<f64>) -> Vec<usize> {
    let top = eigenvalues.max();
    (0..eigenvalues.len())
        .filter(|&e| top > 0.0 && eigenvalues[e] > RANK_TOLERANCE * top)
        .collect()
}

/// The span of a Gram matrix K = G Gᵀ (m×m) of m vectors: with K = VΛVᵀ and
/// the kept eigenpairs, the vectors in span coordinates VΛ^{1/2} (m×r) and
/// W = VΛ^{-1/2} (m×r), so that U = GᵀW.
fn gram_span(k: DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
    let eig = SymmetricEigen::new(k);
    let keep = kept(&eig.eigenvalues);
    let m = eig.eigenvalues.len();
    let (mut rows, mut w) = (DMatrix::zeros(m, keep.len()), DMatrix::zeros(m, keep.len()));
    for (j, &e) in keep.iter().enumerate() {
        let root = eig.eigenvalues[e].sqrt();
        rows.set_column(j, &(eig.eigenvectors.column(e) * root));
        w.set_column(j, &(eig.eigenvectors.column(e) / root));
    }
    (rows, w)
}

/// The kept eigenvectors of a symmetric p×p matrix: an orthonormal basis of
/// its range.
fn range_basis(s: DMatrix<f64>) -> DMatrix<f64> {
    let eig = SymmetricEigen::new(s);
    let keep = kept(&eig.eigenvalues);
    DMatrix::from_fn(eig.eigenvalues.len(), keep.len(), |i, j| {
        eig.eigenvectors[(i, keep[j])]
    })
}

/// Rows of the Gram blocks of [`outer_product`]: fixed, so that the result
/// does not depend on the number of threads.
const BLOCK: usize = 128;

/// X Xᵀ (k×k) for X (k×l) stored in `data` with row stride `rs` and column
/// stride `cs`: the blocks on and above the diagonal, each one GEMM, spread
/// over all cores; `on` hears of every finished block.
fn outer_product(
    data: &[f64],
    (k, l): (usize, usize),
    (rs, cs): (usize, usize),
    on: &dyn Progress,
) -> DMatrix<f64> {
    let view = |start: usize, rows: usize| -> DMatrixView<'_, f64, Dyn, Dyn> {
        DMatrixView::from_slice_with_strides(&data[start * rs..], rows, l, rs, cs)
    };
    let view_t = |start: usize, rows: usize| -> DMatrixView<'_, f64, Dyn, Dyn> {
        DMatrixView::from_slice_with_strides(&data[start * rs..], l, rows, cs, rs)
    };
    let blocks = k.div_ceil(BLOCK);
    let pairs: Vec<(usize, usize)> = (0..blocks)
        .flat_map(|i| (i..blocks).map(move |j| (i, j)))
        .collect();
    let span = |b: usize| (b * BLOCK, BLOCK.min(k - b * BLOCK));
    on.stage("Gram matrix G·Gᵀ");
    on.start(pairs.len());
    let products = par_map(pairs.len(), 0, |t| {
        let ((a, ra), (b, rb)) = (span(pairs[t].0), span(pairs[t].1));
        let mut out = DMatrix::zeros(ra, rb);
        let (x, xt) = (view(a, ra), view_t(b, rb));
        // nalgebra hands strided views to matrixmultiply only when every
        // dimension exceeds 5; its own loop for smaller ones corrupts memory on
        // a row stride ≠ 1 (nalgebra 0.35), so small blocks are copied first.
        if ra.min(rb).min(l) > 5 {
            out.gemm(1.0, &x, &xt, 0.0);
        } else {
            out.gemm(1.0, &x.clone_owned(), &xt.clone_owned(), 0.0);
        }
        on.advance(1);
        out
    });
    let mut full = DMatrix::zeros(k, k);
    for (&(i, j), block) in pairs.iter().zip(products) {
        let ((a, ra), (b, rb)) = (span(i), span(j));
        full.view_mut((a, b), (ra, rb)).copy_from(&block);
        full.view_mut((b, a), (rb, ra))
            .copy_from(&block.transpose());
    }
    full
}

/// The (family, row) positions of the active rank-one rows of all families:
/// c_i > 0 and g_i ≠ 0.
fn active_rows(parts: &[(&SparseRows, &[f64])]) -> Vec<(usize, usize)> {
    parts
        .iter()
        .enumerate()
        .flat_map(|(f, (g, c))| {
            (0..g.rows())
                .filter(move |&i| c[i] > 0.0 && !g.row(i).0.is_empty())
                .map(move |i| (f, i))
        })
        .collect()
}

/// The rows at `active` as the columns of one dense p×m matrix A.
fn columns(parts: &[(&SparseRows, &[f64])], active: &[(usize, usize)], p: usize) -> DMatrix<f64> {
    let mut a = DMatrix::zeros(p, active.len());
    for (col, &(f, i)) in active.iter().enumerate() {
        let (idx, val) = parts[f].0.row(i);
        let mut column = a.column_mut(col);
        for (&k, &v) in idx.iter().zip(val) {
            column[k as usize] = v;
        }
    }
    a
}

/// Splits the m×r span rows of the active samples back into one n_f×r matrix
/// per family (zero rows for the inactive samples).
fn per_family(
    rows: &DMatrix<f64>,
    active: &[(usize, usize)],
    sizes: &[usize],
) -> Vec<DMatrix<f64>> {
    let mut out: Vec<DMatrix<f64>> = sizes
        .iter()
        .map(|&n| DMatrix::zeros(n, rows.ncols()))
        .collect();
    for (a, &(f, i)) in active.iter().enumerate() {
        out[f].set_row(i, &rows.row(a));
    }
    out
}

/// Basis and reduced families when every family is rank-one.
fn rank_one_span(
    parts: &[(&SparseRows, &[f64])],
    p: usize,
    on: &dyn Progress,
) -> (Basis, Vec<Reduced>) {
    let sizes: Vec<usize> = parts.iter().map(|(_, c)| c.len()).collect();
    let active = active_rows(parts);
    let single = active.iter().all(|&(f, i)| parts[f].0.row(i).0.len() == 1);
    if single {
        let mut coords: Vec<usize> = active
            .iter()
            .map(|&(f, i)| parts[f].0.row(i).0[0] as usize)
            .collect();
        coords.sort_unstable();
        coords.dedup();
        let reduced = parts
            .iter()
            .map(|(g, c)| Reduced::on_coordinates(g, c, &coords, p))
            .collect();
        return (Basis::Coordinates(coords), reduced);
    }
    let a = columns(parts, &active, p);
    let m = active.len();
    let (basis, rows) = if m <= p {
        // K = AᵀA: X = Aᵀ (m×p) has row stride p and column stride 1.
        let k = outer_product(a.as_slice(), (m, p), (p, 1), on);
        let (rows, w) = gram_span(k);
        (Basis::Gram { a, w }, rows)
    } else {
        // S = AAᵀ: X = A (p×m) has row stride 1 and column stride p.
        let u = range_basis(outer_product(a.as_slice(), (p, m), (1, p), on));
        let rows = a.transpose() * &u;
        (Basis::Orthonormal(u), rows)
    };
    let reduced = per_family(&rows, &active, &sizes)
        .iter()
        .zip(parts)
        .map(|(rows, (_, c))| Reduced::from_rows(rows, c))
        .collect();
    (basis, reduced)
}

/// Basis and reduced families when some family is dense: the range of
/// S = Σ_i H_i over every sample of every family.
fn general_span(families: &[&Family], p: usize, on: &dyn Progress) -> (Basis, Vec<Reduced>) {
    let mut s = DMatrix::zeros(p, p);
    for f in families {
        match f.kind() {
            FamilyKind::RankOne { g, c } => {
                let part = [(g, c.as_slice())];
                let active = active_rows(&part);
                let a = columns(&part, &active, p);
                let mut weighted = a.clone();
                for (col, &(_, i)) in active.iter().enumerate() {
                    weighted.column_mut(col).scale_mut(c[i]);
                }
                s.gemm(1.0, &a, &weighted.transpose(), 1.0);
            }
            FamilyKind::Dense { h } => h.iter().for_each(|m| s += m),
        }
    }
    on.stage("eigen-decomposition of Σ H_i");
    on.start(1);
    let u = range_basis(symmetrised(s));
    on.advance(1);
    let r = u.ncols();
    on.stage("projecting the Hessians");
    on.start(families.iter().map(|f| f.len()).sum());
    let reduced = families
        .iter()
        .map(|f| match f.kind() {
            FamilyKind::RankOne { g, c } => {
                let part = [(g, c.as_slice())];
                let active = active_rows(&part);
                let rows = columns(&part, &active, p).transpose() * &u;
                let rows = &per_family(&rows, &active, &[c.len()])[0];
                on.advance(c.len());
                Reduced::from_rows(rows, c)
            }
            FamilyKind::Dense { h } => {
                let reduced = h
                    .iter()
                    .map(|m| {
                        on.advance(1);
                        symmetrised(u.tr_mul(m) * &u)
                    })
                    .collect();
                Reduced::from_hessians(reduced, r)
            }
        })
        .collect();
    (Basis::Orthonormal(u), reduced)
}

impl Curvature {
    /// Projects the retain family and the optional forget family (absent for
    /// plain SGD) onto the span of their curvature.
    ///
    /// Errors: the two families have different p; every Hessian is zero.
    pub fn new(retain: &Family, forget: Option<&Family>) -> Result<Curvature> {
        Curvature::with_progress(retain, forget, &Silent)
    }

    /// As [`Curvature::new`], reporting the progress of the long steps (the
    /// Gram product, the eigen-decomposition, the projection of dense
    /// Hessians) to `on`.
    pub fn with_progress(
        retain: &Family,
        forget: Option<&Family>,
        on: &dyn Progress,
    ) -> Result<Curvature> {
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
        let rank_one: Option<Vec<(&SparseRows, &[f64])>> = families
            .iter()
            .map(|f| match f.kind() {
                FamilyKind::RankOne { g, c } => Some((g, c.as_slice())),
                FamilyKind::Dense { .. } => None,
            })
            .collect();
        let (basis, reduced) = match rank_one {
            Some(parts) => rank_one_span(&parts, p, on),
            None => general_span(&families, p, on),
        };
        Curvature::assemble(p, basis, reduced)
    }

    /// The curvature of rank-one families given by their Gram matrix instead
    /// of their gradients: `gram` (n×n, n = n_r + n_f) holds g_i·g_j over the
    /// retain samples first, then the forget samples; `c_retain` (n_r) and
    /// `c_forget` (n_f, absent for plain SGD) are the weights c_i ≥ 0 of
    /// H_i = c_i g_i g_iᵀ; `p` is the parameter count.
    ///
    /// Every criterion is the same as from the gradients, except that the
    /// span is known only up to a rotation: the simulator must draw u₀ from
    /// [`crate::InitialState::Normal`] ([`crate::report::analyze`] checks it).
    ///
    /// Errors: a size mismatch, p = 0, a non-finite, asymmetric or indefinite
    /// Gram, a negative or non-finite weight, rank(Gram) > p, no curvature.
    pub fn from_gram(
        gram: &DMatrix<f64>,
        c_retain: &[f64],
        c_forget: Option<&[f64]>,
        p: usize,
    ) -> Result<Curvature> {
        let sizes: Vec<usize> = std::iter::once(c_retain.len())
            .chain(c_forget.map(<[f64]>::len))
            .collect();
        let n: usize = sizes.iter().sum();
        if sizes.contains(&0) || p == 0 || gram.shape() != (n, n) {
            return Err(Error::Shape {
                what: "Gram matrix".into(),
                expected: format!("[{n}, {n}] (n_r + n_f samples, each ≥ 1) and p ≥ 1"),
                got: format!(
                    "[{}, {}], n_r = {}, n_f = {}, p = {p}",
                    gram.nrows(),
                    gram.ncols(),
                    sizes[0],
                    sizes.get(1).copied().unwrap_or(0)
                ),
            });
        }
        let weights: Vec<f64> = c_retain
            .iter()
            .chain(c_forget.into_iter().flatten())
            .copied()
            .collect();
        crate::family::check_weights(&weights)?;
        if let Some(k) = gram.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: format!("Gram entry ({}, {})", k % n, k / n),
                value: gram[k],
            });
        }
        let asymmetry = (gram - gram.transpose()).amax();
        if asymmetry > SYMMETRY_TOLERANCE * gram.amax() {
            return Err(Error::Gram(format!(
                "not symmetric: max |K - Kᵀ| = {asymmetry:e} exceeds {:e}",
                SYMMETRY_TOLERANCE * gram.amax()
            )));
        }
        let eigenvalues = symmetrised(gram.clone_owned()).symmetric_eigenvalues();
        let (low, scale) = (eigenvalues.min(), eigenvalues.amax());
        if low < -PSD_TOLERANCE * scale {
            return Err(Error::Gram(format!(
                "not positive semi-definite: eigenvalue {low:e} (tolerance {:e})",
                PSD_TOLERANCE * scale
            )));
        }
        let active: Vec<usize> = (0..n)
            .filter(|&i| weights[i] > 0.0 && gram[(i, i)] > 0.0)
            .collect();
        if active.is_empty() {
            return Err(Error::NoCurvature);
        }
        let k = symmetrised(gram.select_rows(&active).select_columns(&active));
        let (rows, _) = gram_span(k);
        if rows.ncols() > p {
            return Err(Error::Gram(format!(
                "its rank {} exceeds the parameter count p = {p}",
                rows.ncols()
            )));
        }
        let family_of = |i: usize| {
            if i < sizes[0] {
                (0, i)
            } else {
                (1, i - sizes[0])
            }
        };
        let positions: Vec<(usize, usize)> = active.iter().map(|&i| family_of(i)).collect();
        let weights_of = [c_retain, c_forget.unwrap_or_default()];
        let reduced = per_family(&rows, &positions, &sizes)
            .iter()
            .zip(weights_of)
            .map(|(rows, c)| Reduced::from_rows(rows, c))
            .collect();
        Curvature::assemble(p, Basis::Rotated(rows.ncols()), reduced)
    }

    fn assemble(p: usize, basis: Basis, reduced: Vec<Reduced>) -> Result<Curvature> {
        if basis.rank() == 0 {
            return Err(Error::NoCurvature);
        }
        let mut reduced = reduced.into_iter();
        Ok(Curvature {
            p,
            retain: reduced.next().expect("the retain family"),
            forget: reduced.next(),
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

    /// True when the span is known only up to a rotation (built by
    /// [`Curvature::from_gram`]): simulations must start from u₀ ~ N(0, I).
    pub fn needs_normal_start(&self) -> bool {
        matches!(self.basis, Basis::Rotated(_))
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
            Basis::Gram { a, w } => {
                let proj = w.tr_mul(&a.tr_mul(&DVector::from_column_slice(u)));
                out.copy_from_slice(proj.as_slice());
            }
            Basis::Rotated(r) => out.copy_from_slice(&u[..*r]),
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
        let Basis::Gram { a, w } = &curv.basis else {
            panic!("expected the Gram route: 3 rows, p = 4")
        };
        let u = &(a * w);
        let orthonormal = (u.transpose() * u - DMatrix::identity(2, 2)).amax();
        assert!(
            orthonormal < 1e-12,
            "UᵀU − I: rust={orthonormal}, reference=0"
        );
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

    /// From the Gram matrix of the rows of `projection_preserves_hessians`, every quantity
    /// that does not depend on the basis (rank, mean Hessian spectrum) equals the one from
    /// the rows; malformed Gram matrices are refused.
    #[test]
    fn a_precomputed_gram_gives_the_same_curvature() {
        let g = DMatrix::from_row_slice(
            3,
            4,
            &[1.0, 2.0, 0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 1.0, 3.0, -1.0, 0.0],
        );
        let c = [0.5, 2.0, 1.0];
        let gram = &g * g.transpose();
        let from_rows = Curvature::new(&Family::rank_one(&g, &c).unwrap(), None).unwrap();
        let from_gram = Curvature::from_gram(&gram, &c, None, 4).unwrap();
        assert_eq!((from_gram.rank(), from_gram.dim()), (2, 4));
        assert!(from_gram.needs_normal_start() && !from_rows.needs_normal_start());
        let spectrum = |curv: &Curvature| {
            let mut e: Vec<f64> = curv
                .retain
                .mean
                .symmetric_eigenvalues()
                .iter()
                .copied()
                .collect();
            e.sort_by(f64::total_cmp);
            e
        };
        let (rust, reference) = (spectrum(&from_gram), spectrum(&from_rows));
        for (a, b) in rust.iter().zip(&reference) {
            assert!(
                (a - b).abs() < 1e-12,
                "rust={rust:?}, reference={reference:?}"
            );
        }
        let refused = |gram: &DMatrix<f64>, p: usize| Curvature::from_gram(gram, &c, None, p);
        assert!(matches!(refused(&gram, 1), Err(Error::Gram(m)) if m.contains("rank 2")));
        let mut asymmetric = gram.clone();
        asymmetric[(0, 1)] += 1.0;
        assert!(matches!(refused(&asymmetric, 4), Err(Error::Gram(m)) if m.contains("symmetric")));
        let indefinite = DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![1.0, -1.0, 1.0]));
        assert!(
            matches!(refused(&indefinite, 4), Err(Error::Gram(m)) if m.contains("semi-definite"))
        );
        assert!(matches!(
            refused(&DMatrix::zeros(3, 3), 4),
            Err(Error::NoCurvature)
        ));
        assert!(matches!(refused(&gram, 0), Err(Error::Shape { .. })));
    }
}
