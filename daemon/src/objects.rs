//! [`Objects`]: every named object of a daemon — grow-only sets of JSON values and PN-counters — as one delta-state
//! CRDT, so that one anti-entropy engine replicates them all.
//!
//! A map from names to lattices, joined name by name, is itself a lattice; its deltas are maps holding only the
//! objects (and, inside them, only the parts) that changed. Sets and counters live in two maps, so a name can be a
//! set and a counter at once without conflict, and no replica can change an object's kind.
//!
//! Rounds: [`osmosis_crdt::Reconcile`] by keys (`objects_keys`): every item of every object (a set's value, a
//! counter's entry) is one coded key of the whole map, so a round costs what two replicas' objects differ by — one
//! summary of at most 48 bytes when they agree, the cells and records of the differing items otherwise.
//!
//! Digest ([`DeltaCrdt`], which rounds no longer use): one digest per object, all computed with the round's seed ([`ObjectsDigest`]); a receiver treats an
//! object missing from a digest as empty, so `delta_since` sends objects the digest's owner has never heard of
//! whole. Digests grow with the number of objects (a few dozen bytes each for small sets and counters), which is
//! why [`crate::config::Limits::max_objects`] caps them.
//!
//! Wire form (JSON): `{"sets": {"name": <JsonSet>}, "counters": {"name": <PNCounter>}}`; decoding refuses bad
//! names and unknown fields, and whatever decodes passes each object's own checks.

use std::collections::BTreeMap;

use osmosis_crdt::coding::LazyPrefix;
use osmosis_crdt::{
    CanonicalJson, DeltaCrdt, GCounter, GSet, JsonSet, JsonSetDigest, Lattice, OrdGSet, PNCounter, Split,
};
use serde::{Deserialize, Serialize};

/// The longest object name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Checks an object name: 1 to [`MAX_NAME_LEN`] bytes of ASCII letters, digits, `_`, `-`, `.` and `:`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("an object name has 1 to {MAX_NAME_LEN} bytes, this one {}", name.len()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))) {
        return Err(format!("object names use ASCII letters, digits and _ - . : only; found {c:?}"));
    }
    Ok(())
}

/// A PN-counter keyed by node name.
pub type Counter = PNCounter<String>;

/// Every named set and counter of a replica.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ObjectsWire")]
pub struct Objects {
    sets: BTreeMap<String, JsonSet>,
    counters: BTreeMap<String, Counter>,
    /// The coded keys of every item, for rounds ([`crate::objects_keys`]): built on the first round, then kept up
    /// to date by every join; derived data (never serialized, ignored by equality).
    #[serde(skip)]
    prefix: LazyPrefix,
    /// Told of every join that changes these objects ([`Objects::set_tap`]); not cloned, serialized or compared.
    #[serde(skip)]
    tap: Tap,
}

/// A function told of every delta that changes the replica (see [`Objects::set_tap`]). A clone has none: a copy of
/// the replica (a delta, a pending batch) is not the replica.
#[derive(Default)]
struct Tap(Option<std::sync::Arc<TapFn>>);

type TapFn = dyn Fn(&Objects) + Send + Sync;

impl Clone for Tap {
    fn clone(&self) -> Self {
        Tap(None)
    }
}

impl PartialEq for Tap {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Tap(set)" } else { "Tap(none)" })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectsWire {
    #[serde(default)]
    sets: BTreeMap<String, JsonSet>,
    #[serde(default)]
    counters: BTreeMap<String, Counter>,
}

impl TryFrom<ObjectsWire> for Objects {
    type Error = String;
    fn try_from(w: ObjectsWire) -> Result<Self, String> {
        Objects::from_maps(w.sets, w.counters)
    }
}

/// The digest of [`Objects`]: the round's seed and each object's digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectsDigest {
    /// The seed every set digest was computed with; a receiver uses it for the sets the digest does not list.
    pub seed: u64,
    /// Set name → its digest.
    #[serde(default)]
    pub sets: BTreeMap<String, JsonSetDigest>,
    /// Counter name → its digest (a counter's digest is its version vector).
    #[serde(default)]
    pub counters: BTreeMap<String, Counter>,
}

