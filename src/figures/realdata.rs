//! Kind `realdata` (figure 8): the stability frontier on a real image data set, by forget
//! kind. For every forget kind (random, mislabelled, sub-class, atypical; see
//! `docs/science.md`, "Figure 8") and seed one *setup*: the data file split and its forget
//! set chosen, the model pre-trained to w* with its retrain reference, and at w*
//!
//! - (a) σ_R, σ_F, σ_RF of the Gauss–Newton curvature (the Gram shortcut) and of the exact
//!   curvature (finite-difference Hessian-vector products, Hutchinson estimates of
//!   tr(H_i H_j) with their standard errors);
//! - (b) per α of the figure, the predictions on the Gauss–Newton curvature (first moment:
//!   λ_min(H_α) < 0; mean square: ρ(T) > 1; finite budget: T̂_esc ≤ K) and one unlearning run
//!   at the figure's fixed B, η and budget K: escape and deletion.
//!
//! (a) and (b) share the setups; each setup's record is one cache file, so an interrupted
//! figure resumes where it stopped. Everything runs in f64 on a CPU device, whatever
//! `--backend` says: the finite-difference probes need f64.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::tensor::Device;
use frontier_common::{Progress, Stat, Table, par_map};
use frontier_model::{
    DataSource, FileData, ForgetKind, GaussNewton, Model, ModelSpec, Precision, TrainConfig,
};
use frontier_plot::{
    Axis as PlotAxis, Curve, Heatmap, LinePlot, Series, line_panels_png, panels_png,
};
use frontier_probes::{GenericOptions, coherence_report, generic_coherence_report};
use frontier_stability::Settings;
use frontier_stability::score::{Scores, score};
use frontier_stability::sweep::{Region, edges, step_line};
use frontier_unlearn::{
    Entry, HessianMethod, Linearised, PredictConfig, Query, Setup, UnlearnConfig, seeds, unlearn,
};
use serde::{Deserialize, Serialize};

use super::render::Outputs;
use super::spec::ConfigFile;
use super::{Context, ModelFigure, planned};
use crate::backend::Backend;
use crate::models::{Registered, WithModel};

/// Bump when the meaning of a cached setup record changes: old records are then not reused.
const FORMAT: u32 = 2;

/// α of the pair coherence σ_U in the coherence reports (σ_R, σ_F, σ_RF do not depend on it;
/// σ_U itself is not computed for more than `frontier_probes::PAIR_LIMIT` pairs).
const SIGMA_U_ALPHA: f64 = 0.5;

/// Figure 8's settings (kind `realdata`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealDataFigure {
    /// One line on what it shows.
    pub about: String,
    /// The registered model (e.g. `convnet`); its config is `setup.model`.
    pub model: String,
    /// Output files: `<file name>_<model>_<stem>_coherence` (a) and `_forget_alpha` (b).
    pub stem: String,
    /// The forget kinds, in axis order: "random", "mislabelled", "sub-class", "atypical".
    pub kinds: Vec<String>,
    /// The class id forgotten by the sub-class kind.
    pub sub_class: u32,
    /// The mixing ratios α of (b) (y axis), strictly ascending in [0, 1].
    pub alphas: Vec<f64>,
    /// Seeds per forget kind: seed r draws the test split, the forget set and the model's
    /// initialisation from (`seed`, r).
    pub seeds: usize,
    /// Master seed.
    pub seed: u64,
    /// Hutchinson probes of the exact coherence (≥ 2; standard errors shrink as 1/√probes).
    pub probes: usize,
    /// The setup: `data` (a data file, `source = "file"` implied), `model`, `pretrain`.
    #[serde(default)]
    pub setup: toml::Table,
    /// The unlearning runs (B, η, budget K, escape factor, …); `step.alpha` is set per row.
    #[serde(default)]
    pub unlearn: UnlearnConfig,
    /// The predictions (ρ(T) iteration, the linear runs behind growth within K, γ_∞ for the
    /// first `asymptotic.setups` seeds).
    #[serde(default)]
    pub predict: PredictConfig,
}

/// The typed setup of a `realdata` figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    bound(serialize = "C: Serialize", deserialize = "C: ModelSpec")
)]
pub struct RealSetup<C> {
    /// The data file, its split and forget choice (`forget.kind` and `seed` are set per setup).
    pub data: FileData,
    /// The model's config.
    pub model: C,
    /// Pre-training (also the retrain reference's and the atypical kind's cross-fitting).
    pub pretrain: TrainConfig,
}

