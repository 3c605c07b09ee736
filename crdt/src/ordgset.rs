//! [`OrdGSet`]: a grow-only set of any ordered, stably hashable element, with a hashed-bucket digest.
//!
//! # Digest format
//! An [`OrdGSetDigest`] holds the round `seed`, the fingerprint width `bits` (1..=64), `log2_buckets = b` (0..=12)
//! and exactly `2^b` fingerprints, one per bucket, in bucket order. With `key = mix64(seed + φ)` and
//! `H(x) = x.stable_hash(key)` (see [`StableHash`]), element `x` falls in bucket `H(x) >> (64 - b)` (bucket 0 when
//! `b = 0`), and a bucket's fingerprint is `low_bits(mix64(n ^ rotl(key, 32)) + Σ mix64(H(x)))` over its `n`
//! elements, wrapping. The owner picks `b` from its own size: the smallest `b` with at most 32 elements per bucket,
//! capped at 12. **Size**: `2^b ≤ max(1, len/16)` fingerprints and never more than 4096 (≤ 8 KiB binary, ≤ 86 KiB
//! JSON), whatever the set's size.
//!
//! **Precision**: [`OrdGSet::delta_since`] sends the elements of every bucket whose fingerprint differs: a superset
//! of what the owner lacks, at bucket granularity; empty when the replicas are equal. **Collisions**: as for
//! [`crate::GSet`], a collision hides a bucket for one round only, since the seed changes both the bucket
//! assignment and every element hash in the next round.

use std::collections::BTreeSet;
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::fingerprint::{SetFingerprint, StableHash, key, mix64};
use crate::traits::{DeltaCrdt, Lattice};

/// Largest `log2_buckets` of an [`OrdGSetDigest`].
pub const MAX_LOG2_BUCKETS: u8 = 12;
/// Target elements per bucket when the digest owner sizes its digest.
const TARGET_PER_BUCKET: u64 = 32;

/// What an [`OrdGSet`] element must offer.
pub trait OrdElement: Ord + Clone + Debug + StableHash + Serialize + DeserializeOwned {}
impl<T: Ord + Clone + Debug + StableHash + Serialize + DeserializeOwned> OrdElement for T {}

/// A grow-only set of ordered elements. Encoded as an ascending array of its elements.
///
/// ```
/// use osmosis_crdt::{DeltaCrdt, Lattice, OrdGSet};
///
/// let (mut a, mut b) = (OrdGSet::new(), OrdGSet::new());
/// let delta = a.insert("x".to_string());
/// b.insert("y".to_string());
/// b.apply_delta(&delta);
/// a.apply_delta(&b.delta_since(&a.digest_seeded(7)));
/// assert_eq!(a, b);
/// assert!(!a.join(&b));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent, bound = "T: OrdElement")]
pub struct OrdGSet<T: OrdElement> {
    set: BTreeSet<T>,
}

/// The digest of an [`OrdGSet`]: one fingerprint per hash bucket (format in the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "OrdDigestWire")]
pub struct OrdGSetDigest {
    seed: u64,
    bits: u8,
    log2_buckets: u8,
    fingerprints: Vec<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrdDigestWire {
    seed: u64,
    bits: u8,
    log2_buckets: u8,
    fingerprints: Vec<u64>,
}

impl TryFrom<OrdDigestWire> for OrdGSetDigest {
    type Error = String;
    fn try_from(w: OrdDigestWire) -> Result<Self, String> {
        let d =
            OrdGSetDigest { seed: w.seed, bits: w.bits, log2_buckets: w.log2_buckets, fingerprints: w.fingerprints };
        d.validate()?;
        Ok(d)
    }
}

impl OrdGSetDigest {
    /// The round seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The bucket fingerprints, in bucket order.
    pub fn fingerprints(&self) -> &[u64] {
        &self.fingerprints
    }

    /// Checks: `bits` in 1..=64, `log2_buckets` ≤ 12, exactly `2^log2_buckets` fingerprints.
    #[doc(hidden)]
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.bits) {
            return Err(format!("digest bits must be in 1..=64, got {}", self.bits));
        }
        if self.log2_buckets > MAX_LOG2_BUCKETS {
            return Err(format!("log2_buckets must be at most {MAX_LOG2_BUCKETS}, got {}", self.log2_buckets));
        }
        if self.fingerprints.len() != 1 << self.log2_buckets {
            return Err(format!("expected {} fingerprints, got {}", 1 << self.log2_buckets, self.fingerprints.len()));
        }
        Ok(())
    }
}

fn bucket_of(h: u64, log2_buckets: u8) -> usize {
    if log2_buckets == 0 { 0 } else { (h >> (64 - u32::from(log2_buckets))) as usize }
}

impl<T: OrdElement> Default for OrdGSet<T> {
    fn default() -> Self {
        OrdGSet { set: BTreeSet::new() }
    }
}