/// Sizes that caps are checked against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Sets plus counters.
    pub objects: u64,
    /// Elements over all sets.
    pub elements: u64,
    /// Replica entries over all counters (increments and decrements).
    pub counter_entries: u64,
}

impl Objects {
    /// No objects.
    pub fn new() -> Self {
        Self::default()
    }

    /// The delta holding one set.
    pub fn with_set(name: &str, set: JsonSet) -> Self {
        let mut o = Objects::new();
        if !set.is_empty() {
            o.sets.insert(name.to_string(), set);
        }
        o
    }

    /// The delta holding one counter.
    pub fn with_counter(name: &str, counter: Counter) -> Self {
        let mut o = Objects::new();
        if !counter.is_empty() {
            o.counters.insert(name.to_string(), counter);
        }
        o
    }

    /// The objects of these maps, after checking every name (for decoders: the wire form and snapshots).
    pub fn from_maps(sets: BTreeMap<String, JsonSet>, counters: BTreeMap<String, Counter>) -> Result<Self, String> {
        for name in sets.keys().chain(counters.keys()) {
            check_name(name)?;
        }
        // Empty objects carry nothing; dropping them keeps equal replicas structurally equal.
        let sets = sets.into_iter().filter(|(_, s)| !s.is_empty()).collect();
        let counters = counters.into_iter().filter(|(_, c)| !c.is_empty()).collect();
        Ok(Objects { sets, counters, prefix: LazyPrefix::default(), tap: Tap::default() })
    }

    /// Calls `tap` with every delta that changes these objects from now on, after joining it (under the same
    /// `&mut`, so in the order of the changes): joining the same deltas, in that order, into a copy of these
    /// objects keeps it equal to them. Every change goes through [`Lattice::join`] (`apply_delta` and a round's
    /// `absorb` call it), so none is missed. The snapshot's copy of the replica follows it this way
    /// ([`crate::mirror`]). A clone of these objects has no tap.
    pub fn set_tap(&mut self, tap: impl Fn(&Objects) + Send + Sync + 'static) {
        self.tap = Tap(Some(std::sync::Arc::new(tap)));
    }

    /// The coded prefix's slot ([`crate::objects_keys`]).
    pub(crate) fn prefix_cell(&self) -> &LazyPrefix {
        &self.prefix
    }

    /// These objects without their sets' integers, and the integers by set name.
    pub fn take_ints(self) -> (Objects, Vec<(String, Vec<u64>)>) {
        let mut ints = Vec::new();
        let mut sets = BTreeMap::new();
        for (name, set) in self.sets {
            if !set.other().is_empty() {
                sets.insert(name.clone(), JsonSet::from_parts(GSet::new(), set.other().clone()));
            }
            ints.push((name, set.ints().iter().collect()));
        }
        (Objects { sets, counters: self.counters, prefix: LazyPrefix::default(), tap: Tap::default() }, ints)
    }

    /// A set by name (`None`: never written, i.e. empty).
    pub fn set(&self, name: &str) -> Option<&JsonSet> {
        self.sets.get(name)
    }

    /// A counter by name (`None`: never written, i.e. zero).
    pub fn counter(&self, name: &str) -> Option<&Counter> {
        self.counters.get(name)
    }

    /// Every set, by name.
    pub fn sets(&self) -> &BTreeMap<String, JsonSet> {
        &self.sets
    }

    /// Every counter, by name.
    pub fn counters(&self) -> &BTreeMap<String, Counter> {
        &self.counters
    }

