//! [`PNCounter`]: a counter that goes up and down, as two [`GCounter`]s (increments `p`, decrements `n`).
//!
//! Join, delta and digest are those of the two halves, side by side. Mutators never wrap: an entry that would
//! pass `u64::MAX` is a [`CounterOverflow`] error and the counter is unchanged. [`PNCounter::read`] returns the
//! exact value as `i128` (it cannot overflow: each half is below 2^64 · replicas); [`PNCounter::read_i64`] is the
//! checked narrowing for protocols with 64-bit integers.

use serde::{Deserialize, Serialize};

use crate::coding::{CodedPrefix, LazyPrefix, Space};
use crate::error::{CounterOverflow, ReadOverflow};
use crate::gcounter::{GCounter, ReplicaId, move_entry};
use crate::traits::{DeltaCrdt, Lattice};

/// A positive-negative counter. Encoded as `{"p":{"n1":5},"n":{"n2":2}}`.
///
/// ```
/// use osmosis_crdt::{DeltaCrdt, Lattice, PNCounter};
///
/// let (mut a, mut b) = (PNCounter::new(), PNCounter::new());
/// let delta = a.add("n1".to_string(), 5).unwrap();
/// b.add("n2".to_string(), -7).unwrap();
/// b.apply_delta(&delta);
/// a.apply_delta(&b.delta_since(&a.digest()));
/// assert_eq!((a.read(), b.read()), (-2, -2));
/// assert_eq!(a.read_i64(), Ok(-2));
/// assert!(!b.join(&a));
/// ```
///
/// A replica that takes part in [`crate::Reconcile`] rounds keeps one coded prefix for both halves (each entry a
/// hashed key of its record, tagged with its half), updated by every mutation and join.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "K: ReplicaId", deny_unknown_fields)]
pub struct PNCounter<K: ReplicaId = String> {
    p: GCounter<K>,
    n: GCounter<K>,
    #[serde(skip)]
    prefix: LazyPrefix,
}

impl<K: ReplicaId> Default for PNCounter<K> {
    fn default() -> Self {
        PNCounter::of_halves(GCounter::new(), GCounter::new())
    }
}

/// The half byte of increments and decrements in entry records.
const P: u8 = 0;
const N: u8 = 1;

impl<K: ReplicaId> PNCounter<K> {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `by` (increments); returns the delta. Like [`GCounter::increment`]'s, the delta carries absolute
    /// entries: mutate the replica itself, not a fresh counter.
    ///
    /// # Errors
    /// [`CounterOverflow`] if `replica`'s increment entry would pass `u64::MAX`; the counter is then unchanged.
    pub fn increment(&mut self, replica: K, by: u64) -> Result<PNCounter<K>, CounterOverflow> {
        let old = self.p.get(&replica);
        let p = self.p.increment(replica, by)?;
        self.note(P, &p, old);
        Ok(PNCounter::of_halves(p, GCounter::new()))
    }

    /// Subtracts `by` (decrements); returns the delta.
    ///
    /// # Errors
    /// [`CounterOverflow`] if `replica`'s decrement entry would pass `u64::MAX`; the counter is then unchanged.
    pub fn decrement(&mut self, replica: K, by: u64) -> Result<PNCounter<K>, CounterOverflow> {
        let old = self.n.get(&replica);
        let n = self.n.increment(replica, by)?;
        self.note(N, &n, old);
        Ok(PNCounter::of_halves(GCounter::new(), n))
    }

    /// Moves the prefix key of the entry a mutation of `half` changed (`delta`: that entry, or nothing).
    fn note(&mut self, half: u8, delta: &GCounter<K>, old: u64) {
        if let Some(p) = self.prefix.get_mut() {
            for (k, &v) in delta.entries() {
                move_entry(p, Some(half), k, old, v);
            }
        }
    }

    /// The counter with these halves.
    pub(crate) fn of_halves(p: GCounter<K>, n: GCounter<K>) -> PNCounter<K> {
        PNCounter { p, n, prefix: LazyPrefix::default() }
    }

    /// The coded prefix of both halves' entries, built on first use.
    pub(crate) fn prefix(&self) -> &CodedPrefix {
        self.prefix.get_or_build(|| self.coded_keys())
    }

