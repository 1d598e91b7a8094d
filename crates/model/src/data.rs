//! The signal-plus-noise data of Cao et al. (2022) and Kou et al. (2023) (`docs/science.md#the-setting`).
//!
//! A sample has a label y ∈ {−1, +1} and P patches in R^d: patch 0 is the signal y·μ, every
//! other patch is noise ξ ~ N(0, σ_p²(I − μμᵀ/‖μ‖²)), exactly orthogonal to μ. The signal sits
//! in patch 0 \[choice\]: the CNN sums over patches, so the position does not change anything.
//! SNR = ‖μ‖ / (σ_p √d), so ‖μ‖ = SNR·σ_p·√d.

use rand::{Rng, SeedableRng, seq::index::sample};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};

/// Direction of the signal vector μ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MuDirection {
    /// μ = ‖μ‖·e_1.
    #[default]
    E1,
    /// μ = ‖μ‖·u with u uniform on the unit sphere (drawn from the seed).
    Random,
}

/// Which samples form the forget set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgetFrom {
    /// Uniformly at random among all training samples.
    #[default]
    Random,
    /// Uniformly at random among the samples labelled +1.
    Positive,
    /// Uniformly at random among the samples labelled −1.
    Negative,
}

/// How to generate a data set. Every field has a default (see [`DataConfig::default`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Number of training samples n (≥ 1).
    pub n: usize,
    /// Number of held-out test samples (≥ 0).
    pub n_test: usize,
    /// Patch dimension d (≥ 1).
    pub d: usize,
    /// Number of patches P per sample (≥ 2: one signal patch and at least one noise patch).
    pub patches: usize,
    /// Signal-to-noise ratio ‖μ‖ / (σ_p √d) (≥ 0).
    pub snr: f64,
    /// Noise standard deviation σ_p per coordinate (> 0).
    pub sigma_p: f64,
    /// Direction of μ: "e1" or "random".
    pub mu_direction: MuDirection,
    /// Probability that a label is flipped after the sample is drawn, in [0, 0.5].
    pub label_flip: f64,
    /// Number of forget samples (0 ≤ n_forget ≤ n); ignored when `forget_fraction` is set.
    pub n_forget: usize,
    /// Fraction of the training set to forget, in [0, 1]; overrides `n_forget` (rounded).
    pub forget_fraction: Option<f64>,
    /// Where the forget samples come from: "random", "positive" or "negative".
    pub forget_from: ForgetFrom,
    /// Seed of the data's own random stream.
    pub seed: u64,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            n: 100,
            n_test: 200,
            d: 500,
            patches: 2,
            snr: 0.05,
            sigma_p: 1.0,
            mu_direction: MuDirection::E1,
            label_flip: 0.0,
            n_forget: 10,
            forget_fraction: None,
            forget_from: ForgetFrom::Random,
            seed: 0,
        }
    }
}

impl DataConfig {
    /// The number of forget samples this config asks for.
    pub fn forget_count(&self) -> usize {
        match self.forget_fraction {
            Some(f) => (f * self.n as f64).round() as usize,
            None => self.n_forget,
        }
    }

    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<()> {
        if self.n == 0 {
            return Err(invalid("data.n", "must be at least 1, got 0"));
        }
        if self.d == 0 {
            return Err(invalid("data.d", "must be at least 1, got 0"));
        }
        if self.patches < 2 {
            return Err(invalid(
                "data.patches",
                format!(
                    "must be at least 2 (one signal, one noise), got {}",
                    self.patches
                ),
            ));
        }
        if !(self.snr >= 0.0 && self.snr.is_finite()) {
            return Err(invalid(
                "data.snr",
                format!("must be a finite number ≥ 0, got {}", self.snr),
            ));
        }
        if !(self.sigma_p > 0.0 && self.sigma_p.is_finite()) {
            return Err(invalid(
                "data.sigma_p",
                format!("must be a finite number > 0, got {}", self.sigma_p),
            ));
        }
        if !(0.0..=0.5).contains(&self.label_flip) {
            return Err(invalid(
                "data.label_flip",
                format!("must lie in [0, 0.5], got {}", self.label_flip),
            ));
        }
        if let Some(f) = self.forget_fraction
            && !(0.0..=1.0).contains(&f)
        {
            return Err(invalid(
                "data.forget_fraction",
                format!("must lie in [0, 1], got {f}"),
            ));
        }
        for (field, rows) in [("data.n", self.n), ("data.n_test", self.n_test)] {
            if values(&[rows, self.patches, self.d]).is_none() {
                return Err(invalid(
                    field,
                    format!(
                        "{field} × data.patches × data.d = {rows} × {} × {} values exceed the \
                         address space",
                        self.patches, self.d
                    ),
                ));
            }
        }
        if self.forget_count() > self.n {
            return Err(invalid(
                "data.n_forget",
                format!(
                    "must be at most n = {}, got {}",
                    self.n,
                    self.forget_count()
                ),
            ));
        }
        Ok(())
    }
}

