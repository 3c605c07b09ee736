//! One side of a reconciliation round over coded keys ([`KeySession`]; the protocol is in [`crate::reconcile`]),
//! the wire forms of its summary, cell batches and requests, and how the first batch is sized.

use crate::coding::{
    CHECK_BYTES, Cell, CodedPrefix, Difference, PREFIX_CELLS, Peeled, SetHash, Space, cells_from, estimate, peel,
};
use crate::sketch::{SKETCH_BUCKETS, SUMMARY_BUCKETS, SUMMARY_PARITIES, estimate_from_parities};
use crate::wire::{Reader, WireError, base64_serde, err, put_varint, varint_len};

/// The most cells a session accepts from a peer, or is asked for (11 MiB of them): a bound on what a peer can
/// make us hold or compute.
pub const MAX_CELLS: usize = 1 << 20;

/// Bytes of a summary's sketch: the sketch folded to [`SUMMARY_BUCKETS`] signed buckets (the size of any
/// difference, ±50 %), then its parity map at [`SUMMARY_PARITIES`] buckets (small differences, nearly exactly).
pub(crate) const SUMMARY_SKETCH_BYTES: usize = SUMMARY_BUCKETS + SUMMARY_PARITIES / 8;

/// The summary of a replica's keys: count and set hash (equality), and its sketch (difference size). JSON: one
/// base64 string of `varint(len) · hash (8 bytes LE) · 16 sketch bytes`, at most 46 characters (48 bytes with
/// the quotes; 40 for fewer than 2^21 keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySummary {
    /// Count and hash of the keys.
    pub set: SetHash,
    /// The sketch: [`SUMMARY_BUCKETS`] folded buckets, then the parity map of [`SUMMARY_PARITIES`] buckets.
    pub sketch: [u8; SUMMARY_SKETCH_BYTES],
}

impl KeySummary {
    /// The summary of a coded prefix.
    pub fn of(prefix: &CodedPrefix) -> KeySummary {
        let mut sketch = [0u8; SUMMARY_SKETCH_BYTES];
        sketch[..SUMMARY_BUCKETS].copy_from_slice(&prefix.sketch().fold(SUMMARY_BUCKETS));
        sketch[SUMMARY_BUCKETS..].copy_from_slice(&prefix.sketch().parities(SUMMARY_PARITIES));
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
        let sketch = r.take::<SUMMARY_SKETCH_BYTES>()?;
        r.end()?;
        Ok(KeySummary { set, sketch })
    }

    /// Bytes of its JSON text.
    fn json_len(&self) -> usize {
        2 + base64_len(varint_len(self.set.len) + 8 + SUMMARY_SKETCH_BYTES)
    }
}

base64_serde!(KeySummary, 64);

/// Characters of the unpadded base64 of `n` bytes.
fn base64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// Cells `at..at + cells.len()` of the sender's coding, part of a batch that ends at `upto`, and, on a part that
/// starts at cell 0 (a round's first batch, or a batch resent because the sender's set changed), the sender's set
/// hash at the time it computed the cells: the hash a decode of these cells is checked against. Each sum is sent
/// in `width` bytes (the widest sum of the batch: 8 for 64-bit keys, fewer for small ones), each checksum in 3. Wire:
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
        if n == 0 {
            return Err(err("a batch part without cells"));
        }
        if at.checked_add(n).is_none_or(|end| end > upto) || upto > MAX_CELLS {
            return Err(err(format!("cells {at}..{at}+{n} outside the batch ..{upto} (at most {MAX_CELLS})")));
        }
        let cells = rest.chunks_exact(record).map(|rec| Cell::read(rec, width)).collect();
        Ok(CellBatch { hash, at, upto, cells })
    }
}

/// A request for the receiver's cells up to `upto` (after those it sent: more cells after a failed decode), or,
/// when `sketch` is not empty (the responder's first message), for as many as the difference estimated from this
/// larger parity map of the responder's sketch calls for ([`crate::coding::Sketch::parities`]), or, with neither (`upto = 0`, the responder's first message),
/// for the receiver's whole state: the difference is large and the receiver holds more. Wire:
/// `varint(upto) · parity map (0 or a power of two up to 512 bytes)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    upto: usize,
    sketch: Vec<u8>,
}

impl Want {
    /// The request for the receiver's state.
    const STATE: Want = Want { upto: 0, sketch: Vec::new() };