    /// Every entry's hashed key, increments first.
    pub(crate) fn coded_keys(&self) -> impl Iterator<Item = (Space, u64)> + '_ {
        self.p.coded_keys(Some(P)).chain(self.n.coded_keys(Some(N)))
    }

    /// Adds a signed amount (Maelstrom's `add` with a `delta`); returns the delta.
    ///
    /// # Errors
    /// [`CounterOverflow`] as for [`PNCounter::increment`] / [`PNCounter::decrement`]; the counter is unchanged.
    pub fn add(&mut self, replica: K, amount: i64) -> Result<PNCounter<K>, CounterOverflow> {
        if amount >= 0 {
            self.increment(replica, amount.unsigned_abs())
        } else {
            self.decrement(replica, amount.unsigned_abs())
        }
    }

    /// The exact value, increments minus decrements.
    pub fn read(&self) -> i128 {
        // Each half is a sum of u64 entries, one per replica: below 2^127 for any number of replicas that fits
        // in memory, so both conversions are lossless and the difference cannot overflow.
        let p = i128::try_from(self.p.read()).expect("fewer than 2^63 replicas");
        let n = i128::try_from(self.n.read()).expect("fewer than 2^63 replicas");
        p - n
    }

    /// The value as `i64`.
    ///
    /// # Errors
    /// [`ReadOverflow`] if the exact value does not fit in `i64`.
    pub fn read_i64(&self) -> Result<i64, ReadOverflow> {
        let value = self.read();
        i64::try_from(value).map_err(|_| ReadOverflow { value, target: "i64" })
    }

    /// The increments half.
    pub fn increments(&self) -> &GCounter<K> {
        &self.p
    }

    /// The decrements half.
    pub fn decrements(&self) -> &GCounter<K> {
        &self.n
    }

    /// Whether both halves are empty.
    pub fn is_empty(&self) -> bool {
        self.p.is_empty() && self.n.is_empty()
    }

    /// Checks both halves' invariants.
    #[doc(hidden)]
    pub fn validate(&self) -> Result<(), String> {
        self.p.validate()?;
        self.n.validate()?;
        if let Some(p) = self.prefix.get()
            && *p != CodedPrefix::from_keys(self.coded_keys())
        {
            return Err("pncounter: the coded prefix does not match the entries".into());
        }
        Ok(())
    }
}

impl<K: ReplicaId> Lattice for PNCounter<K> {
    fn join(&mut self, other: &Self) -> bool {
        let Some(prefix) = self.prefix.get_mut() else {
            let p = self.p.join(&other.p);
            let n = self.n.join(&other.n);
            return p || n;
        };
        let p = self.p.join_reporting(&other.p, |k, old, new| move_entry(prefix, Some(P), k, old, new));
        let n = self.n.join_reporting(&other.n, |k, old, new| move_entry(prefix, Some(N), k, old, new));
        p || n
    }
}

impl<K: ReplicaId> DeltaCrdt for PNCounter<K> {
    /// Both version vectors.
    type Digest = PNCounter<K>;
    type Delta = PNCounter<K>;

    fn digest_seeded(&self, seed: u64) -> PNCounter<K> {
        PNCounter::of_halves(self.p.digest_seeded(seed), self.n.digest_seeded(seed))
    }

    fn digest_matching(&self, theirs: &PNCounter<K>) -> PNCounter<K> {
        let _ = theirs;
        self.digest_seeded(0)
    }

    /// Exactly the entries higher here, in each half.
    fn delta_since(&self, digest: &PNCounter<K>) -> PNCounter<K> {
        PNCounter::of_halves(self.p.delta_since(&digest.p), self.n.delta_since(&digest.n))
    }

    fn apply_delta(&mut self, delta: &PNCounter<K>) -> bool {
        self.join(delta)
    }

    fn delta_is_empty(delta: &PNCounter<K>) -> bool {
        delta.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrement_overflow_is_an_error_and_leaves_the_counter_unchanged() {
        let mut c = PNCounter::<String>::new();
        c.add("n1".into(), i64::MIN).unwrap();
        c.decrement("n1".into(), u64::MAX - i64::MIN.unsigned_abs()).unwrap();
        let before = c.clone();
        assert!(c.add("n1".into(), -1).is_err());
        assert_eq!(c, before);
        assert_eq!(c.read(), -i128::from(u64::MAX));
    }

    #[test]
    fn read_i64_reports_values_out_of_range() {
        let mut c = PNCounter::<String>::new();
        c.increment("a".into(), u64::MAX).unwrap();
        assert_eq!(c.read_i64(), Err(ReadOverflow { value: i128::from(u64::MAX), target: "i64" }));
        c.add("b".into(), i64::MIN).unwrap();
        assert_eq!(c.read_i64(), Ok(i64::MAX));
    }

    #[test]
    fn encoding_is_two_maps() {
        let mut c = PNCounter::<String>::new();
        c.add("n1".into(), 5).unwrap();
        c.add("n2".into(), -2).unwrap();
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, r#"{"p":{"n1":5},"n":{"n2":2}}"#);
        assert_eq!(serde_json::from_str::<PNCounter>(&text).unwrap(), c);
    }
}
