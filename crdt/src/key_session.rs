//! One side of a reconciliation round over coded keys ([`KeySession`]; the protocol is in [`crate::reconcile`]),
//! the wire forms of its summary, cell batches and requests, and how the first batch is sized.

use crate::coding::{
    CHECK_BYTES, Cell, CodedPrefix, Difference, PREFIX_CELLS, Peeled, SetHash, Space, cells_from, estimate, peel,
};
use crate::sketch::{SKETCH_BUCKETS, SUMMARY_BUCKETS};
use crate::wire::{Reader, WireError, base64_serde, err, put_varint, varint_len};

/// The most cells a session accepts from a peer, or is asked for (11 MiB of them): a bound on what a peer can
/// make us hold or compute.
pub const MAX_CELLS: usize = 1 << 20;

/// The summary of a replica's keys: count and set hash (equality), and its sketch folded to 16 buckets
/// (difference size). JSON: one base64 string of `varint(len) · hash (8 bytes LE) · 16 sketch bytes`, at most 46
/// characters (48 bytes with the quotes; 40 for fewer than 2^21 keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySummary {
    /// Count and hash of the keys.
    pub set: SetHash,
    /// The sketch, folded.
    pub sketch: [u8; SUMMARY_BUCKETS],
}

impl KeySummary {
    /// The summary of a coded prefix.
    pub fn of(prefix: &CodedPrefix) -> KeySummary {
        let mut sketch = [0u8; SUMMARY_BUCKETS];
        sketch.copy_from_slice(&prefix.sketch().fold(SUMMARY_BUCKETS));
        KeySummary { set: prefix.set_hash(), sketch }
    }

    fn to_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(34);
        put_varint(&mut out, self.set.len);
        out.extend_from_slice(&self.set.hash.to_le_bytes());
        out.extend_from_slice(&self.sketch);
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<KeySummary, WireError> {
        let mut r = Reader::new(bytes);
        let set = SetHash { len: r.varint()?, hash: r.u64()? };
        let sketch = r.take::<SUMMARY_BUCKETS>()?;
        r.end()?;
        Ok(KeySummary { set, sketch })
    }

    /// Bytes of its JSON text.
    fn json_len(&self) -> usize {
        2 + base64_len(varint_len(self.set.len) + 8 + SUMMARY_BUCKETS)
    }
}

base64_serde!(KeySummary, 64);

/// Characters of the unpadded base64 of `n` bytes.
fn base64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// Cells `at..at + cells.len()` of the sender's coding, part of a batch that ends at `upto`, and the sender's
/// set hash when the receiver may not know it (the responder's batches). Each sum is sent in `width` bytes (the
/// widest sum of the batch: 8 for 64-bit keys, fewer for small ones), each checksum in 3. Wire:
/// `varint(at) · varint(upto) · flags (bits 0–3: width; bit 4: a hash follows) · [hash, 8 bytes LE] · cells`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellBatch {
    hash: Option<u64>,
    at: usize,
    upto: usize,
    cells: Vec<Cell>,
}

const WITH_HASH: u8 = 16;

impl CellBatch {
    /// The end of the batch this part belongs to: the receiver's decode, once every part is in, adds at most this
    /// many keys to its replica (a cap check before [`crate::Reconcile::step`]).
    pub fn upto(&self) -> usize {
        self.upto
    }

    fn width(&self) -> usize {
        let widest = self.cells.iter().map(|c| c.sum()).fold(0, |a, b| a | b);
        (64 - widest.leading_zeros() as usize).div_ceil(8).max(1)
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let width = self.width();
        let mut out = Vec::with_capacity(24 + self.cells.len() * (width + CHECK_BYTES));
        put_varint(&mut out, self.at as u64);
        put_varint(&mut out, self.upto as u64);
        out.push(width as u8 | if self.hash.is_some() { WITH_HASH } else { 0 });
        if let Some(h) = self.hash {
            out.extend_from_slice(&h.to_le_bytes());
        }
        for c in &self.cells {
            c.write(&mut out, width);
        }
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<CellBatch, WireError> {
        let mut r = Reader::new(bytes);
        let at = usize::try_from(r.varint()?).map_err(|_| err("cell index"))?;
        let upto = usize::try_from(r.varint()?).map_err(|_| err("cell index"))?;
        let flags = r.u8()?;
        let width = usize::from(flags & 15);
        if !(1..=8).contains(&width) || flags & !(15 | WITH_HASH) != 0 {
            return Err(err(format!("cell flags {flags:#x}: width not in 1..=8, or unknown bits")));
        }
        let hash = if flags & WITH_HASH != 0 { Some(r.u64()?) } else { None };
        let rest = r.rest();
        let record = width + CHECK_BYTES;
        if !rest.len().is_multiple_of(record) {
            return Err(err("cells do not fill whole records"));
        }
        let n = rest.len() / record;
        if at.checked_add(n).is_none_or(|end| end > upto) || upto > MAX_CELLS {
            return Err(err(format!("cells {at}..{at}+{n} outside the batch ..{upto} (at most {MAX_CELLS})")));
        }
        let cells = rest.chunks_exact(record).map(|rec| Cell::read(rec, width)).collect();
        Ok(CellBatch { hash, at, upto, cells })
    }
}

/// A request for the receiver's cells up to `upto` (after those it sent: more cells after a failed decode), or,
/// when `sketch` is not empty (the responder's first message), for as many as the difference estimated from this
/// finer fold of the responder's sketch calls for. Wire:
/// `varint(upto) · sketch (0 or a power of two up to 4096 bytes)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    upto: usize,
    sketch: Vec<u8>,
}

