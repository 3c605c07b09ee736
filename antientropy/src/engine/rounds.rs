//! Push-pull rounds (ALGORITHM.md §1, "Push-pull rounds"): the CRDT's reconciliation ([`Reconcile`]) carried
//! between two engines, one session per peer, side and round.
//!
//! The engine stays generic: it sends the CRDT's summary, hands each of the peer's messages to the right session,
//! in order and once, sends what the session answers, and relays what a step added to the replica as news. What
//! routing needs travels beside the CRDT's message (see [`crate::message`]): the initiator's round number, the side
//! that sent it (the message type) and a message number per direction. A message that fits no live session (late,
//! duplicated, of a round that expired or was never opened) is counted and dropped; a message the CRDT refuses
//! ends its session. A peer can make this node hold at most [`MAX_SESSIONS`] sessions per side, each buffering
//! at most [`MAX_AHEAD`] messages that arrived early, all of them together at most [`AHEAD_BUDGETS`] message
//! budgets of JSON, and make it answer at most [`MAX_SESSIONS`] summaries per `round_min`.
//!
//! A session ends when the CRDT says this side is done (it then stays as a tombstone that swallows duplicates) or
//! when nothing moved it for `round_min` (it expired). The initiator of a round cannot tell agreement (answered by
//! silence) from loss; what it can tell is counted per peer ([`Engine::unanswered_rounds`]) for a failure detector
//! to weigh.
//!
//! The rest of the engine uses three entry points, so that the round protocol can change without touching the
//! eager path or the timer: [`Engine::open_rounds`], [`Engine::on_round_message`] (any message but a push) and
//! [`Engine::expire_rounds`]. A round reaches the rest of the engine only through `after_change` (news learned from
//! a round is relayed like any other), `found_bridge` (news from a round tells a stand-in root whom to bridge to)
//! and `send`.

use std::collections::BTreeMap;
use std::time::Duration;

use osmosis_crdt::Reconcile;

use super::{Engine, Replica};
use crate::id::NodeId;
use crate::message::Message;
use crate::overlay::Source;

/// The most sessions per peer and side, ended ones included until they expire: a round this node opens beyond
/// it ends the oldest; a peer's summary beyond it is dropped, so that a peer can make this node answer at most
/// this many rounds per `round_min`.
pub(super) const MAX_SESSIONS: usize = 8;
/// The most messages a session buffers ahead of the one it waits for.
pub(super) const MAX_AHEAD: usize = 32;
/// The most bytes (of the messages' JSON) a peer's early messages may take, over all its sessions, in message
/// budgets (`max_message_bytes`): a legitimate message fits one budget, so a few reordered parts of a state
/// transfer still wait, while a peer's 8 MiB lines cannot fill `2 · MAX_SESSIONS · MAX_AHEAD` slots.
pub(super) const AHEAD_BUDGETS: usize = 8;
/// Bytes of a round message that are not the CRDT's, at most: `{"type":"ae_reply","round":<20 digits>,
/// "seq":<10 digits>,"repair":}` is 70.
const ENVELOPE: usize = 96;

/// Which side of a round this node is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Side {
    /// It opened the round.
    Initiator,
    /// It answers a peer's summary.
    Responder,
}

/// One side of one round.
#[derive(Debug)]
struct Session<C: Reconcile> {
    state: C::Session,
    /// The number of the next message expected from the peer.
    next_in: u32,
    /// Messages that arrived before `next_in`'s, each with the bytes of its JSON.
    ahead: BTreeMap<u32, (C::Repair, usize)>,
    /// The bytes of the messages in `ahead`.
    ahead_bytes: usize,
    /// The number of this side's next message.
    next_out: u32,
    /// Whether the peer has sent anything in this round.
    answered: bool,
    /// Whether this side's part is over: the session is a tombstone.
    done: bool,
    /// When the round last moved.
    active: Duration,
}

impl<C: Reconcile> Session<C> {
    fn new(state: C::Session, now: Duration) -> Self {
        Session {
            state,
            next_in: 0,
            ahead: BTreeMap::new(),
            ahead_bytes: 0,
            next_out: 0,
            answered: false,
            done: false,
            active: now,
        }
    }
}

/// A session's key: the peer, this node's side and the initiator's round number.
type Key<I> = (I, Side, u64);

/// Every round in progress.
#[derive(Debug)]
pub(super) struct Rounds<C: Reconcile, I> {
    /// The number of this node's next round.
    next_round: u64,
    sessions: BTreeMap<Key<I>, Session<C>>,
    /// Per peer, the rounds this node opened since the peer's last round message that expired unfinished.
    unanswered: BTreeMap<I, u32>,
}

