//! Synthetic per-sample Hessians with a coherence dial (`docs/science.md#synthetic-hessians-with-a-coherence-dial`).
//!
//! All samples are rank-one on a single coordinate axis, H_i = s·e_k e_kᵀ, so
//! every analysis takes the O(n + d) diagonal path.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::family::Family;

/// Rows of g as lists of (coordinate, value).
type SparseRowList = Vec<Vec<(usize, f64)>>;

/// Rows (coordinate, value) and weights of the SGD coherence dial: n samples,
/// samples i < σ on the shared axis e_0, sample i ≥ σ on its own axis
/// e_{i−σ+1}, all with curvature s = 2n/σ. Dimension d = n − σ + 1.
fn dial(n: usize, sigma: usize) -> Result<(SparseRowList, Vec<f64>)> {
    if !(1..=n).contains(&sigma) {
        return Err(Error::out_of_range(
            "sigma",
            sigma,
            format!("1..={n} (the number of samples)"),
        ));
    }
    let rows = (0..n)
        .map(|i| vec![(if i < sigma { 0 } else { i - sigma + 1 }, 1.0)])
        .collect();
    Ok((rows, vec![2.0 * n as f64 / sigma as f64; n]))
}

/// The SGD coherence dial as a family in R^d, d = n − σ + 1: coherence exactly
/// σ and λ_max(H) = 2 (so η = 0.5 gives η·λ_max = 1).
pub fn coherence_dial(n: usize, sigma: usize) -> Result<Family> {
    let (rows, c) = dial(n, sigma)?;
    Family::rank_one_sparse(n - sigma + 1, &rows, &c)
}

/// Where the forget curvature lies relative to the retain dial.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgetPlacement {
    /// On the shared retain axis e_0 (high cross coherence).
    Aligned,
    /// On retain-unique axes e_1, e_2, … (cycling; intermediate).
    RetainUnique,
    /// On fresh axes no retain sample touches (zero cross coherence).
    Fresh,
    /// round(fraction·n_f) samples aligned, the rest fresh.
    Mix {
        /// Fraction of forget samples on e_0, in [0, 1].
        aligned_fraction: f64,
    },
}

impl ForgetPlacement {
    /// Short name for titles and files.
    pub fn name(&self) -> String {
        match self {
            ForgetPlacement::Aligned => "aligned".into(),
            ForgetPlacement::RetainUnique => "retain-unique".into(),
            ForgetPlacement::Fresh => "fresh".into(),
            ForgetPlacement::Mix { aligned_fraction } => format!("mix {aligned_fraction}"),
        }
    }
}

/// The unlearning families: retain = the dial (n_r, σ_R), forget = n_f samples
/// placed by `placement`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnlearningSpec {
    /// Retain samples n_r.
    pub n_retain: usize,
    /// Retain coherence dial σ_R ∈ 1..=n_r.
    pub sigma_retain: usize,
    /// Forget samples n_f ≥ 1.
    pub n_forget: usize,
    /// Where the forget curvature lies.
    pub placement: ForgetPlacement,
    /// Per-sample forget curvature; `None` = 2n_r/σ_R (the retain scale).
    pub forget_scale: Option<f64>,
}

