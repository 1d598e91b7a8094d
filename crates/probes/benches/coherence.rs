//! Timings of the coherence path at the sizes of the default experiment.
//! `cargo bench -p frontier-probes`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use frontier_probes::{CurvatureGram, LinearOperator, PairOperator, coherence, h_alpha_spectrum};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A rank-one curvature Gram matrix for n samples with p-dimensional random gradients.
fn gram(n: usize, p: usize, n_retain: usize) -> (DMatrix<f64>, Vec<f64>, CurvatureGram) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let g = DMatrix::from_fn(n, p, |_, _| rng.random_range(-1.0..1.0));
    let c: Vec<f64> = (0..n).map(|_| rng.random_range(0.05..0.25)).collect();
    let gg = &g * g.transpose();
    let cg = CurvatureGram::from_gram(&gg, &c, n_retain).unwrap();
    (gg, c, cg)
}

fn benches(crit: &mut Criterion) {
    let (gg, c, cg) = gram(1000, 200, 990);
    let op = PairOperator::new(&cg, 0.5, false).unwrap();
    let v = vec![1.0; op.dim()];
    let mut out = vec![0.0; op.dim()];
    let mut group = crit.benchmark_group("n=1000, n_r=990, n_f=10");
    group.sample_size(10);
    group.bench_function("pair matvec (N = 9900)", |b| {
        b.iter(|| op.matvec(black_box(&v), &mut out))
    });
    group.bench_function("coherence (all six numbers)", |b| {
        b.iter(|| coherence(black_box(&cg), 0.5))
    });
    group.bench_function("h_alpha spectrum from the Gram matrix", |b| {
        b.iter(|| h_alpha_spectrum(black_box(&gg), &c, 990, 0.5, 80_000).unwrap())
    });
    group.finish();
}

criterion_group!(probes, benches);
criterion_main!(probes);