impl<C: ModelSpec> Default for RealSetup<C> {
    fn default() -> Self {
        RealSetup {
            data: FileData::default(),
            model: C::default(),
            pretrain: TrainConfig::default(),
        }
    }
}

/// The forget kinds named by `names` (the `kinds` key): at least one, no repeats, and not
/// "mask" (the figure chooses its forget sets). Errors name the key and the bad value.
pub fn parse_kinds(names: &[String]) -> Result<Vec<ForgetKind>> {
    if names.is_empty() {
        bail!("`kinds` must name at least one forget kind");
    }
    let mut kinds: Vec<ForgetKind> = Vec::with_capacity(names.len());
    for name in names {
        let kind: ForgetKind = name
            .parse()
            .map_err(|e: String| anyhow::anyhow!("`kinds`: {e}"))?;
        if kind == ForgetKind::Mask {
            bail!(
                "`kinds`: \"mask\" is not a kind figure 8 can choose: expected random, \
                 mislabelled, sub-class or atypical"
            );
        }
        if kinds.contains(&kind) {
            bail!("`kinds`: \"{name}\" is named twice");
        }
        kinds.push(kind);
    }
    Ok(kinds)
}

/// The σ's of one curvature (Gauss–Newton or exact), with standard errors (0 when exact).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Sigmas {
    sigma_r: f64,
    sigma_f: f64,
    sigma_rf: f64,
    se_r: f64,
    se_f: f64,
    se_rf: f64,
    lambda_min_h_alpha: f64,
}

/// One α of a setup: the run's outcome and the predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AlphaRow {
    alpha: f64,
    /// ‖w − w*‖ > escape_factor·‖w*‖ within the budget, or divergence.
    escaped: bool,
    /// The step of the escape (or divergence).
    escape_step: Option<usize>,
    /// MIA attack strength at the end at most the deletion level.
    deletion: bool,
    retain_accuracy: f64,
    forget_accuracy: f64,
    attack_strength: f64,
    /// λ_min(H_α) of the Gauss–Newton curvature.
    lambda_min_h_alpha: f64,
    /// ρ(T) of the Gauss–Newton curvature.
    rho: f64,
    first_moment: bool,
    mean_square: bool,
    /// T̂_esc = L/κ in steps (+∞ when κ = 0).
    t_esc: f64,
    /// T̂_esc ≤ K.
    finite_budget: bool,
}

/// Wall seconds of each stage of one setup (where the figure's time goes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Seconds {
    /// Data preparation (the atypical kind's cross-fitting), w* and the retrain reference.
    pretrain: f64,
    /// The Gauss–Newton coherence report.
    gauss_newton: f64,
    /// The exact (Hutchinson) coherence report.
    exact: f64,
    /// The linearisation at w* and the predictions of every α.
    predictions: f64,
    /// The unlearning runs of every α.
    runs: f64,
}

/// What pre-training left at w*: sizes, fit and gradient alignment (also the first columns
/// of (a)'s CSV rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AtOptimum {
    n: usize,
    n_forget: usize,
    params: usize,
    pretrain_steps: usize,
    pretrain_converged: bool,
    test_accuracy: f64,
    /// Accuracy on the forget set at w* (on its training labels: flipped ones for mislabelled).
    forget_fitted: f64,
    /// cos(∇L_R, ∇L_F).
    grad_cos: f64,
    /// The α below which the mean step lowers the forget loss (0 unless the gradients align).
    alpha_drift: f64,
}

/// Everything figure 8 keeps of one (forget kind, seed): one cache file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SetupRecord {
    kind: String,
    seed: usize,
    #[serde(flatten)]
    at: AtOptimum,
    gauss_newton: Sigmas,
    exact: Sigmas,
    rows: Vec<AlphaRow>,
    seconds: Seconds,
}

/// What a setup's cache file is keyed on.
#[derive(Serialize)]
struct SetupKey<'a, C> {
    format: u32,
    device: String,
    setup: &'a RealSetup<C>,
    alphas: &'a [f64],
    probes: usize,
    unlearn: &'a UnlearnConfig,
    predict: &'a PredictConfig,
    /// (master seed, seed index): the run streams derive from both.
    seed: (u64, usize),
}

