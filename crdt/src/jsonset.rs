//! [`JsonSet`]: a grow-only set of arbitrary JSON values (Maelstrom's broadcast and g-set workloads), as the
//! product of a roaring [`GSet`] for non-negative integers (the fast path) and an [`OrdGSet`] of
//! [`CanonicalJson`] for every other value.
//!
//! Identity of values is that of their canonical text: objects with keys sorted, no whitespace, numbers as
//! serde_json prints them. So `{"b":1,"a":2}` and `{"a":2,"b":1}` are one element, while `1` and `1.0` are two
//! (as in Clojure, where `(= 1 1.0)` is false). An integer in `0..=u64::MAX` is always stored on the fast path.
//!
//! Reading back ([`JsonSet::iter`]) yields the integers ascending, then the other values in ascending order of
//! their canonical text: a deterministic order.
//!
//! Digest: the pair of the halves' digests, so its size is that of a [`crate::GSetDigest`] plus at most 4096
//! fingerprints. Delta: a `JsonSet`. Encoding: `{"ints": <GSet encoding>, "other": [values…]}`; decoding routes
//! every value through [`JsonSet::insert`], so a peer cannot put an integer on the slow path.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::coding::{CodedPrefix, LazyPrefix, Space, record_key};
use crate::fingerprint::{StableHash, hash_bytes};
use crate::gset::{GSet, GSetDigest};
use crate::ordgset::{OrdGSet, OrdGSetDigest};
use crate::traits::{DeltaCrdt, Lattice};

/// A JSON value in canonical text form; ordered by that text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CanonicalJson(String);

impl CanonicalJson {
    /// The canonical form of `value`.
    pub fn new(value: &Value) -> Self {
        let mut out = String::new();
        write_canonical(value, &mut out);
        CanonicalJson(out)
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value, parsed back.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).expect("canonical JSON text always parses")
    }
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).expect("a string always serializes"));
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).expect("a scalar always serializes")),
    }
}

impl fmt::Debug for CanonicalJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StableHash for CanonicalJson {
    fn stable_hash(&self, key: u64) -> u64 {
        hash_bytes(self.0.as_bytes(), key)
    }
}

impl Serialize for CanonicalJson {
    /// As the JSON value itself (not as a string holding JSON).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CanonicalJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(|v| CanonicalJson::new(&v))
    }
}

/// A grow-only set of JSON values: integers on roaring, everything else ordered by canonical text.
///
/// ```
/// use osmosis_crdt::{DeltaCrdt, JsonSet, Lattice};
/// use serde_json::json;
///
/// let (mut a, mut b) = (JsonSet::new(), JsonSet::new());
/// let delta = a.insert(&json!(3));
/// a.insert(&json!({"k": [1, 2]}));
/// b.insert(&json!("three"));
/// b.apply_delta(&delta);
/// b.apply_delta(&a.delta_since(&b.digest_seeded(1)));
/// a.apply_delta(&b.delta_since(&a.digest_seeded(2)));
/// assert_eq!(a, b);
/// assert_eq!(a.to_values(), vec![json!(3), json!("three"), json!({"k": [1, 2]})]);
/// assert!(!a.join(&b));
/// ```
///
/// A replica that takes part in [`crate::Reconcile`] rounds keeps one coded prefix for both halves (integers as
/// integer keys, other values as the hashed keys of their canonical text), updated by every insert and join.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(try_from = "JsonSetWire")]
pub struct JsonSet {
    ints: GSet,
    other: OrdGSet<CanonicalJson>,
    prefix: LazyPrefix,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonSetWire {
    ints: GSet,
    other: Vec<CanonicalJson>,
}

impl Serialize for JsonSet {
    /// As `{"ints": …, "other": […]}`, borrowing both halves (serde's `into` would copy the whole set first).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            ints: &'a GSet,
            other: Vec<&'a CanonicalJson>,
        }
        Wire { ints: &self.ints, other: self.other.iter().collect() }.serialize(serializer)
    }
}

impl TryFrom<JsonSetWire> for JsonSet {
    type Error = String;
    fn try_from(w: JsonSetWire) -> Result<Self, String> {
        let mut s = JsonSet { ints: w.ints, ..JsonSet::default() };
        for c in w.other {
            s.insert_canonical(c);
        }
        Ok(s)
    }
}

