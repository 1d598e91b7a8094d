//! Many unlearning runs advanced together as batched tensors (a whole grid at once).
//!
//! On a GPU every small kernel costs about a millisecond of launch and synchronisation, so
//! running R runs one after the other costs R times the launches of one. Here the parameters
//! of all runs are one [R, p] tensor, and each step is a fixed handful of kernels whatever R:
//!
//! 1. on the host, each active run draws its batches with its own [`Stepper`] and random
//!    stream (the very draws [`unlearn`](crate::run::unlearn) makes), padded with zero
//!    weights to K, the longest batch rounded up by [`shape_bucket`]; the rows index the
//!    training data of all setups stacked (each setup at its row offset);
//! 2. one gather of x [R, K, P, d] and y [R, K], one [`Model::loss_grads_many`], one update
//!    w_r ← w_r − η_r·g_r;
//! 3. one read of ‖w_r − w*_r‖ for all runs (the only host synchronisation of a plain step),
//!    fed to each run's `Tracker`, the bookkeeping [`unlearn`](crate::run::unlearn) uses;
//! 4. when runs record, per setup one [`Model::scores_many`] on its training and test rows,
//!    then the shared [`Snapshot`] code on the host.
//!
//! A finished run keeps its row with zero weights (no movement, no kernels of its own);
//! the batch shrinks by [`shrink_to_bucket`] (at most log₂ R shape changes). Every varying
//! size (K, the rows kept, the runs measured together) is a [`shape_bucket`] size, so a GPU
//! compiles and tunes few kernel shapes. A run whose step is non-finite is put back to its
//! previous parameters and reported as diverged at that step, as in the one-run path.
//!
//! On the CPU every run gives the outcome of [`unlearn`](crate::run::unlearn) with the same
//! setup, config and stream, up to floating-point summation order (the batched kernels add
//! in another order): equal to ~1e-12 relative in f64 (tested), and to the f32 rounding
//! level in f32, which chaotic escape dynamics may amplify in the reported metrics.

use std::time::Instant;

use burn::tensor::{Bool, Tensor, TensorData};
use frontier_model::{
    Loss, Model, Precision, index_tensor, shape_bucket, shrink_to_bucket, tensor_from, to_f64,
};
use rand::Rng;

use crate::error::{Result, invalid};
use crate::outcome::{Samples, Snapshot, row_norms};
use crate::run::{RunOutcome, Tracker, UnlearnConfig};
use crate::setup::Setup;
use crate::update::Stepper;

/// One run of a batch.
#[derive(Debug, Clone)]
pub struct BatchRun<R> {
    /// Index of its setup in the slice given to [`unlearn_many`].
    pub setup: usize,
    /// How it unlearns.
    pub config: UnlearnConfig,
    /// Its batch stream (e.g. `seeds::stream(seed, cell, rep)`, as for the one-run path).
    pub rng: R,
}

/// Runs every run of `runs` from its setup (an index into `setups`), all advancing together;
/// outcomes in the order of `runs`. The setups must share the loss, the precision, the
/// input shape [P, d] and the model architecture (the first setup's model computes the
/// gradients of all runs). Errors name the field: a bad config, an unknown setup index, or
/// setups that differ.
pub fn unlearn_many<M: Model, R: Rng>(
    setups: &[&Setup<M>],
    runs: Vec<BatchRun<R>>,
) -> Result<Vec<RunOutcome>> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let mut batch = Batch::new(setups, runs)?;
    while batch.step().is_some() {}
    Ok(batch.finish())
}

/// The timing of batched steps by [`bench_step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepBench {
    /// Runs R advanced per step.
    pub runs: usize,
    /// Timed steps.
    pub steps: usize,
    /// Mean padded batch length K per run and step (retain plus forget rows).
    pub rows: f64,
    /// Mean wall time of one step, in seconds (host draws, kernels and the read-back).
    pub seconds: f64,
    /// Floating-point operations of one step's two matmuls for the CNN (mean over the timed
    /// steps): the pre-activations and the gradient, 2·R·K·P·d·2m = 2·R·K·P·p flops each.
    pub flops: f64,
}