/// The number of f64 values of an array of shape `dims`, when its bytes fit in the address
/// space (`None` otherwise: a config that asks for it is refused before any allocation).
pub fn values(dims: &[usize]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&v| v <= isize::MAX as usize / 8)
}

/// A generated data set on the host, in f64, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Training inputs, [n, P, d].
    pub x: Vec<f64>,
    /// Training labels ±1, \[n\].
    pub y: Vec<f64>,
    /// Forget-set membership, \[n\].
    pub forget: Vec<bool>,
    /// Test inputs, [n_test, P, d].
    pub x_test: Vec<f64>,
    /// Test labels ±1, \[n_test\].
    pub y_test: Vec<f64>,
    /// The signal vector μ, \[d\] (empty for data read from a file).
    pub mu: Vec<f64>,
    /// Number of patches P.
    pub patches: usize,
    /// Patch dimension d.
    pub d: usize,
}

impl Dataset {
    /// Number of training samples.
    pub fn n(&self) -> usize {
        self.y.len()
    }

    /// Number of test samples.
    pub fn n_test(&self) -> usize {
        self.y_test.len()
    }

    /// Draws a data set from `config` (validated first). Same config ⇒ identical data.
    pub fn generate(config: &DataConfig) -> Result<Self> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let d = config.d;
        let unit = unit_direction(config.mu_direction, d, &mut rng);
        let norm = config.snr * config.sigma_p * (d as f64).sqrt();
        let mu: Vec<f64> = unit.iter().map(|u| u * norm).collect();
        let sampler = Sampler {
            unit: &unit,
            mu: &mu,
            config,
        };
        let (x, y) = sampler.draw(config.n, &mut rng);
        let (x_test, y_test) = sampler.draw(config.n_test, &mut rng);
        let forget = choose_forget(config, &y, &mut rng);
        Ok(Self {
            x,
            y,
            forget,
            x_test,
            y_test,
            mu,
            patches: config.patches,
            d,
        })
    }
}

/// A unit vector in R^d: e_1, or uniform on the sphere.
fn unit_direction(direction: MuDirection, d: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    match direction {
        MuDirection::E1 => {
            let mut e = vec![0.0; d];
            e[0] = 1.0;
            e
        }
        MuDirection::Random => {
            let v: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            v.iter().map(|a| a / norm).collect()
        }
    }
}

/// Draws labelled samples around a fixed μ.
struct Sampler<'a> {
    unit: &'a [f64],
    mu: &'a [f64],
    config: &'a DataConfig,
}

impl Sampler<'_> {
    /// `count` samples: inputs [count, P, d] and (possibly flipped) labels \[count\].
    fn draw(&self, count: usize, rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        let (d, p) = (self.config.d, self.config.patches);
        let mut x = Vec::with_capacity(count * p * d);
        let mut y = Vec::with_capacity(count);
        for _ in 0..count {
            let label = if rng.random::<bool>() { 1.0 } else { -1.0 };
            x.extend(self.mu.iter().map(|m| label * m));
            for _ in 1..p {
                x.extend(self.noise(rng));
            }
            let flipped = rng.random::<f64>() < self.config.label_flip;
            y.push(if flipped { -label } else { label });
        }
        (x, y)
    }

    /// ξ ~ N(0, σ_p²(I − uuᵀ)): a Gaussian vector with its component along u removed.
    fn noise(&self, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let sigma = self.config.sigma_p;
        let mut xi: Vec<f64> = (0..self.config.d)
            .map(|_| sigma * rng.sample::<f64, _>(StandardNormal))
            .collect();
        let along: f64 = xi.iter().zip(self.unit).map(|(a, u)| a * u).sum();
        for (a, u) in xi.iter_mut().zip(self.unit) {
            *a -= along * u;
        }
        xi
    }
}

