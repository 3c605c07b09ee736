//! The simulated network (spec §4), sans-IO: time is passed in, randomness is seeded, no clock reads.
//! Owner: models helper. Interface fixed; bodies to fill.

pub mod stats;

use crate::history::Nanos;
use crate::latency::Latency;
use crate::nemesis::Grudge;
pub use stats::{GroupStats, NetStats};

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

/// Per-receiver deadline queues with Maelstrom's delivery-loop semantics.
#[derive(Debug)]
pub struct Network<P> {
    _p: std::marker::PhantomData<P>,
}

impl<P> Network<P> {
    /// A network with no participants. `seed` drives the latency samples.
    pub fn new(latency: Latency, seed: u64) -> Self {
        todo!("{latency:?} {seed}")
    }

    /// Registers a participant. Ids starting with `c` are clients (no latency, never partitioned).
    /// Re-registering a name that is currently registered returns its existing address.
    pub fn register(&mut self, name: &str) -> Addr {
        todo!("{name}")
    }

    /// Removes a participant: later sends to it fail with [`NetError::InvalidDest`]; its queued messages are
    /// discarded (never received).
    pub fn unregister(&mut self, addr: Addr) {
        todo!("{addr:?}")
    }

    /// The address of a currently registered participant.
    pub fn addr(&self, name: &str) -> Option<Addr> {
        todo!("{name}")
    }

    /// The name of an address (registered now or before).
    pub fn name(&self, addr: Addr) -> &str {
        todo!("{addr:?}")
    }

    /// Is this address a client?
    pub fn is_client(&self, addr: Addr) -> bool {
        todo!("{addr:?}")
    }

    /// Sends at `now`: assigns the next message id (first is 0), counts a send, samples latency (servers only),
    /// enqueues at the receiver. An idle receiver takes the message off its queue at once (partition check then).
    pub fn send(&mut self, now: Nanos, src: Addr, dest: Addr, payload: P) -> Result<u64, NetError> {
        let _ = payload;
        todo!("{now} {src:?} {dest:?}")
    }

    /// The earliest deadline among messages taken off their queues and waiting to be delivered.
    pub fn next_deadline(&self) -> Option<Nanos> {
        todo!()
    }

    /// Delivers one message whose deadline is `<= now`, if any (counting a recv); its receiver then takes its next
    /// queued message (partition check at that moment).
    pub fn poll(&mut self, now: Nanos) -> Option<Delivery<P>> {
        todo!("{now}")
    }

    /// Adds a grudge to the partitions in force (§8).
    pub fn partition(&mut self, grudge: &Grudge) {
        todo!("{grudge:?}")
    }

    /// Heals every partition.
    pub fn heal(&mut self) {
        todo!()
    }

    /// The `:net` counters so far.
    pub fn stats(&self) -> &NetStats {
        todo!()
    }
}