impl Want {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 + self.sketch.len());
        put_varint(&mut out, self.upto as u64);
        out.extend_from_slice(&self.sketch);
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Want, WireError> {
        let mut r = Reader::new(bytes);
        let upto = usize::try_from(r.varint()?).map_err(|_| err("cell count"))?;
        let sketch = r.rest().to_vec();
        if !(sketch.is_empty() || sketch.len().is_power_of_two() && sketch.len() <= SKETCH_BUCKETS) {
            return Err(err(format!("a sketch of {} buckets (a power of two up to {SKETCH_BUCKETS})", sketch.len())));
        }
        if upto > MAX_CELLS || (upto == 0 && sketch.is_empty()) {
            return Err(err(format!("a request for {upto} cells (1..={MAX_CELLS}, or a sketch)")));
        }
        Ok(Want { upto, sketch })
    }

    fn json_len(&self) -> usize {
        3 + base64_len(varint_len(self.upto as u64) + self.sketch.len())
    }
}

/// What a key set offers the key session that reconciles it. Public so that a composite type outside this crate
/// can reconcile by keys too (see [`crate::repair::Keyed`]).
pub trait KeySet {
    /// The incrementally kept prefix (built on first use).
    fn prefix(&self) -> &CodedPrefix;
    /// Every key, for cells beyond the prefix.
    fn keys(&self) -> Box<dyn Iterator<Item = (Space, u64)> + '_>;
    /// Whether a key is one of this set's (for a decoded key: ours or the peer's); built once per decode.
    fn membership(&self) -> Box<dyn Fn(Space, u64) -> bool + '_>;
    /// Bytes of sending the whole state; may walk the set (called only for large differences).
    fn state_bytes(&self) -> usize;
    /// Bytes of the widest key (8 for hashed keys).
    fn key_width(&self) -> usize;
    /// Whether every key is an element (no hashed keys to exchange for records after decoding).
    fn keys_are_items(&self) -> bool;

    /// Cells `from..to` of this set.
    fn cells(&self, from: usize, to: usize) -> Vec<Cell> {
        let prefix = self.prefix().cells();
        let mut out: Vec<Cell> = prefix[from.min(PREFIX_CELLS)..to.min(PREFIX_CELLS)].to_vec();
        if to > PREFIX_CELLS {
            out.extend(cells_from(self.keys(), from.max(PREFIX_CELLS), to));
        }
        out
    }
}

/// Bytes of an integer key.
pub(crate) fn width_of(x: u64) -> usize {
    (64 - x.leading_zeros() as usize).div_ceil(8).max(1)
}

/// What a [`KeySession`] step asks its caller to do.
#[derive(Debug)]
pub(crate) enum KeyStep {
    /// Nothing yet (more parts of a batch to come).
    Wait,
    /// Send these cell batches.
    Cells(Vec<CellBatch>),
    /// Ask the peer for its cells.
    Want(Want),
    /// The difference is known: apply `theirs`, send the peer `mine`.
    Decoded(Difference),
    /// Send the whole state instead (cells would cost more).
    State,
}

/// One side's state of a key reconciliation (see [`crate::reconcile`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct KeySession {
    /// Whether this side opened the round as the responder (its batches carry its set hash).
    responder: bool,
    /// The peer's set hash, once known (from its summary or a batch).
    peer: Option<u64>,
    peer_cells: Vec<Cell>,
    upto: usize,
    /// Cells of ours the peer holds (`..sent`).
    sent: usize,
}