/// Runs a `realdata` file.
pub fn run(file: &ConfigFile, ctx: &Context, label: &str) -> Result<Vec<PathBuf>> {
    let figure: RealDataFigure = file.parse()?;
    let model = figure.model.clone();
    ModelFigure::run(file, ctx, label, figure, &model)
}

/// A `realdata` file run for one registered model.
type Task<'a> = ModelFigure<'a, RealDataFigure>;

/// The resolved config beside the outputs.
#[derive(Serialize)]
struct Resolved<'a, C> {
    about: &'a str,
    model: &'a str,
    stem: &'a str,
    kinds: &'a [String],
    sub_class: u32,
    alphas: &'a [f64],
    seeds: usize,
    seed: u64,
    probes: usize,
    setup: &'a RealSetup<C>,
    unlearn: &'a UnlearnConfig,
    predict: &'a PredictConfig,
}

impl WithModel for Task<'_> {
    type Output = Result<Vec<PathBuf>>;

    fn run<C: ModelSpec>(self, model: Registered<C>) -> Result<Vec<PathBuf>> {
        let (file, figure) = (self.file, &self.figure);
        let kinds = parse_kinds(&figure.kinds)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.path.display()))?;
        self.check(figure)?;
        let mut table = figure.setup.clone();
        if let Some(swap) = &self.swap {
            swap.apply(&mut table);
        }
        let base: RealSetup<C> = file.parse_value("setup", toml::Value::Table(table))?;
        base.data.validate()?;
        base.model.validate()?;
        let setups: Vec<(ForgetKind, usize, RealSetup<C>)> = kinds
            .iter()
            .flat_map(|&kind| (0..figure.seeds).map(move |r| (kind, r)))
            .map(|(kind, r)| (kind, r, self.seeded(&base, kind, r)))
            .collect();
        let plan = format!(
            "{} forget kinds × {} seeds of the {} ({} α values, {} Hutchinson probes)",
            kinds.len(),
            figure.seeds,
            model.name,
            figure.alphas.len(),
            figure.probes
        );
        if planned(self.ctx, file, plan) || !self.ctx.part.renders() {
            return Ok(Vec::new());
        }
        let device = Backend::cpu_device()?;
        let records = self.records(&setups, &device)?;
        self.ctx.mode.note(time_note(file, &records));
        let mut out = Outputs::new(self.ctx, file);
        let resolved = Resolved {
            about: &figure.about,
            model: model.name,
            stem: &figure.stem,
            kinds: &figure.kinds,
            sub_class: figure.sub_class,
            alphas: &figure.alphas,
            seeds: figure.seeds,
            seed: figure.seed,
            probes: figure.probes,
            setup: &base,
            unlearn: &figure.unlearn,
            predict: &figure.predict,
        };
        let stem = |part: &str| format!("{}_{}_{}_{part}", file.name, model.name, figure.stem);
        let view = View {
            figure,
            kinds: &kinds,
            records: &records,
            model: model.name,
            describe: base.model.describe(),
        };
        out.write(
            &stem("coherence"),
            &line_panels_png(&view.coherence_plots(), 3)?,
            &Table::from_rows(view.coherence_rows())?,
            "realdata",
            &resolved,
        )?;
        let (panels, scores) = view.frontier_panels()?;
        out.write(
            &stem("forget_alpha"),
            &panels_png(&panels, 2)?,
            &Table::from_rows(view.frontier_rows(&scores))?,
            "realdata",
            &resolved,
        )?;
        Ok(out.written)
    }
}