    /// The end of the batch asked for (0 with a sketch: the receiver sizes it).
    #[cfg(test)]
    pub(crate) fn upto(&self) -> usize {
        self.upto
    }

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
        if !(sketch.is_empty() || sketch.len().is_power_of_two() && sketch.len() <= SKETCH_BUCKETS / 8) {
            let most = SKETCH_BUCKETS / 8;
            return Err(err(format!("a parity map of {} bytes (a power of two up to {most})", sketch.len())));
        }
        if upto > MAX_CELLS {
            return Err(err(format!("a request for {upto} cells (at most {MAX_CELLS})")));
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
    /// Whether this side opened the round as the responder.
    responder: bool,
    /// The peer's set hash, once known (from its summary, then from the batch that starts at cell 0).
    peer: Option<u64>,
    /// The hash of this side's set when it computed the cells it sent (`..sent`): when the set has changed by the
    /// time the peer asks for more, the cells already sent no longer match it, so the batch starts again at 0.
    sent_hash: Option<u64>,
    peer_cells: Vec<Cell>,
    upto: usize,
    /// Cells of ours the peer holds (`..sent`).
    sent: usize,
    /// Which batch of the peer's this side takes next.
    expect: Expect,
    /// Whether this side decoded or chose the state: no more cells or requests are taken.
    over: bool,
}

/// Which new batch of cells a [`KeySession`] accepts (its parts after the first end where the first does): only
/// the batches it asked for, so that a peer cannot make it decode again, or for ever, without new cells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Expect {
    /// The initiator's first batch, from a responder that decodes nothing itself (any size up to [`MAX_CELLS`]:
    /// the peer pays for every cell, once per round).
    #[default]
    First,
    /// The batch up to exactly this end (asked for by a request without a sketch).
    Upto(usize),
    /// The initiator's batch for a request with a sketch: it sizes the batch, up to this end.
    AtMost(usize),
    /// None.
    Nothing,
}

