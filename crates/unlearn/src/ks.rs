//! The two-sample Kolmogorov–Smirnov test, for forget quality: the p-value of the hypothesis
//! that the forget-sample losses of the unlearned model and of the retrained model come from
//! one distribution (high p: the unlearned model treats F like a model that never saw it).
//!
//! The statistic is D = sup_x |F_a(x) − F_b(x)| over the two empirical distribution
//! functions, evaluated at every distinct value (tied values step together). Its two-sided
//! p-value P(D ≥ d) under the null:
//! - **exact** when m·n ≤ [`EXACT_MAX`]: every interleaving of the two samples is equally
//!   likely, and P(D < d) is the fraction of monotone lattice paths from (0, 0) to (m, n)
//!   that stay strictly inside |i/m − j/n| < d, counted by dynamic programming in O(m·n)
//!   (integer comparisons |i·n − j·m| < d·m·n, no rounding at the boundary);
//! - **asymptotic** beyond: the Kolmogorov series Q(λ) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²} at
//!   λ = D·√(m·n/(m + n)).
//!
//! The exact null assumes no ties (continuous losses). With ties, grouping them can only
//! lower D, so the p-value is conservative (never smaller than that of any tie-breaking).

/// Sample-size products m·n up to which the p-value is exact.
pub const EXACT_MAX: usize = 1_000_000;

/// The KS statistic and its p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsTest {
    /// D = sup |F_a − F_b| in [0, 1].
    pub statistic: f64,
    /// P(D ≥ statistic) under the null, in [0, 1].
    pub p_value: f64,
    /// Whether `p_value` is exact (m·n ≤ [`EXACT_MAX`]) or from the Kolmogorov series.
    pub exact: bool,
}

/// The two-sample KS test of `a` against `b`. NaN statistic and p-value when either sample
/// is empty or holds a NaN.
pub fn ks_test(a: &[f64], b: &[f64]) -> KsTest {
    let (m, n) = (a.len(), b.len());
    if m == 0 || n == 0 || a.iter().chain(b).any(|x| x.is_nan()) {
        return KsTest {
            statistic: f64::NAN,
            p_value: f64::NAN,
            exact: false,
        };
    }
    let d = scaled_statistic(a, b);
    let statistic = d as f64 / (m * n) as f64;
    let exact = m * n <= EXACT_MAX;
    let p_value = if exact {
        exact_p_value(m, n, d)
    } else {
        kolmogorov_q(statistic * ((m * n) as f64 / (m + n) as f64).sqrt())
    };
    KsTest {
        statistic,
        p_value,
        exact,
    }
}

/// m·n·D = max over distinct values of |i·n − j·m|, i (j) the number of values of `a` (`b`)
/// at or below it.
fn scaled_statistic(a: &[f64], b: &[f64]) -> usize {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (m, n) = (a.len(), b.len());
    let (mut i, mut j, mut best) = (0, 0, 0);
    while i < m || j < n {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => unreachable!("the loop runs while a value is left"),
        };
        while i < m && a[i] <= x {
            i += 1;
        }
        while j < n && b[j] <= x {
            j += 1;
        }
        best = best.max((i * n).abs_diff(j * m));
    }
    best
}

/// P(D ≥ d/(m·n)) under the null, exactly: 1 − the probability that a uniformly random
/// interleaving keeps |i·n − j·m| < d at every lattice point. The DP carries the probability
/// of being at (i, j) inside the band: u(i, j) = [i·u(i−1, j) + j·u(i, j−1)] / (i + j).
fn exact_p_value(m: usize, n: usize, d: usize) -> f64 {
    let inside = |i: usize, j: usize| (i * n).abs_diff(j * m) < d;
    let mut row = vec![0.0; n + 1];
    for i in 0..=m {
        for j in 0..=n {
            row[j] = if !inside(i, j) {
                0.0
            } else if i == 0 && j == 0 {
                1.0
            } else {
                let from_a = if i > 0 { i as f64 * row[j] } else { 0.0 };
                let from_b = if j > 0 { j as f64 * row[j - 1] } else { 0.0 };
                (from_a + from_b) / (i + j) as f64
            };
        }
    }
    (1.0 - row[n]).clamp(0.0, 1.0)
}