impl Task<'_> {
    /// Checks the fields serde cannot.
    fn check(&self, figure: &RealDataFigure) -> Result<()> {
        if figure.seeds == 0 {
            bail!("{}: `seeds` must be at least 1", self.file.path.display());
        }
        if figure.probes < 2 {
            bail!(
                "{}: `probes` must be at least 2, got {}",
                self.file.path.display(),
                figure.probes
            );
        }
        let ascending = figure.alphas.windows(2).all(|w| w[0] < w[1]);
        let within = figure.alphas.iter().all(|a| (0.0..=1.0).contains(a));
        if figure.alphas.is_empty() || !ascending || !within {
            bail!(
                "{}: `alphas` must be strictly ascending values in [0, 1], got {:?}",
                self.file.path.display(),
                figure.alphas
            );
        }
        figure.unlearn.validate()?;
        Ok(())
    }

    /// The setup of (kind, seed r): the data's seed and the model's initialisation derived
    /// from (master seed, r), the forget kind set (and its class for sub-class).
    fn seeded<C: ModelSpec>(
        &self,
        base: &RealSetup<C>,
        kind: ForgetKind,
        r: usize,
    ) -> RealSetup<C> {
        let seed = self.figure.seed;
        let mut s = base.clone();
        s.data.seed = seeds::derive(seed, r as u64, seeds::DATA);
        s.data.forget.kind = Some(kind);
        s.data.forget.class = (kind == ForgetKind::SubClass).then_some(self.figure.sub_class);
        if kind == ForgetKind::SubClass {
            s.data.forget.count = None;
        }
        s.model = base
            .model
            .with_seed(seeds::derive(seed, r as u64, seeds::INIT));
        s
    }

    /// Every setup's record, from the cache or computed (in parallel), each stored as soon
    /// as it is done.
    fn records<C: ModelSpec>(
        &self,
        setups: &[(ForgetKind, usize, RealSetup<C>)],
        device: &Device,
    ) -> Result<Vec<SetupRecord>> {
        let (ctx, figure) = (self.ctx, &self.figure);
        let reporter = ctx.mode.reporter(self.label);
        reporter.start(setups.len());
        reporter.stage("setups (pre-training, coherence, unlearning runs)");
        par_map(setups.len(), 0, |k| -> Result<SetupRecord> {
            let (kind, r, setup) = &setups[k];
            let dir = ctx.store.open(
                &format!("{} {}: seed {r}", self.file.name, kind.name()),
                &SetupKey {
                    format: FORMAT,
                    device: format!("{device:?}"),
                    setup,
                    alphas: &figure.alphas,
                    probes: figure.probes,
                    unlearn: &figure.unlearn,
                    predict: &figure.predict,
                    seed: (figure.seed, *r),
                },
            )?;
            match dir.load::<SetupRecord>("record")? {
                Entry::Found(record) if !ctx.force => {
                    reporter.advance(1);
                    return Ok(record);
                }
                Entry::Rejected(why) => ctx.mode.warn(format!(
                    "cache: {}: {why}; not used",
                    dir.file("record").display()
                )),
                _ => {}
            }
            let record = self.compute(*kind, *r, setup, device)?;
            dir.store("record", &record)?;
            reporter.advance(1);
            Ok(record)
        })
        .into_iter()
        .collect()
    }

    /// Prepares one setup and measures everything figure 8 shows of it.
    fn compute<C: ModelSpec>(
        &self,
        kind: ForgetKind,
        r: usize,
        cfg: &RealSetup<C>,
        device: &Device,
    ) -> Result<SetupRecord> {
        let figure = &self.figure;
        let precision = Precision::F64;
        let mut seconds = Seconds::default();
        let mut clock = Instant::now();
        let mut lap = |into: &mut f64| {
            *into = clock.elapsed().as_secs_f64();
            clock = Instant::now();
        };
        let prepared = DataSource::File(cfg.data.clone()).prepare(
            &cfg.model,
            &cfg.pretrain,
            device,
            precision,
        )?;
        let init = prepared.init(&cfg.model, device, precision)?;
        let setup = Setup::new(init, &prepared.data, &cfg.pretrain, device, precision)?;
        let loss = cfg.pretrain.loss;
        let (x, y, forget) = (
            setup.data.x.clone(),
            setup.data.y.clone(),
            &setup.data.forget,
        );
        lap(&mut seconds.pretrain);
        let gn = coherence_report(
            &setup.model,
            loss,
            x.clone(),
            y.clone(),
            forget,
            SIGMA_U_ALPHA,
        )?;
        lap(&mut seconds.gauss_newton);
        let options = GenericOptions {
            probes: figure.probes,
            seed: seeds::derive(figure.seed, r as u64, seeds::LYAPUNOV),
            ..GenericOptions::default()
        };
        let exact =
            generic_coherence_report(&setup.model, loss, x, y, forget, SIGMA_U_ALPHA, &options)?;
        lap(&mut seconds.exact);
        let linearised = Linearised::at(
            &GaussNewton(setup.model.clone()),
            loss,
            &setup.data,
            HessianMethod::RankOne,
        )?;
        let escape = &linearised.escape;
        let radius = figure.unlearn.escape_factor * setup.start_norm;
        let predictions = figure
            .alphas
            .iter()
            .enumerate()
            .map(|(i, &alpha)| {
                let query = Query {
                    settings: Settings {
                        alpha,
                        ..figure.unlearn.step
                    },
                    budget: figure.unlearn.steps,
                    radius,
                    growth_seed: seeds::derive(figure.seed, r as u64, seeds::LYAPUNOV),
                    cell: i as u64,
                    asymptotic_seed: (r < figure.predict.asymptotic.setups)
                        .then(|| seeds::derive(figure.seed, r as u64, seeds::ASYMPTOTIC)),
                };
                Ok(linearised.predict(&query, &figure.predict)?)
            })
            .collect::<Result<Vec<_>>>()?;
        lap(&mut seconds.predictions);
        let rows = figure
            .alphas
            .iter()
            .zip(predictions)
            .enumerate()
            .map(|(i, (&alpha, prediction))| -> Result<AlphaRow> {
                let mut config = figure.unlearn.clone();
                config.step.alpha = alpha;
                let mut rng = seeds::stream(figure.seed, i as u64, r as u64);
                let outcome = unlearn(&setup, &config, &mut rng)?;
                Ok(AlphaRow {
                    alpha,
                    escaped: outcome.success.escape,
                    escape_step: outcome.diverged_at.or(outcome.escaped_at),
                    deletion: outcome.success.deletion,
                    retain_accuracy: outcome.last.retain_accuracy,
                    forget_accuracy: outcome.last.forget_accuracy,
                    attack_strength: outcome.last.attack_strength,
                    lambda_min_h_alpha: prediction.lambda_min_h_alpha,
                    rho: prediction.rho,
                    first_moment: prediction.verdicts.first_moment,
                    mean_square: prediction.verdicts.mean_square,
                    t_esc: prediction.escape_steps,
                    finite_budget: prediction.verdicts.finite_budget == Some(true),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        lap(&mut seconds.runs);
        Ok(SetupRecord {
            kind: kind.name().to_string(),
            seed: r,
            at: AtOptimum {
                n: setup.data.forget.len(),
                n_forget: prepared.forget.indices.len(),
                params: setup.model.param_count(),
                pretrain_steps: setup.pretrain.steps,
                pretrain_converged: setup.pretrain.converged,
                test_accuracy: setup.pretrain.test_accuracy,
                forget_fitted: setup.start.forget_accuracy,
                grad_cos: escape.grad_cos,
                alpha_drift: escape.alpha_drift,
            },
            gauss_newton: Sigmas {
                sigma_r: gn.sigma_r,
                sigma_f: gn.sigma_f,
                sigma_rf: gn.sigma_rf,
                se_r: 0.0,
                se_f: 0.0,
                se_rf: 0.0,
                lambda_min_h_alpha: gn.lambda_min_h_alpha,
            },
            exact: Sigmas {
                sigma_r: exact.report.sigma_r,
                sigma_f: exact.report.sigma_f,
                sigma_rf: exact.report.sigma_rf,
                se_r: exact.std_error.sigma_r,
                se_f: exact.std_error.sigma_f,
                se_rf: exact.std_error.sigma_rf,
                lambda_min_h_alpha: exact.report.lambda_min_h_alpha,
            },
            rows,
            seconds,
        })
    }
}

/// Where the time of the setups went, summed over setups (from when each was computed).
fn time_note(file: &ConfigFile, records: &[SetupRecord]) -> String {
    let sum = |get: fn(&Seconds) -> f64| records.iter().map(|r| get(&r.seconds)).sum::<f64>();
    format!(
        "{}: seconds summed over the {} setups (they run two at a time): pre-training {:.0}, \
         Gauss–Newton coherence {:.0}, exact coherence {:.0}, predictions {:.0}, unlearning \
         runs {:.0} (a cached setup shows the time it took when computed)",
        file.name,
        records.len(),
        sum(|s| s.pretrain),
        sum(|s| s.gauss_newton),
        sum(|s| s.exact),
        sum(|s| s.predictions),
        sum(|s| s.runs),
    )
}

/// The computed records and how to show them.
struct View<'a> {
    figure: &'a RealDataFigure,
    kinds: &'a [ForgetKind],
    records: &'a [SetupRecord],
    model: &'a str,
    describe: String,
}

/// One row of (a)'s CSV: one setup.
#[derive(Serialize)]
struct CoherenceRow<'a> {
    forget_kind: &'a str,
    seed: usize,
    #[serde(flatten)]
    at: &'a AtOptimum,
    gn_sigma_r: f64,
    gn_sigma_f: f64,
    gn_sigma_rf: f64,
    exact_sigma_r: f64,
    exact_sigma_r_se: f64,
    exact_sigma_f: f64,
    exact_sigma_f_se: f64,
    exact_sigma_rf: f64,
    exact_sigma_rf_se: f64,
    gn_lambda_min_h_alpha: f64,
    exact_lambda_min_h_alpha: f64,
}

/// One row of (b)'s CSV: one (forget kind, α), over seeds.
#[derive(Serialize)]
struct FrontierRow<'a> {
    forget_kind: &'a str,
    alpha: f64,
    seeds: usize,
    escape: f64,
    deletion: f64,
    escape_step_mean: f64,
    retain_accuracy_mean: f64,
    forget_accuracy_mean: f64,
    attack_strength_mean: f64,
    predicted_first_moment: f64,
    predicted_mean_square: f64,
    predicted_finite_budget: f64,
    t_esc_mean: f64,
    lambda_min_h_alpha_mean: f64,
    rho_mean: f64,
    /// Balanced accuracy of each predictor against the escape majority over the whole
    /// panel (the same on every row; empty when the panel has one class only).
    balanced_first_moment: Option<f64>,
    balanced_mean_square: Option<f64>,
    balanced_finite_budget: Option<f64>,
    base_rate: f64,
}

