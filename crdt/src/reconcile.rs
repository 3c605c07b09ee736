//! Reconciliation that costs what two replicas differ by: the [`Reconcile`] trait. Every osmosis type implements
//! it on the same machinery: each replica keeps a rateless coding of its keys ([`crate::coding`]), and a round is
//! a key session (`KeySession`) (the protocol below) whose messages are [`crate::Repair`]s.
//!
//! # A round
//! 1. The initiator `A` sends its [`Reconcile::summary`] ([`KeySummary`], at most 48 bytes of JSON at any size:
//!    count, 64-bit set hash, an 8-bucket sketch of its keys and a 64-bit parity map of them).
//! 2. The responder `B` compares it with its own ([`Reconcile::open`]): equal, and the round ends in silence.
//!    Otherwise it plans the round from the two summaries: the count difference `δ = |n_A − n_B|` is exact for a
//!    one-sided difference; the parity maps differ in `z ≤ d` bits, nearly exactly `d` for small differences
//!    (`z > δ` proves a symmetric one), and the sketch estimates larger ones (±50 %) and tells one-sided ones
//!    from symmetric ones there. Cells travel *to the side that lacks the elements*: whoever decodes them gets the
//!    elements it lacks from the cells themselves, for free.
//!    - `B` lacks (`n_A > n_B`, one-sided): `B` asks for `k` cells ([`Want`]); `A` sends them and its set hash;
//!      `B` decodes and ends the round with an empty part. 4 messages.
//!    - `A` lacks: `B` sends its first `k` cells and its set hash ([`CellBatch`]); `A` decodes. 2 messages.
//!    - Symmetric, fewer than 16 estimated differences: the parity maps sized the batch; `B` sends its cells,
//!      `A` decodes and sends what `B` lacks (3 messages), or, when that leaves room for more cells, `B` asks for
//!      `A`'s, decodes and sends what `A` lacks (4 messages).
//!    - Symmetric, more: `B` asks with a finer fold of its sketch (the estimate's error falls as `sqrt(2/m)` with
//!      `m` buckets); `A` sizes the batch from it; `B` decodes and sends what `A` lacks. 4 messages.
//!
//!    `k` is as many cells as the round's byte target `64 + 40·d` affords, within the range that decodes `d`
//!    differences in 50 to 99 % of trials (`cells_p50`, `cells_p99`, fitted to the measured distribution).
//!    For types whose keys are hashes (counters), the side that decodes must also exchange records, so `B` always
//!    sends cells and `A` decodes.
//! 3. Whoever receives cells XORs its own, peels ([`crate::coding`]) and checks the result against the peer's set
//!    hash: the one carried by the part at cell 0, the hash of the set the cells were computed from (the summary's
//!    is a round trip older: a write at `A` in between would otherwise fail a correct decode). Decoded: it joins what it lacks and sends what the peer lacks ([`crate::repair`]); the round is over.
//!    Not decoded (too few cells): the code is rateless, so it asks the same sender for the cells after those
//!    (a [`Want`] up to a larger `k`: at least 1.25× and +2, and enough for the difference estimated from the
//!    cells that stayed zero) and peels again. So a failed decode costs one more exchange and only the extra
//!    cells, never the whole set. Only if the sender's set changed since it sent its cells does it resend the
//!    batch from cell 0 with its new hash (old and new cells together would decode neither set); the receiver
//!    replaces what it held. Under writes, a round's cost stays proportional to the difference.
//! 4. When the cells would cost more than the state itself (an empty or far-behind replica), the side with more
//!    keys sends its state (the responder asks for the initiator's with an empty [`Want`]); the receiver joins it
//!    and answers with exactly what the sender lacks: the larger state travels once, and the smaller side's
//!    elements only where the other lacks them.
//!    This is checked on every request for cells, not only the first. For types whose keys are hashes, the
//!    responder's first check counts what the cells lead to as well (records traded for keys, two more messages):
//!    a counter of a few dozen replicas sends its whole vector rather than repair one entry by cells.
//! 5. A request for records by key is always answered with a last part, empty when the record is gone (a
//!    counter entry raised since its cells were sent): the decoder's round ends.
//!
//! A peer's messages bound the work they cause: a side takes a new batch of cells only when it asked for that
//! batch (the initiator's first one excepted, and the one sized from a finer sketch, at most `cells_p99` of 4×
//! both sizes), never an empty part, and none after it decoded or chose the state; a request for more cells is
//! refused beyond what a failed decode asks (`4·sent + 64`); and peeling `k` cells costs `O(k log k)` whatever they
//! hold (a key peels once, [`crate::coding`]). A refused message is a [`WireError`]: the round ends.
//!
//! Every message fits the byte budget given to [`Reconcile::open`] / [`Reconcile::step`]: a batch of cells, a
//! delta or a state too large for one message is split over several, all sent at once; the receiver acts when
//! the last one is in. Messages carry no session id: the caller (the anti-entropy engine) keeps one
//! [`Reconcile::Session`] per peer and round, routes messages to it and hands them over in the order they were
//! sent, each once (the engine numbers them); a message lost on the way leaves the round unfinished, which the
//! next round repairs. Each [`Step`] reports what it added to the replica ([`Step::delta`]), so that the caller
//! can relay it as news.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::key_session::{CellBatch, KeySet, KeySummary, MAX_CELLS, Want};
pub(crate) use crate::key_session::{KeySession, KeyStep};
use crate::traits::Lattice;
use crate::wire::WireError;

/// What one step of a reconciliation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Step<M, D> {
    /// Messages for the peer, in order.
    pub send: Vec<M>,
    /// Whether this side's part of the round is over: no later message of the round is addressed to it, and the
    /// session can be dropped.
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