impl<C: Reconcile, I> Default for Rounds<C, I> {
    fn default() -> Self {
        Rounds { next_round: 0, sessions: BTreeMap::new(), unanswered: BTreeMap::new() }
    }
}

impl<C: Reconcile, I> Rounds<C, I> {
    /// Numbers this node's rounds from `first` on ([`Engine::with_incarnation`]).
    pub(super) fn number_from(&mut self, first: u64) {
        self.next_round = first;
    }
}

impl<C: Replica, I: NodeId> Engine<C, I> {
    /// Starts one round with each of `peers`: one summary, computed once, under one round number.
    pub(super) fn open_rounds(&mut self, now: Duration, peers: &[usize]) {
        // A round opened with a peer at this same instant already carries this replica's summary (a push gap and
        // a parent change found in one message both ask for one): a second one would only repeat it.
        let fresh: Vec<usize> = peers.iter().copied().filter(|&p| !self.opened_now(now, p)).collect();
        self.stats.merged_rounds += (peers.len() - fresh.len()) as u64;
        if fresh.is_empty() {
            return;
        }
        let summary = self.state.summary();
        let round = self.rounds.next_round;
        self.rounds.next_round = round.wrapping_add(1);
        for &peer in &fresh {
            let key = (self.members.id(peer).clone(), Side::Initiator, round);
            self.keep(key, Session::new(C::Session::default(), now));
            self.send(peer, Message::Summary { round, summary: summary.clone() });
        }
    }

    /// Handles a round message from peer number `from` (never a push).
    pub(super) fn on_round_message(&mut self, now: Duration, from: usize, msg: Message<C, I>) {
        self.expire_rounds(now);
        let peer = self.members.id(from).clone();
        self.rounds.unanswered.remove(&peer);
        let (side, round, seq, repair) = match msg {
            Message::Summary { round, summary } => return self.on_summary(now, from, round, &summary),
            Message::Reply { round, seq, repair } => (Side::Initiator, round, seq, repair),
            Message::Repair { round, seq, repair } => (Side::Responder, round, seq, repair),
            Message::Push { .. } => unreachable!("pushes are handled by the eager path"),
        };
        self.on_repair(now, from, (peer, side, round), seq, repair);
    }

    /// Ends the sessions that nothing moved for `round_min`.
    pub(super) fn expire_rounds(&mut self, now: Duration) {
        let timeout = self.config.round_min;
        let expired: Vec<Key<I>> = self
            .rounds
            .sessions
            .iter()
            .filter(|(_, s)| s.active.saturating_add(timeout) <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            let session = self.rounds.sessions.remove(&key).expect("listed above");
            self.retire(key, &session);
        }
    }

    /// How many rounds this node opened with `peer`, since the last round message it received from `peer`, ended
    /// unfinished: never answered (the replicas agreed, which is answered by silence, or a message was lost) or
    /// answered and then stopped short (a lost message, or a peer that went away). A failure detector can weigh it:
    /// agreement alone makes it grow by one per round while the cluster is quiet.
    pub fn unanswered_rounds(&self, peer: &I) -> u32 {
        self.rounds.unanswered.get(peer).copied().unwrap_or(0)
    }

    /// Step 1 at the responder: silence if the summaries agree, otherwise a session and its first messages.
    fn on_summary(&mut self, now: Duration, from: usize, round: u64, summary: &C::Summary) {
        let key = (self.members.id(from).clone(), Side::Responder, round);
        if self.rounds.sessions.contains_key(&key) || self.sessions_with(&key.0, Side::Responder) >= MAX_SESSIONS {
            self.stats.stale += 1; // a duplicate, or more rounds than a peer may open at a time
            return;
        }
        let session = match self.state.open(summary, self.repair_budget()) {
            None => {
                self.stats.agreements += 1;
                let mut tombstone = Session::new(C::Session::default(), now);
                tombstone.done = true;
                tombstone
            }
            Some((state, send)) => {
                let mut session = Session::new(state, now);
                self.send_repairs(from, Side::Responder, round, &mut session, send);
                session
            }
        };
        self.keep(key, session);
    }

