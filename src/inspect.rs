//! `frontier unlearn`: one unlearning run from a `frontier train` run directory, in detail.
//! It reads the run's data, weights (w*), config and pre-training report, computes the retrain
//! reference (the same initialisation trained on the retain set alone, with the run's
//! pre-training settings: what "deleted" is measured against), runs GA/GD unlearning with the
//! given α, B, η, recording every outcome every k steps, and writes the trajectory (CSV and
//! line plots), the outcome and the unlearned weights. Bad settings (α outside [0, 1],
//! B > n_f, …) are refused before anything is computed or written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail, ensure};
use burn::tensor::Device;
use frontier_common::{Field, Record, Table, record_of};
use frontier_model::file_data::FileContents;
use frontier_model::{Dataset, DeviceData, Model, ModelSpec, Precision, TrainReport};
use frontier_plot::{Axis as PlotAxis, LinePlot, Series, line_panels_png};
use frontier_stability::{Sampling, Settings};
use frontier_unlearn::update::Stepper;
use frontier_unlearn::{
    Reference, RunOutcome, Setup, Snapshot, UnlearnConfig, seeds, unlearn_model,
};
use serde::Serialize;

use crate::config::ExperimentConfig;
use crate::models::{Registered, WithModel};
use crate::output::{create_dir, write_atomic, write_table};
use crate::progress::Mode;
use crate::tensors::{self, HostTensor, TensorFile};
use crate::weights;

/// The settings of `frontier unlearn`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run directory written by `frontier train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Mixing ratio α ∈ [0, 1] (weight of the forget term).
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: f64,
    /// Retain batch size B_r (and B_f unless --batch-forget).
    #[arg(long)]
    pub batch: usize,
    /// Forget batch size B_f (≤ n_f; default: --batch).
    #[arg(long)]
    pub batch_forget: Option<usize>,
    /// Unlearning learning rate η (> 0).
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub eta: f64,
    /// Step budget.
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Measure every this many steps.
    #[arg(long, default_value_t = 1)]
    pub record_every: usize,
    /// Seed of the batch draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop at the first escape (‖w − w*‖ > ‖w*‖) instead of running the whole budget.
    #[arg(long)]
    pub stop_at_escape: bool,
    /// Output folder (created; `trajectory.csv`, `trajectory.png`, `outcome.json`,
    /// `weights.safetensors`, `unlearn.config.toml`).
    #[arg(long)]
    pub out: PathBuf,
}

/// The resolved settings written beside the outputs (`unlearn.config.toml`).
#[derive(Serialize)]
struct Resolved<'a> {
    run: &'a Path,
    seed: u64,
    dtype: Precision,
    unlearn: &'a UnlearnConfig,
}

/// `outcome.json`.
#[derive(Serialize)]
struct Outcome<'a> {
    /// "escaped at step k", "diverged at step k" or "stayed for N steps".
    result: String,
    steps: usize,
    diverged_at: Option<usize>,
    escaped_at: Option<usize>,
    deletion: bool,
    escape: bool,
    useful: bool,
    /// ‖w*‖; escape means ‖w − w*‖ > escape_factor·‖w*‖.
    start_norm: f64,
    escape_factor: f64,
    start: &'a Snapshot,
    last: &'a Snapshot,
    /// The retrain reference, measured; how it was obtained is `retrain_reference`.
    retrained: &'a Snapshot,
    retrain_reference: String,
    pretrain: &'a TrainReport,
}

