//! Reconciliation of [`Objects`] by keys: one coded key per item of every object, so that a round costs what two
//! daemons' objects differ by, not their size ([`osmosis_crdt::Reconcile`], through crdt's keyed driver).
//!
//! Every item is a *record*, whose hashed key ([`record_key`]) goes into one coded prefix for the whole map:
//! - a set's integer: `b'i' · len(name) · name · the integer, 8 bytes little-endian`;
//! - a set's other value: `b'v' · len(name) · name · its canonical JSON text`;
//! - a counter entry: `b'p'` (increments) or `b'n'` (decrements) `· len(name) · name · count (8 bytes LE) ·
//!   the replica's name`.
//!
//! (`len(name)` is one byte: names have at most [`crate::objects::MAX_NAME_LEN`] bytes.) A counter entry that grows
//! is two differing keys, the old record and the new. So two agreeing daemons exchange one summary (at most 48
//! bytes), and a round where one set gained one value costs that value's record plus the cells that find it,
//! whatever else the daemons hold. The prefix is built on a replica's first round and then kept up to date by
//! every join (about 15 cell updates per new item); a decode walks every record once to tell the peer's keys
//! from ours.
//!
//! Records from a peer are untrusted: [`Keyed::parse`] refuses unknown kinds, bad names, values that are not JSON,
//! zero or truncated counts and replica names that are not UTF-8, and changes nothing when it refuses.

use std::collections::BTreeMap;

use osmosis_crdt::coding::{CodedPrefix, Space, record_key};
use osmosis_crdt::reconcile::KeySet;
use osmosis_crdt::repair::Keyed;
use osmosis_crdt::{GSet, JsonSet, Lattice, WireError};
use roaring::RoaringTreemap;

use crate::objects::{Counter, Objects, check_name, counter_news, set_news};

const INT: u8 = b'i';
const VALUE: u8 = b'v';
const UP: u8 = b'p';
const DOWN: u8 = b'n';

/// Writes the head of a record (its kind and object name) into `out`, cleared first.
fn head(out: &mut Vec<u8>, kind: u8, name: &str) {
    out.clear();
    out.push(kind);
    out.push(u8::try_from(name.len()).expect("object names are at most 128 bytes"));
    out.extend_from_slice(name.as_bytes());
}

/// Calls `f` with the record of every item of set `name`, through one reused buffer.
fn set_records(buf: &mut Vec<u8>, name: &str, set: &JsonSet, f: &mut impl FnMut(&[u8])) {
    for x in set.ints().iter() {
        head(buf, INT, name);
        buf.extend_from_slice(&x.to_le_bytes());
        f(buf);
    }
    for v in set.other().iter() {
        head(buf, VALUE, name);
        buf.extend_from_slice(v.as_str().as_bytes());
        f(buf);
    }
}

/// The record of one counter entry.
fn entry_record(buf: &mut Vec<u8>, name: &str, up: bool, replica: &str, count: u64) {
    head(buf, if up { UP } else { DOWN }, name);
    buf.extend_from_slice(&count.to_le_bytes());
    buf.extend_from_slice(replica.as_bytes());
}

/// Calls `f` with the record of every entry of counter `name`.
fn counter_records(buf: &mut Vec<u8>, name: &str, c: &Counter, f: &mut impl FnMut(&[u8])) {
    for (up, half) in [(true, c.increments()), (false, c.decrements())] {
        for (replica, &count) in half.entries() {
            entry_record(buf, name, up, replica, count);
            f(buf);
        }
    }
}

impl Objects {
    /// Calls `f` with the record of every item of every object.
    fn for_each_record(&self, mut f: impl FnMut(&[u8])) {
        let mut buf = Vec::with_capacity(64);
        for (name, set) in self.sets() {
            set_records(&mut buf, name, set, &mut f);
        }
        for (name, c) in self.counters() {
            counter_records(&mut buf, name, c, &mut f);
        }
    }

    /// Every item's key, ascending.
    fn sorted_keys(&self) -> Vec<u64> {
        let mut keys = Vec::new();
        self.for_each_record(|r| keys.push(record_key(r)));
        keys.sort_unstable();
        keys
    }

    /// The prefix of every item's key, built on first use.
    fn coded(&self) -> &CodedPrefix {
        self.prefix_cell().get_or_build(|| self.sorted_keys().into_iter().map(|k| (Space::Hashed, k)))
    }
}

/// Updates `prefix` for joining `delta` into `sets` and `counters` (before the join): adds the key of every new
/// item, and moves the key of every counter entry that grows.
pub(crate) fn code_join(
    prefix: &mut CodedPrefix,
    sets: &BTreeMap<String, JsonSet>,
    counters: &BTreeMap<String, Counter>,
    delta: &Objects,
) {
    let mut buf = Vec::with_capacity(64);
    for (name, part) in delta.sets() {
        let new = set_news(sets.get(name), part);
        set_records(&mut buf, name, &new, &mut |r| prefix.add(Space::Hashed, record_key(r)));
    }
    for (name, part) in delta.counters() {
        let mine = counters.get(name);
        for (up, half) in [(true, part.increments()), (false, part.decrements())] {
            for (replica, &count) in half.entries() {
                let old = mine.map_or(0, |c| if up { c.increments() } else { c.decrements() }.get(replica));
                if count <= old {
                    continue;
                }
                if old > 0 {
                    entry_record(&mut buf, name, up, replica, old);
                    prefix.remove(Space::Hashed, record_key(&buf));
                }
                entry_record(&mut buf, name, up, replica, count);
                prefix.add(Space::Hashed, record_key(&buf));
            }
        }
    }
}

