//! One unlearning run from a [`Setup`], its records and its success criteria.
//!
//! A run takes up to `steps` steps of the [`Stepper`]. After every step ‖w − w*‖ is read
//! back (one scalar): a non-finite value ends the run as "diverged at step k", never a
//! panic; exceeding `escape_factor`·‖w*‖ marks the run as escaped (and ends it when
//! `stop_at_escape`). Every `record_every` steps, at an escape stop and at the end the
//! model is measured ([`Snapshot`]); a non-finite measurement also ends the run as
//! diverged. The final snapshot is the last finite one (the parameters of step k − 1 when
//! step k produced non-finite parameters).
//!
//! Success criteria, each judged on the final snapshot:
//! - (a) **deletion**: the membership-inference attack strength max(AUC, 1 − AUC) is near
//!   0.5, at most `attack_strength_max` (by default the 95 % quantile of the strength when
//!   forget and test losses come from one distribution, for the setup's sizes: what a model
//!   that never saw F reaches by chance). Forget losses far above the test losses
//!   (AUC ≪ 0.5) reveal membership as well and are not deletion;
//! - (b) **escape**: ‖w − w*‖ > `escape_factor`·‖w*‖ at some step, or divergence;
//! - (c) **useful**: (a) or (b), with retain accuracy ≥ `retain_accuracy_min`;
//! - and, reported beside them, **forget loss reached**: forget loss ≥ the retrain
//!   reference's forget loss (the former deletion criterion; a relative level that an
//!   overshooting ascent meets while it makes F more recognisable, not less).

use frontier_model::Model;
use frontier_stability::Settings;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};
use crate::outcome::{Snapshot, norm};
use crate::setup::Setup;
use crate::update::Stepper;

/// How to unlearn. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnlearnConfig {
    /// The step: η, α, B_r, B_f (None = B_r) and the batch sampling scheme.
    pub step: Settings,
    /// Step budget (≥ 1).
    pub steps: usize,
    /// Measure every this many steps (≥ 1).
    pub record_every: usize,
    /// Escape when ‖w − w*‖ > escape_factor·‖w*‖ (> 0).
    pub escape_factor: f64,
    /// Stop the run at the first escape.
    pub stop_at_escape: bool,
    /// Retain accuracy needed for the useful kind of success, in [0, 1].
    pub retain_accuracy_min: f64,
    /// A run deletes when its MIA attack strength max(AUC, 1 − AUC) is at most this, in
    /// [0.5, 1]. Default (absent): the 95 % quantile of the strength when forget and test
    /// losses come from one distribution, for the setup's forget and test sizes (≈ 0.68 for
    /// 10 forget and 200 test samples), see [`crate::mia::null_strength_95`].
    pub attack_strength_max: Option<f64>,
}

impl Default for UnlearnConfig {
    /// η = 0.5, α = 0.5, B = 5 without replacement, 200 steps recorded every 20, escape at
    /// ‖w − w*‖ > ‖w*‖ (then stop), useful success needs retain accuracy ≥ 0.9.
    fn default() -> Self {
        UnlearnConfig {
            step: Settings::new(0.5, 0.5, 5),
            steps: 200,
            record_every: 20,
            escape_factor: 1.0,
            stop_at_escape: true,
            retain_accuracy_min: 0.9,
            attack_strength_max: None,
        }
    }
}

impl UnlearnConfig {
    /// Checks the fields that do not depend on the data (the step settings are checked
    /// against the set sizes when a run starts).
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 {
            return Err(invalid("unlearn.steps", "must be at least 1, got 0"));
        }
        if self.record_every == 0 {
            return Err(invalid("unlearn.record_every", "must be at least 1, got 0"));
        }
        if !(self.escape_factor > 0.0 && self.escape_factor.is_finite()) {
            return Err(invalid(
                "unlearn.escape_factor",
                format!("must be a finite number > 0, got {}", self.escape_factor),
            ));
        }
        if !(0.0..=1.0).contains(&self.retain_accuracy_min) {
            return Err(invalid(
                "unlearn.retain_accuracy_min",
                format!("must lie in [0, 1], got {}", self.retain_accuracy_min),
            ));
        }
        if let Some(s) = self.attack_strength_max
            && !(0.5..=1.0).contains(&s)
        {
            return Err(invalid(
                "unlearn.attack_strength_max",
                format!("must lie in [0.5, 1], got {s}"),
            ));
        }
        Ok(())
    }
}

