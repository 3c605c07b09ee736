//! The simulated network (spec §4), sans-IO: time is passed in, randomness is seeded, no clock reads.
//!
//! # Model (spec §4.1–4.3, §13)
//!
//! Every registered participant (server node, service, client) is a *receiver* with its own deadline queue. A
//! receiver is either **idle** or holds exactly one **in-flight** message that it took off its queue, the way
//! Maelstrom's per-node delivery loop does:
//!
//! * an idle receiver takes the earliest-deadline message at once, even if its deadline is in the future. That moment
//!   is the **partition check** (§4.3 step 2): a message whose sender the receiver holds a grudge against is dropped
//!   silently (a send was counted, no recv ever is) and the next one is taken;
//! * the in-flight message is delivered, by [`Network::poll`], at `max(deadline, time it was taken)`; right after a
//!   delivery the receiver takes its next message at that same `now`.
//!
//! Consequences: constant latency is FIFO per receiver; with random latency a later-sent message with an earlier
//! deadline waits behind the in-flight one (head-of-line blocking); a message taken before a partition starts is
//! still delivered, one still queued when it starts is dropped, one still queued when it heals is delivered.
//!
//! Latency (§4.2) is sampled per message at send time, only when neither end is a client (a name starting with
//! `c`); services such as `lin-kv` are servers. Ties between equal delivery times are broken by message id (send
//! order), so a run is a deterministic function of its inputs and seed.
//!
//! # Registration
//!
//! The network is the one table of who lives at which address: [`Network::register`] takes a name and what the
//! caller keeps for that participant (its *role*: a node, a service, a client and its RPC state) and returns the
//! address it assigned; [`Network::unregister`] hands the role back. An address is registered exactly when it has
//! a role, so the caller cannot hold a participant the network does not know, or the reverse.
//!
//! # Message faults (an extension, not in Maelstrom)
//!
//! [`Network::set_message_faults`] makes every server↔server message lost with probability `loss` (decided at
//! send time, the way Maelstrom's unused `p-loss` would: the send is counted, no delivery ever is) and, if not
//! lost, delivered twice with probability `duplicate` (the copy has the same id and its own latency sample; both
//! deliveries are counted as receptions). Client messages are never touched, as they are never partitioned. The
//! draws (and the copies' latencies) come from their own seeded stream, so turning faults on does not change the
//! latency of any other message.
//!
//! Cost: `send` and `poll` are `O(log n)` (a per-receiver heap plus one global heap of in-flight deadlines).

pub mod stats;

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::fmt;

use bitvec::vec::BitVec;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::history::Nanos;
use crate::latency::Latency;
use crate::nemesis::Grudge;
pub use stats::{GroupStats, NetStats, WireSize};

/// A registered network participant (server node, client or service), interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr(pub u32);

/// Why a send was refused (Maelstrom asserts on these; the driver turns them into its §3.1 failure mode).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The source is not a registered participant.
    #[error("invalid source {0:?}")]
    InvalidSrc(String),
    /// The destination is not (or no longer) registered, e.g. a client that was closed.
    #[error("invalid dest {0:?}")]
    InvalidDest(String),
}

/// A message handed to its receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<P> {
    /// The network-wide message id (the extra `id` field, §3.1).
    pub id: u64,
    /// Sender.
    pub src: Addr,
    /// Receiver.
    pub dest: Addr,
    /// When the message was due.
    pub deadline: Nanos,
    /// What the caller sent.
    pub payload: P,
}

/// A latency source for server↔server messages: nanoseconds of delay for one message from `src` to `dest`.
pub type Sampler = Box<dyn FnMut(Addr, Addr) -> Nanos + Send>;

#[expect(clippy::large_enum_variant, reason = "one per network; keeps the rng inline on the send path")]
enum LatencySource {
    Model { latency: Latency, rng: ChaCha8Rng },
    Custom(Sampler),
}

impl LatencySource {
    fn sample(&mut self, src: Addr, dest: Addr) -> Nanos {
        match self {
            LatencySource::Model { latency, rng } => latency.sample_ms(rng).saturating_mul(1_000_000),
            LatencySource::Custom(f) => f(src, dest),
        }
    }