/// Runs `frontier unlearn`.
pub fn run(args: &Args, compute: &crate::Compute, mode: Mode) -> Result<()> {
    let files = RunFiles::open(&args.run)?;
    let precision = compute.dtype.unwrap_or(files.config.dtype);
    let unlearn = UnlearnConfig {
        step: Settings {
            eta: args.eta,
            alpha: args.alpha,
            batch_retain: args.batch,
            batch_forget: args.batch_forget,
            sampling: Sampling::Without,
        },
        steps: args.steps,
        record_every: args.record_every,
        stop_at_escape: args.stop_at_escape,
        ..UnlearnConfig::default()
    };
    unlearn.validate()?;
    Stepper::new(unlearn.step, &files.data.forget)?;
    let device = compute.device(precision)?;
    let cfg = &files.config;
    if weights::kind(&files.weights)? != cfg.model.kind() {
        bail!(
            "{}: the weights are of another model than the config's `model.kind`",
            args.run.display()
        );
    }
    mode.note(format!(
        "computing the retrain reference: the run's initialisation trained on the {} retain \
         samples alone ({} loss, η = {}, at most {} steps)",
        files.data.forget.iter().filter(|f| !**f).count(),
        cfg.train.loss.name(),
        cfg.train.eta,
        cfg.train.max_steps
    ));
    let job = Job {
        files: &files,
        unlearn: &unlearn,
        seed: args.seed,
        device: &device,
        precision,
    };
    let (done, unlearned) = cfg.model.with(ForModel { job: &job })?;
    mode.note(format!(
        "{} ({} records); retrain reference {}",
        done.outcome.describe(),
        done.outcome.history.len(),
        done.reference
    ));
    write(args, &files, &unlearn, precision, &done, unlearned)
}

/// The files of a `frontier train` run directory, read and checked.
struct RunFiles {
    config: ExperimentConfig,
    data: Dataset,
    /// [C, H, W] when the inputs are images.
    image: Option<[usize; 3]>,
    weights: TensorFile,
    pretrain: TrainReport,
}

impl RunFiles {
    fn open(dir: &Path) -> Result<RunFiles> {
        let config = ExperimentConfig::load(Some(&dir.join("config.resolved.toml")), &[])?;
        let summary = dir.join("summary.json");
        let pretrain: TrainReport = serde_json::from_slice(
            &std::fs::read(&summary)
                .with_context(|| format!("cannot read {}", summary.display()))?,
        )
        .with_context(|| format!("{}: not a pre-training summary", summary.display()))?;
        let (data, image) = read_data(&dir.join("data.safetensors"))?;
        Ok(RunFiles {
            data,
            image,
            weights: TensorFile::open(&dir.join("weights.safetensors"))?,
            config,
            pretrain,
        })
    }
}

/// The data set of a run, read as any data file is ([`FileContents`]): inputs [n, P, d] or
/// images [n, C, H, W] (also returned), ±1 labels, the forget mask with at least one retain
/// and one forget sample, and the test set.
fn read_data(path: &Path) -> Result<(Dataset, Option<[usize; 3]>)> {
    let file = TensorFile::open(path)?;
    let contents = FileContents::read(&file, None)?;
    let missing = |name: &str| file.tensor_error(name, "is missing: a run's data file has it");
    let forget = contents.train.forget.ok_or_else(|| missing("forget"))?;
    let test = contents.test.ok_or_else(|| missing("x_test"))?;
    let (n, n_forget) = (forget.len(), forget.iter().filter(|&&f| f).count());
    ensure!(
        0 < n_forget && n_forget < n,
        "{}: tensor `forget` marks {n_forget} of {n} samples; unlearning needs a forget and a \
         retain set",
        path.display()
    );
    let data = Dataset {
        x: contents.train.x,
        y: contents.train.y,
        x_test: test.x,
        y_test: test.y,
        forget,
        // μ is not stored with a run; nothing downstream of a loaded data set needs it.
        mu: Vec::new(),
        patches: contents.patches,
        d: contents.d,
    };
    Ok((data, contents.image))
}

/// The model's weights as written to a file: one tensor per parameter block, and the metadata.
type Weights = (Vec<HostTensor>, BTreeMap<String, String>);

/// [`Job`] for the run's registered model type.
struct ForModel<'a> {
    job: &'a Job<'a>,
}

