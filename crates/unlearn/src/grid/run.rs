//! Running a grid: which of its shard's cells are pending (the rest come from the cache,
//! verified), the setups they need (from the store's shared setups or pre-trained, then the
//! linearisation at w*), every repetition of every pending cell (batched or one model at a
//! time), and storing each finished cell.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::tensor::Device;
use frontier_common::{Progress, par_map};
use frontier_model::ModelSpec;
use serde::Serialize;

use super::config::GridConfig;
use super::records::{AtOptimum, CellRecord, RepRecord};
use super::setups::{self, setup_key};
use super::shard::{Shard, owners};
use super::view::Grid;
use crate::batch::{BatchRun, unlearn_many};
use crate::cache::{Entry, RunDir, Store};
use crate::error::Result;
use crate::predict::{HessianMethod, Linearised, Query};
use crate::run::{RunOutcome, unlearn};
use crate::seeds;
use crate::setup::{Setup, SetupConfig};

/// Bump when the meaning of a cached cell changes: old caches are then not reused. (3: the
/// deletion metrics and label; 4: cells in verified envelopes, setups shared through the store;
/// 5: the verdict engine's predictions, T̂_esc and the residuals at w* per seed; 6: both.)
const CACHE_FORMAT: u32 = 6;

/// How to run a grid.
#[derive(Clone, Copy)]
pub struct GridOptions<'a> {
    /// The cache: the grid lives in one folder of it, named by the hash of its config.
    pub store: &'a Store,
    /// What the grid is, one line, for the store's index (e.g. "figure4 cnn: logistic
    /// snr=0.05").
    pub label: &'a str,
    /// Told the grid's units of work (setups to prepare + cells to compute) and each one
    /// finished, and warned (one line each) of every cache file that is not used because it
    /// is truncated, corrupt, edited or copied from elsewhere.
    pub progress: &'a dyn Progress,
    /// Recompute (and overwrite) the cached cells of this shard and the setups they need.
    pub force: bool,
    /// The cells this call computes ([`owners`] of the shard's index); the other cells are
    /// only read from the cache. [`Shard::WHOLE`]: every cell.
    pub shard: Shard,
    /// Compute at most this many new cells, then stop (the grid is then incomplete; a
    /// re-run continues). For tests and time-boxed runs.
    pub max_cells: Option<usize>,
    /// Worker threads (0 = all cores); results do not depend on it.
    pub threads: usize,
    /// Pre-train every setup and advance every run of the pending cells together as batched
    /// tensors ([`SetupConfig::prepare_many`], one [`unlearn_many`]); false trains and runs one
    /// model at a time, in parallel.
    pub batched: bool,
}

impl<'a> GridOptions<'a> {
    /// Cache in `store`, labelled `label`, progress to `progress`; no force, the whole grid,
    /// no limit, all cores, batched.
    pub fn new(store: &'a Store, label: &'a str, progress: &'a dyn Progress) -> Self {
        GridOptions {
            store,
            label,
            progress,
            force: false,
            shard: Shard::WHOLE,
            max_cells: None,
            threads: 0,
            batched: true,
        }
    }
}

/// What the cache key hashes: the format version, the device and the resolved config.
#[derive(Serialize)]
struct CacheKey<'a, C> {
    format: u32,
    device: String,
    config: &'a GridConfig<C>,
}

/// A setup (model `M` at w*) with its linearisation.
struct Prepared<M> {
    setup: Setup<M>,
    linearised: Option<Linearised>,
}

/// The cell file name of cell index `cell`.
fn cell_name(cell: usize) -> String {
    format!("cell_{cell:05}")
}

