//! Forget sets that mean something on real data (see `docs/science.md`, "Real data"):
//!
//! - **random**: a uniform sample of the training set;
//! - **mislabelled**: a uniform sample whose ±1 labels are flipped *before* pre-training, so
//!   the model can fit them only by memorising them;
//! - **sub-class**: every training sample of one class (e.g. every 3 of the digits), coherent
//!   within the forget set and with the rest of its binary class;
//! - **atypical**: the samples with the largest held-out loss under k-fold cross-fitting (k
//!   models, each pre-trained without one fold, score the fold they did not see): the samples
//!   the model has to memorise;
//! - **mask**: the `forget` tensor of a data file, as given.
//!
//! Selection is seeded and deterministic; [`ForgetSet`] records what was chosen and why, and
//! is written with every run.

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};

/// How the forget set is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForgetKind {
    /// The data file's own `forget` mask.
    Mask,
    /// Uniformly at random.
    Random,
    /// Uniformly at random, labels flipped before pre-training.
    Mislabelled,
    /// Every training sample of one class.
    #[serde(alias = "subclass")]
    SubClass,
    /// The largest held-out losses under k-fold cross-fitting.
    Atypical,
}

impl ForgetKind {
    /// The config value, e.g. "sub-class".
    pub fn name(self) -> &'static str {
        match self {
            ForgetKind::Mask => "mask",
            ForgetKind::Random => "random",
            ForgetKind::Mislabelled => "mislabelled",
            ForgetKind::SubClass => "sub-class",
            ForgetKind::Atypical => "atypical",
        }
    }
}

impl std::str::FromStr for ForgetKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "mask" => ForgetKind::Mask,
            "random" => ForgetKind::Random,
            "mislabelled" => ForgetKind::Mislabelled,
            "sub-class" | "subclass" => ForgetKind::SubClass,
            "atypical" => ForgetKind::Atypical,
            other => {
                return Err(format!(
                    "unknown forget kind `{other}`: expected mask, random, mislabelled, \
                     sub-class or atypical"
                ));
            }
        })
    }
}

/// How to choose the forget set of a data file (the `[data.forget]` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForgetConfig {
    /// The kind; default: "mask" when the file holds a `forget` tensor, else "random".
    pub kind: Option<ForgetKind>,
    /// Number of forget samples (random, mislabelled, atypical); default: `fraction` of the
    /// training set, rounded. Not used by sub-class (the class decides) nor mask.
    pub count: Option<usize>,
    /// Fraction of the training set to forget when `count` is not given, in (0, 1).
    pub fraction: f64,
    /// The class forgotten by sub-class (a class id of the file's `y`).
    pub class: Option<u32>,
    /// Folds k of the atypical kind's cross-fitting (≥ 2).
    pub folds: usize,
}

impl Default for ForgetConfig {
    /// Random, 10 % of the training set; 5 folds for atypical.
    fn default() -> Self {
        Self {
            kind: None,
            count: None,
            fraction: 0.1,
            class: None,
            folds: 5,
        }
    }
}

impl ForgetConfig {
    /// Checks the fields that do not depend on the data.
    pub fn validate(&self) -> Result<()> {
        if !(self.fraction > 0.0 && self.fraction < 1.0) {
            return Err(invalid(
                "data.forget.fraction",
                format!("must lie in (0, 1), got {}", self.fraction),
            ));
        }
        if self.folds < 2 {
            return Err(invalid(
                "data.forget.folds",
                format!("must be at least 2, got {}", self.folds),
            ));
        }
        let kind = self.kind.unwrap_or(ForgetKind::Random);
        if kind == ForgetKind::SubClass && self.class.is_none() {
            return Err(invalid(
                "data.forget.class",
                "must name the class to forget when data.forget.kind = \"sub-class\"",
            ));
        }
        if kind != ForgetKind::SubClass && self.class.is_some() {
            return Err(invalid(
                "data.forget.class",
                format!(
                    "applies to data.forget.kind = \"sub-class\" only, not \"{}\"",
                    kind.name()
                ),
            ));
        }
        if matches!(kind, ForgetKind::SubClass | ForgetKind::Mask) && self.count.is_some() {
            return Err(invalid(
                "data.forget.count",
                format!(
                    "does not apply to data.forget.kind = \"{}\" (the {} decides the forget set)",
                    kind.name(),
                    if kind == ForgetKind::Mask {
                        "file's mask"
                    } else {
                        "class"
                    }
                ),
            ));
        }
        Ok(())
    }

    /// The number of forget samples for a training set of `n` (random, mislabelled,
    /// atypical); errors unless 1 ≤ count < n.
    pub fn count_for(&self, n: usize) -> Result<usize> {
        let count = self
            .count
            .unwrap_or_else(|| (self.fraction * n as f64).round() as usize);
        if count == 0 || count >= n {
            return Err(invalid(
                "data.forget.count",
                format!(
                    "must lie in [1, {}) for {n} training samples, got {count}",
                    n
                ),
            ));
        }
        Ok(count)
    }
}