/// The hashed key of a non-integer value (its record is its canonical text).
pub(crate) fn value_key(c: &CanonicalJson) -> u64 {
    record_key(c.as_str().as_bytes())
}

/// The digest of a [`JsonSet`]: the digests of both halves. Decoding checks both (see their `validate`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSetDigest {
    /// The digest of the integers.
    pub ints: GSetDigest,
    /// The digest of the other values.
    pub other: OrdGSetDigest,
}

impl JsonSetDigest {
    /// Checks both halves' invariants.
    #[doc(hidden)]
    pub fn validate(&self) -> Result<(), String> {
        self.ints.validate()?;
        self.other.validate()
    }
}

impl JsonSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `value`; returns the delta (`{value}` if it was new, empty otherwise).
    pub fn insert(&mut self, value: &Value) -> JsonSet {
        match value.as_u64() {
            Some(x) => self.insert_int(x),
            None => self.insert_canonical(CanonicalJson::new(value)),
        }
    }

    /// The set holding the integers of `ints` and the values of `other`; an integer found among `other` moves to
    /// the fast path, as decoding does. The inverse of [`JsonSet::ints`] and [`JsonSet::other`], for callers that
    /// split or rebuild a set (e.g. to cut a delta to a message budget).
    pub fn from_parts(ints: GSet, other: OrdGSet<CanonicalJson>) -> JsonSet {
        let mut s = JsonSet::from_halves(ints, OrdGSet::new());
        for c in other.iter() {
            s.insert_canonical(c.clone());
        }
        s
    }

    fn insert_int(&mut self, x: u64) -> JsonSet {
        let ints = self.ints.insert(x);
        if !ints.is_empty()
            && let Some(p) = self.prefix.get_mut()
        {
            p.add(Space::Int, x);
        }
        JsonSet { ints, ..JsonSet::default() }
    }

    pub(crate) fn insert_canonical(&mut self, c: CanonicalJson) -> JsonSet {
        if let Ok(x) = c.0.parse::<u64>() {
            return self.insert_int(x);
        }
        let other = self.other.insert(c);
        if let (Some(p), Some(c)) = (self.prefix.get_mut(), other.iter().next()) {
            p.add(Space::Hashed, value_key(c));
        }
        JsonSet { other, ..JsonSet::default() }
    }

    /// The set with these halves (both valid: integers only in `ints`; also for [`crate::Split`]).
    pub(crate) fn from_halves(ints: GSet, other: OrdGSet<CanonicalJson>) -> JsonSet {
        JsonSet { ints, other, prefix: LazyPrefix::default() }
    }

    /// The coded prefix of both halves, built on first use.
    pub(crate) fn prefix(&self) -> &CodedPrefix {
        self.prefix.get_or_build(|| self.coded_keys())
    }

    /// Every key this set codes: its integers, then the hashed keys of its other values.
    pub(crate) fn coded_keys(&self) -> impl Iterator<Item = (Space, u64)> + '_ {
        let ints = self.ints.iter().map(|x| (Space::Int, x));
        ints.chain(self.other.iter().map(|c| (Space::Hashed, value_key(c))))
    }

    /// Whether `value` is in the set.
    pub fn contains(&self, value: &Value) -> bool {
        match value.as_u64() {
            Some(x) => self.ints.contains(x),
            None => self.other.contains(&CanonicalJson::new(value)),
        }
    }

    /// The number of elements.
    pub fn len(&self) -> u64 {
        self.ints.len() + self.other.len() as u64
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ints.is_empty() && self.other.is_empty()
    }

    /// The values: integers ascending, then the others by canonical text.
    pub fn iter(&self) -> impl Iterator<Item = Value> + '_ {
        self.ints.iter().map(Value::from).chain(self.other.iter().map(CanonicalJson::to_value))
    }

    /// All values, in [`JsonSet::iter`] order.
    pub fn to_values(&self) -> Vec<Value> {
        self.iter().collect()
    }

    /// The integer half.
    pub fn ints(&self) -> &GSet {
        &self.ints
    }

    /// The half holding every other value.
    pub fn other(&self) -> &OrdGSet<CanonicalJson> {
        &self.other
    }

    /// Both halves, taken apart without copying (for [`crate::Split`]).
    pub(crate) fn into_halves(self) -> (GSet, OrdGSet<CanonicalJson>) {
        (self.ints, self.other)
    }

    /// Checks: both halves valid; every other value canonical and not an unsigned integer.
    #[doc(hidden)]
    pub fn validate(&self) -> Result<(), String> {
        self.ints.validate()?;
        self.other.validate()?;
        for c in self.other.iter() {
            if CanonicalJson::new(&c.to_value()) != *c {
                return Err(format!("jsonset: {c:?} is not canonical"));
            }
            if c.to_value().is_u64() {
                return Err(format!("jsonset: integer {c:?} stored off the fast path"));
            }
        }
        if let Some(p) = self.prefix.get()
            && *p != CodedPrefix::from_keys(self.coded_keys())
        {
            return Err("jsonset: the coded prefix does not match the elements".into());
        }
        Ok(())
    }
}

