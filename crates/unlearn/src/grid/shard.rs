//! Splitting a grid among N processes (`--shard K/N`, the tasks of a cluster's job array): a
//! deterministic partition of its cells that keeps cells needing the same setups together, so
//! that few setups are pre-trained by more than one shard.
//!
//! The cells are grouped by the setups their repetitions need (a B × α grid has one group: every
//! cell needs the setup of each seed; an SNR axis makes one group per SNR), groups in the order
//! of their first cell. The cells are listed group after group, each group's cells in strided
//! order (positions 0, N, 2N, …, then 1, N+1, …), and the list is cut into N contiguous
//! pieces whose sizes differ by at most one: shard K computes piece K. A grid with at least N
//! groups is split along group boundaries (at most N − 1 groups are shared by two shards); a
//! single group is dealt round-robin, which spreads cheap and expensive rows (runs that escape
//! early, runs that use their whole budget) evenly.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use frontier_model::ModelSpec;

use super::config::GridConfig;
use super::setups::setup_key;
use crate::error::{Error, Result, invalid};

/// Shard K of N (1 ≤ K ≤ N): the part of every grid one process computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// The whole grid: shard 1 of 1.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// Shard `index` of `count`; errors unless 1 ≤ index ≤ count.
    pub fn new(index: usize, count: usize) -> Result<Shard> {
        if count == 0 || index == 0 || index > count {
            return Err(invalid(
                "shard",
                format!("expected K/N with 1 ≤ K ≤ N, got {index}/{count}"),
            ));
        }
        Ok(Shard { index, count })
    }

    /// K, from 1.
    pub fn index(self) -> usize {
        self.index
    }

    /// N.
    pub fn count(self) -> usize {
        self.count
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `K/N`, e.g. `2/4`.
    fn from_str(text: &str) -> Result<Shard> {
        let parse = |part: &str| part.trim().parse::<usize>().ok();
        match text.split_once('/').map(|(k, n)| (parse(k), parse(n))) {
            Some((Some(index), Some(count))) => Shard::new(index, count),
            _ => Err(invalid(
                "shard",
                format!("expected K/N with 1 ≤ K ≤ N (e.g. 2/4), got `{text}`"),
            )),
        }
    }
}

/// The shard (1..=`count`) that owns each cell of `cfg`, in cell order (see the module docs).
pub fn owners<C: ModelSpec>(cfg: &GridConfig<C>, count: usize) -> Result<Vec<usize>> {
    Shard::new(1, count)?;
    let nx = cfg.nx();
    let mut groups: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for cell in 0..cfg.cells() {
        let keys = (0..cfg.reps)
            .map(|rep| setup_key(&cfg.resolve(cell % nx, cell / nx, rep)?.0))
            .collect::<Result<Vec<_>>>()?;
        let next = groups.len();
        let group = *groups.entry(keys).or_insert(next);
        if group == members.len() {
            members.push(Vec::new());
        }
        members[group].push(cell);
    }
    let order: Vec<usize> = members
        .iter()
        .flat_map(|cells| (0..count).flat_map(move |r| cells.iter().skip(r).step_by(count)))
        .copied()
        .collect();
    // Piece k starts at k·q + min(k, r) (q = total / N, r = total mod N): the first r pieces
    // hold one cell more, as do the first r residue classes of the strided order.
    let (q, r) = (order.len() / count, order.len() % count);
    let start = |k: usize| k * q + k.min(r);
    let mut owners = vec![0; order.len()];
    for shard in 0..count {
        for &cell in &order[start(shard)..start(shard + 1)] {
            owners[cell] = shard + 1;
        }
    }
    Ok(owners)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{Axis, Param};
    use crate::run::tests::tiny;

    #[test]
    fn parses_and_checks_k_of_n() {
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard::new(2, 4).unwrap());
        assert_eq!(" 1 / 1 ".parse::<Shard>().unwrap(), Shard::WHOLE);
        assert_eq!(Shard::new(3, 7).unwrap().to_string(), "3/7");
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "-1/4", "1/4/2", ""] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(
                err.contains("shard") && err.contains("1 ≤ K ≤ N"),
                "{bad}: {err}"
            );
        }
    }

    /// Every cell is owned by exactly one shard, the shards' sizes differ by at most one, and a
    /// single-group grid is dealt round-robin.
    #[test]
    fn every_cell_has_one_owner_and_sizes_are_balanced() {
        let mut cfg = GridConfig::smoke(tiny(0.05), 0);
        cfg.x = Axis::numbers(Param::Batch, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        cfg.y = Some(Axis::numbers(Param::Alpha, vec![0.0, 0.5, 1.0]));
        for count in [1, 2, 3, 4, 7, 15, 16] {
            let owners = owners(&cfg, count).unwrap();
            assert_eq!(owners.len(), 15);
            let sizes: Vec<usize> = (1..=count)
                .map(|k| owners.iter().filter(|&&o| o == k).count())
                .collect();
            assert_eq!(sizes.iter().sum::<usize>(), 15, "N = {count}: {owners:?}");
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(hi - lo <= 1, "N = {count}: sizes {sizes:?}");
        }
        let owners = owners(&cfg, 4).unwrap();
        let round_robin: Vec<usize> = (0..15).map(|c| c % 4 + 1).collect();
        assert_eq!(owners, round_robin);
        assert!(super::owners(&cfg, 0).is_err());
    }

    /// An SNR axis gives one group of cells per SNR: with N dividing the number of SNRs each
    /// shard needs the setups of its own SNRs only, and otherwise at most N − 1 SNRs are
    /// shared by two shards.
    #[test]
    fn cells_sharing_setups_stay_together() {
        let mut cfg = GridConfig::smoke(tiny(0.05), 0);
        let snrs = vec![0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0];
        cfg.x = Axis::numbers(Param::Snr, snrs.clone());
        cfg.y = Some(Axis::numbers(Param::Alpha, vec![0.0, 0.2, 0.4, 0.6, 1.0]));
        let shared_snrs = |count: usize| {
            let owners = owners(&cfg, count).unwrap();
            let shards_of_snr = |ix: usize| {
                let shards: std::collections::BTreeSet<usize> =
                    (0..5).map(|iy| owners[iy * 8 + ix]).collect();
                shards.len()
            };
            (0..snrs.len())
                .map(shards_of_snr)
                .filter(|&n| n > 1)
                .count()
        };
        assert_eq!(shared_snrs(4), 0);
        assert_eq!(shared_snrs(8), 0);
        assert!(shared_snrs(3) <= 2, "{}", shared_snrs(3));
    }
}
