//! The grid engine end to end on tiny CNN grids: resume, determinism, batched against one
//! model at a time, boundaries, and the rank-one predictions against recorded values.

use burn::tensor::Device;
use frontier_common::{Progress, Silent};
use frontier_model::Precision;
use frontier_stability::{Rule, Verdict};

use super::*;
use crate::cache::Store;
use crate::run::tests::tiny;

/// 2 × 2 cells (B ∈ {1, 3}, α ∈ {0, 1}), 2 repetitions, 15 steps.
fn config(seed: u64) -> GridConfig {
    GridConfig::smoke(tiny(0.05), seed)
}

fn run(cfg: &GridConfig, runs: &std::path::Path, max_cells: Option<usize>, threads: usize) -> Grid {
    let store = Store::at(runs);
    let opts = GridOptions {
        max_cells,
        threads,
        ..GridOptions::new(&store, "test", &Silent)
    };
    run_grid(cfg, &Device::flex(), &opts).unwrap()
}

fn csv_of(grid: &Grid) -> String {
    String::from_utf8(table(&[("tiny", grid)]).unwrap().to_csv().unwrap()).unwrap()
}

#[test]
fn resume_gives_the_same_csv_and_computes_each_cell_once() {
    let cfg = config(7);
    let interrupted = tempfile::tempdir().unwrap();
    let first = run(&cfg, interrupted.path(), Some(1), 1);
    assert_eq!((first.computed, first.is_complete()), (1, false));
    let second = run(&cfg, interrupted.path(), Some(2), 2);
    assert_eq!((second.computed, second.is_complete()), (2, false));
    let third = run(&cfg, interrupted.path(), None, 1);
    assert_eq!((third.computed, third.is_complete()), (1, true));
    assert_eq!(
        run(&cfg, interrupted.path(), None, 1).computed,
        0,
        "all cached"
    );
    let fresh = tempfile::tempdir().unwrap();
    let whole = run(&cfg, fresh.path(), None, 2);
    assert_eq!(whole.computed, 4);
    assert_eq!(csv_of(&third), csv_of(&whole), "resumed vs uninterrupted");
    let store = Store::at(fresh.path());
    let forced = run_grid(
        &cfg,
        &Device::flex(),
        &GridOptions {
            force: true,
            ..GridOptions::new(&store, "test", &Silent)
        },
    )
    .unwrap();
    assert_eq!(forced.computed, 4);
    assert_eq!(csv_of(&forced), csv_of(&whole));
}

#[test]
fn same_config_and_seed_give_byte_identical_csv() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = csv_of(&run(&config(3), a.path(), None, 1));
    let two = csv_of(&run(&config(3), b.path(), None, 2));
    assert_eq!(one, two);
    let lines: Vec<&str> = one.lines().collect();
    assert_eq!(lines.len(), 5, "header + 4 cells");
    for column in [
        "panel",
        "batch",
        "alpha",
        "escape_fraction",
        "mia_auc_mean",
        "predicted_mean_square_fraction",
    ] {
        assert!(
            lines[0].split(',').any(|c| c == column),
            "{column} in {}",
            lines[0]
        );
    }
    let c = tempfile::tempdir().unwrap();
    assert_ne!(
        one,
        csv_of(&run(&config(4), c.path(), None, 2)),
        "another seed"
    );
}

