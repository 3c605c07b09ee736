//! Inter-server latency distributions (spec §4.2).
//!
//! A sample is a whole number of milliseconds, drawn once per server↔server message at send time. Client messages
//! never get latency (that rule lives in [`crate::net`]).

use std::fmt;
use std::str::FromStr;

use rand::Rng;

/// `--latency-dist`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyDist {
    /// exactly the mean
    Constant,
    /// uniform integer in `[0, 2m)`
    Uniform,
    /// `-ln(1-U)·m`, truncated toward 0
    Exponential,
}

impl LatencyDist {
    /// Every distribution, in the order Maelstrom's help lists them.
    pub const ALL: [LatencyDist; 3] = [LatencyDist::Constant, LatencyDist::Uniform, LatencyDist::Exponential];

    /// Maelstrom's keyword name (without the colon).
    pub fn name(self) -> &'static str {
        match self {
            LatencyDist::Constant => "constant",
            LatencyDist::Uniform => "uniform",
            LatencyDist::Exponential => "exponential",
        }
    }
}

impl fmt::Display for LatencyDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LatencyDist {
    type Err = String;

    /// Parses `constant`, `uniform` or `exponential`.
    fn from_str(s: &str) -> Result<Self, String> {
        LatencyDist::ALL.into_iter().find(|d| d.name() == s).ok_or_else(|| {
            format!("unknown latency distribution {s:?}; expected one of constant, uniform, exponential")
        })
    }
}

/// A validated latency model: mean in milliseconds and distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// `--latency`, milliseconds.
    pub mean_ms: u64,
    /// `--latency-dist`.
    pub dist: LatencyDist,
}

impl Latency {
    /// Validates the combination (uniform and exponential need a positive mean; Maelstrom crashes otherwise).
    pub fn new(mean_ms: u64, dist: LatencyDist) -> Result<Self, String> {
        // spec §4.2 edge cases: Incanter's integer-distribution asserts `end > start` (uniform over [0, 0) is empty)
        // and the exponential rate 1/m divides by zero. Maelstrom crashes at network construction; we refuse early.
        if mean_ms == 0 && dist != LatencyDist::Constant {
            return Err(format!(
                "--latency-dist {dist} needs a positive --latency (got 0 ms): the {dist} distribution over a zero \
                 mean is undefined, and Maelstrom crashes on it; use --latency-dist constant for zero latency"
            ));
        }
        Ok(Latency { mean_ms, dist })
    }

    /// Zero latency (Maelstrom's default, `--latency 0 --latency-dist constant`).
    pub fn zero() -> Self {
        Latency { mean_ms: 0, dist: LatencyDist::Constant }
    }

    /// One sample in whole milliseconds.
    ///
    /// * constant: `m`;
    /// * uniform: an integer uniform in `{0, …, 2m-1}` (spec §4.2; `0` when `m = 0`, which `new` refuses);
    /// * exponential: `floor(-ln(1-U)·m)` with `U` uniform in `[0, 1)`.
    pub fn sample_ms<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let m = self.mean_ms;
        match self.dist {
            LatencyDist::Constant => m,
            LatencyDist::Uniform => {
                if m == 0 {
                    0
                } else {
                    rng.random_range(0..m.saturating_mul(2))
                }
            }
            LatencyDist::Exponential => {
                let u: f64 = rng.random();
                // 1 - u is in (0, 1], so the log is finite and non-positive; `as` saturates on huge values.
                (-(1.0 - u).ln() * m as f64) as u64
            }
        }
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency::zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn samples(l: Latency, n: usize) -> Vec<u64> {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        (0..n).map(|_| l.sample_ms(&mut rng)).collect()
    }

    fn mean(v: &[u64]) -> f64 {
        v.iter().sum::<u64>() as f64 / v.len() as f64
    }

    #[test]
    fn constant_latency_is_exactly_the_mean() {
        let l = Latency::new(37, LatencyDist::Constant).unwrap();
        assert!(samples(l, 1000).iter().all(|&s| s == 37));
        assert!(samples(Latency::zero(), 100).iter().all(|&s| s == 0));
    }

    #[test]
    fn uniform_latency_covers_zero_to_twice_the_mean_exclusive() {
        let l = Latency::new(10, LatencyDist::Uniform).unwrap();
        let s = samples(l, 100_000);
        assert!(s.iter().all(|&x| x < 20));
        assert_eq!(*s.iter().min().unwrap(), 0);
        assert_eq!(*s.iter().max().unwrap(), 19);
        // mean of {0..19} is 9.5; the standard error over 100k samples is ~0.018
        assert!((mean(&s) - 9.5).abs() < 0.1, "mean {}", mean(&s));
        // every value is hit roughly 1/20 of the time
        for v in 0..20 {
            let c = s.iter().filter(|&&x| x == v).count();
            assert!((4_500..5_500).contains(&c), "value {v} seen {c} times");
        }
    }

    #[test]
    fn exponential_latency_has_mean_about_m_minus_a_half() {
        let l = Latency::new(100, LatencyDist::Exponential).unwrap();
        let s = samples(l, 100_000);
        // E[floor(X)] for X ~ Exp(mean 100) is 1/(e^{1/100} - 1) ≈ 99.50; standard error ≈ 0.32
        assert!((mean(&s) - 99.5).abs() < 1.5, "mean {}", mean(&s));
        // P(X < 100) = 1 - 1/e ≈ 0.632
        let below = s.iter().filter(|&&x| x < 100).count() as f64 / s.len() as f64;
        assert!((below - 0.632).abs() < 0.01, "fraction below the mean {below}");
        assert!(s.iter().any(|&x| x > 500), "the tail exists");
    }

    #[test]
    fn zero_mean_is_refused_for_random_distributions_only() {
        assert!(Latency::new(0, LatencyDist::Constant).is_ok());
        let e = Latency::new(0, LatencyDist::Uniform).unwrap_err();
        assert!(e.contains("positive --latency"), "{e}");
        assert!(Latency::new(0, LatencyDist::Exponential).is_err());
        assert!(Latency::new(1, LatencyDist::Uniform).is_ok());
    }

    #[test]
    fn distribution_names_round_trip_and_unknown_names_are_refused() {
        for d in LatencyDist::ALL {
            assert_eq!(d.to_string().parse::<LatencyDist>(), Ok(d));
        }
        assert!("normal".parse::<LatencyDist>().unwrap_err().contains("normal"));
    }
}