impl<T: OrdElement> OrdGSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `x`; returns the delta: `{x}` if it was new, empty otherwise.
    pub fn insert(&mut self, x: T) -> OrdGSet<T> {
        let mut delta = OrdGSet::new();
        if !self.set.contains(&x) {
            self.set.insert(x.clone());
            delta.set.insert(x);
        }
        delta
    }

    /// Whether `x` is in the set.
    pub fn contains(&self, x: &T) -> bool {
        self.set.contains(x)
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The elements in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.set.iter()
    }

    /// The digest with a chosen fingerprint width and bucket count (`bits` in 1..=64, `log2_buckets` ≤ 12).
    ///
    /// # Panics
    /// On parameters out of range (a programming error, not peer input).
    pub fn digest_with(&self, seed: u64, bits: u8, log2_buckets: u8) -> OrdGSetDigest {
        assert!((1..=64).contains(&bits) && log2_buckets <= MAX_LOG2_BUCKETS, "digest parameters out of range");
        let fingerprints = self.bucket_fingerprints(seed, bits, log2_buckets);
        OrdGSetDigest { seed, bits, log2_buckets, fingerprints }
    }

    fn bucket_fingerprints(&self, seed: u64, bits: u8, log2_buckets: u8) -> Vec<u64> {
        let k = key(seed);
        let mut acc = vec![SetFingerprint::default(); 1 << log2_buckets];
        for x in &self.set {
            let h = x.stable_hash(k);
            acc[bucket_of(h, log2_buckets)].add(mix64(h));
        }
        acc.into_iter().map(|fp| fp.finish(k, bits)).collect()
    }

    /// The bucket count the owner of this state uses for its digests.
    fn own_log2_buckets(&self) -> u8 {
        let wanted = (self.set.len() as u64).div_ceil(TARGET_PER_BUCKET).max(1);
        let log2 = wanted.next_power_of_two().trailing_zeros();
        u8::try_from(log2).unwrap_or(MAX_LOG2_BUCKETS).min(MAX_LOG2_BUCKETS)
    }

    /// Checks the invariants (a `BTreeSet` is ordered and duplicate-free by construction).
    #[doc(hidden)]
    pub fn validate(&self) -> Result<(), String> {
        if self.set.iter().zip(self.set.iter().skip(1)).any(|(a, b)| a >= b) {
            return Err("ordgset: elements not strictly ascending".into());
        }
        Ok(())
    }
}

impl<T: OrdElement> FromIterator<T> for OrdGSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        OrdGSet { set: iter.into_iter().collect() }
    }
}

impl<T: OrdElement> Lattice for OrdGSet<T> {
    /// Inserts the elements of `other` missing here (cloning only those).
    fn join(&mut self, other: &Self) -> bool {
        let before = self.set.len();
        for x in &other.set {
            if !self.set.contains(x) {
                self.set.insert(x.clone());
            }
        }
        self.set.len() != before
    }
}

impl<T: OrdElement> DeltaCrdt for OrdGSet<T> {
    type Digest = OrdGSetDigest;
    type Delta = OrdGSet<T>;

    fn digest_seeded(&self, seed: u64) -> OrdGSetDigest {
        self.digest_with(seed, 64, self.own_log2_buckets())
    }

    fn digest_matching(&self, theirs: &OrdGSetDigest) -> OrdGSetDigest {
        self.digest_with(theirs.seed, theirs.bits, theirs.log2_buckets)
    }

    /// Every element of each bucket whose fingerprint differs from the digest's.
    fn delta_since(&self, digest: &OrdGSetDigest) -> OrdGSet<T> {
        let mine = self.bucket_fingerprints(digest.seed, digest.bits, digest.log2_buckets);
        let differs: Vec<bool> = mine.iter().zip(&digest.fingerprints).map(|(m, t)| m != t).collect();
        if !differs.contains(&true) {
            return OrdGSet::new();
        }
        let k = key(digest.seed);
        let set =
            self.set.iter().filter(|x| differs[bucket_of(x.stable_hash(k), digest.log2_buckets)]).cloned().collect();
        OrdGSet { set }
    }

    fn apply_delta(&mut self, delta: &OrdGSet<T>) -> bool {
        self.join(delta)
    }

    fn delta_is_empty(delta: &OrdGSet<T>) -> bool {
        delta.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_size_is_bounded_whatever_the_set_size() {
        let small: OrdGSet<u64> = (0..10).collect();
        assert_eq!(small.digest().fingerprints().len(), 1);
        let mid: OrdGSet<u64> = (0..1000).collect();
        assert_eq!(mid.digest().fingerprints().len(), 32);
        let big: OrdGSet<u64> = (0..1_000_000).collect();
        assert_eq!(big.digest().fingerprints().len(), 4096);
    }

    #[test]
    fn delta_since_sends_only_the_differing_bucket() {
        let a: OrdGSet<u64> = (0..1000).collect();
        let mut b = a.clone();
        b.set.remove(&500);
        let delta = a.delta_since(&b.digest_seeded(1));
        assert!(delta.contains(&500));
        assert!(delta.len() < 100, "{}", delta.len());
        assert!(a.delta_since(&a.digest_seeded(1)).is_empty());
    }

    #[test]
    fn digest_decoding_rejects_inconsistent_bucket_counts() {
        let bad = r#"{"seed":0,"bits":64,"log2_buckets":1,"fingerprints":[1]}"#;
        assert!(serde_json::from_str::<OrdGSetDigest>(bad).is_err());
        let huge = r#"{"seed":0,"bits":64,"log2_buckets":40,"fingerprints":[]}"#;
        assert!(serde_json::from_str::<OrdGSetDigest>(huge).is_err());
    }
}