    /// Whether there is nothing at all.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty() && self.counters.is_empty()
    }

    /// Object count, elements and counter entries.
    pub fn sizes(&self) -> Sizes {
        Sizes {
            objects: (self.sets.len() + self.counters.len()) as u64,
            elements: self.sets.values().map(JsonSet::len).sum(),
            counter_entries: self.counters.values().map(counter_entries).sum(),
        }
    }

    /// The sizes this replica would have after joining `delta`, exactly, without joining. Exact rather than a
    /// sum, because a round's delta resends whole chunks the replica mostly holds.
    pub fn merged_sizes(&self, delta: &Objects) -> Sizes {
        self.grown_sizes(self.sizes(), delta)
    }

    /// [`Objects::merged_sizes`] given this replica's current sizes `base`: costs the delta's size (a few lookups
    /// per element) for small deltas, a union count of the touched sets for large ones — never a walk of every
    /// object, which a write to a large sparse set cannot afford.
    pub fn grown_sizes(&self, base: Sizes, delta: &Objects) -> Sizes {
        const SMALL: u64 = 4096;
        let mut s = base;
        for (name, d) in &delta.sets {
            let Some(mine) = self.sets.get(name) else {
                s.objects += 1;
                s.elements += d.len();
                continue;
            };
            let new_other = d.other().iter().filter(|v| !mine.other().contains(v)).count() as u64;
            let (m, t) = (mine.ints().as_treemap(), d.ints().as_treemap());
            let new_ints = if t.len() <= SMALL {
                t.iter().filter(|x| !m.contains(*x)).count() as u64
            } else {
                m.union_len(t) - m.len()
            };
            s.elements += new_ints + new_other;
        }
        for (name, d) in &delta.counters {
            match self.counters.get(name) {
                None => {
                    s.objects += 1;
                    s.counter_entries += counter_entries(d);
                }
                Some(mine) => {
                    let up = new_entries(mine.increments(), d.increments());
                    s.counter_entries += up + new_entries(mine.decrements(), d.decrements());
                }
            }
        }
        s
    }

    /// Two non-empty parts whose join is `self`, or `None` if `self` holds at most one element or entry.
    fn halves(&self) -> Option<(Objects, Objects)> {
        let n = self.sets.len() + self.counters.len();
        if n >= 2 {
            let mut a = Objects::new();
            let mut b = Objects::new();
            for (i, (name, set)) in self.sets.iter().enumerate() {
                let half = if i < n / 2 { &mut a } else { &mut b };
                half.sets.insert(name.clone(), set.clone());
            }
            let offset = self.sets.len();
            for (i, (name, c)) in self.counters.iter().enumerate() {
                let half = if offset + i < n / 2 { &mut a } else { &mut b };
                half.counters.insert(name.clone(), c.clone());
            }
            return Some((a, b));
        }
        if let Some((name, set)) = self.sets.iter().next() {
            let (x, y) = split_set(set)?;
            return Some((Objects::with_set(name, x), Objects::with_set(name, y)));
        }
        let (name, c) = self.counters.iter().next()?;
        let (x, y) = split_counter(c)?;
        Some((Objects::with_counter(name, x), Objects::with_counter(name, y)))
    }
}

fn counter_entries(c: &Counter) -> u64 {
    (c.increments().entries().len() + c.decrements().entries().len()) as u64
}

fn new_entries(mine: &GCounter<String>, theirs: &GCounter<String>) -> u64 {
    theirs.entries().keys().filter(|k| !mine.entries().contains_key(*k)).count() as u64
}

/// The length of `value`'s JSON encoding.
pub fn encoded_len<T: Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// Two non-empty halves of a set (integers split at their median, the other values by count).
fn split_set(set: &JsonSet) -> Option<(JsonSet, JsonSet)> {
    let ints = set.ints().as_treemap();
    let other: Vec<&CanonicalJson> = set.other().iter().collect();
    if !ints.is_empty() && !other.is_empty() {
        let a = JsonSet::from_parts(set.ints().clone(), OrdGSet::new());
        let b = JsonSet::from_parts(GSet::new(), set.other().clone());
        return Some((a, b));
    }
    if ints.len() >= 2 {
        let median = ints.select(ints.len() / 2)?;
        let (mut low, mut high) = (ints.clone(), ints.clone());
        low.remove_range(median..);
        high.remove_range(..median);
        let a = JsonSet::from_parts(GSet::from_treemap(low), OrdGSet::new());
        let b = JsonSet::from_parts(GSet::from_treemap(high), OrdGSet::new());
        return Some((a, b));
    }
    if other.len() >= 2 {
        let half = other.len() / 2;
        let a: OrdGSet<CanonicalJson> = other[..half].iter().map(|c| (*c).clone()).collect();
        let b: OrdGSet<CanonicalJson> = other[half..].iter().map(|c| (*c).clone()).collect();
        return Some((JsonSet::from_parts(GSet::new(), a), JsonSet::from_parts(GSet::new(), b)));
    }
    None
}