impl Lattice for JsonSet {
    fn join(&mut self, other: &Self) -> bool {
        let ints = match self.prefix.get_mut() {
            Some(p) => self.ints.join_reporting(&other.ints, Some(&mut |x| p.add(Space::Int, x))),
            None => self.ints.join(&other.ints),
        };
        let mut rest = false;
        for c in other.other.iter() {
            if !self.other.contains(c) {
                rest = true;
                self.other.insert(c.clone());
                if let Some(p) = self.prefix.get_mut() {
                    p.add(Space::Hashed, value_key(c));
                }
            }
        }
        ints || rest
    }
}

impl DeltaCrdt for JsonSet {
    type Digest = JsonSetDigest;
    type Delta = JsonSet;

    fn digest_seeded(&self, seed: u64) -> JsonSetDigest {
        JsonSetDigest { ints: self.ints.digest_seeded(seed), other: self.other.digest_seeded(seed) }
    }

    fn digest_matching(&self, theirs: &JsonSetDigest) -> JsonSetDigest {
        JsonSetDigest {
            ints: self.ints.digest_matching(&theirs.ints),
            other: self.other.digest_matching(&theirs.other),
        }
    }

    /// Each half's delta (chunk granularity for integers, bucket granularity for the rest).
    fn delta_since(&self, digest: &JsonSetDigest) -> JsonSet {
        JsonSet::from_halves(self.ints.delta_since(&digest.ints), self.other.delta_since(&digest.other))
    }

    fn apply_delta(&mut self, delta: &JsonSet) -> bool {
        self.join(delta)
    }

    fn delta_is_empty(delta: &JsonSet) -> bool {
        delta.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_are_one_element_whatever_their_key_order() {
        let mut s = JsonSet::new();
        s.insert(&serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":[3,{"q":1,"p":0}]}}"#).unwrap());
        let delta = s.insert(&serde_json::from_str(r#"{"a":{"x":[3,{"p":0,"q":1}],"y":2},"b":1}"#).unwrap());
        assert!(delta.is_empty());
        assert_eq!(s.other().iter().next().unwrap().as_str(), r#"{"a":{"x":[3,{"p":0,"q":1}],"y":2},"b":1}"#);
    }

    #[test]
    fn integers_take_the_fast_path_and_floats_do_not() {
        let mut s = JsonSet::new();
        s.insert(&json!(7));
        s.insert(&json!(7.0));
        s.insert(&json!(-7));
        assert_eq!(s.ints().len(), 1);
        assert_eq!(s.other().len(), 2);
        assert!(s.contains(&json!(7.0)) && s.contains(&json!(-7)) && !s.contains(&json!(8)));
    }

    #[test]
    fn decoding_moves_integers_sent_as_other_values_to_the_fast_path() {
        let s: JsonSet = serde_json::from_str(r#"{"ints":[1],"other":[2,"x",{"b":0,"a":1}]}"#).unwrap();
        assert_eq!(s.ints().len(), 2);
        s.validate().unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"ints":[1,2],"other":["x",{"a":1,"b":0}]}"#);
    }
}
