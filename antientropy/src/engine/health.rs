//! Suspicion and healing (ALGORITHM.md §4): a node suspects its parent when a push to it goes unacknowledged for
//! the parent's relay window plus `ack_slack`, adopts its peers' reports about the members it would route
//! through, stops suspecting a member as soon as it hears from it, and re-forms its view of the overlay whenever
//! any of that changes. When its parent changes it hands the new parent what the old one did not acknowledge, and
//! runs a round with it (the old one may have failed before relaying everything).

use std::time::Duration;

use super::{Engine, Replica};
use crate::id::NodeId;
use crate::membership::Origin;
use crate::message::Report;
use crate::overlay::Source;

impl<C: Replica, I: NodeId> Engine<C, I> {
    /// How long a push to the parent may go unacknowledged: the parent's relay window (it acknowledges on its next
    /// batch) plus the slack for two trips over the network.
    pub(super) fn ack_timeout(&self) -> Duration {
        self.config.relay_window.saturating_add(self.config.ack_slack)
    }

    /// Records a message from the member at `peer`. Returns true if it was suspected: it is reachable again, and
    /// the view has been re-formed (without a catch-up round with it if `in_round`: the message is part of one).
    pub(super) fn heard_from(&mut self, now: Duration, peer: usize, in_round: bool) -> bool {
        let was = self.members.suspicion(peer).map(|s| s.origin);
        if matches!(was, Some(Origin::Direct | Origin::Reported)) && self.members.heard(peer, now) {
            match self.replan(now) {
                Some(parent) if !(in_round && parent == peer) => self.gap_round(parent),
                _ => {}
            }
            return true;
        }
        self.members.heard(peer, now);
        false
    }

    /// Adopts the reports of `sender` that concern this node's routing, unless this node heard from the reported
    /// member within an acknowledgement timeout (it is reachable from here, whatever the sender sees).
    pub(super) fn on_reports(&mut self, now: Duration, sender: usize, reports: &[Report<I>]) {
        if reports.is_empty() {
            return;
        }
        let positions: Vec<(usize, u64)> =
            reports.iter().filter_map(|r| Some((self.members.position(&r.id)?, r.ms))).collect();
        let reported: Vec<usize> = positions.iter().map(|&(p, _)| p).collect();
        let fresh = self.ack_timeout();
        let mut changed = false;
        for suspect in self.plan.concerning(sender, &reported) {
            if self.members.heard_within(suspect, now, fresh) {
                continue;
            }
            let ms = positions.iter().find(|&&(p, _)| p == suspect).map_or(0, |&(_, ms)| ms);
            let left = Duration::from_millis(ms).min(self.config.suspicion_ttl.saturating_mul(16));
            if self.members.adopt(suspect, now.saturating_add(left)) {
                self.stats.adopted_reports += 1;
                changed = true;
            }
        }
        if changed {
            self.replan_and_catch_up(now);
        }
    }

    /// Ends expired suspicions and adoptions, and suspects the parent if a push to it is overdue.
    pub(super) fn check_health(&mut self, now: Duration) {
        self.adopted.retain(|_, until| *until > now);
        let mut changed = self.members.expire(now);
        if let Some(parent) = self.plan.upstream()
            && self.overdue_since(parent).is_some_and(|t| t.saturating_add(self.ack_timeout()) <= now)
        {
            self.stats.suspicions += 1;
            changed |= self.members.suspect_direct(parent, now, self.config.suspicion_ttl);
        }
        if changed {
            self.replan_and_catch_up(now);
        }
    }

    /// When the health checks have work next: a suspicion or adoption ends, or a push to the parent is overdue.
    pub(super) fn next_health_deadline(&self) -> Option<Duration> {
        let overdue = self.plan.upstream().and_then(|p| self.overdue_since(p)).map(|t| t + self.ack_timeout());
        [self.members.next_expiry(), self.adopted.values().min().copied(), overdue].into_iter().flatten().min()
    }

    /// When the oldest unacknowledged push to the member at `pos` was sent.
    fn overdue_since(&self, pos: usize) -> Option<Duration> {
        self.links.get(self.members.id(pos)).and_then(|l| l.unacked.front()).map(|&(_, t)| t)
    }

    /// [`Engine::replan`], then a round with the new parent if the parent changed (the old one may have failed
    /// before relaying everything).
    pub(super) fn replan_and_catch_up(&mut self, now: Duration) {
        if let Some(parent) = self.replan(now) {
            self.gap_round(parent);
        }
    }

    /// Re-forms this node's view of the overlay from the membership; if its parent changed, hands the new one (or,
    /// for a node that became the root, its children) what the old one did not acknowledge, and returns it.
    pub(super) fn replan(&mut self, now: Duration) -> Option<usize> {
        let plan = Self::plan_for(&self.config, &self.members);
        if plan == self.plan {
            return None;
        }
        let (old, new) = (self.plan.upstream(), plan.upstream());
        let gained: Vec<usize> =
            plan.children().iter().filter(|c| !self.plan.children().contains(c)).copied().collect();
        self.plan = plan;
        if !gained.is_empty() {
            // Nodes that now climb to this one: a push right away tells them why (its reports), so that they
            // re-route (and catch up with a round) without waiting for their own evidence.
            for child in gained {
                self.link(child).pending.get_or_insert_with(C::default);
            }
            self.hurry_down(now);
        }
        if old == new {
            return None;
        }
        self.stats.reroutes += 1;
        let mut handoff: Option<C> = None;
        if let Some(old) = old {
            let link = self.link(old);
            link.unacked.clear();
            for part in [link.backlog.take(), link.pending.take()].into_iter().flatten() {
                handoff.get_or_insert_with(C::default).join(&part);
            }
        }
        let Some(handoff) = handoff else { return new };
        match new {
            Some(parent) => {
                let link = self.link(parent);
                link.pending.get_or_insert_with(C::default).join(&handoff);
                link.urgent = true;
                self.flush_up(now);
            }
            None => {
                // The new root: its children may lack what its old parent never relayed.
                self.queue(now, Source::Local, &handoff);
                self.hurry_down(now);
            }
        }
        new
    }
}