/// Marks the forget samples: uniformly at random among the eligible ones.
fn choose_forget(config: &DataConfig, y: &[f64], rng: &mut ChaCha8Rng) -> Vec<bool> {
    let eligible: Vec<usize> = (0..y.len())
        .filter(|&i| match config.forget_from {
            ForgetFrom::Random => true,
            ForgetFrom::Positive => y[i] > 0.0,
            ForgetFrom::Negative => y[i] < 0.0,
        })
        .collect();
    let count = config.forget_count().min(eligible.len());
    let mut forget = vec![false; y.len()];
    for k in sample(rng, eligible.len(), count) {
        forget[eligible[k]] = true;
    }
    forget
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(snr: f64, seed: u64) -> DataConfig {
        DataConfig {
            n: 400,
            n_test: 10,
            d: 50,
            patches: 3,
            snr,
            mu_direction: MuDirection::Random,
            seed,
            ..DataConfig::default()
        }
    }

    #[test]
    fn signal_patch_is_label_times_mu_and_noise_is_orthogonal() {
        let cfg = DataConfig {
            label_flip: 0.0,
            ..config(0.7, 3)
        };
        let data = Dataset::generate(&cfg).unwrap();
        let (p, d) = (cfg.patches, cfg.d);
        let mu_norm = data.mu.iter().map(|a| a * a).sum::<f64>().sqrt();
        let expected = cfg.snr * cfg.sigma_p * (d as f64).sqrt();
        assert!(
            (mu_norm - expected).abs() < 1e-12,
            "rust={mu_norm}, reference={expected}"
        );
        for i in 0..cfg.n {
            let sample = &data.x[i * p * d..(i + 1) * p * d];
            for (s, m) in sample[..d].iter().zip(&data.mu) {
                assert_eq!(*s, data.y[i] * m);
            }
            for patch in 1..p {
                let xi = &sample[patch * d..(patch + 1) * d];
                let dot: f64 = xi.iter().zip(&data.mu).map(|(a, b)| a * b).sum();
                assert!(
                    dot.abs() / mu_norm < 1e-9,
                    "|<xi, mu>|/|mu| = {}",
                    dot.abs() / mu_norm
                );
            }
        }
    }

    #[test]
    fn noise_variance_per_coordinate_is_sigma_squared_times_d_minus_1_over_d() {
        let cfg = DataConfig {
            n: 2000,
            patches: 2,
            d: 40,
            sigma_p: 1.5,
            ..config(0.3, 11)
        };
        let data = Dataset::generate(&cfg).unwrap();
        let (p, d) = (cfg.patches, cfg.d);
        let mut sum_sq = 0.0;
        let mut count = 0.0;
        for i in 0..cfg.n {
            let xi = &data.x[(i * p + 1) * d..(i * p + 2) * d];
            sum_sq += xi.iter().map(|a| a * a).sum::<f64>();
            count += d as f64;
        }
        let empirical = sum_sq / count;
        let expected = cfg.sigma_p.powi(2) * (d as f64 - 1.0) / d as f64;
        assert!(
            (empirical / expected - 1.0).abs() < 0.05,
            "rust={empirical}, reference={expected}"
        );
    }

    #[test]
    fn same_seed_same_data_different_seed_different_data() {
        let a = Dataset::generate(&config(0.2, 5)).unwrap();
        let b = Dataset::generate(&config(0.2, 5)).unwrap();
        let c = Dataset::generate(&config(0.2, 6)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.x, c.x);
        assert_ne!(a.y, c.y);
    }

    #[test]
    fn label_flips_happen_at_the_configured_rate() {
        let rate = 0.2;
        let cfg = DataConfig {
            n: 5000,
            n_test: 0,
            d: 4,
            label_flip: rate,
            mu_direction: MuDirection::E1,
            snr: 1.0,
            ..config(1.0, 9)
        };
        let data = Dataset::generate(&cfg).unwrap();
        // The signal patch carries the true label: y·μ with μ = ‖μ‖e_1.
        let stride = cfg.patches * cfg.d;
        let flips = (0..cfg.n)
            .filter(|&i| (data.x[i * stride] > 0.0) != (data.y[i] > 0.0))
            .count() as f64;
        let observed = flips / cfg.n as f64;
        let stderr = (rate * (1.0 - rate) / cfg.n as f64).sqrt();
        assert!(
            (observed - rate).abs() < 3.0 * stderr,
            "rust={observed}, reference={rate} ± {}",
            3.0 * stderr
        );
    }

    #[test]
    fn forget_set_has_the_requested_size_and_class() {
        let cfg = DataConfig {
            n_forget: 7,
            forget_from: ForgetFrom::Negative,
            ..config(0.5, 2)
        };
        let data = Dataset::generate(&cfg).unwrap();
        let chosen: Vec<usize> = (0..cfg.n).filter(|&i| data.forget[i]).collect();
        assert_eq!(chosen.len(), 7);
        assert!(chosen.iter().all(|&i| data.y[i] < 0.0));
        let frac = DataConfig {
            forget_fraction: Some(0.25),
            ..config(0.5, 2)
        };
        assert_eq!(frac.forget_count(), 100);
    }

    #[test]
    fn bad_configs_name_their_field() {
        let cases = [
            (
                DataConfig {
                    n: 0,
                    ..DataConfig::default()
                },
                "data.n",
            ),
            (
                DataConfig {
                    d: 0,
                    ..DataConfig::default()
                },
                "data.d",
            ),
            (
                DataConfig {
                    snr: -1.0,
                    ..DataConfig::default()
                },
                "data.snr",
            ),
            (
                DataConfig {
                    n_forget: 101,
                    ..DataConfig::default()
                },
                "data.n_forget",
            ),
            (
                DataConfig {
                    label_flip: 0.9,
                    ..DataConfig::default()
                },
                "data.label_flip",
            ),
        ];
        for (cfg, field) in cases {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err} should name {field}");
        }
    }
}
