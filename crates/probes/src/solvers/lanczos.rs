//! Lanczos with full reorthogonalisation.

use nalgebra::{DMatrix, SymmetricEigen};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{EigenResult, dot, norm, random_unit_vector, residual_norm};
use crate::operator::LinearOperator;

/// Options of [`lanczos`] (and of [`super::extreme_eigenvalues`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LanczosOptions {
    /// How many of the largest eigenvalues to return.
    pub top: usize,
    /// How many of the smallest eigenvalues to return.
    pub bottom: usize,
    /// At most this many Lanczos steps (matvecs); never more than p. The basis takes
    /// `max_iter · p` f64 of memory.
    pub max_iter: usize,
    /// Converged when every wanted Ritz pair has ‖Av − θv‖ ≤ `tol` · max|θ| (relative to the
    /// spectral norm estimate; the eigenvalue error is then about residual² / gap).
    pub tol: f64,
    /// Seed of the random start vector.
    pub seed: u64,
}

impl Default for LanczosOptions {
    /// One top and one bottom eigenvalue, 300 steps, tol 1e-10, seed 0.
    fn default() -> Self {
        Self {
            top: 1,
            bottom: 1,
            max_iter: 300,
            tol: 1e-10,
            seed: 0,
        }
    }
}

/// The Lanczos process A Q = Q T + β q eₘᵀ with a fully reorthogonalised basis Q.
pub(crate) struct LanczosProcess<'a, A: ?Sized> {
    op: &'a A,
    /// Orthonormal basis vectors q_0 … q_{m−1}.
    basis: Vec<Vec<f64>>,
    /// Diagonal of T.
    alpha: Vec<f64>,
    /// Off-diagonal of T; `beta[j]` couples q_j and q_{j+1} (0 after a restart).
    beta: Vec<f64>,
    /// The next basis vector, unnormalised (the residual of the last step).
    next: Vec<f64>,
    /// Whether `next` is a restart vector (coupled to the basis by β = 0).
    restarted: bool,
}

impl<'a, A: LinearOperator + ?Sized> LanczosProcess<'a, A> {
    /// Starts from `start` (any non-zero vector of length p; it is normalised).
    pub(crate) fn new(op: &'a A, start: Vec<f64>) -> Self {
        Self {
            op,
            basis: Vec::new(),
            alpha: Vec::new(),
            beta: Vec::new(),
            next: start,
            restarted: false,
        }
    }

    /// Steps taken so far (the size of T).
    pub(crate) fn len(&self) -> usize {
        self.alpha.len()
    }

    /// max |α_j|, a lower bound on ‖A‖ used to scale breakdown tests.
    pub(crate) fn alpha_scale(&self) -> f64 {
        self.alpha.iter().fold(0.0, |s, a| s.max(a.abs()))
    }

    /// ‖residual‖ of the last step: the coupling to the next basis vector.
    pub(crate) fn last_beta(&self) -> f64 {
        norm(&self.next)
    }

    /// One step: normalises the pending vector into q_m, applies A, orthogonalises against the
    /// whole basis (twice: "twice is enough"). The caller must check that the pending vector
    /// is non-zero (see [`Self::last_beta`], [`Self::restart`]).
    pub(crate) fn step(&mut self) {
        let b = norm(&self.next);
        if !self.alpha.is_empty() {
            self.beta.push(if self.restarted { 0.0 } else { b });
        }
        self.restarted = false;
        let q: Vec<f64> = self.next.iter().map(|x| x / b).collect();
        let mut w = vec![0.0; q.len()];
        self.op.matvec(&q, &mut w);
        let a = dot(&q, &w);
        self.basis.push(q);
        self.alpha.push(a);
        for _ in 0..2 {
            for qi in &self.basis {
                let c = dot(qi, &w);
                w.iter_mut().zip(qi).for_each(|(x, y)| *x -= c * y);
            }
        }
        self.next = w;
    }

