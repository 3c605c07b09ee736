//! The messages of a reconciliation round after the summary ([`Repair`], one type for every osmosis CRDT), and
//! the driver that runs a key session (`KeySession`) for a type that says what its keys stand for ([`Keyed`]).
//!
//! # Items
//! Once a side has decoded the difference it knows two lists of keys: the peer's that it lacks, and its own that
//! the peer lacks. Integer keys *are* elements: the ones it lacks are joined at once, its own travel as elements.
//! Hashed keys stand for records (a JSON value of a [`crate::JsonSet`], a counter entry): it sends the records
//! behind its own keys and *wants* the records behind the peer's, which the peer sends back in one more message.
//! So a round where only integers differ ends with the decoder's message; a round where the decoder lacks
//! records takes one exchange more.
//!
//! # Messages
//! In JSON each message is one string: a letter naming the step, then the base64 of its bytes.
//! - `"C…"` [`Repair::Cells`]: a [`CellBatch`];
//! - `"W…"` [`Repair::Want`]: the responder asks for the initiator's first cells ([`Want`]);
//! - `"E…"` [`Repair::Items`]: items the receiver lacks, and keys whose records the sender wants;
//! - `"S…"` [`Repair::State`]: part of the sender's whole state, for large differences; the receiver joins it and,
//!   after the last part, answers with `E` items holding exactly what the sender lacks.
//!
//! [`Items`] bytes: one flag byte (bit 0: last part of its sequence; bit 1: elements in raw form; bit 2: records
//! follow; bit 3: wanted keys follow), then the wanted keys (`varint(n)`, `n` 8-byte little-endian words), then
//! the records (`varint(n)`, each `varint(len) · bytes`), then the elements up to the end: either the set's
//! maximal runs of consecutive integers, each as `varint(gap) · varint(length − 1)`, where `gap` is the distance
//! from the end of the previous run (+1; 0 for the first) to the run's start, or (raw form) every element as 8
//! bytes little-endian, strictly ascending; whichever is shorter. A random 64-bit element costs 8 bytes, a random
//! 32-bit one 2–6, a run of any length at most 20. Decoding is bounded: at most [`MAX_PART_ELEMENTS`] elements per
//! message whatever its runs claim, and no allocation sized from a count.

use std::fmt::Debug;

use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};

use crate::coding::Space;
use crate::gset::GSet;
use crate::reconcile::{CellBatch, KeySession, KeySet, KeyStep, KeySummary, MAX_CELLS, Step, Want};
use crate::traits::Lattice;
use crate::wire::{Reader, WireError, err, from_base64, put_varint, to_base64, varint_len};

/// The most elements one decoded [`Items`] message may hold (2^20): a run can describe billions of integers in a
/// few bytes, and a peer must not make us materialise them (each new element also costs its coded prefix ~15
/// cell updates, so one message costs at most ~20 ms of CPU here).
pub const MAX_PART_ELEMENTS: u64 = 1 << 20;

/// The most keys a session accepts being asked for in one round, and the most state parts it takes: bounds on
/// what a peer can make a session hold.
pub const MAX_WANT: usize = MAX_CELLS;

/// Items the receiver lacks (or part of a state), and keys whose records the sender wants (format in the module
/// docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Items {
    /// Whether this is the last part of its message sequence.
    pub last: bool,
    /// Integer elements.
    pub ints: GSet,
    /// Records of hashed items, in the item type's wire form.
    pub records: Vec<Vec<u8>>,
    /// Hashed keys whose records the sender wants.
    pub want: Vec<u64>,
}

/// One message of a round after the summary (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub enum Repair {
    /// Coded cells of the sender's keys.
    Cells(CellBatch),
    /// A request for the receiver's cells.
    Want(Want),
    /// Items the receiver lacks, and keys whose records the sender wants.
    Items(Items),
    /// Part of the sender's state.
    State(Items),
}

impl Repair {
    /// Elements and records the message carries (what applying it can add at most; a batch of cells can add up
    /// to [`CellBatch::upto`] keys by decoding): for a cap check before [`crate::Reconcile::step`].
    pub fn items_len(&self) -> u64 {
        match self {
            Repair::Cells(_) | Repair::Want(_) => 0,
            Repair::Items(i) | Repair::State(i) => i.ints.len().saturating_add(i.records.len() as u64),
        }
    }

