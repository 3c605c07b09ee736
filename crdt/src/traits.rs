//! The two traits every osmosis CRDT implements: [`Lattice`] (state join) and [`DeltaCrdt`] (digest / delta
//! anti-entropy). The anti-entropy engine is generic over [`DeltaCrdt`] and needs nothing else.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A join-semilattice: a state that can absorb another state of the same type.
///
/// # Contract (implementors must)
/// - make `join` the least upper bound: commutative (`a ⊔ b == b ⊔ a`), associative and idempotent
///   (`a ⊔ a == a`), with `Default::default()` as the bottom element;
/// - return `true` exactly when `self` changed (was not already `⊒ other`);
/// - borrow `other`: never clone the whole of `other` when only part of it is new;
/// - keep `validate()`-checked invariants on both sides of the call.
///
/// Implementors must not make `join` fail or panic on any value that passed deserialization.
pub trait Lattice {
    /// Joins `other` into `self` (`self := self ⊔ other`); returns whether `self` changed.
    fn join(&mut self, other: &Self) -> bool;
}

/// A delta-state CRDT with a compact digest, the interface of push-pull anti-entropy.
///
/// A round between a *digest owner* `b` and a *responder* `a`: `b` sends `b.digest_seeded(seed)`, `a` answers
/// `a.delta_since(&digest)`, `b` calls `apply_delta`. Afterwards `b ⊒ a`.
///
/// # Contract (implementors must)
/// - every mutator (`insert`, `increment`, …) returns the delta it produced, such that applying that delta to any
///   replica has the effect of the mutation there; a mutation that changed nothing returns an empty delta;
/// - `delta_since(&b.digest_seeded(s))`, applied to `b`, makes `b` equal to `b ⊔ self`: it carries at least
///   everything `b` lacks. It is *exact* (carries only what `b` lacks) for types whose digest is exact (the
///   counters); types with hashed digests (the sets) may resend what `b` already holds, in whole chunks or buckets,
///   and each type documents that granularity. It is empty when `self ⊑ b` for exact digests and when `self == b`
///   for all types (barring a fingerprint collision, see below);
/// - `apply_delta` is a join with the delta's content: commutative, idempotent, safe in any order and any number
///   of times; it returns whether `self` changed;
/// - digests and deltas are plain data (`serde`), and decoding checks invariants: a value from a peer is untrusted.
///
/// # Seeds and collisions
/// Hashed digests are keyed by `seed`, which travels inside the digest. A fingerprint collision can hide a
/// difference for one round only: the engine must use a fresh seed for each round (for example from a seeded RNG
/// or a round counter), so that the next round's fingerprints are computed independently. [`DeltaCrdt::digest`]
/// uses seed 0 and is meant for tests and one-shot comparisons. Types with exact digests ignore the seed.
pub trait DeltaCrdt: Lattice {
    /// A compact summary of a replica's state (see each type for its format and size).
    type Digest: Serialize + DeserializeOwned + Clone + Debug + PartialEq;
    /// What a replica sends to bring a digest's owner up to date. For every osmosis type it is a state of the
    /// same type (delta-state CRDTs: deltas are states, joined like any other).
    type Delta: Serialize + DeserializeOwned + Clone + Debug + PartialEq;

    /// The digest of this replica, keyed by `seed` (ignored by exact digests).
    fn digest_seeded(&self, seed: u64) -> Self::Digest;

    /// The digest with seed 0: fine for tests, but an engine must rotate seeds (see the trait docs).
    fn digest(&self) -> Self::Digest {
        self.digest_seeded(0)
    }

    /// This replica's digest computed with the same parameters (seed, granularity) as `theirs`, so that
    /// `self.digest_matching(&theirs) == theirs` says whether the two replicas agree (exactly for counters; up to a
    /// fingerprint collision for sets). A receiver of a digest uses it to stay silent when nothing differs.
    fn digest_matching(&self, theirs: &Self::Digest) -> Self::Digest;

    /// What the owner of `digest` lacks, according to the digest (see the trait contract for its precision).
    fn delta_since(&self, digest: &Self::Digest) -> Self::Delta;

    /// Joins a delta into this replica; returns whether this replica changed.
    fn apply_delta(&mut self, delta: &Self::Delta) -> bool;

    /// Whether a delta carries nothing (applying it can change no replica).
    fn delta_is_empty(delta: &Self::Delta) -> bool;
}