/// Runs (or resumes) the cells of `opts.shard` of the grid `cfg` on `device`, caching every
/// finished cell, and returns the grid with every cell the cache holds (other shards' too).
/// A cached cell of the shard is reused when it verifies (see [`crate::cache`]) and holds
/// its own indices; otherwise it is reported through `opts.progress` and computed again.
/// Predictions (when enabled) need per-sample Hessians the model can give
/// ([`HessianMethod::choose`]); when it cannot, the grid has none and says why in
/// [`Grid::predictions_skipped`].
pub fn run_grid<C: ModelSpec>(
    cfg: &GridConfig<C>,
    device: &Device,
    opts: &GridOptions<'_>,
) -> Result<Grid<C>> {
    cfg.validate()?;
    let (method, predictions_skipped) = prediction_method(cfg, device)?;
    let dir = opts.store.open(
        opts.label,
        &CacheKey {
            format: CACHE_FORMAT,
            device: format!("{device:?}"),
            config: cfg,
        },
    )?;
    let total = cfg.cells();
    let owner = owners(cfg, opts.shard.count())?;
    let mut pending = Vec::new();
    // Cells whose file must be replaced (rejected, or `force`); the others are written only
    // if no other process wrote them first.
    let mut replace = vec![opts.force; total];
    for cell in (0..total).filter(|&c| owner[c] == opts.shard.index()) {
        match load_cell(&dir, cfg, cell)? {
            Entry::Found(_) if !opts.force => {}
            Entry::Rejected(why) => {
                opts.progress.warn(&format!(
                    "cache: {}: {why}; not used",
                    dir.file(&cell_name(cell)).display()
                ));
                replace[cell] = true;
                pending.push(cell);
            }
            _ => pending.push(cell),
        }
    }
    pending.truncate(opts.max_cells.unwrap_or(usize::MAX));
    let nx = cfg.nx();
    let mut needed: BTreeMap<String, SetupConfig<C>> = BTreeMap::new();
    for &cell in &pending {
        for rep in 0..cfg.reps {
            let (setup, _) = cfg.resolve(cell % nx, cell / nx, rep)?;
            needed.insert(setup_key(&setup)?, setup);
        }
    }
    let (keys, configs): (Vec<String>, Vec<SetupConfig<C>>) = needed.into_iter().unzip();
    let progress = opts.progress;
    progress.start(keys.len() + pending.len());
    progress.stage("pre-training");
    let started = Instant::now();
    let setups = setups::prepare(&configs, device, opts)?;
    let linearised = par_map(setups.len(), opts.threads, |i| {
        let setup = &setups[i];
        let linearised = method
            .map(|m| Linearised::at(&setup.model, setup.loss, &setup.data, m))
            .transpose();
        progress.advance(1);
        linearised
    });
    let prepared = setups
        .into_iter()
        .zip(linearised)
        .map(|(setup, linearised)| {
            Ok(Prepared {
                setup,
                linearised: linearised?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let prepared: BTreeMap<&str, &Prepared<C::Model>> =
        keys.iter().map(String::as_str).zip(&prepared).collect();
    let setup_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let finish = |k: usize, record: CellRecord| {
        let (cell, name) = (pending[k], cell_name(pending[k]));
        if replace[cell] {
            dir.store(&name, &record)?;
        } else {
            dir.store_new(&name, &record)?;
        }
        progress.advance(1);
        Ok(())
    };
    progress.stage("cells");
    if opts.batched {
        run_cells_batched(cfg, &pending, &prepared, opts.threads, finish)?;
    } else {
        par_map(pending.len(), opts.threads, |k| {
            finish(k, compute_cell(cfg, pending[k], &prepared)?)
        })
        .into_iter()
        .collect::<Result<()>>()?;
    }
    let cells = (0..total)
        .map(|cell| Ok(load_cell(&dir, cfg, cell)?.found()))
        .collect::<Result<Vec<_>>>()?;
    Ok(Grid {
        config: cfg.clone(),
        cells,
        computed: pending.len(),
        predictions_skipped,
        setup_seconds,
        cells_seconds: started.elapsed().as_secs_f64(),
        dir: dir.path().to_path_buf(),
    })
}

/// Cell `cell` of `cfg` from `dir`, verified by the cache and rejected unless it holds its
/// own indices and axis values.
fn load_cell<C>(dir: &RunDir, cfg: &GridConfig<C>, cell: usize) -> Result<Entry<CellRecord>> {
    let (ix, iy) = (cell % cfg.nx(), cell / cfg.nx());
    Ok(match dir.load::<CellRecord>(&cell_name(cell))? {
        Entry::Found(r) if (r.ix, r.iy) != (ix, iy) => Entry::Rejected(format!(
            "holds cell (ix, iy) = ({}, {}), expected ({ix}, {iy})",
            r.ix, r.iy
        )),
        Entry::Found(r)
            if r.x != cfg.x.values[ix] || r.y != cfg.y.as_ref().map(|y| y.values[iy].clone()) =>
        {
            Entry::Rejected("holds other axis values than its cell's".into())
        }
        entry => entry,
    })
}

/// How the grid's predictions are made (`None` when disabled or impossible), and why they are
/// impossible, if they are. Decided once per grid on a freshly initialised model (every cell
/// has the same model, p and precision).
fn prediction_method<C: ModelSpec>(
    cfg: &GridConfig<C>,
    device: &Device,
) -> Result<(Option<HessianMethod>, Option<String>)> {
    if !cfg.predict.enabled {
        return Ok((None, None));
    }
    Ok(match HessianMethod::choose(&cfg.setup.init(device)?) {
        Ok(method) => (Some(method), None),
        Err(reason) => (None, Some(reason)),
    })
}

/// Every repetition of one cell, one run at a time.
fn compute_cell<C: ModelSpec>(
    cfg: &GridConfig<C>,
    cell: usize,
    prepared: &BTreeMap<&str, &Prepared<C::Model>>,
) -> Result<CellRecord> {
    let nx = cfg.nx();
    let outcomes = (0..cfg.reps)
        .map(|rep| {
            let (setup_cfg, unlearn_cfg) = cfg.resolve(cell % nx, cell / nx, rep)?;
            let p = prepared[setup_key(&setup_cfg)?.as_str()];
            let mut rng = seeds::stream(cfg.seed, cell as u64, rep as u64);
            unlearn(&p.setup, &unlearn_cfg, &mut rng)
        })
        .collect::<Result<Vec<_>>>()?;
    cell_record(cfg, cell, prepared, outcomes)
}

/// Every repetition of every cell of `pending`: all unlearning runs in one
/// [`unlearn_many`] (the same streams as [`compute_cell`]), then per cell in parallel the
/// predictions and `finish(k, record of pending[k])`.
fn run_cells_batched<C: ModelSpec>(
    cfg: &GridConfig<C>,
    pending: &[usize],
    prepared: &BTreeMap<&str, &Prepared<C::Model>>,
    threads: usize,
    finish: impl Fn(usize, CellRecord) -> Result<()> + Sync,
) -> Result<()> {
    let keys: Vec<&str> = prepared.keys().copied().collect();
    let setups: Vec<&Setup<C::Model>> = prepared.values().map(|p| &p.setup).collect();
    let nx = cfg.nx();
    let mut runs = Vec::with_capacity(pending.len() * cfg.reps);
    for &cell in pending {
        for rep in 0..cfg.reps {
            let (setup_cfg, config) = cfg.resolve(cell % nx, cell / nx, rep)?;
            let key = setup_key(&setup_cfg)?;
            runs.push(BatchRun {
                setup: keys
                    .binary_search(&key.as_str())
                    .expect("every setup is prepared"),
                config,
                rng: seeds::stream(cfg.seed, cell as u64, rep as u64),
            });
        }
    }
    let outcomes = unlearn_many(&setups, runs)?;
    par_map(pending.len(), threads, |k| {
        let reps = outcomes[k * cfg.reps..(k + 1) * cfg.reps].to_vec();
        finish(k, cell_record(cfg, pending[k], prepared, reps)?)
    })
    .into_iter()
    .collect()
}

/// The record of one cell from its runs' outcomes (one per repetition, in order), with the
/// predictions of each repetition's setup: growth within K from the streams of (seed derived
/// from (grid seed, rep), cell), γ_∞ (for the first `predict.asymptotic.setups`
/// repetitions) from a seed derived from (grid seed, rep) shared by the setup's cells.
fn cell_record<C: ModelSpec>(
    cfg: &GridConfig<C>,
    cell: usize,
    prepared: &BTreeMap<&str, &Prepared<C::Model>>,
    outcomes: Vec<RunOutcome>,
) -> Result<CellRecord> {
    let nx = cfg.nx();
    let (ix, iy) = (cell % nx, cell / nx);
    let reps = outcomes
        .into_iter()
        .enumerate()
        .map(|(rep, outcome)| {
            let (setup_cfg, unlearn_cfg) = cfg.resolve(ix, iy, rep)?;
            let p = prepared[setup_key(&setup_cfg)?.as_str()];
            let prediction = p
                .linearised
                .as_ref()
                .map(|l| {
                    let query = Query {
                        settings: unlearn_cfg.step,
                        budget: unlearn_cfg.steps,
                        radius: unlearn_cfg.escape_factor * p.setup.start_norm,
                        growth_seed: seeds::derive(cfg.seed, rep as u64, seeds::LYAPUNOV),
                        cell: cell as u64,
                        asymptotic_seed: (rep < cfg.predict.asymptotic.setups)
                            .then(|| seeds::derive(cfg.seed, rep as u64, seeds::ASYMPTOTIC)),
                    };
                    l.predict(&query, &cfg.predict)
                })
                .transpose()?;
            Ok(RepRecord {
                outcome,
                start: p.setup.start.clone(),
                retrained: p.setup.retrained.clone(),
                start_norm: p.setup.start_norm,
                pretrain_converged: p.setup.pretrain.converged,
                at_optimum: AtOptimum::new(
                    &p.setup.pretrain,
                    p.linearised.as_ref().map(|l| &l.escape),
                ),
                prediction,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(CellRecord {
        ix,
        iy,
        x: cfg.x.values[ix].clone(),
        y: cfg.y.as_ref().map(|y| y.values[iy].clone()),
        reps,
    })
}
