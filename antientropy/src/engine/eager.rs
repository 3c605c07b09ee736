//! The eager path: news is queued for the overlay's targets of its source, batched (the parent's batch for
//! `local_window`, everyone else's for one shared window), cut to the byte budget, and pushed with a per-link
//! number. A receiver that sees numbers go missing starts a round with the sender; a parent acknowledges its
//! children's pushes on the pushes it sends them (ALGORITHM.md §1, §4).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::{Engine, Replica};
use crate::id::NodeId;
use crate::message::{Message, Report};
use crate::overlay::Source;

/// Pushes received out of order that a link remembers before it gives up waiting and starts a round.
const MAX_AHEAD: usize = 256;
/// A push number this far beyond the expected one is ignored for gap detection (its delta is still merged): at
/// four pushes a second it would take three days of partition, and one forged number must not make every later
/// push look like a duplicate.
const MAX_JUMP: u64 = 1 << 20;

/// A push as received, without its reports (handled first, by the health module).
pub(super) struct Push<C> {
    pub(super) seq: u64,
    pub(super) delta: Arc<C>,
    pub(super) ack: Option<u64>,
    pub(super) up: bool,
    pub(super) urgent: bool,
}

/// What a node keeps about one peer's link, both ways.
#[derive(Debug)]
pub(super) struct Link<C> {
    /// The batch waiting for this peer.
    pub(super) pending: Pending<C>,
    /// The numbers of the local updates in that batch (see `Engine::sent_local`).
    pub(super) locals: Vec<u64>,
    /// With `Config::confirm`: pushes to this peer that carried local updates, until it acknowledges them.
    pub(super) confirm: VecDeque<super::confirm::Carried>,
    /// The peer pushed to this node as to its parent since the last push to it: the next push must acknowledge.
    ack_owed: bool,
    /// The next push to this peer carries what an old parent did not acknowledge (a hand-off).
    pub(super) urgent: bool,
    /// The number of the next push to this peer.
    next_seq: u64,
    /// What this node knows about the peer's pushes to it.
    inbound: Inbound,
    /// Pushes sent to the peer as to this node's parent and not acknowledged yet: (number, when the
    /// acknowledgement is overdue).
    pub(super) unacked: VecDeque<(u64, Duration)>,
    /// Their deltas (handed to the next parent if this one is suspected), kept apart: joining each push into one
    /// set cost a leaf as much as its own replica's insert (an insert into a roaring bitmap shifts its containers),
    /// and the join is only needed at a hand-off, which is rare.
    pub(super) backlog: Vec<C>,
}

impl<C> Default for Link<C> {
    fn default() -> Self {
        Link {
            pending: Pending(None),
            locals: Vec::new(),
            confirm: VecDeque::new(),
            ack_owed: false,
            urgent: false,
            next_seq: 0,
            inbound: Inbound::default(),
            unacked: VecDeque::new(),
            backlog: Vec::new(),
        }
    }
}

impl<C> Link<C> {
    /// The number of the last push sent to the peer.
    pub(super) fn next_seq_sent(&self) -> u64 {
        self.next_seq.saturating_sub(1)
    }

    /// The peer has received every push to it up to `ack` (numbers at most `ack` are no longer unacknowledged).
    fn acknowledge(&mut self, ack: u64) {
        while self.unacked.front().is_some_and(|&(seq, _)| seq <= ack) {
            self.unacked.pop_front();
        }
        if self.unacked.is_empty() {
            self.backlog.clear();
        }
    }
}

/// A link's waiting batch, which links that get the same news share (every child of a hub gets its clients'
/// updates): one set, joined once per delta, cut and encoded once per flush. A link whose batch diverges (a
/// push from a child goes to every target but that child) gets its own copy at that moment (copy on write).
#[derive(Debug)]
pub(super) struct Pending<C>(Option<Arc<C>>);

impl<C: Clone + Default> Pending<C> {
    /// Whether a batch is waiting.
    pub(super) fn is_some(&self) -> bool {
        self.0.is_some()
    }

    /// The batch, which leaves this link (copied if other links share it).
    pub(super) fn take(&mut self) -> Option<C> {
        self.0.take().map(Arc::unwrap_or_clone)
    }

    /// The batch to change in place, created by `empty` if none waits (copied first if other links share it).
    pub(super) fn get_or_insert_with(&mut self, empty: impl FnOnce() -> C) -> &mut C {
        Arc::make_mut(self.0.get_or_insert_with(|| Arc::new(empty())))
    }
}

