//! `frontier bench stability`: the stages of `frontier stability` on a random rank-one problem
//! (entries of g uniform in [−0.5, 0.5), weights c uniform in [0.5, 1.5)).

use std::time::Instant;

use anyhow::Result;
use frontier_stability::bounds::coherence;
use frontier_stability::first_moment::first_moment;
use frontier_stability::mean_square::{PowerOptions, rho};
use frontier_stability::simulate::{SimOptions, simulate};
use frontier_stability::{Curvature, Family, Problem, Settings};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Sizes of the stability benchmark.
pub struct StabilitySize {
    /// Retain samples n_r.
    pub n_retain: usize,
    /// Forget samples n_f (0: plain SGD).
    pub n_forget: usize,
    /// Parameter count p.
    pub p: usize,
}

/// A random rank-one family of `n` rows in R^p.
fn family(n: usize, p: usize, rng: &mut ChaCha8Rng) -> Result<Family> {
    let g: Vec<f64> = (0..n * p).map(|_| rng.random::<f64>() - 0.5).collect();
    let c: Vec<f64> = (0..n).map(|_| 0.5 + rng.random::<f64>()).collect();
    Ok(Family::rank_one_row_major(p, &g, &c)?)
}

/// Times each stage of the analysis once (η = 0.01, α = 0.1 with a forget family, B = 10,
/// 1000 steps × 10 runs) and prints one line per stage.
pub fn stability(size: &StabilitySize) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let retain = family(size.n_retain, size.p, &mut rng)?;
    let forget = match size.n_forget {
        0 => None,
        n => Some(family(n, size.p, &mut rng)?),
    };
    println!(
        "stability benchmark: n_r = {}, n_f = {}, p = {}, rank one",
        size.n_retain, size.n_forget, size.p
    );
    let total = Instant::now();
    let stage = |name: &str, start: Instant| {
        println!("{name:<36} {:>8.3} s", start.elapsed().as_secs_f64());
    };
    let start = Instant::now();
    let curvature = Curvature::new(&retain, forget.as_ref())?;
    stage("reduction to the span (Gram route)", start);
    let alpha = if size.n_forget > 0 { 0.1 } else { 0.0 };
    let batch = 10.min(size.n_retain).min(size.n_forget.max(size.n_retain));
    let problem = Problem::new(&curvature, Settings::new(0.01, alpha, batch))?;
    let start = Instant::now();
    let r = rho(&problem, &PowerOptions::default());
    let seconds = start.elapsed().as_secs_f64();
    stage("mean-square ρ(T)", start);
    println!(
        "  rank {}, ρ = {:.12}, {} Lanczos steps ({:.3} s per step), residual {:.1e}, converged {}",
        curvature.rank(),
        r.value,
        r.iterations,
        seconds / (r.iterations + 1) as f64,
        r.residual,
        r.converged
    );
    let start = Instant::now();
    first_moment(&problem);
    stage("first moment", start);
    let start = Instant::now();
    simulate(&problem, &SimOptions::default(), 0)?;
    stage("simulation (1000 steps × 10 runs)", start);
    let start = Instant::now();
    coherence(&problem)?;
    stage("coherence σ's", start);
    stage("total", total);
    // The tolerance `frontier heatmap` uses, for comparison (not part of the total).
    let loose = PowerOptions {
        tol: 1e-6,
        ..PowerOptions::default()
    };
    let start = Instant::now();
    let r = rho(&problem, &loose);
    stage("ρ(T) at tolerance 1e-6 (not in total)", start);
    println!(
        "  ρ = {:.12}, {} Lanczos steps, residual {:.1e}",
        r.value, r.iterations, r.residual
    );
    Ok(())
}
