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
//! Cost: `send` and `poll` are `O(log n)` (a per-receiver heap plus one global heap of in-flight deadlines).

pub mod stats;

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::fmt;

use bitvec::vec::BitVec;
use rand::SeedableRng;
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

/// Per-receiver deadline queues with Maelstrom's delivery-loop semantics.
#[derive(Debug)]
pub struct Network<P> {
    latency: LatencySource,
    /// addr → name, for every address ever allocated.
    names: Vec<String>,
    /// addr → is the name a client's?
    clients: Vec<bool>,
    /// addr → registered now?
    registered: Vec<bool>,
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
}

impl<P> Network<P> {
    /// A network with no participants. `seed` drives the latency samples.
    pub fn new(latency: Latency, seed: u64) -> Self {
        Self::with_source(LatencySource::Model { latency, rng: ChaCha8Rng::seed_from_u64(seed) })
    }

    /// A network whose server↔server latencies (in nanoseconds) come from `sampler`, called once per such message
    /// at send time. Client messages still get none. For tests and experiments with crafted delays.
    pub fn with_sampler(sampler: impl FnMut(Addr, Addr) -> Nanos + Send + 'static) -> Self {
        Self::with_source(LatencySource::Custom(Box::new(sampler)))
    }

    fn with_source(latency: LatencySource) -> Self {
        Network {
            latency,
            names: Vec::new(),
            clients: Vec::new(),
            registered: Vec::new(),
            by_name: HashMap::new(),
            registered_count: 0,
            receivers: Vec::new(),
            ready: BinaryHeap::new(),
            next_id: 0,
            stats: NetStats::default(),
            grudges: Vec::new(),
            aggrieved: Vec::new(),
        }
    }

    /// Registers a participant. Ids starting with `c` are clients (no latency, never partitioned).
    /// Re-registering a name that is currently registered returns its existing address.
    ///
    /// A name registered before and since unregistered gets its old address back, with an empty queue (partitions
    /// are kept by receiver, as Maelstrom keys them by name).
    pub fn register(&mut self, name: &str) -> Addr {
        if let Some(&addr) = self.by_name.get(name) {
            let i = addr.0 as usize;
            if !self.registered[i] {
                self.registered[i] = true;
                self.registered_count += 1;
                self.receivers[i] = Receiver::new();
            }
            return addr;
        }
        let addr = Addr(u32::try_from(self.names.len()).expect("more than 2^32 network participants"));
        self.names.push(name.to_owned());
        self.clients.push(name.starts_with('c'));
        self.registered.push(true);
        self.registered_count += 1;
        self.receivers.push(Receiver::new());
        self.grudges.push(BitVec::new());
        self.by_name.insert(name.to_owned(), addr);
        addr
    }

    /// Removes a participant: later sends to it fail with [`NetError::InvalidDest`]; its queued messages are
    /// discarded (never received).
    ///
    /// Its in-flight message is discarded too. Messages it sent earlier are still delivered. Unknown or already
    /// unregistered addresses are ignored.
    pub fn unregister(&mut self, addr: Addr) {
        if !self.is_registered(addr) {
            return;
        }
        let i = addr.0 as usize;
        self.registered[i] = false;
        self.registered_count -= 1;
        let receiver = &mut self.receivers[i];
        receiver.queue = BinaryHeap::new();
        if receiver.in_flight.take().is_some() {
            self.ready.retain(|Reverse((_, _, dest))| *dest != addr.0);
        }
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
        self.registered.get(addr.0 as usize).copied().unwrap_or(false)
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

    /// Sends at `now`: assigns the next message id (first is 0), counts a send and its bytes, samples latency
    /// (servers only), enqueues at the receiver. An idle receiver takes the message off its queue at once
    /// (partition check then).
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
        let latency = if involves_client { 0 } else { self.latency.sample(src, dest) };
        let deadline = now.saturating_add(latency);
        let receiver = &mut self.receivers[dest.0 as usize];
        receiver.queue.push(Queued { deadline, id, src, payload });
        if receiver.in_flight.is_none() && receiver.receiving {
            self.take(dest, now);
        }
        Ok(id)
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

    fn display_name(&self, addr: Addr) -> String {
        match self.names.get(addr.0 as usize) {
            Some(name) => name.clone(),
            None => format!("?{}", addr.0),
        }
    }
}

#[cfg(test)]
mod tests;
