//! The engine: one replica, its eager pushes and its push-pull rounds (the protocol is in ALGORITHM.md).
//!
//! Split by concern: [`eager`] (the overlay's pushes: batching, push numbers, acknowledgements, byte budgets),
//! [`health`] (suspicion: whom this node routes around, and handing its unacknowledged pushes to a new parent),
//! [`rounds`] (what a push-pull round's messages carry and how each is answered), [`timer`] (when timed rounds run
//! and whom they ask). This file holds the state they share and the public inputs and outputs.

mod confirm;
mod eager;
mod health;
mod rounds;
mod timer;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use osmosis_crdt::{DeltaCrdt, Reconcile, Split};
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use crate::config::Config;
use crate::error::EngineError;
use crate::id::NodeId;
use crate::membership::Membership;
use crate::message::Message;
use crate::overlay::{Plan, Source};

use eager::Link;
use rounds::Rounds;

/// What a replica must offer the engine: a delta-state CRDT whose deltas are states, with an empty default, that
/// can be cut to a byte budget ([`Split`]) and that two peers can reconcile ([`Reconcile`]). Every osmosis CRDT is
/// one.
pub trait Replica: DeltaCrdt<Delta = Self> + Split + Reconcile + Default + Clone {}
impl<C: DeltaCrdt<Delta = C> + Split + Reconcile + Default + Clone> Replica for C {}

/// What an engine has done so far (each field counts messages or events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// `ae_push` messages sent.
    pub pushes: u64,
    /// Of them, pushes without a delta: an acknowledgement (the receiver had pushed to this node and nothing else
    /// was due for it within the window), or a notice to a node that now climbs to this one.
    pub empty_pushes: u64,
    /// `ae_summary` messages sent (one per round and peer).
    pub summaries: u64,
    /// `ae_reply` messages sent (this node's messages in rounds that peers opened).
    pub replies: u64,
    /// `ae_repair` messages sent (this node's messages, after the summary, in rounds it opened).
    pub repairs: u64,
    /// Rounds started by the round timer.
    pub rounds: u64,
    /// Timed rounds skipped while news flowed because the link with the upstream node was proven both ways: every
    /// push to it acknowledged, its pushes here numbered without a gap, heard from within the interval.
    pub skipped_rounds: u64,
    /// Rounds started because a push from a peer went missing, a suspected peer was heard from again, this node's
    /// parent changed, or this node was alone and was given members.
    pub gap_rounds: u64,
    /// Rounds not opened because one with the same peer was opened at the same instant (a message that both ends
    /// a suspicion and shows a push gap asks for two): counted in `rounds` or `gap_rounds` as well.
    pub merged_rounds: u64,
    /// Summaries received that matched this replica (answered with silence).
    pub agreements: u64,
    /// Round messages dropped because they fit no live session: duplicates, late ones, ones of rounds that
    /// expired or were never opened.
    pub stale: u64,
    /// Round messages the CRDT refused as malformed (each ends its session).
    pub rejected: u64,
    /// Rounds this node opened that expired without an answer (agreement, or a lost message).
    pub silent_rounds: u64,
    /// Rounds this node opened that were answered, then expired before this side was done (a lost message).
    pub stalled_rounds: u64,
    /// Messages ignored because they came from a node outside the cluster (or from this node).
    pub foreign: u64,
    /// Times this node suspected its parent because its pushes went unacknowledged.
    pub suspicions: u64,
    /// Peers' reports of an unreachable member that this node adopted.
    pub adopted_reports: u64,
    /// Times this node's parent changed (suspicions, their expiry, membership changes).
    pub reroutes: u64,
    /// Messages sent larger than the byte budget: a single element too large for any message.
    pub oversized: u64,
}