/// Which success criteria a run met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Success {
    /// (a) MIA attack strength ≤ the deletion level (near 0.5).
    pub deletion: bool,
    /// (b) ‖w − w*‖ exceeded escape_factor·‖w*‖, or the run diverged.
    pub escape: bool,
    /// (c) (a) or (b) with retain accuracy ≥ the threshold.
    pub useful: bool,
    /// Forget loss ≥ the retrain reference's forget loss (not deletion by itself).
    pub forget_loss_reached: bool,
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// Steps taken (≤ the budget).
    pub steps: usize,
    /// The first step at which a value became non-finite.
    pub diverged_at: Option<usize>,
    /// The first step with ‖w − w*‖ > escape_factor·‖w*‖.
    pub escaped_at: Option<usize>,
    /// The records, in step order (not including step 0; see [`Setup::start`]).
    pub history: Vec<Snapshot>,
    /// The last finite snapshot: what the criteria judge.
    pub last: Snapshot,
    /// The criteria.
    pub success: Success,
}

impl RunOutcome {
    /// "diverged at step k" or "escaped at step k" or "stayed for N steps".
    pub fn describe(&self) -> String {
        match (self.diverged_at, self.escaped_at) {
            (Some(k), _) => format!("diverged at step {k}"),
            (None, Some(k)) => format!("escaped at step {k}"),
            (None, None) => format!("stayed for {} steps", self.steps),
        }
    }
}

/// Unlearns from `setup` with `cfg`, batches drawn from `rng`.
pub fn unlearn<M: Model, R: Rng>(
    setup: &Setup<M>,
    cfg: &UnlearnConfig,
    rng: &mut R,
) -> Result<RunOutcome> {
    unlearn_model(setup, cfg, rng).map(|(_, outcome)| outcome)
}

/// [`unlearn`], also returning the unlearned model (after a divergence at step k, the
/// parameters of step k − 1).
pub fn unlearn_model<M: Model, R: Rng>(
    setup: &Setup<M>,
    cfg: &UnlearnConfig,
    rng: &mut R,
) -> Result<(M, RunOutcome)> {
    cfg.validate()?;
    let mut stepper = Stepper::new(cfg.step, &setup.data.forget)?;
    let mut tracker = Tracker::new(cfg, setup.start_norm);
    let mut model = setup.model.clone();
    for k in 1..=cfg.steps {
        let previous = model.params();
        stepper.step(&mut model, setup.loss, &setup.data.x, &setup.data.y, rng);
        let distance = norm(model.params() - setup.anchors.start.clone());
        if let Some(at) = tracker.stepped(k, distance) {
            if at < k {
                model.set_params(previous);
            }
            let snapshot = Snapshot::measure(&model, setup.loss, &setup.data, &setup.anchors, at);
            tracker.measured(snapshot);
        }
        if tracker.finished() {
            break;
        }
    }
    Ok((model, tracker.judge(setup)))
}

/// The bookkeeping of one run, shared by [`unlearn`] and the batched
/// [`crate::batch::unlearn_many`]: after each step it is told ‖w − w*‖ and says which
/// parameters to measure; at the end it judges the criteria.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    cfg: UnlearnConfig,
    /// escape_factor·‖w*‖.
    threshold: f64,
    steps: usize,
    diverged_at: Option<usize>,
    escaped_at: Option<usize>,
    history: Vec<Snapshot>,
    finished: bool,
}