/// Cells that fit one message of `budget` bytes (the base64 text of a batch's bytes), at least one.
fn cells_per_message(budget: usize, width: usize) -> usize {
    let bytes = budget.saturating_sub(64) * 3 / 4;
    (bytes.saturating_sub(32) / (width + CHECK_BYTES)).max(1)
}

/// Whether sending `cells` cells costs at least the state; walks the set only when the cells could cost a
/// noticeable share of it (1 byte per element: far above what any d ≤ n/100 needs).
fn state_is_cheaper<S: KeySet + ?Sized>(set: &S, cells: usize) -> bool {
    let cell_bytes = cells.saturating_mul(8 + CHECK_BYTES);
    cell_bytes as u64 >= set.prefix().set_hash().len / 8 && cell_bytes >= set.state_bytes()
}

impl KeySession {
    /// Whether this side is the round's responder.
    pub(crate) fn is_responder(&self) -> bool {
        self.responder
    }

    /// The responder's first step (see [`crate::reconcile`]). `None` when the summaries agree.
    pub(crate) fn open<S: KeySet + ?Sized>(
        set: &S,
        theirs: &KeySummary,
        budget: usize,
    ) -> Option<(KeySession, KeyStep)> {
        let mine = KeySummary::of(set.prefix());
        if mine == *theirs {
            return None;
        }
        let mut session = KeySession { responder: true, peer: Some(theirs.set.hash), ..KeySession::default() };
        if theirs.set.len == 0 {
            return Some((session, KeyStep::State));
        }
        let plan = plan(&mine, theirs, set, budget);
        let k = match &plan {
            Plan::Send(k) => *k,
            Plan::Ask(want) => want.upto,
        };
        if state_is_cheaper(set, k) {
            return Some((session, KeyStep::State));
        }
        match plan {
            Plan::Send(k) => {
                let batches = session.send_cells(set, k, budget);
                Some((session, KeyStep::Cells(batches)))
            }
            Plan::Ask(want) => Some((session, KeyStep::Want(want))),
        }
    }

    /// The answer to a [`Want`]: this side's cells from where it stopped to the requested end (the initiator's
    /// first batch, sized from the request's sketch if it carries one; or more cells after a failed decode).
    pub(crate) fn on_want<S: KeySet + ?Sized>(
        &mut self,
        set: &S,
        want: &Want,
        budget: usize,
    ) -> Result<KeyStep, WireError> {
        let k = if want.sketch.is_empty() {
            want.upto
        } else {
            if self.responder || self.sent > 0 {
                return Err(err("a request with a sketch after the round's first batch"));
            }
            let own = set.prefix().sketch().fold(want.sketch.len());
            let summary = KeySummary::of(set.prefix()).json_len();
            refined_batch(estimate(&own, &want.sketch), want.sketch.len(), summary + want.json_len(), set.key_width())
        };
        if k <= self.sent {
            return Err(err(format!("a request for cells ..{k} when ..{} were sent", self.sent)));
        }
        if self.sent == 0 && state_is_cheaper(set, k) {
            return Ok(KeyStep::State);
        }
        Ok(KeyStep::Cells(self.send_cells(set, k, budget)))
    }

    /// Handles a batch of the peer's cells.
    pub(crate) fn on_cells<S: KeySet + ?Sized>(&mut self, set: &S, batch: &CellBatch) -> Result<KeyStep, WireError> {
        if batch.at != self.peer_cells.len() {
            return Err(err(format!("cells from {} when {} were expected", batch.at, self.peer_cells.len())));
        }
        if batch.upto < self.upto {
            return Err(err("a batch that ends before the previous one"));
        }
        if let Some(h) = batch.hash {
            self.peer = Some(h);
        }
        let Some(peer) = self.peer else { return Err(err("cells without the sender's set hash")) };
        self.upto = batch.upto;
        self.peer_cells.extend_from_slice(&batch.cells);
        if self.peer_cells.len() < self.upto {
            return Ok(KeyStep::Wait);
        }
        let k = self.upto;
        let mine = set.cells(0, k);
        let diff: Vec<Cell> = self.peer_cells.iter().zip(&mine).map(|(t, m)| t.minus(*m)).collect();
        let estimate = match peel(diff, set.membership()) {
            // A decode adds at most as many keys as there are cells: the bound a capped replica checks a batch by.
            Peeled::Done(d) if d.theirs.len() <= k && verify(set, &d, peer) => return Ok(KeyStep::Decoded(d)),
            Peeled::Done(_) => k as f64, // a false decode: caught by the set hash
            Peeled::Stuck { estimate, .. } => estimate,
        };
        // The code is rateless: ask the same sender for the cells after these, enough for the estimate.
        let next = (k + k.div_ceil(4)).max(k + 2).max(cells_p99(estimate * 1.1)).min(MAX_CELLS);
        if next <= k || state_is_cheaper(set, next) {
            return Ok(KeyStep::State);
        }
        Ok(KeyStep::Want(Want { upto: next, sketch: Vec::new() }))
    }