/// Two non-empty halves of a counter's entries.
fn split_counter(c: &Counter) -> Option<(Counter, Counter)> {
    let mut entries: Vec<(bool, &String, u64)> = Vec::new();
    entries.extend(c.increments().entries().iter().map(|(k, v)| (true, k, *v)));
    entries.extend(c.decrements().entries().iter().map(|(k, v)| (false, k, *v)));
    if entries.len() < 2 {
        return None;
    }
    let half = entries.len() / 2;
    let build = |part: &[(bool, &String, u64)]| {
        let mut out = Counter::new();
        for (up, k, v) in part {
            // Entries of a valid counter are below u64::MAX each, so adding one to a fresh counter cannot overflow.
            let r = if *up { out.increment((*k).clone(), *v) } else { out.decrement((*k).clone(), *v) };
            debug_assert!(r.is_ok(), "one entry into an empty counter cannot overflow");
        }
        out
    };
    Some((build(&entries[..half]), build(&entries[half..])))
}

/// The most integer chunks in one set's digest (about 39 bytes each in JSON).
pub const MAX_DIGEST_CHUNKS: usize = 512;
/// The most buckets for one set's other values in its digest (2^9 = 512, about 21 bytes each).
pub const MAX_DIGEST_LOG2_BUCKETS: u8 = 9;

/// A set's digest, coarsened so that it stays within [`MAX_DIGEST_CHUNKS`] integer chunks and
/// 2^[`MAX_DIGEST_LOG2_BUCKETS`] buckets (about 31 KB at most): a large sparse set's own digest has up to len/32
/// chunks (31 250 for a million random integers, over a datagram), and a round that cannot send its digest
/// repairs nothing. Coarser chunks cost precision, not correctness: a round resends the whole differing chunks.
fn set_digest(set: &JsonSet, seed: u64) -> JsonSetDigest {
    let mut d = set.digest_seeded(seed);
    let mut shift = d.ints.shift();
    while d.ints.chunks().len() > MAX_DIGEST_CHUNKS && shift < 64 {
        // Chunk counts fall about twofold per step of `shift` for spread-out values: jump most of the way at once.
        let ratio = d.ints.chunks().len().div_ceil(MAX_DIGEST_CHUNKS);
        let step = (usize::BITS - ratio.leading_zeros()).max(1) as u8;
        shift = shift.saturating_add(step).min(64);
        d.ints = set.ints().digest_with(seed, 64, shift);
    }
    if d.other.fingerprints().len() > 1 << MAX_DIGEST_LOG2_BUCKETS {
        d.other = set.other().digest_with(seed, 64, MAX_DIGEST_LOG2_BUCKETS);
    }
    d
}

/// Objects are divided between the parts first, then a single large set by halves of its elements, a large
/// counter by halves of its entries ([`Split::split_to`] cuts a delta to a message budget with it).
impl Split for Objects {
    fn halve(&self) -> Option<(Objects, Objects)> {
        self.halves()
    }
}

/// What `part` adds to `mine`: its values and integers `mine` lacks.
pub(crate) fn set_news(mine: Option<&JsonSet>, part: &JsonSet) -> JsonSet {
    let Some(mine) = mine else { return part.clone() };
    let ints = if part.ints().len() <= (mine.ints().len() / 64).max(64) {
        part.ints().iter().filter(|&x| !mine.ints().contains(x)).collect()
    } else {
        GSet::from_treemap(part.ints().as_treemap() - mine.ints().as_treemap())
    };
    let other: OrdGSet<CanonicalJson> = part.other().iter().filter(|v| !mine.other().contains(v)).cloned().collect();
    JsonSet::from_parts(ints, other)
}

/// What `part` adds to `mine`: its entries above `mine`'s.
pub(crate) fn counter_news(mine: Option<&Counter>, part: &Counter) -> Counter {
    let Some(mine) = mine else { return part.clone() };
    let mut out = Counter::new();
    for (k, &v) in part.increments().entries() {
        if v > mine.increments().get(k) {
            let r = out.increment(k.clone(), v);
            debug_assert!(r.is_ok(), "one entry into an empty counter cannot overflow");
        }
    }
    for (k, &v) in part.decrements().entries() {
        if v > mine.decrements().get(k) {
            let r = out.decrement(k.clone(), v);
            debug_assert!(r.is_ok(), "one entry into an empty counter cannot overflow");
        }
    }
    out
}