/// A predictor of (b): its legend name and its verdict.
type Predictor = (&'static str, fn(&AlphaRow) -> bool);

/// The predictors drawn on (b), in legend order.
const PREDICTORS: [Predictor; 3] = [
    ("first moment (GN)", |r| r.first_moment),
    ("mean square ρ(T) > 1 (GN)", |r| r.mean_square),
    ("finite budget T̂_esc ≤ K (GN)", |r| r.finite_budget),
];

impl View<'_> {
    /// The records of forget kind `kind`.
    fn of(&self, kind: ForgetKind) -> impl Iterator<Item = &SetupRecord> {
        self.records.iter().filter(move |r| r.kind == kind.name())
    }

    /// The forget-kind axis.
    fn kind_axis(&self) -> PlotAxis {
        PlotAxis::categorical(
            "forget set kind",
            self.kinds.iter().map(|k| k.name().to_string()).collect(),
        )
    }

    /// n, n_f per kind and the test accuracy, for captions.
    fn sizes(&self) -> String {
        let first = &self.records[0];
        let counts: Vec<String> = self
            .kinds
            .iter()
            .map(|&k| {
                let n_f = Stat::of(self.of(k).map(|r| r.at.n_forget as f64)).mean;
                format!("{} {n_f:.0}", k.name())
            })
            .collect();
        format!(
            "n = {} training images, p = {}, n_f: {}; mean test accuracy {:.3}",
            first.at.n,
            first.at.params,
            counts.join(", "),
            Stat::of(self.records.iter().map(|r| r.at.test_accuracy)).mean
        )
    }

    /// (a): one panel per σ, Gauss–Newton beside exact, mean ± sd over seeds.
    fn coherence_plots(&self) -> Vec<LinePlot> {
        let x: Vec<f64> = (0..self.kinds.len()).map(|i| i as f64).collect();
        let series = |name: &str, get: &dyn Fn(&SetupRecord) -> f64| {
            let (mean, sd): (Vec<f64>, Vec<f64>) = self
                .kinds
                .iter()
                .map(|&k| {
                    let s = Stat::of(self.of(k).map(get));
                    (s.mean, if s.sd.is_finite() { s.sd } else { 0.0 })
                })
                .unzip();
            Series::new(name, x.clone(), mean, sd)
        };
        type Pick = fn(&Sigmas) -> (f64, f64);
        let panels: [(&str, Pick); 3] = [
            ("σ_R (within retain)", |s| (s.sigma_r, s.se_r)),
            ("σ_F (within forget)", |s| (s.sigma_f, s.se_f)),
            ("σ_RF (retain–forget)", |s| (s.sigma_rf, s.se_rf)),
        ];
        panels
            .iter()
            .map(|&(name, pick)| {
                let se = Stat::of(self.records.iter().map(|r| pick(&r.exact).1));
                LinePlot {
                    title: format!(
                        "{name} at w* by forget kind: {} on real images ({}), {} seeds",
                        self.model.to_uppercase(),
                        self.describe,
                        self.figure.seeds
                    ),
                    caption: format!(
                        "mean ± sd over seeds; exact: Hutchinson estimates of tr(H_i H_j) with \
                         {} probes, mean standard error {:.2}; GN: Gauss–Newton ℓ''_i g_i g_iᵀ; {}",
                        self.figure.probes,
                        se.mean,
                        self.sizes()
                    ),
                    x: self.kind_axis(),
                    y_label: format!("{name} (dimensionless)"),
                    log_y: false,
                    series: vec![
                        series("Gauss–Newton", &|r| pick(&r.gauss_newton).0),
                        series("exact (Hutchinson)", &|r| pick(&r.exact).0),
                    ],
                }
            })
            .collect()
    }

    /// (a)'s CSV rows.
    fn coherence_rows(&self) -> Vec<CoherenceRow<'_>> {
        self.records
            .iter()
            .map(|r| CoherenceRow {
                forget_kind: &r.kind,
                seed: r.seed,
                at: &r.at,
                gn_sigma_r: r.gauss_newton.sigma_r,
                gn_sigma_f: r.gauss_newton.sigma_f,
                gn_sigma_rf: r.gauss_newton.sigma_rf,
                exact_sigma_r: r.exact.sigma_r,
                exact_sigma_r_se: r.exact.se_r,
                exact_sigma_f: r.exact.sigma_f,
                exact_sigma_f_se: r.exact.se_f,
                exact_sigma_rf: r.exact.sigma_rf,
                exact_sigma_rf_se: r.exact.se_rf,
                gn_lambda_min_h_alpha: r.gauss_newton.lambda_min_h_alpha,
                exact_lambda_min_h_alpha: r.exact.lambda_min_h_alpha,
            })
            .collect()
    }

    /// The mean over seeds of `get` at (kind, α index `i`).
    fn mean(&self, kind: ForgetKind, i: usize, get: impl Fn(&AlphaRow) -> f64) -> f64 {
        Stat::of(self.of(kind).map(|r| get(&r.rows[i]))).mean
    }

    /// `get` over the (b) grid, `[iy = α][ix = kind]`.
    fn grid(&self, get: impl Fn(&AlphaRow) -> f64 + Copy) -> Vec<Vec<f64>> {
        (0..self.figure.alphas.len())
            .map(|i| self.kinds.iter().map(|&k| self.mean(k, i, get)).collect())
            .collect()
    }

    /// (b): escape and deletion over forget kind × α, with the predicted boundaries and their
    /// scores against the escape majority; the scores in predictor order.
    fn frontier_panels(&self) -> Result<(Vec<Heatmap>, Vec<Scores>)> {
        let alphas = &self.figure.alphas;
        let x = self.kind_axis();
        let y = PlotAxis::new("mixing ratio α (forget weight)", alphas.clone());
        let nx = self.kinds.len();
        let escape = self.grid(|r| f64::from(u8::from(r.escaped)));
        let empirical: Vec<bool> = escape.iter().flatten().map(|&v| v > 0.5).collect();
        let (x_edges, y_edges) = (edges(&x.values, false), edges(alphas, false));
        let mut curves = Vec::new();
        let mut scores = Vec::new();
        for (name, verdict) in PREDICTORS {
            let predicted = self.grid(|r| f64::from(u8::from(verdict(r))));
            let flat: Vec<bool> = predicted.iter().flatten().map(|&v| v > 0.5).collect();
            scores.push(score(&flat, &empirical, nx, Region::HighY)?);
            let points = step_line(&x_edges, &y_edges, Region::HighY, |ix, iy| {
                flat[iy * nx + ix]
            });
            curves.push(Curve::new(format!("predicted: {name}"), points));
        }
        let score_notes: Vec<String> = PREDICTORS
            .iter()
            .zip(&scores)
            .map(|((name, _), s)| {
                format!(
                    "{name}: balanced accuracy {}, boundary distance {:.2} steps",
                    s.balanced_accuracy
                        .map_or_else(|| "undefined (one class)".into(), |b| format!("{b:.2}")),
                    s.boundary_distance
                )
            })
            .collect();
        let u = &self.figure.unlearn;
        let title = |what: &str| {
            format!(
                "{what} by forget kind × α: {} on real images, B = {}, η = {}, K = {} steps, {} seeds",
                self.model.to_uppercase(),
                u.step.batch_retain,
                u.step.eta,
                u.steps,
                self.figure.seeds
            )
        };
        let base_rate = scores.first().map_or(f64::NAN, |s| s.base_rate);
        let mut escape_panel = Heatmap::new(
            title("escape"),
            x.clone(),
            y.clone(),
            escape,
            "fraction of runs escaping (‖w − w*‖ > ‖w*‖ or divergence)",
        );
        escape_panel.range = Some((0.0, 1.0));
        escape_panel.curves = curves.clone();
        escape_panel.caption = format!(
            "scored against the escape majority (base rate {base_rate:.2}); {}; {}",
            score_notes.join("; "),
            self.sizes()
        );
        let mut deletion_panel = Heatmap::new(
            title("deletion"),
            x,
            y,
            self.grid(|r| f64::from(u8::from(r.deletion))),
            "fraction of runs deleting (MIA attack strength ≤ null 95 % level)",
        );
        deletion_panel.range = Some((0.0, 1.0));
        deletion_panel.curves = curves;
        deletion_panel.caption = format!(
            "the same predicted boundaries (escape predictions); mean T̂_esc at the largest α: {}",
            self.kinds
                .iter()
                .map(|&k| format!(
                    "{} {:.0}",
                    k.name(),
                    self.mean(k, alphas.len() - 1, |r| r.t_esc)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok((vec![escape_panel, deletion_panel], scores))
    }

    /// (b)'s CSV rows, α within forget kind.
    fn frontier_rows(&self, scores: &[Scores]) -> Vec<FrontierRow<'_>> {
        let fraction = |v: bool| f64::from(u8::from(v));
        let mut rows = Vec::new();
        for &kind in self.kinds {
            for (i, &alpha) in self.figure.alphas.iter().enumerate() {
                let steps = Stat::of(
                    self.of(kind)
                        .filter_map(|r| r.rows[i].escape_step.map(|s| s as f64)),
                );
                rows.push(FrontierRow {
                    forget_kind: kind.name(),
                    alpha,
                    seeds: self.of(kind).count(),
                    escape: self.mean(kind, i, |r| fraction(r.escaped)),
                    deletion: self.mean(kind, i, |r| fraction(r.deletion)),
                    escape_step_mean: steps.mean,
                    retain_accuracy_mean: self.mean(kind, i, |r| r.retain_accuracy),
                    forget_accuracy_mean: self.mean(kind, i, |r| r.forget_accuracy),
                    attack_strength_mean: self.mean(kind, i, |r| r.attack_strength),
                    predicted_first_moment: self.mean(kind, i, |r| fraction(r.first_moment)),
                    predicted_mean_square: self.mean(kind, i, |r| fraction(r.mean_square)),
                    predicted_finite_budget: self.mean(kind, i, |r| fraction(r.finite_budget)),
                    t_esc_mean: self.mean(kind, i, |r| r.t_esc),
                    lambda_min_h_alpha_mean: self.mean(kind, i, |r| r.lambda_min_h_alpha),
                    rho_mean: self.mean(kind, i, |r| r.rho),
                    balanced_first_moment: scores[0].balanced_accuracy,
                    balanced_mean_square: scores[1].balanced_accuracy,
                    balanced_finite_budget: scores[2].balanced_accuracy,
                    base_rate: scores[0].base_rate,
                });
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn forget_kinds_parse_in_order() {
        let kinds =
            parse_kinds(&names(&["random", "mislabelled", "subclass", "atypical"])).unwrap();
        assert_eq!(
            kinds,
            [
                ForgetKind::Random,
                ForgetKind::Mislabelled,
                ForgetKind::SubClass,
                ForgetKind::Atypical
            ]
        );
    }

    #[test]
    fn forget_kind_errors_name_the_key_and_value() {
        for (bad, expect) in [
            (names(&["random", "typo"]), "unknown forget kind `typo`"),
            (names(&["mask"]), "\"mask\" is not a kind"),
            (
                names(&["atypical", "atypical"]),
                "\"atypical\" is named twice",
            ),
            (names(&[]), "at least one forget kind"),
        ] {
            let err = format!("{:#}", parse_kinds(&bad).unwrap_err());
            assert!(err.contains(expect), "{bad:?}: {err}");
            assert!(err.contains("kinds"), "{bad:?}: {err}");
        }
    }
}
