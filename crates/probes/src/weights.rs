//! Per-sample weights w_i that turn per-sample curvatures into H, H_R, H_F and H_α.
//!
//! Samples are ordered retain first: indices `0..n_retain` are the retain set R, the rest the
//! forget set F. Every curvature object is a weighted sum Σ_i w_i H_i:
//!
//! | object                     | w_i for i ∈ R      | w_i for i ∈ F     |
//! |----------------------------|--------------------|-------------------|
//! | H   (all n samples)        | 1/n                | 1/n               |
//! | H_R (mean over R)          | 1/n_r              | 0                 |
//! | H_F (mean over F)          | 0                  | 1/n_f             |
//! | H_α = (1−α)H_R − αH_F      | (1−α)/n_r          | −α/n_f            |
//!
//! An empty set contributes nothing (its mean is taken as 0).

use crate::error::{Error, Result, check_alpha};

/// w_i = 1/n for all n samples (H, the full-batch mean).
pub fn full_weights(n: usize) -> Vec<f64> {
    vec![1.0 / n as f64; n]
}

/// w_i = 1/n_r on the retain set, 0 on the forget set (H_R).
pub fn retain_weights(n: usize, n_retain: usize) -> Result<Vec<f64>> {
    mixed_weights(n, n_retain, 0.0)
}

/// w_i = 0 on the retain set, 1/n_f on the forget set (H_F).
pub fn forget_weights(n: usize, n_retain: usize) -> Result<Vec<f64>> {
    Ok(mixed_weights(n, n_retain, 1.0)?
        .into_iter()
        .map(|w| -w)
        .collect())
}

/// w_i = (1−α)/n_r on the retain set, −α/n_f on the forget set (H_α = (1−α)H_R − αH_F).
/// Errors if `n_retain > n` or α ∉ [0, 1].
pub fn mixed_weights(n: usize, n_retain: usize, alpha: f64) -> Result<Vec<f64>> {
    check_alpha(alpha)?;
    if n_retain > n {
        return Err(Error::Argument {
            name: "n_retain",
            value: n_retain.to_string(),
            expected: "at most the number of samples n",
        });
    }
    let n_forget = n - n_retain;
    let w_r = if n_retain > 0 {
        (1.0 - alpha) / n_retain as f64
    } else {
        0.0
    };
    let w_f = if n_forget > 0 {
        -alpha / n_forget as f64
    } else {
        0.0
    };
    Ok((0..n)
        .map(|i| if i < n_retain { w_r } else { w_f })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_have_the_documented_values() {
        assert_eq!(full_weights(4), vec![0.25; 4]);
        assert_eq!(retain_weights(3, 2).unwrap(), vec![0.5, 0.5, 0.0]);
        assert_eq!(forget_weights(3, 2).unwrap(), vec![0.0, 0.0, 1.0]);
        assert_eq!(
            mixed_weights(4, 2, 0.25).unwrap(),
            vec![0.375, 0.375, -0.125, -0.125]
        );
        assert_eq!(mixed_weights(2, 2, 0.5).unwrap(), vec![0.25, 0.25]);
        assert!(mixed_weights(2, 3, 0.5).is_err());
        assert!(mixed_weights(2, 1, 1.5).is_err());
    }
}
