//! Stochastic Lanczos quadrature for the spectral density.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::lanczos::LanczosProcess;
use super::rademacher;
use crate::operator::LinearOperator;

/// Options of [`slq`].
#[derive(Debug, Clone, PartialEq)]
pub struct SlqOptions {
    /// Number of Rademacher probes (independent Lanczos runs).
    pub probes: usize,
    /// Lanczos steps per probe (at most p): the quadrature is exact for polynomials of
    /// degree < 2·steps.
    pub steps: usize,
    /// `converged` when the extreme nodes' Ritz residuals are ≤ `tol` · max|node|.
    pub tol: f64,
    /// Seed of the probes.
    pub seed: u64,
}

impl Default for SlqOptions {
    /// 10 probes, 50 steps, tol 1e-6, seed 0.
    fn default() -> Self {
        Self {
            probes: 10,
            steps: 50,
            tol: 1e-6,
            seed: 0,
        }
    }
}

/// A spectral density φ(λ) = (1/p) Σ_i δ(λ − λ_i) approximated by the quadrature
/// Σ_k `weights[k]` δ(λ − `nodes[k]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpectralDensity {
    /// Quadrature nodes (Ritz values of every probe, concatenated; eigenvalue units).
    pub nodes: Vec<f64>,
    /// Quadrature weights, ≥ 0, summing to 1 (squared first components of the Ritz vectors,
    /// divided by the number of probes).
    pub weights: Vec<f64>,
    /// Probes used.
    pub probes: usize,
    /// Total Lanczos steps (matvecs) over all probes.
    pub iterations: usize,
    /// The largest Ritz residual estimate |β s_last| of the smallest and largest node of any
    /// probe: how well the support's ends are resolved.
    pub residual: f64,
    /// Whether `residual ≤ tol · max|node|`.
    pub converged: bool,
}

impl SpectralDensity {
    /// Σ_k w_k θ_k, an estimate of the mean eigenvalue tr(A)/p.
    pub fn mean(&self) -> f64 {
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(x, w)| x * w)
            .sum()
    }

    /// The density broadened by Gaussians of standard deviation `width` (eigenvalue units),
    /// evaluated on `grid`: Σ_k w_k N(x; θ_k, width²). Integrates to 1 over ℝ.
    pub fn broadened(&self, grid: &[f64], width: f64) -> Vec<f64> {
        let norm = 1.0 / (width * (2.0 * std::f64::consts::PI).sqrt());
        grid.iter()
            .map(|&x| {
                self.nodes
                    .iter()
                    .zip(&self.weights)
                    .map(|(t, w)| w * norm * (-0.5 * ((x - t) / width).powi(2)).exp())
                    .sum()
            })
            .collect()
    }
}

/// The spectral density of a symmetric operator by stochastic Lanczos quadrature: for each
/// Rademacher probe v, `steps` Lanczos steps from v/‖v‖ (full reorthogonalisation; stopped
/// early, and then exact, if the Krylov space becomes invariant) give nodes θ_k (Ritz values)
/// and weights τ_k² (first components of the Ritz vectors squared).
pub fn slq<A: LinearOperator + ?Sized>(op: &A, options: &SlqOptions) -> SpectralDensity {
    let p = op.dim();
    let probes = options.probes.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut density = SpectralDensity {
        nodes: Vec::new(),
        weights: Vec::new(),
        probes,
        iterations: 0,
        residual: 0.0,
        converged: true,
    };
    if p == 0 {
        return density;
    }
    let steps = options.steps.clamp(1, p);
    let mut scale: f64 = 0.0;
    for _ in 0..probes {
        let mut process = LanczosProcess::new(op, rademacher(p, &mut rng));
        loop {
            process.step();
            let beta = process.last_beta();
            let size = process.alpha_scale();
            if process.len() >= steps || beta <= 1e-12 * size.max(f64::MIN_POSITIVE) {
                break;
            }
        }
        let m = process.len();
        let beta = if m < p { process.last_beta() } else { 0.0 };
        let (values, vectors) = process.ritz();
        density.iterations += m;
        scale = scale.max(values[0].abs()).max(values[m - 1].abs());
        for end in [0, m - 1] {
            density.residual = density.residual.max((beta * vectors[(m - 1, end)]).abs());
        }
        for (k, &theta) in values.iter().enumerate() {
            density.nodes.push(theta);
            density
                .weights
                .push(vectors[(0, k)].powi(2) / probes as f64);
        }
    }
    density.converged = density.residual <= options.tol * scale;
    density
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::DenseOperator;
    use crate::operator::test_util::planted_symmetric;

    #[test]
    fn density_integrates_to_one_and_its_mean_is_trace_over_p() {
        let p = 120;
        let eigs: Vec<f64> = (0..p)
            .map(|i| {
                if i < 100 {
                    0.01 * i as f64
                } else {
                    5.0 + i as f64 / 10.0
                }
            })
            .collect();
        let exact_mean = eigs.iter().sum::<f64>() / p as f64;
        let op = DenseOperator::new(planted_symmetric(&eigs, 61)).unwrap();
        let d = slq(
            &op,
            &SlqOptions {
                probes: 30,
                steps: 40,
                ..Default::default()
            },
        );
        let total: f64 = d.weights.iter().sum();
        assert!((total - 1.0).abs() < 1e-12, "rust={total}, reference=1");
        // Broadened density on a grid wide enough to hold every Gaussian: trapezoid rule.
        let width = 0.2;
        let grid: Vec<f64> = (0..=4200).map(|i| -2.0 + i as f64 * 0.005).collect();
        let phi = d.broadened(&grid, width);
        let integral: f64 = phi.windows(2).map(|w| 0.5 * (w[0] + w[1]) * 0.005).sum();
        assert!(
            (integral - 1.0).abs() < 1e-6,
            "rust={integral}, reference=1"
        );
        // The mean is a Hutchinson estimate of tr/p (30 probes): within 5%.
        let mean = d.mean();
        assert!(
            (mean - exact_mean).abs() < 0.05 * exact_mean,
            "rust={mean}, reference={exact_mean}"
        );
        // The extreme nodes are the extreme eigenvalues.
        let max = d.nodes.iter().fold(f64::MIN, |a, &b| a.max(b));
        assert!((max - 16.9).abs() < 1e-8, "rust={max}, reference=16.9");
        // 40 steps do not resolve the bottom of the dense cluster in [0, 1); p steps do.
        assert!(!d.converged, "residual {}", d.residual);
        let exact = slq(
            &op,
            &SlqOptions {
                probes: 2,
                steps: p,
                ..Default::default()
            },
        );
        assert!(exact.converged, "residual {}", exact.residual);
    }
}
