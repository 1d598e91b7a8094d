//! First-moment criterion (`docs/science.md`): E\[u_k\] = (I − ηH_α)^k u₀ diverges iff
//! H_α = (1−α)H_R − αH_F has an eigenvalue < 0 or > 2/η. This module computes the extreme
//! eigenvalues; the verdict (with its tolerance) is [`crate::verdict::Thresholds::first_moment`].

use serde::Serialize;

use crate::problem::Problem;

/// Extreme eigenvalues of H_α (curvature units).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FirstMoment {
    /// λ_min(H_α) over R^p (includes the zero eigenvalues of the flat
    /// complement when the curvature span is smaller than p).
    pub lambda_min: f64,
    /// λ_max(H_α) over R^p.
    pub lambda_max: f64,
}

impl FirstMoment {
    /// |λ|_max(H_α) = max(|λ_min|, |λ_max|).
    pub fn abs_max(&self) -> f64 {
        self.lambda_min.abs().max(self.lambda_max.abs())
    }
}

/// λ_min and λ_max of H_α: read off the diagonal for the diagonal structure,
/// the eigenvalues (no eigenvectors) of the r×r reduced matrix otherwise.
pub fn first_moment(problem: &Problem<'_>) -> FirstMoment {
    let h = problem.h_alpha();
    let curv = problem.curvature();
    let eig = if curv.is_diagonal() {
        h.diagonal()
    } else {
        h.symmetric_eigenvalues()
    };
    let flat = if curv.rank() < curv.dim() {
        Some(0.0)
    } else {
        None
    };
    let lambda_min = eig
        .iter()
        .copied()
        .chain(flat)
        .fold(f64::INFINITY, f64::min);
    let lambda_max = eig
        .iter()
        .copied()
        .chain(flat)
        .fold(f64::NEG_INFINITY, f64::max);
    FirstMoment {
        lambda_min,
        lambda_max,
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::{DMatrix, SymmetricEigen};

    use super::*;
    use crate::curvature::Curvature;
    use crate::family::Family;
    use crate::problem::Settings;

    #[test]
    fn matches_dense_eigenvalues_of_h_alpha() {
        let g = DMatrix::from_row_slice(3, 3, &[1.0, 0.5, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, -1.0]);
        let gf = DMatrix::from_row_slice(2, 3, &[0.0, 2.0, 0.0, 1.0, 1.0, 1.0]);
        let (c, cf) = ([1.0, 2.0, 0.5], [1.0, 0.3]);
        let curv = Curvature::new(
            &Family::rank_one(&g, &c).unwrap(),
            Some(&Family::rank_one(&gf, &cf).unwrap()),
        )
        .unwrap();
        let alpha = 0.4;
        let fm = first_moment(&Problem::new(&curv, Settings::new(0.5, alpha, 1)).unwrap());
        let mean = |g: &DMatrix<f64>, c: &[f64]| {
            (0..g.nrows()).fold(DMatrix::zeros(3, 3), |acc, i| {
                let gi = g.row(i).transpose();
                acc + &gi * gi.transpose() * c[i]
            }) / g.nrows() as f64
        };
        let h = mean(&g, &c) * (1.0 - alpha) - mean(&gf, &cf) * alpha;
        let eig = SymmetricEigen::new(h).eigenvalues;
        for (rust, reference) in [(fm.lambda_min, eig.min()), (fm.lambda_max, eig.max())] {
            assert!(
                (rust - reference).abs() < 1e-12,
                "rust={rust}, reference={reference}"
            );
        }
    }
}