fn bad(what: impl Into<String>) -> WireError {
    WireError(what.into())
}

/// What a part's records parse to, before it becomes [`Objects`]: each set's integers and other values, and the
/// largest count per counter, half and replica.
#[derive(Default)]
struct Parsed {
    ints: BTreeMap<String, RoaringTreemap>,
    values: BTreeMap<String, JsonSet>,
    entries: BTreeMap<(String, bool, String), u64>,
}

/// Parses one record into `into`.
fn parse_record(r: &[u8], into: &mut Parsed) -> Result<(), WireError> {
    let (&kind, rest) = r.split_first().ok_or_else(|| bad("an empty record"))?;
    let (&len, rest) = rest.split_first().ok_or_else(|| bad("a record without a name"))?;
    let (name, body) = rest.split_at_checked(usize::from(len)).ok_or_else(|| bad("a record's name is cut short"))?;
    let name = std::str::from_utf8(name).map_err(|_| bad("an object name that is not UTF-8"))?;
    check_name(name).map_err(bad)?;
    match kind {
        INT => {
            let x: [u8; 8] = body.try_into().map_err(|_| bad("a set integer that is not 8 bytes"))?;
            into.ints.entry(name.to_string()).or_default().insert(u64::from_le_bytes(x));
        }
        VALUE => {
            let v: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| bad(format!("a set value that is not JSON: {e}")))?;
            into.values.entry(name.to_string()).or_default().insert(&v);
        }
        UP | DOWN => {
            let (count, replica) = body.split_at_checked(8).ok_or_else(|| bad("a counter entry cut short"))?;
            let count = u64::from_le_bytes(count.try_into().expect("8 bytes"));
            if count == 0 {
                return Err(bad("a zero counter entry"));
            }
            let replica = std::str::from_utf8(replica).map_err(|_| bad("a replica name that is not UTF-8"))?;
            let e = into.entries.entry((name.to_string(), kind == UP, replica.to_string())).or_default();
            *e = (*e).max(count);
        }
        other => return Err(bad(format!("unknown record kind {other:#x}"))),
    }
    Ok(())
}

impl KeySet for Objects {
    fn prefix(&self) -> &CodedPrefix {
        self.coded()
    }

    fn keys(&self) -> Box<dyn Iterator<Item = (Space, u64)> + '_> {
        Box::new(self.sorted_keys().into_iter().map(|k| (Space::Hashed, k)))
    }

    fn membership(&self) -> Box<dyn Fn(Space, u64) -> bool + '_> {
        let keys = self.sorted_keys();
        Box::new(move |space, x| space == Space::Hashed && keys.binary_search(&x).is_ok())
    }

    fn state_bytes(&self) -> usize {
        let mut bytes = 1;
        self.for_each_record(|r| bytes += r.len() + 2);
        bytes
    }

    fn key_width(&self) -> usize {
        8
    }

    fn keys_are_items(&self) -> bool {
        false
    }
}

impl Keyed for Objects {
    fn records(&self) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        self.for_each_record(|r| out.push((record_key(r), r.to_vec())));
        out.sort_unstable();
        out
    }

    fn int_elements(&self) -> Option<&GSet> {
        None
    }

    fn parse(ints: &GSet, records: &[Vec<u8>]) -> Result<Objects, WireError> {
        if !ints.is_empty() {
            return Err(bad("integer keys for a map of objects (its items are records)"));
        }
        let mut parsed = Parsed::default();
        for r in records {
            parse_record(r, &mut parsed)?;
        }
        let mut sets = parsed.values;
        for (name, ints) in parsed.ints {
            let ints = JsonSet::from_parts(GSet::from_treemap(ints), Default::default());
            sets.entry(name).or_default().join(&ints);
        }
        let mut counters: BTreeMap<String, Counter> = BTreeMap::new();
        for ((name, up, replica), count) in parsed.entries {
            let c = counters.entry(name).or_default();
            // One entry per replica and half, into an empty one: cannot overflow.
            let r = if up { c.increment(replica, count) } else { c.decrement(replica, count) };
            debug_assert!(r.is_ok(), "one entry into an empty counter cannot overflow");
        }
        Objects::from_maps(sets, counters).map_err(bad)
    }

    fn absorb(&mut self, part: &Objects) -> Objects {
        let mut delta = Objects::new();
        for (name, set) in part.sets() {
            delta.join(&Objects::with_set(name, set_news(self.set(name), set)));
        }
        for (name, c) in part.counters() {
            delta.join(&Objects::with_counter(name, counter_news(self.counter(name), c)));
        }
        self.join(&delta);
        delta
    }

    fn lacking(&self, received: &Objects) -> (RoaringTreemap, Vec<Vec<u8>>) {
        let mut records = Vec::new();
        let mut buf = Vec::with_capacity(64);
        for (name, set) in self.sets() {
            let missing = set_news(received.set(name), set);
            set_records(&mut buf, name, &missing, &mut |r| records.push(r.to_vec()));
        }
        for (name, c) in self.counters() {
            let missing = counter_news(received.counter(name), c);
            counter_records(&mut buf, name, &missing, &mut |r| records.push(r.to_vec()));
        }
        (RoaringTreemap::new(), records)
    }
}

osmosis_crdt::reconcile_by_keys!(Objects);

#[cfg(test)]
#[path = "objects_keys_tests.rs"]
mod tests;
