//! [`GSet`] reconciliation ([`Reconcile`]): the keys are the elements themselves, so a peeled cell *is* a missing
//! element and nothing but cells and the elements the peer lacks ever travel.
//!
//! Messages ([`GSetRepair`]; in JSON one string, a letter naming the step and the base64 of its bytes: `"C…"`,
//! `"E…"`, `"S…"`):
//! - `cells`: a [`CellBatch`];
//! - `elements`: elements the receiver lacks ([`Elements`]), the end of a round;
//! - `state`: part of the sender's whole state, for large differences; the receiver joins it and, after the last
//!   part, answers with `elements` holding exactly what the sender lacks.
//!
//! [`Elements`] wire form: one flag byte (bit 0: last part of the message sequence; bit 1: raw form), then
//! either the set's maximal runs of consecutive integers, each as `varint(gap) · varint(length − 1)`, where `gap`
//! is the distance from the end of the previous run (+1; 0 for the first) to the run's start, or (raw form) every
//! element as 8 bytes little-endian, strictly ascending; whichever is shorter. A random 64-bit element costs 8
//! bytes, a random 32-bit one 2–6, a run of any length at most 20. Decoding is bounded: at most
//! [`MAX_PART_ELEMENTS`] elements per message, whatever its runs claim.

use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};

use crate::coding::CodedPrefix;
use crate::gset::GSet;
use crate::reconcile::{CellBatch, KeySession, KeySet, KeyStep, KeySummary, Reconcile, Step};
use crate::traits::Lattice;
use crate::wire::{Reader, WireError, err, from_base64, put_varint, to_base64, varint_len};

/// The most elements one decoded [`Elements`] message may hold (2^24): a run can describe billions of integers
/// in a few bytes, and a peer must not make us materialise them.
pub const MAX_PART_ELEMENTS: u64 = 1 << 24;

/// Part of a set on the wire (format in the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Elements {
    /// Whether this is the last part of its message sequence.
    pub last: bool,
    /// The elements.
    pub set: GSet,
}

/// One message of a [`GSet`] round after the summary (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub enum GSetRepair {
    /// Coded cells of the sender's set.
    Cells(CellBatch),
    /// Elements the receiver lacks.
    Elements(Elements),
    /// Part of the sender's state.
    State(Elements),
}

/// One side of a [`GSet`] round.
#[derive(Debug, Clone, Default)]
pub struct GSetSession {
    keys: KeySession,
    /// The peer's state received so far (large differences).
    received: GSet,
}

/// The maximal runs of a treemap, ascending.
fn runs(set: &RoaringTreemap) -> impl Iterator<Item = (u64, u64)> + '_ {
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

fn run_len(next: u64, (start, end): (u64, u64)) -> usize {
    varint_len(start - next) + varint_len(end - start)
}

