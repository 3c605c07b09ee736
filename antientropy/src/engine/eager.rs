//! The eager path: news is queued for the overlay's targets of its source, batched for one window, pushed with a
//! per-link number; a receiver that sees a number go missing starts a round with the sender (ALGORITHM.md §1).

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Engine, Replica};
use crate::id::NodeId;
use crate::message::Message;
use crate::overlay::Source;

/// Pushes received out of order that a link remembers before it gives up waiting and starts a round.
const MAX_AHEAD: usize = 256;
/// A push number this far beyond the expected one is ignored for gap detection (its delta is still merged): at
/// four pushes a second it would take three days of partition, and one forged number must not make every later
/// push look like a duplicate.
const MAX_JUMP: u64 = 1 << 20;

/// What a node keeps about one peer's link, both ways.
#[derive(Debug)]
pub(super) struct Link<C> {
    /// The batch waiting for this peer.
    pending: Option<C>,
    /// The number of the next push to this peer.
    next_seq: u64,
    /// What this node knows about the peer's pushes to it.
    inbound: Inbound,
}

impl<C> Default for Link<C> {
    fn default() -> Self {
        Link { pending: None, next_seq: 0, inbound: Inbound::default() }
    }
}

/// What a receiver knows about one peer's push numbers.
#[derive(Debug, Default)]
struct Inbound {
    /// The next push number expected in order.
    next: u64,
    /// Numbers received beyond `next`.
    ahead: BTreeSet<u64>,
    /// Since when a number below the highest received is missing.
    gap_since: Option<Duration>,
}

impl Inbound {
    /// Records push `seq`; returns true when so many pushes arrived beyond a gap that waiting longer is pointless.
    fn note(&mut self, seq: u64, now: Duration) -> bool {
        if seq < self.next || self.ahead.contains(&seq) {
            return false; // a duplicate, or a push that was already given up on
        }
        if seq - self.next > MAX_JUMP {
            return false; // no real link skips that many pushes; recording it would blind the link for good
        }
        if seq == self.next {
            self.next = self.next.saturating_add(1);
            while self.ahead.remove(&self.next) {
                self.next = self.next.saturating_add(1);
            }
            if self.ahead.is_empty() {
                self.gap_since = None;
            }
            return false;
        }
        self.ahead.insert(seq);
        self.gap_since.get_or_insert(now);
        self.ahead.len() >= MAX_AHEAD
    }

    /// Forgets the gap (a round is about to repair whatever it hid).
    fn resolve(&mut self) {
        if let Some(&last) = self.ahead.last() {
            self.next = last.saturating_add(1);
        }
        self.ahead.clear();
        self.gap_since = None;
    }
}

impl<C: Replica, I: NodeId> Engine<C, I> {
    /// A push from peer `from`: merged (and relayed as news), and its number checked for gaps.
    pub(super) fn on_push(&mut self, now: Duration, from: usize, seq: u64, delta: C) {
        let give_up = self.link(from).inbound.note(seq, now);
        self.merge(now, Source::Peer(from), &delta);
        if give_up {
            self.gap_round(now, from);
        }
    }

    /// Joins `delta` (which came from `from`) and, if it changed the replica, queues it for the overlay targets
    /// of deltas from `from`. Returns whether the replica changed.
    pub(super) fn merge(&mut self, now: Duration, from: Source, delta: &C) -> bool {
        if !self.state.apply_delta(delta) {
            return false;
        }
        self.after_change(now, from, delta);
        true
    }

    /// Bookkeeping after `delta` (from `from`) changed the replica: news resets the round timer, and the delta is
    /// queued for the overlay targets of `from`.
    pub(super) fn after_change(&mut self, now: Duration, from: Source, delta: &C) {
        if from != Source::Local {
            self.last_news = now;
        }
        self.interval = self.config.round_min;
        let targets: Vec<usize> = self.plan.targets(from).collect();
        if targets.is_empty() {
            return;
        }
        for target in targets {
            self.link(target).pending.get_or_insert_with(C::default).join(delta);
        }
        self.batch_due.get_or_insert(now.saturating_add(self.window));
        if self.window.is_zero() {
            self.flush();
        }
    }

    /// Sends every waiting batch, one push per peer, in id order.
    pub(super) fn flush(&mut self) {
        self.batch_due = None;
        let mut pushes = Vec::new();
        for (peer, link) in &mut self.links {
            if let Some(delta) = link.pending.take() {
                pushes.push((peer.clone(), Message::Push { seq: link.next_seq, delta }));
                link.next_seq += 1;
            }
        }
        for (peer, msg) in pushes {
            self.emit(peer, msg);
        }
    }

    /// Starts a round with every peer whose push gap outlived the gap timeout.
    pub(super) fn expire_gaps(&mut self, now: Duration) {
        let timeout = self.config.gap_timeout;
        let expired: Vec<I> = self
            .links
            .iter()
            .filter(|(_, l)| l.inbound.gap_since.is_some_and(|t| t.saturating_add(timeout) <= now))
            .map(|(p, _)| p.clone())
            .collect();
        for peer in expired {
            if let Some(peer) = self.peer_index(&peer) {
                self.gap_round(now, peer);
            }
        }
    }

    /// When the first open push gap times out, if any is open.
    pub(super) fn next_gap_deadline(&self) -> Option<Duration> {
        let timeout = self.config.gap_timeout;
        self.links.values().filter_map(|l| l.inbound.gap_since.map(|t| t.saturating_add(timeout))).min()
    }

    /// A round with `peer` because its pushes have a gap (which the round repairs, so the gap is forgotten).
    fn gap_round(&mut self, now: Duration, peer: usize) {
        self.link(peer).inbound.resolve();
        self.stats.gap_rounds += 1;
        self.open_rounds(now, &[peer]);
    }

    /// The link with peer number `peer`, created on first use.
    fn link(&mut self, peer: usize) -> &mut Link<C> {
        let id = &self.peers[peer];
        if !self.links.contains_key(id) {
            self.links.insert(id.clone(), Link::default());
        }
        self.links.get_mut(id).expect("inserted above")
    }
}
