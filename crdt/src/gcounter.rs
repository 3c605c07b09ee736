//! [`GCounter`]: a grow-only counter, one `u64` entry per replica.
//!
//! Join is the per-entry maximum; a mutator's delta is the entry it changed; the digest is the version vector,
//! i.e. the counter itself, so [`GCounter::delta_since`] is exact: exactly the entries that are higher here.
//! Invariant: no entry is zero (an absent entry means zero), so equal counters are structurally equal.

use std::collections::BTreeMap;
use std::fmt::{self, Debug};
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::coding::{CodedPrefix, LazyPrefix, Space, record_key};
use crate::error::CounterOverflow;
use crate::traits::{DeltaCrdt, Lattice};

/// What a replica id must offer: ordered (entries are kept and encoded in order), cloneable, encodable.
/// Maelstrom node ids are strings (`"n1"`), the default.
pub trait ReplicaId: Ord + Clone + Debug + Serialize + DeserializeOwned {}
impl<T: Ord + Clone + Debug + Serialize + DeserializeOwned> ReplicaId for T {}

/// A grow-only counter. Encoded as a map from replica id to its (non-zero) count: `{"n1":3,"n2":1}`.
///
/// ```
/// use osmosis_crdt::{DeltaCrdt, GCounter, Lattice};
///
/// let (mut a, mut b) = (GCounter::new(), GCounter::new());
/// let delta = a.increment("n1".to_string(), 3).unwrap();
/// b.increment("n2".to_string(), 4).unwrap();
/// b.apply_delta(&delta);
/// a.apply_delta(&b.delta_since(&a.digest()));
/// assert_eq!((a.read(), b.read()), (7, 7));
/// assert!(!a.join(&b));
/// ```
///
/// Decoding (a peer's counter, digest or delta is untrusted) rejects zero entries and repeated replica ids, and
/// reserves no space from a length field.
///
/// A replica that takes part in [`crate::Reconcile`] rounds also keeps a coded prefix of its entries (each
/// `(replica, count)` pair is one hashed key, see `entry_record`), updated by every increment and join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GCounter<K: ReplicaId = String> {
    entries: BTreeMap<K, u64>,
    prefix: LazyPrefix,
}

impl<K: ReplicaId> Default for GCounter<K> {
    fn default() -> Self {
        GCounter { entries: BTreeMap::new(), prefix: LazyPrefix::default() }
    }
}

impl<K: ReplicaId> Serialize for GCounter<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(&self.entries)
    }
}

/// The wire record of a counter entry, which its hashed key stands for: an optional half byte (a
/// [`crate::PNCounter`]'s increments 0, decrements 1), `varint(count)`, then the replica id as JSON text.
pub(crate) fn entry_record<K: ReplicaId>(half: Option<u8>, replica: &K, count: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend(half);
    crate::wire::put_varint(&mut out, count);
    serde_json::to_writer(&mut out, replica).expect("a replica id serializes (the counter's own encoding needs it)");
    out
}

/// Moves an entry's key in a coded prefix from `old` (0: absent) to `new`.
pub(crate) fn move_entry<K: ReplicaId>(p: &mut CodedPrefix, half: Option<u8>, replica: &K, old: u64, new: u64) {
    if old > 0 {
        p.remove(Space::Hashed, record_key(&entry_record(half, replica, old)));
    }
    p.add(Space::Hashed, record_key(&entry_record(half, replica, new)));
}

struct GCounterVisitor<K>(PhantomData<K>);

impl<'de, K: ReplicaId> Visitor<'de> for GCounterVisitor<K> {
    type Value = GCounter<K>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map from replica id to a positive 64-bit count")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GCounter<K>, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some((k, v)) = map.next_entry::<K, u64>()? {
            if v == 0 {
                return Err(de::Error::custom(format!("gcounter: zero entry for replica {k:?}")));
            }
            if let Some(old) = entries.insert(k, v) {
                return Err(de::Error::custom(format!("gcounter: replica listed twice (earlier count {old})")));
            }
        }
        Ok(GCounter { entries, prefix: LazyPrefix::default() })
    }
}

impl<'de, K: ReplicaId> Deserialize<'de> for GCounter<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(GCounterVisitor(PhantomData))
    }
}

impl<K: ReplicaId> TryFrom<BTreeMap<K, u64>> for GCounter<K> {
    type Error = String;
    fn try_from(entries: BTreeMap<K, u64>) -> Result<Self, String> {
        let c = GCounter { entries, prefix: LazyPrefix::default() };
        c.validate()?;
        Ok(c)
    }
}

impl<K: ReplicaId> From<GCounter<K>> for BTreeMap<K, u64> {
    fn from(c: GCounter<K>) -> Self {
        c.entries
    }
}

impl<K: ReplicaId> GCounter<K> {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `by` to `replica`'s entry; returns the delta (that entry alone, or an empty delta when `by == 0`).
    ///
    /// The delta carries the entry's new *absolute* value, not the amount added: it has the effect of this
    /// increment only on replicas that held this counter's entry before it. Joining the delta of a fresh counter
    /// (`GCounter::new().increment(r, 1)`) into a replica where `r` already counted 5 changes nothing. Mutate the
    /// replica itself and ship the delta it returns: `osmosis_antientropy::Engine::try_update` does exactly that.
    ///
    /// # Errors
    /// [`CounterOverflow`] if the entry would exceed `u64::MAX`; the counter is then unchanged.
    pub fn increment(&mut self, replica: K, by: u64) -> Result<GCounter<K>, CounterOverflow> {
        if by == 0 {
            return Ok(GCounter::new());
        }
        let current = self.get(&replica);
        let next = current.checked_add(by).ok_or(CounterOverflow { current, add: by })?;
        if let Some(p) = self.prefix.get_mut() {
            move_entry(p, None, &replica, current, next);
        }
        self.entries.insert(replica.clone(), next);
        Ok(GCounter::of_entries(BTreeMap::from([(replica, next)])))
    }

