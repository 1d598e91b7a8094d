//! Figure 1's full grid: 49 batch sizes × 50 coherence values × 10 runs of
//! 1000 steps (24,500 runs), plus ρ(T), first moment, coherence bound and γ
//! per cell. Time per simulated step = time / `simulated_steps` (24.5 M).

use criterion::{Criterion, criterion_group, criterion_main};
use frontier_stability::sweep::{Figure1Config, figure1};

fn bench(c: &mut Criterion) {
    let cfg = Figure1Config::default();
    let steps = figure1(&cfg).expect("figure 1").simulated_steps;
    eprintln!("figure 1: {steps} simulated steps per iteration");
    let mut group = c.benchmark_group("figure1");
    group.sample_size(10);
    group.bench_function("full_grid", |b| b.iter(|| figure1(&cfg).expect("figure 1")));
    group.bench_function("quick_grid", |b| {
        b.iter(|| figure1(&Figure1Config::quick()).expect("figure 1"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