    /// This side's cells `sent..upto`, split to the budget; the peer will hold `..upto`.
    fn send_cells<S: KeySet + ?Sized>(&mut self, set: &S, upto: usize, budget: usize) -> Vec<CellBatch> {
        let cells = set.cells(self.sent, upto);
        // The initiator knows the responder's set hash only from the responder's first batch.
        let hash = (self.responder && self.sent == 0).then(|| set.prefix().set_hash().hash);
        let probe = CellBatch { hash, at: 0, upto, cells: cells.clone() };
        let per = cells_per_message(budget, probe.width());
        let mut out = Vec::new();
        for (i, chunk) in cells.chunks(per).enumerate() {
            let hash = if i == 0 { hash } else { None };
            out.push(CellBatch { hash, at: self.sent + i * per, upto, cells: chunk.to_vec() });
        }
        self.sent = upto;
        out
    }
}

/// Whether a peeled difference is consistent with the peer's set hash (a wrong key peeled from a cell that only
/// looked pure, or a forged batch, fails it).
fn verify<S: KeySet + ?Sized>(set: &S, d: &Difference, peer: u64) -> bool {
    let mut expect = set.prefix().set_hash();
    for (space, x) in d.theirs.iter() {
        expect.add(space, x);
    }
    for (space, x) in d.mine.iter() {
        expect.remove(space, x);
    }
    expect.hash == peer
}

/// Cells that decode `d` differences in about half of the trials (a fit of the measured medians, benches/README.md:
/// 3 for d = 2, 16 for 10, 146 for 100, 1379 for 1000).
pub(crate) fn cells_p50(d: f64) -> usize {
    if d <= 1.0 { 1 } else { ((1.38 * d + 0.8 * d.sqrt() - 0.5).ceil() as usize).min(MAX_CELLS) }
}

/// Cells that decode `d` differences in about 99 % of the trials (a fit of the measured 99th percentiles: 8 for
/// d = 2, 33 for 10, 179 for 100, 1469 for 1000).
pub(crate) fn cells_p99(d: f64) -> usize {
    if d <= 1.0 { 1 } else { ((1.38 * d + 4.0 * d.sqrt() + 2.0).ceil() as usize).min(MAX_CELLS) }
}

/// The largest number of cells of `width`-byte sums whose batch (with `header` bytes) fits in `json` bytes of
/// JSON.
fn cells_within(json: f64, header: usize, width: usize) -> usize {
    let raw = ((json - 3.0) * 3.0 / 4.0).floor() - header as f64;
    if raw <= 0.0 { 0 } else { (raw / (width + CHECK_BYTES) as f64) as usize }
}

/// JSON bytes of `n` elements of `width` bytes in one message.
fn items_json(n: f64, width: usize) -> f64 {
    if n < 0.5 { 0.0 } else { 3.0 + ((1.0 + n * width as f64) * 4.0 / 3.0).ceil() }
}

/// The byte target of a round with `d` differences.
fn target(d: f64) -> f64 {
    64.0 + 40.0 * d
}

/// Below this many estimated differences a symmetric round is sized from the summary's sketch alone.
const REFINE_MIN: f64 = 16.0;

/// How the responder opens a round that is not silent.
enum Plan {
    /// Send the first `k` cells (the initiator decodes).
    Send(usize),
    /// Ask for the initiator's cells (the responder decodes).
    Ask(Want),
}

/// The first batch, between `cells_p50(d)` and `cells_p99(d)`: as large as `json` bytes of JSON afford.
fn batch(json: f64, header: usize, width: usize, d: f64) -> usize {
    cells_within(json, header, width).max(cells_p50(d)).min(cells_p99(d))
}

