//! Step settings (η, α, batch sizes, sampling) and the validated [`Problem`].

use serde::{Deserialize, Serialize};

use crate::curvature::Curvature;
use crate::error::{Error, Result};

/// How a batch of B samples out of n is drawn, fresh every step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    /// B distinct samples, uniformly (the default).
    #[default]
    Without,
    /// B independent uniform draws.
    With,
    /// Each sample independently with probability B/n; the batch mean divides
    /// by the expected size B.
    Bernoulli,
}

impl Sampling {
    /// Noise factor of the batch mean and whether the noise is centred:
    /// Cov(Ĥ_B) = factor · (1/n)Σ(H_i − θH)⊗(H_i − θH) with θ = 1 if centred.
    ///
    /// Without replacement (n−B)/(B(n−1)) (0 when n = 1), with replacement 1/B,
    /// Bernoulli(B/n) 1/B − 1/n, uncentred.
    pub fn noise_factor(self, n: usize, b: usize) -> (f64, bool) {
        let (n, b) = (n as f64, b as f64);
        match self {
            Sampling::Without if n <= 1.0 => (0.0, true),
            Sampling::Without => ((n - b) / (b * (n - 1.0)), true),
            Sampling::With => (1.0 / b, true),
            Sampling::Bernoulli => (1.0 / b - 1.0 / n, false),
        }
    }
}

/// The unlearning step u ← u − η[(1−α)·mean_{B_r} H_i u − α·mean_{B_f} H_j u].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Learning rate η > 0 (inverse curvature units).
    pub eta: f64,
    /// Mixing ratio α ∈ [0, 1]: the weight of the forget (ascent) term; must be
    /// 0 without a forget family.
    pub alpha: f64,
    /// Retain batch size B_r ∈ 1..=n_r.
    pub batch_retain: usize,
    /// Forget batch size B_f ∈ 1..=n_f; `None` means B_f = B_r.
    pub batch_forget: Option<usize>,
    /// Batch sampling scheme for both sets.
    pub sampling: Sampling,
}

impl Settings {
    /// Plain settings with B_f = B_r and sampling without replacement.
    pub fn new(eta: f64, alpha: f64, batch: usize) -> Settings {
        Settings {
            eta,
            alpha,
            batch_retain: batch,
            batch_forget: None,
            sampling: Sampling::Without,
        }
    }
}

/// A [`Curvature`] with validated [`Settings`]: the input of every criterion.
#[derive(Debug, Clone, Copy)]
pub struct Problem<'c> {
    curvature: &'c Curvature,
    settings: Settings,
}

impl Settings {
    /// Checks the settings against the family sizes (n_forget = 0: no forget
    /// family), before any curvature is built.
    ///
    /// Errors name the field and its allowed range: η ≤ 0 or not finite, α
    /// outside [0, 1] (or ≠ 0 without a forget family), B_r outside 1..=n_r,
    /// B_f outside 1..=n_f.
    pub fn validate(&self, n_retain: usize, n_forget: usize) -> Result<()> {
        let Settings {
            eta,
            alpha,
            batch_retain,
            ..
        } = *self;
        if !(eta > 0.0 && eta.is_finite()) {
            return Err(Error::out_of_range("eta", eta, "(0, ∞), finite"));
        }
        if !(0.0..=1.0).contains(&alpha) {
            return Err(Error::out_of_range("alpha", alpha, "[0, 1]"));
        }
        if !(1..=n_retain).contains(&batch_retain) {
            return Err(Error::out_of_range(
                "batch_retain",
                batch_retain,
                format!("1..={n_retain} (the number of retain samples)"),
            ));
        }
        if n_forget == 0 {
            if alpha != 0.0 {
                return Err(Error::out_of_range(
                    "alpha",
                    alpha,
                    "0 only: the forget family is empty (plain SGD on the retain set)",
                ));
            }
        } else {
            let b_f = self.batch_forget.unwrap_or(batch_retain);
            if !(1..=n_forget).contains(&b_f) {
                let how = if self.batch_forget.is_none() {
                    " (defaulted to batch_retain)"
                } else {
                    ""
                };
                return Err(Error::out_of_range(
                    "batch_forget",
                    format!("{b_f}{how}"),
                    format!("1..={n_forget} (the number of forget samples)"),
                ));
            }
        }
        Ok(())
    }
}