    /// Replaces the pending vector by a random vector orthogonal to the basis (after an
    /// invariant subspace was found). Returns false when the basis already spans ℝ^p.
    pub(crate) fn restart(&mut self, rng: &mut ChaCha8Rng) -> bool {
        let p = self.op.dim();
        let mut w = random_unit_vector(p, rng);
        for _ in 0..2 {
            for qi in &self.basis {
                let c = dot(qi, &w);
                w.iter_mut().zip(qi).for_each(|(x, y)| *x -= c * y);
            }
        }
        // The coupling β to a restart vector is zero: T becomes block diagonal.
        self.next = w;
        self.restarted = true;
        norm(&self.next) > 1e-8
    }

    /// The eigen-decomposition of the m×m tridiagonal T: (Ritz values ascending, matrix of
    /// eigenvectors in the same order).
    pub(crate) fn ritz(&self) -> (Vec<f64>, DMatrix<f64>) {
        let m = self.len();
        let t = DMatrix::from_fn(m, m, |i, j| {
            if i == j {
                self.alpha[i]
            } else if i + 1 == j {
                self.beta[i]
            } else if j + 1 == i {
                self.beta[j]
            } else {
                0.0
            }
        });
        let eig = SymmetricEigen::new(t);
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|&i, &j| eig.eigenvalues[i].total_cmp(&eig.eigenvalues[j]));
        let values = order.iter().map(|&i| eig.eigenvalues[i]).collect();
        let vectors = DMatrix::from_fn(m, m, |r, c| eig.eigenvectors[(r, order[c])]);
        (values, vectors)
    }

    /// The Ritz vector Q s for a coefficient vector s of length m.
    pub(crate) fn ritz_vector(&self, s: &[f64]) -> Vec<f64> {
        let mut y = vec![0.0; self.op.dim()];
        for (qi, &c) in self.basis.iter().zip(s) {
            y.iter_mut().zip(qi).for_each(|(x, q)| *x += c * q);
        }
        y
    }
}

/// Indices (into ascending Ritz values of length m) of the `top` largest and `bottom`
/// smallest, without duplicates.
fn wanted(m: usize, top: usize, bottom: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..bottom.min(m)).collect();
    idx.extend((m - top.min(m)..m).filter(|i| *i >= bottom.min(m)));
    idx
}

/// Top-`top` and bottom-`bottom` eigenvalues of a symmetric operator by Lanczos with full
/// reorthogonalisation, so the most negative eigenvalue of an indefinite operator (e.g. H_α)
/// is `bottom[0]`.
///
/// Convergence is tested on the Ritz estimates |β_m s_m| at geometrically spaced steps (every
/// ~10%), then confirmed by true residuals at the end (one extra matvec per returned pair).
/// If the Krylov space becomes invariant the process restarts with a random vector orthogonal
/// to the basis. Like every Krylov method it may miss extra copies of a repeated eigenvalue
/// when `top`/`bottom` > 1. With `max_iter ≥ p` the result is exact up to round-off.
///
/// Starts from a random unit vector (seeded by `options.seed`); see [`lanczos_from`] for a
/// chosen start.
pub fn lanczos<A: LinearOperator + ?Sized>(op: &A, options: &LanczosOptions) -> EigenResult {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let start = random_unit_vector(op.dim(), &mut rng);
    run(op, start, rng, options)
}

/// [`lanczos`] from the given start vector (length p, non-zero; it is normalised), e.g. one
/// known to overlap the wanted eigenvector: the all-ones vector for the Perron vector of an
/// entrywise non-negative matrix, the identity for the PSD top eigen-matrix of a positive map.
/// Every Ritz value lies in [λ_min, λ_max], so `top[0]` is a lower bound on λ_max whether or
/// not it converged. `options.seed` seeds only the restart vectors.
///
/// # Panics
/// If `start.len()` ≠ p.
pub fn lanczos_from<A: LinearOperator + ?Sized>(
    op: &A,
    start: &[f64],
    options: &LanczosOptions,
) -> EigenResult {
    assert_eq!(start.len(), op.dim(), "lanczos_from: start vector length");
    let rng = ChaCha8Rng::seed_from_u64(options.seed);
    run(op, start.to_vec(), rng, options)
}