    /// A sample of the same distribution drawn from another stream (a duplicate's latency).
    fn sample_with(&mut self, src: Addr, dest: Addr, rng: &mut ChaCha8Rng) -> Nanos {
        match self {
            LatencySource::Model { latency, .. } => latency.sample_ms(rng).saturating_mul(1_000_000),
            LatencySource::Custom(f) => f(src, dest),
        }
    }
}

impl fmt::Debug for LatencySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LatencySource::Model { latency, .. } => write!(f, "{latency:?}"),
            LatencySource::Custom(_) => f.write_str("custom sampler"),
        }
    }
}

/// A message waiting in a receiver's queue (or in flight). Ordered so that a `BinaryHeap` pops the earliest
/// `(deadline, id)` first.
#[derive(Debug)]
struct Queued<P> {
    deadline: Nanos,
    id: u64,
    src: Addr,
    payload: P,
}

impl<P> Queued<P> {
    fn key(&self) -> (Nanos, u64) {
        (self.deadline, self.id)
    }
}

impl<P> PartialEq for Queued<P> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<P> Eq for Queued<P> {}
impl<P> PartialOrd for Queued<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<P> Ord for Queued<P> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// One receiver's delivery loop.
#[derive(Debug)]
struct Receiver<P> {
    queue: BinaryHeap<Queued<P>>,
    in_flight: Option<Queued<P>>,
    /// Does this receiver take messages off its queue (see [`Network::set_receiving`])?
    receiving: bool,
}

impl<P> Receiver<P> {
    fn new() -> Self {
        Receiver { queue: BinaryHeap::new(), in_flight: None, receiving: true }
    }
}

/// Per-message fault probabilities for server↔server messages (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MessageFaults {
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message that is not lost is delivered twice.
    pub duplicate: f64,
}

impl MessageFaults {
    /// Is any fault probability positive?
    pub fn any(&self) -> bool {
        self.loss > 0.0 || self.duplicate > 0.0
    }
}

/// Per-receiver deadline queues with Maelstrom's delivery-loop semantics, and the table of participants: `R` is
/// what the caller keeps for each registered address (see the module docs).
#[derive(Debug)]
pub struct Network<P, R = ()> {
    latency: LatencySource,
    /// addr → name, for every address ever allocated.
    names: Vec<String>,
    /// addr → is the name a client's?
    clients: Vec<bool>,
    /// addr → its role while registered; `None` once unregistered.
    roles: Vec<Option<R>>,
    /// name → addr, for every name ever registered (lookup only, never iterated).
    by_name: HashMap<String, Addr>,
    registered_count: usize,
    receivers: Vec<Receiver<P>>,
    /// In-flight messages by `(due, id, receiver)`, earliest first; exactly one entry per in-flight message.
    ready: BinaryHeap<Reverse<(Nanos, u64, u32)>>,
    next_id: u64,
    stats: NetStats,
    /// receiver addr → bit set of sender addrs it drops (spec §4.1 `partitions`).
    grudges: Vec<BitVec>,
    /// Receivers whose grudge set may be non-empty (to heal without scanning everything).
    aggrieved: Vec<u32>,
    faults: MessageFaults,
    /// Draws for `faults`, a stream of its own.
    fault_rng: ChaCha8Rng,
    /// Messages lost and duplicated by `faults` so far.
    fault_counts: (u64, u64),
}

/// The seed of the fault stream, derived from the latency seed so that one seed decides both.
fn fault_seed(seed: u64) -> u64 {
    seed ^ 0x6c6f_7373_6475_7021
}

impl<P, R> Network<P, R> {
    /// A network with no participants. `seed` drives the latency samples and the message faults.
    pub fn new(latency: Latency, seed: u64) -> Self {
        Self::with_source(LatencySource::Model { latency, rng: ChaCha8Rng::seed_from_u64(seed) }, seed)
    }