impl Elements {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![u8::from(self.last)];
        let mut next = 0u64;
        for run in runs(&self.set.set) {
            put_run(&mut out, next, run);
            next = run.1.wrapping_add(1);
        }
        let raw = 8 * self.set.len();
        if raw < (out.len() - 1) as u64 {
            out.truncate(0);
            out.push(u8::from(self.last) | 2);
            for x in self.set.iter() {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Elements, WireError> {
        let mut r = Reader::new(bytes);
        let flags = r.u8()?;
        if flags > 3 {
            return Err(err(format!("unknown element flags {flags:#x}")));
        }
        if flags & 2 == 2 {
            return Elements::from_raw(flags & 1 == 1, r.rest());
        }
        let mut set = RoaringTreemap::new();
        let (mut next, mut total, mut ended) = (0u64, 0u64, false);
        while !r.is_empty() {
            let gap = r.varint()?;
            let extra = r.varint()?;
            let start = next.checked_add(gap).filter(|_| !ended).ok_or_else(|| err("run beyond u64"))?;
            let end = start.checked_add(extra).ok_or_else(|| err("run beyond u64"))?;
            total = total.saturating_add(extra + 1);
            if total > MAX_PART_ELEMENTS {
                return Err(err(format!("more than {MAX_PART_ELEMENTS} elements in one message")));
            }
            set.insert_range(start..=end);
            (next, ended) = match end.checked_add(1) {
                Some(n) => (n, false),
                None => (end, true),
            };
        }
        Ok(Elements { last: flags == 1, set: GSet::from_treemap(set) })
    }
}

impl Elements {
    fn from_raw(last: bool, bytes: &[u8]) -> Result<Elements, WireError> {
        if !bytes.len().is_multiple_of(8) || bytes.len() as u64 / 8 > MAX_PART_ELEMENTS {
            return Err(err("raw elements are not whole 8-byte words, or too many"));
        }
        let words = bytes.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")));
        let set = RoaringTreemap::from_sorted_iter(words).map_err(|_| err("raw elements not strictly ascending"))?;
        Ok(Elements { last, set: GSet::from_treemap(set) })
    }
}

impl GSetRepair {
    fn to_bytes(&self) -> Vec<u8> {
        let (letter, mut body) = match self {
            GSetRepair::Cells(b) => (b'C', b.to_bytes()),
            GSetRepair::Elements(e) => (b'E', e.to_bytes()),
            GSetRepair::State(e) => (b'S', e.to_bytes()),
        };
        body.insert(0, letter);
        body
    }
}

impl Serialize for GSetRepair {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = self.to_bytes();
        let mut text = String::with_capacity(1 + bytes.len() * 4 / 3);
        text.push(char::from(bytes[0]));
        text.push_str(&to_base64(&bytes[1..]));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for GSetRepair {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as Deserialize>::deserialize(d)?;
        let parse = |text: &str| -> Result<GSetRepair, WireError> {
            let (letter, rest) = text.split_at_checked(1).ok_or_else(|| err("an empty repair message"))?;
            let bytes = from_base64(rest, 16 << 20)?;
            match letter {
                "C" => Ok(GSetRepair::Cells(CellBatch::from_bytes(&bytes)?)),
                "E" => Ok(GSetRepair::Elements(Elements::from_bytes(&bytes)?)),
                "S" => Ok(GSetRepair::State(Elements::from_bytes(&bytes)?)),
                other => Err(err(format!("unknown repair step {other:?}"))),
            }
        };
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Splits `set` into [`Elements`] parts of at most `budget` bytes of JSON each (and at most
/// [`MAX_PART_ELEMENTS`] elements), the last one flagged. An empty set gives no part.
pub(crate) fn parts(set: &RoaringTreemap, budget: usize) -> Vec<Elements> {
    let room = (budget.saturating_sub(64) * 3 / 4).max(32);
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
    let n = out.len();
    out.into_iter().enumerate().map(|(i, s)| Elements { last: i + 1 == n, set: GSet::from_treemap(s) }).collect()
}

impl KeySet for GSet {
    fn prefix(&self) -> &CodedPrefix {
        GSet::prefix(self)
    }

    fn keys(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        Box::new(self.iter())
    }

    fn has(&self, key: u64) -> bool {
        self.contains(key)
    }

    fn state_bytes(&self) -> usize {
        let mut next = 0u64;
        runs(self.as_treemap()).fold(1, |acc, run| {
            let len = run_len(next, run);
            next = run.1.wrapping_add(1);
            acc + len
        })
    }
}

impl GSet {
    fn state_messages(&self, budget: usize) -> Vec<GSetRepair> {
        let mut out: Vec<GSetRepair> = parts(self.as_treemap(), budget).into_iter().map(GSetRepair::State).collect();
        if out.is_empty() {
            out.push(GSetRepair::State(Elements { last: true, set: GSet::new() }));
        }
        out
    }

    fn key_step(&mut self, step: KeyStep, budget: usize) -> Step<GSetRepair, GSet> {
        let nothing = |send, done| Step { send, done, delta: GSet::new() };
        match step {
            KeyStep::Wait => nothing(vec![], false),
            KeyStep::Cells(batches) => nothing(batches.into_iter().map(GSetRepair::Cells).collect(), false),
            // The peer answers the state with what this side lacks: not done yet.
            KeyStep::State => nothing(self.state_messages(budget), false),
            KeyStep::Decoded(d) => {
                let delta: GSet = d.theirs.into_iter().collect();
                self.join(&delta);
                let mine: RoaringTreemap = d.mine.into_iter().collect();
                let send = parts(&mine, budget).into_iter().map(GSetRepair::Elements).collect();
                Step { send, done: true, delta }
            }
        }
    }

    /// What `part` would add to this set: looked up element by element (O(d log n)) for a part much smaller than
    /// the set, by roaring's difference otherwise.
    pub(crate) fn news(&self, part: &GSet) -> GSet {
        if part.len() <= (self.len() / 64).max(64) {
            part.iter().filter(|&x| !self.contains(x)).collect()
        } else {
            GSet::from_treemap(part.as_treemap() - self.as_treemap())
        }
    }

    /// Joins `part`; returns what it added.
    fn absorb(&mut self, part: &GSet) -> GSet {
        let new = self.news(part);
        self.join(&new);
        new
    }
}

impl Reconcile for GSet {
    type Summary = KeySummary;
    type Repair = GSetRepair;
    type Session = GSetSession;

    fn summary(&self) -> KeySummary {
        KeySummary::of(self.prefix())
    }

    fn open(&self, theirs: &KeySummary, budget: usize) -> Option<(GSetSession, Vec<GSetRepair>)> {
        let (keys, step) = KeySession::open(self, theirs, budget)?;
        let send = match step {
            KeyStep::Cells(batches) => batches.into_iter().map(GSetRepair::Cells).collect(),
            _ => self.state_messages(budget),
        };
        Some((GSetSession { keys, received: GSet::new() }, send))
    }

    fn step(
        &mut self,
        session: &mut GSetSession,
        msg: &GSetRepair,
        budget: usize,
    ) -> Result<Step<GSetRepair, GSet>, WireError> {
        match msg {
            GSetRepair::Cells(batch) => {
                let step = session.keys.on_cells(self, batch, budget)?;
                Ok(self.key_step(step, budget))
            }
            GSetRepair::Elements(part) => {
                let delta = self.absorb(&part.set);
                Ok(Step { send: vec![], done: part.last, delta })
            }
            GSetRepair::State(part) => {
                let delta = self.absorb(&part.set);
                session.received.join(&part.set);
                if !part.last {
                    return Ok(Step { send: vec![], done: false, delta });
                }
                let lacking = self.as_treemap() - session.received.as_treemap();
                let send = parts(&lacking, budget).into_iter().map(GSetRepair::Elements).collect();
                Ok(Step { send, done: true, delta })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_parts_round_trip_and_respect_the_budget() {
        let set: RoaringTreemap =
            (0..5000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).chain(10..100_000).chain([u64::MAX]).collect();
        let parts = parts(&set, 2000);
        assert!(parts.len() > 3);
        let mut back = GSet::new();
        for (i, p) in parts.iter().enumerate() {
            let text = serde_json::to_string(&GSetRepair::Elements(p.clone())).unwrap();
            assert!(text.len() <= 2000, "{}", text.len());
            let GSetRepair::Elements(decoded) = serde_json::from_str(&text).unwrap() else { panic!("{text}") };
            assert_eq!(&decoded, p);
            assert_eq!(decoded.last, i + 1 == parts.len());
            back.join(&decoded.set);
        }
        assert_eq!(back.as_treemap(), &set);
    }

    #[test]
    fn element_decoding_refuses_runs_past_the_cap_or_past_u64() {
        let encode = |runs: &[(u64, u64)]| {
            let mut bytes = vec![1u8];
            for &(gap, extra) in runs {
                put_varint(&mut bytes, gap);
                put_varint(&mut bytes, extra);
            }
            bytes
        };
        assert!(Elements::from_bytes(&encode(&[(1, MAX_PART_ELEMENTS)])).is_err(), "past the cap");
        assert!(Elements::from_bytes(&encode(&[(u64::MAX - 1, 4)])).is_err(), "past u64::MAX");
        assert!(Elements::from_bytes(&encode(&[(u64::MAX, 0), (0, 0)])).is_err(), "a run after u64::MAX");
        assert!(Elements::from_bytes(&[4]).is_err(), "unknown flags");
        assert!(Elements::from_bytes(&[3, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]).is_err(), "raw repeats");
        assert!(Elements::from_bytes(&[3, 1, 0]).is_err(), "raw part word");
        assert!(Elements::from_bytes(&[1, 2]).is_err(), "truncated run");
        let ok = Elements::from_bytes(&encode(&[(1, 0), (3, 2), (u64::MAX - 10, 0)])).unwrap();
        assert_eq!(ok.set.iter().collect::<Vec<_>>(), vec![1, 5, 6, 7, u64::MAX - 2]);
    }
}