    /// The integer elements the message carries, if any.
    pub fn ints(&self) -> Option<&GSet> {
        match self {
            Repair::Items(i) | Repair::State(i) => Some(&i.ints),
            Repair::Cells(_) | Repair::Want(_) => None,
        }
    }
}

/// The maximal runs of a treemap, ascending.
pub(crate) fn runs(set: &RoaringTreemap) -> impl Iterator<Item = (u64, u64)> + '_ {
    let mut elements = set.iter().peekable();
    std::iter::from_fn(move || {
        let start = elements.next()?;
        let mut end = start;
        while elements.next_if(|&x| end.checked_add(1) == Some(x)).is_some() {
            end += 1;
        }
        Some((start, end))
    })
}

/// Bytes of one run after a previous run ending at `next - 1`.
fn put_run(out: &mut Vec<u8>, next: u64, (start, end): (u64, u64)) {
    put_varint(out, start - next);
    put_varint(out, end - start);
}

pub(crate) fn run_len(next: u64, (start, end): (u64, u64)) -> usize {
    varint_len(start - next) + varint_len(end - start)
}

/// Bytes of the elements of `set` in run form.
pub(crate) fn runs_bytes(set: &RoaringTreemap) -> usize {
    let mut next = 0u64;
    runs(set).fold(0, |acc, run| {
        let len = run_len(next, run);
        next = run.1.wrapping_add(1);
        acc + len
    })
}

const LAST: u8 = 1;
const RAW: u8 = 2;
const RECORDS: u8 = 4;
const WANT: u8 = 8;

