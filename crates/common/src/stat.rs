//! Mean and sample standard deviation.

/// Mean and sample standard deviation (0 for one value) of a quantity over repetitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator).
    pub sd: f64,
}

impl Stat {
    /// Of `values` (NaN mean and sd for none).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Stat {
        let v: Vec<f64> = values.into_iter().collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let sd = if v.is_empty() {
            f64::NAN
        } else if v.len() > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Stat { mean, sd }
    }

    /// NaN mean and sd: a quantity that was not measured.
    pub const MISSING: Stat = Stat {
        mean: f64::NAN,
        sd: f64::NAN,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd() {
        let s = Stat::of([1.0, 2.0, 4.0]);
        let reference = (
            7.0f64 / 3.0,
            (((1.0 - 7.0 / 3.0f64).powi(2)
                + (2.0 - 7.0 / 3.0f64).powi(2)
                + (4.0 - 7.0 / 3.0f64).powi(2))
                / 2.0)
                .sqrt(),
        );
        assert!(
            (s.mean - reference.0).abs() < 1e-15,
            "rust={}, reference={}",
            s.mean,
            reference.0
        );
        assert!(
            (s.sd - reference.1).abs() < 1e-15,
            "rust={}, reference={}",
            s.sd,
            reference.1
        );
        assert_eq!(Stat::of([3.0]).sd, 0.0);
        assert!(Stat::of([]).mean.is_nan() && Stat::of([]).sd.is_nan());
    }
}
