//! Reconciliation that costs what two replicas differ by: the [`Reconcile`] trait, and the session over `u64`
//! keys that every osmosis type builds on ([`KeySession`]).
//!
//! # A round
//! 1. The initiator sends its [`Reconcile::summary`] (at most 64 bytes as JSON, at any size: count, 64-bit set
//!    hash and a 20-entry tug-of-war sketch, see [`KeySummary`]).
//! 2. The responder compares it with its own ([`Reconcile::open`]): equal, and the round ends in silence. Otherwise
//!    it sends the first cells of its coding ([`crate::coding`]), `k₁` of them, sized from the summaries: the
//!    count difference `δ = |n_a − n_b|` is exact for a one-sided difference, and the sketch estimates a symmetric
//!    one; `k₁ = cells_for(d)` covers `d` differences in most trials (benches/README.md has the distribution).
//! 3. Whoever receives cells subtracts its own, peels ([`crate::coding`]) and checks the result against both
//!    sides' counts and set hashes. Decoded: it applies what it lacks and sends what the peer lacks; the round is
//!    over. Not decoded (too few cells): it sends its *own* cells up to a larger `k` (at least 1.5× and +4, and enough for
//!    the difference estimated from the cells' counts), and the roles swap: the peer now holds both codings up to
//!    `k` and peels. So a failed decode costs one more message, not a restart.
//! 4. When the cells would cost more than the state itself (an empty or far-behind replica), a side sends its
//!    state instead; the receiver joins it and answers with exactly what the sender lacks.
//!
//! Every message fits the byte budget given to [`Reconcile::open`] / [`Reconcile::step`]: a batch of cells, a
//! delta or a state too large for one message is split over several, all sent at once; the receiver acts when
//! the last one is in. Messages carry no session id: the caller (the anti-entropy engine) keeps one
//! [`Reconcile::Session`] per peer and round and routes messages to it.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::coding::{
    CELL_BYTES, Cell, CodedPrefix, Difference, PREFIX_CELLS, SetHash, Space, TOW, Tow, cells_from, peel,
};
use crate::traits::Lattice;
use crate::wire::{Reader, WireError, base64_serde, err, put_varint};

/// The most cells a session accepts from a peer (12 MiB of them): a bound on what a peer can make us hold.
pub const MAX_CELLS: usize = 1 << 20;

/// What one step of a reconciliation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Step<M, D> {
    /// Messages for the peer, in order.
    pub send: Vec<M>,
    /// Whether this side's part of the round is over (the session can be dropped).
    pub done: bool,
    /// What the step added to the replica, as a delta (empty when it added nothing). The step has already joined
    /// it; a caller that relays news (the anti-entropy engine pushes it along its overlay) sends this on.
    pub delta: D,
}

/// A replica that two peers can reconcile in bytes proportional to their difference (the protocol is in the
/// module docs).
///
/// # Contract (implementors must)
/// - `summary` is at most 64 bytes as JSON and equal for equal replicas;
/// - after `open` on `b` with `a.summary()`, and every message delivered to the other side's `step` until both
///   report `done`, both replicas hold `a ⊔ b` (the law `tests/support` checks for every type);
/// - never send a message larger than the budget (apart from one indivisible item, such as a single JSON value
///   larger than the budget), never trust a peer's message: a malformed one is a [`WireError`] and changes
///   nothing;
/// - report in [`Step::delta`] what each step added: the replica before the step joined with the delta is the
///   replica after it, and the delta holds nothing the replica held before (it is relayed as news);
/// - keep whatever the summaries need up to date as the replica changes, never rebuilding it per round.
pub trait Reconcile: Lattice + Sized {
    /// The round's first message.
    type Summary: Serialize + DeserializeOwned + Clone + Debug + PartialEq;
    /// Every later message of a round.
    type Repair: Serialize + DeserializeOwned + Clone + Debug + PartialEq;
    /// What one side remembers during a round (both roles use the same type; a fresh one is `Default`).
    type Session: Default + Debug + Clone;

