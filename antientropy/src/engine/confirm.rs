//! Confirmed local updates (`Config::confirm`, ALGORITHM.md §4, "Crashes"): a local update counts as confirmed
//! once a peer has acknowledged a push that carried it. A parent acknowledges its children's pushes anyway; with
//! `confirm`, a child's pushes up also acknowledge its parent's pushes, and a node whose pushes down stay
//! unacknowledged for an acknowledgement timeout (no child pushed up meanwhile: a quiet cluster) asks one child
//! for an acknowledgement, another child at the next timeout.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Engine, Replica};
use crate::id::NodeId;

/// A push to a peer that carried local updates, until the peer acknowledges it.
#[derive(Debug)]
pub(super) struct Carried {
    /// The push's number (the last, if the batch was cut into several).
    seq: u64,
    /// When it was sent, or when the peer was last asked to acknowledge it.
    at: Duration,
    /// The local updates it carried.
    pub(super) locals: Vec<u64>,
}

impl<C: Replica, I: NodeId> Engine<C, I> {
    /// A push numbered up to the next one's number minus 1 carried `locals` to the member at `pos`.
    pub(super) fn carried(&mut self, now: Duration, pos: usize, locals: Vec<u64>) {
        let link = self.link(pos);
        let seq = link.next_seq_sent();
        link.confirm.push_back(Carried { seq, at: now, locals });
    }

    /// The member at `from` acknowledged this node's pushes up to `ack`: the local updates they carried are
    /// confirmed.
    pub(super) fn confirmed(&mut self, from: usize, ack: u64) {
        if !self.config.confirm {
            return;
        }
        let link = self.link(from);
        let mut done = Vec::new();
        while link.confirm.front().is_some_and(|c| c.seq <= ack) {
            done.extend(link.confirm.pop_front().map(|c| c.locals).unwrap_or_default());
        }
        if done.is_empty() {
            return;
        }
        for n in done {
            self.unconfirmed.remove(&n);
        }
        let unconfirmed = &self.unconfirmed;
        for link in self.links.values_mut() {
            link.confirm.retain(|c| c.locals.iter().any(|n| unconfirmed.contains(n)));
        }
    }

    /// Forgets the pushes to a member that left: what they alone carried has nobody left to confirm it.
    pub(super) fn forget_carried(&mut self, carried: VecDeque<Carried>) {
        for n in carried.into_iter().flat_map(|c| c.locals) {
            let elsewhere =
                self.links.values().any(|l| l.locals.contains(&n) || l.confirm.iter().any(|c| c.locals.contains(&n)));
            if !elsewhere {
                self.unconfirmed.remove(&n);
            }
        }
    }

    /// When the oldest unacknowledged push down that carried local updates is overdue, if any.
    pub(super) fn next_confirmation_ask(&self) -> Option<Duration> {
        if !self.config.confirm || self.unconfirmed.is_empty() {
            return None;
        }
        let parent = self.parent().map(|p| self.members.id(p));
        let timeout = self.ack_timeout();
        self.links
            .iter()
            .filter(|(id, _)| Some(*id) != parent)
            .filter_map(|(_, l)| l.confirm.front().map(|c| c.at.saturating_add(timeout)))
            .min()
    }

    /// Asks the child whose push is the most overdue to acknowledge (an empty `urgent` push, answered at once),
    /// one child per acknowledgement timeout.
    pub(super) fn ask_confirmation(&mut self, now: Duration) {
        if self.next_confirmation_ask().is_none_or(|t| t > now) {
            return;
        }
        let parent = self.parent().map(|p| self.members.id(p).clone());
        let Some(id) = self
            .links
            .iter()
            .filter(|(id, _)| Some(*id) != parent.as_ref())
            .filter_map(|(id, l)| l.confirm.front().map(|c| (c.at, id)))
            .min()
            .map(|(_, id)| id.clone())
        else {
            return;
        };
        let Some(pos) = self.members.position(&id) else { return };
        // One child per timeout: the others' pushes wait one more timeout, the asked one's two (if it is down, the
        // next ask goes to another).
        let later = now.saturating_add(self.ack_timeout());
        for (other, link) in &mut self.links {
            let at = if *other == id { later } else { now };
            for c in link.confirm.iter_mut().filter(|c| c.at <= now) {
                c.at = at;
            }
        }
        let link = self.link(pos);
        link.urgent = true;
        self.flush_link(now, pos, false);
    }
}
