//! [`GCounter`] and [`PNCounter`] reconciliation ([`crate::Reconcile`]): every entry `(replica, count)` is one
//! hashed key, the hash of its record ([`entry_record`]). An entry that grew is two differing keys (the old pair
//! on one side, the new on the other), so a round costs cells for twice the changed entries and their records:
//! bytes proportional to what changed, at any replica count. The summary is that of any key set (≤ 64 bytes).

use std::collections::BTreeMap;

use roaring::RoaringTreemap;

use crate::coding::{CodedPrefix, Space, record_key};
use crate::gcounter::{GCounter, ReplicaId, entry_record};
use crate::gset::GSet;
use crate::pncounter::PNCounter;
use crate::reconcile::KeySet;
use crate::repair::{Keyed, membership_of, reconcile_by_keys};
use crate::traits::Lattice;
use crate::wire::{Reader, WireError, err};

/// One entry read from a peer's record: `(half, replica, count)`; `halved` says whether a half byte leads.
fn read_entry<K: ReplicaId>(record: &[u8], halved: bool) -> Result<(u8, K, u64), WireError> {
    let mut r = Reader::new(record);
    let half = if halved { r.u8()? } else { 0 };
    if half > 1 {
        return Err(err(format!("counter half {half} is neither 0 (increments) nor 1 (decrements)")));
    }
    let count = r.varint()?;
    if count == 0 {
        return Err(err("a zero counter entry"));
    }
    let replica =
        serde_json::from_slice(r.rest()).map_err(|e| err(format!("a replica id that does not decode: {e}")))?;
    Ok((half, replica, count))
}

/// The records of `c`'s entries (tagged with `half`) with their keys.
fn keyed_records<K: ReplicaId>(c: &GCounter<K>, half: Option<u8>) -> impl Iterator<Item = (u64, Vec<u8>)> + '_ {
    c.entries().iter().map(move |(k, &v)| {
        let r = entry_record(half, k, v);
        (record_key(&r), r)
    })
}

/// Entries of `mine` above `theirs`'s, as records tagged with `half`.
fn records_above<K: ReplicaId>(mine: &GCounter<K>, theirs: &GCounter<K>, half: Option<u8>) -> Vec<Vec<u8>> {
    let above = mine.entries().iter().filter(|(k, v)| **v > theirs.get(k));
    above.map(|(k, &v)| entry_record(half, k, v)).collect()
}

/// The entries of `part` above `mine`'s.
fn news<K: ReplicaId>(mine: &GCounter<K>, part: &GCounter<K>) -> GCounter<K> {
    let new = part.entries().iter().filter(|(k, v)| mine.get(k) < **v).map(|(k, &v)| (k.clone(), v));
    GCounter::of_entries(new.collect())
}

/// Parses records into the entries of each half (the largest count per replica).
fn parse_halves<K: ReplicaId>(
    ints: &GSet,
    records: &[Vec<u8>],
    halved: bool,
) -> Result<[BTreeMap<K, u64>; 2], WireError> {
    if !ints.is_empty() {
        return Err(err("integer elements for a counter"));
    }
    let mut halves = [BTreeMap::new(), BTreeMap::new()];
    for r in records {
        let (half, k, v) = read_entry::<K>(r, halved)?;
        let e = halves[usize::from(half)].entry(k).or_insert(v);
        *e = (*e).max(v);
    }
    Ok(halves)
}

impl<K: ReplicaId> KeySet for GCounter<K> {
    fn prefix(&self) -> &CodedPrefix {
        GCounter::prefix(self)
    }

    fn keys(&self) -> Box<dyn Iterator<Item = (Space, u64)> + '_> {
        Box::new(self.coded_keys(None))
    }

    fn membership(&self) -> Box<dyn Fn(Space, u64) -> bool + '_> {
        membership_of(self)
    }

    fn key_width(&self) -> usize {
        8
    }

    fn keys_are_items(&self) -> bool {
        false
    }

    fn state_bytes(&self) -> usize {
        keyed_records(self, None).map(|(_, r)| r.len() + 1).sum()
    }
}

impl<K: ReplicaId> Keyed for GCounter<K> {
    fn records(&self) -> Vec<(u64, Vec<u8>)> {
        let mut out: Vec<_> = keyed_records(self, None).collect();
        out.sort_unstable();
        out
    }

    fn int_elements(&self) -> Option<&GSet> {
        None
    }

    fn parse(ints: &GSet, records: &[Vec<u8>]) -> Result<GCounter<K>, WireError> {
        let [p, _] = parse_halves(ints, records, false)?;
        Ok(GCounter::of_entries(p))
    }

    fn absorb(&mut self, delta: &GCounter<K>) -> GCounter<K> {
        let new = news(self, delta);
        self.join(&new);
        new
    }

    fn lacking(&self, received: &GCounter<K>) -> (RoaringTreemap, Vec<Vec<u8>>) {
        (RoaringTreemap::new(), records_above(self, received, None))
    }
}

impl<K: ReplicaId> KeySet for PNCounter<K> {
    fn prefix(&self) -> &CodedPrefix {
        PNCounter::prefix(self)
    }

    fn keys(&self) -> Box<dyn Iterator<Item = (Space, u64)> + '_> {
        Box::new(self.coded_keys())
    }

    fn membership(&self) -> Box<dyn Fn(Space, u64) -> bool + '_> {
        membership_of(self)
    }

    fn key_width(&self) -> usize {
        8
    }

    fn keys_are_items(&self) -> bool {
        false
    }

    fn state_bytes(&self) -> usize {
        let records = keyed_records(self.increments(), Some(0)).chain(keyed_records(self.decrements(), Some(1)));
        records.map(|(_, r)| r.len() + 1).sum()
    }
}

impl<K: ReplicaId> Keyed for PNCounter<K> {
    fn records(&self) -> Vec<(u64, Vec<u8>)> {
        let mut out: Vec<_> = keyed_records(self.increments(), Some(0)).collect();
        out.extend(keyed_records(self.decrements(), Some(1)));
        out.sort_unstable();
        out
    }

    fn int_elements(&self) -> Option<&GSet> {
        None
    }

    fn parse(ints: &GSet, records: &[Vec<u8>]) -> Result<PNCounter<K>, WireError> {
        let [p, n] = parse_halves(ints, records, true)?;
        Ok(PNCounter::of_halves(GCounter::of_entries(p), GCounter::of_entries(n)))
    }

    fn absorb(&mut self, delta: &PNCounter<K>) -> PNCounter<K> {
        let p = news(self.increments(), delta.increments());
        let new = PNCounter::of_halves(p, news(self.decrements(), delta.decrements()));
        self.join(&new);
        new
    }

    fn lacking(&self, received: &PNCounter<K>) -> (RoaringTreemap, Vec<Vec<u8>>) {
        let mut records = records_above(self.increments(), received.increments(), Some(0));
        records.extend(records_above(self.decrements(), received.decrements(), Some(1)));
        (RoaringTreemap::new(), records)
    }
}

reconcile_by_keys!(GCounter<K>, K: ReplicaId);
reconcile_by_keys!(PNCounter<K>, K: ReplicaId);