impl WithModel for ForModel<'_> {
    type Output = Result<(Done, Weights)>;

    /// The run's initialisation (its config's seed, as `frontier train` drew it) and w* (the
    /// weights file), unlearned.
    fn run<C: ModelSpec>(self, model: Registered<C>) -> Result<(Done, Weights)> {
        let job = self.job;
        let files = job.files;
        let input = [files.data.patches, files.data.d];
        let spec = match files.image {
            Some(image) => model.config.with_image_shape(image),
            None => model.config.clone(),
        };
        let init = spec.init_input(input, job.device, job.precision)?;
        let trained = weights::load(
            &model,
            &files.weights,
            input,
            files.image,
            job.device,
            job.precision,
        )?;
        let (done, net) = job.run(init, trained)?;
        Ok((
            done,
            (
                weights::tensors(&net),
                weights::metadata(model.name, &spec)?,
            ),
        ))
    }
}

/// One run on a loaded run directory, for a model type `M`.
struct Job<'a> {
    files: &'a RunFiles,
    unlearn: &'a UnlearnConfig,
    seed: u64,
    device: &'a Device,
    precision: Precision,
}

/// A finished run.
struct Done {
    outcome: RunOutcome,
    start: Snapshot,
    retrained: Snapshot,
    start_norm: f64,
    /// How the retrain reference went, one line.
    reference: String,
}

impl Job<'_> {
    /// Builds the setup (w* from the weights, the retrain reference from `init`) and runs.
    fn run<M: Model>(&self, init: M, trained: M) -> Result<(Done, M)> {
        let (files, cfg) = (self.files, &self.files.config);
        let reference =
            Reference::retrain(&init, &files.data, &cfg.train, self.device, self.precision)?;
        let report = &reference.report;
        let summary = format!(
            "computed ({} steps, {}, final loss {:.3e}, retain accuracy at the end {:.3})",
            report.steps,
            match report.diverged_at {
                Some(k) => format!("diverged at step {k}"),
                None if report.converged => "converged".to_string(),
                None => "not converged".to_string(),
            },
            report.final_loss,
            report.train_accuracy
        );
        let data = DeviceData::new(&files.data, self.device, self.precision);
        let setup: Setup<M> = Setup::assemble(
            init,
            data,
            cfg.train.loss,
            (trained, files.pretrain.clone()),
            reference,
        );
        let mut rng = seeds::stream(self.seed, 0, 0);
        let (model, outcome) = unlearn_model(&setup, self.unlearn, &mut rng)?;
        Ok((
            Done {
                outcome,
                start: setup.start.clone(),
                retrained: setup.retrained.clone(),
                start_norm: setup.start_norm,
                reference: summary,
            },
            model,
        ))
    }
}

