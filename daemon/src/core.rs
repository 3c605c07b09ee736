//! The daemon's sans-IO core: the replica and its engine, membership, and the datagram codec.
//!
//! Inputs: [`Core::on_datagram`] (bytes from a UDP address), [`Core::on_tick`] (once [`Core::next_deadline`] has
//! passed) and the client operations ([`Core::add_elements`], [`Core::add_to_counter`]). Outputs: datagrams to send,
//! drained with [`Core::take_outbox`]. It reads no clock and owns no socket: the shell in [`crate::server`] does,
//! and the tests drive several cores through an in-memory network.
//!
//! Every datagram is authenticated before anything parses it ([`crate::wire`]); an engine message from a node that
//! is not a live member is dropped (counted `foreign`), and so is one whose delta would take the replica past a cap
//! (`over_cap`). The engine cuts its messages to the datagram budget (its `max_message_bytes`, through
//! [`osmosis_crdt::Split`] on [`Objects`]); one still over it (a single element larger than the budget) is not
//! sent and is counted (`oversize`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use osmosis_antientropy::Message;
use osmosis_crdt::repair::Keyed;
use osmosis_crdt::{JsonSet, Repair};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Limits, Settings};
use crate::membership::{Membership, NodeId};
use crate::metrics::{Metrics, label};
use crate::objects::{Counter, Objects, Sizes, check_name};
use crate::replica::Replica;
use crate::wire::{ClusterKey, DropReason, Kind};

/// How deep a set element may nest: a peer decodes it inside an engine message, about six levels down, under
/// serde_json's limit of 128.
pub const MAX_ELEMENT_DEPTH: usize = 100;

/// What an engine datagram carries.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    from: String,
    msg: Message<Objects>,
}

/// Why a client operation was refused; the replica is unchanged in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The object name is not valid.
    #[error("{0}")]
    BadName(String),
    /// An element or amount is not acceptable.
    #[error("{0}")]
    BadValue(String),
    /// Taking the write would pass a cap.
    #[error("{0}")]
    OverLimit(String),
}

/// The result of adding elements to a set.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    /// Elements that were new here.
    pub added: u64,
    /// The set's size after the write.
    pub len: u64,
    /// The delta that was applied (to log; empty if nothing was new).
    pub delta: Objects,
}

/// The result of adding to a counter.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    /// The counter's value after the write.
    pub value: i128,
    /// The delta that was applied.
    pub delta: Objects,
}

/// The sans-IO core of a daemon (see the module docs).
#[derive(Debug)]
pub struct Core {
    replica: Replica,
    membership: Membership,
    key: ClusterKey,
    limits: Limits,
    metrics: Arc<Metrics>,
    /// Live members' addresses by name.
    addrs: BTreeMap<String, SocketAddr>,
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    /// The replica's sizes, kept up to date with every merge (walking every object per write would not do).
    sizes: Sizes,
    /// Counts inputs that may have changed the replica (see [`Core::generation`]).
    generation: u64,
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

impl Core {
    /// A core for `settings`, holding `state` (loaded from disk, or empty), started at `now`; `bump` orders this
    /// run's identity after earlier runs of the same address (the start time in milliseconds).
    pub fn new(
        settings: &Settings,
        state: Objects,
        bump: u64,
        metrics: Arc<Metrics>,
        now: Duration,
    ) -> Result<Core, String> {
        let seed = settings.seed ^ name_hash(settings.name.as_bytes());
        let sizes = state.sizes();
        // The engine's rounds numbered from the start time in microseconds, above every earlier run's.
        let incarnation = bump.saturating_mul(1000);
        let replica = Replica::new(&settings.name, settings.engine.clone(), seed, incarnation, now, state)?;
        let me = NodeId { name: settings.name.clone(), addr: settings.advertise, bump };
        let membership = Membership::new(me, &settings.swim, &settings.join, seed ^ 1, now);
        let mut core = Core {
            replica,
            membership,
            key: settings.cluster_key.clone(),
            limits: settings.limits,
            metrics,
            addrs: BTreeMap::new(),
            outbox: Vec::new(),
            sizes,
            generation: 0,
        };
        core.after(now);
        core.update_gauges();
        Ok(core)
    }

    /// The replica.
    pub fn state(&self) -> &Objects {
        self.replica.state()
    }

    /// A number that grows whenever the replica may have changed: at every local write that added something, and
    /// at every peer message whose delta adds elements or carries counter entries (a counter's growth is not
    /// worth computing exactly). Equal generations mean an unchanged replica, so the snapshot task compares these
    /// to skip a snapshot that would hold nothing new.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.membership.me().name
    }

    /// The other live members by name, and whether SWIM suspects them.
    pub fn peers(&self) -> BTreeMap<String, bool> {
        self.membership.live().into_iter().map(|(n, l)| (n, l.suspect)).collect()
    }

