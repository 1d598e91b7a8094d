//! ρ(T) at the size of the CNN's rank-one families in span coordinates
//! (r = n = 100: n_r = 90 retain, n_f = 10 forget, dense random ĝ_i and c_i),
//! with the options `frontier heatmap` uses (tol 1e-6, at most 300 steps, 20
//! when the first moment already diverges), and the coherence numbers.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use frontier_stability::bounds::coherence;
use frontier_stability::mean_square::{PowerOptions, rho};
use frontier_stability::{Curvature, Family, Problem, Settings};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Retain (90 samples) and forget (10 samples) rank-one families in R^100: g_i with
/// standard normal entries, c_i uniform in [0.2, 1.5].
fn cnn_like() -> Curvature {
    let mut rng = ChaCha8Rng::seed_from_u64(2602);
    let mut family = |n: usize| {
        let g = DMatrix::from_fn(n, 100, |_, _| rng.sample::<f64, _>(StandardNormal));
        let c: Vec<f64> = (0..n).map(|_| rng.random_range(0.2..1.5)).collect();
        Family::rank_one(&g, &c).expect("valid family")
    };
    let (retain, forget) = (family(90), family(10));
    Curvature::new(&retain, Some(&forget)).expect("curvature")
}

fn bench(c: &mut Criterion) {
    let curvature = cnn_like();
    let mut group = c.benchmark_group("rho_cnn_like");
    group.sample_size(10);
    for (eta, alpha, b, max_iter) in [
        // α = 0: H_R has rank 90 < r, so T has the eigenvalue 1 with a
        // multiple eigenspace; ρ = 1 exactly at η = 0.1.
        (0.1, 0.0, 10, 300),
        (0.3, 0.0, 10, 300),
        // Just above 1: where power iteration used to hit the cap.
        (0.05, 0.01, 10, 300),
        (0.1, 0.01, 10, 300),
        (0.2, 0.02, 10, 300),
        (0.02, 0.5, 1, 300),
        // λ_min(H_α) < 0: the first moment diverges, 20 steps only.
        (0.1, 0.3, 10, 20),
    ] {
        let opts = PowerOptions {
            tol: 1e-6,
            max_iter,
        };
        let problem = Problem::new(&curvature, Settings::new(eta, alpha, b)).expect("settings");
        let r = rho(&problem, &opts);
        eprintln!("η={eta} α={alpha} B={b} max_iter={max_iter}: {r:?}");
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("eta{eta}_alpha{alpha}_b{b}_iter{max_iter}")),
            &problem,
            |bench, problem| bench.iter(|| rho(problem, &opts)),
        );
    }
    group.finish();
    // σ_U and the three-axis coherence at this size (N = 900 pairs: Lanczos on the
    // matrix-free pair operator, twice).
    let problem = Problem::new(&curvature, Settings::new(0.1, 0.3, 10)).expect("settings");
    c.bench_function("coherence_cnn_like", |bench| {
        bench.iter(|| coherence(&problem).expect("coherence"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
