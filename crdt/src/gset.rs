//! [`GSet`]: a grow-only set of `u64` on a [`RoaringTreemap`], with a chunked, seeded digest.
//!
//! # Digest format
//! The element space is cut into *chunks* of 2^16 consecutive values: chunk key `k = x >> 16` (the high 48 bits),
//! exactly the unit of a roaring container. A [`GSetDigest`] holds the round `seed`, the fingerprint width `bits`
//! (1..=64, default 64) and, for every non-empty chunk in ascending key order, the pair `(k, fp_k)` with
//!
//! ```text
//! key    = mix64(seed + 0x9e3779b97f4a7c15)
//! fp_k   = low_bits( mix64(n_k ^ rotl(key, 32)) + Σ_{x in chunk k} mix64(x ^ key) )      (wrapping u64 sums)
//! ```
//!
//! where `mix64` is the SplitMix64 finalizer (see `fingerprint.rs`) and `n_k` the chunk's cardinality. It is plain
//! integer arithmetic: the same on every platform and build (golden-value tests pin it).
//!
//! **Size.** One entry per non-empty chunk (per roaring container), independent of how many elements each chunk
//! holds: 16 bytes per chunk in binary; in JSON `{"seed":S,"bits":B,"chunks":[[k,fp],…]}` is at most
//! `33 + 20 (seed) + 39·c` bytes for `c` chunks with 64-bit fingerprints (a key ≤ 15 digits, a fingerprint ≤ 20
//! digits, 4 punctuation bytes). 1M sequential elements touch 16 chunks (≈ 0.4 KiB measured, see
//! benches/README.md). The worst case is one element per chunk (uniform random 64-bit values), where the digest is
//! as large as the set itself: the digest is proportional to containers, as designed.
//!
//! **Precision.** [`GSet::delta_since`] sends every element of each chunk whose fingerprint differs or that the
//! digest does not list, and nothing else: it is a superset of what the owner lacks, at chunk granularity (a
//! chunk where the owner holds *more* is resent too, because a fingerprint cannot say which side is ahead). It is
//! empty when both replicas are equal.
//!
//! **Collisions.** Two different chunk contents share a fingerprint with probability about `2^-bits` per compared
//! chunk and round. The consequence is that one round fails to ship that chunk — never a wrong element, only a
//! missing one. Because the seed keys every element hash, the next round (fresh seed) computes independent
//! fingerprints, so a collision cannot persist: the probability that a difference stays hidden for `r` rounds is
//! about `2^(-bits·r)`. The seed travels in the digest, so the responder always hashes with the owner's seed.
//! Engines must rotate seeds (see [`crate::DeltaCrdt`]); a test exercises a real collision with 4-bit fingerprints.

use std::fmt;

use roaring::RoaringTreemap;

use crate::fingerprint::{SetFingerprint, hash_u64, key};
use crate::traits::{DeltaCrdt, Lattice};

/// Bits of an element that select its position inside a chunk (a roaring container holds 2^16 values).
pub const CHUNK_BITS: u32 = 16;

/// A grow-only set of `u64` (state-based and delta-state CRDT), stored as a roaring treemap.
///
/// Two replicas converge by exchanging deltas:
///
/// ```
/// use osmosis_crdt::{DeltaCrdt, GSet, Lattice};
///
/// let (mut a, mut b) = (GSet::new(), GSet::new());
/// let delta = a.insert(1);            // every mutator returns its delta
/// b.insert(70_000);
/// b.apply_delta(&delta);
/// a.apply_delta(&a.delta_since(&a.digest()));          // nothing new: an empty delta
/// assert!(a.join(&b.delta_since(&a.digest_seeded(42))));
/// assert_eq!(a, b);
/// assert_eq!(a.iter().collect::<Vec<_>>(), vec![1, 70_000]);
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct GSet {
    pub(crate) set: RoaringTreemap,
}

/// The digest of a [`GSet`]: one fingerprint per non-empty 2^16-element chunk (format in the module docs).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "DigestWire")]
pub struct GSetDigest {
    seed: u64,
    bits: u8,
    chunks: Vec<(u64, u64)>,
}

