//! Kind `coherence` (figure 3): a registered model pre-trained at each SNR and seed, its
//! coherence at w* (σ, σ_R, σ_F, σ_RF, σ_U) and curvature, mean ± sd over seeds, one line plot
//! per panel (e.g. per loss), with the training and forget loss at w* (matched-loss
//! pre-training makes them comparable across SNR) in the CSV and the caption. A model whose per-sample Hessians are not rank one is probed by
//! finite differences, in f64 on a CPU device whatever `--backend` says. The rows are cached
//! in the store, one folder per panel; `--shard K/N` computes the panels i with i mod N = K − 1
//! (counting from 0).

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use frontier_common::{Progress, Stat, Table, par_map};
use frontier_model::{
    Dataset, DeviceData, Loss, ModelSpec, Precision, TrainReport, TrainRun, pretrain, pretrain_many,
};
use frontier_plot::{Axis as PlotAxis, LinePlot, Series, lines_png};
use frontier_probes::{GenericOptions, model_coherence_report};
use frontier_unlearn::{Entry, SetupConfig};
use serde::{Deserialize, Serialize};

use super::grid::PanelSpec;
use super::render::Outputs;
use super::spec::{ConfigFile, merge};
use super::{Context, Missing, ModelFigure, Part, planned};
use crate::backend::Backend;
use crate::models::{Registered, WithModel};

/// Figure 3's settings (kind `coherence`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoherenceFigure {
    /// One line on what it shows.
    pub about: String,
    /// The registered model (`cnn`, `mlp`); its config is `setup.model`.
    pub model: String,
    /// Output files: `<file name>_<model>_<stem>_<panel label>.png` (and `.csv`,
    /// `.config.toml`).
    pub stem: String,
    /// The SNRs (x axis).
    pub snrs: Vec<f64>,
    /// Seeds per SNR: data and initialisation of seed r derive from (`seed`, r).
    pub seeds: usize,
    /// Master seed.
    pub seed: u64,
    /// Mixing ratio α of the pair coherence σ_U.
    pub sigma_u_alpha: f64,
    /// The base setup (`frontier_unlearn::SetupConfig`: `data`, `model`, `pretrain`,
    /// `precision`); `data.snr` and the seeds are set per run.
    #[serde(default)]
    pub setup: toml::Table,
    /// The panels (one PNG each), each `set` merged over `setup`.
    pub panels: Vec<PanelSpec>,
}

/// One (SNR, seed) of a panel: the coherence report at w* and how pre-training went.
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
    /// Mean training loss at w* (nats).
    training_loss: f64,
    /// Mean forget loss at w* (nats).
    forget_loss: f64,
    train_accuracy: f64,
    test_accuracy: f64,
}

/// Bump when [`CoherenceRow`] changes: cached rows of an older format are not reused.
const ROWS_FORMAT: u32 = 2;

/// What a panel's cache folder is keyed on.
#[derive(Serialize)]
struct CoherenceKey<'a, C> {
    format: u32,
    figure: &'a str,
    device: String,
    setups: Vec<&'a SetupConfig<C>>,
    seeds: usize,
    alpha: f64,
}

/// Runs a `coherence` file: every panel's rows (cached), a line plot and CSV per panel.
pub fn run(file: &ConfigFile, ctx: &Context, label: &str) -> Result<Vec<PathBuf>> {
    let figure: CoherenceFigure = file.parse()?;
    let model = figure.model.clone();
    ModelFigure::run(file, ctx, label, figure, &model)
}

/// A `coherence` file run for one registered model.
type Task<'a> = ModelFigure<'a, CoherenceFigure>;

/// The resolved config of one panel's outputs.
#[derive(Serialize)]
struct Resolved<'a, C> {
    about: &'a str,
    model: &'a str,
    stem: &'a str,
    snrs: &'a [f64],
    seeds: usize,
    seed: u64,
    sigma_u_alpha: f64,
    panels: [ResolvedPanel<'a, C>; 1],
}

#[derive(Serialize)]
struct ResolvedPanel<'a, C> {
    label: &'a str,
    set: &'a SetupConfig<C>,
}