/// (retain, forget) families of `spec`, both in R^p with p = d + (fresh axes).
pub fn unlearning_families(spec: &UnlearningSpec) -> Result<(Family, Family)> {
    let (n_r, n_f) = (spec.n_retain, spec.n_forget);
    let (rows, c) = dial(n_r, spec.sigma_retain)?;
    if n_f == 0 {
        return Err(Error::out_of_range("n_forget", n_f, "1 or more"));
    }
    let scale = spec.forget_scale.unwrap_or(c[0]);
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(Error::out_of_range("forget_scale", scale, "(0, ∞), finite"));
    }
    let d = n_r - spec.sigma_retain + 1;
    let axes: Vec<usize> = match spec.placement {
        ForgetPlacement::RetainUnique => {
            if d < 2 {
                return Err(Error::out_of_range(
                    "sigma_retain",
                    spec.sigma_retain,
                    format!("1..={} (retain-unique axes must exist)", n_r - 1),
                ));
            }
            (0..n_f).map(|j| 1 + j % (d - 1)).collect()
        }
        ForgetPlacement::Aligned => vec![0; n_f],
        ForgetPlacement::Fresh => (d..d + n_f).collect(),
        ForgetPlacement::Mix {
            aligned_fraction: a,
        } => {
            if !(0.0..=1.0).contains(&a) {
                return Err(Error::out_of_range("aligned_fraction", a, "[0, 1]"));
            }
            let aligned = (a * n_f as f64).round() as usize;
            (0..n_f)
                .map(|j| if j < aligned { 0 } else { d + j - aligned })
                .collect()
        }
    };
    let p = axes.iter().copied().max().map_or(d, |m| d.max(m + 1));
    let forget_rows: Vec<_> = axes.iter().map(|&k| vec![(k, 1.0)]).collect();
    Ok((
        Family::rank_one_sparse(p, &rows, &c)?,
        Family::rank_one_sparse(p, &forget_rows, &vec![scale; n_f])?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounds::{coherence, coherence_bound};
    use crate::curvature::Curvature;
    use crate::first_moment::first_moment;
    use crate::mean_square::{PowerOptions, rho};
    use crate::problem::{Problem, Settings};
    use crate::verdict::Thresholds;

    const N: usize = 100;
    const ETA: f64 = 0.5;

    /// Independent closed form of ρ(T) for the dial without replacement:
    /// shared axis m_0 = (1 − 2η)² + η²c(4n/σ − 4), own axes
    /// m = (1 − 2η/σ)² + η²c(4n/σ² − 4/σ²), c = (n−B)/(B(n−1)).
    fn dial_rho_reference(sigma: usize, b: usize) -> f64 {
        let (n, s, b) = (N as f64, sigma as f64, b as f64);
        let c = (n - b) / (b * (n - 1.0));
        let m0 = (1.0 - 2.0 * ETA).powi(2) + ETA * ETA * c * (4.0 * n / s - 4.0);
        let m1 =
            (1.0 - 2.0 * ETA / s).powi(2) + ETA * ETA * c * (4.0 * n / (s * s) - 4.0 / (s * s));
        if sigma < N { m0.max(m1) } else { m0 }
    }

    /// Largest σ ∈ 1..=50 for which `diverges` holds, checking that it holds
    /// for every smaller σ and for no larger one.
    fn threshold(diverges: impl Fn(usize) -> bool) -> usize {
        let labels: Vec<bool> = (1..=50).map(&diverges).collect();
        let last = labels.iter().rposition(|&d| d).map_or(0, |i| i + 1);
        assert!(
            labels[..last].iter().all(|&d| d),
            "divergent set is not σ ≤ {last}: {labels:?}"
        );
        last
    }

    #[test]
    fn sgd_harness_boundaries() {
        let families: Vec<Family> = (1..=50).map(|s| coherence_dial(N, s).unwrap()).collect();
        let curvs: Vec<Curvature> = families
            .iter()
            .map(|f| Curvature::new(f, None).unwrap())
            .collect();
        for (b, ms_expected, cb_expected) in
            [(2, 33, 7), (5, 16, 4), (10, 8, 3), (20, 3, 2), (40, 1, 1)]
        {
            let problem =
                |s: usize| Problem::new(&curvs[s - 1], Settings::new(ETA, 0.0, b)).unwrap();
            let ms = threshold(|s| {
                Thresholds::DEFAULT.mean_square(rho(&problem(s), &PowerOptions::default()).value)
            });
            let ms_reference = threshold(|s| dial_rho_reference(s, b) > 1.0);
            assert_eq!(
                ms, ms_expected,
                "mean-square B={b}: rust={ms}, expected={ms_expected}"
            );
            assert_eq!(
                ms_reference, ms_expected,
                "mean-square B={b}: reference={ms_reference}"
            );
            let cb = threshold(|s| {
                let p = problem(s);
                let coh = coherence(&p).unwrap();
                Thresholds::DEFAULT.coherence_bound(&coherence_bound(&p, &coh, &first_moment(&p)))
            });
            let cb_reference =
                threshold(|s| s as f64 <= (N as f64 / b as f64 - 1.0).sqrt() + 1e-12);
            assert_eq!(
                cb, cb_expected,
                "coherence bound B={b}: rust={cb}, expected={cb_expected}"
            );
            assert_eq!(
                cb_reference, cb_expected,
                "coherence bound B={b}: reference={cb_reference}"
            );
        }
        // coherence and λ_max of the dial are exact
        for s in [1, 7, 50] {
            let p = Problem::new(&curvs[s - 1], Settings::new(ETA, 0.0, 1)).unwrap();
            let sigma = coherence(&p).unwrap().sigma_r;
            assert!(
                (sigma - s as f64).abs() < 1e-9,
                "σ: rust={sigma}, reference={s}"
            );
            let lmax = first_moment(&p).lambda_max;
            assert!(
                (lmax - 2.0).abs() < 1e-12,
                "λ_max: rust={lmax}, reference=2"
            );
        }
        // the engine's ρ agrees with the closed form itself, not only its verdict
        for (s, b) in [(3, 20), (10, 2), (33, 2)] {
            let p = Problem::new(&curvs[s - 1], Settings::new(ETA, 0.0, b)).unwrap();
            let (rust, reference) = (
                rho(&p, &PowerOptions::default()).value,
                dial_rho_reference(s, b),
            );
            assert!(
                (rust - reference).abs() < 1e-12,
                "σ={s} B={b}: rust={rust}, reference={reference}"
            );
        }
    }

    fn unlearning(sigma_retain: usize, placement: ForgetPlacement) -> Curvature {
        let spec = UnlearningSpec {
            n_retain: N,
            sigma_retain,
            n_forget: 10,
            placement,
            forget_scale: None,
        };
        let (r, f) = unlearning_families(&spec).unwrap();
        Curvature::new(&r, Some(&f)).unwrap()
    }

    #[test]
    fn fresh_directions_diverge_for_every_positive_alpha() {
        for sigma_retain in [1, 10, 40, 100] {
            let curv = unlearning(sigma_retain, ForgetPlacement::Fresh);
            for k in 0..=20 {
                let alpha = k as f64 / 20.0;
                let p = Problem::new(&curv, Settings::new(ETA, alpha, 5)).unwrap();
                let fm = first_moment(&p);
                assert_eq!(
                    Thresholds::DEFAULT.first_moment(ETA, &fm),
                    alpha > 0.0,
                    "σ_R={sigma_retain} α={alpha}: {fm:?}"
                );
            }
        }
    }

    /// Independent closed form for the aligned family, B_r = B_f = 10 without
    /// replacement: on e_0 (1 − η(2(1−α) − αs))² + η²(1−α)²c_r(4n/σ − 4) (the
    /// forget samples are identical, so their batch noise vanishes), on the
    /// own axes (1 − 2η(1−α)/σ)² + η²(1−α)²c_r(s²/n − 4/σ²), s = 2n/σ.
    fn aligned_rho_reference(sigma: usize, alpha: f64) -> f64 {
        let (n, sg, b) = (N as f64, sigma as f64, 10.0);
        let s = 2.0 * n / sg;
        let c = (n - b) / (b * (n - 1.0));
        let w = ETA * ETA * (1.0 - alpha).powi(2) * c;
        let m0 = (1.0 - ETA * (2.0 * (1.0 - alpha) - alpha * s)).powi(2) + w * (4.0 * n / sg - 4.0);
        let m1 = (1.0 - 2.0 * ETA * (1.0 - alpha) / sg).powi(2) + w * (s * s / n - 4.0 / (sg * sg));
        m0.max(m1)
    }

    #[test]
    fn aligned_family_mean_square_boundary() {
        for (sigma_retain, stable, divergent) in
            [(40, &[0.0, 0.1, 0.2][..], 0.3), (10, &[0.02][..], 0.05)]
        {
            let curv = unlearning(sigma_retain, ForgetPlacement::Aligned);
            let rho_at = |alpha: f64| {
                let p = Problem::new(&curv, Settings::new(ETA, alpha, 10)).unwrap();
                let rust = rho(&p, &PowerOptions::default()).value;
                let reference = aligned_rho_reference(sigma_retain, alpha);
                assert!(
                    (rust - reference).abs() < 1e-12,
                    "σ_R={sigma_retain} α={alpha}: rust={rust}, reference={reference}"
                );
                rust
            };
            for &alpha in stable {
                let r = rho_at(alpha);
                assert!(
                    r < 1.0,
                    "σ_R={sigma_retain} α={alpha}: expected stable, ρ={r}"
                );
            }
            let r = rho_at(divergent);
            assert!(
                r > 1.0,
                "σ_R={sigma_retain} α={divergent}: expected divergent, ρ={r}"
            );
        }
    }

    #[test]
    fn placements_have_the_intended_cross_coherence() {
        let sigma_rf = |placement| {
            let curv = unlearning(40, placement);
            let p = Problem::new(&curv, Settings::new(ETA, 0.5, 5)).unwrap();
            coherence(&p).unwrap().sigma_rf
        };
        let fresh = sigma_rf(ForgetPlacement::Fresh);
        let unique = sigma_rf(ForgetPlacement::RetainUnique);
        let aligned = sigma_rf(ForgetPlacement::Aligned);
        let half = sigma_rf(ForgetPlacement::Mix {
            aligned_fraction: 0.5,
        });
        assert!(fresh.abs() < 1e-12, "fresh σ_RF: rust={fresh}, reference=0");
        assert!(
            0.0 < unique && unique < half && half < aligned,
            "{unique} {half} {aligned}"
        );
        let mix0 = unlearning(
            40,
            ForgetPlacement::Mix {
                aligned_fraction: 0.0,
            },
        );
        assert_eq!(mix0.dim(), unlearning(40, ForgetPlacement::Fresh).dim());
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(coherence_dial(100, 0).is_err() && coherence_dial(100, 101).is_err());
        let spec = UnlearningSpec {
            n_retain: 10,
            sigma_retain: 10,
            n_forget: 3,
            placement: ForgetPlacement::RetainUnique,
            forget_scale: None,
        };
        assert!(unlearning_families(&spec).is_err());
        let mix = ForgetPlacement::Mix {
            aligned_fraction: 1.5,
        };
        assert!(
            unlearning_families(&UnlearningSpec {
                placement: mix,
                ..spec
            })
            .is_err()
        );
    }
}