/// The Kolmogorov distribution's upper tail Q(λ) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²}
/// (1 for λ ≤ 0; the series converges fast for λ ≳ 0.3, below which Q is 1 to 1e-9).
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let term = (-2.0 * (k * k) as f64 * lambda * lambda).exp();
        sum += if k % 2 == 1 { term } else { -term };
        if term < 1e-17 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_give_p_one() {
        let a = [0.3, 1.2, 0.7, 2.5, 0.01];
        let t = ks_test(&a, &a);
        assert_eq!((t.statistic, t.p_value, t.exact), (0.0, 1.0, true));
    }

    /// Every value of one sample below every value of the other: D = 1, reached only by the
    /// two interleavings that put one sample wholly first: p = 2/C(20, 10).
    #[test]
    fn disjoint_samples_of_ten_give_the_exact_p() {
        let a: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let b: Vec<f64> = (0..10).map(|i| 100.0 + i as f64).collect();
        let t = ks_test(&a, &b);
        let reference = 2.0 / 184_756.0;
        assert_eq!(t.statistic, 1.0);
        // p = 1 − P(inside the band): absolute round-off ~1e-16, ~1e-11 relative here.
        assert!(
            (t.p_value - reference).abs() <= 1e-9 * reference,
            "rust={}, reference={reference} (1.0825e-5)",
            t.p_value
        );
    }

    /// The statistic of one interleaving (true = a value of sample a), scaled by m·n.
    fn scaled_d_of(order: &[bool], m: usize, n: usize) -> usize {
        let (mut i, mut j, mut best) = (0, 0, 0);
        for &from_a in order {
            if from_a {
                i += 1;
            } else {
                j += 1;
            }
            best = best.max((i * n).abs_diff(j * m));
        }
        best
    }

    /// A mid case against exact enumeration of all C(13, 6) = 1716 interleavings of m = 6
    /// and n = 7 values: the p-value is the fraction with D ≥ the observed one.
    #[test]
    fn mid_case_matches_exact_enumeration() {
        let a = [0.11, 0.52, 0.93, 1.4, 2.2, 3.05];
        let b = [0.05, 0.3, 0.45, 0.61, 0.8, 1.0, 1.9];
        let (m, n) = (a.len(), b.len());
        let t = ks_test(&a, &b);
        let observed = (t.statistic * (m * n) as f64).round() as usize;
        let (mut hits, mut total) = (0usize, 0usize);
        for mask in 0u32..1 << (m + n) {
            if mask.count_ones() as usize != m {
                continue;
            }
            let order: Vec<bool> = (0..m + n).map(|k| mask >> k & 1 == 1).collect();
            total += 1;
            hits += usize::from(scaled_d_of(&order, m, n) >= observed);
        }
        let reference = hits as f64 / total as f64;
        assert_eq!(total, 1716);
        assert!(
            (t.p_value - reference).abs() < 1e-12,
            "D={}: rust={}, reference={reference}",
            t.statistic,
            t.p_value
        );
        assert!(
            reference > 0.01 && reference < 0.99,
            "a mid case: {reference}"
        );
    }

    /// Beyond EXACT_MAX the Kolmogorov series; near the limit both agree to the size of the
    /// series' known O(1/√n) error.
    #[test]
    fn asymptotic_series_is_close_to_the_exact_value_at_large_sizes() {
        let (m, n) = (400, 500);
        let d = 13_400; // D = 0.067, λ ≈ 1.0
        let exact = exact_p_value(m, n, d);
        let lambda = d as f64 / (m * n) as f64 * ((m * n) as f64 / (m + n) as f64).sqrt();
        let series = kolmogorov_q(lambda);
        assert!(
            (exact - series).abs() < 0.02 && exact > 0.1 && exact < 0.5,
            "exact={exact}, series={series}"
        );
        let big = ks_test(&vec![0.0; 1001], &vec![1.0; 1000]);
        assert!(!big.exact && big.p_value < 1e-100, "{big:?}");
    }

    #[test]
    fn ties_and_empty_samples() {
        let t = ks_test(&[1.0, 1.0, 2.0], &[1.0, 2.0, 2.0]);
        assert!((t.statistic - 1.0 / 3.0).abs() < 1e-15, "{t:?}");
        assert!(ks_test(&[], &[1.0]).p_value.is_nan());
        assert!(ks_test(&[f64::NAN], &[1.0]).statistic.is_nan());
    }
}
