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
//! - `"W…"` [`Repair::Want`]: the responder asks for the initiator's first cells, or for its state ([`Want`]);
//! - `"E…"` [`Repair::Items`]: items the receiver lacks, and keys whose records the sender wants;
//! - `"S…"` [`Repair::State`]: part of the sender's whole state, for large differences; the receiver joins it and,
//!   after the last part, answers with `E` items holding exactly what the sender lacks (a responder with nothing
//!   to send sends an empty last part, so that its initiator knows the round is over).
//!
//! [`Items`] bytes: one flag byte (bit 0: last part of its sequence; bit 1: elements in raw form; bit 2: records
//! follow; bit 3: wanted keys follow; bit 4: elements in gap form), then the wanted keys (`varint(n)`, `n` 8-byte
//! little-endian words), then the records (`varint(n)`, each `varint(len) · bytes`), then the elements up to the
//! end, in whichever of three forms is shortest:
//! - runs: the set's maximal runs of consecutive integers, each as `varint(gap) · varint(length − 1)`, where `gap`
//!   is the distance from the end of the previous run (+1; 0 for the first) to the run's start;
//! - gaps: every element as `varint(gap)`, the distance from the previous element (+1; 0 for the first);
//! - raw: every element as 8 bytes little-endian, strictly ascending.
//!
//! A run of any length costs at most 20 bytes; a scattered element costs the varint of its distance from the
//! previous one: 2 bytes for 1e6 random 32-bit elements (roaring's containers take ~2.5), 7–8 for random 64-bit
//! ones. Decoding is bounded: at most [`MAX_PART_ELEMENTS`] elements per message whatever its runs claim, and no
//! allocation sized from a count.

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
const GAPS: u8 = 16;