/// The whole grid through one batched call and one run at a time, in f64, over η × α
/// (B = 3, 25 steps, 3 repetitions; the large η escapes at α > 0): the same CSV up to
/// summation order (the batched kernels add in another order, so the last digits of some
/// means differ): every number within 1e-9 relative, the fractions equal.
#[test]
fn batched_and_one_at_a_time_grids_give_the_same_csv_in_f64() {
    let mut cfg = config(11);
    cfg.setup.precision = Precision::F64;
    cfg.unlearn.steps = 25;
    cfg.unlearn.step.batch_retain = 3;
    cfg.x = Axis::numbers(Param::Eta, vec![0.5, 5.0]);
    cfg.y = Some(Axis::numbers(Param::Alpha, vec![0.0, 0.5, 1.0]));
    cfg.reps = 3;
    let grid = |batched| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        let opts = GridOptions {
            batched,
            ..GridOptions::new(&store, "test", &Silent)
        };
        csv_of(&run_grid(&cfg, &Device::flex(), &opts).unwrap())
    };
    let (batched, single) = (grid(true), grid(false));
    let (b_lines, s_lines): (Vec<&str>, Vec<&str>) =
        (batched.lines().collect(), single.lines().collect());
    assert_eq!(b_lines.len(), s_lines.len());
    assert_eq!(b_lines[0], s_lines[0], "header");
    for (b, s) in b_lines[1..].iter().zip(&s_lines[1..]) {
        for (x, y) in b.split(',').zip(s.split(',')) {
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) if x.is_finite() => assert!(
                    (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                    "batched={x}, one-run={y}\n{b}\n{s}"
                ),
                _ => assert_eq!(x, y),
            }
        }
    }
    let escape = b_lines[0].split(',').position(|c| c == "escape_fraction");
    let escapes = |line: &&str| line.split(',').nth(escape.unwrap()) != Some("0.0");
    assert!(
        b_lines[1..].iter().any(escapes),
        "some cell escapes:\n{batched}"
    );
    assert!(
        !b_lines[1..].iter().all(escapes),
        "some cell stays:\n{batched}"
    );
}

#[test]
fn boundaries_and_values_cover_the_grid() {
    let dir = tempfile::tempdir().unwrap();
    let grid = run(&config(5), dir.path(), None, 2);
    let values = grid.values(|s| s.stat("retain_accuracy").mean);
    assert_eq!((values.len(), values[0].len()), (2, 2));
    let boundaries = grid.boundaries(Criterion::Escape);
    assert_eq!(
        boundaries.iter().map(|b| b.rule).collect::<Vec<_>>(),
        Rule::ALL,
        "every rule has a verdict in every cell"
    );
    for b in &boundaries {
        assert_eq!(b.points.len(), 4);
        assert_eq!(b.scores.cells, 4);
        assert!((0.0..=1.0).contains(&b.scores.base_rate), "{b:?}");
    }
    // α = 0: descent only, nothing escapes; the first moment agrees.
    let s = grid.summaries();
    assert_eq!((s[0].escape, s[0].predicted(Rule::FirstMoment)), (0.0, 0.0));
}

/// The rank-one predictions of the CNN (B ∈ {1, 3} × α ∈ {0, 0.3, 1}, 2 seeds), recorded
/// before the trainer became generic over models: (ix, iy, ρ, λ_min(H_α), λ_max(H_α), σ_U,
/// [mean square, first moment, pair bound]) per cell and repetition. ρ was re-recorded when
/// ρ(T) moved from power iteration to Lanczos (same 20-step budget): every new value is ≥ the
/// old one (both are lower bounds; the old ones, e.g. 1.0072379 for cell (0, 1), were
/// unconverged), and no verdict changed. σ_U at α = 0.3 was re-recorded when the magnitude σ_U
/// got its own normaliser, max λ_max((1−α)H_r + αH_f). The simulated predictors (γ_∞, growth
/// within K) are checked against their own references in `frontier-stability`.
#[allow(clippy::type_complexity)]
#[rustfmt::skip]
const RANK_ONE_GOLDEN: [(usize, usize, f64, f64, f64, f64, [bool; 3]); 12] = [
    (0, 0, 1.0, -2.359970127844732e-18, 0.01254785595335617, 7.156876126207942, [false, false, false]),
    (0, 0, 1.0, -9.265203384138007e-19, 0.010747708332157184, 8.442108395567562, [false, false, false]),
    (1, 0, 1.0, -2.359970127844732e-18, 0.01254785595335617, 7.156876126207942, [false, false, false]),
    (1, 0, 1.0, -9.265203384138007e-19, 0.010747708332157184, 8.442108395567562, [false, false, false]),
    (0, 1, 1.007297188663415, -0.007224834400806995, 0.008643442840657345, 10.771090871921475, [true, true, false]),
    (0, 1, 1.0087481972949237, -0.008688088714845336, 0.0072662317260231805, 15.448399567698978, [true, true, false]),
    (1, 1, 1.0072496521859475, -0.007224834400806995, 0.008643442840657345, 10.771090871921475, [true, true, false]),
    (1, 1, 1.0087150688225157, -0.008688088714845336, 0.0072662317260231805, 15.448399567698978, [true, true, false]),
    (0, 2, 1.025632243364415, -0.02480187611984106, 3.57352699994199e-18, 24.35246783708648, [true, true, false]),
    (0, 2, 1.031599414184366, -0.030860692282101924, 3.2395285481459035e-18, 27.283540332106924, [true, true, false]),
    (1, 2, 1.0250875665933543, -0.02480187611984106, 3.57352699994199e-18, 24.35246783708648, [true, true, false]),
    (1, 2, 1.0311925905039865, -0.030860692282101924, 3.2395285481459035e-18, 27.283540332106924, [true, true, false]),
];

