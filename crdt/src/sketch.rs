//! What a replica's summary says about its keys besides the cells: a [`SetHash`] (equality, and the check of
//! every decoded difference) and a [`Sketch`] (the size of a difference, before any cell is sent).

use crate::coding::Space;
use crate::fingerprint::mix64;

const SET_HASH: u64 = 0x6f73_6d6f_7369_7348; // "osmosisH"
const SET_HASH_HASHED: u64 = 0x6f73_6d6f_7369_7368; // "osmosish"
const SIGNS: u64 = 0x6f73_6d6f_7369_7353; // "osmosisS"

/// Buckets of a replica's [`Sketch`].
pub const SKETCH_BUCKETS: usize = 4096;
/// Buckets of the sketch a summary carries (the replica's sketch folded).
pub const SUMMARY_BUCKETS: usize = 16;

/// The keyed hash a [`SetHash`] sums.
fn element_hash(space: Space, x: u64) -> u64 {
    match space {
        Space::Int => mix64(x ^ SET_HASH),
        Space::Hashed => mix64(x ^ SET_HASH_HASHED),
    }
}

/// An order-independent 64-bit hash of a set of keys with its size: equal sets have equal hashes, and a decoded
/// difference is checked against the peer's hash before anything is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetHash {
    /// Number of keys.
    pub len: u64,
    /// Wrapping sum of the keys' keyed hashes.
    pub hash: u64,
}

impl SetHash {
    pub(crate) fn add(&mut self, space: Space, x: u64) {
        self.len = self.len.wrapping_add(1);
        self.hash = self.hash.wrapping_add(element_hash(space, x));
    }

    pub(crate) fn remove(&mut self, space: Space, x: u64) {
        self.len = self.len.wrapping_sub(1);
        self.hash = self.hash.wrapping_sub(element_hash(space, x));
    }
}

/// A count sketch of the keys (the "fast AMS" sketch of Cormode and Garofalakis, after Alon, Matias and Szegedy):
/// [`SKETCH_BUCKETS`] signed counters modulo 256; key `x` adds `s(x) = ±1` to bucket `b(x)`, both drawn from
/// `mix64(x ^ S)` (sign: bit 0; bucket: bits 32..). The bucket-wise difference of two replicas' sketches is a sum
/// of ±1 over their symmetric difference, so the sum of its squares estimates the number `d` of differing keys,
/// exactly for `d = 1` and with relative standard deviation `sqrt(2(d−1)/(m·d)) < sqrt(2/m)` over `m` buckets.
///
/// Buckets *fold*: adding bucket `j` and `j + m` gives the sketch with `m` buckets, so a replica keeps one sketch
/// and sends it at the precision a round can afford: [`SUMMARY_BUCKETS`] in every summary (±35 %), more when a
/// round asks for a precise estimate ([`Sketch::fold`]). One bucket changes per key. Counters are read as signed
/// bytes, so an estimate holds while `d/m` stays well below 128².
#[derive(Clone, PartialEq, Eq)]
pub struct Sketch(Box<[u8]>);

impl Default for Sketch {
    fn default() -> Self {
        Sketch(vec![0; SKETCH_BUCKETS].into_boxed_slice())
    }
}

impl Sketch {
    pub(crate) fn toggle(&mut self, x: u64, up: bool) {
        let h = mix64(x ^ SIGNS);
        let e = &mut self.0[(h >> 32) as usize & (SKETCH_BUCKETS - 1)];
        *e = if (h & 1 == 1) == up { e.wrapping_add(1) } else { e.wrapping_sub(1) };
    }

    /// The sketch folded to `m` buckets (`m` a power of two, at most [`SKETCH_BUCKETS`]).
    pub fn fold(&self, m: usize) -> Vec<u8> {
        let m = m.clamp(1, SKETCH_BUCKETS).next_power_of_two();
        let mut out = vec![0u8; m];
        for chunk in self.0.chunks_exact(m) {
            for (o, &b) in out.iter_mut().zip(chunk) {
                *o = o.wrapping_add(b);
            }
        }
        out
    }
}

/// The estimated number of keys in the symmetric difference of two sketched sets, from their sketches folded to
/// the same size (the sum of squared differences; 0 for sketches of different sizes).
pub fn estimate(a: &[u8], b: &[u8]) -> f64 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| f64::from(x.wrapping_sub(*y) as i8).powi(2)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(keys: impl Iterator<Item = u64>) -> Sketch {
        let mut s = Sketch::default();
        for x in keys {
            s.toggle(x, true);
        }
        s
    }

    #[test]
    fn folding_twice_is_folding_once() {
        let s = sketch((0..5000u64).map(mix64));
        let mid = Sketch(s.fold(256).into_boxed_slice());
        assert_eq!(mid.fold(16), s.fold(16));
        assert_eq!(s.fold(SKETCH_BUCKETS), s.0.to_vec());
    }

    #[test]
    fn the_sketch_estimates_one_difference_exactly_and_many_within_a_few_deviations() {
        let shared = || (0..3000u64).map(mix64);
        let a = sketch(shared().chain([77]));
        let b = sketch(shared());
        assert_eq!(estimate(&a.fold(16), &b.fold(16)), 1.0);
        let a = sketch(shared().chain((0..500u64).map(|i| mix64(i + 10_000))));
        let b = sketch(shared().chain((0..500u64).map(|i| mix64(i + 20_000))));
        for m in [16usize, 256, 2048] {
            let e = estimate(&a.fold(m), &b.fold(m));
            let sd = (2.0 / m as f64).sqrt() * 1000.0;
            assert!((e - 1000.0).abs() < 4.0 * sd, "{m} buckets: {e}");
        }
    }
}