/// A replica of `C` with push-pull anti-entropy and eager dissemination, without I/O, on a cluster of nodes named
/// by `I` (any ordered, cloneable id: a `String` name, an index, an address).
///
/// Inputs: [`Engine::update`] / [`Engine::try_update`] (a local mutation), [`Engine::on_message`],
/// [`Engine::on_tick`] (call it once [`Engine::next_deadline`] has passed; calling it more often is harmless), and
/// the membership: [`Engine::set_members`], [`Engine::add_member`], [`Engine::remove_member`],
/// [`Engine::suspect`], [`Engine::unsuspect`] (for a failure detector; the engine also suspects on its own).
/// Outputs: messages in an outbox the caller drains with [`Engine::take_outbox`] and delivers however it likes, in
/// any order, any number of times; each is at most [`Config::max_message_bytes`] of JSON unless it carries a
/// single element larger than that. Time is a `Duration` since any fixed origin, passed in and never read;
/// randomness comes from the seed.
#[derive(Debug)]
pub struct Engine<C: Replica, I: NodeId = String> {
    me: I,
    members: Membership<I>,
    plan: Plan,
    config: Config,
    rng: ChaCha8Rng,
    state: C,
    /// What this node keeps per peer it pushes to or hears pushes from (created on first use).
    links: BTreeMap<I, Link<C>>,
    /// Peers that push to this node as to their parent without being its children in its own view, and until
    /// when it relays to them (refreshed by each of their pushes).
    adopted: BTreeMap<I, Duration>,
    /// A stand-in root's bridge (see `health::check_bridge`), its parent in all but name.
    bridge: Option<I>,
    /// The previous parent, which gets copies of the pushes up until the new one acknowledges (see
    /// `health::handoff`), and until when.
    shadow: Option<(I, Duration)>,
    /// When the batch for the parent goes out.
    up_due: Option<Duration>,
    /// When the batches for every other target go out: a relay's window is shared by all of them (per-target
    /// windows would make each element wait for the window it happened to open).
    down_due: Option<Duration>,
    last_down_flush: Option<Duration>,
    started: Duration,
    /// When a peer's message last changed the replica (news): while news keeps arriving, the eager path works.
    last_news: Duration,
    last_round: Option<Duration>,
    interval: Duration,
    /// Local updates taken so far (those that changed the replica): the number of the latest.
    local_updates: u64,
    /// The numbers of local updates waiting in some batch and sent in none yet.
    unsent: BTreeSet<u64>,
    /// With [`Config::confirm`]: the numbers of local updates no peer has acknowledged yet.
    unconfirmed: BTreeSet<u64>,
    outbox: Vec<(I, Message<C, I>)>,
    stats: Stats,
    rounds: Rounds<C, I>,
}

impl<C: Replica, I: NodeId> Engine<C, I> {
    /// An empty replica named `me` in a cluster of `members` (with or without `me`; duplicates ignored), created
    /// at `now`, drawing its randomness from `seed`.
    ///
    /// # Errors
    /// [`EngineError::Config`] if the config is out of range ([`Config::validate`]).
    pub fn new(
        me: impl Into<I>,
        members: impl IntoIterator<Item = I>,
        config: Config,
        seed: u64,
        now: Duration,
    ) -> Result<Self, EngineError> {
        config.validate()?;
        let me = me.into();
        let members = Membership::new(&me, members);
        let plan = Self::plan_for(&config, &members);
        Ok(Engine {
            me,
            members,
            plan,
            interval: config.round_min,
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            state: C::default(),
            links: BTreeMap::new(),
            adopted: BTreeMap::new(),
            bridge: None,
            shadow: None,
            up_due: None,
            down_due: None,
            last_down_flush: None,
            started: now,
            last_news: now,
            last_round: None,
            local_updates: 0,
            unsent: BTreeSet::new(),
            unconfirmed: BTreeSet::new(),
            outbox: Vec::new(),
            stats: Stats::default(),
            rounds: Rounds::default(),
        })
    }

    /// The engine of one life (incarnation) of this node: its rounds are numbered from `incarnation` on, one
    /// number per round, instead of from 0. Peers keep a session of each round, ended ones included, for
    /// `round_min` ([`Config::round_min`]) and drop a summary whose round number they hold as a duplicate: a node
    /// restarted within that time would otherwise have its first rounds dropped. So `incarnation` must exceed the
    /// previous life's by more than the rounds that life opened: the microseconds since the Unix epoch at start
    /// do (no engine opens a round per microsecond). Given, not read, like time: the engine reads no clock.
    #[must_use]
    pub fn with_incarnation(mut self, incarnation: u64) -> Self {
        self.rounds.number_from(incarnation);
        self
    }

    /// This node's id.
    pub fn me(&self) -> &I {
        &self.me
    }

    /// The replica.
    pub fn state(&self) -> &C {
        &self.state
    }

    /// Replaces the replica with `state` without sending anything: for a replica loaded from disk at a restart, or
    /// carried over into an engine rebuilt for a new member set. Whatever peers lack of it, rounds bring them.
    pub fn restore(&mut self, state: C) {
        self.state = state;
    }

    /// What the engine has sent and seen.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The engine's knobs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every member, this node included, in id order.
    pub fn members(&self) -> &[I] {
        self.members.all()
    }

    /// The members this node currently routes around (suspected by itself, by a peer's report it adopted, or by
    /// the caller), in id order.
    pub fn suspected(&self) -> Vec<I> {
        self.members.suspected().map(|p| self.members.id(p).clone()).collect()
    }

    /// The node this one pushes to as its parent (the hub of a star, the parent in a tree, or a stand-in root's
    /// bridge), if any.
    pub fn upstream(&self) -> Option<&I> {
        self.parent().map(|p| self.members.id(p))
    }