#[test]
fn rank_one_predictions_of_the_cnn_are_unchanged() {
    let mut cfg = config(3);
    cfg.y = Some(Axis::numbers(Param::Alpha, vec![0.0, 0.3, 1.0]));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    // Recorded with setups pre-trained one at a time (in f32 batched pre-training moves w*
    // at the 1e-7 level).
    let opts = GridOptions {
        threads: 2,
        batched: false,
        ..GridOptions::new(&store, "test", &Silent)
    };
    let grid = run_grid(&cfg, &Device::flex(), &opts).unwrap();
    let got: Vec<_> = grid
        .cells
        .iter()
        .flatten()
        .flat_map(|c| c.reps.iter().map(move |r| (c.ix, c.iy, r)))
        .collect();
    assert_eq!(got.len(), RANK_ONE_GOLDEN.len());
    for ((ix, iy, r), golden) in got.into_iter().zip(RANK_ONE_GOLDEN) {
        let p = r.prediction.as_ref().expect("CNN grids predict");
        let (gx, gy, rho, lmin, lmax, sigma_u, verdicts) = golden;
        assert_eq!((ix, iy), (gx, gy));
        for (name, rust, reference) in [
            ("rho", p.rho, rho),
            ("lambda_min_h_alpha", p.lambda_min_h_alpha, lmin),
            ("lambda_max_h_alpha", p.lambda_max_h_alpha, lmax),
            ("sigma_u", p.sigma_u, sigma_u),
        ] {
            // 1e-9 relative, 1e-15 absolute for the round-off zeros of λ(H_α).
            assert!(
                (rust - reference).abs() <= 1e-9 * reference.abs() + 1e-15,
                "cell ({ix}, {iy}) {name}: rust={rust}, reference={reference}"
            );
        }
        let v = &p.verdicts;
        let rules = [v.mean_square, v.first_moment, v.coherence_bound];
        assert_eq!(rules, verdicts, "cell ({ix}, {iy})");
    }
}