/// The responder's plan (see [`crate::reconcile`]); a request's sketch fits in one message of `budget` bytes.
fn plan<S: KeySet + ?Sized>(mine: &KeySummary, theirs: &KeySummary, set: &S, budget: usize) -> Plan {
    let (na, nb) = (theirs.set.len, mine.set.len);
    let net = na.abs_diff(nb) as f64;
    let sketch = estimate(&mine.sketch, &theirs.sketch);
    // One-sided, the sketch estimates `net` itself, with variance 2·net·(net − 1)/16: beyond three deviations (and
    // one more key) the difference is taken for symmetric, and the sketch for its size.
    let one_sided = sketch <= net + 3.0 * (net * (net - 1.0).max(0.0) / 8.0).sqrt() + 1.0;
    // Equal hashes of equal counts differ by at least two keys.
    let d = if one_sided { net.max(if net == 0.0 { 2.0 } else { 1.0 }) } else { sketch.max(2.0) };
    let (w, summary) = (set.key_width(), theirs.json_len() as f64);
    let hashed_header = 3 + 8;
    if !set.keys_are_items() {
        return Plan::Send(cells_p99(if one_sided { d } else { d * 1.3 }));
    }
    let ask = |upto| Plan::Ask(Want { upto, sketch: Vec::new() });
    if one_sided {
        let want = 3.0 + base64_len(3) as f64;
        // The responder decodes and ends the round with an empty part (`"EAQ"`, 5 bytes; crate::repair).
        let answer = 5.0;
        return if na > nb {
            ask(batch(target(d) - summary - want - answer, 3, w, d))
        } else {
            Plan::Send(batch(target(d) - summary, hashed_header, w, d))
        };
    }
    let room = (budget.saturating_sub(64) * 3 / 4).saturating_sub(4).min(SKETCH_BUCKETS);
    let m = ((2.0 * d).min(SKETCH_BUCKETS as f64) as usize).next_power_of_two().clamp(32, SKETCH_BUCKETS);
    if d < REFINE_MIN || room < 32 {
        let back = items_json((d - net) / 2.0, w);
        let want = 3.0 + base64_len(3) as f64;
        return if na >= nb {
            ask(batch(target(d) - summary - want - back, 3, w, d))
        } else {
            Plan::Send(batch(target(d) - summary - back, hashed_header, w, d))
        };
    }
    let m = if m > room { (room + 1).next_power_of_two() / 2 } else { m };
    let sketch = set.prefix().sketch().fold(m);
    Plan::Ask(Want { upto: 0, sketch })
}

/// The initiator's batch for a [`Want`] that carries a sketch of `m` buckets whose comparison with its own
/// estimates `d` differences (relative deviation `sqrt(2/m)`); `spent` bytes of JSON went to the summary and
/// the request.
fn refined_batch(d: f64, m: usize, spent: usize, width: usize) -> usize {
    let d = d.max(2.0);
    let sd = (2.0 / m as f64).sqrt();
    let back = items_json(d / 2.0, width);
    let fits = cells_within(target(d * (1.0 - sd)) - spent as f64 - back, 3, width);
    fits.max(cells_p50(d * (1.0 + sd))).min(cells_p99(d * (1.0 + 2.0 * sd)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_and_request_decoding_refuses_bad_shapes() {
        let good = CellBatch { hash: Some(7), at: 0, upto: 2, cells: vec![Cell::default(); 2] };
        assert_eq!(CellBatch::from_bytes(&good.to_bytes()).unwrap(), good);
        let mut bytes = good.to_bytes();
        bytes[2] = 0x29; // unknown flag bit
        assert!(CellBatch::from_bytes(&bytes).is_err());
        assert!(CellBatch::from_bytes(&[0, 1, 1, 0, 0]).is_err(), "a record short");
        assert!(CellBatch::from_bytes(&[1, 1, 1, 0, 0, 0, 0]).is_err(), "past the batch");
        assert!(Want::from_bytes(&[0]).is_err(), "zero cells and no sketch");
        assert!(Want::from_bytes(&[0, 1, 2, 3]).is_err(), "a sketch of 3 buckets");
        assert_eq!(Want::from_bytes(&[5]).unwrap(), Want { upto: 5, sketch: vec![] });
    }

    #[test]
    fn the_sizes_fitted_to_the_measurements_bracket_the_measured_quantiles() {
        for (d, p50, p99) in [(2.0, 3, 8), (10.0, 16, 33), (100.0, 146, 179), (1000.0, 1379, 1469)] {
            assert!(cells_p50(d).abs_diff(p50) * 20 <= p50.max(20), "p50 {d}: {}", cells_p50(d));
            assert!(cells_p99(d) >= p99 * 3 / 4 && cells_p99(d) <= p99 + p99 / 4 + 3, "p99 {d}: {}", cells_p99(d));
        }
    }
}