/// The parts that shared batches were cut into during one flush: (batch, budget, parts, how many of them are over
/// the budget). Links that share a batch get the same parts.
type Cuts<C> = Vec<(Arc<C>, usize, Vec<Arc<C>>, u64)>;

/// What a receiver knows about one peer's push numbers.
#[derive(Debug, Default)]
struct Inbound {
    /// The next push number expected in order.
    next: u64,
    /// Numbers received beyond `next`.
    ahead: BTreeSet<u64>,
    /// The highest number received (what an acknowledgement reports).
    highest: Option<u64>,
    /// Since when a number below the highest received is missing.
    gap_since: Option<Duration>,
    /// The highest number acknowledged back to the sender on a push up (with `Config::confirm`).
    acked: Option<u64>,
}

/// What a push's number says about the link.
#[derive(Debug, PartialEq, Eq)]
enum Arrival {
    /// In order, a duplicate, or one missing number (which the gap timeout waits for: it may be reordered).
    Fine,
    /// Several numbers missing at once (a partition, a restart, a run of losses) or too many pushes beyond a
    /// gap: waiting longer is pointless, a round with the sender should start now.
    RoundNow,
}

impl Inbound {
    /// Records push `seq`.
    fn note(&mut self, seq: u64, now: Duration) -> Arrival {
        if seq == 0 && self.highest.is_some_and(|h| h > 0) {
            *self = Inbound::default(); // numbering restarted: the sender is a new incarnation
        }
        if seq < self.next || self.ahead.contains(&seq) {
            return Arrival::Fine; // a duplicate, or a push that was already given up on
        }
        if seq - self.next > MAX_JUMP {
            return Arrival::Fine; // no real link skips that many pushes; recording it would blind the link for good
        }
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
        if seq == self.next {
            self.next = self.next.saturating_add(1);
            while self.ahead.remove(&self.next) {
                self.next = self.next.saturating_add(1);
            }
            if self.ahead.is_empty() {
                self.gap_since = None;
            }
            return Arrival::Fine;
        }
        let missing = seq - self.next;
        self.ahead.insert(seq);
        self.gap_since.get_or_insert(now);
        if missing >= 2 || self.ahead.len() >= MAX_AHEAD { Arrival::RoundNow } else { Arrival::Fine }
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
    /// A push from the member at `from`: acknowledgements noted, the sender adopted as a child if it pushes as to
    /// its parent, the delta merged (and relayed as news), its number checked for gaps.
    pub(super) fn on_push(&mut self, now: Duration, from: usize, push: Push<C>) {
        let arrival = self.link(from).inbound.note(push.seq, now);
        if let Some(ack) = push.ack {
            self.link(from).acknowledge(ack);
            self.confirmed(from, ack);
            if Some(from) == self.parent() {
                self.shadow = None; // the new parent answers: no more copies to the old one
            }
        }
        if push.up && !C::delta_is_empty(&push.delta) {
            self.adopt_child(now, from);
        }
        self.merge(now, Source::Peer(from), &push.delta);
        if Some(from) == self.parent() && self.down_due.is_some() {
            // An inner relay sends its children's batch when its parent's push arrives: one window on the way down.
            self.flush_down(now);
        }
        if push.urgent {
            // A hand-off from a node that just chose this one as its parent: it waits for the acknowledgement only
            // `ack_slack`, so the acknowledgement leaves now.
            if push.up {
                self.flush_link(now, from, false);
            } else if Some(from) == self.parent() {
                // The parent asks for an acknowledgement of its pushes (`Config::confirm`): none came up lately.
                self.link(from).ack_owed = true;
                self.flush_link(now, from, true);
            }
            self.hurry_down(now);
        }
        if arrival == Arrival::RoundNow {
            self.gap_round(now, from);
        }
    }

    /// Joins `delta` (which came from `from`) and, if it changed the replica, queues it for the overlay targets
    /// of deltas from `from`. Returns whether the replica changed.
    pub(super) fn merge(&mut self, now: Duration, from: Source, delta: &C) -> bool {
        if !self.state.apply_delta(delta) {
            return false;
        }
        self.after_change(now, from, delta, &[]);
        true
    }

    /// Bookkeeping after `delta` (from `from`, holding the local updates numbered `locals`) changed the replica:
    /// news resets the round timer, and the delta is queued for the overlay targets of `from`.
    pub(super) fn after_change(&mut self, now: Duration, from: Source, delta: &C, locals: &[u64]) {
        if from != Source::Local {
            self.last_news = now;
        }
        self.interval = self.config.round_min;
        self.queue(now, from, delta, locals);
    }

    /// Queues `delta` (holding the local updates numbered `locals`) for the overlay targets of deltas from `from`,
    /// and flushes what is due at once.
    pub(super) fn queue(&mut self, now: Duration, from: Source, delta: &C, locals: &[u64]) {
        let adopted: Vec<usize> = self.adopted.keys().filter_map(|id| self.members.position(id)).collect();
        let upstream = self.parent();
        let mut targets = self.plan.targets(from, adopted.into_iter().chain(upstream));
        if let Some(shadow) = self.shadow(now).filter(|_| targets.iter().any(|&t| Some(t) == upstream))
            && !targets.contains(&shadow)
            && Source::Peer(shadow) != from
        {
            targets.push(shadow);
        }
        self.join_pending(&targets, delta);
        for &target in &targets {
            self.link(target).locals.extend_from_slice(locals);
        }
        if !targets.is_empty() {
            self.unsent.extend(locals);
            if self.config.confirm {
                self.unconfirmed.extend(locals);
            }
        }
        let shadow = self.shadow(now);
        if targets.iter().any(|&t| Some(t) == upstream || Some(t) == shadow) {
            self.up_due.get_or_insert(now.saturating_add(self.config.local_window));
        }
        if targets.iter().any(|&t| Some(t) != upstream && Some(t) != shadow) {
            let window = self.down_window();
            self.down_due.get_or_insert(now.saturating_add(window));
        }
        if self.up_due.is_some_and(|t| t <= now) {
            self.flush_up(now);
        }
        if self.down_due.is_some_and(|t| t <= now) {
            self.flush_down(now);
        }
    }

    /// Joins `delta` into the batches of `targets`, once per distinct batch: targets that share one batch keep
    /// sharing it, and it is copied only if a link outside `targets` shares it too (see [`Pending`]).
    fn join_pending(&mut self, targets: &[usize], delta: &C) {
        let mut groups: Vec<(Option<Arc<C>>, Vec<usize>)> = Vec::new();
        for &target in targets {
            let batch = self.link(target).pending.0.take();
            let same = |(b, _): &&mut (Option<Arc<C>>, Vec<usize>)| match (b, &batch) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (a, b) => a.is_none() && b.is_none(),
            };
            match groups.iter_mut().find(same) {
                Some((_, members)) => members.push(target), // this link's reference is dropped here
                None => groups.push((batch, vec![target])),
            }
        }
        for (batch, members) in groups {
            let mut batch = batch.unwrap_or_default();
            Arc::make_mut(&mut batch).join(delta);
            for target in members {
                self.link(target).pending.0 = Some(Arc::clone(&batch));
            }
        }
    }

