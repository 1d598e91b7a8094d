//! The MLP through the unlearning grids of `frontier-unlearn`: a curved model gets dense
//! finite-difference predictions when p is small and f64, none otherwise, never the rank-one
//! formula.

use burn::tensor::Device;
use frontier_common::Silent;
use frontier_mlp::MlpConfig;
use frontier_model::{DataConfig, Loss, Precision, TrainConfig};
use frontier_stability::Rule;
use frontier_unlearn::grid::table;
use frontier_unlearn::{
    Criterion, Grid, GridConfig, GridOptions, HessianMethod, SetupConfig, Store, run_grid,
};

/// [`GridConfig::smoke`] (B ∈ {1, 3} × α ∈ {0, 1}, 2 seeds, 15 steps) of an MLP setup: n = 20
/// (4 forget), P = 2, patch dimension `d`, hidden width `hidden` (p = hidden·(2d + 2)).
fn config(d: usize, hidden: usize, precision: Precision) -> GridConfig<MlpConfig> {
    let setup = SetupConfig {
        data: DataConfig {
            n: 20,
            n_test: 20,
            d,
            n_forget: 4,
            snr: 0.5,
            ..DataConfig::default()
        },
        model: MlpConfig {
            hidden,
            ..MlpConfig::default()
        },
        pretrain: TrainConfig {
            loss: Loss::Logistic,
            eta: 0.5,
            max_steps: 200,
            loss_tol: 0.01,
            ..TrainConfig::default()
        },
        precision,
    };
    GridConfig::smoke(setup, 1)
}

fn run(cfg: &GridConfig<MlpConfig>) -> Grid<MlpConfig> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    let opts = GridOptions::new(&store, "mlp test", &Silent);
    let grid = run_grid(cfg, &Device::flex(), &opts).unwrap();
    assert!(grid.is_complete());
    grid
}

#[test]
fn the_method_follows_the_parameter_count_and_precision() {
    let device = Device::flex();
    let choose = |d, hidden, precision| {
        let model = config(d, hidden, precision).setup.init(&device).unwrap();
        HessianMethod::choose(&model)
    };
    assert_eq!(choose(5, 2, Precision::F64), Ok(HessianMethod::Dense));
    let large = choose(30, 4, Precision::F64).unwrap_err();
    assert!(large.contains("p = 248") && large.contains("64"), "{large}");
    let single = choose(5, 2, Precision::F32).unwrap_err();
    assert!(single.contains("f64"), "{single}");
}

#[test]
fn a_large_mlp_grid_runs_without_predictions() {
    let grid = run(&config(30, 4, Precision::F32));
    assert!(
        grid.cells
            .iter()
            .flatten()
            .flat_map(|c| &c.reps)
            .all(|r| r.prediction.is_none())
    );
    assert!(grid.boundaries(Criterion::Escape).is_empty());
    let why = grid.predictions_skipped.as_deref().unwrap_or_default();
    assert!(why.contains("not rank one"), "{why}");
    let s = grid.summaries();
    assert_eq!(s.len(), 4);
    assert!(s.iter().all(|s| s.predicted(Rule::MeanSquare).is_nan()));
    assert!(s.iter().all(|s| (0.0..=1.0).contains(&s.escape)));
    let text = String::from_utf8(table(&[("mlp", &grid)]).unwrap().to_csv().unwrap()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let column = lines[0]
        .split(',')
        .position(|c| c == "predicted_mean_square_fraction")
        .unwrap();
    for row in &lines[1..] {
        assert_eq!(row.split(',').nth(column), Some("NaN"), "{row}");
    }
}

#[test]
fn a_small_f64_mlp_grid_gets_dense_predictions() {
    let grid = run(&config(5, 2, Precision::F64));
    assert_eq!(grid.predictions_skipped, None);
    let s = grid.summaries();
    for cell in &s {
        for rule in [Rule::MeanSquare, Rule::Asymptotic, Rule::FirstMoment] {
            assert!(!cell.predicted(rule).is_nan(), "{rule:?} at {cell:?}");
        }
    }
    // α = 0 (row 0): descent on the PSD parts, λ_min(H_α) ≥ 0; α = 1 (row 1): pure ascent on
    // the forget curvature, λ_min(H_α) = −λ_max(H_F) < 0, so the first moment diverges.
    for ix in 0..2 {
        let (descent, ascent) = (&s[ix], &s[2 + ix]);
        assert!(
            descent.stat("lambda_min_h_alpha").mean >= -1e-12,
            "{descent:?}"
        );
        assert!(ascent.stat("lambda_min_h_alpha").mean < 0.0, "{ascent:?}");
        assert_eq!(ascent.predicted(Rule::FirstMoment), 1.0, "{ascent:?}");
    }
    assert_eq!(grid.boundaries(Criterion::Escape).len(), Rule::ALL.len());
}