    /// The largest element, in bytes of JSON, that a message within the budget can always carry: what a node
    /// should refuse beyond, when a client adds it, rather than accept an element no message can carry.
    pub fn max_element_bytes(&self) -> usize {
        self.config.max_element_bytes()
    }

    /// A local update: `mutate` changes the replica in place and returns the delta it produced (every osmosis
    /// mutator does: `|s| s.insert(7)`), which is scheduled for the eager pushes. Returns whether the replica
    /// changed (an empty delta sends nothing).
    ///
    /// `mutate` must return the delta of the mutation it made to the replica it was given, nothing else. A delta
    /// made from another replica (`|_| GCounter::new().increment(..)`, whose delta carries the absolute entry 1,
    /// not "+1") is a bug of the caller: debug builds panic on it; release builds still join it into the replica,
    /// so that nothing is pushed that this replica does not hold.
    pub fn update(&mut self, now: Duration, mutate: impl FnOnce(&mut C) -> C) -> bool {
        let delta = mutate(&mut self.state);
        self.after_update(now, delta)
    }

    /// [`Engine::update`] for fallible mutators (`|c| c.increment(me, 3)` may overflow): on `Err` the mutator must
    /// have left the replica unchanged (osmosis mutators do), and nothing is scheduled.
    ///
    /// # Errors
    /// Whatever `mutate` returns.
    pub fn try_update<E>(&mut self, now: Duration, mutate: impl FnOnce(&mut C) -> Result<C, E>) -> Result<bool, E> {
        let delta = mutate(&mut self.state)?;
        Ok(self.after_update(now, delta))
    }

    /// How many local updates that changed the replica the engine has taken ([`Engine::update`],
    /// [`Engine::try_update`]): the number of the latest, counted from 1.
    pub fn local_updates(&self) -> u64 {
        self.local_updates
    }

    /// The local updates that have left this node: every one numbered up to the result (see
    /// [`Engine::local_updates`]) has gone out in at least one push, or had no peer to go to. A caller that
    /// acknowledges an update to its client only once it has left (the Maelstrom node does) loses no acknowledged
    /// update when this node alone crashes and restarts empty: some other node received it, unless the network
    /// lost that push as well (ALGORITHM.md §4, "Crashes").
    pub fn sent_local(&self) -> u64 {
        self.unsent.first().map_or(self.local_updates, |&n| n - 1)
    }

    /// With [`Config::confirm`], the local updates some peer has acknowledged: every one numbered up to the
    /// result (see [`Engine::local_updates`]) went out in a push that its receiver acknowledged, or had no peer to
    /// go to. A caller that acknowledges an update to its client only then loses no acknowledged update when this
    /// node crashes, even if the network lost the push or its receiver was down (the update then goes to another
    /// peer: a new parent, or another child, first). Without `confirm`, the same as [`Engine::sent_local`].
    pub fn confirmed_local(&self) -> u64 {
        if !self.config.confirm {
            return self.sent_local();
        }
        let first = [self.unsent.first(), self.unconfirmed.first()].into_iter().flatten().min();
        first.map_or(self.local_updates, |&n| n - 1)
    }

    /// Handles a message from `from`. Messages from nodes outside the cluster, or from this node, are ignored.
    pub fn on_message(&mut self, now: Duration, from: &I, msg: Message<C, I>) {
        let Some(peer) = self.members.position(from).filter(|&p| p != self.members.me()) else {
            self.stats.foreign += 1;
            return;
        };
        let healed = self.heard_from(now, peer, !matches!(msg, Message::Push { .. }));
        match msg {
            Message::Push { seq, delta, ack, up, urgent, suspects } => {
                self.on_reports(now, peer, &suspects);
                let reportless = up && suspects.is_empty();
                let goodbye = reportless && !urgent && ack.is_none() && C::delta_is_empty(&delta);
                self.on_push(now, peer, eager::Push { seq, delta, ack, up, urgent });
                if goodbye {
                    self.on_goodbye(peer);
                } else if reportless {
                    self.shorten_adoption(now, peer);
                }
                if healed && self.parent() != Some(peer) {
                    // It was unreachable: each side may lack what the other learned meanwhile (a new parent got
                    // its round already).
                    self.gap_round(now, peer);
                }
            }
            round => self.on_round_message(now, peer, round),
        }
    }

    /// Ends suspicions whose time is up, suspects a parent whose acknowledgement is overdue, sends the batches that
    /// are due, starts rounds for push gaps that outlived the gap timeout, and starts a timed round if one is due.
    pub fn on_tick(&mut self, now: Duration) {
        self.check_health(now);
        if self.up_due.is_some_and(|t| t <= now) {
            self.flush_up(now);
        }
        if self.down_due.is_some_and(|t| t <= now) {
            self.flush_down(now);
        }
        self.expire_gaps(now);
        self.expire_rounds(now);
        self.ask_confirmation(now);
        if self.round_due().is_some_and(|t| t <= now) {
            self.timed_round(now);
        }
    }

