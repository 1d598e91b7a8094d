//! The loss-threshold membership-inference attack (Yeom et al. 2018): a sample is called a
//! training member when its loss is below a threshold. Its AUC over all thresholds is the
//! probability that a random member has a lower loss than a random non-member.

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
