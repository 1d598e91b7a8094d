//! Figures 3–6 on a trained model (SCIENCE.md §5, §6): the two-layer ReLU CNN by default, any
//! registered model with `--model` (its config and pre-training η from `crate::models`). The
//! file stems carry the model's name (`figure4_cnn_batch_alpha`, `figure4_<name>_batch_alpha`),
//! so the figures of different models sit side by side.
//!
//! Both losses are shown. Logistic: the model's pre-training η (1 for the CNN), unlearning
//! η = 0.5 (the independent NumPy run's setting). Squared: η = 0.02 for both, because
//! pre-training needs η < 2/λ_max(H) and λ_max(H) ≈ 27 at SNR 1 with the default CNN (η = 0.1
//! diverged there). Grids are cached in `ctx.runs` (one folder per resolved config) and
//! resumed. The predicted boundaries need per-sample Hessians the model can give (see
//! `frontier_unlearn::predict`); without them a heatmap says why in its caption. Figure 3
//! probes a model whose Hessians are not rank one by finite differences, in f64 on a CPU
//! device whatever `--backend` says.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use burn::tensor::Device;
use frontier_model::{
    Dataset, DeviceData, Loss, ModelSpec, Precision, TrainConfig, TrainReport, TrainRun, pretrain,
    pretrain_many,
};
use frontier_plot::{Axis as PlotAxis, Curve, Heatmap as Plot, LinePlot, Series};
use frontier_probes::{GenericOptions, model_coherence_report};
use frontier_stability::parallel::par_map;
use frontier_unlearn::grid::{Stat, csv};
use frontier_unlearn::{
    Axis, CellSummary, Criterion, Grid, GridConfig, GridOptions, Param, PredictConfig, RunDir,
    SetupConfig, UnlearnConfig, run_grid,
};
use serde::{Deserialize, Serialize};

use super::{Context, Figure};
use crate::backend::Backend;
use crate::models::{Registered, WithModel};
use crate::output::write_atomic;

/// Figure 3: coherence versus SNR.
pub const FIGURE3: Figure = Figure {
    name: "figure3",
    about: "--model (CNN by default): σ, σ_R, σ_F, σ_RF, σ_U at w* versus SNR, mean ± sd over seeds, both losses",
    run: |ctx| ctx.model.with(Task::new(ctx, Which::Coherence)),
};

/// Figure 4: B × α at a low and a high SNR, both losses.
pub const FIGURE4: Figure = Figure {
    name: "figure4",
    about: "--model (CNN by default): B × α escape heatmaps at SNR 0.05 and 1, logistic and squared, predicted boundaries",
    run: |ctx| ctx.model.with(Task::new(ctx, Which::BatchAlpha)),
};

/// Figure 5: SNR × α at fixed B, both losses.
pub const FIGURE5: Figure = Figure {
    name: "figure5",
    about: "--model (CNN by default): SNR × α escape heatmaps at fixed B, logistic and squared, predicted boundaries",
    run: |ctx| ctx.model.with(Task::new(ctx, Which::SnrAlpha)),
};

/// Figure 6: does escape delete? Over figure 4's grids.
pub const FIGURE6: Figure = Figure {
    name: "figure6",
    about: "--model (CNN by default): retain accuracy, membership-inference AUC and deletion over figure 4's grids",
    run: |ctx| ctx.model.with(Task::new(ctx, Which::Deletion)),
};

/// The SNRs of figure 4 (memorisation, signal learning).
const LOW_SNR: f64 = 0.05;
const HIGH_SNR: f64 = 1.0;

/// Mixing ratio of the pair coherence σ_U in figure 3.
const SIGMA_U_ALPHA: f64 = 0.5;

/// Which of the figures.
#[derive(Debug, Clone, Copy)]
enum Which {
    Coherence,
    BatchAlpha,
    SnrAlpha,
    Deletion,
}

/// One figure for the model `ctx.model` names, run through [`crate::models::ModelKind::with`].
struct Task<'a> {
    ctx: &'a Context,
    which: Which,
}