    /// A network whose server↔server latencies (in nanoseconds) come from `sampler`, called once per such message
    /// at send time. Client messages still get none. For tests and experiments with crafted delays.
    pub fn with_sampler(sampler: impl FnMut(Addr, Addr) -> Nanos + Send + 'static) -> Self {
        Self::with_source(LatencySource::Custom(Box::new(sampler)), 0)
    }

    fn with_source(latency: LatencySource, seed: u64) -> Self {
        Network {
            latency,
            names: Vec::new(),
            clients: Vec::new(),
            roles: Vec::new(),
            by_name: HashMap::new(),
            registered_count: 0,
            receivers: Vec::new(),
            ready: BinaryHeap::new(),
            next_id: 0,
            stats: NetStats::default(),
            grudges: Vec::new(),
            aggrieved: Vec::new(),
            faults: MessageFaults::default(),
            fault_rng: ChaCha8Rng::seed_from_u64(fault_seed(seed)),
            fault_counts: (0, 0),
        }
    }

    /// Registers a participant with its role and returns the address it assigned. Ids starting with `c` are
    /// clients (no latency, never partitioned).
    ///
    /// A name that is currently registered keeps its address and queue and takes the new role. A name registered
    /// before and since unregistered gets its old address back, with an empty queue (partitions are kept by
    /// receiver, as Maelstrom keys them by name).
    pub fn register(&mut self, name: &str, role: R) -> Addr {
        if let Some(&addr) = self.by_name.get(name) {
            let i = addr.0 as usize;
            if self.roles[i].is_none() {
                self.registered_count += 1;
                self.receivers[i] = Receiver::new();
            }
            self.roles[i] = Some(role);
            return addr;
        }
        let addr = Addr(u32::try_from(self.names.len()).expect("more than 2^32 network participants"));
        self.names.push(name.to_owned());
        self.clients.push(name.starts_with('c'));
        self.roles.push(Some(role));
        self.registered_count += 1;
        self.receivers.push(Receiver::new());
        self.grudges.push(BitVec::new());
        self.by_name.insert(name.to_owned(), addr);
        addr
    }

    /// Removes a participant and returns its role: later sends to it fail with [`NetError::InvalidDest`]; its
    /// queued messages are discarded (never received).
    ///
    /// Its in-flight message is discarded too. Messages it sent earlier are still delivered. Unknown or already
    /// unregistered addresses give `None`.
    pub fn unregister(&mut self, addr: Addr) -> Option<R> {
        let role = self.roles.get_mut(addr.0 as usize)?.take()?;
        self.registered_count -= 1;
        self.discard_pending(addr);
        Some(role)
    }

    /// Discards every message sent to `addr` and not yet delivered (its queue and its in-flight message), as if
    /// they had been lost; the participant stays registered. A killed node loses what was on its way to it.
    pub fn discard_pending(&mut self, addr: Addr) {
        let Some(receiver) = self.receivers.get_mut(addr.0 as usize) else { return };
        receiver.queue = BinaryHeap::new();
        if receiver.in_flight.take().is_some() {
            self.ready.retain(|Reverse((_, _, dest))| *dest != addr.0);
        }
    }

    /// The role of a registered participant.
    pub fn role(&self, addr: Addr) -> Option<&R> {
        self.roles.get(addr.0 as usize)?.as_ref()
    }

    /// The role of a registered participant, to change it.
    pub fn role_mut(&mut self, addr: Addr) -> Option<&mut R> {
        self.roles.get_mut(addr.0 as usize)?.as_mut()
    }

    /// The address of a currently registered participant.
    pub fn addr(&self, name: &str) -> Option<Addr> {
        self.by_name.get(name).copied().filter(|&a| self.is_registered(a))
    }

    /// The name of an address (registered now or before). An address this network never handed out is named `"?"`.
    pub fn name(&self, addr: Addr) -> &str {
        self.names.get(addr.0 as usize).map_or("?", String::as_str)
    }

    /// Is this address a client?
    pub fn is_client(&self, addr: Addr) -> bool {
        self.clients.get(addr.0 as usize).copied().unwrap_or(false)
    }