impl WithModel for Task<'_> {
    type Output = Result<Vec<PathBuf>>;

    fn run<C: ModelSpec>(self, model: Registered<C>) -> Result<Vec<PathBuf>> {
        let (file, figure) = (self.file, &self.figure);
        let rank_one = model.rank_one()?;
        let panels = figure
            .panels
            .iter()
            .map(|p| {
                let mut table = figure.setup.clone();
                merge(&mut table, &p.set);
                if let Some(swap) = &self.swap {
                    swap.apply(&mut table);
                }
                let mut setup: SetupConfig<C> =
                    file.parse_value(&format!("panel `{}`", p.label), toml::Value::Table(table))?;
                if let Some(dtype) = self.ctx.dtype {
                    setup.precision = dtype;
                }
                Ok((p.label.as_str(), setup))
            })
            .collect::<Result<Vec<_>>>()?;
        let plan = format!(
            "{} panels × {} SNRs × {} seeds of the {}",
            panels.len(),
            figure.snrs.len(),
            figure.seeds,
            model.name
        );
        if planned(self.ctx, file, plan) {
            return Ok(Vec::new());
        }
        let mut out = Outputs::new(self.ctx, file);
        let mut missing = Missing::default();
        for (i, (panel, setup)) in panels.iter().enumerate() {
            let progress = format!("{} · {panel} ({} of {})", self.label, i + 1, panels.len());
            let owner = |shards: usize| i % shards + 1;
            let compute = match self.ctx.part {
                Part::Shard(shard) if owner(shard.count()) != shard.index() => continue,
                Part::Check(_) => false,
                _ => true,
            };
            let rows = self.rows(model.name, panel, setup, rank_one, &progress, compute)?;
            if let (Part::Check(shards), None) = (self.ctx.part, &rows) {
                missing.panels += 1;
                missing.shards.insert(owner(shards));
                missing.of = shards;
                missing.lines.push(format!(
                    "{} · {panel}: shard {}/{shards} lacks the panel's rows",
                    file.name,
                    owner(shards)
                ));
            }
            let (Some(rows), true) = (rows, self.ctx.part.renders()) else {
                continue;
            };
            let plot = self.plot(model.name, setup, &rows, rank_one);
            let stem = format!("{}_{}_{}_{panel}", file.name, model.name, figure.stem);
            let resolved = Resolved {
                about: &figure.about,
                model: model.name,
                stem: &figure.stem,
                snrs: &figure.snrs,
                seeds: figure.seeds,
                seed: figure.seed,
                sigma_u_alpha: figure.sigma_u_alpha,
                panels: [ResolvedPanel {
                    label: panel,
                    set: setup,
                }],
            };
            let table = Table::from_rows(&rows)?;
            out.write(&stem, &lines_png(&plot)?, &table, "coherence", &resolved)?;
        }
        if !missing.lines.is_empty() {
            return Err(missing.into());
        }
        Ok(out.written)
    }
}

