//! The loss-threshold membership-inference attack (Yeom et al. 2018): a sample is called a
//! training member when its loss is below a threshold. Its AUC over all thresholds is the
//! probability that a random member has a lower loss than a random non-member.
//!
//! An AUC below 0.5 is not deletion: forget losses far above the test losses reveal
//! membership as well, and an attacker picks the direction of the threshold. What the
//! attacker achieves is the **attack strength** max(AUC, 1 − AUC) ∈ [0.5, 1]
//! ([`attack_strength`]). Even a model that never saw the forget set has a strength above 0.5
//! by chance; [`null_strength_95`] is the 95 % quantile of the strength when forget and test
//! losses come from one distribution, the level below which a run counts as deleted.

/// AUC of the loss-threshold attack separating `members` (here: the forget samples) from
/// `nonmembers` (held-out test samples), from per-sample losses (nats): P(ℓ_member <
/// ℓ_nonmember) + ½·P(equal), by the Mann–Whitney rank sum with mid-ranks for ties, in
/// O((m + n) log(m + n)). 1 = every member has a lower loss than every non-member (the model
/// remembers); 0.5 = indistinguishable (what a model that never saw the members gives);
/// below 0.5 = members now have the larger losses. NaN when either set is empty or a loss is
/// NaN.
pub fn auc(members: &[f64], nonmembers: &[f64]) -> f64 {
    let (m, n) = (members.len(), nonmembers.len());
    if m == 0 || n == 0 || members.iter().chain(nonmembers).any(|l| l.is_nan()) {
        return f64::NAN;
    }
    let mut all: Vec<(f64, bool)> = members
        .iter()
        .map(|&l| (l, true))
        .chain(nonmembers.iter().map(|&l| (l, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the members' mid-ranks (1-based) in ascending loss order.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < all.len() {
        let end = (start..all.len())
            .find(|&k| all[k].0 != all[start].0)
            .unwrap_or(all.len());
        let mid_rank = (start + 1 + end) as f64 / 2.0;
        let members_here = all[start..end].iter().filter(|(_, is_member)| *is_member);
        rank_sum += mid_rank * members_here.count() as f64;
        start = end;
    }
    // U counts (member, non-member) pairs with the member ranked higher (larger loss).
    let u_member_higher = rank_sum - (m * (m + 1)) as f64 / 2.0;
    1.0 - u_member_higher / (m * n) as f64
}

/// The attack strength max(AUC, 1 − AUC) of a loss-threshold attack whose AUC is `auc`: the
/// AUC of the better of the two threshold directions (NaN stays NaN).
pub fn attack_strength(auc: f64) -> f64 {
    auc.max(1.0 - auc)
}

/// Products m·n up to which [`null_strength_95`] is exact (its DP costs about (m·n)²/4).
pub const NULL_EXACT_MAX: usize = 20_000;

/// The 95 % quantile of the attack strength max(AUC, 1 − AUC) when the `members` member and
/// `nonmembers` non-member losses are i.i.d. from one continuous distribution (no ties): the
/// smallest achievable s with P(strength ≤ s) ≥ 0.95. With U the Mann–Whitney count of
/// (member, non-member) pairs ordered one way, AUC = U/(m·n) and every interleaving is
/// equally likely:
/// - exact for m·n ≤ [`NULL_EXACT_MAX`], from the distribution of U by the recursion
///   P_{m,n}(u) = m/(m+n)·P_{m−1,n}(u − n) + n/(m+n)·P_{m,n−1}(u);
/// - beyond, the normal approximation U ~ N(mn/2, mn(m+n+1)/12):
///   s = ½ + 1.96·√((m+n+1)/(12·m·n)).
///
/// NaN when either set is empty.
pub fn null_strength_95(members: usize, nonmembers: usize) -> f64 {
    const LEVEL: f64 = 0.95;
    let (m, n) = (members.min(nonmembers), members.max(nonmembers));
    if m == 0 {
        return f64::NAN;
    }
    let mn = m * n;
    if mn > NULL_EXACT_MAX {
        let sd = ((m + n + 1) as f64 / (12.0 * mn as f64)).sqrt();
        return 0.5 + 1.959_963_984_540_054 * sd;
    }
    let p = mann_whitney_distribution(m, n);
    // strength = max(u, mn − u)/mn ≤ k/mn ⇔ mn − k ≤ u ≤ k, for k from ⌈mn/2⌉.
    let mut k = mn.div_ceil(2);
    loop {
        let mass: f64 = p[mn - k..=k].iter().sum();
        if mass >= LEVEL - 1e-12 || k == mn {
            return k as f64 / mn as f64;
        }
        k += 1;
    }
}

/// P(U = u), u = 0..=m·n, for the Mann–Whitney U of m and n i.i.d. continuous values: the
/// recursion over (i, j) = (members, non-members) placed, kept as one row of j per i.
fn mann_whitney_distribution(m: usize, n: usize) -> Vec<f64> {
    // prev[j] = P_{i−1, j}, current[j] = P_{i, j}, each of length (i−1)·j + 1 or i·j + 1.
    let mut prev: Vec<Vec<f64>> = (0..=n).map(|_| vec![1.0]).collect();
    for i in 1..=m {
        let mut current: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
        current.push(vec![1.0]); // P_{i,0}: U = 0
        for j in 1..=n {
            let (wa, wb) = (i as f64 / (i + j) as f64, j as f64 / (i + j) as f64);
            let mut p = vec![0.0; i * j + 1];
            // The largest value is a member's (prob. i/(i+j)): it precedes all j
            // non-members, adding j to U; else a non-member's, adding nothing.
            for (u, x) in prev[j].iter().enumerate() {
                p[u + j] += wa * x;
            }
            for (u, x) in current[j - 1].iter().enumerate() {
                p[u] += wb * x;
            }
            current.push(p);
        }
        prev = current;
    }
    prev.pop().expect("row n exists")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Exp};

    /// The brute-force definition over all pairs.
    fn pairs(members: &[f64], nonmembers: &[f64]) -> f64 {
        let total: f64 = members
            .iter()
            .flat_map(|a| nonmembers.iter().map(move |b| (a, b)))
            .map(|(a, b)| match a.total_cmp(b) {
                std::cmp::Ordering::Less => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Greater => 0.0,
            })
            .sum();
        total / (members.len() * nonmembers.len()) as f64
    }

    #[test]
    fn same_distribution_gives_one_half() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let exp = Exp::new(1.0).unwrap();
        let a: Vec<f64> = (0..2000).map(|_| exp.sample(&mut rng)).collect();
        let b: Vec<f64> = (0..2000).map(|_| exp.sample(&mut rng)).collect();
        let rust = auc(&a, &b);
        assert!(
            (rust - 0.5).abs() < 0.05,
            "rust={rust}, reference=0.5 ± 0.05"
        );
    }

    #[test]
    fn separated_losses_give_one_and_reversed_give_zero() {
        let low: Vec<f64> = (0..50).map(|i| 1e-6 * (1.0 + i as f64)).collect();
        let high: Vec<f64> = (0..80).map(|i| 0.5 + 0.01 * i as f64).collect();
        assert_eq!(auc(&low, &high), 1.0);
        assert_eq!(auc(&high, &low), 0.0);
    }

    /// The null quantile against exact enumeration of every interleaving of m = 3 members
    /// and n = 5 non-members (C(8, 3) = 56, each equally likely).
    #[test]
    fn null_strength_matches_enumeration() {
        for (m, n) in [(3, 5), (4, 4), (2, 7)] {
            let mut strengths = Vec::new();
            for mask in 0u32..1 << (m + n) {
                if mask.count_ones() as usize != m {
                    continue;
                }
                // Ranks 0..m+n: the bits set are the members' ranks.
                let members: Vec<f64> = (0..m + n)
                    .filter(|k| mask >> k & 1 == 1)
                    .map(|k| k as f64)
                    .collect();
                let others: Vec<f64> = (0..m + n)
                    .filter(|k| mask >> k & 1 == 0)
                    .map(|k| k as f64)
                    .collect();
                strengths.push(attack_strength(auc(&members, &others)));
            }
            strengths.sort_by(f64::total_cmp);
            let total = strengths.len() as f64;
            let reference = strengths
                .iter()
                .copied()
                .find(|&s| strengths.iter().filter(|&&x| x <= s).count() as f64 / total >= 0.95)
                .unwrap();
            let rust = null_strength_95(m, n);
            assert!(
                (rust - reference).abs() < 1e-12,
                "m={m}, n={n}: rust={rust}, reference={reference}"
            );
            assert_eq!(null_strength_95(n, m), rust, "symmetric in the roles");
        }
    }

    /// At the default sizes (10 forget, 200 test samples) the exact quantile and the normal
    /// approximation agree to 0.01, and a Monte Carlo estimate agrees with the exact value.
    #[test]
    fn null_strength_at_default_sizes() {
        let exact = null_strength_95(10, 200);
        let sd = (211.0f64 / (12.0 * 2000.0)).sqrt();
        let normal = 0.5 + 1.959_963_984_540_054 * sd;
        assert!(
            (exact - normal).abs() < 0.01,
            "exact={exact}, normal={normal}"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let exp = Exp::new(1.0).unwrap();
        let draws = 4000;
        let below = (0..draws)
            .filter(|_| {
                let a: Vec<f64> = (0..10).map(|_| exp.sample(&mut rng)).collect();
                let b: Vec<f64> = (0..200).map(|_| exp.sample(&mut rng)).collect();
                attack_strength(auc(&a, &b)) <= exact
            })
            .count() as f64
            / draws as f64;
        // ≥ 0.95 by construction (a discrete quantile); 3.5 binomial sd ≈ 0.012.
        assert!(
            (0.95 - 0.012..0.975).contains(&below),
            "Monte Carlo P(strength ≤ {exact}) = {below}, reference ≥ 0.95"
        );
        assert!(null_strength_95(0, 5).is_nan());
        assert!(
            (null_strength_95(200, 300) - 0.5 - 1.96 * (501.0f64 / 720_000.0).sqrt()).abs() < 1e-4
        );
    }

    #[test]
    fn equals_the_pairwise_definition_with_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Integers force many ties.
        let a: Vec<f64> = (0..37).map(|_| rng.random_range(0..6) as f64).collect();
        let b: Vec<f64> = (0..23).map(|_| rng.random_range(0..6) as f64).collect();
        let (rust, reference) = (auc(&a, &b), pairs(&a, &b));
        assert!(
            (rust - reference).abs() < 1e-12,
            "rust={rust}, reference={reference}"
        );
        assert_eq!(auc(&[1.0], &[1.0]), 0.5);
        assert!(auc(&[], &[1.0]).is_nan());
    }
}
