//! The engine: one replica, its eager pushes and its push-pull rounds (the protocol is in ALGORITHM.md).
//!
//! Split by concern: [`eager`] (the overlay's pushes: batching, push numbers, gap detection), [`rounds`] (what a
//! push-pull round's messages carry and how each is answered), [`timer`] (when timed rounds run and whom they
//! ask). This file holds the state they share and the public inputs and outputs.

mod eager;
mod rounds;
mod timer;

use std::collections::BTreeMap;
use std::time::Duration;

use osmosis_crdt::{DeltaCrdt, Reconcile};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::Config;
use crate::error::EngineError;
use crate::id::NodeId;
use crate::message::Message;
use crate::overlay::{Plan, Source};

use eager::Link;
use rounds::Rounds;

/// What a replica must offer the engine: a delta-state CRDT whose deltas are states, with an empty default, that
/// two peers can reconcile ([`Reconcile`]). Every osmosis CRDT is one.
pub trait Replica: DeltaCrdt<Delta = Self> + Reconcile + Default + Clone {}
impl<C: DeltaCrdt<Delta = C> + Reconcile + Default + Clone> Replica for C {}

/// What an engine has done so far (each field counts messages or events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// `ae_push` messages sent.
    pub pushes: u64,
    /// `ae_summary` messages sent (one per round and peer).
    pub summaries: u64,
    /// `ae_reply` messages sent (this node's messages in rounds that peers opened).
    pub replies: u64,
    /// `ae_repair` messages sent (this node's messages, after the summary, in rounds it opened).
    pub repairs: u64,
    /// Rounds started by the round timer.
    pub rounds: u64,
    /// Rounds started because a push from a peer went missing.
    pub gap_rounds: u64,
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
}