impl Items {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8];
        let mut flags = u8::from(self.last);
        if !self.want.is_empty() {
            flags |= WANT;
            put_varint(&mut out, self.want.len() as u64);
            for k in &self.want {
                out.extend_from_slice(&k.to_le_bytes());
            }
        }
        if !self.records.is_empty() {
            flags |= RECORDS;
            put_varint(&mut out, self.records.len() as u64);
            for r in &self.records {
                put_varint(&mut out, r.len() as u64);
                out.extend_from_slice(r);
            }
        }
        let start = out.len();
        let mut next = 0u64;
        for run in runs(&self.ints.set) {
            put_run(&mut out, next, run);
            next = run.1.wrapping_add(1);
        }
        if 8 * self.ints.len() < (out.len() - start) as u64 {
            out.truncate(start);
            flags |= RAW;
            for x in self.ints.iter() {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out[0] = flags;
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Items, WireError> {
        let mut r = Reader::new(bytes);
        let flags = r.u8()?;
        if flags > LAST | RAW | RECORDS | WANT {
            return Err(err(format!("unknown item flags {flags:#x}")));
        }
        let mut items = Items { last: flags & LAST != 0, ..Items::default() };
        if flags & WANT != 0 {
            let n = r.varint()?;
            for _ in 0..n {
                items.want.push(r.u64()?);
            }
        }
        if flags & RECORDS != 0 {
            let n = r.varint()?;
            for _ in 0..n {
                let len = usize::try_from(r.varint()?).map_err(|_| err("record length"))?;
                items.records.push(r.bytes(len)?.to_vec());
            }
        }
        let rest = r.rest();
        items.ints = if flags & RAW != 0 { ints_from_raw(rest)? } else { ints_from_runs(rest)? };
        Ok(items)
    }
}

fn ints_from_raw(bytes: &[u8]) -> Result<GSet, WireError> {
    if !bytes.len().is_multiple_of(8) || bytes.len() as u64 / 8 > MAX_PART_ELEMENTS {
        return Err(err("raw elements are not whole 8-byte words, or too many"));
    }
    let words = bytes.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")));
    let set = RoaringTreemap::from_sorted_iter(words).map_err(|_| err("raw elements not strictly ascending"))?;
    Ok(GSet::from_treemap(set))
}

fn ints_from_runs(bytes: &[u8]) -> Result<GSet, WireError> {
    let mut r = Reader::new(bytes);
    let mut set = RoaringTreemap::new();
    let (mut next, mut total, mut ended) = (0u64, 0u64, false);
    while !r.is_empty() {
        let gap = r.varint()?;
        let extra = r.varint()?;
        let start = next.checked_add(gap).filter(|_| !ended).ok_or_else(|| err("run beyond u64"))?;
        let end = start.checked_add(extra).ok_or_else(|| err("run beyond u64"))?;
        // `extra` is the peer's: u64::MAX must saturate to a refusal, not overflow (a panic in debug, a wrap to a
        // 2^64-element run in release).
        total = total.saturating_add(extra).saturating_add(1);
        if total > MAX_PART_ELEMENTS {
            return Err(err(format!("more than {MAX_PART_ELEMENTS} elements in one message")));
        }
        set.insert_range(start..=end);
        (next, ended) = match end.checked_add(1) {
            Some(n) => (n, false),
            None => (end, true),
        };
    }
    Ok(GSet::from_treemap(set))
}

impl Repair {
    fn to_bytes(&self) -> Vec<u8> {
        let (letter, mut body) = match self {
            Repair::Cells(b) => (b'C', b.to_bytes()),
            Repair::Want(w) => (b'W', w.to_bytes()),
            Repair::Items(e) => (b'E', e.to_bytes()),
            Repair::State(e) => (b'S', e.to_bytes()),
        };
        body.insert(0, letter);
        body
    }
}

impl Serialize for Repair {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = self.to_bytes();
        let mut text = String::with_capacity(1 + bytes.len() * 4 / 3);
        text.push(char::from(bytes[0]));
        text.push_str(&to_base64(&bytes[1..]));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Repair {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as Deserialize>::deserialize(d)?;
        let parse = |text: &str| -> Result<Repair, WireError> {
            let (letter, rest) = text.split_at_checked(1).ok_or_else(|| err("an empty repair message"))?;
            let bytes = from_base64(rest, 16 << 20)?;
            match letter {
                "C" => Ok(Repair::Cells(CellBatch::from_bytes(&bytes)?)),
                "W" => Ok(Repair::Want(Want::from_bytes(&bytes)?)),
                "E" => Ok(Repair::Items(Items::from_bytes(&bytes)?)),
                "S" => Ok(Repair::State(Items::from_bytes(&bytes)?)),
                other => Err(err(format!("unknown repair step {other:?}"))),
            }
        };
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Raw bytes that fit in one message of `budget` bytes of JSON (base64 inside a string, letter and quotes).
fn room(budget: usize) -> usize {
    (budget.saturating_sub(64) * 3 / 4).max(32)
}

/// Splits `set` into parts of at most `budget` bytes of JSON each as [`Items`] (and at most
/// [`MAX_PART_ELEMENTS`] elements). An empty set gives no part.
pub(crate) fn int_parts(set: &RoaringTreemap, budget: usize) -> Vec<GSet> {
    let room = room(budget);
    let mut out = Vec::new();
    let (mut current, mut bytes, mut count, mut next) = (RoaringTreemap::new(), 1usize, 0u64, 0u64);
    for (mut start, end) in runs(set) {
        while start <= end {
            if count == MAX_PART_ELEMENTS {
                out.push(std::mem::take(&mut current));
                (bytes, count, next) = (1, 0, 0);
            }
            let take_end = end.min(start.saturating_add(MAX_PART_ELEMENTS - count - 1));
            let len = run_len(next, (start, take_end));
            if bytes + len > room && count > 0 {
                out.push(std::mem::take(&mut current));
                (bytes, count, next) = (1, 0, 0);
                continue;
            }
            current.insert_range(start..=take_end);
            bytes += len;
            count += take_end - start + 1;
            next = take_end.wrapping_add(1);
            if take_end == u64::MAX {
                break;
            }
            start = take_end + 1;
        }
    }
    if count > 0 {
        out.push(current);
    }
    out.into_iter().map(GSet::from_treemap).collect()
}

/// Cuts elements, records and wanted keys into [`Items`] of at most `budget` bytes of JSON each (apart from a
/// single record larger than that), the last one flagged. Nothing to send gives no message.
pub(crate) fn items(ints: &RoaringTreemap, records: Vec<Vec<u8>>, want: Vec<u64>, budget: usize) -> Vec<Items> {
    let room = room(budget);
    let mut out: Vec<Items> = Vec::new();
    let mut current = Items::default();
    let mut bytes = 1 + 2 * 10; // flags and two counts at most
    for k in want {
        if bytes + 8 > room && !current.want.is_empty() {
            out.push(std::mem::take(&mut current));
            bytes = 21;
        }
        current.want.push(k);
        bytes += 8;
    }
    for r in records {
        let len = varint_len(r.len() as u64) + r.len();
        if bytes + len > room && !(current.want.is_empty() && current.records.is_empty()) {
            out.push(std::mem::take(&mut current));
            bytes = 21;
        }
        current.records.push(r);
        bytes += len;
    }
    let mut parts = int_parts(ints, budget).into_iter().peekable();
    let started = !(current.want.is_empty() && current.records.is_empty());
    if let Some(first) = parts.peek()
        && (!started || bytes + first.len().saturating_mul(8).min(runs_bytes(&first.set) as u64) as usize <= room)
    {
        current.ints = parts.next().expect("peeked");
    }
    if started || !current.ints.is_empty() {
        out.push(current);
    }
    out.extend(parts.map(|ints| Items { ints, ..Items::default() }));
    if let Some(last) = out.last_mut() {
        last.last = true;
    }
    out
}

/// What a type's keys stand for, so that the key-session driver ([`open`], [`step`]) can reconcile it.
///
/// # Contract (implementors must)
/// - code every integer element under [`Space::Int`] and every record under [`Space::Hashed`] with the key
///   [`crate::coding::record_key`]`(record)`, in a prefix kept up to date by every mutation and join;
/// - make `parse` reject (with nothing changed) any record that is not a valid item, and `absorb` return
///   exactly what it added.
pub trait Keyed: KeySet + Lattice + Default + Clone + Debug {
    /// This replica's records with their keys, ascending by key (empty for a type without hashed items).
    fn records(&self) -> Vec<(u64, Vec<u8>)>;
    /// This replica's integer elements, if it has any.
    fn int_elements(&self) -> Option<&GSet>;
    /// A delta of this type holding a peer's items.
    ///
    /// # Errors
    /// A record that is not a valid item of this type, or integers for a type without integer elements.
    fn parse(ints: &GSet, records: &[Vec<u8>]) -> Result<Self, WireError>;
    /// Joins `delta`; returns exactly what was new here.
    fn absorb(&mut self, delta: &Self) -> Self;
    /// This replica's items that `received` (a peer's whole state) lacks: elements and records.
    fn lacking(&self, received: &Self) -> (RoaringTreemap, Vec<Vec<u8>>);
}

/// The records behind `keys` (those this replica holds).
fn records_for<T: Keyed>(set: &T, keys: &[u64]) -> Vec<Vec<u8>> {
    if keys.is_empty() {
        return Vec::new();
    }
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    set.records().into_iter().filter(|(k, _)| keys.binary_search(k).is_ok()).map(|(_, r)| r).collect()
}

/// [`KeySet::membership`] for a [`Keyed`] type: its integer elements, and the keys of its records.
pub fn membership_of<T: Keyed>(set: &T) -> Box<dyn Fn(Space, u64) -> bool + '_> {
    let hashed: Vec<u64> = set.records().into_iter().map(|(k, _)| k).collect();
    let ints = set.int_elements();
    Box::new(move |space, x| match space {
        Space::Int => ints.is_some_and(|s| s.contains(x)),
        Space::Hashed => hashed.binary_search(&x).is_ok(),
    })
}

/// One side of a round (both roles).
#[derive(Debug, Clone, Default)]
pub struct Session<T> {
    keys: KeySession,
    /// The peer's state received so far (large differences).
    received: T,
    /// Keys the peer wants, until its last part.
    want: Vec<u64>,
    /// State parts received.
    parts: usize,
}

fn nothing<T: Default>(send: Vec<Repair>, done: bool) -> Step<Repair, T> {
    Step { send, done, delta: T::default() }
}

fn state_messages<T: Keyed>(set: &T, budget: usize) -> Vec<Repair> {
    let ints = set.int_elements().map(|s| s.as_treemap().clone()).unwrap_or_default();
    let records = set.records().into_iter().map(|(_, r)| r).collect();
    let mut out: Vec<Repair> = items(&ints, records, Vec::new(), budget).into_iter().map(Repair::State).collect();
    if out.is_empty() {
        out.push(Repair::State(Items { last: true, ..Items::default() }));
    }
    out
}

/// The responder's first step: `None` when the summaries agree.
pub fn open<T: Keyed>(set: &T, theirs: &KeySummary, budget: usize) -> Option<(Session<T>, Vec<Repair>)> {
    let (keys, step) = KeySession::open(set, theirs, budget)?;
    let send = match step {
        KeyStep::Cells(batches) => batches.into_iter().map(Repair::Cells).collect(),
        KeyStep::Want(want) => vec![Repair::Want(want)],
        _ => state_messages(set, budget),
    };
    Some((Session { keys, ..Session::default() }, send))
}

/// Any later step, on either side.
pub fn step<T: Keyed>(
    set: &mut T,
    session: &mut Session<T>,
    msg: &Repair,
    budget: usize,
) -> Result<Step<Repair, T>, WireError> {
    match msg {
        Repair::Cells(batch) => {
            let step = session.keys.on_cells(set, batch)?;
            let decoded = matches!(step, KeyStep::Decoded(_));
            let mut step = key_step(set, step, budget)?;
            // The initiator that sent these cells waits for the decoder's answer; the engine counts an initiator
            // left waiting as an unanswered round (a failure detector's input), so a responder with nothing to
            // send still says that the round is over.
            if decoded && step.send.is_empty() && session.keys.is_responder() {
                step.send.push(Repair::Items(Items { last: true, ..Items::default() }));
            }
            Ok(step)
        }
        Repair::Want(want) => {
            let step = session.keys.on_want(set, want, budget)?;
            key_step(set, step, budget)
        }
        Repair::Items(part) => {
            if session.want.len().saturating_add(part.want.len()) > MAX_WANT {
                return Err(err(format!("more than {MAX_WANT} keys wanted in one round")));
            }
            let delta = set.absorb(&T::parse(&part.ints, &part.records)?);
            session.want.extend_from_slice(&part.want);
            if !part.last {
                return Ok(Step { send: vec![], done: false, delta });
            }
            let want = std::mem::take(&mut session.want);
            let send = items(&RoaringTreemap::new(), records_for(set, &want), Vec::new(), budget);
            Ok(Step { send: send.into_iter().map(Repair::Items).collect(), done: true, delta })
        }
        Repair::State(part) => {
            if !part.want.is_empty() {
                return Err(err("a state part that wants keys"));
            }
            if session.parts >= MAX_WANT {
                return Err(err(format!("more than {MAX_WANT} state parts in one round")));
            }
            let theirs = T::parse(&part.ints, &part.records)?;
            session.parts += 1;
            session.received.join(&theirs);
            let delta = set.absorb(&theirs);
            if !part.last {
                return Ok(Step { send: vec![], done: false, delta });
            }
            let (ints, records) = set.lacking(&std::mem::take(&mut session.received));
            let send = items(&ints, records, Vec::new(), budget).into_iter().map(Repair::Items).collect();
            Ok(Step { send, done: true, delta })
        }
    }
}

fn key_step<T: Keyed>(set: &mut T, step: KeyStep, budget: usize) -> Result<Step<Repair, T>, WireError> {
    Ok(match step {
        KeyStep::Wait => nothing(vec![], false),
        KeyStep::Cells(batches) => nothing(batches.into_iter().map(Repair::Cells).collect(), false),
        KeyStep::Want(want) => nothing(vec![Repair::Want(want)], false),
        // The peer answers the state with what this side lacks (if anything): not done yet.
        KeyStep::State => nothing(state_messages(set, budget), false),
        KeyStep::Decoded(mut d) => {
            // The peel looked every key up: these are exactly the elements this replica lacks.
            d.theirs.ints.sort_unstable();
            let theirs = RoaringTreemap::from_sorted_iter(d.theirs.ints.iter().copied())
                .map_err(|_| err("a key decoded twice"))?;
            let delta = T::parse(&GSet::from_treemap(theirs), &[])?;
            set.join(&delta);
            let mine: RoaringTreemap = d.mine.ints.iter().copied().collect();
            let want = d.theirs.hashed;
            let done = want.is_empty();
            let send = items(&mine, records_for(set, &d.mine.hashed), want, budget);
            Step { send: send.into_iter().map(Repair::Items).collect(), done, delta }
        }
    })
}

/// [`crate::Reconcile`] for a [`Keyed`] type: its summary, [`open`] and [`step`]. For a type outside this crate:
/// `osmosis_crdt::reconcile_by_keys!(MyType);` (the daemon's map of objects does so).
#[macro_export]
macro_rules! reconcile_by_keys {
    ($ty:ty $(, $g:ident: $bound:path)?) => {
        impl$(<$g: $bound>)? $crate::reconcile::Reconcile for $ty {
            type Summary = $crate::reconcile::KeySummary;
            type Repair = $crate::repair::Repair;
            type Session = $crate::repair::Session<$ty>;

            fn summary(&self) -> $crate::reconcile::KeySummary {
                $crate::reconcile::KeySummary::of($crate::reconcile::KeySet::prefix(self))
            }

            fn open(
                &self,
                theirs: &$crate::reconcile::KeySummary,
                budget: usize,
            ) -> Option<(Self::Session, Vec<$crate::repair::Repair>)> {
                $crate::repair::open(self, theirs, budget)
            }

            fn step(
                &mut self,
                session: &mut Self::Session,
                msg: &$crate::repair::Repair,
                budget: usize,
            ) -> Result<$crate::reconcile::Step<$crate::repair::Repair, Self>, $crate::wire::WireError> {
                $crate::repair::step(self, session, msg, budget)
            }
        }
    };
}
pub(crate) use reconcile_by_keys;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_parts_round_trip_and_respect_the_budget() {
        let set: RoaringTreemap =
            (0..5000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).chain(10..100_000).chain([u64::MAX]).collect();
        let records: Vec<Vec<u8>> = (0..250u8).map(|i| vec![i; usize::from(i % 40) + 1]).collect();
        let want: Vec<u64> = (0..700u64).collect();
        let parts = items(&set, records.clone(), want.clone(), 2000);
        assert!(parts.len() > 3);
        let mut back = Items::default();
        for (i, p) in parts.iter().enumerate() {
            let text = serde_json::to_string(&Repair::Items(p.clone())).unwrap();
            assert!(text.len() <= 2000, "{}", text.len());
            let Repair::Items(decoded) = serde_json::from_str(&text).unwrap() else { panic!("{text}") };
            assert_eq!(&decoded, p);
            assert_eq!(decoded.last, i + 1 == parts.len());
            back.ints.join(&decoded.ints);
            back.records.extend(decoded.records);
            back.want.extend(decoded.want);
        }
        assert_eq!(back.ints.as_treemap(), &set);
        assert_eq!((back.records, back.want), (records, want));
        assert!(items(&RoaringTreemap::new(), vec![], vec![], 100).is_empty());
    }

    #[test]
    fn item_decoding_refuses_runs_past_the_cap_or_past_u64_and_truncated_sections() {
        let encode = |runs: &[(u64, u64)]| {
            let mut bytes = vec![1u8];
            for &(gap, extra) in runs {
                put_varint(&mut bytes, gap);
                put_varint(&mut bytes, extra);
            }
            bytes
        };
        assert!(Items::from_bytes(&encode(&[(1, MAX_PART_ELEMENTS)])).is_err(), "past the cap");
        assert!(Items::from_bytes(&encode(&[(u64::MAX - 1, 4)])).is_err(), "past u64::MAX");
        assert!(Items::from_bytes(&encode(&[(0, u64::MAX)])).is_err(), "one run of every u64");
        assert!(Items::from_bytes(&encode(&[(u64::MAX, 0), (0, 0)])).is_err(), "a run after u64::MAX");
        assert!(Items::from_bytes(&[16]).is_err(), "unknown flags");
        assert!(Items::from_bytes(&[3, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]).is_err(), "raw repeats");
        assert!(Items::from_bytes(&[3, 1, 0]).is_err(), "raw part word");
        assert!(Items::from_bytes(&[1, 2]).is_err(), "truncated run");
        assert!(Items::from_bytes(&[8, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]).is_err(), "a huge want count, no keys");
        assert!(Items::from_bytes(&[4, 1, 9, 1]).is_err(), "a record longer than the message");
        let ok = Items::from_bytes(&encode(&[(1, 0), (3, 2), (u64::MAX - 10, 0)])).unwrap();
        assert_eq!(ok.ints.iter().collect::<Vec<_>>(), vec![1, 5, 6, 7, u64::MAX - 2]);
    }
}