    /// A counter of these (non-zero) entries.
    pub(crate) fn of_entries(entries: BTreeMap<K, u64>) -> GCounter<K> {
        GCounter { entries, prefix: LazyPrefix::default() }
    }

    /// The coded prefix of the entries' keys, built on first use.
    pub(crate) fn prefix(&self) -> &CodedPrefix {
        self.prefix.get_or_build(|| self.coded_keys(None))
    }

    /// The hashed key of every entry, its record tagged with `half`.
    pub(crate) fn coded_keys(&self, half: Option<u8>) -> impl Iterator<Item = (Space, u64)> + '_ {
        self.entries.iter().map(move |(k, &v)| (Space::Hashed, record_key(&entry_record(half, k, v))))
    }

    /// [`Lattice::join`], calling `on_change(replica, old, new)` for every entry it raised (old 0: new entry).
    pub(crate) fn join_reporting(&mut self, other: &Self, mut on_change: impl FnMut(&K, u64, u64)) -> bool {
        let mut changed = false;
        for (k, &v) in &other.entries {
            let old = self.get(k);
            if old >= v {
                continue;
            }
            on_change(k, old, v);
            if let Some(p) = self.prefix.get_mut() {
                move_entry(p, None, k, old, v);
            }
            match self.entries.get_mut(k) {
                Some(mine) => *mine = v,
                None => {
                    self.entries.insert(k.clone(), v);
                }
            }
            changed = true;
        }
        changed
    }

    /// The exact total. A `u128` cannot overflow: it would take 2^64 replicas at `u64::MAX`.
    pub fn read(&self) -> u128 {
        self.entries.values().map(|&v| u128::from(v)).sum()
    }

    /// `replica`'s entry (zero when absent).
    pub fn get(&self, replica: &K) -> u64 {
        self.entries.get(replica).copied().unwrap_or(0)
    }

    /// The entries (the version vector), ascending by replica.
    pub fn entries(&self) -> &BTreeMap<K, u64> {
        &self.entries
    }

    /// Whether every entry is zero.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks the invariants: no stored entry is zero; a coded prefix matches the entries.
    #[doc(hidden)]
    pub fn validate(&self) -> Result<(), String> {
        if let Some((k, _)) = self.entries.iter().find(|(_, v)| **v == 0) {
            return Err(format!("gcounter: zero entry stored for replica {k:?}"));
        }
        if let Some(p) = self.prefix.get()
            && *p != CodedPrefix::from_keys(self.coded_keys(None))
        {
            return Err("gcounter: the coded prefix does not match the entries".into());
        }
        Ok(())
    }
}

impl<K: ReplicaId> Lattice for GCounter<K> {
    /// Per-entry maximum; clones only the replica ids that are new here.
    fn join(&mut self, other: &Self) -> bool {
        self.join_reporting(other, |_, _, _| {})
    }
}

impl<K: ReplicaId> DeltaCrdt for GCounter<K> {
    /// The version vector itself.
    type Digest = GCounter<K>;
    type Delta = GCounter<K>;

    fn digest_seeded(&self, _seed: u64) -> GCounter<K> {
        GCounter::of_entries(self.entries.clone())
    }

    fn digest_matching(&self, _theirs: &GCounter<K>) -> GCounter<K> {
        GCounter::of_entries(self.entries.clone())
    }

    /// Exactly the entries higher here than in the digest.
    fn delta_since(&self, digest: &GCounter<K>) -> GCounter<K> {
        let entries = self.entries.iter().filter(|(k, v)| **v > digest.get(k)).map(|(k, v)| (k.clone(), *v)).collect();
        GCounter::of_entries(entries)
    }

    fn apply_delta(&mut self, delta: &GCounter<K>) -> bool {
        self.join(delta)
    }

    fn delta_is_empty(delta: &GCounter<K>) -> bool {
        delta.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflowing_increment_is_an_error_and_leaves_the_counter_unchanged() {
        let mut c = GCounter::<String>::new();
        c.increment("n1".into(), u64::MAX).unwrap();
        let before = c.clone();
        assert_eq!(c.increment("n1".into(), 1), Err(CounterOverflow { current: u64::MAX, add: 1 }));
        assert_eq!(c, before);
    }

    #[test]
    fn read_sums_entries_beyond_u64() {
        let mut c = GCounter::<String>::new();
        c.increment("a".into(), u64::MAX).unwrap();
        c.increment("b".into(), u64::MAX).unwrap();
        assert_eq!(c.read(), 2 * u128::from(u64::MAX));
    }

    #[test]
    fn delta_since_is_exactly_the_higher_entries() {
        let a: GCounter<u8> = serde_json::from_str(r#"{"1":5,"2":1,"3":2}"#).unwrap();
        let b: GCounter<u8> = serde_json::from_str(r#"{"1":5,"2":4}"#).unwrap();
        assert_eq!(serde_json::to_string(&a.delta_since(&b.digest())).unwrap(), r#"{"3":2}"#);
        assert!(b.delta_since(&a.digest()).entries().keys().eq([&2]));
    }

    #[test]
    fn zero_entries_are_rejected_when_decoding() {
        assert!(serde_json::from_str::<GCounter>(r#"{"n1":0}"#).is_err());
        assert!(serde_json::from_str::<GCounter>(r#"{"n1":-1}"#).is_err());
        assert!(serde_json::from_str::<GCounter>(r#"{"n1":1,"n1":2}"#).is_err(), "a replica listed twice");
        assert!(serde_json::from_str::<GCounter>(r#"[["n1",1]]"#).is_err());
    }
}
