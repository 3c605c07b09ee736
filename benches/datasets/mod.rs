//! Seeded datasets shared by the benches: dense (sequential) and sparse (random) `u64` elements.
#![allow(dead_code)] // each bench binary uses part of it

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The sizes every group runs at.
pub(crate) const SIZES: [u64; 3] = [1_000, 100_000, 1_000_000];

/// How elements are spread.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Spread {
    /// `offset..offset + n`: full roaring run containers.
    Dense,
    /// Uniform in `0..2^32` (seeded): at 1M elements ~15 per 2^16 chunk, sparse array containers.
    Sparse,
    /// Uniform over all of `u64` (seeded): one element per chunk, the worst case for roaring.
    Scattered,
}

impl Spread {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Spread::Dense => "dense",
            Spread::Sparse => "sparse",
            Spread::Scattered => "scattered_u64",
        }
    }
}

/// `n` elements, ascending; `variant` shifts the dense range by `n / 2` or reseeds the random ones, so that two
/// variants overlap by about half (dense) or barely (random).
pub(crate) fn elements(spread: Spread, n: u64, variant: u64) -> Vec<u64> {
    let mut v: Vec<u64> = match spread {
        Spread::Dense => (variant * n / 2..variant * n / 2 + n).collect(),
        Spread::Sparse | Spread::Scattered => {
            let mut rng = ChaCha8Rng::seed_from_u64(0x05_0515 + variant);
            let mut out = std::collections::BTreeSet::new();
            while (out.len() as u64) < n {
                out.insert(match spread {
                    Spread::Sparse => u64::from(rng.random::<u32>()),
                    _ => rng.random::<u64>(),
                });
            }
            return out.into_iter().collect();
        }
    };
    v.sort_unstable();
    v
}