    /// With [`crate::Config::backup`]: a local update that is waiting for a window goes now to one peer — the
    /// parent, or the first child — in that peer's batch, so that no acknowledged update lives only here for
    /// longer than it takes to write a message (a crash loses what is only in memory).
    pub(super) fn back_up(&mut self, now: Duration) {
        if !self.config.backup {
            return;
        }
        match self.parent() {
            Some(_) if self.up_due.is_some() => self.flush_up(now),
            Some(_) => {}
            None => {
                let adopted: Vec<usize> = self.adopted.keys().filter_map(|id| self.members.position(id)).collect();
                let first = self.plan.targets(Source::Local, adopted.into_iter()).first().copied();
                if let Some(first) =
                    first.filter(|&f| self.links.get(self.members.id(f)).is_some_and(|l| l.pending.is_some()))
                {
                    self.flush_link(now, first, false);
                }
            }
        }
    }

    /// How long batches for targets other than the parent wait: the relay window for a node that relays (twice
    /// that for one with a parent, which flushes when its parent's push arrives, so the window is only a
    /// fallback), the local window for one that does not.
    fn down_window(&self) -> Duration {
        if !self.plan.relays() && self.adopted.is_empty() {
            self.config.local_window
        } else if self.parent().is_some() {
            self.config.relay_window.saturating_mul(2)
        } else {
            self.config.relay_window
        }
    }

