//! Linear combinations a·A + b·B of operators.

use super::LinearOperator;
use crate::error::{Result, check_finite, check_len};

/// a·A + b·B for two operators of the same dimension, e.g. H_α = (1−α)H_R − αH_F from two
/// finite-difference operators. Nest it for more terms. Each matvec allocates one p-vector.
#[derive(Debug, Clone)]
pub struct LinearCombination<A, B> {
    a: f64,
    op_a: A,
    b: f64,
    op_b: B,
}

impl<A: LinearOperator, B: LinearOperator> LinearCombination<A, B> {
    /// a·A + b·B; errors if the dimensions differ or a coefficient is not finite.
    pub fn new(a: f64, op_a: A, b: f64, op_b: B) -> Result<Self> {
        check_len("linear combination: dimension of B", op_a.dim(), op_b.dim())?;
        check_finite("linear combination coefficients", &[a, b])?;
        Ok(Self { a, op_a, b, op_b })
    }
}

impl<A: LinearOperator, B: LinearOperator> LinearOperator for LinearCombination<A, B> {
    fn dim(&self) -> usize {
        self.op_a.dim()
    }

    fn matvec(&self, v: &[f64], out: &mut [f64]) {
        let mut tmp = vec![0.0; self.dim()];
        self.op_a.matvec(v, out);
        self.op_b.matvec(v, &mut tmp);
        for (o, t) in out.iter_mut().zip(&tmp) {
            *o = self.a * *o + self.b * t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::DenseOperator;
    use crate::operator::test_util::random_matrix;

    #[test]
    fn matches_the_dense_combination() {
        let x = random_matrix(5, 5, 21);
        let y = random_matrix(5, 5, 22);
        let (x, y) = (&x + x.transpose(), &y * y.transpose());
        let op = LinearCombination::new(
            0.7,
            DenseOperator::new(x.clone()).unwrap(),
            -0.3,
            DenseOperator::new(y.clone()).unwrap(),
        )
        .unwrap();
        let reference = &x * 0.7 - &y * 0.3;
        let err = (op.to_dense() - &reference).norm() / reference.norm();
        assert!(err < 1e-14, "relative error {err}");
        let small = DenseOperator::new(random_matrix(4, 4, 0)).unwrap();
        assert!(LinearCombination::new(1.0, &small, 1.0, op).is_err());
    }
}