impl Task<'_> {
    /// Where the probes run: the context's device and the setup's precision for a model with
    /// rank-one Hessians, an f64 CPU device otherwise (finite differences need f64).
    fn probe_device(&self, precision: Precision, rank_one: bool) -> Result<(Device, Precision)> {
        Ok(if rank_one {
            (self.ctx.device.clone(), precision)
        } else {
            (Backend::cpu_device()?, Precision::F64)
        })
    }

    /// Pre-trains every (SNR, seed) of one panel and probes its coherence, or loads the rows
    /// from the cache (a rejected cache file is reported and not used); `None` when they are
    /// not cached and `compute` is false.
    fn rows<C: ModelSpec>(
        &self,
        model: &str,
        panel: &str,
        base: &SetupConfig<C>,
        rank_one: bool,
        progress: &str,
        compute: bool,
    ) -> Result<Option<Vec<CoherenceRow>>> {
        let (ctx, figure) = (self.ctx, &self.figure);
        let (device, precision) = self.probe_device(base.precision, rank_one)?;
        let setups: Vec<SetupConfig<C>> = figure
            .snrs
            .iter()
            .map(|&snr| {
                let mut s = base.clone();
                s.data.snr = snr;
                s.precision = precision;
                s
            })
            .collect();
        let dir = ctx.store.open(
            &format!("{} {model}: {panel}", self.file.name),
            &CoherenceKey {
                format: ROWS_FORMAT,
                figure: &self.file.name,
                device: format!("{device:?}"),
                setups: setups.iter().collect(),
                seeds: figure.seeds,
                alpha: figure.sigma_u_alpha,
            },
        )?;
        match dir.load::<Vec<CoherenceRow>>("rows")? {
            Entry::Found(rows) if !ctx.force => return Ok(Some(rows)),
            Entry::Rejected(why) => ctx.mode.warn(format!(
                "cache: {}: {why}; not used",
                dir.file("rows").display()
            )),
            _ => {}
        }
        if !compute {
            return Ok(None);
        }
        let seeds = figure.seeds;
        let configs: Vec<SetupConfig<C>> = (0..setups.len() * seeds)
            .map(|k| setups[k / seeds].seeded(figure.seed, k % seeds))
            .collect();
        let reporter = ctx.mode.reporter(progress);
        reporter.start(2 * configs.len());
        reporter.stage("pre-training");
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
            let trained = pretrain_many(runs)?;
            reporter.advance(configs.len());
            trained
        } else {
            par_map(configs.len(), 0, |k| -> Result<_> {
                let mut model = configs[k].init(&device)?;
                let report = pretrain(&mut model, &on_device[k], &configs[k].pretrain)?;
                reporter.advance(1);
                Ok((model, report))
            })
            .into_iter()
            .collect::<Result<Vec<_>>>()?
        };
        reporter.stage("probes");
        let rows = par_map(configs.len(), 0, |k| -> Result<CoherenceRow> {
            let (cfg, dd, (model, report)) = (&configs[k], &on_device[k], &trained[k]);
            let c = model_coherence_report(
                model,
                cfg.pretrain.loss,
                dd.x.clone(),
                dd.y.clone(),
                &dd.forget,
                figure.sigma_u_alpha,
                &GenericOptions::default(),
            )?;
            reporter.advance(1);
            Ok(CoherenceRow {
                loss: cfg.pretrain.loss,
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
                training_loss: report.final_loss,
                forget_loss: report.forget_loss,
                train_accuracy: report.train_accuracy,
                test_accuracy: report.test_accuracy,
            })
        })
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        dir.store("rows", &rows)?;
        Ok(Some(rows))
    }

    /// The line plot of one panel: every coherence, mean ± sd over seeds, against SNR.
    fn plot<C: ModelSpec>(
        &self,
        model: &str,
        setup: &SetupConfig<C>,
        rows: &[CoherenceRow],
        rank_one: bool,
    ) -> LinePlot {
        let figure = &self.figure;
        let snrs = &figure.snrs;
        let at = |snr: f64| rows.iter().filter(move |r| r.snr == snr);
        let series_of = |name: &str, get: fn(&CoherenceRow) -> f64| {
            let (mean, sd): (Vec<f64>, Vec<f64>) = snrs
                .iter()
                .map(|&snr| {
                    let stat = Stat::of(at(snr).map(get));
                    (stat.mean, stat.sd)
                })
                .unzip();
            Series::new(name, snrs.clone(), mean, sd)
        };
        let test_acc = |snr: f64| Stat::of(at(snr).map(|r| r.test_accuracy)).mean;
        let curvature = if rank_one {
            "rank-one Hessians H_i = ℓ''_i g_i g_iᵀ".to_string()
        } else {
            format!(
                "per-sample Hessians by finite differences in f64 (dense for p ≤ {}, else \
                 Hutchinson estimates of tr(H_i H_j))",
                GenericOptions::default().dense_max_params
            )
        };
        let (first, last) = (snrs[0], snrs[snrs.len() - 1]);
        let range = |get: fn(&CoherenceRow) -> f64| {
            let (lo, hi) = rows
                .iter()
                .map(get)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
            format!("{lo:.2e}–{hi:.2e}")
        };
        let (n_f, alpha) = (setup.data.forget_count() as f64, figure.sigma_u_alpha);
        let n_r = setup.data.n as f64 - n_f;
        let a = 1.0 - alpha;
        // σ_U of mutually orthogonal rank-one curvature of equal scale (the rook graph).
        let rook =
            ((a * a + alpha * alpha).sqrt() + a * (n_f - 1.0) + alpha * (n_r - 1.0)) / a.max(alpha);
        LinePlot {
            title: format!(
                "{} coherence at w* vs SNR: {} loss, pre-training η = {}, n = {} (n_f = {}), d = {}, {}, {} seeds",
                model.to_uppercase(),
                setup.pretrain.loss.name(),
                setup.pretrain.eta,
                setup.data.n,
                setup.data.forget_count(),
                setup.data.d,
                setup.model.describe(),
                figure.seeds
            ),
            caption: format!(
                "mean ± sd over seeds; at w*: training loss {}, forget loss {} (matched-loss band \
                 [{}, {}]); σ_U at α = {alpha}, normalised by max over pairs of \
                 λ_max((1−α)H_r + αH_f); σ_U does not measure memorisation: pairs sharing a \
                 sample are coupled, so orthogonal rank-one curvature (σ = 1) gives σ_U = {rook:.1} \
                 ≈ n_r + n_f (rook graph); {curvature}; mean test accuracy {:.2} at SNR {first} \
                 and {:.2} at SNR {last}",
                range(|r| r.training_loss),
                range(|r| r.forget_loss),
                setup.pretrain.loss_tol / 4.0,
                setup.pretrain.loss_tol,
                test_acc(first),
                test_acc(last),
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
        }
    }
}