/// A replica of `C` with push-pull anti-entropy and eager dissemination, without I/O, on a cluster of nodes named
/// by `I` (any ordered, cloneable id: a `String` name, an index, an address).
///
/// Inputs: [`Engine::update`] / [`Engine::try_update`] (a local mutation), [`Engine::on_message`],
/// [`Engine::on_tick`] (call it once [`Engine::next_deadline`] has passed; calling it more often is harmless).
/// Outputs: messages in an outbox the caller drains with [`Engine::take_outbox`] and delivers however it likes, in
/// any order, any number of times. Time is a `Duration` since any fixed origin, passed in and never read;
/// randomness comes from the seed.
#[derive(Debug)]
pub struct Engine<C: Replica, I: NodeId = String> {
    me: I,
    /// The other members, sorted by id, without duplicates; the overlay and the round timer name peers by their
    /// index here.
    peers: Vec<I>,
    plan: Plan,
    window: Duration,
    config: Config,
    rng: ChaCha8Rng,
    state: C,
    /// What this node keeps per peer it pushes to or hears pushes from (created on first use).
    links: BTreeMap<I, Link<C>>,
    /// When every waiting batch goes out: a relay's window is shared by every target (per-target windows would
    /// make each element wait for the window it happened to open).
    batch_due: Option<Duration>,
    started: Duration,
    /// When a peer's message last changed the replica (news): while news keeps arriving, the eager path works.
    last_news: Duration,
    last_round: Option<Duration>,
    interval: Duration,
    outbox: Vec<(I, Message<C>)>,
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
        let mut peers: Vec<I> = members.into_iter().filter(|n| *n != me).collect();
        peers.sort();
        peers.dedup();
        let me_at = peers.partition_point(|p| *p < me);
        let plan = Plan::new(config.overlay, me_at, peers.len());
        let window = if plan.relays() { config.relay_window } else { config.local_window };
        Ok(Engine {
            me,
            peers,
            plan,
            window,
            interval: config.round_min,
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            state: C::default(),
            links: BTreeMap::new(),
            batch_due: None,
            started: now,
            last_news: now,
            last_round: None,
            outbox: Vec::new(),
            stats: Stats::default(),
            rounds: Rounds::default(),
        })
    }

    /// This node's id.
    pub fn me(&self) -> &I {
        &self.me
    }

    /// The replica.
    pub fn state(&self) -> &C {
        &self.state
    }

    /// What the engine has sent and seen.
    pub fn stats(&self) -> &Stats {
        &self.stats
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

    /// Handles a message from `from`. Messages from nodes outside the cluster, or from this node, are ignored.
    pub fn on_message(&mut self, now: Duration, from: &I, msg: Message<C>) {
        let Ok(peer) = self.peers.binary_search(from) else {
            self.stats.foreign += 1;
            return;
        };
        match msg {
            Message::Push { seq, delta } => self.on_push(now, peer, seq, delta),
            round => self.on_round_message(now, peer, round),
        }
    }

    /// Sends the batches that are due, starts rounds for push gaps that outlived the gap timeout, and starts a
    /// timed round if one is due.
    pub fn on_tick(&mut self, now: Duration) {
        if self.batch_due.is_some_and(|t| t <= now) {
            self.flush();
        }
        self.expire_gaps(now);
        self.expire_rounds(now);
        if self.round_due().is_some_and(|t| t <= now) {
            self.timed_round(now);
        }
    }

    /// When [`Engine::on_tick`] has work next (a batch, a gap or a round), if ever.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.next_gap_deadline().into_iter().chain(self.batch_due).chain(self.round_due()).min()
    }

    /// Takes the messages produced so far, in the order they were produced.
    pub fn take_outbox(&mut self) -> Vec<(I, Message<C>)> {
        std::mem::take(&mut self.outbox)
    }

    fn after_update(&mut self, now: Duration, delta: C) -> bool {
        let stray = self.state.apply_delta(&delta);
        debug_assert!(!stray, "an update's mutator returned a delta it had not applied to the replica it was given");
        if C::delta_is_empty(&delta) {
            return false;
        }
        self.after_change(now, Source::Local, &delta);
        true
    }

    /// The peer index of `id`, if it is a peer.
    fn peer_index(&self, id: &I) -> Option<usize> {
        self.peers.binary_search(id).ok()
    }

    /// Queues `msg` for peer number `to`.
    fn send(&mut self, to: usize, msg: Message<C>) {
        let to = self.peers[to].clone();
        self.emit(to, msg);
    }

    fn emit(&mut self, to: I, msg: Message<C>) {
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
mod tests {
    use osmosis_crdt::{GCounter, GSet};

    use super::*;

    const T0: Duration = Duration::ZERO;

    fn pair<C: Replica>() -> (Engine<C, u8>, Engine<C, u8>) {
        let config = Config { local_window: Duration::ZERO, ..Config::default() };
        (Engine::new(0, [0, 1], config.clone(), 1, T0).unwrap(), Engine::new(1, [0, 1], config, 2, T0).unwrap())
    }

    #[test]
    fn counter_updates_mutate_the_replica_in_place_and_push_their_deltas() {
        let (mut hub, mut leaf) = pair::<GCounter<u8>>();
        for _ in 0..3 {
            assert_eq!(leaf.try_update(T0, |c| c.increment(1, 1)), Ok(true));
        }
        assert_eq!(leaf.state().read(), 3);
        let pushes = leaf.take_outbox();
        assert_eq!(pushes.len(), 3, "a leaf pushes each update to the hub at once");
        for (to, msg) in pushes {
            assert_eq!(to, 0);
            hub.on_message(T0, &1, msg);
        }
        assert_eq!(hub.state().read(), 3);
    }

    #[test]
    fn a_failed_update_changes_nothing_and_sends_nothing() {
        let (_, mut leaf) = pair::<GCounter<u8>>();
        leaf.try_update(T0, |c| c.increment(1, u64::MAX)).unwrap();
        assert!(leaf.try_update(T0, |c| c.increment(1, 1)).is_err());
        assert_eq!(leaf.state().read(), u128::from(u64::MAX));
        assert_eq!(leaf.take_outbox().len(), 1);
    }

    #[test]
    fn an_update_that_changes_nothing_sends_nothing() {
        let (_, mut leaf) = pair::<GSet>();
        assert!(leaf.update(T0, |s| s.insert(4)));
        assert!(!leaf.update(T0, |s| s.insert(4)));
        assert_eq!(leaf.take_outbox().len(), 1);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "had not applied")]
    fn a_delta_made_from_another_replica_is_loud_in_debug_builds() {
        let (_, mut leaf) = pair::<GCounter<u8>>();
        leaf.update(T0, |_| GCounter::new().increment(1, 1).unwrap());
    }

    #[test]
    fn messages_from_outside_the_cluster_are_counted_and_ignored() {
        let (mut hub, _) = pair::<GSet>();
        hub.on_message(T0, &7, Message::Push { seq: 0, delta: GSet::new().insert(1) });
        hub.on_message(T0, &0, Message::Push { seq: 0, delta: GSet::new().insert(1) });
        assert_eq!(hub.stats().foreign, 2);
        assert!(hub.state().is_empty());
    }
}