    /// This replica's summary.
    fn summary(&self) -> Self::Summary;

    /// The responder's side: `None` when `theirs` matches this replica (the round ends in silence), otherwise
    /// the session and the first messages.
    fn open(&self, theirs: &Self::Summary, budget: usize) -> Option<(Self::Session, Vec<Self::Repair>)>;

    /// Handles one message of a round, on either side.
    ///
    /// # Errors
    /// [`WireError`] for a message that is malformed or does not fit the session; nothing was changed.
    fn step(
        &mut self,
        session: &mut Self::Session,
        msg: &Self::Repair,
        budget: usize,
    ) -> Result<Step<Self::Repair, Self>, WireError>;
}

/// The summary of one key space: count and set hash (equality), and a tug-of-war sketch (difference size).
/// JSON: one base64 string of `varint(len) · hash (8 bytes LE) · 20 sketch bytes`, at most 51 characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySummary {
    /// Count and hash of the keys.
    pub set: SetHash,
    /// The sketch.
    pub tow: Tow,
}

impl KeySummary {
    pub(crate) fn of(prefix: &CodedPrefix) -> KeySummary {
        KeySummary { set: prefix.set_hash(), tow: prefix.tow() }
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        put_varint(out, self.set.len);
        out.extend_from_slice(&self.set.hash.to_le_bytes());
        out.extend_from_slice(&self.tow.0);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<KeySummary, WireError> {
        let set = SetHash { len: r.varint()?, hash: r.u64()? };
        Ok(KeySummary { set, tow: Tow(r.take::<TOW>()?) })
    }

    fn to_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(46);
        self.write(&mut out);
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<KeySummary, WireError> {
        let mut r = Reader::new(bytes);
        let s = KeySummary::read(&mut r)?;
        r.end()?;
        Ok(s)
    }
}

base64_serde!(KeySummary, 64);

/// Cells `at..at + cells.len()` of the sender's coding, part of a batch that ends at `upto`, with the sender's
/// count and set hash. Each sum is sent in `width` bytes (the widest sum of the batch: 4 for 32-bit elements,
/// fewer for small ones), each tag in 4. Wire: `varint(len) · hash · varint(at) · varint(upto) · width · cells`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellBatch {
    set: SetHash,
    at: usize,
    upto: usize,
    cells: Vec<Cell>,
}