impl StepBench {
    /// Matmul throughput in GFLOP/s.
    pub fn gflops(&self) -> f64 {
        self.flops / self.seconds / 1e9
    }
}

/// Times `steps` batched steps of `runs` (after one untimed warm-up step). Each config is
/// changed so that nothing records, stops or ends within the timed steps (no escape stop,
/// the budget and the record interval beyond them): every step advances all R runs (unless
/// some diverge: those are measured, then left out).
pub fn bench_step<M: Model, R: Rng>(
    setups: &[&Setup<M>],
    mut runs: Vec<BatchRun<R>>,
    steps: usize,
) -> Result<StepBench> {
    for run in &mut runs {
        run.config.steps = steps + 2;
        run.config.record_every = steps + 2;
        run.config.stop_at_escape = false;
    }
    let mut batch = Batch::new(setups, runs)?;
    batch.step();
    let (mut rows, mut flops) = (0.0, 0.0);
    let start = Instant::now();
    for _ in 0..steps {
        if let Some(cost) = batch.step() {
            rows += cost.rows as f64;
            flops += cost.flops() as f64;
        }
    }
    let steps_f = steps.max(1) as f64;
    Ok(StepBench {
        runs: batch.lanes.len(),
        steps,
        rows: rows / steps_f,
        seconds: start.elapsed().as_secs_f64() / steps_f,
        flops: flops / steps_f,
    })
}

/// One run's state on the host.
struct Lane<'s, M, R> {
    setup: &'s Setup<M>,
    /// Index of its setup.
    group: usize,
    /// Row offset of its setup's training data in the stacked data.
    offset: i64,
    stepper: Stepper,
    rng: R,
    tracker: Tracker,
}

/// The shape of one step: R rows advanced, K padded samples per row, P patches, p parameters.
#[derive(Debug, Clone, Copy)]
struct StepCost {
    runs: usize,
    rows: usize,
    patches: usize,
    params: usize,
}

impl StepCost {
    /// The CNN's two matmuls: 2 × 2·R·K·P·p flops.
    fn flops(&self) -> usize {
        4 * self.runs * self.rows * self.patches * self.params
    }
}

/// Every run's state, the parameters of the rows still in the batch on the device.
struct Batch<'s, M, R> {
    setups: &'s [&'s Setup<M>],
    lanes: Vec<Lane<'s, M, R>>,
    loss: Loss,
    precision: Precision,
    /// Training inputs of all setups stacked, [Σn, P, d], and their labels [Σn].
    x: Tensor<3>,
    y: Tensor<1>,
    /// The lane of each row of the tensors below.
    slots: Vec<usize>,
    /// Parameters, [W, p].
    params: Tensor<2>,
    /// Each row's w*, [W, p].
    starts: Tensor<2>,
    /// Each row's η, [W, 1].
    etas: Tensor<2>,
    /// The step about to be taken.
    k: usize,
}