impl Tracker {
    /// A run with `cfg` from a w* of norm `start_norm`.
    pub(crate) fn new(cfg: &UnlearnConfig, start_norm: f64) -> Tracker {
        Tracker {
            cfg: cfg.clone(),
            threshold: cfg.escape_factor * start_norm,
            steps: 0,
            diverged_at: None,
            escaped_at: None,
            history: Vec::new(),
            finished: false,
        }
    }

    /// Step `k` was taken and ‖w − w*‖ = `distance` read back. Returns the step whose
    /// parameters must now be measured (and the result passed to [`Tracker::measured`]):
    /// `k` at a record, an escape stop and the budget's end; `k − 1` when `distance` is not
    /// finite: the run has diverged at step k, and the caller must restore the parameters of
    /// step k − 1 (they stay the run's parameters).
    pub(crate) fn stepped(&mut self, k: usize, distance: f64) -> Option<usize> {
        self.steps = k;
        if !distance.is_finite() {
            self.diverged_at = Some(k);
            self.finished = true;
            return Some(k - 1);
        }
        let escaped = distance > self.threshold;
        if escaped {
            self.escaped_at.get_or_insert(k);
        }
        let stop = escaped && self.cfg.stop_at_escape;
        self.finished = stop || k == self.cfg.steps;
        (k.is_multiple_of(self.cfg.record_every) || self.finished).then_some(k)
    }

    /// The snapshot asked for by the last [`Tracker::stepped`]. After a divergence it is kept
    /// when finite and not recorded already; otherwise a non-finite snapshot ends the run as
    /// diverged at this step.
    pub(crate) fn measured(&mut self, snapshot: Snapshot) {
        if self.diverged_at.is_some() {
            if snapshot.is_finite() && self.history.last().is_none_or(|h| h.step < snapshot.step) {
                self.history.push(snapshot);
            }
        } else if snapshot.is_finite() {
            self.history.push(snapshot);
        } else {
            self.diverged_at = Some(self.steps);
            self.finished = true;
        }
    }

