//! The matrix-free pair-coherence matrix S^U over the n_r·n_f (retain, forget) pairs.

use std::ops::Range;

use nalgebra::DMatrix;

use crate::coherence::CurvatureGram;
use crate::error::{Error, Result, check_alpha};
use crate::operator::LinearOperator;

/// Pair counts N = n_r·n_f below this run the matvec on one thread.
const PARALLEL_MIN_PAIRS: usize = 2048;

/// The N×N pair-coherence matrix S^U (N = n_r·n_f) as a matrix-free operator:
///
/// (S^U)²_{(r,f),(r',f')} = a²K_rr' + a·b·(K_rf' + K_fr') + b²K_ff',  a = 1−α,
///
/// with b = α (magnitude version; every term is ≥ 0) or b = −α (signed version: the right side
/// is tr(A_(r,f) A_(r',f')) for A_(r,f) = (1−α)H_r − αH_f and can be negative; negative values
/// are clamped to 0 before the square root). Entries are formed on the fly from the
/// (n_r+n_f)² matrix K: O(N²) flops and square roots per matvec, O(n²) memory, never N².
/// Rows are split across `std::thread::available_parallelism()` threads when N ≥ 2048.
///
/// Vectors are indexed by pair: the pair (r, f) (r-th retain sample, f-th forget sample)
/// is entry `r·n_f + f`.
#[derive(Debug, Clone)]
pub struct PairOperator {
    n_retain: usize,
    n_forget: usize,
    /// Internally the larger set runs fastest (contiguous inner loop): set X is the outer
    /// set, Y the inner one, pair (x, y) ↔ x·n_y + y.
    retain_outer: bool,
    n_x: usize,
    n_y: usize,
    /// K_XX, K_YY (symmetric, column-major), K_XY (n_x×n_y) and K_YX = K_XYᵀ.
    k_xx: DMatrix<f64>,
    k_yy: DMatrix<f64>,
    k_xy: DMatrix<f64>,
    k_yx: DMatrix<f64>,
    /// Coefficients of the X and Y sets (a and b, in that role order).
    c_x: f64,
    c_y: f64,
}

impl PairOperator {
    /// S^U for mixing weight α ∈ [0, 1]; `signed` selects b = −α (clamped) instead of b = α.
    /// Errors if α is out of range or either set is empty (then there are no pairs).
    pub fn new(gram: &CurvatureGram, alpha: f64, signed: bool) -> Result<Self> {
        check_alpha(alpha)?;
        let n_r = gram.n_retain;
        let n_f = gram.k.nrows() - n_r;
        if n_r == 0 || n_f == 0 {
            return Err(Error::Argument {
                name: "n_retain",
                value: n_r.to_string(),
                expected: "a split with non-empty retain and forget sets (pairs need both)",
            });
        }
        let a = 1.0 - alpha;
        let b = if signed { -alpha } else { alpha };
        let retain_outer = n_r <= n_f;
        let (x0, n_x, c_x, y0, n_y, c_y) = if retain_outer {
            (0, n_r, a, n_r, n_f, b)
        } else {
            (n_r, n_f, b, 0, n_r, a)
        };
        let k = &gram.k;
        let k_xy = k.view((x0, y0), (n_x, n_y)).into_owned();
        Ok(Self {
            n_retain: n_r,
            n_forget: n_f,
            retain_outer,
            n_x,
            n_y,
            k_xx: k.view((x0, x0), (n_x, n_x)).into_owned(),
            k_yy: k.view((y0, y0), (n_y, n_y)).into_owned(),
            k_yx: k_xy.transpose(),
            k_xy,
            c_x,
            c_y,
        })
    }

    /// Public pair index r·n_f + f → internal index x·n_y + y.
    fn internal_index(&self, public: usize) -> usize {
        if self.retain_outer {
            public
        } else {
            let (r, f) = (public / self.n_forget, public % self.n_forget);
            f * self.n_retain + r
        }
    }

