//! The engine: one replica, its eager pushes and its push-pull rounds (the protocol is in ALGORITHM.md).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use osmosis_crdt::DeltaCrdt;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{Config, Plan};
use crate::message::Message;

/// Pushes received out of order that a link remembers before it gives up waiting and starts a round.
const MAX_AHEAD: usize = 256;
/// A push number this far beyond the expected one is ignored for gap detection (its delta is still merged): at
/// four pushes a second it would take three days of partition, and one forged number must not make every later
/// push look like a duplicate.
const MAX_JUMP: u64 = 1 << 20;

/// What an engine has done so far (each field counts messages or events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// `ae_push` messages sent.
    pub pushes: u64,
    /// `ae_digest` messages sent (one per round and peer).
    pub digests: u64,
    /// `ae_reply` messages sent.
    pub replies: u64,
    /// `ae_delta` messages sent.
    pub deltas: u64,
    /// Rounds started by the round timer.
    pub rounds: u64,
    /// Rounds started because a push from a peer went missing.
    pub gap_rounds: u64,
    /// Digests received that matched this replica (answered with silence).
    pub agreements: u64,
    /// Messages ignored because they came from a node outside the cluster (or from this node).
    pub foreign: u64,
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

/// A replica of `C` with push-pull anti-entropy and eager dissemination, without I/O.
///
/// Inputs: [`Engine::apply_local`], [`Engine::on_message`], [`Engine::on_tick`] (call it once
/// [`Engine::next_deadline`] has passed; calling it more often is harmless). Outputs: messages in an outbox the
/// caller drains with [`Engine::take_outbox`] and delivers however it likes, in any order, any number of times.
/// Time is a `Duration` since any fixed origin, passed in and never read; randomness comes from the seed.
#[derive(Debug)]
pub struct Engine<C: DeltaCrdt<Delta = C> + Default + Clone> {
    me: String,
    peers: Vec<String>,
    plan: Plan,
    window: Duration,
    config: Config,
    rng: ChaCha8Rng,
    state: C,
    /// Batches waiting for each peer; all of them go out together at `batch_due`, so a relay's window is shared
    /// by every target (per-target windows would make each element wait for the window it happened to open).
    pending: BTreeMap<String, C>,
    batch_due: Option<Duration>,
    next_seq: BTreeMap<String, u64>,
    inbound: BTreeMap<String, Inbound>,
    started: Duration,
    /// When a peer's message last changed the replica (news): while news keeps arriving, the eager path works.
    last_news: Duration,
    last_round: Option<Duration>,
    interval: Duration,
    outbox: Vec<(String, Message<C>)>,
    stats: Stats,
}

impl<C: DeltaCrdt<Delta = C> + Default + Clone> Engine<C> {
    /// An empty replica named `me` in a cluster of `nodes` (with or without `me`; duplicates ignored), created at
    /// `now`. Fails if the config is out of range.
    pub fn new(me: &str, nodes: &[String], config: Config, seed: u64, now: Duration) -> Result<Self, String> {
        config.validate()?;
        let plan = Plan::new(config.overlay, me, nodes);
        let mut peers: Vec<String> = nodes.iter().filter(|n| *n != me).cloned().collect();
        peers.sort();
        peers.dedup();
        let window = if plan.relays() { config.relay_window } else { config.local_window };
        Ok(Engine {
            me: me.to_string(),
            peers,
            plan,
            window,
            interval: config.round_min,
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            state: C::default(),
            pending: BTreeMap::new(),
            batch_due: None,
            next_seq: BTreeMap::new(),
            inbound: BTreeMap::new(),
            started: now,
            last_news: now,
            last_round: None,
            outbox: Vec::new(),
            stats: Stats::default(),
        })
    }