    /// Whether the run has ended (budget, escape stop or divergence).
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    /// The outcome, the criteria judged on the last finite snapshot (w* itself when there
    /// is none) against `setup`'s retrain reference.
    pub(crate) fn judge<M>(self, setup: &Setup<M>) -> RunOutcome {
        let last = self.history.last().unwrap_or(&setup.start).clone();
        let level = self
            .cfg
            .attack_strength_max
            .unwrap_or(setup.attack_strength_null);
        let deletion = last.attack_strength <= level;
        let escape = self.escaped_at.is_some() || self.diverged_at.is_some();
        let success = Success {
            deletion,
            escape,
            useful: (deletion || escape) && last.retain_accuracy >= self.cfg.retain_accuracy_min,
            forget_loss_reached: last.forget_loss >= setup.retrained.forget_loss,
        };
        RunOutcome {
            steps: self.steps,
            diverged_at: self.diverged_at,
            escaped_at: self.escaped_at,
            history: self.history,
            last,
            success,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::setup::SetupConfig;
    use crate::update::gradient_ascent;
    use burn::tensor::Device;
    use frontier_model::{Cnn, CnnConfig, DataConfig, Loss, Precision, TrainConfig};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// n = 30, d = 60 (d ≫ n), m = 4, P = 2, 6 forget samples, logistic, f32.
    pub(crate) fn tiny(snr: f64) -> SetupConfig {
        SetupConfig {
            data: DataConfig {
                n: 30,
                n_test: 30,
                d: 60,
                n_forget: 6,
                snr,
                ..DataConfig::default()
            },
            model: CnnConfig {
                m: 4,
                ..CnnConfig::default()
            },
            pretrain: TrainConfig {
                loss: Loss::Logistic,
                eta: 1.0,
                max_steps: 1000,
                loss_tol: 0.01,
                ..TrainConfig::default()
            },
            precision: Precision::F32,
        }
    }

    fn setup(cfg: &SetupConfig) -> Setup<Cnn> {
        cfg.prepare(&Device::flex()).unwrap()
    }

    /// The [`tiny`] setup at `snr` with its tensors in `precision`.
    pub(crate) fn tiny_setup(snr: f64, precision: Precision) -> Setup<Cnn> {
        let mut cfg = tiny(snr);
        cfg.precision = precision;
        setup(&cfg)
    }

    #[test]
    fn descent_only_with_small_eta_stays_at_w_star() {
        let s = setup(&tiny(0.05));
        let cfg = UnlearnConfig {
            step: Settings::new(0.01, 0.0, 5),
            steps: 40,
            ..UnlearnConfig::default()
        };
        let out = unlearn(&s, &cfg, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        assert_eq!(out.steps, 40);
        assert_eq!(
            (out.diverged_at, out.escaped_at),
            (None, None),
            "{}",
            out.describe()
        );
        let relative = out.last.distance / s.start_norm;
        assert!(relative < 1e-2, "‖w − w*‖/‖w*‖ = {relative}");
        assert!(
            !out.success.escape && !out.success.deletion,
            "{:?}",
            out.success
        );
        assert_eq!(out.history.len(), 2, "records at steps 20 and 40");
    }

    #[test]
    fn pure_ascent_on_a_memorised_forget_set_raises_the_forget_loss() {
        let s = setup(&tiny(0.05));
        assert!(s.pretrain.converged, "{:?}", s.pretrain);
        assert!(s.start.forget_loss < 0.05, "memorised: {:?}", s.start);
        let cfg = UnlearnConfig {
            step: gradient_ascent(5.0, 3),
            steps: 40,
            record_every: 10,
            stop_at_escape: false,
            ..UnlearnConfig::default()
        };
        let out = unlearn(&s, &cfg, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
        assert!(
            out.last.forget_loss > 10.0 * s.start.forget_loss,
            "forget loss {} → {}",
            s.start.forget_loss,
            out.last.forget_loss
        );
        assert!(
            out.success.forget_loss_reached,
            "reference {:?}, last {:?}",
            s.retrained, out.last
        );
        assert!(
            out.last.mia_auc < s.start.mia_auc,
            "{:?} vs {:?}",
            out.last,
            s.start
        );
        // Forget losses above the test losses: AUC below 0.5 reveals membership as well as
        // AUC above 0.5 does; the attack strength counts both. With 6 forget and 30 test
        // samples the chance level is wide (null 95 % quantile ≈ 0.76).
        let strength = out.last.attack_strength;
        assert!(
            out.last.mia_auc < 0.5 && strength == 1.0 - out.last.mia_auc,
            "{:?}",
            out.last
        );
        assert_eq!(
            out.success.deletion,
            strength <= s.attack_strength_null,
            "strength {strength} vs null level {}",
            s.attack_strength_null
        );
        let strict = UnlearnConfig {
            attack_strength_max: Some(0.6),
            ..cfg
        };
        let again = unlearn(&s, &strict, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
        assert_eq!(again.last, out.last);
        assert!(
            !again.success.deletion && again.success.forget_loss_reached,
            "strength {strength} > 0.6: {:?}",
            again.success
        );
    }

    #[test]
    fn non_finite_values_end_the_run_as_diverged_at_step_k() {
        let mut cfg = tiny(1.0);
        cfg.pretrain.loss = Loss::Squared;
        cfg.pretrain.eta = 0.02;
        let s = setup(&cfg);
        let run = UnlearnConfig {
            step: gradient_ascent(1e4, 6),
            steps: 100,
            stop_at_escape: false,
            ..UnlearnConfig::default()
        };
        let out = unlearn(&s, &run, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
        let k = out
            .diverged_at
            .expect("squared-loss ascent with η = 1e4 overflows f32");
        assert!(out.describe().starts_with(&format!("diverged at step {k}")));
        assert!(out.steps == k && k < 100);
        assert!(out.last.is_finite() && out.last.step < k, "{:?}", out.last);
        assert!(out.success.escape);
    }
}