#[derive(serde::Deserialize)]
struct DigestWire {
    seed: u64,
    bits: u8,
    chunks: Vec<(u64, u64)>,
}

impl TryFrom<DigestWire> for GSetDigest {
    type Error = String;
    fn try_from(w: DigestWire) -> Result<Self, String> {
        let d = GSetDigest { seed: w.seed, bits: w.bits, chunks: w.chunks };
        d.validate()?;
        Ok(d)
    }
}

impl GSetDigest {
    /// The round seed the fingerprints are keyed by.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The fingerprint width in bits.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// The `(chunk key, fingerprint)` pairs, ascending by key.
    pub fn chunks(&self) -> &[(u64, u64)] {
        &self.chunks
    }

    /// Checks the digest's invariants: `bits` in 1..=64, keys strictly ascending and below 2^48.
    #[doc(hidden)]
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.bits) {
            return Err(format!("digest bits must be in 1..=64, got {}", self.bits));
        }
        if self.chunks.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err("digest chunk keys must be strictly ascending".into());
        }
        if self.chunks.last().is_some_and(|&(k, _)| k >> (64 - CHUNK_BITS) != 0) {
            return Err("digest chunk key exceeds 48 bits".into());
        }
        Ok(())
    }
}

impl GSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps an existing treemap.
    pub fn from_treemap(set: RoaringTreemap) -> Self {
        GSet { set }
    }

    /// The underlying treemap (read-only: the set only grows through [`GSet::insert`] and joins).
    pub fn as_treemap(&self) -> &RoaringTreemap {
        &self.set
    }

    /// Inserts `x`; returns the delta: `{x}` if it was new, empty otherwise.
    pub fn insert(&mut self, x: u64) -> GSet {
        let mut delta = GSet::new();
        if self.set.insert(x) {
            delta.set.insert(x);
        }
        delta
    }

    /// Whether `x` is in the set.
    pub fn contains(&self, x: u64) -> bool {
        self.set.contains(x)
    }

    /// The number of elements.
    pub fn len(&self) -> u64 {
        self.set.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The elements in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.set.iter()
    }

    /// The digest with a chosen fingerprint width (`bits` in 1..=64; smaller is shorter and collides more often).
    ///
    /// # Panics
    /// If `bits` is outside 1..=64 (a programming error, not peer input).
    pub fn digest_with(&self, seed: u64, bits: u8) -> GSetDigest {
        assert!((1..=64).contains(&bits), "fingerprint bits must be in 1..=64");
        GSetDigest { seed, bits, chunks: self.chunk_fingerprints(seed, bits) }
    }

    /// `(chunk key, fingerprint)` for every non-empty chunk, ascending.
    fn chunk_fingerprints(&self, seed: u64, bits: u8) -> Vec<(u64, u64)> {
        let k = key(seed);
        let mut out = Vec::new();
        for (high, bitmap) in self.set.bitmaps() {
            let mut current: Option<(u64, SetFingerprint)> = None;
            for low in bitmap.iter() {
                let x = (u64::from(high) << 32) | u64::from(low);
                let chunk = x >> CHUNK_BITS;
                match &mut current {
                    Some((c, fp)) if *c == chunk => fp.add(hash_u64(x, k)),
                    _ => {
                        if let Some((c, fp)) = current.take() {
                            out.push((c, fp.finish(k, bits)));
                        }
                        let mut fp = SetFingerprint::default();
                        fp.add(hash_u64(x, k));
                        current = Some((chunk, fp));
                    }
                }
            }
            if let Some((c, fp)) = current {
                out.push((c, fp.finish(k, bits)));
            }
        }
        out
    }

    /// Checks invariants: the treemap's cardinality matches its strictly ascending iteration.
    #[doc(hidden)]
    pub fn validate(&self) -> Result<(), String> {
        let mut count = 0u64;
        let mut prev: Option<u64> = None;
        for x in self.set.iter() {
            if prev.is_some_and(|p| p >= x) {
                return Err(format!("iteration not strictly ascending at {x}"));
            }
            prev = Some(x);
            count += 1;
        }
        if count != self.set.len() {
            return Err(format!("len {} but {count} elements iterated", self.set.len()));
        }
        Ok(())
    }
}