    /// This node's name.
    pub fn me(&self) -> &str {
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

    /// Joins a local update's delta into the replica and schedules its eager pushes. Returns whether the replica
    /// changed (a delta it already covers sends nothing).
    pub fn apply_local(&mut self, now: Duration, delta: C) -> bool {
        let me = self.me.clone();
        self.merge(now, &me, delta)
    }

    /// Handles a message from `from`. Messages from nodes outside the cluster, or from this node, are ignored.
    pub fn on_message(&mut self, now: Duration, from: &str, msg: Message<C>) {
        if self.peers.binary_search_by(|p| p.as_str().cmp(from)).is_err() {
            self.stats.foreign += 1;
            return;
        }
        match msg {
            Message::Push { seq, delta } => {
                let give_up = self.inbound.entry(from.to_string()).or_default().note(seq, now);
                self.merge(now, from, delta);
                if give_up {
                    self.gap_round(from);
                }
            }
            Message::Digest { digest } => {
                let mine = self.state.digest_matching(&digest);
                if mine == digest {
                    self.stats.agreements += 1;
                    return;
                }
                let delta = self.state.delta_since(&digest);
                let delta = (!C::delta_is_empty(&delta)).then_some(delta);
                self.send(from, Message::Reply { delta, digest: mine });
            }
            Message::Reply { delta, digest } => {
                if let Some(delta) = delta {
                    self.merge(now, from, delta);
                }
                let back = self.state.delta_since(&digest);
                if !C::delta_is_empty(&back) {
                    self.send(from, Message::Delta { delta: back });
                }
            }
            Message::Delta { delta } => {
                self.merge(now, from, delta);
            }
        }
    }

    /// Sends the batches that are due, starts rounds for push gaps that outlived the gap timeout, and starts a
    /// timed round if one is due.
    pub fn on_tick(&mut self, now: Duration) {
        if self.batch_due.is_some_and(|t| t <= now) {
            self.flush();
        }
        let timeout = self.config.gap_timeout;
        let gaps: Vec<String> = self
            .inbound
            .iter()
            .filter(|(_, l)| l.gap_since.is_some_and(|t| t.saturating_add(timeout) <= now))
            .map(|(p, _)| p.clone())
            .collect();
        for peer in gaps {
            self.gap_round(&peer);
        }
        if self.round_due().is_some_and(|t| t <= now) {
            self.stats.rounds += 1;
            let upstream = self.plan.upstream().map(str::to_string);
            // News arrived within the last interval: the eager path works, the round only guards against a lost
            // push of this node's own, and the upstream node is the one that must have it. Otherwise (quiet, or cut
            // off) random peers too.
            let news_flows = self.last_news.saturating_add(self.interval) > now;
            let fanout = if news_flows && upstream.is_some() { 0 } else { self.config.fanout };
            let others: Vec<&String> = self.peers.iter().filter(|p| Some(*p) != upstream.as_ref()).collect();
            let random = others.choose_multiple(&mut self.rng, fanout).map(|p| (*p).clone());
            let partners: Vec<String> = upstream.into_iter().chain(random).collect();
            // One digest per round (computing it walks the replica); its seed is fresh every round.
            let digest = self.state.digest_seeded(self.rng.random());
            for peer in partners {
                self.send(&peer, Message::Digest { digest: digest.clone() });
            }
            self.last_round = Some(now);
            self.interval = self.interval.saturating_mul(2).min(self.config.round_max);
        }
    }

    /// When [`Engine::on_tick`] has work next (a batch, a gap or a round), if ever.
    pub fn next_deadline(&self) -> Option<Duration> {
        let timeout = self.config.gap_timeout;
        let gaps = self.inbound.values().filter_map(|l| l.gap_since.map(|t| t.saturating_add(timeout)));
        gaps.chain(self.batch_due).chain(self.round_due()).min()
    }

    /// Takes the messages produced so far, in the order they were produced.
    pub fn take_outbox(&mut self) -> Vec<(String, Message<C>)> {
        std::mem::take(&mut self.outbox)
    }

    /// When the timed round is due: `interval` after the later of the last news from a peer and the last round (the
    /// wait doubles with every round while nothing changes, and is back to `round_min` after any change), but never
    /// later than `round_max` after the last round. A node whose own updates keep coming but which hears no news
    /// (cut off from the overlay) thus runs a round every `round_min`.
    fn round_due(&self) -> Option<Duration> {
        if self.peers.is_empty() {
            return None;
        }
        let last_round = self.last_round.unwrap_or(self.started);
        let quiet = self.last_news.max(last_round).saturating_add(self.interval);
        Some(quiet.min(last_round.saturating_add(self.config.round_max)))
    }

    /// Joins `delta` (which came from `from`, or is local when `from` is this node) and, if it changed the
    /// replica, queues it for the overlay targets of deltas from `from`.
    fn merge(&mut self, now: Duration, from: &str, delta: C) -> bool {
        if !self.state.apply_delta(&delta) {
            return false;
        }
        if from != self.me {
            self.last_news = now;
        }
        self.interval = self.config.round_min;
        let targets: Vec<String> = self.plan.targets(from).cloned().collect();
        if targets.is_empty() {
            return true;
        }
        for target in targets {
            self.pending.entry(target).or_default().join(&delta);
        }
        self.batch_due.get_or_insert(now.saturating_add(self.window));
        if self.window.is_zero() {
            self.flush();
        }
        true
    }

    /// Sends every waiting batch, one push per peer.
    fn flush(&mut self) {
        self.batch_due = None;
        for (target, delta) in std::mem::take(&mut self.pending) {
            let seq = self.next_seq.entry(target.clone()).or_default();
            let msg = Message::Push { seq: *seq, delta };
            *seq += 1;
            self.send(&target, msg);
        }
    }

    fn gap_round(&mut self, peer: &str) {
        if let Some(link) = self.inbound.get_mut(peer) {
            link.resolve();
        }
        self.stats.gap_rounds += 1;
        let digest = self.state.digest_seeded(self.rng.random());
        self.send(peer, Message::Digest { digest });
    }

    fn send(&mut self, to: &str, msg: Message<C>) {
        match &msg {
            Message::Push { .. } => self.stats.pushes += 1,
            Message::Digest { .. } => self.stats.digests += 1,
            Message::Reply { .. } => self.stats.replies += 1,
            Message::Delta { .. } => self.stats.deltas += 1,
        }
        self.outbox.push((to.to_string(), msg));
    }
}