/// A budget axis: T̂_esc and γ_∞ do not depend on K, so the cells of one α share them (γ_∞
/// computed once per setup and step setting, for the first setup only, as configured); the
/// finite-budget verdict is exactly T̂_esc ≤ K of each cell; the escape rule's κ is
/// ln(1 + η|λ_min(H_α)|) of the same prediction; growth within K runs over K steps.
#[test]
fn a_budget_axis_shares_what_does_not_depend_on_the_budget() {
    let mut cfg = config(13);
    cfg.x = Axis::numbers(Param::Steps, vec![5.0, 15.0]);
    cfg.y = Some(Axis::numbers(Param::Alpha, vec![0.0, 1.0]));
    cfg.unlearn.step.batch_retain = 3;
    let dir = tempfile::tempdir().unwrap();
    let grid = run(&cfg, dir.path(), None, 2);
    let cell = |ix: usize, iy: usize| grid.cells[iy * 2 + ix].as_ref().unwrap();
    for iy in 0..2 {
        for rep in 0..2 {
            let (short, long) = (
                cell(0, iy).reps[rep].prediction.as_ref().unwrap(),
                cell(1, iy).reps[rep].prediction.as_ref().unwrap(),
            );
            assert_eq!(short.escape_steps.to_bits(), long.escape_steps.to_bits());
            assert_eq!(short.rho.to_bits(), long.rho.to_bits());
            if rep == 0 {
                assert_eq!(short.gamma_inf.to_bits(), long.gamma_inf.to_bits());
                assert_eq!(short.verdicts.asymptotic, long.verdicts.asymptotic);
                assert!(short.verdicts.asymptotic.is_some() && short.gamma_inf_steps >= 200);
            } else {
                assert!(short.gamma_inf.is_nan() && short.verdicts.asymptotic.is_none());
            }
            for (p, budget) in [(short, 5.0), (long, 15.0)] {
                assert_eq!(
                    p.verdicts.finite_budget,
                    Some(p.escape_steps <= budget),
                    "{p:?}"
                );
                // κ = ln(1 + η|λ_min|) where λ_min is negative beyond round-off (relative
                // 1e-9 of the largest |λ|), else 0.
                let (lo, hi) = (p.lambda_min_h_alpha, p.lambda_max_h_alpha);
                let kappa = if lo < -1e-9 * lo.abs().max(hi.abs()) {
                    (cfg.unlearn.step.eta * -lo).ln_1p()
                } else {
                    0.0
                };
                assert!(
                    (p.kappa - kappa).abs() <= 1e-12 * kappa,
                    "rust={}, reference={kappa}",
                    p.kappa
                );
            }
        }
    }
    // α = 0: no unstable direction, no escape predicted at any budget.
    let stable = cell(1, 0).summary();
    assert_eq!(stable.verdict(Rule::FiniteBudget), Some(Verdict::Stable));
    assert!(stable.stat("escape_steps_predicted").mean.is_infinite());
    for name in [
        "training_loss",
        "grad_cos",
        "alpha_drift",
        "max_sample_grad_norm",
    ] {
        assert!(stable.stat(name).mean.is_finite(), "{name}: {stable:?}");
    }
    let frontier = grid.first_predicted(Rule::FirstMoment);
    assert_eq!(
        frontier,
        vec![1.0, 1.0],
        "α = 1 is the first α predicted to escape"
    );
}

/// One axis: a row of cells, a CSV without a y column, no boundaries; the one-axis grid's
/// cells equal the matching row of the two-axis grid (same streams, since the cell index of
/// column ix in row 0 is ix).
#[test]
fn a_one_axis_grid_is_row_zero_of_the_two_axis_grid() {
    let two = config(9);
    let mut one = two.clone();
    one.y = None;
    one.setup = two.setup.clone();
    one.unlearn.step.alpha = 0.0;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (g1, g2) = (run(&one, a.path(), None, 1), run(&two, b.path(), None, 1));
    assert_eq!(g1.cells.len(), 2);
    assert!(g1.boundaries(Criterion::Escape).is_empty());
    assert_eq!(g1.values(|s| s.escape).len(), 1);
    let text = csv_of(&g1);
    assert!(text.starts_with("panel,batch,reps,"), "{text}");
    for ix in 0..2 {
        let (c1, c2) = (
            g1.cells[ix].as_ref().unwrap(),
            g2.cells[ix].as_ref().unwrap(),
        );
        // Debug text (shortest round-trip floats) compares NaN (γ_∞ of the seeds without one)
        // as equal, where `==` would not.
        assert_eq!(
            format!("{:?}", c1.reps),
            format!("{:?}", c2.reps),
            "cell {ix}"
        );
    }
}

/// A 3 × 3 grid (B ∈ {1, 2, 3} × α ∈ {0, 0.5, 1}), 2 seeds: 9 cells, a multiple of neither 2
/// nor 7.
fn nine_cells() -> GridConfig {
    let mut cfg = config(21);
    cfg.x = Axis::numbers(Param::Batch, vec![1.0, 2.0, 3.0]);
    cfg.y = Some(Axis::numbers(Param::Alpha, vec![0.0, 0.5, 1.0]));
    cfg
}

/// Runs shard `shard` of `cfg` one model at a time (the CPU default) into `store`.
fn run_shard(cfg: &GridConfig, store: &Store, shard: Shard, progress: &dyn Progress) -> Grid {
    let opts = GridOptions {
        shard,
        batched: false,
        ..GridOptions::new(store, "test", progress)
    };
    run_grid(cfg, &Device::flex(), &opts).unwrap()
}

/// The cell files in `grid`'s folder.
fn cell_files(grid: &Grid) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(&grid.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cell_"))
        .collect()
}

