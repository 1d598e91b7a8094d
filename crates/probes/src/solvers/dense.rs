//! The exact dense path for small operators.

use nalgebra::SymmetricEigen;

use super::{EigenResult, LanczosOptions, lanczos};
use crate::operator::LinearOperator;

/// Operators with p ≤ `DENSE_LIMIT` are solved exactly by [`extreme_eigenvalues`].
pub const DENSE_LIMIT: usize = 300;

/// Top-`top` and bottom-`bottom` eigenvalues, exactly: materialises the p×p matrix (p matvecs,
/// [`LinearOperator::to_dense`]) and runs nalgebra's `SymmetricEigen`. O(p³); for small p.
pub fn dense_eigen<A: LinearOperator + ?Sized>(op: &A, top: usize, bottom: usize) -> EigenResult {
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
    let m = op.to_dense();
    let eig = SymmetricEigen::new(m.clone());
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[i].total_cmp(&eig.eigenvalues[j]));
    let top_idx: Vec<usize> = order.iter().rev().take(top.min(p)).copied().collect();
    let bottom_idx: Vec<usize> = order.iter().take(bottom.min(p)).copied().collect();
    let residual = top_idx
        .iter()
        .chain(&bottom_idx)
        .map(|&i| {
            let v = eig.eigenvectors.column(i);
            (&m * v - v * eig.eigenvalues[i]).norm()
        })
        .fold(0.0, f64::max);
    EigenResult {
        top: top_idx.iter().map(|&i| eig.eigenvalues[i]).collect(),
        bottom: bottom_idx.iter().map(|&i| eig.eigenvalues[i]).collect(),
        iterations: p,
        residual,
        converged: true,
    }
}

/// [`dense_eigen`] when p ≤ [`DENSE_LIMIT`], otherwise [`lanczos`] with `options`
/// (`options.top`/`options.bottom` select how many eigenvalues in both cases).
pub fn extreme_eigenvalues<A: LinearOperator + ?Sized>(
    op: &A,
    options: &LanczosOptions,
) -> EigenResult {
    if op.dim() <= DENSE_LIMIT {
        dense_eigen(op, options.top, options.bottom)
    } else {
        lanczos(op, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::DenseOperator;
    use crate::operator::test_util::{random_matrix, rel};
    use crate::solvers::reference::sorted_eigenvalues;

    #[test]
    fn dense_path_returns_sorted_extremes() {
        let a = random_matrix(20, 20, 5);
        let a = &a + a.transpose();
        let reference = sorted_eigenvalues(&a);
        let r = dense_eigen(&DenseOperator::new(a).unwrap(), 2, 3);
        assert!(r.converged && r.residual < 1e-12, "residual {}", r.residual);
        assert_eq!(r.top.len(), 2);
        assert_eq!(r.bottom.len(), 3);
        for (k, &x) in r.top.iter().enumerate() {
            let want = reference[19 - k];
            assert!(rel(x, want, 1e-12) < 1e-12, "rust={x}, reference={want}");
        }
        for (k, &x) in r.bottom.iter().enumerate() {
            let want = reference[k];
            assert!(rel(x, want, 1e-12) < 1e-12, "rust={x}, reference={want}");
        }
    }
}