/// The forget set of a run: which training samples, and how they were chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForgetSet {
    /// How they were chosen.
    pub kind: ForgetKind,
    /// Their indices in the training set, ascending.
    pub indices: Vec<usize>,
    /// The class forgotten (sub-class only).
    pub class: Option<u32>,
    /// The held-out loss of every training sample under cross-fitting (atypical only), in
    /// training order: what the choice ranked.
    pub held_out_loss: Option<Vec<f64>>,
}

impl ForgetSet {
    /// A set of `kind` with `indices` (sorted here) and nothing else recorded.
    pub fn new(kind: ForgetKind, mut indices: Vec<usize>) -> Self {
        indices.sort_unstable();
        Self {
            kind,
            indices,
            class: None,
            held_out_loss: None,
        }
    }

    /// The membership mask of a training set of `n` samples.
    pub fn mask(&self, n: usize) -> Vec<bool> {
        let mut mask = vec![false; n];
        for &i in &self.indices {
            mask[i] = true;
        }
        mask
    }
}

/// `count` distinct indices of 0..n, uniformly at random from `seed`, ascending.
pub fn random_indices(n: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chosen = sample(&mut rng, n, count.min(n)).into_vec();
    chosen.sort_unstable();
    chosen
}

/// Every index whose class is `class`, ascending.
pub fn class_indices(classes: &[u32], class: u32) -> Vec<usize> {
    (0..classes.len())
        .filter(|&i| classes[i] == class)
        .collect()
}

/// The fold (0..k) of each of n samples: a seeded shuffle dealt round-robin, so fold sizes
/// differ by at most one.
pub fn fold_assignment(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let order = random_indices_permutation(n, seed);
    let mut fold = vec![0; n];
    for (position, &i) in order.iter().enumerate() {
        fold[i] = position % k;
    }
    fold
}

/// A seeded permutation of 0..n.
pub fn random_indices_permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    sample(&mut rng, n, n).into_vec()
}

/// The `count` indices with the largest `scores`, ascending (ties broken by lower index).
pub fn largest(scores: &[f64], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(count);
    order.sort_unstable();
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_print() {
        for kind in [
            ForgetKind::Mask,
            ForgetKind::Random,
            ForgetKind::Mislabelled,
            ForgetKind::SubClass,
            ForgetKind::Atypical,
        ] {
            assert_eq!(kind.name().parse::<ForgetKind>().unwrap(), kind);
        }
        assert_eq!("subclass".parse::<ForgetKind>(), Ok(ForgetKind::SubClass));
        assert!("typo".parse::<ForgetKind>().unwrap_err().contains("typo"));
    }

    #[test]
    fn random_choices_are_seeded_distinct_and_sorted() {
        let a = random_indices(50, 10, 3);
        assert_eq!(a, random_indices(50, 10, 3));
        assert_ne!(a, random_indices(50, 10, 4));
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a[9] < 50);
    }

    #[test]
    fn folds_are_balanced_and_cover_every_sample() {
        let folds = fold_assignment(23, 5, 1);
        let sizes: Vec<usize> = (0..5)
            .map(|k| folds.iter().filter(|&&f| f == k).count())
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), 23);
        assert!(sizes.iter().all(|&s| s == 4 || s == 5), "{sizes:?}");
    }

    #[test]
    fn largest_scores_win_ties_by_index() {
        assert_eq!(largest(&[0.1, 3.0, 2.0, 3.0, -1.0], 3), vec![1, 2, 3]);
        assert_eq!(largest(&[1.0, 1.0, 1.0], 2), vec![0, 1]);
        assert_eq!(class_indices(&[3, 8, 3, 1], 3), vec![0, 2]);
    }

    #[test]
    fn configs_name_the_bad_field() {
        let bad = |cfg: ForgetConfig, field: &str| {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err} should name {field}");
        };
        bad(
            ForgetConfig {
                kind: Some(ForgetKind::SubClass),
                ..ForgetConfig::default()
            },
            "data.forget.class",
        );
        bad(
            ForgetConfig {
                class: Some(3),
                ..ForgetConfig::default()
            },
            "data.forget.class",
        );
        bad(
            ForgetConfig {
                fraction: 1.0,
                ..ForgetConfig::default()
            },
            "data.forget.fraction",
        );
        bad(
            ForgetConfig {
                folds: 1,
                ..ForgetConfig::default()
            },
            "data.forget.folds",
        );
        let cfg = ForgetConfig::default();
        assert_eq!(cfg.count_for(1437).unwrap(), 144);
        let err = ForgetConfig {
            count: Some(10),
            ..cfg
        }
        .count_for(10)
        .unwrap_err();
        assert!(err.to_string().contains("data.forget.count"), "{err}");
    }
}