impl Lattice for Objects {
    fn join(&mut self, other: &Self) -> bool {
        if let Some(p) = self.prefix.get_mut() {
            crate::objects_keys::code_join(p, &self.sets, &self.counters, other);
        }
        let mut changed = false;
        for (name, set) in &other.sets {
            if set.is_empty() {
                continue;
            }
            changed |= match self.sets.get_mut(name) {
                Some(mine) => mine.join(set),
                None => {
                    self.sets.insert(name.clone(), set.clone());
                    true
                }
            };
        }
        for (name, c) in &other.counters {
            if c.is_empty() {
                continue;
            }
            changed |= match self.counters.get_mut(name) {
                Some(mine) => mine.join(c),
                None => {
                    self.counters.insert(name.clone(), c.clone());
                    true
                }
            };
        }
        if changed && let Some(tap) = &self.tap.0 {
            tap(other);
        }
        changed
    }
}

impl DeltaCrdt for Objects {
    type Digest = ObjectsDigest;
    type Delta = Objects;

    fn digest_seeded(&self, seed: u64) -> ObjectsDigest {
        ObjectsDigest {
            seed,
            sets: self.sets.iter().map(|(n, s)| (n.clone(), set_digest(s, seed))).collect(),
            counters: self.counters.clone(),
        }
    }

    fn digest_matching(&self, theirs: &ObjectsDigest) -> ObjectsDigest {
        let sets = self
            .sets
            .iter()
            .map(|(n, s)| {
                let d = match theirs.sets.get(n) {
                    Some(d) => s.digest_matching(d),
                    None => set_digest(s, theirs.seed),
                };
                (n.clone(), d)
            })
            .collect();
        ObjectsDigest { seed: theirs.seed, sets, counters: self.counters.clone() }
    }

    fn delta_since(&self, digest: &ObjectsDigest) -> Objects {
        let mut out = Objects::new();
        for (name, set) in &self.sets {
            let delta = match digest.sets.get(name) {
                Some(d) => set.delta_since(d),
                None => set.clone(),
            };
            if !delta.is_empty() {
                out.sets.insert(name.clone(), delta);
            }
        }
        for (name, c) in &self.counters {
            let delta = match digest.counters.get(name) {
                Some(d) => c.delta_since(d),
                None => c.clone(),
            };
            if !delta.is_empty() {
                out.counters.insert(name.clone(), delta);
            }
        }
        out
    }

    fn apply_delta(&mut self, delta: &Objects) -> bool {
        self.join(delta)
    }

