//! Inter-server latency distributions (spec §4.2). Owner: models helper. Interface fixed; bodies to fill.

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
        todo!("{mean_ms} {dist:?}")
    }

    /// One sample in whole milliseconds.
    pub fn sample_ms<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        todo!("{:?}", rng.random::<u8>())
    }
}