    /// The addresses of the other live members.
    pub fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.values().copied().collect()
    }

    /// The engine's member set, this node included.
    pub fn members(&self) -> Vec<String> {
        self.replica.members().iter().cloned().collect()
    }

    /// Handles one datagram from `from`.
    pub fn on_datagram(&mut self, now: Duration, from: SocketAddr, datagram: &[u8]) {
        match self.key.open(datagram) {
            Err(reason) => self.drop(reason, from, "refused before reading"),
            Ok((Kind::Membership, packet)) => {
                self.metrics.on_received("swim", datagram.len());
                if let Err(e) = self.membership.on_packet(now, packet) {
                    self.drop(DropReason::Malformed, from, &format!("swim: {e}"));
                }
            }
            Ok((Kind::Engine, payload)) => match serde_json::from_slice::<Envelope>(payload) {
                Err(e) => self.drop(DropReason::Malformed, from, &e.to_string()),
                Ok(Envelope { from: name, msg }) => {
                    self.metrics.on_received(msg.kind(), datagram.len());
                    if !self.replica.is_peer(&name) {
                        self.drop(DropReason::Foreign, from, &format!("{name:?} is not a live member"));
                    } else {
                        let delta = incoming(&msg);
                        let (grown, counters) = (self.after_merge(&delta), !delta.counters().is_empty());
                        drop(delta);
                        match grown {
                            Err(why) => self.drop(DropReason::OverCap, from, &why),
                            Ok(sizes) => {
                                if sizes != self.sizes || counters {
                                    self.generation += 1;
                                }
                                self.membership.heard_from(now, &name);
                                self.replica.on_message(now, &name, msg);
                                self.sizes = sizes;
                            }
                        }
                    }
                }
            },
        }
        self.after(now);
    }

    /// Fires what is due: engine batches and rounds, SWIM timers.
    pub fn on_tick(&mut self, now: Duration) {
        self.replica.on_tick(now);
        self.membership.on_tick(now);
        self.after(now);
    }

    /// When [`Core::on_tick`] has work next.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.replica.next_deadline().into_iter().chain(self.membership.next_deadline()).min()
    }

    /// The datagrams to send.
    pub fn take_outbox(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.outbox)
    }

    /// Leaves the cluster (a clean shutdown).
    pub fn leave(&mut self, now: Duration) {
        self.membership.leave(now);
        self.after(now);
    }

    /// Adds `values` to set `name` (created on first use).
    pub fn add_elements(&mut self, now: Duration, name: &str, values: &[Value]) -> Result<Added, OpError> {
        check_name(name).map_err(OpError::BadName)?;
        let mut delta = JsonSet::new();
        let current = self.replica.state().set(name);
        for v in values {
            if depth(v) > MAX_ELEMENT_DEPTH {
                return Err(OpError::BadValue(format!("an element nests deeper than {MAX_ELEMENT_DEPTH} levels")));
            }
            if !current.is_some_and(|s| s.contains(v)) {
                delta.insert(v);
            }
        }
        let added = delta.len();
        let delta = Objects::with_set(name, delta);
        let sizes = self.check_caps(&delta)?;
        if !delta.is_empty() {
            self.generation += 1;
        }
        self.replica.apply_local(now, delta.clone());
        self.sizes = sizes;
        let len = self.replica.state().set(name).map_or(0, JsonSet::len);
        self.after(now);
        Ok(Added { added, len, delta })
    }

    /// Adds `amount` (negative: subtracts) to counter `name` (created on first use).
    pub fn add_to_counter(&mut self, now: Duration, name: &str, amount: i64) -> Result<Counted, OpError> {
        check_name(name).map_err(OpError::BadName)?;
        let mut counter: Counter = self.replica.state().counter(name).cloned().unwrap_or_default();
        let me = self.membership.me().name.clone();
        let change = counter
            .add(me, amount)
            .map_err(|e| OpError::BadValue(format!("this node's share of {name:?} would overflow: {e}")))?;
        let delta = Objects::with_counter(name, change);
        let sizes = self.check_caps(&delta)?;
        self.generation += 1;
        self.replica.apply_local(now, delta.clone());
        self.sizes = sizes;
        let value = self.replica.state().counter(name).map_or(0, Counter::read);
        self.after(now);
        Ok(Counted { value, delta })
    }

    /// The sizes after joining `delta`, or why that would pass a cap.
    fn check_caps(&self, delta: &Objects) -> Result<Sizes, OpError> {
        let sizes = self.replica.state().grown_sizes(self.sizes, delta);
        match self.exceeds(sizes) {
            Some(why) => Err(OpError::OverLimit(why)),
            None => Ok(sizes),
        }
    }

    fn exceeds(&self, s: Sizes) -> Option<String> {
        let l = &self.limits;
        if s.objects > l.max_objects {
            return Some(format!("this would make {} objects; the limit is {}", s.objects, l.max_objects));
        }
        if s.elements > l.max_elements {
            return Some(format!("this would make {} set elements; the limit is {}", s.elements, l.max_elements));
        }
        if s.counter_entries > l.max_counter_entries {
            let (n, max) = (s.counter_entries, l.max_counter_entries);
            return Some(format!("this would make {n} counter entries; the limit is {max}"));
        }
        None
    }

    /// The sizes after the engine merges `delta` (what a peer's message can add), or why that would pass a cap.
    fn after_merge(&self, delta: &Objects) -> Result<Sizes, String> {
        let sizes = self.replica.state().grown_sizes(self.sizes, delta);
        match self.exceeds(sizes) {
            Some(why) => Err(why),
            None => Ok(sizes),
        }
    }

    fn drop(&self, reason: DropReason, from: SocketAddr, detail: &str) {
        self.metrics.dropped.get_or_create(&label("reason", reason.label())).inc();
        tracing::debug!("dropped a datagram from {from} ({reason}): {detail}");
    }

    /// After any input: follow membership changes, encode the engine's and SWIM's output.
    fn after(&mut self, now: Duration) {
        if self.membership.take_changed() {
            let live = self.membership.live();
            self.addrs = live.iter().map(|(n, l)| (n.clone(), l.id.addr)).collect();
            let names: Vec<String> = live.keys().filter(|n| check_name(n).is_ok()).cloned().collect();
            if self.replica.set_members(now, names) {
                self.metrics.rebuilds.inc();
                tracing::info!("engine members: {:?}", self.replica.members());
                debug_assert!(self.replica.member_changes() > 0);
            }
            self.metrics.membership_events.inc_by(self.membership.events() - self.metrics.membership_events.get());
            self.update_peer_gauges();
        }
        let answered = self.membership.probes_answered_by_traffic();
        self.metrics.probes_by_traffic.inc_by(answered.saturating_sub(self.metrics.probes_by_traffic.get()));
        for (to, packet) in self.membership.take_outbox() {
            let datagram = self.key.seal(Kind::Membership, &packet);
            self.metrics.on_sent("swim", datagram.len());
            self.outbox.push((to, datagram));
        }
        for (to, msg) in self.replica.take_outbox() {
            self.send_engine(&to, msg);
        }
    }

    fn send_engine(&mut self, to: &str, msg: Message<Objects>) {
        let Some(&addr) = self.addrs.get(to) else {
            self.metrics.send_errors.get_or_create(&label("reason", "no_address")).inc();
            return;
        };
        let me = self.membership.me().name.clone();
        // The engine cuts every message to its byte budget (the datagram budget less the envelope's room); what
        // is still over it (one element larger than the budget) is counted and not sent.
        let kind = msg.kind();
        let payload = match serde_json::to_vec(&Envelope { from: me, msg }) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("cannot encode an engine message: {e}");
                return;
            }
        };
        if payload.len() > self.limits.max_datagram_bytes {
            self.metrics.send_errors.get_or_create(&label("reason", "oversize")).inc();
            tracing::warn!("a {kind} of {} bytes is over the datagram budget; not sent to {to}", payload.len());
            return;
        }
        let datagram = self.key.seal(Kind::Engine, &payload);
        self.metrics.on_sent(kind, datagram.len());
        self.outbox.push((addr, datagram));
    }

    fn update_peer_gauges(&self) {
        let live = self.membership.live();
        let suspect = live.values().filter(|l| l.suspect).count() as i64;
        self.metrics.peers.get_or_create(&label("state", "alive")).set(live.len() as i64 - suspect);
        self.metrics.peers.get_or_create(&label("state", "suspect")).set(suspect);
    }

    /// Sets the gauges of replica sizes and the round counters (walks every object: called when metrics are read,
    /// not on every input).
    pub fn update_gauges(&self) {
        let state = self.replica.state();
        self.metrics.objects.get_or_create(&label("kind", "set")).set(state.sets().len() as i64);
        self.metrics.objects.get_or_create(&label("kind", "counter")).set(state.counters().len() as i64);
        let s = self.sizes;
        self.metrics.elements.set(s.elements as i64);
        self.metrics.counter_entries.set(s.counter_entries as i64);
        let (timer, gap) = self.replica.rounds();
        for (cause, total) in [("timer", timer), ("gap", gap)] {
            let c = self.metrics.rounds.get_or_create(&label("cause", cause));
            c.inc_by(total.saturating_sub(c.get()));
        }
    }
}

/// What merging `msg` can add to the replica: a push's delta, or the items of a round's part, parsed here as the
/// engine's step will parse them (summaries, cells and requests add nothing to a map of records). A part that does
/// not parse adds nothing: the engine refuses it.
fn incoming(msg: &Message<Objects>) -> Cow<'_, Objects> {
    match msg {
        Message::Push { delta, .. } => Cow::Borrowed(delta),
        Message::Reply { repair: Repair::Items(i) | Repair::State(i), .. }
        | Message::Repair { repair: Repair::Items(i) | Repair::State(i), .. } => {
            Cow::Owned(Objects::parse(&i.ints, &i.records).unwrap_or_default())
        }
        Message::Summary { .. } | Message::Reply { .. } | Message::Repair { .. } => Cow::Owned(Objects::new()),
    }
}

/// A stable 64-bit hash (FNV-1a) of a node name, to give each node its own random streams from one seed.
fn name_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Room left in a datagram's payload for the envelope around an engine message: the sender's name (at most 128
/// bytes) and the envelope's own fields. The engine cuts its messages to the budget less this.
pub const ENVELOPE_ROOM: usize = 400;

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