impl<'a> Task<'a> {
    fn new(ctx: &'a Context, which: Which) -> Self {
        Task { ctx, which }
    }
}

impl WithModel for Task<'_> {
    type Output = Result<Vec<PathBuf>>;

    fn run<C: ModelSpec>(self, model: Registered<C>) -> Self::Output {
        let figures = Figures {
            ctx: self.ctx,
            scale: Scale::of(self.ctx),
            model,
        };
        match self.which {
            Which::Coherence => figures.figure3(),
            Which::BatchAlpha => figures.figure4(),
            Which::SnrAlpha => figures.figure5(),
            Which::Deletion => figures.figure6(),
        }
    }
}

/// Sizes, budgets and grid values: the full figure set or `--quick`.
struct Scale {
    n: usize,
    n_test: usize,
    d: usize,
    n_forget: usize,
    steps: usize,
    reps: usize,
    batches: Vec<f64>,
    alphas: Vec<f64>,
    snrs: Vec<f64>,
    fixed_batch: f64,
    coherence_snrs: Vec<f64>,
    coherence_seeds: usize,
}

impl Scale {
    fn of(ctx: &Context) -> Scale {
        if ctx.quick {
            Scale {
                n: 40,
                n_test: 40,
                d: 120,
                n_forget: 6,
                steps: 60,
                reps: 2,
                batches: vec![1.0, 3.0, 6.0],
                alphas: vec![0.0, 0.3, 1.0],
                snrs: vec![0.05, 1.0],
                fixed_batch: 3.0,
                coherence_snrs: vec![0.05, 0.3, 1.0],
                coherence_seeds: 2,
            }
        } else {
            Scale {
                n: 100,
                n_test: 200,
                d: 500,
                n_forget: 10,
                steps: 200,
                reps: 5,
                batches: vec![1.0, 2.0, 3.0, 5.0, 7.0, 10.0],
                alphas: vec![0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0],
                snrs: vec![0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0],
                fixed_batch: 5.0,
                coherence_snrs: vec![0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0],
                coherence_seeds: 8,
            }
        }
    }
}

/// Figures 3–6 of one registered model at one scale.
struct Figures<'a, C> {
    ctx: &'a Context,
    scale: Scale,
    model: Registered<C>,
}

