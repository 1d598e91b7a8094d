//! Batch index sampling, fresh every step (shared by the linear simulator and the
//! unlearning trainer of `frontier-unlearn`).

use rand::Rng;

use crate::problem::Sampling;

/// Draws batches of (nominally) B indices out of 0..n.
#[derive(Debug, Clone)]
pub struct Sampler {
    scheme: Sampling,
    n: u32,
    b: u32,
    /// Without replacement: a permutation of 0..n, reused across steps.
    /// Otherwise: the last batch.
    buf: Vec<u32>,
}

impl Sampler {
    /// A sampler of batches of B out of n indices under `scheme`.
    pub fn new(scheme: Sampling, n: usize, b: usize) -> Sampler {
        let buf = match scheme {
            Sampling::Without => (0..n as u32).collect(),
            Sampling::With | Sampling::Bernoulli => Vec::with_capacity(n.max(b)),
        };
        Sampler {
            scheme,
            n: n as u32,
            b: b as u32,
            buf,
        }
    }

    /// The next batch.
    ///
    /// Without replacement: a partial Fisher–Yates shuffle of the first B
    /// slots of the stored permutation (O(B)); since every slot is filled by a
    /// uniform choice among the elements not yet chosen, the batch is a
    /// uniform B-subset whatever order the permutation was left in.
    /// With replacement: B uniform draws. Bernoulli: each index with
    /// probability B/n (O(n)).
    #[inline]
    pub fn draw<R: Rng>(&mut self, rng: &mut R) -> &[u32] {
        let (n, b) = (self.n, self.b);
        match self.scheme {
            Sampling::Without => {
                for t in 0..b {
                    let j = rng.random_range(t..n);
                    self.buf.swap(t as usize, j as usize);
                }
                &self.buf[..b as usize]
            }
            Sampling::With => {
                self.buf.clear();
                self.buf.extend((0..b).map(|_| rng.random_range(0..n)));
                &self.buf
            }
            Sampling::Bernoulli => {
                let q = f64::from(b) / f64::from(n);
                self.buf.clear();
                self.buf.extend((0..n).filter(|_| rng.random::<f64>() < q));
                &self.buf
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Every index is drawn with frequency B/n (within 5 binomial standard
    /// errors), and without replacement never twice in one batch.
    #[test]
    fn inclusion_frequencies_are_uniform() {
        let (n, b, draws) = (7usize, 3usize, 20_000usize);
        for scheme in [Sampling::Without, Sampling::With, Sampling::Bernoulli] {
            let mut s = Sampler::new(scheme, n, b);
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let mut count = vec![0usize; n];
            for _ in 0..draws {
                let batch = s.draw(&mut rng);
                if scheme == Sampling::Without {
                    let mut sorted = batch.to_vec();
                    sorted.sort_unstable();
                    sorted.dedup();
                    assert_eq!(sorted.len(), b);
                }
                batch.iter().for_each(|&i| count[i as usize] += 1);
            }
            let expect = draws as f64 * b as f64 / n as f64;
            let se = (expect * (1.0 - b as f64 / n as f64)).sqrt();
            for (i, &c) in count.iter().enumerate() {
                assert!(
                    (c as f64 - expect).abs() < 5.0 * se,
                    "{scheme:?} index {i}: rust={c}, reference={expect}±{se}"
                );
            }
        }
    }
}
