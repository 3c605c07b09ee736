//! Stable, seeded 64-bit hashing for digests.
//!
//! Digests travel between processes that may run different builds on different platforms, so the hash must be
//! a fixed function of its input: std's `DefaultHasher`/`RandomState` are neither specified nor stable and are not
//! used. Everything here is plain wrapping `u64` arithmetic on little-endian words, identical on every platform
//! and pinned by the unit tests below (golden values).
//!
//! - [`mix64`] is the SplitMix64 finalizer (Steele, Lea, Flood 2014; the constants of `java.util.SplittableRandom`),
//!   a bijection on `u64` with full avalanche.
//! - [`key`] turns a round seed into a hashing key.
//! - A set's fingerprint is `mix64(count ^ key') + Σ h(part)` (wrapping) over the parts of a canonical
//!   decomposition of the set: single elements for [`crate::OrdGSet`], maximal runs of consecutive integers for
//!   [`crate::GSet`] ([`hash_run`]). Order-independent, so it can be accumulated while walking a chunk in any
//!   order, and keyed, so a collision under one seed says nothing about the next seed.

/// The SplitMix64 finalizer: a fixed bijection on `u64` with full avalanche.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z ^= z >> 30;
    z = z.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^= z >> 27;
    z = z.wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The hashing key derived from a round seed.
pub(crate) const fn key(seed: u64) -> u64 {
    mix64(seed.wrapping_add(GOLDEN))
}

/// Keeps the low `bits` bits of a fingerprint (`bits` in `1..=64`).
pub(crate) const fn truncate(fp: u64, bits: u8) -> u64 {
    if bits >= 64 { fp } else { fp & ((1u64 << bits) - 1) }
}

/// An order-independent fingerprint of a multiset-free collection of pre-hashed elements.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SetFingerprint {
    sum: u64,
    count: u64,
}

impl SetFingerprint {
    /// Adds one element's keyed hash.
    pub(crate) fn add(&mut self, element_hash: u64) {
        self.add_part(element_hash, 1);
    }

    /// Adds the keyed hash of one part of the set's canonical decomposition, holding `len` elements.
    pub(crate) fn add_part(&mut self, part_hash: u64, len: u64) {
        self.sum = self.sum.wrapping_add(part_hash);
        self.count = self.count.wrapping_add(len);
    }

    /// Absorbs another accumulator over disjoint elements (the fingerprint of the union).
    pub(crate) fn merge(&mut self, other: SetFingerprint) {
        self.sum = self.sum.wrapping_add(other.sum);
        self.count = self.count.wrapping_add(other.count);
    }

    /// The fingerprint under `key`, truncated to `bits` bits.
    pub(crate) fn finish(self, key: u64, bits: u8) -> u64 {
        truncate(self.sum.wrapping_add(mix64(self.count ^ key.rotate_left(32))), bits)
    }
}

/// The keyed hash of one `u64` element.
pub(crate) const fn hash_u64(x: u64, key: u64) -> u64 {
    mix64(x ^ key)
}

/// The keyed hash of the run `start..=end` of consecutive integers: `mix64(mix64(start ^ key) ^ end)`.
/// A set of integers is the disjoint union of its maximal runs, a decomposition that depends only on the set, so
/// summing this over the maximal runs fingerprints the set in time proportional to its runs, not its elements.
pub(crate) const fn hash_run(start: u64, end: u64, key: u64) -> u64 {
    mix64(mix64(start ^ key) ^ end)
}

/// The keyed hash of a byte string: 8-byte little-endian words folded through [`mix64`], length included.
/// The key enters the state before the first word, so collisions depend on the key.
pub(crate) fn hash_bytes(bytes: &[u8], key: u64) -> u64 {
    let mut acc = mix64(key.wrapping_add(GOLDEN) ^ (bytes.len() as u64));
    let mut chunks = bytes.chunks_exact(8);
    for word in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        acc = mix64(acc ^ u64::from_le_bytes(w)).wrapping_add(GOLDEN);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        acc = mix64(acc ^ u64::from_le_bytes(w)).wrapping_add(GOLDEN);
    }
    mix64(acc)
}

/// Elements of an ordered set that can be hashed stably (same value, same bytes, on every platform and build).
pub trait StableHash {
    /// A keyed 64-bit hash, a fixed function of the value and `key`.
    fn stable_hash(&self, key: u64) -> u64;
}

impl StableHash for u64 {
    fn stable_hash(&self, key: u64) -> u64 {
        hash_u64(*self, key)
    }
}

impl StableHash for i64 {
    fn stable_hash(&self, key: u64) -> u64 {
        hash_u64(u64::from_le_bytes(self.to_le_bytes()), key)
    }
}

impl StableHash for String {
    fn stable_hash(&self, key: u64) -> u64 {
        hash_bytes(self.as_bytes(), key)
    }
}

impl StableHash for Vec<u8> {
    fn stable_hash(&self, key: u64) -> u64 {
        hash_bytes(self, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_pinned_to_golden_values_so_peers_agree_across_builds() {
        assert_eq!(mix64(0), 0);
        assert_eq!(mix64(1), 0x5692_161d_100b_05e5);
        assert_eq!(key(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(hash_bytes(b"", 0), 0x4821_8226_ff3c_d4bf);
        assert_eq!(hash_bytes(b"hello, world", 7), 0xf7f7_0ab9_c33c_c2fb);
        assert_eq!(hash_run(5, 9, key(0)), 0xc78a_6170_4542_cf18);
    }

    #[test]
    fn byte_hash_depends_on_length_and_key() {
        assert_ne!(hash_bytes(b"a", 1), hash_bytes(b"a\0", 1));
        assert_ne!(hash_bytes(b"a", 1), hash_bytes(b"a", 2));
    }

    #[test]
    fn truncate_keeps_low_bits() {
        assert_eq!(truncate(0xffff, 4), 0xf);
        assert_eq!(truncate(u64::MAX, 64), u64::MAX);
    }
}