impl CellBatch {
    fn width(&self) -> usize {
        let widest = self.cells.iter().map(|c| c.sum()).fold(0, |a, b| a | b);
        (64 - widest.leading_zeros() as usize).div_ceil(8).max(1)
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let width = self.width();
        let mut out = Vec::with_capacity(32 + self.cells.len() * (width + 4));
        put_varint(&mut out, self.set.len);
        out.extend_from_slice(&self.set.hash.to_le_bytes());
        put_varint(&mut out, self.at as u64);
        put_varint(&mut out, self.upto as u64);
        out.push(width as u8);
        for c in &self.cells {
            c.write(&mut out, width);
        }
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<CellBatch, WireError> {
        let mut r = Reader::new(bytes);
        let set = SetHash { len: r.varint()?, hash: r.u64()? };
        let at = usize::try_from(r.varint()?).map_err(|_| err("cell index"))?;
        let upto = usize::try_from(r.varint()?).map_err(|_| err("cell index"))?;
        let width = usize::from(r.u8()?);
        if !(1..=8).contains(&width) {
            return Err(err(format!("cell width {width} not in 1..=8")));
        }
        let rest = r.rest();
        if !rest.len().is_multiple_of(width + 4) {
            return Err(err("cells do not fill whole records"));
        }
        let n = rest.len() / (width + 4);
        if at.checked_add(n).is_none_or(|end| end > upto) || upto > MAX_CELLS {
            return Err(err(format!("cells {at}..{at}+{n} outside the batch ..{upto} (at most {MAX_CELLS})")));
        }
        let cells = rest.chunks_exact(width + 4).map(|rec| Cell::read(rec, width)).collect();
        Ok(CellBatch { set, at, upto, cells })
    }
}

/// How many cells to send for `d` expected differences. Measured (coding.rs `print_cells_needed`, benches/
/// README.md): a median of 1.38–1.6 cells per difference, with a long tail for small `d`. Below 100 the size is
/// held to what fits the byte target (`1.84·d + 1.5` cells), above it to the 99th percentile (`1.38·d + 4√d + 8`).
pub fn cells_for(d: f64) -> usize {
    if d <= 1.0 {
        return 1;
    }
    let target = (1.84 * d + 1.5).floor();
    let tail = (1.38 * d + 4.0 * d.sqrt() + 8.0).ceil();
    (target.min(tail) as usize).clamp(1, MAX_CELLS)
}

/// What a key set offers a [`KeySession`].
pub(crate) trait KeySet {
    /// The incrementally kept prefix (built on first use).
    fn prefix(&self) -> &CodedPrefix;
    /// Every key, for cells beyond the prefix.
    fn keys(&self) -> Box<dyn Iterator<Item = (Space, u64)> + '_>;
    /// How many of `keys` (keys of `space`) the set holds.
    fn held(&self, space: Space, keys: &[u64]) -> usize;
    /// Bytes of sending the whole state; may walk the set (called only for large differences).
    fn state_bytes(&self) -> usize;

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

/// What a [`KeySession`] step asks its caller to do.
#[derive(Debug)]
pub(crate) enum KeyStep {
    /// Nothing yet (more parts of a batch to come).
    Wait,
    /// Send these cell batches.
    Cells(Vec<CellBatch>),
    /// The difference is known: apply `theirs`, send the peer `mine`.
    Decoded(Difference),
    /// Send the whole state instead (cells would cost more).
    State,
}

/// One side's state of a key reconciliation (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct KeySession {
    peer: SetHash,
    peer_cells: Vec<Cell>,
    upto: usize,
    sent: usize,
}

/// Cells that fit one message of `budget` bytes (the base64 text of a batch's bytes), at least one.
fn cells_per_message(budget: usize, width: usize) -> usize {
    let bytes = budget.saturating_sub(64) * 3 / 4;
    (bytes.saturating_sub(32) / (width + 4)).max(1)
}

/// Whether sending `cells` cells costs at least the state; walks the set only when the cells could cost a
/// noticeable share of it (1 byte per element: far above what any d ≤ n/100 needs).
fn state_is_cheaper<S: KeySet + ?Sized>(set: &S, cells: usize) -> bool {
    let cell_bytes = cells.saturating_mul(CELL_BYTES);
    cell_bytes as u64 >= set.prefix().set_hash().len / 8 && cell_bytes >= set.state_bytes()
}

impl KeySession {
    /// The responder's first step (see the module docs). `None` when the summaries agree.
    pub(crate) fn open<S: KeySet + ?Sized>(
        set: &S,
        theirs: &KeySummary,
        budget: usize,
    ) -> Option<(KeySession, KeyStep)> {
        let mine = KeySummary::of(set.prefix());
        if mine == *theirs {
            return None;
        }
        let mut session = KeySession { peer: theirs.set, ..KeySession::default() };
        if theirs.set.len == 0 {
            return Some((session, KeyStep::State));
        }
        let k = first_batch(&mine, theirs);
        if state_is_cheaper(set, k) {
            return Some((session, KeyStep::State));
        }
        let batches = session.send_cells(set, k, budget);
        Some((session, KeyStep::Cells(batches)))
    }