impl<C: ModelSpec> Figures<'_, C> {
    /// (pre-training η, unlearning η) of a loss; see the module docs.
    fn etas(&self, loss: Loss) -> (f64, f64) {
        match loss {
            Loss::Logistic => (self.model.pretrain_eta, 0.5),
            Loss::Squared => (0.02, 0.02),
        }
    }

    /// "figure4_cnn_batch_alpha" for `figure4`, `batch_alpha`.
    fn stem(&self, figure: &str, what: &str) -> String {
        format!("{figure}_{}_{what}", self.model.name)
    }

    /// The model's name in titles, e.g. "CNN".
    fn title_name(&self) -> String {
        self.model.name.to_uppercase()
    }

    /// The setup of one loss at one SNR in `precision` (seeds are set per repetition).
    fn setup(&self, loss: Loss, snr: f64, precision: Precision) -> SetupConfig<C> {
        let scale = &self.scale;
        let mut s = SetupConfig::<C>::default();
        s.data.n = scale.n;
        s.data.n_test = scale.n_test;
        s.data.d = scale.d;
        s.data.n_forget = scale.n_forget;
        s.data.snr = snr;
        s.model = self.model.config(self.ctx.quick).clone();
        s.pretrain = TrainConfig {
            loss,
            eta: self.etas(loss).0,
            max_steps: 2000,
            loss_tol: 0.01,
            ..TrainConfig::default()
        };
        s.precision = precision;
        s
    }

    /// A grid of one loss over axes `x` × α.
    fn grid_config(&self, loss: Loss, snr: f64, x: Axis) -> GridConfig<C> {
        let scale = &self.scale;
        let mut unlearn = UnlearnConfig {
            steps: scale.steps,
            record_every: (scale.steps / 10).max(1),
            ..UnlearnConfig::default()
        };
        unlearn.step.eta = self.etas(loss).1;
        unlearn.step.batch_retain = scale.fixed_batch as usize;
        GridConfig {
            setup: self.setup(loss, snr, self.ctx.precision),
            unlearn,
            predict: PredictConfig {
                sim_steps: scale.steps,
                ..PredictConfig::default()
            },
            x,
            y: Axis {
                param: Param::Alpha,
                values: scale.alphas.clone(),
            },
            reps: scale.reps,
            seed: 0,
        }
    }

    /// Runs (or loads) a grid with the context's cache settings.
    fn grid(&self, cfg: &GridConfig<C>) -> Result<Grid<C>> {
        let ctx = self.ctx;
        let opts = GridOptions {
            force: ctx.force,
            batched: ctx.batched,
            ..GridOptions::new(&ctx.runs)
        };
        let grid = run_grid(cfg, &ctx.device, &opts)
            .with_context(|| format!("{} unlearning grid", self.title_name()))?;
        eprintln!(
            "  grid {}: {} of {} cells computed, the rest cached (setups {:.1} s, cells {:.1} s)",
            grid.dir.display(),
            grid.computed,
            cfg.cells(),
            grid.setup_seconds,
            grid.cells_seconds
        );
        Ok(grid)
    }

    /// Writes `panels` as `<stem>.png` (`columns` per row) and `grids` as `<stem>.csv`.
    fn write(
        &self,
        stem: &str,
        panels: &[Plot],
        columns: usize,
        grids: &[(String, &Grid<C>)],
    ) -> Result<Vec<PathBuf>> {
        let png = self.ctx.out.join(format!("{stem}.png"));
        frontier_plot::render_panels(panels, columns, &png)?;
        let labelled: Vec<(&str, &Grid<C>)> = grids.iter().map(|(l, g)| (l.as_str(), *g)).collect();
        let path = self.ctx.out.join(format!("{stem}.csv"));
        write_atomic(&path, csv(&labelled)?.as_bytes())?;
        Ok(vec![png, path])
    }

    /// Figure 4's grids: (loss, SNR) for {low, high} SNR × both losses (the losses side by
    /// side).
    fn figure4_grids(&self) -> Result<Vec<(Loss, f64, Grid<C>)>> {
        let mut out = Vec::new();
        for snr in [LOW_SNR, HIGH_SNR] {
            for loss in [Loss::Logistic, Loss::Squared] {
                let x = Axis {
                    param: Param::Batch,
                    values: self.scale.batches.clone(),
                };
                out.push((loss, snr, self.grid(&self.grid_config(loss, snr, x))?));
            }
        }
        Ok(out)
    }

    fn figure4(&self) -> Result<Vec<PathBuf>> {
        let grids = self.figure4_grids()?;
        let panels: Vec<Plot> = grids
            .iter()
            .map(|(_, snr, g)| {
                heatmap(g, "escape", Some(*snr), &Colour::Success(Criterion::Escape))
            })
            .collect();
        let labelled: Vec<(String, &Grid<C>)> =
            grids.iter().map(|(l, s, g)| (label(*l, *s), g)).collect();
        self.write(&self.stem("figure4", "batch_alpha"), &panels, 2, &labelled)
    }

    fn figure6(&self) -> Result<Vec<PathBuf>> {
        let grids = self.figure4_grids()?;
        let colours = [
            Colour::Mean {
                stat: "retain_accuracy",
                label: "retain accuracy at the end (fraction)",
                range: (0.0, 1.0),
            },
            Colour::Mean {
                stat: "mia_auc",
                label: "MIA AUC forget vs test (0.5 = unseen-like)",
                range: (0.0, 1.0),
            },
            Colour::Success(Criterion::Deletion),
        ];
        let titles = ["retain accuracy", "membership-inference AUC", "deletion"];
        let panels: Vec<Plot> = grids
            .iter()
            .flat_map(|(_, snr, g)| {
                colours
                    .iter()
                    .zip(titles)
                    .map(move |(c, t)| heatmap(g, t, Some(*snr), c))
            })
            .collect();
        let labelled: Vec<(String, &Grid<C>)> =
            grids.iter().map(|(l, s, g)| (label(*l, *s), g)).collect();
        self.write(&self.stem("figure6", "deletion"), &panels, 3, &labelled)
    }

    fn figure5(&self) -> Result<Vec<PathBuf>> {
        let grids = [Loss::Logistic, Loss::Squared]
            .into_iter()
            .map(|loss| {
                let x = Axis {
                    param: Param::Snr,
                    values: self.scale.snrs.clone(),
                };
                Ok((loss, self.grid(&self.grid_config(loss, LOW_SNR, x))?))
            })
            .collect::<Result<Vec<_>>>()?;
        let panels: Vec<Plot> = grids
            .iter()
            .map(|(_, g)| heatmap(g, "escape", None, &Colour::Success(Criterion::Escape)))
            .collect();
        let labelled: Vec<(String, &Grid<C>)> = grids
            .iter()
            .map(|(l, g)| (l.name().to_string(), g))
            .collect();
        self.write(&self.stem("figure5", "snr_alpha"), &panels, 2, &labelled)
    }

    /// Where figure 3 probes: the context's device and precision for a model with rank-one
    /// Hessians, an f64 CPU device otherwise (finite differences need f64).
    fn probe_device(&self) -> Result<(Device, Precision)> {
        Ok(if self.model.rank_one()? {
            (self.ctx.device.clone(), self.ctx.precision)
        } else {
            (Backend::cpu_device()?, Precision::F64)
        })
    }

    /// Pre-trains every (SNR, seed) of one loss and probes its coherence (cached).
    fn coherence_rows(&self, loss: Loss) -> Result<Vec<CoherenceRow>> {
        let (ctx, scale) = (self.ctx, &self.scale);
        let (device, precision) = self.probe_device()?;
        let setups: Vec<SetupConfig<C>> = scale
            .coherence_snrs
            .iter()
            .map(|&snr| self.setup(loss, snr, precision))
            .collect();
        let dir = RunDir::open(
            &ctx.runs,
            &CoherenceKey {
                figure: "figure3",
                device: format!("{device:?}"),
                setups: setups.iter().collect(),
                seeds: scale.coherence_seeds,
                alpha: SIGMA_U_ALPHA,
            },
        )?;
        if !ctx.force
            && let Some(rows) = dir.load::<Vec<CoherenceRow>>("rows")?
        {
            return Ok(rows);
        }
        let seeds = scale.coherence_seeds;
        let configs: Vec<SetupConfig<C>> = (0..setups.len() * seeds)
            .map(|k| setups[k / seeds].seeded(0, k % seeds))
            .collect();
        let data = par_map(configs.len(), 0, |k| Dataset::generate(&configs[k].data))
            .into_iter()
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let on_device: Vec<DeviceData> = data
            .iter()
            .zip(&configs)
            .map(|(data, cfg)| DeviceData::new(data, &device, cfg.precision))
            .collect();
        let trained: Vec<(C::Model, TrainReport)> = if ctx.batched {
            let runs = configs
                .iter()
                .zip(&on_device)
                .map(|(cfg, data)| {
                    Ok(TrainRun {
                        model: cfg.init(&device)?,
                        data,
                        config: &cfg.pretrain,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            pretrain_many(runs)?
        } else {
            par_map(configs.len(), 0, |k| -> Result<_> {
                let mut model = configs[k].init(&device)?;
                let report = pretrain(&mut model, &on_device[k], &configs[k].pretrain)?;
                Ok((model, report))
            })
            .into_iter()
            .collect::<Result<Vec<_>>>()?
        };
        let rows = par_map(configs.len(), 0, |k| -> Result<CoherenceRow> {
            let (cfg, dd, (model, report)) = (&configs[k], &on_device[k], &trained[k]);
            let c = model_coherence_report(
                model,
                loss,
                dd.x.clone(),
                dd.y.clone(),
                &dd.forget,
                SIGMA_U_ALPHA,
                &GenericOptions::default(),
            )?;
            Ok(CoherenceRow {
                loss,
                snr: cfg.data.snr,
                seed: k % seeds,
                sigma: c.sigma,
                sigma_r: c.sigma_r,
                sigma_f: c.sigma_f,
                sigma_rf: c.sigma_rf,
                sigma_u: c.sigma_u,
                lambda_max_h: c.lambda_max_h,
                residual_grad_norm: c.residual_grad_norm,
                pretrain_steps: report.steps,
                pretrain_converged: report.converged,
                train_accuracy: report.train_accuracy,
                test_accuracy: report.test_accuracy,
            })
        })
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        dir.store("rows", &rows)?;
        Ok(rows)
    }

    fn figure3(&self) -> Result<Vec<PathBuf>> {
        let (ctx, scale) = (self.ctx, &self.scale);
        let curvature = if self.model.rank_one()? {
            "rank-one Hessians H_i = ℓ''_i g_i g_iᵀ".to_string()
        } else {
            format!(
                "per-sample Hessians by finite differences in f64 (dense for p ≤ {}, else \
                 Hutchinson estimates of tr(H_i H_j))",
                GenericOptions::default().dense_max_params
            )
        };
        let mut written = Vec::new();
        for loss in [Loss::Logistic, Loss::Squared] {
            let rows = self.coherence_rows(loss)?;
            let snrs = &scale.coherence_snrs;
            let series_of = |name: &str, get: fn(&CoherenceRow) -> f64| {
                let (mean, sd): (Vec<f64>, Vec<f64>) = snrs
                    .iter()
                    .map(|&snr| {
                        let stat = Stat::of(rows.iter().filter(|r| r.snr == snr).map(get));
                        (stat.mean, stat.sd)
                    })
                    .unzip();
                Series::new(name, snrs.clone(), mean, sd)
            };
            let setup = self.setup(loss, LOW_SNR, ctx.precision);
            let test_acc = |snr: f64| {
                let v: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.snr == snr)
                    .map(|r| r.test_accuracy)
                    .collect();
                v.iter().sum::<f64>() / v.len() as f64
            };
            let plot = LinePlot {
                title: format!(
                    "{} coherence at w* vs SNR: {} loss, pre-training η = {}, n = {} (n_f = {}), d = {}, {}, {} seeds",
                    self.title_name(),
                    loss.name(),
                    setup.pretrain.eta,
                    setup.data.n,
                    setup.data.n_forget,
                    setup.data.d,
                    setup.model.describe(),
                    scale.coherence_seeds
                ),
                caption: format!(
                    "mean ± sd over seeds; σ_U at α = {SIGMA_U_ALPHA}; {curvature}; mean test accuracy {:.2} at SNR {} and {:.2} at SNR {}",
                    test_acc(snrs[0]),
                    snrs[0],
                    test_acc(snrs[snrs.len() - 1]),
                    snrs[snrs.len() - 1]
                ),
                x: PlotAxis::new("SNR ‖μ‖/(σ_p√d) (dimensionless)", snrs.clone()).with_log2(),
                y_label: "coherence (dimensionless)".into(),
                log_y: true,
                series: vec![
                    series_of("σ (all samples)", |r| r.sigma),
                    series_of("σ_R (retain)", |r| r.sigma_r),
                    series_of("σ_F (forget)", |r| r.sigma_f),
                    series_of("σ_RF (cross)", |r| r.sigma_rf),
                    series_of("σ_U (pairs)", |r| r.sigma_u),
                ],
            };
            let stem = self.stem("figure3", &format!("coherence_{}", loss.name()));
            let png = ctx.out.join(format!("{stem}.png"));
            frontier_plot::render_lines(&plot, &png)?;
            let csv_path = ctx.out.join(format!("{stem}.csv"));
            written.push(png);
            written.push(super::render::write_csv(&csv_path, &rows)?);
        }
        Ok(written)
    }
}

/// "logistic loss, SNR 0.05, η = 0.5, n = 100 (n_f = 10), d = 500, m = 10, 5 seeds, 200 steps".
fn describe<C: ModelSpec>(cfg: &GridConfig<C>, snr: Option<f64>) -> String {
    let s = &cfg.setup;
    let snr = snr.map_or(String::new(), |v| format!(", SNR {v}"));
    let batch = if cfg.x.param == Param::Batch {
        String::new()
    } else {
        format!(", B = {}", cfg.unlearn.step.batch_retain)
    };
    format!(
        "{} loss{snr}{batch}, η = {} (pre-training η = {}), n = {} (n_f = {}), d = {}, {}, {} seeds, {} steps",
        s.pretrain.loss.name(),
        cfg.unlearn.step.eta,
        s.pretrain.eta,
        s.data.n,
        s.data.n_forget,
        s.data.d,
        s.model.describe(),
        cfg.reps,
        cfg.unlearn.steps
    )
}

/// What a heatmap colours.
enum Colour {
    /// A success fraction, with the predicted boundaries and their agreement with it.
    Success(Criterion),
    /// The mean of a named statistic over the repetitions, in the given range.
    Mean {
        stat: &'static str,
        label: &'static str,
        range: (f64, f64),
    },
}

/// The plot of one grid.
fn heatmap<C: ModelSpec>(grid: &Grid<C>, what: &str, snr: Option<f64>, colour: &Colour) -> Plot {
    let cfg = &grid.config;
    let axis = |a: &Axis| PlotAxis {
        label: a.param.label().into(),
        values: a.values.clone(),
        log2: a.param.log2(),
    };
    let (values, colorbar, range, curves, caption) = match colour {
        Colour::Success(criterion) => {
            let boundaries = grid.boundaries(*criterion);
            let predictions = match &grid.predictions_skipped {
                Some(reason) => format!("no predicted boundaries: {reason}"),
                None => "predictions from the per-sample Hessians at w* (one per seed, majority)"
                    .to_string(),
            };
            let caption = boundaries
                .iter()
                .map(|b| {
                    format!(
                        "agreement of {} with the empirical majority: {:.2}",
                        b.label, b.agreement
                    )
                })
                .chain([format!(
                    "escape = ‖w − w*‖ > {}·‖w*‖ within the budget; {predictions}",
                    cfg.unlearn.escape_factor
                )])
                .collect::<Vec<_>>()
                .join("; ");
            let curves = boundaries
                .into_iter()
                .map(|b| Curve::new(format!("predicted: {}", b.label), b.points))
                .collect();
            (
                grid.values(|s| criterion.fraction(s)),
                criterion.label().to_string(),
                (0.0, 1.0),
                curves,
                caption,
            )
        }
        Colour::Mean { stat, label, range } => {
            let values = grid.values(|s: &CellSummary| s.stat(stat).mean);
            let flat: Vec<f64> = values.iter().flatten().copied().collect();
            let caption = format!(
                "mean over seeds; grid range {:.3} – {:.3}",
                flat.iter().copied().fold(f64::INFINITY, f64::min),
                flat.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            );
            (values, label.to_string(), *range, Vec::new(), caption)
        }
    };
    Plot {
        title: format!("{what}: {}", describe(cfg, snr)),
        caption,
        x: axis(&cfg.x),
        y: axis(&cfg.y),
        values,
        colorbar_label: colorbar,
        range: Some(range),
        curves,
    }
}

fn label(loss: Loss, snr: f64) -> String {
    format!("{} snr={snr}", loss.name())
}

/// One (loss, SNR, seed) of figure 3: the coherence report at w* and how pre-training went.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CoherenceRow {
    loss: Loss,
    snr: f64,
    seed: usize,
    sigma: f64,
    sigma_r: f64,
    sigma_f: f64,
    sigma_rf: f64,
    sigma_u: f64,
    lambda_max_h: f64,
    residual_grad_norm: f64,
    pretrain_steps: usize,
    pretrain_converged: bool,
    train_accuracy: f64,
    test_accuracy: f64,
}

/// What figure 3's cache is keyed on.
#[derive(Serialize)]
struct CoherenceKey<'a, C> {
    figure: &'static str,
    device: String,
    setups: Vec<&'a SetupConfig<C>>,
    seeds: usize,
    alpha: f64,
}
