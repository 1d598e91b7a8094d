//! A dense symmetric matrix as an operator.

use nalgebra::{DMatrix, DVectorView, DVectorViewMut};

use super::LinearOperator;
use crate::error::{Result, check_finite, check_len};

/// A dense p×p symmetric matrix. Symmetry is the caller's promise (it is not checked, so that
/// matrices with round-off asymmetry are accepted); the matvec uses the full matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseOperator {
    matrix: DMatrix<f64>,
}

impl DenseOperator {
    /// Wraps a square, finite p×p matrix.
    pub fn new(matrix: DMatrix<f64>) -> Result<Self> {
        check_len(
            "dense operator: number of columns",
            matrix.nrows(),
            matrix.ncols(),
        )?;
        check_finite("dense operator matrix", matrix.iter())?;
        Ok(Self { matrix })
    }

    /// The wrapped p×p matrix.
    pub fn matrix(&self) -> &DMatrix<f64> {
        &self.matrix
    }
}

impl LinearOperator for DenseOperator {
    fn dim(&self) -> usize {
        self.matrix.nrows()
    }

    fn matvec(&self, v: &[f64], out: &mut [f64]) {
        let p = self.dim();
        let v = DVectorView::from_slice(v, p);
        let mut out = DVectorViewMut::from_slice(out, p);
        out.gemv(1.0, &self.matrix, &v, 0.0);
    }

    fn to_dense(&self) -> DMatrix<f64> {
        self.matrix.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::test_util::random_matrix;

    #[test]
    fn matvec_matches_matrix_product() {
        let a = random_matrix(7, 7, 1);
        let a = &a + a.transpose();
        let op = DenseOperator::new(a.clone()).unwrap();
        let v = random_matrix(7, 1, 2);
        let mut out = vec![0.0; 7];
        op.matvec(v.as_slice(), &mut out);
        let reference = &a * &v;
        for i in 0..7 {
            assert!(
                (out[i] - reference[i]).abs() < 1e-14,
                "rust={}, reference={}",
                out[i],
                reference[i]
            );
        }
    }

    #[test]
    fn rejects_non_square() {
        assert!(DenseOperator::new(DMatrix::zeros(2, 3)).is_err());
    }
}
