//! Reconciliation by state ([`ReconcileByState`]): a [`Reconcile`] for a type built on osmosis CRDTs that has no
//! reconciliation of its own yet (a composite such as the daemon's map of named objects), from what every osmosis
//! CRDT already offers (its exact digest, `delta_since`, [`Split`]). Every type of this crate has its own, whose
//! cost follows the difference ([`crate::repair`]); this one costs the responder's state per differing round.
//!
//! # A round
//! 1. The initiator's summary ([`StateSummary`]): a 64-bit hash of its digest with seed 0 (every osmosis digest
//!    is a fixed function of the replica's contents at seed 0), 13 bytes of JSON at any size.
//! 2. The responder compares it with its own: equal, and the round ends in silence. Otherwise it sends its whole
//!    state, cut to the budget ([`Split::split_to`]), as `state` parts.
//! 3. The initiator joins each part; after the last, it sends what the responder lacks — its `delta_since` the
//!    responder's state, exact for counters, whole chunks or buckets for sets — as `delta` parts, if any.
//!
//! So a differing round costs the responder's state plus what it lacks, in 2 + (parts) messages: a stopgap until
//! the type gets a reconciliation of its own.
//! CPU: each side computes its digest once per round (a walk of the replica), and the initiator one digest of the
//! responder's state.
//!
//! A type opts in with `impl ReconcileByState for MyType { fn absorb(..) }`; a type that gets its own
//! [`Reconcile`] must drop that line (the two would overlap, which the compiler refuses).
//!
//! Wire: the summary is one base64 string (8 bytes, little-endian); a repair message is
//! `{"state": {"part": <state>, "last": bool}}` or `{"delta": {"part": <state>, "last": bool}}`.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::reconcile::{Reconcile, Step};
use crate::split::{Split, json_len};
use crate::traits::DeltaCrdt;
use crate::wire::{Reader, WireError, base64_serde, err};

/// The most parts of one message sequence a session accepts (at the node's 60 KB budget, 120 MB of state): a
/// bound on what a peer can make a session hold.
pub const MAX_PARTS: usize = 2048;

/// Key of the summary hash ("osmosisR").
const SUMMARY_KEY: u64 = 0x6f73_6d6f_7369_7352;

/// A type reconciled by sending its state (see the module docs).
///
/// # Contract (implementors must)
/// - make `absorb` join `part` into `self` and return exactly what it added (`old ⊔ returned == new`, and the
///   returned delta holds nothing `old` held): the engine relays it as news;
/// - keep `digest_seeded(0)` a function of the contents alone, so that equal replicas have equal summaries.
pub trait ReconcileByState:
    DeltaCrdt<Delta = Self> + Split + Serialize + DeserializeOwned + Default + Clone + Debug + PartialEq
{
    /// Joins `part`; returns what was new.
    fn absorb(&mut self, part: &Self) -> Self;
}

/// The summary of a [`ReconcileByState`] replica: a 64-bit hash of its seed-0 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSummary(pub u64);

impl StateSummary {
    fn to_bytes(self) -> [u8; 8] {
        self.0.to_le_bytes()
    }

    fn from_bytes(bytes: &[u8]) -> Result<StateSummary, WireError> {
        let mut r = Reader::new(bytes);
        let hash = r.u64()?;
        r.end()?;
        Ok(StateSummary(hash))
    }
}

base64_serde!(StateSummary, 16);

/// One message of a [`ReconcileByState`] round after the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields, bound = "C: Serialize + DeserializeOwned")]
pub enum StateRepair<C> {
    /// Part of the responder's state.
    State {
        /// The part.
        part: C,
        /// Whether it is the last.
        last: bool,
    },
    /// Part of what the responder lacks, from the initiator: the end of the round.
    Delta {
        /// The part.
        part: C,
        /// Whether it is the last.
        last: bool,
    },
}

impl<C> StateRepair<C> {
    /// The state the message carries.
    pub fn part(&self) -> &C {
        match self {
            StateRepair::State { part, .. } | StateRepair::Delta { part, .. } => part,
        }
    }
}

/// One side of a [`ReconcileByState`] round.
#[derive(Debug, Clone, Default)]
pub struct StateSession<C> {
    /// The peer's state received so far (initiator).
    received: C,
    /// Parts received so far.
    parts: usize,
}

/// `state` cut to fit `budget` bytes per message, wrapped by `wrap`; one (empty) part when there is nothing.
fn messages<C: ReconcileByState>(
    state: C,
    budget: usize,
    wrap: impl Fn(C, bool) -> StateRepair<C>,
) -> Vec<StateRepair<C>> {
    let overhead = json_len(&wrap(C::default(), false)).saturating_sub(C::default().json_len());
    let parts = state.split_to(budget.saturating_sub(overhead));
    let n = parts.len();
    parts.into_iter().enumerate().map(|(i, p)| wrap(p, i + 1 == n)).collect()
}

impl<C: ReconcileByState> Reconcile for C {
    type Summary = StateSummary;
    type Repair = StateRepair<C>;
    type Session = StateSession<C>;

    fn summary(&self) -> StateSummary {
        let digest = serde_json::to_vec(&self.digest_seeded(0)).expect("a digest always serializes");
        StateSummary(crate::fingerprint::hash_bytes(&digest, SUMMARY_KEY))
    }

    fn open(&self, theirs: &StateSummary, budget: usize) -> Option<(StateSession<C>, Vec<StateRepair<C>>)> {
        if self.summary() == *theirs {
            return None;
        }
        let send = messages(self.clone(), budget, |part, last| StateRepair::State { part, last });
        Some((StateSession::default(), send))
    }

    fn step(
        &mut self,
        session: &mut StateSession<C>,
        msg: &StateRepair<C>,
        budget: usize,
    ) -> Result<Step<StateRepair<C>, C>, WireError> {
        if session.parts >= MAX_PARTS {
            return Err(err(format!("more than {MAX_PARTS} parts in one round")));
        }
        session.parts += 1;
        let delta = self.absorb(msg.part());
        match msg {
            StateRepair::Delta { last, .. } => Ok(Step { send: vec![], done: *last, delta }),
            StateRepair::State { part, last: false } => {
                session.received.join(part);
                Ok(Step { send: vec![], done: false, delta })
            }
            StateRepair::State { part, last: true } => {
                session.received.join(part);
                let back = self.delta_since(&std::mem::take(&mut session.received).digest());
                let send = if C::delta_is_empty(&back) {
                    vec![]
                } else {
                    messages(back, budget, |part, last| StateRepair::Delta { part, last })
                };
                Ok(Step { send, done: true, delta })
            }
        }
    }
}