    /// Makes the batches for everyone but the parent go out soon: now, or half a relay window after the last such
    /// flush if that is later (so that a burst of hand-offs costs at most two flushes per window).
    pub(super) fn hurry_down(&mut self, now: Duration) {
        let soon = self.last_down_flush.map_or(now, |t| now.max(t.saturating_add(self.config.relay_window / 2)));
        if self.links.values().any(|l| l.pending.is_some() || l.ack_owed) {
            self.down_due = Some(self.down_due.map_or(soon, |t| t.min(soon)));
        }
        if self.down_due.is_some_and(|t| t <= now) {
            self.flush_down(now);
        }
    }

    /// Sends the parent's batch.
    pub(super) fn flush_up(&mut self, now: Duration) {
        self.up_due = None;
        if let Some(parent) = self.parent() {
            self.flush_link(now, parent, true);
        }
        if let Some(shadow) = self.shadow(now) {
            self.flush_link(now, shadow, true);
        }
    }

    /// Sends every other waiting batch (and owed acknowledgement), one push per peer (more if the budget needs),
    /// in id order.
    pub(super) fn flush_down(&mut self, now: Duration) {
        self.down_due = None;
        self.last_down_flush = Some(now);
        let up: Vec<I> =
            [self.parent(), self.shadow(now)].into_iter().flatten().map(|p| self.members.id(p).clone()).collect();
        let due: Vec<I> = self
            .links
            .iter()
            .filter(|(id, l)| (l.pending.is_some() && !up.contains(id)) || l.ack_owed)
            .map(|(id, _)| id.clone())
            .collect();
        let mut cuts = Cuts::new();
        for id in due {
            if let Some(pos) = self.members.position(&id) {
                self.flush_link_sharing(now, pos, false, &mut cuts);
            } else {
                self.drop_link(&id); // a member that left
            }
        }
    }

    /// Sends the batch waiting for the member at `pos` (an acknowledgement alone if nothing else waits for it but
    /// one is owed), cut to the byte budget; `up` if it is this node's parent.
    pub(super) fn flush_link(&mut self, now: Duration, pos: usize, up: bool) {
        self.flush_link_sharing(now, pos, up, &mut Cuts::new());
    }

    /// [`Engine::flush_link`], taking the parts of a batch shared with links flushed before from `cuts` (and
    /// adding those it cuts).
    fn flush_link_sharing(&mut self, now: Duration, pos: usize, up: bool, cuts: &mut Cuts<C>) {
        let suspects = self.reports(now, pos);
        let confirm = self.config.confirm;
        let link = self.link(pos);
        let delta = link.pending.0.take();
        if delta.is_none() && !link.ack_owed && !link.urgent {
            return;
        }
        let locals = std::mem::take(&mut link.locals);
        let ack_back = confirm && up && link.inbound.highest > link.inbound.acked;
        let ack = if std::mem::take(&mut link.ack_owed) || ack_back { link.inbound.highest } else { None };
        if up && ack.is_some() {
            link.inbound.acked = ack;
        }
        let urgent = std::mem::take(&mut link.urgent);
        for n in &locals {
            self.unsent.remove(n);
        }
        let delta = delta.unwrap_or_default();
        let header = Message::<C, I>::Push {
            seq: u64::MAX,
            delta: Arc::default(),
            ack: Some(u64::MAX),
            up,
            urgent,
            suspects: Vec::new(),
        };
        let reports = if suspects.is_empty() { 0 } else { osmosis_crdt::json_len(&suspects) + ",\"suspects\":".len() };
        let overhead = osmosis_crdt::json_len(&header) + reports - C::default().json_len();
        let budget = self.config.max_message_bytes.saturating_sub(overhead);
        let parts = self.cut(delta, budget, cuts);
        let mut suspects = Some(suspects);
        let mut ack = ack;
        for part in parts {
            let link = self.link(pos);
            let seq = link.next_seq;
            link.next_seq += 1;
            if C::delta_is_empty(&part) {
                self.stats.empty_pushes += 1;
            } else if up {
                let wait = if urgent { self.config.ack_slack } else { self.ack_timeout() };
                let link = self.link(pos);
                link.unacked.push_back((seq, now.saturating_add(wait)));
                link.backlog.push(C::clone(&part));
            }
            let suspects = suspects.take().unwrap_or_default();
            let msg = Message::Push { seq, delta: part, ack: ack.take(), up, urgent, suspects };
            self.send(pos, msg);
        }
        if confirm && !locals.is_empty() {
            self.carried(now, pos, locals);
        }
    }