/// Bytes of the elements of `set` in gap form.
fn gaps_bytes(set: &RoaringTreemap) -> usize {
    let mut next = 0u64;
    set.iter().fold(0, |acc, x| {
        let len = varint_len(x - next);
        next = x.wrapping_add(1);
        acc + len
    })
}

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
        let set = self.ints.as_treemap();
        let (runs_len, gaps_len) = (runs_bytes(set) as u64, gaps_bytes(set) as u64);
        let mut next = 0u64;
        if 8 * self.ints.len() < runs_len.min(gaps_len) {
            flags |= RAW;
            for x in self.ints.iter() {
                out.extend_from_slice(&x.to_le_bytes());
            }
        } else if gaps_len < runs_len {
            flags |= GAPS;
            for x in self.ints.iter() {
                put_varint(&mut out, x - next);
                next = x.wrapping_add(1);
            }
        } else {
            for run in runs(set) {
                put_run(&mut out, next, run);
                next = run.1.wrapping_add(1);
            }
        }
        out[0] = flags;
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Items, WireError> {
        let mut r = Reader::new(bytes);
        let flags = r.u8()?;
        if flags > LAST | RAW | RECORDS | WANT | GAPS || flags & (RAW | GAPS) == RAW | GAPS {
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
        items.ints = if flags & RAW != 0 {
            ints_from_raw(rest)?
        } else if flags & GAPS != 0 {
            ints_from_gaps(rest)?
        } else {
            ints_from_runs(rest)?
        };
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

fn ints_from_gaps(bytes: &[u8]) -> Result<GSet, WireError> {
    let mut r = Reader::new(bytes);
    let mut elements = Vec::new();
    let mut next = Some(0u64);
    while !r.is_empty() {
        let gap = r.varint()?;
        let x = next.and_then(|n| n.checked_add(gap)).ok_or_else(|| err("an element beyond u64"))?;
        if elements.len() as u64 == MAX_PART_ELEMENTS {
            return Err(err(format!("more than {MAX_PART_ELEMENTS} elements in one message")));
        }
        elements.push(x);
        next = x.checked_add(1);
    }
    let set = RoaringTreemap::from_sorted_iter(elements).map_err(|_| err("elements not ascending"))?;
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
        && (!started
            || bytes + first.len().saturating_mul(8).min(runs_bytes(first.as_treemap()) as u64) as usize <= room)
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
            let mut send = items(&RoaringTreemap::new(), records_for(set, &want), Vec::new(), budget);
            // A wanted key may have no record any more (a counter entry raised since the cells were sent): the
            // decoder still waits for a last part, so it gets one, empty if need be.
            if send.is_empty() && !want.is_empty() {
                send.push(Items { last: true, ..Items::default() });
            }
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
            let mut send: Vec<Repair> =
                items(&ints, records, Vec::new(), budget).into_iter().map(Repair::Items).collect();
            // An initiator that sent its state waits for the answer (see the empty part after a decode above).
            if send.is_empty() && session.keys.is_responder() {
                send.push(Repair::Items(Items { last: true, ..Items::default() }));
            }
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
    fn elements_travel_in_the_shortest_of_runs_gaps_and_raw_words() {
        let scattered: RoaringTreemap =
            (0..1000u64).map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 44) * 7).collect();
        let random: RoaringTreemap = (0..1000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1 << 63).collect();
        let run: RoaringTreemap = (5..100_000u64).collect();
        for (set, flag, most) in [(scattered, GAPS, 2 * 1000 + 1), (random, RAW, 8 * 1000 + 1), (run, 0, 5)] {
            let part = Items { last: true, ints: GSet::from_treemap(set.clone()), ..Items::default() };
            let bytes = part.to_bytes();
            assert_eq!(bytes[0] & (RAW | GAPS), flag);
            assert!(bytes.len() <= most, "{} bytes", bytes.len());
            assert_eq!(Items::from_bytes(&bytes).unwrap(), part);
        }
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
        assert!(Items::from_bytes(&[32]).is_err(), "unknown flags");
        assert!(Items::from_bytes(&[RAW | GAPS]).is_err(), "raw and gaps at once");
        let mut gaps = vec![GAPS];
        put_varint(&mut gaps, u64::MAX);
        assert_eq!(Items::from_bytes(&gaps).unwrap().ints.iter().collect::<Vec<_>>(), vec![u64::MAX]);
        gaps.push(0);
        assert!(Items::from_bytes(&gaps).is_err(), "an element after u64::MAX");
        let zeros = vec![0u8; MAX_PART_ELEMENTS as usize + 1];
        assert!(Items::from_bytes(&[&[GAPS][..], &zeros].concat()).is_err(), "past the cap in gap form");
        assert!(Items::from_bytes(&[GAPS, 0x80]).is_err(), "a truncated gap");
        assert!(Items::from_bytes(&[3, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]).is_err(), "raw repeats");
        assert!(Items::from_bytes(&[3, 1, 0]).is_err(), "raw part word");
        assert!(Items::from_bytes(&[1, 2]).is_err(), "truncated run");
        assert!(Items::from_bytes(&[8, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]).is_err(), "a huge want count, no keys");
        assert!(Items::from_bytes(&[4, 1, 9, 1]).is_err(), "a record longer than the message");
        let ok = Items::from_bytes(&encode(&[(1, 0), (3, 2), (u64::MAX - 10, 0)])).unwrap();
        assert_eq!(ok.ints.iter().collect::<Vec<_>>(), vec![1, 5, 6, 7, u64::MAX - 2]);
    }

    mod rounds {
        use super::*;
        use crate::fingerprint::mix64;
        use crate::gcounter::GCounter;
        use crate::reconcile::Reconcile;

        /// A `C` part of `cells` zero cells `at..`, in a batch ending at `upto`, parsed as a peer's message.
        fn cells(at: u64, upto: u64, hash: Option<u64>, cells: usize) -> Repair {
            let mut bytes = Vec::new();
            put_varint(&mut bytes, at);
            put_varint(&mut bytes, upto);
            bytes.push(8 | if hash.is_some() { 16 } else { 0 });
            if let Some(h) = hash {
                bytes.extend_from_slice(&h.to_le_bytes());
            }
            bytes.extend(std::iter::repeat_n(0u8, cells * 11));
            serde_json::from_str(&format!("\"C{}\"", to_base64(&bytes))).expect("a well-formed part")
        }

        fn want(upto: u64) -> Repair {
            let mut bytes = Vec::new();
            put_varint(&mut bytes, upto);
            serde_json::from_str(&format!("\"W{}\"", to_base64(&bytes))).expect("a well-formed request")
        }

        #[test]
        fn a_decoder_takes_only_the_batch_it_asked_for_so_a_peer_cannot_make_it_decode_again_for_nothing() {
            let mut a: GSet = (0..2000u64).map(mix64).collect();
            let mut s = Session::<GSet>::default();
            // The first (unsolicited) batch: 64 forged cells cannot decode 2000 keys, so `a` asks for more.
            let first = a.step(&mut s, &cells(0, 64, Some(1), 64), 1 << 20).expect("a first batch");
            let [Repair::Want(more)] = first.send.as_slice() else { panic!("one request, got {:?}", first.send) };
            let next = more.upto() as u64;
            assert!(next > 64);
            // An empty part (the replay of the review: 5 bytes that re-ran the whole decode) does not even parse.
            let mut empty = vec![64u8, 64, 8];
            assert!(serde_json::from_str::<Repair>(&format!("\"C{}\"", to_base64(&empty))).is_err());
            empty.push(0);
            assert!(serde_json::from_str::<Repair>(&format!("\"C{}\"", to_base64(&empty))).is_err());
            // A batch ending anywhere but where `a` asked is refused; the asked one is taken, part by part.
            for upto in [65, next - 1, next + 1, MAX_CELLS as u64] {
                assert!(a.clone().step(&mut s.clone(), &cells(64, upto, None, 1), 1 << 20).is_err(), "..{upto}");
            }
            let mut taken = s.clone();
            let part = a.step(&mut taken, &cells(64, next, None, 1), 1 << 20).expect("the asked batch");
            assert!(part.send.is_empty());
            assert!(a.clone().step(&mut taken.clone(), &cells(65, next + 1, None, 1), 1 << 20).is_err(), "another end");
        }

        #[test]
        fn a_decoder_takes_no_cells_after_it_decoded() {
            let mut a: GSet = (0..1000u64).map(mix64).collect();
            let b: GSet = (0..1003u64).map(mix64).collect();
            let (_, first) = b.open(&a.summary(), 8000).expect("differ");
            let mut s = Session::<GSet>::default();
            let mut k = 0;
            for m in &first {
                let Repair::Cells(batch) = m else { panic!("b sends cells: {first:?}") };
                k = batch.upto() as u64;
                a.step(&mut s, m, 8000).expect("b's cells");
            }
            assert_eq!(a, b, "decoded");
            assert!(a.step(&mut s, &cells(k, k + 1, None, 1), 8000).is_err());
        }

        #[test]
        fn a_request_for_more_cells_than_a_failed_decode_asks_is_refused_and_a_cheaper_state_is_sent_instead() {
            let mut b: GSet = (0..100u64).map(|i| mix64(i + 1)).collect();
            let a: GSet = (0..90u64).map(|i| mix64(i + 1)).collect();
            let (session, first) = b.open(&a.summary(), 1200).expect("differ");
            let sent: usize = first
                .iter()
                .map(|m| match m {
                    Repair::Cells(c) => c.upto(),
                    other => panic!("b sends cells, got {other:?}"),
                })
                .max()
                .expect("a batch");
            // 5 bytes asked a 100-element replica for 6.4 MB of cells: now refused (the round ends).
            assert!(b.clone().step(&mut session.clone(), &want(MAX_CELLS as u64), 1200).is_err());
            assert!(b.clone().step(&mut session.clone(), &want(4 * sent as u64 + 65), 1200).is_err());
            // The largest request still answered costs more in cells than the state: the state is sent, once.
            let mut s = session;
            let step = b.step(&mut s, &want(4 * sent as u64 + 64), 1200).expect("answered");
            assert_eq!(step.send, state_messages(&b, 1200));
            assert!(step.send.iter().all(|m| matches!(m, Repair::State(_))));
            assert!(b.step(&mut s, &want(4 * sent as u64 + 64), 1200).is_err(), "the state goes once");
        }

        /// Runs a round `a` → `b` to its end; `during` writes at `a` after `b`'s first message, `again` after
        /// `a`'s first batch. Returns (messages, JSON bytes, state parts).
        fn round(a: &mut GSet, b: &mut GSet, during: &[u64], again: &[u64]) -> (usize, usize, usize) {
            let budget = 8000;
            let (mut sb, first) = b.open(&a.summary(), budget).expect("differ");
            for &x in during {
                a.insert(x);
            }
            let mut sa = Session::<GSet>::default();
            let (mut msgs, mut bytes, mut states, mut turn) = (0, 0, 0, 0);
            let mut to_a = first;
            while !to_a.is_empty() {
                let mut to_b = Vec::new();
                for m in std::mem::take(&mut to_a) {
                    msgs += 1;
                    bytes += serde_json::to_string(&m).expect("json").len();
                    states += usize::from(matches!(m, Repair::State(_)));
                    to_b.extend(a.step(&mut sa, &m, budget).expect("a step").send);
                }
                if turn == 0 {
                    for &x in again {
                        a.insert(x);
                    }
                }
                turn += 1;
                for m in to_b {
                    msgs += 1;
                    bytes += serde_json::to_string(&m).expect("json").len();
                    states += usize::from(matches!(m, Repair::State(_)));
                    to_a.extend(b.step(&mut sb, &m, budget).expect("b step").send);
                }
                assert!(turn < 100, "the round ends");
            }
            (msgs, bytes, states)
        }

        #[test]
        fn a_write_at_the_initiator_during_a_round_costs_a_few_bytes_not_the_state() {
            let shared: Vec<u64> = (0..20_000u64).map(mix64).collect();
            let b: GSet = shared.iter().copied().collect();
            let a: GSet = shared.iter().copied().chain((0..5u64).map(|i| mix64(i + 1_000_000))).collect();
            let (mut qa, mut qb) = (a.clone(), b.clone());
            let quiet = round(&mut qa, &mut qb, &[], &[]);
            assert_eq!(qa, qb);
            // One write at `a` between `b`'s request and `a`'s cells (the review measured 74 messages, 382 132 B,
            // 29 state parts): `a`'s batch carries the hash of the set its cells come from.
            let (mut wa, mut wb) = (a.clone(), b.clone());
            let one = round(&mut wa, &mut wb, &[mix64(77_777_777)], &[]);
            assert_eq!(wa, wb, "both end at the join");
            // Writes both before and after `a`'s first batch: a failed decode's request finds `a` changed, and `a`
            // resends its batch from cell 0 with the new hash instead of appending cells of another set.
            let burst: Vec<u64> = (0..40u64).map(|i| mix64(i + 2_000_000)).collect();
            let (mut ra, mut rb) = (a, b);
            let twice = round(&mut ra, &mut rb, &burst[..20], &burst[20..]);
            assert_eq!(ra, rb, "both end at the join");
            // (messages, bytes, state parts); before the fix: (5, 294, 0), (73, 369 937, 29), (99, 426 140, 29).
            assert_eq!(quiet, (5, 290, 0), "a request, a's batch with its set hash, the empty last part");
            assert_eq!(one, (5, 290, 0), "the write is decoded with the rest");
            assert_eq!(twice, (5, 1225, 0), "a resent batch, not appended cells of another set");
        }

        #[test]
        fn a_want_for_a_counter_entry_raised_mid_round_is_answered_with_a_last_part_so_the_decoder_ends() {
            let budget = 8000;
            let mut a = GCounter::<String>::new();
            let mut b = GCounter::<String>::new();
            for i in 0..3000 {
                a.increment(format!("n{i}"), 3).unwrap();
                b.increment(format!("n{i}"), 3).unwrap();
            }
            b.increment("n0".into(), 2).unwrap(); // b ahead on n0: 5 vs 3
            let (mut sb, first) = b.open(&a.summary(), budget).expect("differ");
            b.increment("n0".into(), 1).unwrap(); // b's key for n0 changes while its cells travel
            let mut sa = Session::<GCounter<String>>::default();
            let to_b: Vec<Repair> = first.iter().flat_map(|m| a.step(&mut sa, m, budget).unwrap().send).collect();
            assert!(matches!(to_b.as_slice(), [Repair::Items(i)] if i.last && i.want.len() == 1), "{to_b:?}");
            let answer = b.step(&mut sb, &to_b[0], budget).unwrap();
            assert!(answer.done);
            assert_eq!(answer.send, vec![Repair::Items(Items { last: true, ..Items::default() })]);
            let end = a.step(&mut sa, &answer.send[0], budget).unwrap();
            assert!(end.done && end.send.is_empty());
            assert_eq!(a.get(&"n0".to_string()), 3, "the raised entry comes with the next push or round");
        }
    }
}
