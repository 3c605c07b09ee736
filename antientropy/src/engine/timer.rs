//! The round timer: when a timed round runs and whom it asks (ALGORITHM.md §1, "Round timer").

use std::time::Duration;

use rand::seq::IndexedRandom;

use super::{Engine, Replica};
use crate::id::NodeId;

impl<C: Replica, I: NodeId> Engine<C, I> {
    /// When the timed round is due: `interval` after the later of the last news from a peer and the last round (the
    /// wait doubles with every round while nothing changes, and is back to `round_min` after any change), but never
    /// later than `round_max` after the last round. A node whose own updates keep coming but which hears no news
    /// (cut off from the overlay) thus runs a round every `round_min`.
    pub(super) fn round_due(&self) -> Option<Duration> {
        if self.members.len() <= 1 {
            return None;
        }
        let last_round = self.last_round.unwrap_or(self.started);
        if self.plan.stands_in() && self.bridge.is_none() {
            // A stand-in root without a bridge runs a round every quarter of `round_min`, news or not: its rounds
            // are how it finds a bridge (and, until then, how it learns what the members it cannot reach learned).
            return Some(last_round.saturating_add(self.config.round_min / 4));
        }
        let quiet = self.last_news.max(last_round).saturating_add(self.interval);
        Some(quiet.min(last_round.saturating_add(self.config.round_max)))
    }

    /// Runs the timed round: with the upstream node, and, unless news arrived within the last interval, `fanout`
    /// random other peers.
    pub(super) fn timed_round(&mut self, now: Duration) {
        let upstream = self.parent();
        // News arrived within the last interval: the eager path works, the round only guards against a lost push
        // of this node's own, and the upstream node is the one that must have it. Otherwise (quiet, or cut off)
        // random peers too.
        let news_flows = self.last_news.saturating_add(self.interval) > now;
        let repaired = |u: usize| self.unanswered_rounds(self.members.id(u)) == 0;
        if news_flows
            && upstream.is_some_and(|u| {
                repaired(u) && (self.upstream_link_proven(now, u) || self.upstream_link_working(now, u))
            })
        {
            // Nothing for the round to find: every push to the upstream node was acknowledged or is waiting for
            // its next push (a lost one would go unacknowledged by it), its pushes here arrive without a gap (a
            // lost one opens a gap at the next, which starts a round by itself), and the last round with it was
            // not left unfinished (a gap's round whose messages were lost repaired nothing, and the gap is
            // forgotten once its round starts).
            self.stats.skipped_rounds += 1;
            self.last_round = Some(now);
            self.interval = self.interval.saturating_mul(2).min(self.config.round_max);
            return;
        }
        self.stats.rounds += 1;
        // Random peers too unless news flows or the upstream link is settled: its last round was answered, it was
        // heard from within `round_max`, no push to it is overdue and no push here is missing. The round with the
        // upstream is then what repairs (§2); once it goes unanswered (agreement, or an upstream cut off), the next
        // round asks random peers as well.
        let settled = upstream.is_some_and(|u| self.upstream_settled(now, u));
        let fanout = if (news_flows && upstream.is_some()) || settled { 0 } else { self.config.fanout };
        let me = self.members.me();
        // Suspected peers stay candidates: suspicion steers the eager path, while a round is what repairs a link
        // once it works again (and all of them may be suspected).
        let others: Vec<usize> = (0..self.members.len()).filter(|&p| p != me && Some(p) != upstream).collect();
        let random = others.choose_multiple(&mut self.rng, fanout).copied();
        let partners: Vec<usize> = upstream.into_iter().chain(random).collect();
        self.open_rounds(now, &partners);
        self.last_round = Some(now);
        self.interval = self.interval.saturating_mul(2).min(self.config.round_max);
    }

    /// Whether the link with the upstream node at `pos` works as far as anything can tell: it was heard from within
    /// the round interval, no peer's pushes here have a gap open (a gap starts its own round), and every push to it
    /// that awaits its acknowledgement was sent after the upstream was last heard from: the upstream acknowledges
    /// on its next push, which has not come yet, so the push proves nothing either way. One sent before a message
    /// that did not acknowledge it may be lost: that calls for the round (waiting for it to be overdue would leave
    /// the loss unrepaired for a whole acknowledgement timeout, which is long for the counters).
    fn upstream_link_working(&self, now: Duration, pos: usize) -> bool {
        let timeout = self.ack_timeout();
        let unheard_since = |due: Duration| {
            // The earliest it can have been sent (a hand-off's timeout is shorter): conservative.
            let sent = due.saturating_sub(timeout);
            !self.members.heard_within(pos, now, now.saturating_sub(sent))
        };
        self.members.heard_within(pos, now, self.interval)
            && self.next_gap_deadline().is_none()
            && self
                .links
                .get(self.members.id(pos))
                .is_some_and(|l| l.unacked.iter().all(|&(_, due)| unheard_since(due)))
    }

    /// Whether the link with the upstream node at `pos` shows nothing wrong: the last round with it was answered,
    /// it was heard from within `round_max`, no push to it is overdue and no peer's pushes here have a gap open.
    fn upstream_settled(&self, now: Duration, pos: usize) -> bool {
        self.unanswered_rounds(self.members.id(pos)) == 0
            && self.members.heard_within(pos, now, self.config.round_max)
            && self.next_gap_deadline().is_none()
            && self.links.get(self.members.id(pos)).is_some_and(|l| l.unacked.iter().all(|&(_, due)| due > now))
    }
}