/// The Lanczos loop of [`lanczos`] from `start`, with `rng` for restarts.
fn run<A: LinearOperator + ?Sized>(
    op: &A,
    start: Vec<f64>,
    mut rng: ChaCha8Rng,
    options: &LanczosOptions,
) -> EigenResult {
    let p = op.dim();
    if p == 0 {
        return EigenResult {
            top: vec![],
            bottom: vec![],
            iterations: 0,
            residual: 0.0,
            converged: true,
        };
    }
    let mut process = LanczosProcess::new(op, start);
    let max_steps = options.max_iter.clamp(1, p);
    let needed = options.top.max(options.bottom).max(1);
    let mut next_check = needed;
    loop {
        process.step();
        let m = process.len();
        if m >= max_steps {
            break;
        }
        let beta = process.last_beta();
        let breakdown = beta <= 1e-12 * process.alpha_scale().max(f64::MIN_POSITIVE);
        if breakdown || m >= next_check {
            next_check = (m + 1).max((m as f64 * 1.1) as usize);
            let (values, vectors) = process.ritz();
            let scale = values[0].abs().max(values[m - 1].abs());
            let done = wanted(m, options.top, options.bottom)
                .iter()
                .all(|&i| (beta * vectors[(m - 1, i)]).abs() <= options.tol * scale);
            if done && m >= needed {
                break;
            }
        }
        // An invariant subspace that does not yet hold every wanted pair: continue in its
        // orthogonal complement.
        if breakdown && !process.restart(&mut rng) {
            break;
        }
    }
    let m = process.len();
    let (values, vectors) = process.ritz();
    let scale = values[0].abs().max(values[m - 1].abs());
    let mut residual: f64 = 0.0;
    let mut out = vec![0.0; p];
    for i in wanted(m, options.top, options.bottom) {
        let y = process.ritz_vector(vectors.column(i).as_slice());
        op.matvec(&y, &mut out);
        residual = residual.max(residual_norm(&out, values[i], &y) / norm(&y));
    }
    EigenResult {
        top: values
            .iter()
            .rev()
            .take(options.top.min(m))
            .copied()
            .collect(),
        bottom: values.iter().take(options.bottom.min(m)).copied().collect(),
        iterations: m,
        residual,
        converged: residual <= options.tol * scale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::test_util::{planted_symmetric, random_matrix, rel};
    use crate::operator::{DenseOperator, LinearOperator};
    use crate::solvers::reference::sorted_eigenvalues;

    fn check(op: &DenseOperator, top: usize, bottom: usize, label: &str) {
        let reference = sorted_eigenvalues(op.matrix());
        let p = reference.len();
        let options = LanczosOptions {
            top,
            bottom,
            ..Default::default()
        };
        let r = lanczos(op, &options);
        assert!(
            r.converged,
            "{label}: not converged, residual {}",
            r.residual
        );
        for (k, &x) in r.top.iter().enumerate() {
            let want = reference[p - 1 - k];
            assert!(
                rel(x, want, 1e-300) < 1e-8,
                "{label} top {k}: rust={x}, reference={want}"
            );
        }
        for (k, &x) in r.bottom.iter().enumerate() {
            let want = reference[k];
            assert!(
                rel(x, want, 1e-300) < 1e-8,
                "{label} bottom {k}: rust={x}, reference={want}"
            );
        }
    }

    #[test]
    fn matches_dense_eigendecomposition_on_psd_and_indefinite() {
        // Random PSD (Wishart, rank 40 < p, so bottom eigenvalues are 0 up to round-off:
        // compare the top ones) and full-rank PSD.
        let x = random_matrix(120, 40, 31);
        let wishart = DenseOperator::new(&x * x.transpose()).unwrap();
        check(&wishart, 3, 0, "rank-40 Wishart");
        let y = random_matrix(150, 150, 32);
        let full = DenseOperator::new(&y * y.transpose() / 150.0).unwrap();
        check(&full, 3, 3, "full-rank Wishart");
        // Indefinite: a random symmetric matrix and one with a planted spectrum.
        let z = random_matrix(200, 200, 33);
        let wigner = DenseOperator::new(&z + z.transpose()).unwrap();
        check(&wigner, 2, 2, "Wigner");
        let eigs: Vec<f64> = (0..160).map(|i| (i as f64 - 120.0) / 7.0).collect();
        let planted = DenseOperator::new(planted_symmetric(&eigs, 34)).unwrap();
        check(&planted, 2, 2, "planted indefinite");
    }

    #[test]
    fn most_negative_eigenvalue_of_indefinite_operator() {
        let eigs: Vec<f64> = (0..100).map(|i| 5.0 - 0.07 * i as f64).collect();
        let a = planted_symmetric(&eigs, 35);
        let r = lanczos(&DenseOperator::new(a).unwrap(), &LanczosOptions::default());
        let want = 5.0 - 0.07 * 99.0;
        assert!(
            rel(r.bottom[0], want, 1e-300) < 1e-8,
            "rust={}, reference={want}",
            r.bottom[0]
        );
    }

    #[test]
    fn small_budget_is_not_converged() {
        let z = random_matrix(80, 80, 36);
        let op = DenseOperator::new(&z + z.transpose()).unwrap();
        let r = lanczos(
            &op,
            &LanczosOptions {
                max_iter: 3,
                ..Default::default()
            },
        );
        assert!(!r.converged, "residual {}", r.residual);
        assert_eq!(r.iterations, 3);
    }

    #[test]
    fn invariant_subspace_and_full_dimension() {
        // The all-ones matrix: the Krylov space is invariant after two steps.
        let n = 50;
        let ones = DenseOperator::new(DMatrix::from_element(n, n, 1.0)).unwrap();
        let r = lanczos(&ones, &LanczosOptions::default());
        assert!(r.converged && r.iterations == 2, "{r:?}");
        assert!(rel(r.top[0], n as f64, 1.0) < 1e-12, "rust={}", r.top[0]);
        assert!(r.bottom[0].abs() < 1e-10, "rust={}", r.bottom[0]);
        // A 1×1 operator and the empty one.
        let one = DenseOperator::new(DMatrix::from_element(1, 1, -2.0)).unwrap();
        let r = lanczos(&one, &LanczosOptions::default());
        assert_eq!((r.top[0], r.bottom[0], r.converged), (-2.0, -2.0, true));
        let empty = DenseOperator::new(DMatrix::zeros(0, 0)).unwrap();
        assert_eq!(empty.dim(), 0);
        assert!(lanczos(&empty, &LanczosOptions::default()).top.is_empty());
    }

    #[test]
    fn chosen_start_vector() {
        // The all-ones matrix from the all-ones start: an eigenvector, so one step is exact.
        let n = 40;
        let ones = DenseOperator::new(DMatrix::from_element(n, n, 1.0)).unwrap();
        let top_only = LanczosOptions {
            top: 1,
            bottom: 0,
            ..Default::default()
        };
        let r = lanczos_from(&ones, &vec![1.0; n], &top_only);
        assert!(r.converged && r.iterations == 1, "{r:?}");
        assert!(rel(r.top[0], n as f64, 1.0) < 1e-12, "rust={}", r.top[0]);
        // A Wishart matrix from a fixed start: the full solve matches the reference, and a
        // truncated one is still a lower bound on λ_max.
        let x = random_matrix(80, 80, 37);
        let op = DenseOperator::new(&x * x.transpose() / 80.0).unwrap();
        let want = *sorted_eigenvalues(op.matrix()).last().unwrap();
        let start = vec![1.0; 80];
        let r = lanczos_from(&op, &start, &top_only);
        assert!(r.converged, "residual {}", r.residual);
        assert!(
            rel(r.top[0], want, 1e-300) < 1e-8,
            "rust={}, reference={want}",
            r.top[0]
        );
        let short = LanczosOptions {
            max_iter: 4,
            ..top_only
        };
        let r = lanczos_from(&op, &start, &short);
        assert!(
            r.iterations == 4 && r.top[0] <= want,
            "rust={}, reference={want}",
            r.top[0]
        );
    }
}