    /// `delta` cut into parts that fit `budget` bytes (one part when it fits, the usual case); counts the parts
    /// that still do not (single elements larger than any message). A batch that other links share is cut once
    /// per budget and flush: its parts are kept in `cuts` for them.
    fn cut(&mut self, delta: Arc<C>, budget: usize, cuts: &mut Cuts<C>) -> Vec<Arc<C>> {
        if let Some((_, _, parts, oversized)) = cuts.iter().find(|c| Arc::ptr_eq(&c.0, &delta) && c.1 == budget) {
            self.stats.oversized += oversized;
            return parts.clone();
        }
        let (parts, oversized) = match delta.parts_within(budget) {
            None => (vec![Arc::clone(&delta)], 0),
            Some((parts, over)) => (parts.into_iter().map(Arc::new).collect(), over as u64),
        };
        self.stats.oversized += oversized;
        if Arc::strong_count(&delta) > 1 + usize::from(parts.iter().any(|p| Arc::ptr_eq(p, &delta))) {
            cuts.push((delta, budget, parts.clone(), oversized)); // other links still hold it
        }
        parts
    }

    /// What a push to the member at `target` reports: the suspects this node routes around or `target` climbs over
    /// to reach this node, with the time their suspicion has left.
    fn reports(&self, now: Duration, target: usize) -> Vec<Report<I>> {
        self.plan
            .reports_for(target)
            .iter()
            .take(crate::config::MAX_REPORTS)
            .filter_map(|&p| {
                let s = self.members.suspicion(p)?;
                let left = s.until.map_or(self.config.suspicion_ttl, |t| t.saturating_sub(now));
                Some(Report { id: self.members.id(p).clone(), ms: left.as_millis().try_into().unwrap_or(u64::MAX) })
            })
            .collect()
    }

    /// The member at `from` pushed to this node as to its parent: it gets this node's news and an acknowledgement
    /// within a relay window, even if it is not a child in this node's view.
    fn adopt_child(&mut self, now: Duration, from: usize) {
        let id = self.members.id(from).clone();
        let was_bridge = self.bridge.as_ref() == Some(&id);
        if self.adopted.insert(id, now.saturating_add(self.config.suspicion_ttl)).is_none()
            && was_bridge
            && let Some(parent) = self.refresh_parent(now)
        {
            self.gap_round(now, parent); // a bridge that pushes here as to its parent cannot be one
        }
        self.link(from).ack_owed = true;
        let by = now.saturating_add(self.config.relay_window);
        self.down_due = Some(self.down_due.map_or(by, |t| t.min(by)));
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
            if let Some(peer) = self.members.position(&peer) {
                self.gap_round(now, peer);
            }
        }
    }

    /// When the first open push gap times out, if any is open.
    pub(super) fn next_gap_deadline(&self) -> Option<Duration> {
        let timeout = self.config.gap_timeout;
        self.links.values().filter_map(|l| l.inbound.gap_since.map(|t| t.saturating_add(timeout))).min()
    }

    /// A round with `peer` now: its pushes have a gap (which the round repairs, so the gap is forgotten), or it was
    /// suspected and has just been heard from again.
    pub(super) fn gap_round(&mut self, now: Duration, peer: usize) {
        self.link(peer).inbound.resolve();
        self.stats.gap_rounds += 1;
        self.open_rounds(now, &[peer]);
    }

    /// Whether the link with the member at `pos` is proven to work both ways: nothing pushed to it awaits an
    /// acknowledgement, no push number from it is missing, and it was heard from within the round interval.
    pub(super) fn upstream_link_proven(&self, now: Duration, pos: usize) -> bool {
        self.members.heard_within(pos, now, self.interval)
            && self
                .links
                .get(self.members.id(pos))
                .is_some_and(|l| l.unacked.is_empty() && l.inbound.gap_since.is_none() && l.inbound.highest.is_some())
    }

    /// Forgets the link with `id` (a member that left): the local updates that waited only for it have nowhere to go.
    pub(super) fn drop_link(&mut self, id: &I) {
        if let Some(link) = self.links.remove(id) {
            for n in link.locals {
                if !self.links.values().any(|l| l.locals.contains(&n)) {
                    self.unsent.remove(&n);
                }
            }
            self.forget_carried(link.confirm);
        }
    }

    /// The link with the member at `pos`, created on first use.
    pub(super) fn link(&mut self, pos: usize) -> &mut Link<C> {
        let id = self.members.id(pos);
        if !self.links.contains_key(id) {
            self.links.insert(id.clone(), Link::default());
        }
        self.links.get_mut(id).expect("inserted above")
    }
}