/// Shards 1..N of a grid, run one after the other into one store, compute every cell exactly
/// once (each shard adds exactly the files of the cells it owns, and counts them as
/// computed), for N = 1, 2, 3, 7; together they give the unsharded grid's CSV byte for byte.
#[test]
fn shards_compute_every_cell_once_and_merge_to_the_unsharded_csv() {
    let cfg = nine_cells();
    let whole_dir = tempfile::tempdir().unwrap();
    let whole = run_shard(&cfg, &Store::at(whole_dir.path()), Shard::WHOLE, &Silent);
    assert_eq!(whole.computed, 9);
    for n in [1, 2, 3, 7] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        let owner = owners(&cfg, n).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for k in 1..=n {
            let grid = run_shard(&cfg, &store, Shard::new(k, n).unwrap(), &Silent);
            let owned: std::collections::BTreeSet<String> = (0..9)
                .filter(|&c| owner[c] == k)
                .map(|c| format!("cell_{c:05}.json"))
                .collect();
            assert_eq!(grid.computed, owned.len(), "N = {n}, shard {k}");
            let files = cell_files(&grid);
            let new: std::collections::BTreeSet<String> =
                files.difference(&seen).cloned().collect();
            assert_eq!(new, owned, "N = {n}, shard {k} adds its own cells");
            seen = files;
        }
        assert_eq!(seen.len(), 9, "N = {n}");
        let merged = run_shard(&cfg, &store, Shard::WHOLE, &Silent);
        assert_eq!(merged.computed, 0, "N = {n}: all cached");
        assert_eq!(csv_of(&merged), csv_of(&whole), "N = {n}");
    }
}

/// Collects the warnings a grid reports.
#[derive(Default)]
struct Warnings(std::sync::Mutex<Vec<String>>);

impl Progress for Warnings {
    fn start(&self, _total: usize) {}
    fn advance(&self, _units: usize) {}
    fn warn(&self, line: &str) {
        self.0.lock().unwrap().push(line.to_string());
    }
}

/// A cell copied over another, an edited cell and a truncated cell are each reported (one
/// line naming the file) and recomputed, those three cells only, and the grid comes out
/// byte-identical; so does a damaged setup file. Orphan temporaries go, a sound run leaves
/// no warning.
#[test]
fn damaged_cells_and_setups_are_reported_and_recomputed_alone() {
    let cfg = nine_cells();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    let first = run_shard(&cfg, &store, Shard::WHOLE, &Silent);
    let expected = csv_of(&first);
    let file = |c: usize| first.dir.join(format!("cell_{c:05}.json"));
    std::fs::copy(file(1), file(2)).unwrap();
    let edited = std::fs::read_to_string(file(3))
        .unwrap()
        .replacen("\"ix\": 0", "\"ix\": 1", 1);
    std::fs::write(file(3), edited).unwrap();
    let bytes = std::fs::read(file(4)).unwrap();
    std::fs::write(file(4), &bytes[..bytes.len() / 3]).unwrap();
    let setups = store.setups().unwrap();
    let setup = std::fs::read_dir(setups.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&setup).unwrap();
    std::fs::write(&setup, text.replacen("\"steps\": ", "\"steps\": 1", 1)).unwrap();
    let orphan = first.dir.join(".cell_00005.json.othermachine.4242.0.tmp");
    std::fs::write(&orphan, b"{").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&orphan)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - 2 * frontier_common::ORPHAN_AGE)
        .unwrap();

    let warnings = Warnings::default();
    let again = run_shard(&cfg, &store, Shard::WHOLE, &warnings);
    let lines = warnings.0.into_inner().unwrap();
    assert_eq!(again.computed, 3, "{lines:#?}");
    assert_eq!(csv_of(&again), expected);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    for (needle, why) in [
        ("cell_00002.json", "holds `cell_00001`"),
        ("cell_00003.json", "checksum"),
        ("cell_00004.json", "not a whole cache file"),
        (setup.file_name().unwrap().to_str().unwrap(), "checksum"),
    ] {
        assert!(
            lines.iter().any(|l| l.contains(needle) && l.contains(why)),
            "{needle}: {why} in {lines:#?}"
        );
    }
    assert!(!orphan.exists(), "the orphan temporary is removed");
    let quiet = Warnings::default();
    assert_eq!(run_shard(&cfg, &store, Shard::WHOLE, &quiet).computed, 0);
    assert!(quiet.0.into_inner().unwrap().is_empty());
}