impl<'s, M: Model, R: Rng> Batch<'s, M, R> {
    fn new(setups: &'s [&'s Setup<M>], runs: Vec<BatchRun<R>>) -> Result<Self> {
        let first = *setups
            .first()
            .ok_or_else(|| invalid("setups", "at least one setup is needed"))?;
        let shape = |s: &Setup<M>| {
            let [_, p, d] = s.data.x.dims();
            (
                s.loss,
                Precision::of(&s.data.y),
                p,
                d,
                s.model.param_count(),
            )
        };
        if let Some(other) = setups.iter().find(|s| shape(s) != shape(first)) {
            return Err(invalid(
                "setups",
                format!(
                    "must share the loss, precision, [P, d] and parameter count: {:?} vs {:?}",
                    shape(first),
                    shape(other)
                ),
            ));
        }
        if runs.is_empty() {
            return Err(invalid("runs", "at least one run is needed"));
        }
        let etas: Vec<f64> = runs.iter().map(|r| r.config.step.eta).collect();
        let mut offsets = Vec::with_capacity(setups.len());
        let mut total = 0;
        for s in setups {
            offsets.push(total as i64);
            total += s.data.y.dims()[0];
        }
        let lanes = runs
            .into_iter()
            .map(|run| {
                run.config.validate()?;
                let setup = *setups.get(run.setup).ok_or_else(|| {
                    invalid(
                        "runs.setup",
                        format!("{} is not below the {} setups", run.setup, setups.len()),
                    )
                })?;
                Ok(Lane {
                    setup,
                    group: run.setup,
                    offset: offsets[run.setup],
                    stepper: Stepper::new(run.config.step, &setup.data.forget)?,
                    rng: run.rng,
                    tracker: Tracker::new(&run.config, setup.start_norm),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let precision = Precision::of(&first.data.y);
        let device = first.data.y.device();
        let starts = Tensor::stack(
            lanes
                .iter()
                .map(|l| l.setup.anchors.start.clone())
                .collect(),
            0,
        );
        Ok(Batch {
            setups,
            loss: first.loss,
            precision,
            x: Tensor::cat(setups.iter().map(|s| s.data.x.clone()).collect(), 0),
            y: Tensor::cat(setups.iter().map(|s| s.data.y.clone()).collect(), 0),
            slots: (0..lanes.len()).collect(),
            params: starts.clone(),
            starts,
            etas: tensor_from(&etas, [etas.len(), 1], &device, precision),
            lanes,
            k: 1,
        })
    }

    /// Takes step k for every active run and measures those that record; None (and no
    /// work) once every run has finished.
    fn step(&mut self) -> Option<StepCost> {
        let mut active = self.active();
        if active.is_empty() {
            return None;
        }
        // Padding rows are finished ones (zero weights).
        let finished = |s: usize| self.lanes[self.slots[s]].tracker.finished();
        if let Some(keep) = shrink_to_bucket(&active, self.slots.len(), finished) {
            self.compact(&keep);
            active = self.active();
        }
        let k = self.k;
        let device = self.y.device();
        let [_, patches, d] = self.x.dims();
        let p = self.params.dims()[1];
        let w = self.slots.len();
        // 1. Each active run's draw, padded to the longest with zero weights.
        let mut draws = vec![(Vec::new(), Vec::new()); w];
        for &s in &active {
            let lane = &mut self.lanes[self.slots[s]];
            let (rows, weights) = lane.stepper.draw(&mut lane.rng);
            draws[s] = (
                rows.iter().map(|&i| i + lane.offset).collect(),
                weights.to_vec(),
            );
        }
        let rows = shape_bucket(draws.iter().map(|(r, _)| r.len()).max().unwrap_or(0));
        let mut index = vec![0i64; w * rows];
        let mut weights = vec![0.0; w * rows];
        for (s, (r, wt)) in draws.iter().enumerate() {
            index[s * rows..s * rows + r.len()].copy_from_slice(r);
            weights[s * rows..s * rows + wt.len()].copy_from_slice(wt);
        }
        // 2. Gather, one batched gradient, the update.
        let index = index_tensor(index, &device);
        let x = self
            .x
            .clone()
            .select(0, index.clone())
            .reshape([w, rows, patches, d]);
        let y = self.y.clone().select(0, index).reshape([w, rows]);
        let weights = tensor_from(&weights, [w, rows], &device, self.precision);
        let model = &self.setups[0].model;
        let grads = model.loss_grads_many(self.loss, self.params.clone(), x, y, weights);
        let next = self.params.clone() - grads * self.etas.clone();
        // 3. One read of every row's ‖w − w*‖.
        let distances = row_norms(next.clone() - self.starts.clone());
        let mut diverged = vec![false; w];
        let mut wanted = Vec::new();
        for &s in &active {
            if let Some(at) = self.lanes[self.slots[s]].tracker.stepped(k, distances[s]) {
                diverged[s] = at < k;
                wanted.push((s, at));
            }
        }
        self.params = if diverged.contains(&true) {
            let mask = Tensor::<2, Bool>::from_data(TensorData::new(diverged, [w, 1]), &device);
            next.mask_where(mask.expand([w, p]), self.params.clone())
        } else {
            next
        };
        // 4. The records, one group per setup.
        if !wanted.is_empty() {
            self.measure(&wanted);
        }
        self.k += 1;
        Some(StepCost {
            runs: w,
            rows,
            patches,
            params: p,
        })
    }

    /// Rows (slots) whose run has not finished.
    fn active(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&s| !self.lanes[self.slots[s]].tracker.finished())
            .collect()
    }

    /// Keeps only the rows `keep`.
    fn compact(&mut self, keep: &[usize]) {
        let index = index_tensor(
            keep.iter().map(|&s| s as i64).collect(),
            &self.params.device(),
        );
        self.params = self.params.clone().select(0, index.clone());
        self.starts = self.starts.clone().select(0, index.clone());
        self.etas = self.etas.clone().select(0, index);
        self.slots = keep.iter().map(|&s| self.slots[s]).collect();
    }

    /// Measures the rows `wanted` (row, step) at their current parameters and hands each
    /// snapshot to its run's tracker: per setup its kernels on its own data, then one host
    /// read for all of them.
    fn measure(&mut self, wanted: &[(usize, usize)]) {
        let device = self.params.device();
        let mut groups = Vec::new();
        let mut parts = Vec::new();
        for (g, setup) in self.setups.iter().enumerate() {
            let members: Vec<(usize, usize)> = wanted
                .iter()
                .copied()
                .filter(|&(s, _)| self.lanes[self.slots[s]].group == g)
                .collect();
            if members.is_empty() {
                continue;
            }
            // Padded to a bucket size by repeating the first row (its extra results are
            // dropped).
            let mut index: Vec<i64> = members.iter().map(|&(s, _)| s as i64).collect();
            let padded = shape_bucket(index.len());
            index.resize(padded, index[0]);
            let index = index_tensor(index, &device);
            parts.extend(snapshot_parts(setup, self.params.clone().select(0, index)));
            groups.push((setup, members, padded));
        }
        let values = to_f64(Tensor::cat(parts, 0));
        let mut at = 0;
        let mut take = |len: usize| {
            at += len;
            &values[at - len..at]
        };
        for (setup, members, padded) in groups {
            let (n, n_test) = (setup.data.n(), setup.data.y_test.dims()[0]);
            let samples = |loss: &[f64], margin: &[f64], len: usize| -> Vec<Samples> {
                (0..members.len())
                    .map(|r| {
                        let rows = r * len..(r + 1) * len;
                        Samples::from_parts(&loss[rows.clone()], &margin[rows])
                    })
                    .collect()
            };
            let train = samples(take(padded * n), take(padded * n), n);
            let test = samples(take(padded * n_test), take(padded * n_test), n_test);
            let (start, retrain) = (take(padded), take(padded));
            for (r, &(s, step)) in members.iter().enumerate() {
                let snapshot = Snapshot::from_samples(
                    step,
                    &setup.data.forget,
                    &train[r],
                    &test[r],
                    [start[r].sqrt(), retrain[r].sqrt()],
                    &setup.anchors.retrained,
                );
                self.lanes[self.slots[s]].tracker.measured(snapshot);
            }
        }
    }

    /// Every run's outcome, in run order.
    fn finish(self) -> Vec<RunOutcome> {
        self.lanes
            .into_iter()
            .map(|lane| lane.tracker.judge(lane.setup))
            .collect()
    }
}

/// The device side of the snapshots of the runs of `setup` at parameters `params` [G, p]
/// (one [`Model::scores_many`] on the training rows and one on the test rows), flat, in
/// this order: the training losses and margins [G·n] each, the test losses and margins
/// [G·n_test] each (see [`Samples::on_device`]; none for an empty set), and the squared
/// distances to w* and to w_retrain, \[G\] each.
fn snapshot_parts<M: Model>(setup: &Setup<M>, params: Tensor<2>) -> Vec<Tensor<1>> {
    let runs = params.dims()[0];
    let samples = |x: &Tensor<3>, y: &Tensor<1>| {
        let n = y.dims()[0];
        let f = setup
            .model
            .scores_many(params.clone(), x.clone())
            .reshape([runs * n]);
        let y = y
            .clone()
            .unsqueeze_dim::<2>(0)
            .repeat_dim(0, runs)
            .reshape([runs * n]);
        Samples::on_device(setup.loss, f, y)
    };
    let squared = |anchor: &Tensor<1>| {
        (params.clone() - anchor.clone().unsqueeze_dim(0))
            .powi_scalar(2)
            .sum_dim(1)
            .reshape([runs])
    };
    let mut parts = Vec::with_capacity(6);
    for (x, y) in [
        (&setup.data.x, &setup.data.y),
        (&setup.data.x_test, &setup.data.y_test),
    ] {
        // An empty set has no parts (its slices on the host are empty).
        if y.dims()[0] > 0 {
            parts.extend(samples(x, y));
        }
    }
    parts.push(squared(&setup.anchors.start));
    parts.push(squared(&setup.anchors.retrain));
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::tests::tiny;
    use crate::run::unlearn;
    use crate::seeds;
    use crate::update::gradient_ascent;
    use burn::tensor::Device;
    use frontier_model::Cnn;
    use frontier_stability::{Sampling, Settings};
    use rand_chacha::ChaCha8Rng;

    fn prepared(snr: f64, loss: Loss, precision: Precision) -> Setup<Cnn> {
        prepared_with(snr, loss, precision, tiny(snr).data.n_test)
    }

    /// [`prepared`] with `n_test` test samples.
    fn prepared_with(snr: f64, loss: Loss, precision: Precision, n_test: usize) -> Setup<Cnn> {
        let mut cfg = tiny(snr);
        cfg.precision = precision;
        cfg.data.n_test = n_test;
        if loss == Loss::Squared {
            cfg.pretrain.loss = loss;
            cfg.pretrain.eta = 0.02;
        }
        cfg.prepare(&Device::flex()).unwrap()
    }

    fn run(
        steps: usize,
        record_every: usize,
        stop_at_escape: bool,
        step: Settings,
    ) -> UnlearnConfig {
        UnlearnConfig {
            step,
            steps,
            record_every,
            stop_at_escape,
            ..UnlearnConfig::default()
        }
    }

    /// Logistic runs over two setups: batch sizes 1 to 6, α = 0 (retain only), α = 1
    /// (forget only), B_f ≠ B_r, with and without replacement, Bernoulli (batches of
    /// varying length), escape stops, different budgets and record intervals.
    fn logistic_runs() -> Vec<(usize, UnlearnConfig)> {
        let mixed = |eta, alpha, b, b_f, sampling| Settings {
            batch_forget: b_f,
            sampling,
            ..Settings::new(eta, alpha, b)
        };
        vec![
            (0, run(20, 5, true, Settings::new(0.5, 0.5, 1))),
            (1, run(20, 5, true, Settings::new(0.5, 0.0, 3))),
            (0, run(25, 7, false, gradient_ascent(5.0, 3))),
            (1, run(25, 5, true, gradient_ascent(5.0, 6))),
            (
                0,
                run(20, 4, false, mixed(1.0, 0.3, 2, Some(5), Sampling::Without)),
            ),
            (
                1,
                run(18, 6, false, mixed(2.0, 0.6, 4, None, Sampling::With)),
            ),
            (
                0,
                run(20, 5, false, mixed(1.0, 0.5, 3, None, Sampling::Bernoulli)),
            ),
            (0, run(12, 5, true, Settings::new(0.01, 0.0, 6))),
        ]
    }

    /// Squared-loss runs on one setup: ascent with η = 1e4 (diverges), beside runs that
    /// go on after it.
    fn squared_runs() -> Vec<(usize, UnlearnConfig)> {
        vec![
            (0, run(100, 20, false, gradient_ascent(1e4, 6))),
            (0, run(30, 10, false, Settings::new(0.02, 0.5, 3))),
            (0, run(30, 10, false, gradient_ascent(0.5, 2))),
        ]
    }

    /// The batched and the one-run outcome of every run (stream (7, i, 0) for run i).
    fn both(
        setups: &[&Setup<Cnn>],
        runs: &[(usize, UnlearnConfig)],
    ) -> Vec<(RunOutcome, RunOutcome)> {
        let stream = |i: usize| seeds::stream(7, i as u64, 0);
        let batch: Vec<BatchRun<ChaCha8Rng>> = runs
            .iter()
            .enumerate()
            .map(|(i, (setup, config))| BatchRun {
                setup: *setup,
                config: config.clone(),
                rng: stream(i),
            })
            .collect();
        let batched = unlearn_many(setups, batch).unwrap();
        runs.iter()
            .enumerate()
            .zip(batched)
            .map(|((i, (setup, config)), b)| {
                (b, unlearn(setups[*setup], config, &mut stream(i)).unwrap())
            })
            .collect()
    }

    /// Same steps, escape, divergence, criteria and record steps; every snapshot number
    /// within `tol` relative (absolute below 1).
    fn assert_same(batched: &RunOutcome, single: &RunOutcome, tol: f64, what: &str) {
        let discrete = |o: &RunOutcome| {
            let steps: Vec<usize> = o.history.iter().map(|h| h.step).collect();
            (
                o.steps,
                o.diverged_at,
                o.escaped_at,
                o.success,
                steps,
                o.last.step,
            )
        };
        assert_eq!(discrete(batched), discrete(single), "{what}");
        let numbers = |s: &Snapshot| {
            [
                s.forget_loss,
                s.retain_loss,
                s.test_loss,
                s.forget_accuracy,
                s.retain_accuracy,
                s.test_accuracy,
                s.distance,
                s.retrain_distance,
                s.mia_auc,
                s.attack_strength,
                s.forget_quality,
                s.output_distance,
            ]
        };
        let pairs = batched.history.iter().zip(&single.history);
        for (b, s) in pairs.chain([(&batched.last, &single.last)]) {
            for (x, y) in numbers(b).iter().zip(numbers(s)) {
                assert!(
                    (x.is_nan() && y.is_nan()) || (x - y).abs() <= tol * y.abs().max(1.0),
                    "{what}, step {}: batched={x}, one-run={y}\n{b:?}\n{s:?}",
                    b.step
                );
            }
        }
    }

    #[test]
    fn batched_runs_equal_one_run_at_a_time_in_f64() {
        let low = prepared(0.05, Loss::Logistic, Precision::F64);
        let high = prepared(1.0, Loss::Logistic, Precision::F64);
        let runs = logistic_runs();
        let outcomes = both(&[&low, &high], &runs);
        for (i, (b, s)) in outcomes.iter().enumerate() {
            assert_same(b, s, 1e-9, &format!("logistic run {i} ({})", s.describe()));
        }
        assert!(outcomes.iter().any(|(_, s)| s.escaped_at.is_some()));
        assert!(outcomes.iter().any(|(_, s)| s.escaped_at.is_none()));
        let squared = prepared(1.0, Loss::Squared, Precision::F64);
        let outcomes = both(&[&squared], &squared_runs());
        for (i, (b, s)) in outcomes.iter().enumerate() {
            assert_same(b, s, 1e-9, &format!("squared run {i} ({})", s.describe()));
        }
        assert!(
            outcomes[0].1.diverged_at.is_some(),
            "{}",
            outcomes[0].1.describe()
        );
        assert!(
            outcomes[1].1.diverged_at.is_none(),
            "{}",
            outcomes[1].1.describe()
        );
    }

    #[test]
    fn batched_runs_equal_one_run_at_a_time_in_f32() {
        let low = prepared(0.05, Loss::Logistic, Precision::F32);
        let high = prepared(1.0, Loss::Logistic, Precision::F32);
        for (i, (b, s)) in both(&[&low, &high], &logistic_runs()).iter().enumerate() {
            assert_same(
                b,
                s,
                F32_TOLERANCE,
                &format!("logistic run {i} ({})", s.describe()),
            );
        }
        let squared = prepared(1.0, Loss::Squared, Precision::F32);
        let outcomes = both(&[&squared], &squared_runs());
        for (i, (b, s)) in outcomes.iter().enumerate() {
            assert_same(
                b,
                s,
                F32_TOLERANCE,
                &format!("squared run {i} ({})", s.describe()),
            );
        }
        assert!(
            outcomes[0].1.diverged_at.is_some(),
            "{}",
            outcomes[0].1.describe()
        );
    }

    #[test]
    fn batched_runs_without_a_test_set_equal_one_run_at_a_time() {
        let squared = prepared_with(1.0, Loss::Squared, Precision::F64, 0);
        let outcomes = both(&[&squared], &squared_runs());
        for (i, (b, s)) in outcomes.iter().enumerate() {
            assert_same(b, s, 1e-9, &format!("squared run {i} ({})", s.describe()));
            assert!(s.last.test_loss.is_nan(), "no test set: {:?}", s.last);
        }
    }

    /// Relative agreement of the f32 metrics: f32 rounding (about 6e-8) amplified by up to
    /// 100 steps of escaping dynamics; the largest difference seen was about 1e-6.
    const F32_TOLERANCE: f64 = 1e-4;

    #[test]
    fn mismatched_setups_and_bad_indices_name_their_field() {
        let logistic = prepared(0.05, Loss::Logistic, Precision::F64);
        let squared = prepared(1.0, Loss::Squared, Precision::F64);
        let one = |setup| {
            vec![BatchRun {
                setup,
                config: UnlearnConfig::default(),
                rng: seeds::stream(0, 0, 0),
            }]
        };
        for (setups, runs, field) in [
            (vec![&logistic, &squared], one(0), "`setups`"),
            (vec![&logistic], one(1), "`runs.setup`"),
        ] {
            let err = unlearn_many(&setups, runs).unwrap_err().to_string();
            assert!(err.contains(field), "{err} should name {field}");
        }
        assert!(unlearn_many(&[&logistic], one(0)).is_ok());
    }

    #[test]
    fn bench_step_counts_the_cnn_flops() {
        let s = prepared(0.05, Loss::Logistic, Precision::F32);
        let runs = (0..4)
            .map(|i| BatchRun {
                setup: 0,
                config: run(1, 1, true, Settings::new(0.5, 0.5, 2)),
                rng: seeds::stream(1, i, 0),
            })
            .collect();
        let bench = bench_step(&[&s], runs, 3).unwrap();
        let p = s.model.param_count();
        assert_eq!((bench.runs, bench.steps, bench.rows), (4, 3, 4.0));
        assert_eq!(
            bench.flops,
            (4 * 4 * 4 * 2 * p) as f64,
            "2 matmuls × 2·R·K·P·p"
        );
        assert!(bench.seconds > 0.0 && bench.gflops() > 0.0, "{bench:?}");
    }
}