/// The largest request for more cells a side answers after sending `sent`: a failed decode asks for at most
/// `cells_p99(1.1 · (2·sent + 2))`, about `3.04·sent + 6·sqrt(sent) + 6`, which this bounds for every `sent`.
fn max_more(sent: usize) -> usize {
    sent.saturating_mul(4).saturating_add(64).min(MAX_CELLS)
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

/// Whether a responder whose keys are hashes (counters: [`KeySet::keys_are_items`] is false) should send its
/// state, or ask for the initiator's, rather than open a coded round of `cells` cells for `d` differing keys.
/// Such a round costs more than its cells: the decoder then trades records for keys (its records the responder
/// lacks, 8 bytes per key it wants; the responder's records back), two more messages. At a few dozen replicas
/// the whole vector costs less than that (a raised entry is two differing keys: 11 cells, two records and a
/// key, ~220 B of JSON, against 179 B for 20 replicas' vector). Both sides' costs are estimated as JSON from
/// the responder's average record; the walk of the set is skipped when the state is far larger.
fn state_beats_trade<S: KeySet + ?Sized>(set: &S, theirs: &KeySummary, cells: usize, d: f64) -> bool {
    let (na, nb) = (theirs.set.len as f64, set.prefix().set_hash().len as f64);
    let json = |raw: f64| 3.0 + (raw.max(0.0) * 4.0 / 3.0).ceil();
    // The initiator lacks `a_lacks` of the responder's keys (it wants them by key and gets their records), the
    // responder `b_lacks` of the initiator's (whose records come with the request).
    let a_lacks = ((d + nb - na) / 2.0).clamp(0.0, d);
    let b_lacks = d - a_lacks;
    let cells_json = json(13.0 + cells as f64 * (set.key_width() + CHECK_BYTES) as f64);
    let trade = |record: f64| {
        let answer = if a_lacks > 0.0 { json(3.0 + a_lacks * record) } else { 0.0 };
        cells_json + json(5.0 + 8.0 * a_lacks + b_lacks * record) + answer
    };
    // Every record takes at least 3 bytes with its length (count varint, the id's JSON, say `1`): a state of at
    // least that many bytes per key above what the trade costs at that size is never cheaper.
    let larger = na.max(nb);
    if json(4.0 + 3.0 * larger) > trade(3.0) + 3.0 * (d + 2.0) * 4.0 / 3.0 + 16.0 {
        return false;
    }
    let state = set.state_bytes() as f64;
    let record = if nb > 0.0 { state / nb } else { 3.0 };
    // The side with more keys sends its state; the responder asks for the initiator's with a 5-byte request and
    // ends the round with a 5-byte empty part if it has nothing to send back.
    let state_json = if na > nb { 10.0 + json(4.0 + na * record) } else { json(4.0 + state) };
    state_json <= trade(record)
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
        session.expect = Expect::Nothing;
        if theirs.set.len == 0 {
            session.over = true;
            return Some((session, KeyStep::State));
        }
        let plan = plan(&mine, theirs, set, budget);
        let k = match &plan {
            Plan::Send(k) => *k,
            Plan::Ask(want) => want.upto,
        };
        if state_is_cheaper(set, k)
            || !set.keys_are_items() && state_beats_trade(set, theirs, k, difference_size(&mine, theirs).1)
        {
            // The side with more keys sends its state, and the other answers with what it holds beyond it: a
            // replica that holds a tenth of a run of integers gets the run in a few bytes instead of the other
            // nine tenths element by element. (An empty side sends its empty state: the same bytes, and the
            // other side's answer ends the round.)
            let ask = theirs.set.len > mine.set.len && mine.set.len > 0;
            let step = if ask { KeyStep::Want(Want::STATE) } else { KeyStep::State };
            session.over = !ask;
            return Some((session, step));
        }
        match plan {
            Plan::Send(k) => {
                let batches = session.send_cells(set, k, budget);
                Some((session, KeyStep::Cells(batches)))
            }
            Plan::Ask(want) => {
                session.expect = if want.sketch.is_empty() {
                    Expect::Upto(want.upto)
                } else {
                    // The initiator's refined batch is at most `cells_p99(1.5 · d)` for its estimate `d` of the
                    // difference, about `n_A + n_B` at most: this bound leaves it a factor of 2.6 to spare.
                    let keys = theirs.set.len.saturating_add(mine.set.len);
                    Expect::AtMost(cells_p99(4.0 * keys as f64 + 16.0))
                };
                Some((session, KeyStep::Want(want)))
            }
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
        if *want == Want::STATE {
            if self.responder || self.sent > 0 || self.over {
                return Err(err("a request for the state after the round's first message"));
            }
            self.over = true;
            self.expect = Expect::Nothing;
            return Ok(KeyStep::State);
        }
        let k = if want.sketch.is_empty() {
            want.upto
        } else {
            if self.responder || self.sent > 0 {
                return Err(err("a request with a sketch after the round's first batch"));
            }
            let m = 8 * want.sketch.len();
            let (z, d) = estimate_from_parities(&set.prefix().sketch().parities(m), &want.sketch);
            let summary = KeySummary::of(set.prefix()).json_len();
            // A saturated map says only that the difference is large: at least `m/2` keys.
            let d = d.unwrap_or(f64::from(z).max(m as f64 / 2.0));
            refined_batch(d, m, summary + want.json_len(), set.key_width())
        };
        if self.over {
            return Err(err("a request after this side sent its state"));
        }
        if k <= self.sent {
            return Err(err(format!("a request for cells ..{k} when ..{} were sent", self.sent)));
        }
        if self.sent > 0 && k > max_more(self.sent) {
            return Err(err(format!(
                "a request for cells ..{k} after ..{}: more than any failed decode asks",
                self.sent
            )));
        }
        // A side that sends cells decodes nothing: it takes no cells. On every request (not only the first: a
        // peer could otherwise ask a small replica for megabytes of cells), the state when it costs less.
        self.expect = Expect::Nothing;
        if state_is_cheaper(set, k) {
            self.over = true;
            return Ok(KeyStep::State);
        }
        // A write since the cells `..sent` were computed: appending cells of the new set to those of the old
        // would make a code that decodes neither, so the whole batch is resent, with the new hash.
        if self.sent_hash != Some(set.prefix().set_hash().hash) {
            self.sent = 0;
        }
        Ok(KeyStep::Cells(self.send_cells(set, k, budget)))
    }

    /// Handles a batch of the peer's cells.
    pub(crate) fn on_cells<S: KeySet + ?Sized>(&mut self, set: &S, batch: &CellBatch) -> Result<KeyStep, WireError> {
        if self.over {
            return Err(err("cells after this side decoded or sent its state"));
        }
        // A batch from cell 0 with a hash, where a new batch may start, replaces the cells taken so far (the
        // sender's set changed after it sent them).
        let between = self.peer_cells.len() == self.upto;
        let restart = between && batch.at == 0 && batch.hash.is_some();
        let from = if restart { 0 } else { self.peer_cells.len() };
        if batch.at != from {
            return Err(err(format!("cells from {} when {from} were expected", batch.at)));
        }
        if between {
            // A new batch (parts are never empty, so it brings new cells): only the one this side asked for.
            let asked = match self.expect {
                Expect::First => true,
                Expect::Upto(upto) => batch.upto == upto,
                Expect::AtMost(most) => batch.upto <= most,
                Expect::Nothing => false,
            };
            if !asked {
                return Err(err(format!("a batch ..{} this side did not ask for ({:?})", batch.upto, self.expect)));
            }
            self.expect = Expect::Nothing;
        } else if batch.upto != self.upto {
            return Err(err(format!("a part of a batch ..{} within the batch ..{}", batch.upto, self.upto)));
        }
        if restart {
            self.peer_cells.clear();
        }
        // Only a part at cell 0 sets the hash: the cells it is checked against are those of that batch.
        if let Some(h) = batch.hash.filter(|_| batch.at == 0) {
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
            Peeled::Done(d) if d.theirs.len() <= k && verify(set, &d, peer) => {
                self.over = true;
                return Ok(KeyStep::Decoded(d));
            }
            Peeled::Done(_) => k as f64, // a false decode: caught by the set hash
            Peeled::Stuck { estimate, .. } => estimate,
        };
        // The code is rateless: ask the same sender for the cells after these, enough for the estimate.
        let next = (k + k.div_ceil(4)).max(k + 2).max(cells_p99(estimate * 1.1)).min(MAX_CELLS);
        if next <= k || state_is_cheaper(set, next) {
            self.over = true;
            return Ok(KeyStep::State);
        }
        self.expect = Expect::Upto(next);
        Ok(KeyStep::Want(Want { upto: next, sketch: Vec::new() }))
    }

    /// This side's cells `sent..upto`, split to the budget; the peer will hold `..upto`.
    fn send_cells<S: KeySet + ?Sized>(&mut self, set: &S, upto: usize, budget: usize) -> Vec<CellBatch> {
        let cells = set.cells(self.sent, upto);
        // A batch from cell 0 says which set its cells come from: the peer's summary (for the responder) may be
        // a round trip older than these cells, and a write in between would fail a correct decode.
        let current = set.prefix().set_hash().hash;
        self.sent_hash = Some(current);
        let hash = (self.sent == 0).then_some(current);
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

/// Below this many estimated differences (about as far as the summary's parity map reaches) a symmetric round is
/// sized from the summary alone.
const REFINE_MIN: f64 = 24.0;

/// How the responder opens a round that is not silent.
enum Plan {
    /// Send the first `k` cells (the initiator decodes).
    Send(usize),
    /// Ask for the initiator's cells (the responder decodes).
    Ask(Want),
}

/// The first batch, between `cells_p50(d)` and `cells_p99(d)`: as large as `json` bytes of JSON afford.
fn batch(json: f64, header: usize, width: usize, d: f64) -> usize {
    within_quantiles(cells_within(json, header, width), d)
}

/// `fits` cells, raised to `cells_p50(d)` and capped at `cells_p99` of a fifth more (the fit of the 99th
/// percentile is a fit: where the target affords it, a few cells more make a second exchange rarer).
fn within_quantiles(fits: usize, d: f64) -> usize {
    if d <= 1.0 {
        return 1; // the first cell holds every key: one difference is always pure there
    }
    fits.max(cells_p50(d)).min(cells_p99(1.2 * d + 1.0))
}

/// What two summaries say about their difference: whether it is one-sided (all of it on the side with more
/// keys), and its estimated size. The count difference `net` is exact and `d ≡ net (mod 2)`; the parity maps
/// differ in `z ≤ d` bits (`z = d` unless keys share a bucket), so `z > net` proves a symmetric difference, and
/// for small `z` their estimate is nearly exact. Beyond, the signed buckets estimate `d` with variance
/// `2·d·(d − 1)/m`: one-sided while within three deviations (and one key) of `net`.
///
/// Returns (one-sided, estimate, whether the parity maps made the estimate).
fn difference_size(mine: &KeySummary, theirs: &KeySummary) -> (bool, f64, bool) {
    let net = theirs.set.len.abs_diff(mine.set.len) as f64;
    let (z, small) = estimate_from_parities(&mine.sketch[SUMMARY_BUCKETS..], &theirs.sketch[SUMMARY_BUCKETS..]);
    if let Some(small) = small {
        if net > 0.0 && f64::from(z) <= net {
            return (true, net, true);
        }
        // Equal hashes of equal counts differ by at least two keys; round to the parity of `net`.
        let d = net + 2.0 * ((small - net) / 2.0).round().max(1.0);
        return (false, d.max(f64::from(z)), true);
    }
    let sketch = estimate(&mine.sketch[..SUMMARY_BUCKETS], &theirs.sketch[..SUMMARY_BUCKETS]);
    let m = SUMMARY_BUCKETS as f64;
    if net > 0.0 && sketch <= net + 3.0 * (2.0 * net * (net - 1.0).max(0.0) / m).sqrt() + 1.0 {
        return (true, net, false);
    }
    (false, sketch.max(net + 2.0), false)
}

/// The responder's plan (see [`crate::reconcile`]); a request's sketch fits in one message of `budget` bytes.
fn plan<S: KeySet + ?Sized>(mine: &KeySummary, theirs: &KeySummary, set: &S, budget: usize) -> Plan {
    let (na, nb) = (theirs.set.len, mine.set.len);
    let net = na.abs_diff(nb) as f64;
    let (one_sided, d, precise) = difference_size(mine, theirs);
    let (w, summary) = (set.key_width(), theirs.json_len() as f64);
    let hashed_header = 3 + 8;
    if !set.keys_are_items() {
        // Counters: the initiator decodes and trades records. One-sided, `d` is exact; symmetric, allow for the
        // estimate's spread (parity maps: keys that shared a bucket; signed buckets: ±50 %, a bit more than half).
        let spread = if one_sided {
            d
        } else if precise {
            d + d * d / 128.0
        } else {
            d * 1.3
        };
        return Plan::Send(cells_p99(spread));
    }
    let ask = |upto| Plan::Ask(Want { upto, sketch: Vec::new() });
    let want = 3.0 + base64_len(3) as f64;
    if one_sided {
        // The responder decodes and ends the round with an empty part (`"EAQ"`, 5 bytes; crate::repair).
        let answer = 5.0;
        return if na > nb {
            ask(batch(target(d) - summary - want - answer, hashed_header, w, d))
        } else {
            Plan::Send(batch(target(d) - summary, hashed_header, w, d))
        };
    }
    let room = (budget.saturating_sub(64) * 3 / 4).saturating_sub(4).min(SKETCH_BUCKETS);
    if precise && d < REFINE_MIN || room < 32 {
        // Whoever decodes sends the other side's share back: the initiator (3 messages) when the responder sends
        // its cells, the responder (4) when it asks for the initiator's. The plan with room for more cells wins.
        // The cap allows for the parity estimate's spread (pairs of keys sharing a bucket hide, ~d²/128).
        let (more, fewer) = ((d + net) / 2.0, (d - net) / 2.0);
        let (a_extra, b_extra) = if na >= nb { (more, fewer) } else { (fewer, more) };
        let send = cells_within(target(d) - summary - items_json(a_extra, w), hashed_header, w);
        let asked = cells_within(target(d) - summary - want - items_json(b_extra, w), hashed_header, w);
        let k = |fits| within_quantiles(fits, d + d * d / 128.0);
        return if asked > send { ask(k(asked)) } else { Plan::Send(k(send)) };
    }
    // A parity map of `m ≈ 8·d` bits: `d/m` keys per bucket keeps it far from saturation, and its estimate's
    // relative deviation is about `sqrt(2/m)` (pairs of keys sharing a bucket), as a signed sketch of `m` bytes.
    let bits = ((8.0 * d).min(SKETCH_BUCKETS as f64) as usize).next_power_of_two().clamp(128, SKETCH_BUCKETS);
    let bytes = if bits / 8 > room { (room + 1).next_power_of_two() / 2 } else { bits / 8 };
    let sketch = set.prefix().sketch().parities(8 * bytes);
    Plan::Ask(Want { upto: 0, sketch })
}

/// The initiator's batch for a [`Want`] that carries a parity map of `m` buckets whose comparison with its own
/// estimates `d` differences (relative deviation about `sqrt(2/m)`, growing as the map fills); `spent` bytes of
/// JSON went to the summary and the request.
fn refined_batch(d: f64, m: usize, spent: usize, width: usize) -> usize {
    let d = d.max(2.0);
    let sd = (2.0 / m as f64).sqrt() * (1.0 + 2.0 * d / m as f64);
    let back = items_json(d / 2.0, width);
    let fits = cells_within(target(d * (1.0 - sd)) - spent as f64 - back, 3 + 8, width);
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
        assert!(CellBatch::from_bytes(&[0, 2, 1]).is_err(), "a part without cells");
        assert_eq!(Want::from_bytes(&[0]).unwrap(), Want::STATE, "zero cells and no sketch: the state");
        assert!(Want::from_bytes(&[0x81, 0x80, 0x40]).is_err(), "more than MAX_CELLS");
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