impl fmt::Debug for GSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 16;
        let mut list = f.debug_set();
        list.entries(self.set.iter().take(SHOWN));
        if self.set.len() > SHOWN as u64 {
            list.entry(&format_args!("… {} elements in all", self.set.len()));
        }
        list.finish()
    }
}

impl FromIterator<u64> for GSet {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        GSet { set: iter.into_iter().collect() }
    }
}

impl Lattice for GSet {
    /// In-place roaring union (container by container); `other` is only borrowed.
    fn join(&mut self, other: &Self) -> bool {
        let before = self.set.len();
        self.set |= &other.set;
        self.set.len() != before
    }
}

impl DeltaCrdt for GSet {
    type Digest = GSetDigest;
    type Delta = GSet;

    fn digest_seeded(&self, seed: u64) -> GSetDigest {
        self.digest_with(seed, 64)
    }

    /// Every element of each chunk whose fingerprint (under the digest's seed and width) differs from the
    /// digest's, or that the digest does not list.
    fn delta_since(&self, digest: &GSetDigest) -> GSet {
        let mine = self.chunk_fingerprints(digest.seed, digest.bits);
        let theirs = &digest.chunks;
        let mut mask = RoaringTreemap::new();
        let mut j = 0;
        for (chunk, fp) in mine {
            while j < theirs.len() && theirs[j].0 < chunk {
                j += 1;
            }
            let same = j < theirs.len() && theirs[j] == (chunk, fp);
            if !same {
                let lo = chunk << CHUNK_BITS;
                mask.insert_range(lo..=lo | ((1 << CHUNK_BITS) - 1));
            }
        }
        if mask.is_empty() {
            return GSet::new();
        }
        GSet { set: &self.set & &mask }
    }

    fn apply_delta(&mut self, delta: &GSet) -> bool {
        self.join(delta)
    }

    fn delta_is_empty(delta: &GSet) -> bool {
        delta.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_returns_the_new_element_or_an_empty_delta() {
        let mut s = GSet::new();
        assert_eq!(s.insert(5).iter().collect::<Vec<_>>(), vec![5]);
        assert!(s.insert(5).is_empty());
    }

    #[test]
    fn digest_has_one_entry_per_touched_chunk() {
        let s: GSet = (0..200_000u64).chain([1 << 40, u64::MAX]).collect();
        let d = s.digest();
        let keys: Vec<u64> = d.chunks().iter().map(|c| c.0).collect();
        assert_eq!(keys, vec![0, 1, 2, 3, 1 << 24, u64::MAX >> 16]);
    }

    #[test]
    fn delta_since_sends_only_differing_chunks() {
        let a: GSet = (0..200_000u64).collect();
        let mut b: GSet = (0..200_000u64).collect();
        b.set.remove(70_000);
        let delta = a.delta_since(&b.digest_seeded(9));
        assert_eq!(delta.set, (65_536..131_072u64).collect::<RoaringTreemap>());
        assert!(a.delta_since(&a.digest_seeded(3)).is_empty());
    }

    #[test]
    fn digest_fingerprints_depend_on_the_seed() {
        let s: GSet = (0..10u64).collect();
        assert_ne!(s.digest_seeded(1).chunks(), s.digest_seeded(2).chunks());
    }

    #[test]
    fn digest_decoding_rejects_unordered_keys_and_bad_widths() {
        let bad = [
            r#"{"seed":0,"bits":64,"chunks":[[2,1],[1,1]]}"#,
            r#"{"seed":0,"bits":0,"chunks":[]}"#,
            r#"{"seed":0,"bits":65,"chunks":[]}"#,
            r#"{"seed":0,"bits":64,"chunks":[[281474976710656,1]]}"#,
        ];
        for text in bad {
            assert!(serde_json::from_str::<GSetDigest>(text).is_err(), "{text}");
        }
        assert!(serde_json::from_str::<GSetDigest>(r#"{"seed":0,"bits":64,"chunks":[[1,1]]}"#).is_ok());
    }
}