impl<'c> Problem<'c> {
    /// Validates `settings` against `curvature` ([`Settings::validate`]).
    pub fn new(curvature: &'c Curvature, settings: Settings) -> Result<Problem<'c>> {
        settings.validate(curvature.n_retain(), curvature.n_forget())?;
        Ok(Problem {
            curvature,
            settings,
        })
    }

    /// The curvature.
    pub fn curvature(&self) -> &'c Curvature {
        self.curvature
    }

    /// The settings as given.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// B_f (= B_r when not given).
    pub fn batch_forget(&self) -> usize {
        self.settings
            .batch_forget
            .unwrap_or(self.settings.batch_retain)
    }

    /// Reduced mixed Hessian H_α = (1−α)H_R − αH_F (r×r).
    pub(crate) fn h_alpha(&self) -> nalgebra::DMatrix<f64> {
        let a = self.settings.alpha;
        let mut h = &self.curvature.retain.mean * (1.0 - a);
        if let Some(f) = &self.curvature.forget {
            h -= &f.mean * a;
        }
        h
    }

    /// (family, signed step weight w, batch size) for the families that move
    /// u: the step is u ← u + Σ w·mean_B(H_i)u, w_R = −η(1−α), w_F = +ηα.
    pub(crate) fn terms(&self) -> Vec<(&'c crate::curvature::Reduced, f64, usize)> {
        let Settings {
            eta,
            alpha,
            batch_retain,
            ..
        } = self.settings;
        let mut out = Vec::with_capacity(2);
        if alpha < 1.0 {
            out.push((&self.curvature.retain, -eta * (1.0 - alpha), batch_retain));
        }
        if let Some(f) = &self.curvature.forget
            && alpha > 0.0
        {
            out.push((f, eta * alpha, self.batch_forget()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::Family;

    fn curvature(n_r: usize, n_f: usize) -> Curvature {
        let rows = |n: usize| (0..n).map(|i| vec![(i % 3, 1.0)]).collect::<Vec<_>>();
        let r = Family::rank_one_sparse(3, &rows(n_r), &vec![1.0; n_r]).unwrap();
        let f = (n_f > 0).then(|| Family::rank_one_sparse(3, &rows(n_f), &vec![1.0; n_f]).unwrap());
        Curvature::new(&r, f.as_ref()).unwrap()
    }

    fn field_of(e: Error) -> &'static str {
        match e {
            Error::OutOfRange { field, .. } => field,
            other => panic!("expected OutOfRange, got {other:?}"),
        }
    }

    #[test]
    fn validation_names_field_and_range() {
        let c = curvature(5, 3);
        let ok = Settings::new(0.5, 0.3, 2);
        assert!(Problem::new(&c, ok).is_ok());
        for (bad, field) in [
            (Settings { alpha: 1.5, ..ok }, "alpha"),
            (Settings { alpha: -0.1, ..ok }, "alpha"),
            (
                Settings {
                    alpha: f64::NAN,
                    ..ok
                },
                "alpha",
            ),
            (Settings { eta: 0.0, ..ok }, "eta"),
            (Settings { eta: -1.0, ..ok }, "eta"),
            (
                Settings {
                    batch_retain: 0,
                    ..ok
                },
                "batch_retain",
            ),
            (
                Settings {
                    batch_retain: 6,
                    ..ok
                },
                "batch_retain",
            ),
            (
                Settings {
                    batch_forget: Some(0),
                    ..ok
                },
                "batch_forget",
            ),
            (
                Settings {
                    batch_forget: Some(4),
                    ..ok
                },
                "batch_forget",
            ),
            (
                Settings {
                    batch_retain: 4,
                    ..ok
                },
                "batch_forget",
            ),
        ] {
            assert_eq!(
                field_of(Problem::new(&c, bad).unwrap_err()),
                field,
                "{bad:?}"
            );
        }
        let msg = Problem::new(&c, Settings { alpha: 1.5, ..ok })
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "invalid alpha = 1.5: allowed range is [0, 1]");
        let msg = Problem::new(
            &c,
            Settings {
                batch_retain: 6,
                ..ok
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("batch_retain = 6") && msg.contains("1..=5"),
            "{msg}"
        );
        let sgd = curvature(5, 0);
        assert_eq!(field_of(Problem::new(&sgd, ok).unwrap_err()), "alpha");
        assert!(Problem::new(&sgd, Settings { alpha: 0.0, ..ok }).is_ok());
    }
}
