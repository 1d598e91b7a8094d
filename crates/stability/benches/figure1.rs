//! Figure 1's full grid: 49 batch sizes × 50 coherence values × 10 runs of
//! 1000 steps (24,500 runs), plus ρ(T), first moment, coherence bound, γ_∞
//! and growth within K per cell from their own runs (the settings of
//! `assets/configs/figures/figure1.toml`, γ_∞ with the default options).

use criterion::{Criterion, criterion_group, criterion_main};
use frontier_common::Silent;
use frontier_stability::sweep::{Cell, Predictors, Spec, evaluate};
use frontier_stability::synthetic::coherence_dial;
use frontier_stability::{Curvature, Settings, SimOptions};

/// Every cell of a B × σ grid of the coherence dial (n = 100, η = 0.5).
fn grid(batches: &[usize], sigmas: &[usize], sim: &SimOptions) -> Vec<Cell> {
    let curvatures: Vec<Curvature> = sigmas
        .iter()
        .map(|&s| Curvature::new(&coherence_dial(100, s).expect("σ in 1..=n"), None))
        .collect::<Result<_, _>>()
        .expect("curvature");
    let specs: Vec<Spec> = sigmas
        .iter()
        .enumerate()
        .flat_map(|(iy, &s)| {
            batches.iter().map(move |&b| Spec {
                curvature: iy,
                settings: Settings::new(0.5, 0.0, b),
                x: b as f64,
                y: s as f64,
            })
        })
        .collect();
    evaluate(
        &curvatures,
        &specs,
        sim,
        &Predictors::default(),
        0,
        0,
        &Silent,
    )
    .expect("figure 1")
}

fn bench(c: &mut Criterion) {
    let full = SimOptions::default();
    let (batches, sigmas): (Vec<usize>, Vec<usize>) = ((1..=49).collect(), (1..=50).collect());
    let quick = SimOptions {
        steps: 200,
        reps: 3,
        ..SimOptions::default()
    };
    let mut group = c.benchmark_group("figure1");
    group.sample_size(10);
    group.bench_function("full_grid", |b| b.iter(|| grid(&batches, &sigmas, &full)));
    group.bench_function("quick_grid", |b| {
        b.iter(|| grid(&[1, 2, 5, 10, 20, 40], &[1, 2, 4, 8, 16, 32], &quick))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