/// The trajectory: step 0 (w*) and every record, each with every outcome and ‖w − w*‖/‖w*‖.
fn trajectory(done: &Done) -> Result<Table> {
    let records = std::iter::once(&done.start)
        .chain(&done.outcome.history)
        .map(|s| -> Result<Record> {
            let mut record = record_of(s)?;
            record.push((
                "relative_distance".into(),
                Field::Number(s.distance / done.start_norm),
            ));
            Ok(record)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Table::from_records(records)?)
}

/// Four line plots against the step: losses (with the retrained forget loss), accuracies,
/// distances (with the escape radius) and the membership-inference AUC.
fn plots(done: &Done, unlearn: &UnlearnConfig) -> Vec<LinePlot> {
    let points: Vec<&Snapshot> = std::iter::once(&done.start)
        .chain(&done.outcome.history)
        .collect();
    let steps: Vec<f64> = points.iter().map(|s| s.step as f64).collect();
    let series = |label: &str, get: fn(&Snapshot) -> f64| {
        Series::new(
            label,
            steps.clone(),
            points.iter().map(|s| get(s)).collect(),
            Vec::new(),
        )
    };
    let level = |label: String, value: f64| {
        Series::new(label, steps.clone(), vec![value; steps.len()], Vec::new())
    };
    let s = &unlearn.step;
    let title = |what: &str| {
        format!(
            "{what}: α = {}, B_r = {}, B_f = {}, η = {}, {}",
            s.alpha,
            s.batch_retain,
            s.batch_forget.unwrap_or(s.batch_retain),
            s.eta,
            done.outcome.describe()
        )
    };
    let step_axis = || PlotAxis::new("unlearning step", Vec::new());
    let plot = |what: &str, y: &str, log_y: bool, series: Vec<Series>| LinePlot {
        title: title(what),
        caption: "step 0 is w*; the retrain reference: the same initialisation trained on the \
                  retain set alone"
            .into(),
        x: step_axis(),
        y_label: y.into(),
        log_y,
        series,
    };
    vec![
        plot(
            "losses",
            "mean loss (nats)",
            true,
            vec![
                series("forget loss", |s| s.forget_loss),
                series("retain loss", |s| s.retain_loss),
                series("test loss", |s| s.test_loss),
                level(
                    "retrained forget loss (deletion level)".into(),
                    done.retrained.forget_loss,
                ),
            ],
        ),
        plot(
            "accuracies",
            "accuracy (fraction)",
            false,
            vec![
                series("forget accuracy", |s| s.forget_accuracy),
                series("retain accuracy", |s| s.retain_accuracy),
                series("test accuracy", |s| s.test_accuracy),
            ],
        ),
        plot(
            "distances",
            "Euclidean distance (parameter units)",
            false,
            vec![
                series("‖w − w*‖", |s| s.distance),
                series("‖w − w_retrain‖", |s| s.retrain_distance),
                level(
                    format!("escape radius {}·‖w*‖", unlearn.escape_factor),
                    unlearn.escape_factor * done.start_norm,
                ),
            ],
        ),
        plot(
            "membership inference",
            "MIA AUC, forget vs test (0.5 = unseen-like)",
            false,
            vec![
                series("MIA AUC", |s| s.mia_auc),
                level("retrained model".into(), done.retrained.mia_auc),
            ],
        ),
    ]
}

/// Writes every output into `args.out` (created).
fn write(
    args: &Args,
    files: &RunFiles,
    unlearn: &UnlearnConfig,
    precision: Precision,
    done: &Done,
    (weights, metadata): Weights,
) -> Result<()> {
    let table = trajectory(done)?;
    let png = line_panels_png(&plots(done, unlearn), 2)?;
    let o = &done.outcome;
    let outcome = Outcome {
        result: o.describe(),
        steps: o.steps,
        diverged_at: o.diverged_at,
        escaped_at: o.escaped_at,
        deletion: o.success.deletion,
        escape: o.success.escape,
        useful: o.success.useful,
        start_norm: done.start_norm,
        escape_factor: unlearn.escape_factor,
        start: &done.start,
        last: &o.last,
        retrained: &done.retrained,
        retrain_reference: format!(
            "{}: the run's initialisation trained on its retain set alone with its pre-training \
             settings",
            done.reference
        ),
        pretrain: &files.pretrain,
    };
    let resolved = Resolved {
        run: &args.run,
        seed: args.seed,
        dtype: precision,
        unlearn,
    };
    let out = &args.out;
    create_dir(out)?;
    write_table(&out.join("trajectory.csv"), &table)?;
    write_atomic(&out.join("trajectory.png"), &png)?;
    write_atomic(
        &out.join("outcome.json"),
        serde_json::to_string_pretty(&outcome)?.as_bytes(),
    )?;
    tensors::write_with_metadata(
        &out.join("weights.safetensors"),
        &weights,
        precision,
        metadata,
    )?;
    write_atomic(
        &out.join("unlearn.config.toml"),
        toml::to_string(&resolved)?.as_bytes(),
    )?;
    for name in [
        "trajectory.csv",
        "trajectory.png",
        "outcome.json",
        "weights.safetensors",
        "unlearn.config.toml",
    ] {
        println!("{}", out.join(name).display());
    }
    Ok(())
}