    /// Is this address registered now?
    pub fn is_registered(&self, addr: Addr) -> bool {
        self.role(addr).is_some()
    }

    /// How many participants are registered now.
    pub fn registered_count(&self) -> usize {
        self.registered_count
    }

    /// The id the next accepted message will get (= number of messages sent so far).
    pub fn next_message_id(&self) -> u64 {
        self.next_id
    }

    /// Messages sent to `addr` and not yet delivered nor dropped (its queue plus its in-flight message).
    pub fn pending_for(&self, addr: Addr) -> usize {
        self.receivers.get(addr.0 as usize).map_or(0, |r| r.queue.len() + usize::from(r.in_flight.is_some()))
    }

    /// Sets the per-message fault probabilities for server↔server messages from now on (see the module docs).
    pub fn set_message_faults(&mut self, faults: MessageFaults) {
        self.faults = faults;
    }

    /// The per-message fault probabilities in force.
    pub fn message_faults(&self) -> MessageFaults {
        self.faults
    }

    /// Messages lost and duplicated by the message faults so far: `(lost, duplicated)`.
    pub fn fault_counts(&self) -> (u64, u64) {
        self.fault_counts
    }

    /// The earliest deadline among messages taken off their queues and waiting to be delivered.
    ///
    /// Precisely: the earliest time at which [`Network::poll`] will deliver something, `max(deadline, taken at)`.
    pub fn next_deadline(&self) -> Option<Nanos> {
        self.ready.peek().map(|Reverse((due, _, _))| *due)
    }

    /// Delivers one message whose deadline is `<= now`, if any (counting a recv); its receiver then takes its next
    /// queued message (partition check at that moment).
    ///
    /// Among several due messages the earliest `(due, id)` comes first. Call until `None` to drain everything due.
    pub fn poll(&mut self, now: Nanos) -> Option<Delivery<P>> {
        let &Reverse((due, id, dest)) = self.ready.peek()?;
        if due > now {
            return None;
        }
        self.ready.pop();
        let dest = Addr(dest);
        let msg = self.receivers[dest.0 as usize].in_flight.take()?;
        debug_assert_eq!(msg.id, id, "ready heap and in-flight slot disagree");
        self.stats.on_recv(self.is_client(msg.src) || self.is_client(dest));
        if self.receivers[dest.0 as usize].receiving {
            self.take(dest, now);
        }
        Some(Delivery { id: msg.id, src: msg.src, dest, deadline: msg.deadline, payload: msg.payload })
    }

    /// Pauses (`false`) or resumes (`true`) a receiver's delivery loop at `now`. Every receiver starts receiving.
    ///
    /// A paused receiver leaves new messages in its queue (its in-flight message, if any, is still delivered):
    /// this models a Maelstrom client, which only takes messages while it waits for an RPC reply, so a late reply
    /// to a client closed before its next RPC is never received (spec §4.3). On resume an idle receiver takes its
    /// earliest message at `now`.
    pub fn set_receiving(&mut self, now: Nanos, addr: Addr, on: bool) {
        if !self.is_registered(addr) {
            return;
        }
        let receiver = &mut self.receivers[addr.0 as usize];
        receiver.receiving = on;
        if on && receiver.in_flight.is_none() {
            self.take(addr, now);
        }
    }

    /// Adds a grudge to the partitions in force (§8).
    ///
    /// For every `(receiver, senders)` entry, the receiver drops later-taken messages from those senders. Names
    /// not currently registered, and clients, are ignored (clients are never partitioned, §4.3).
    pub fn partition(&mut self, grudge: &Grudge) {
        for (dest, srcs) in grudge {
            let Some(d) = self.addr(dest).filter(|&a| !self.is_client(a)) else {
                continue;
            };
            let mut any = false;
            for src in srcs {
                let Some(s) = self.addr(src).filter(|&a| !self.is_client(a)) else {
                    continue;
                };
                let bits = &mut self.grudges[d.0 as usize];
                let i = s.0 as usize;
                if bits.len() <= i {
                    bits.resize(i + 1, false);
                }
                bits.set(i, true);
                any = true;
            }
            if any {
                self.aggrieved.push(d.0);
            }
        }
    }