    /// A message of round `key`: handed to its session in order, once; early ones wait, others are dropped.
    fn on_repair(&mut self, now: Duration, from: usize, key: Key<I>, seq: u32, repair: C::Repair) {
        let Some(mut session) = self.rounds.sessions.remove(&key) else {
            self.stats.stale += 1;
            return;
        };
        let early = seq > session.next_in;
        // Only an early message is measured (re-encoded): what waits is bounded by bytes, per peer.
        let bytes = if early && !session.done && !session.ahead.contains_key(&seq) {
            osmosis_crdt::json_len(&repair)
        } else {
            0
        };
        let room = AHEAD_BUDGETS.saturating_mul(self.config.max_message_bytes);
        let held = self.ahead_bytes_of(&key.0).saturating_add(session.ahead_bytes);
        if session.done
            || seq < session.next_in
            || (early && (session.ahead.len() >= MAX_AHEAD || held.saturating_add(bytes) > room))
        {
            self.stats.stale += 1;
        } else {
            (session.active, session.answered) = (now, true);
            if early {
                if let std::collections::btree_map::Entry::Vacant(slot) = session.ahead.entry(seq) {
                    slot.insert((repair, bytes));
                    session.ahead_bytes += bytes;
                }
            } else {
                self.step_session(now, from, &key, &mut session, repair);
                while let Some((next, bytes)) = session.ahead.remove(&session.next_in).filter(|_| !session.done) {
                    session.ahead_bytes -= bytes;
                    self.step_session(now, from, &key, &mut session, next);
                }
            }
        }
        if session.done {
            session.state = C::Session::default();
            session.ahead.clear();
            session.ahead_bytes = 0;
        }
        self.rounds.sessions.insert(key, session);
    }

    /// Hands the next message to the CRDT's session; relays what it added, sends what it answers.
    fn step_session(&mut self, now: Duration, from: usize, key: &Key<I>, session: &mut Session<C>, repair: C::Repair) {
        session.next_in += 1;
        match self.state.step(&mut session.state, &repair, self.repair_budget()) {
            Err(_) => {
                self.stats.rejected += 1;
                session.done = true;
            }
            Ok(step) => {
                if !C::delta_is_empty(&step.delta) {
                    self.after_change(now, Source::Peer(from), &step.delta, &[]);
                    self.found_bridge(now, from);
                }
                session.done |= step.done;
                self.send_repairs(from, key.1, key.2, session, step.send);
            }
        }
    }

    /// Sends `repairs` to peer number `to`, numbered on from the session's last message.
    fn send_repairs(&mut self, to: usize, side: Side, round: u64, session: &mut Session<C>, repairs: Vec<C::Repair>) {
        for repair in repairs {
            let seq = session.next_out;
            session.next_out = session.next_out.saturating_add(1);
            self.send(
                to,
                match side {
                    Side::Initiator => Message::Repair { round, seq, repair },
                    Side::Responder => Message::Reply { round, seq, repair },
                },
            );
        }
    }

    /// Whether this node opened a round with the member at `peer` at `now` that nothing has moved since.
    fn opened_now(&self, now: Duration, peer: usize) -> bool {
        let id = self.members.id(peer);
        let range = (id.clone(), Side::Initiator, 0)..=(id.clone(), Side::Initiator, u64::MAX);
        self.rounds.sessions.range(range).any(|(_, s)| s.active == now && !s.answered && !s.done)
    }

    /// The bytes of early messages from `peer` that its stored sessions hold, on both sides.
    fn ahead_bytes_of(&self, peer: &I) -> usize {
        let range = (peer.clone(), Side::Initiator, 0)..=(peer.clone(), Side::Responder, u64::MAX);
        self.rounds.sessions.range(range).map(|(_, s)| s.ahead_bytes).sum()
    }

    /// The sessions with `peer` on `side`.
    fn sessions_with(&self, peer: &I, side: Side) -> usize {
        self.rounds.sessions.range((peer.clone(), side, 0)..=(peer.clone(), side, u64::MAX)).count()
    }

    /// Stores a session, first ending the oldest of its peer and side if that makes too many.
    fn keep(&mut self, key: Key<I>, session: Session<C>) {
        let (peer, side) = (&key.0, key.1);
        if self.sessions_with(peer, side) >= MAX_SESSIONS {
            let range = (peer.clone(), side, 0)..=(peer.clone(), side, u64::MAX);
            let oldest = self.rounds.sessions.range(range).next().map(|(k, _)| k.clone()).expect("counted above");
            let ended = self.rounds.sessions.remove(&oldest).expect("found above");
            self.retire(oldest, &ended);
        }
        self.rounds.sessions.insert(key, session);
    }

    /// Accounts for a session that ends without this node's side being done.
    fn retire(&mut self, (peer, side, _): Key<I>, session: &Session<C>) {
        if side != Side::Initiator || session.done {
            return; // a responder cannot tell whether its last message needed an answer
        }
        *self.rounds.unanswered.entry(peer).or_default() += 1;
        if session.answered {
            self.stats.stalled_rounds += 1;
        } else {
            self.stats.silent_rounds += 1;
        }
    }

    /// The budget of the CRDT's part of a round message.
    fn repair_budget(&self) -> usize {
        self.config.max_message_bytes.saturating_sub(ENVELOPE)
    }
}