    /// The contribution of the upper-triangle entries (i, j ≥ i) of `rows` (internal order)
    /// to S^U v, accumulated into `out` (length N, internal order): each entry e_ij is formed
    /// once and used twice (out_i += e_ij v_j, out_j += e_ij v_i), halving the square roots.
    fn upper_rows(&self, v: &[f64], rows: Range<usize>, out: &mut [f64]) {
        let (n_x, n_y) = (self.n_x, self.n_y);
        let (cxx, cxy, cyy) = (
            self.c_x * self.c_x,
            self.c_x * self.c_y,
            self.c_y * self.c_y,
        );
        let mut t = vec![0.0; n_x];
        let mut u = vec![0.0; n_y];
        for i in rows {
            let (x, y) = (i / n_y, i % n_y);
            // Terms that depend on x' only (needed for x' ≥ x) and on y' only.
            let (kxx, kxy) = (self.k_xx.column(x), self.k_xy.column(y));
            for xp in x..n_x {
                t[xp] = cxx * kxx[xp] + cxy * kxy[xp];
            }
            let (kyx, kyy) = (self.k_yx.column(x), self.k_yy.column(y));
            for (yp, uy) in u.iter_mut().enumerate() {
                *uy = cxy * kyx[yp] + cyy * kyy[yp];
            }
            let vi = v[i];
            // Same x' = x, y' ≥ y; the diagonal entry went to both sides, so remove it once.
            let same_x = i..(x + 1) * n_y;
            let mut acc = scatter_dot(t[x], &u[y..], &v[same_x.clone()], &mut out[same_x], vi);
            acc -= entry(t[x] + u[y]) * vi;
            for (xp, &tx) in t.iter().enumerate().skip(x + 1) {
                let range = xp * n_y..(xp + 1) * n_y;
                acc += scatter_dot(tx, &u, &v[range.clone()], &mut out[range], vi);
            }
            out[i] += acc;
        }
    }
}

/// sqrt(max(s, 0)): an entry of S^U from its square.
#[inline(always)]
fn entry(s: f64) -> f64 {
    if s > 0.0 { s.sqrt() } else { 0.0 }
}

/// With e_j = sqrt(max(t + u_j, 0)): returns Σ_j e_j v_j and adds e_j·vi to o_j. Four
/// accumulators so the loop vectorises.
#[inline]
fn scatter_dot(t: f64, u: &[f64], v: &[f64], o: &mut [f64], vi: f64) -> f64 {
    let mut acc = [0.0; 4];
    let (u4, v4, mut o4) = (u.chunks_exact(4), v.chunks_exact(4), o.chunks_exact_mut(4));
    let (ur, vr) = (u4.remainder(), v4.remainder());
    for ((uc, vc), oc) in u4.zip(v4).zip(&mut o4) {
        for k in 0..4 {
            let e = entry(t + uc[k]);
            acc[k] += e * vc[k];
            oc[k] += e * vi;
        }
    }
    let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for ((uj, vj), oj) in ur.iter().zip(vr).zip(o4.into_remainder()) {
        let e = entry(t + uj);
        sum += e * vj;
        *oj += e * vi;
    }
    sum
}

/// Splits rows 0..n of an upper-triangular sweep (row i costs n − i) into `parts` ranges of
/// about equal work.
fn balanced_ranges(n: usize, parts: usize) -> Vec<Range<usize>> {
    let bound = |k: usize| {
        let frac = 1.0 - (1.0 - k as f64 / parts as f64).sqrt();
        ((n as f64 * frac).round() as usize).min(n)
    };
    (0..parts).map(|k| bound(k)..bound(k + 1)).collect()
}

impl LinearOperator for PairOperator {
    fn dim(&self) -> usize {
        self.n_x * self.n_y
    }

    fn matvec(&self, v: &[f64], out: &mut [f64]) {
        let n = self.dim();
        let mut v_int = vec![0.0; n];
        for (i, &x) in v.iter().enumerate() {
            v_int[self.internal_index(i)] = x;
        }
        let threads = if n >= PARALLEL_MIN_PAIRS {
            std::thread::available_parallelism().map_or(1, |t| t.get())
        } else {
            1
        };
        let mut out_int = vec![0.0; n];
        if threads == 1 {
            self.upper_rows(&v_int, 0..n, &mut out_int);
        } else {
            // Each thread scatters into its own length-N buffer; the buffers are summed.
            let partials: Vec<Vec<f64>> = std::thread::scope(|scope| {
                let handles: Vec<_> = balanced_ranges(n, threads)
                    .into_iter()
                    .map(|rows| {
                        let v_int = &v_int;
                        scope.spawn(move || {
                            let mut part = vec![0.0; n];
                            self.upper_rows(v_int, rows, &mut part);
                            part
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("pair matvec thread panicked"))
                    .collect()
            });
            for part in &partials {
                out_int.iter_mut().zip(part).for_each(|(o, x)| *o += x);
            }
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = out_int[self.internal_index(i)];
        }
    }
}
