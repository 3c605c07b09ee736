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
    /// batch) plus the slack for two trips over the network. An urgent push (a hand-off to a new parent) is
    /// acknowledged at once, so it waits `ack_slack` only.
    pub(super) fn ack_timeout(&self) -> Duration {
        self.config.relay_window.saturating_add(self.config.ack_slack)
    }

    /// Records a message from the member at `peer`. Returns true if it was suspected: it is reachable again, and
    /// the view has been re-formed (without a catch-up round with it if `in_round`: the message is part of one).
    pub(super) fn heard_from(&mut self, now: Duration, peer: usize, in_round: bool) -> bool {
        let was = self.members.suspicion(peer).map(|s| s.origin);
        if matches!(was, Some(Origin::Direct | Origin::Reported)) && self.members.heard(peer, now) {
            match self.replan(now) {
                Some(parent) if !(in_round && parent == peer) => self.gap_round(now, parent),
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

    /// Ends expired suspicions and adoptions, and suspects the parent (or bridge) if a push to it is overdue.
    pub(super) fn check_health(&mut self, now: Duration) {
        let adopted = self.adopted.len();
        self.adopted.retain(|_, until| *until > now);
        let mut changed = self.members.expire(now) || self.adopted.len() != adopted;
        if let Some(parent) = self.parent()
            && self.ack_deadline(parent).is_some_and(|t| t <= now)
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
        let overdue = self.parent().and_then(|p| self.ack_deadline(p));
        [self.members.next_expiry(), self.adopted.values().min().copied(), overdue].into_iter().flatten().min()
    }

    /// When the first unacknowledged push to the member at `pos` is overdue (a later hand-off may be due before an
    /// earlier ordinary push).
    fn ack_deadline(&self, pos: usize) -> Option<Duration> {
        self.links.get(self.members.id(pos)).and_then(|l| l.unacked.iter().map(|&(_, t)| t).min())
    }

    /// [`Engine::replan`], then a round with the new parent if the parent changed (the old one may have failed
    /// before relaying everything).
    pub(super) fn replan_and_catch_up(&mut self, now: Duration) {
        if let Some(parent) = self.replan(now) {
            self.gap_round(now, parent);
        }
    }

    /// Re-forms this node's view of the overlay from the membership, then its parent; returns the new parent if
    /// the parent changed.
    pub(super) fn replan(&mut self, now: Duration) -> Option<usize> {
        let before = self.shape_ids();
        self.replan_from(now, before)
    }

    /// The parent and children this node has now, by id (positions change with the member list).
    pub(super) fn shape_ids(&self) -> (Option<I>, Vec<I>) {
        (self.parent_id(), self.plan.children().iter().map(|&c| self.members.id(c).clone()).collect())
    }

    /// [`Engine::replan`] when the parent and children were `before` (the member list may have changed since).
    pub(super) fn replan_from(&mut self, now: Duration, before: (Option<I>, Vec<I>)) -> Option<usize> {
        let (old, children) = before;
        let plan = Self::plan_for(&self.config, &self.members);
        if plan != self.plan {
            let gained: Vec<usize> =
                plan.children().iter().filter(|&&c| !children.contains(self.members.id(c))).copied().collect();
            self.plan = plan;
            if !gained.is_empty() {
                // Nodes that now climb to this one: a push right away tells them why (its reports), so that they
                // re-route (and catch up with a round) without waiting for their own evidence.
                for child in gained {
                    self.link(child).pending.get_or_insert_with(C::default);
                }
                self.hurry_down(now);
            }
        }
        self.check_bridge();
        self.fold_orphans(now, old.as_ref());
        self.handoff(now, old)
    }

    /// Batches waiting for peers this node no longer pushes to (a stand-in root's or a relay's former children,
    /// whose adoption ended) go to the parent instead, which relays them to everyone: one push rather than one per
    /// former child, most of whom have it from the parent already. `old` is the previous parent, whose batch the
    /// hand-off carries.
    fn fold_orphans(&mut self, now: Duration, old: Option<&I>) {
        let Some(parent) = self.parent() else { return };
        let parent_id = self.members.id(parent).clone();
        let keep: Vec<I> = self
            .plan
            .children()
            .iter()
            .map(|&c| self.members.id(c).clone())
            .chain(self.adopted.keys().cloned())
            .chain(self.shadow.as_ref().map(|(id, _)| id.clone()))
            .chain(old.cloned())
            .chain([parent_id])
            .collect();
        let orphans: Vec<I> = self
            .links
            .iter()
            .filter(|(id, l)| l.pending.is_some() && !keep.contains(id))
            .map(|(id, _)| id.clone())
            .collect();
        if orphans.is_empty() {
            return;
        }
        let mut folded = C::default();
        let mut locals = Vec::new();
        for id in orphans {
            let link = self.links.get_mut(&id).expect("listed above");
            if let Some(part) = link.pending.take() {
                folded.join(&part);
            }
            locals.append(&mut link.locals);
        }
        if C::delta_is_empty(&folded) && locals.is_empty() {
            // Only batches that carried reports to would-be children: nothing for the parent, and an empty push
            // up without reports would read as a goodbye there (`on_goodbye`), ending an adoption.
            return;
        }
        let link = self.link(parent);
        link.pending.get_or_insert_with(C::default).join(&folded);
        link.locals.extend(locals);
        link.locals.sort_unstable();
        link.locals.dedup(); // an update queued for several former children is one update
        let due = now.saturating_add(self.config.local_window);
        self.up_due = Some(self.up_due.map_or(due, |t| t.min(due)));
    }

    /// A push up from `peer` that reports no suspect: `peer` climbs over nobody to reach this node, so unless it is
    /// a child in this node's view, it is an old child's copy of its pushes while it moves back to its preferred
    /// parent (the shadow, see `handoff`). Its adoption ends an acknowledgement timeout later instead of a whole
    /// suspicion later: relaying to it meanwhile would only repeat what its parent relays.
    pub(super) fn shorten_adoption(&mut self, now: Duration, peer: usize) {
        if self.plan.children().contains(&peer) {
            return;
        }
        let until = now.saturating_add(self.ack_timeout());
        if let Some(t) = self.adopted.get_mut(self.members.id(peer)) {
            *t = (*t).min(until);
        }
    }

    /// This node's parent: the overlay's, or, for a node that stands in for a suspected root, its bridge.
    pub(super) fn parent(&self) -> Option<usize> {
        self.plan.upstream().or_else(|| self.bridge.as_ref().and_then(|b| self.members.position(b)))
    }

    fn parent_id(&self) -> Option<I> {
        self.parent().map(|p| self.members.id(p).clone())
    }

    /// Keeps the bridge of a stand-in root (a node that finds every member ahead of it unreachable) while it is
    /// a live member that does not push here as to its parent. A partition need not be transitive: the stand-in may
    /// be cut off from the members ahead of it while the rest still reach them, and then the rest never push to it.
    /// When one of its rounds with such a node brings news, that node becomes its bridge
    /// ([`Engine::found_bridge`]): the stand-in pushes to it as to a parent, and it relays between the two.
    fn check_bridge(&mut self) {
        let keep = self.bridge.as_ref().is_some_and(|b| {
            self.plan.stands_in()
                && self.members.position(b).is_some_and(|p| self.members.is_live(p))
                && !self.adopted.contains_key(b)
        });
        if !keep {
            self.bridge = None;
        }
    }

    /// A round of this node's with the member at `peer` brought news: if this node stands in for a suspected
    /// root, has no bridge yet and `peer` is not a node that pushes here as to its parent, `peer` becomes the
    /// bridge. A working bridge is kept (`check_bridge` drops one that is suspected or pushes here): after a heal,
    /// rounds with many nodes bring news at once, and switching on each cost a hand-off apiece.
    pub(super) fn found_bridge(&mut self, now: Duration, peer: usize) {
        let id = self.members.id(peer).clone();
        if self.plan.stands_in() && self.bridge.is_none() && !self.adopted.contains_key(&id) {
            let old = self.parent_id();
            self.bridge = Some(id);
            self.handoff(now, old);
        }
    }

    /// Re-checks the bridge; if the parent changed, hands the new one (or, for a node that became the root, its
    /// children) what the old one did not acknowledge, and returns it.
    pub(super) fn refresh_parent(&mut self, now: Duration) -> Option<usize> {
        let old = self.parent_id();
        self.check_bridge();
        self.fold_orphans(now, old.as_ref());
        self.handoff(now, old)
    }

    /// If the parent is no longer `old`, hands the new one what `old` did not acknowledge, and returns the new one.
    /// An old parent that is not suspected (the move is back to a preferred parent, whose reachability is not
    /// proven yet) keeps getting copies of this node's pushes up until the new one acknowledges one: the shadow.
    fn handoff(&mut self, now: Duration, old: Option<I>) -> Option<usize> {
        let new = self.parent();
        if old.as_ref() == new.map(|p| self.members.id(p)) {
            return None;
        }
        self.stats.reroutes += 1;
        let old = old.and_then(|id| self.members.position(&id));
        self.shadow = old
            .filter(|&o| self.members.is_live(o) && new.is_some())
            .map(|o| (self.members.id(o).clone(), now.saturating_add(self.ack_timeout())));
        let mut handoff: Option<C> = None;
        let mut locals = Vec::new();
        if let Some(old) = old {
            let link = self.link(old);
            link.unacked.clear();
            locals = std::mem::take(&mut link.locals);
            // What the old parent never acknowledged is carried again, and confirmed by the new one.
            locals.extend(std::mem::take(&mut link.confirm).into_iter().flat_map(|c| c.locals));
            for part in std::mem::take(&mut link.backlog).into_iter().chain(link.pending.take()) {
                handoff.get_or_insert_with(C::default).join(&part);
            }
        }
        self.say_goodbye(now);
        let Some(handoff) = handoff else { return new };
        match new {
            Some(parent) => {
                let link = self.link(parent);
                link.pending.get_or_insert_with(C::default).join(&handoff);
                link.locals.extend(locals);
                link.urgent = true;
                self.flush_up(now);
            }
            None => {
                // The new root: its children may lack what its old parent never relayed.
                for n in &locals {
                    self.unsent.remove(n);
                }
                self.queue(now, Source::Local, &handoff, &locals);
                self.hurry_down(now);
            }
        }
        new
    }

    /// Tells the old parent this node has just left for its preferred one (the shadow) that it no longer climbs
    /// to it: an empty push up without reports, which ends this node's adoption there at once (see
    /// [`Engine::on_goodbye`]). Without it the old parent would relay to this node for a whole suspicion, repeating
    /// what the preferred parent relays.
    fn say_goodbye(&mut self, now: Duration) {
        if let Some(old) = self.shadow(now) {
            self.link(old).pending.get_or_insert_with(C::default);
            self.flush_link(now, old, true);
        }
    }

    /// A push up from `peer` that carries nothing, reports no suspect and acknowledges nothing: unless `peer` is a
    /// child in this node's view, it has left for its preferred parent ([`Engine::say_goodbye`]); this node stops
    /// relaying to it.
    pub(super) fn on_goodbye(&mut self, peer: usize) {
        if !self.plan.children().contains(&peer) {
            self.adopted.remove(self.members.id(peer));
        }
    }

    /// The old parent that still gets copies of this node's pushes up, while it does.
    pub(super) fn shadow(&self, now: Duration) -> Option<usize> {
        self.shadow.as_ref().filter(|(_, until)| *until > now).and_then(|(id, _)| self.members.position(id))
    }
}