    /// Replaces the partitions in force by `grudge` (a heal, then [`Network::partition`]).
    pub fn set_partition(&mut self, grudge: &Grudge) {
        self.heal();
        self.partition(grudge);
    }

    /// Heals every partition.
    pub fn heal(&mut self) {
        for d in self.aggrieved.drain(..) {
            self.grudges[d as usize].clear();
        }
    }

    /// Does `dest` currently drop messages from `src`?
    pub fn is_partitioned(&self, src: Addr, dest: Addr) -> bool {
        self.grudges.get(dest.0 as usize).and_then(|bits| bits.get(src.0 as usize).map(|b| *b)).unwrap_or(false)
    }

    /// The `:net` counters so far.
    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    /// The idle receiver `dest` takes its earliest queued message at `now`, dropping those from senders it holds a
    /// grudge against (spec §4.3 step 2), and schedules it for delivery at `max(deadline, now)`.
    fn take(&mut self, dest: Addr, now: Nanos) {
        let i = dest.0 as usize;
        debug_assert!(self.receivers[i].in_flight.is_none());
        while let Some(msg) = self.receivers[i].queue.pop() {
            if self.is_partitioned(msg.src, dest) {
                continue;
            }
            let due = msg.deadline.max(now);
            self.ready.push(Reverse((due, msg.id, dest.0)));
            self.receivers[i].in_flight = Some(msg);
            return;
        }
    }

    fn enqueue(&mut self, now: Nanos, src: Addr, dest: Addr, id: u64, deadline: Nanos, payload: P) {
        let receiver = &mut self.receivers[dest.0 as usize];
        receiver.queue.push(Queued { deadline, id, src, payload });
        if receiver.in_flight.is_none() && receiver.receiving {
            self.take(dest, now);
        }
    }

    fn display_name(&self, addr: Addr) -> String {
        match self.names.get(addr.0 as usize) {
            Some(name) => name.clone(),
            None => format!("?{}", addr.0),
        }
    }
}

impl<P: Clone, R> Network<P, R> {
    /// Sends at `now`: assigns the next message id (first is 0), counts a send, samples latency (servers only),
    /// enqueues at the receiver and returns the id. An idle receiver takes the message off its queue at once
    /// (partition check then). With message faults on, a server message may be lost here or enqueued twice.
    ///
    /// A refused send (unregistered source or destination) changes nothing: no id is consumed, nothing counted.
    pub fn send(&mut self, now: Nanos, src: Addr, dest: Addr, payload: P) -> Result<u64, NetError>
    where
        P: WireSize,
    {
        if !self.is_registered(src) {
            return Err(NetError::InvalidSrc(self.display_name(src)));
        }
        if !self.is_registered(dest) {
            return Err(NetError::InvalidDest(self.display_name(dest)));
        }
        let id = self.next_id;
        self.next_id += 1;
        let involves_client = self.is_client(src) || self.is_client(dest);
        self.stats.on_send(involves_client, payload.wire_size());
        if involves_client {
            self.enqueue(now, src, dest, id, now, payload);
            return Ok(id);
        }
        // The latency sample is drawn whatever the faults do, so faults never shift the latency stream.
        let deadline = now.saturating_add(self.latency.sample(src, dest));
        let faults = self.faults;
        if faults.loss > 0.0 && self.fault_rng.random_bool(faults.loss.min(1.0)) {
            self.fault_counts.0 += 1;
            return Ok(id);
        }
        if faults.duplicate > 0.0 && self.fault_rng.random_bool(faults.duplicate.min(1.0)) {
            self.fault_counts.1 += 1;
            let copy = now.saturating_add(self.latency.sample_with(src, dest, &mut self.fault_rng));
            self.enqueue(now, src, dest, id, copy, payload.clone());
        }
        self.enqueue(now, src, dest, id, deadline, payload);
        Ok(id)
    }
}

#[cfg(test)]
mod tests;