    /// Handles a batch of the peer's cells.
    pub(crate) fn on_cells<S: KeySet + ?Sized>(
        &mut self,
        set: &S,
        batch: &CellBatch,
        budget: usize,
    ) -> Result<KeyStep, WireError> {
        if batch.at != self.peer_cells.len() {
            return Err(err(format!("cells from {} when {} were expected", batch.at, self.peer_cells.len())));
        }
        if batch.upto < self.upto {
            return Err(err("a batch that ends before the previous one"));
        }
        self.peer = batch.set;
        self.upto = batch.upto;
        self.peer_cells.extend_from_slice(&batch.cells);
        if self.peer_cells.len() < self.upto {
            return Ok(KeyStep::Wait);
        }
        let k = self.upto;
        let mine = set.cells(0, k);
        let diff: Vec<Cell> = self.peer_cells.iter().zip(&mine).map(|(t, m)| t.minus(*m)).collect();
        let net = self.peer.len.wrapping_sub(set.prefix().set_hash().len) as i64;
        if let Some(d) = peel(diff.clone()).filter(|d| self.verify(set, d)) {
            return Ok(KeyStep::Decoded(d));
        }
        let estimate = crate::coding::estimate_differences(&diff, net);
        let next = (k + k.div_ceil(2)).max(k + 4).max(cells_for(estimate * 1.2)).min(MAX_CELLS);
        if next <= k || state_is_cheaper(set, next) {
            return Ok(KeyStep::State);
        }
        Ok(KeyStep::Cells(self.send_cells(set, next, budget)))
    }

    /// Whether a peeled difference is consistent with both sides' counts, hashes and contents.
    fn verify<S: KeySet + ?Sized>(&self, set: &S, d: &Difference) -> bool {
        let mut expect = set.prefix().set_hash();
        for (space, x) in d.theirs.iter() {
            expect.add(space, x);
        }
        for (space, x) in d.mine.iter() {
            expect.remove(space, x);
        }
        expect == self.peer
            && [Space::Int, Space::Hashed].into_iter().all(|space| {
                let (theirs, mine) = (d.theirs.of(space), d.mine.of(space));
                (theirs.is_empty() || set.held(space, theirs) == 0)
                    && (mine.is_empty() || set.held(space, mine) == mine.len())
            })
    }

    /// This side's cells `sent..upto`, split to the budget; the peer will hold `..upto`.
    fn send_cells<S: KeySet + ?Sized>(&mut self, set: &S, upto: usize, budget: usize) -> Vec<CellBatch> {
        let cells = set.cells(self.sent, upto);
        let own = set.prefix().set_hash();
        let probe = CellBatch { set: own, at: 0, upto, cells: cells.clone() };
        let per = cells_per_message(budget, probe.width());
        let mut out = Vec::new();
        for (i, chunk) in cells.chunks(per).enumerate() {
            out.push(CellBatch { set: own, at: self.sent + i * per, upto, cells: chunk.to_vec() });
        }
        self.sent = upto;
        out
    }
}

/// The first batch: for the count difference when the sketch agrees with it (a one-sided difference, exact),
/// otherwise for the sketch's estimate (a symmetric difference).
/// When the responder is behind, the elements it lacks travel after the cells, so fewer cells fit the byte
/// target: about the 60th percentile (`1.45·d + 2`) below 100 differences.
fn first_batch(mine: &KeySummary, theirs: &KeySummary) -> usize {
    let net = mine.set.len.abs_diff(theirs.set.len) as f64;
    let sketch = mine.tow.estimate(&theirs.tow);
    // One-sided, the sketch estimates `net` itself (exactly 1.0 when one element differs; within ±2 standard
    // deviations, 64 %, otherwise): beyond that the difference is symmetric and the sketch is the better estimate.
    if sketch > 1.64 * net + 0.5 {
        return cells_for(sketch);
    }
    let d = net.max(if net == 0.0 { 2.0 } else { 1.0 });
    let k = cells_for(d);
    if theirs.set.len > mine.set.len { k.min((1.45 * d + 2.0) as usize) } else { k }
}

/// The length of a message's payload as JSON text, for budget checks and benches.
pub fn json_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_string(value).map_or(0, |s| s.len())
}