    fn delta_is_empty(delta: &Objects) -> bool {
        delta.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn set_of(values: impl IntoIterator<Item = serde_json::Value>) -> JsonSet {
        let mut s = JsonSet::new();
        for v in values {
            s.insert(&v);
        }
        s
    }

    fn sample() -> Objects {
        let mut o = Objects::with_set("a", set_of([json!(1), json!("x")]));
        let mut c = Counter::new();
        c.add("n1".into(), 5).unwrap();
        c.add("n2".into(), -2).unwrap();
        o.join(&Objects::with_counter("hits", c));
        o
    }

    #[test]
    fn two_replicas_converge_through_digests_and_deltas() {
        let mut a = sample();
        let mut b = Objects::with_set("b", set_of([json!(7)]));
        b.join(&Objects::with_set("a", set_of([json!(2)])));
        for seed in [1, 2] {
            let to_b = a.delta_since(&b.digest_seeded(seed));
            b.apply_delta(&to_b);
            let to_a = b.delta_since(&a.digest_seeded(seed));
            a.apply_delta(&to_a);
        }
        assert_eq!(a, b);
        assert_eq!(a.set("a").unwrap().len(), 3);
        assert_eq!(a.counter("hits").unwrap().read(), 3);
        assert_eq!(a.digest_matching(&b.digest_seeded(9)), b.digest_seeded(9));
    }

    #[test]
    fn join_is_commutative_associative_and_idempotent() {
        let x = sample();
        let y = Objects::with_set("a", set_of([json!(3)]));
        let z = Objects::with_counter("hits", {
            let mut c = Counter::new();
            c.add("n3".into(), 1).unwrap();
            c
        });
        let join = |mut a: Objects, b: &Objects| {
            a.join(b);
            a
        };
        assert_eq!(join(x.clone(), &y), join(y.clone(), &x));
        assert_eq!(join(join(x.clone(), &y), &z), join(x.clone(), &join(y.clone(), &z)));
        assert!(!x.clone().join(&x));
    }

    #[test]
    fn the_wire_form_round_trips_and_refuses_bad_names_and_fields() {
        let o = sample();
        let text = serde_json::to_string(&o).unwrap();
        assert_eq!(
            text,
            r#"{"sets":{"a":{"ints":[1],"other":["x"]}},"counters":{"hits":{"p":{"n1":5},"n":{"n2":2}}}}"#
        );
        assert_eq!(serde_json::from_str::<Objects>(&text).unwrap(), o);
        assert!(serde_json::from_str::<Objects>(r#"{"sets":{"a b":{"ints":[1],"other":[]}}}"#).is_err());
        assert!(serde_json::from_str::<Objects>(r#"{"sets":{},"extra":1}"#).is_err());
        assert!(serde_json::from_str::<Objects>(r#"{"counters":{"c":{"p":{"n1":0},"n":{}}}}"#).is_err());
    }

    #[test]
    fn merged_sizes_count_the_union_exactly() {
        let o = sample();
        let d = Objects::with_set("a", set_of([json!(1), json!(2), json!("x"), json!("y")]));
        let s = o.merged_sizes(&d);
        let mut joined = o;
        joined.join(&d);
        assert_eq!(s, joined.sizes());
        assert_eq!(s, Sizes { objects: 2, elements: 4, counter_entries: 2 });
    }

    #[test]
    fn a_delta_split_to_a_budget_joins_back_to_itself() {
        let mut o = Objects::with_set("big", set_of((0..5000u64).map(|i| json!(i * 1_000_003))));
        o.join(&Objects::with_set("strings", set_of((0..300).map(|i| json!(format!("value-{i}"))))));
        for i in 0..40 {
            let mut c = Counter::new();
            c.add(format!("node-{i}"), i).unwrap();
            o.join(&Objects::with_counter(&format!("c{i}"), c));
        }
        let budget = 4000;
        let parts = o.clone().split_to(budget);
        assert!(parts.len() > 5, "{} parts", parts.len());
        let mut back = Objects::new();
        for p in &parts {
            assert!(encoded_len(p) <= budget, "a part of {} bytes", encoded_len(p));
            back.join(p);
        }
        assert_eq!(back, o);
    }

    #[test]
    fn a_single_element_over_the_budget_comes_back_alone() {
        let o = Objects::with_set("s", set_of([json!("x".repeat(500))]));
        let parts = o.clone().split_to(100);
        assert_eq!(parts, vec![o]);
    }

    #[test]
    fn a_large_sparse_set_has_a_digest_that_fits_a_datagram_and_still_repairs() {
        let mut x: u64 = 0x1234_5678;
        let mut values = Vec::new();
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(json!(x));
        }
        let strings: Vec<serde_json::Value> = (0..20_000).map(|i| json!(format!("s{i}"))).collect();
        let full = Objects::with_set("big", set_of(values.iter().chain(&strings).cloned()));
        let digest = full.digest_seeded(3);
        assert!(encoded_len(&digest) < 40_000, "a digest of {} bytes", encoded_len(&digest));
        let mut behind = Objects::with_set("big", set_of(values[1..].iter().chain(&strings[1..]).cloned()));
        assert_ne!(behind.digest_matching(&digest), digest);
        let delta = full.delta_since(&behind.digest_seeded(4));
        assert!(encoded_len(&delta) < encoded_len(&full) / 10, "the delta is chunk-sized, not the whole set");
        behind.apply_delta(&delta);
        assert_eq!(behind, full);
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("orders-2026.eu:1").is_ok());
        for bad in ["", "a/b", "é", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