    /// When [`Engine::on_tick`] has work next (a batch, a gap, an acknowledgement, a suspicion's end or a round),
    /// if ever.
    pub fn next_deadline(&self) -> Option<Duration> {
        [
            self.next_gap_deadline(),
            self.up_due,
            self.down_due,
            self.round_due(),
            self.next_health_deadline(),
            self.next_confirmation_ask(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Takes the messages produced so far, in the order they were produced.
    pub fn take_outbox(&mut self) -> Vec<(I, Message<C, I>)> {
        std::mem::take(&mut self.outbox)
    }

    /// Replaces the member list (this node stays a member whatever the list says). Suspicions of members that
    /// stay are kept; the overlay is re-formed. A node whose parent changed runs a round with the new one at once;
    /// so does a node that was alone and now has members (it joined, or came back from a crash or a partition that
    /// isolated it): it may lack everything they hold and they what it holds, and without a parent (the root, or
    /// no overlay) nothing else would start a round before the timer — it runs one with a random member.
    pub fn set_members(&mut self, now: Duration, members: impl IntoIterator<Item = I>) {
        let before = self.shape_ids();
        let was_alone = self.members.len() == 1;
        self.members.set(&self.me, members);
        self.adopted.retain(|id, _| self.members.position(id).is_some());
        match self.replan_from(now, before) {
            Some(parent) => self.gap_round(now, parent),
            None if was_alone && self.members.len() > 1 => {
                let me = self.members.me();
                let others: Vec<usize> = (0..self.members.len()).filter(|&p| p != me).collect();
                if let Some(&peer) = others.choose(&mut self.rng) {
                    self.gap_round(now, peer);
                }
            }
            None => {}
        }
        let gone: Vec<I> = self.links.keys().filter(|id| self.members.position(id).is_none()).cloned().collect();
        for id in gone {
            self.drop_link(&id);
        }
    }

    /// Adds a member (a failure detector saw it join). Nothing happens if it is one already.
    pub fn add_member(&mut self, now: Duration, id: I) {
        if self.members.position(&id).is_none() {
            let mut all = self.members.all().to_vec();
            all.push(id);
            self.set_members(now, all);
        }
    }

    /// Removes a member (it left for good); messages from it are ignored from now on. Removing this node does
    /// nothing.
    pub fn remove_member(&mut self, now: Duration, id: &I) {
        if *id != self.me && self.members.position(id).is_some() {
            let all: Vec<I> = self.members.all().iter().filter(|m| *m != id).cloned().collect();
            self.set_members(now, all);
        }
    }

    /// Routes around `id` until [`Engine::unsuspect`] (a failure detector suspects it), whatever this node hears.
    pub fn suspect(&mut self, now: Duration, id: &I) {
        if let Some(p) = self.members.position(id).filter(|&p| p != self.members.me())
            && self.members.suspect_external(p)
        {
            self.replan_and_catch_up(now);
        }
    }

    /// Lifts every suspicion of `id`, the caller's and the engine's own.
    pub fn unsuspect(&mut self, now: Duration, id: &I) {
        if let Some(p) = self.members.position(id)
            && self.members.lift(p)
        {
            self.replan_and_catch_up(now);
        }
    }

    fn plan_for(config: &Config, members: &Membership<I>) -> Plan {
        Plan::new(config.overlay, config.star_limit, members.len(), members.me(), |x| members.is_live(x))
    }

    fn after_update(&mut self, now: Duration, delta: C) -> bool {
        let stray = self.state.apply_delta(&delta);
        debug_assert!(!stray, "an update's mutator returned a delta it had not applied to the replica it was given");
        if C::delta_is_empty(&delta) {
            return false;
        }
        self.local_updates += 1;
        self.after_change(now, Source::Local, &delta, &[self.local_updates]);
        self.back_up(now);
        true
    }

    /// Queues `msg` for the member at position `to`.
    fn send(&mut self, to: usize, msg: Message<C, I>) {
        let to = self.members.id(to).clone();
        self.emit(to, msg);
    }

    fn emit(&mut self, to: I, msg: Message<C, I>) {
        match &msg {
            Message::Push { .. } => self.stats.pushes += 1,
            Message::Summary { .. } => self.stats.summaries += 1,
            Message::Reply { .. } => self.stats.replies += 1,
            Message::Repair { .. } => self.stats.repairs += 1,
        }
        self.outbox.push((to, msg));
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
