//! A deterministic in-process network for engines: virtual time, per-message delays, loss and duplication, all
//! drawn from a seed. The property tests and the cost estimates use it; it models what matters to the engine
//! (delay, loss, duplication, reordering), not Maelstrom's exact queues (the harness does that).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use osmosis_crdt::{DeltaCrdt, Reconcile};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Config, Engine, Message, Replica};

/// How the simulated network treats a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Probability that a message is dropped.
    pub loss: f64,
    /// Probability that a delivered message is delivered a second time (with its own delay).
    pub duplication: f64,
    /// Every delivery takes `delay_min` plus a uniform extra in `[0, delay_jitter]` (jitter reorders messages).
    pub delay_min: Duration,
    /// See `delay_min`.
    pub delay_jitter: Duration,
}

impl Faults {
    /// A network that delivers every message exactly once after exactly `delay`.
    pub fn reliable(delay: Duration) -> Faults {
        Faults { loss: 0.0, duplication: 0.0, delay_min: delay, delay_jitter: Duration::ZERO }
    }
}

/// One message sent, for accounting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// When it was sent.
    pub at: Duration,
    /// Sender index.
    pub from: usize,
    /// Receiver index.
    pub to: usize,
    /// Its `type` tag.
    pub kind: &'static str,
}

type Delivery<C> = (Reverse<(Duration, u64)>, usize, usize, Message<C>);

/// Engines `0..n`, each named by its index, and the messages between them.
#[derive(Debug)]
pub struct Sim<C: Replica> {
    /// The engines, by index (engine `i`'s id is `i`).
    pub engines: Vec<Engine<C, usize>>,
    /// Every message sent so far.
    pub sent: Vec<Sent>,
    /// The network's current behaviour (change it between steps, e.g. to heal).
    pub faults: Faults,
    /// The virtual clock.
    pub now: Duration,
    /// A partition: each node's side (index = node). A message between different sides is dropped when it is
    /// delivered, as Maelstrom does; `None` means no partition.
    pub sides: Option<Vec<u8>>,
    queue: BinaryHeap<OrdDelivery<C>>,
    rng: ChaCha8Rng,
    counter: u64,
}

/// Heap entry ordered by delivery time, then send order.
#[derive(Debug)]
struct OrdDelivery<C: DeltaCrdt + Reconcile>(Delivery<C>);

impl<C: DeltaCrdt + Reconcile> PartialEq for OrdDelivery<C> {
    fn eq(&self, other: &Self) -> bool {
        self.0.0 == other.0.0
    }
}
impl<C: DeltaCrdt + Reconcile> Eq for OrdDelivery<C> {}
impl<C: DeltaCrdt + Reconcile> PartialOrd for OrdDelivery<C> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<C: DeltaCrdt + Reconcile> Ord for OrdDelivery<C> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.0.cmp(&other.0.0)
    }
}

impl<C: Replica> Sim<C> {
    /// `n` engines with `config`, engine `i` seeded with `seed + i`, on a network with `faults`.
    pub fn new(n: usize, config: &Config, faults: Faults, seed: u64) -> Sim<C> {
        let engines = (0..n)
            .map(|i| {
                Engine::new(i, 0..n, config.clone(), seed.wrapping_add(i as u64), Duration::ZERO)
                    .expect("a valid config")
            })
            .collect();
        Sim {
            engines,
            sent: Vec::new(),
            faults,
            now: Duration::ZERO,
            sides: None,
            queue: BinaryHeap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
            counter: 0,
        }
    }

    /// A local update at engine `i`, now ([`Engine::update`]: `mutate` changes the replica and returns its delta).
    pub fn update(&mut self, i: usize, mutate: impl FnOnce(&mut C) -> C) {
        let now = self.now;
        self.engines[i].update(now, mutate);
        self.collect(i);
    }

    /// Runs every delivery and tick up to `until` (inclusive), in time order.
    pub fn run_until(&mut self, until: Duration) {
        loop {
            let next_msg = self.queue.peek().map(|d| d.0.0.0.0);
            let next_tick = self.engines.iter().filter_map(|e| e.next_deadline()).min();
            let next = match (next_msg, next_tick) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            while self.queue.peek().is_some_and(|d| d.0.0.0.0 <= self.now) {
                let OrdDelivery((_, from, to, msg)) = self.queue.pop().expect("peeked");
                if self.sides.as_ref().is_some_and(|s| s.get(from) != s.get(to)) {
                    continue;
                }
                let now = self.now;
                self.engines[to].on_message(now, &from, msg);
                self.collect(to);
            }
            for i in 0..self.engines.len() {
                if self.engines[i].next_deadline().is_some_and(|t| t <= self.now) {
                    let now = self.now;
                    self.engines[i].on_tick(now);
                    self.collect(i);
                }
            }
        }
        self.now = self.now.max(until);
    }

    /// Whether every engine holds the same state.
    pub fn converged(&self) -> bool
    where
        C: PartialEq,
    {
        self.engines.windows(2).all(|w| w[0].state() == w[1].state())
    }

    /// Messages sent in `[from, to)`.
    pub fn sent_between(&self, from: Duration, to: Duration) -> impl Iterator<Item = &Sent> {
        self.sent.iter().filter(move |s| s.at >= from && s.at < to)
    }

    fn collect(&mut self, i: usize) {
        for (to, msg) in self.engines[i].take_outbox() {
            self.sent.push(Sent { at: self.now, from: i, to, kind: msg.kind() });
            if to >= self.engines.len() || self.rng.random_bool(self.faults.loss.clamp(0.0, 1.0)) {
                continue;
            }
            let copies = if self.rng.random_bool(self.faults.duplication.clamp(0.0, 1.0)) { 2 } else { 1 };
            for _ in 0..copies {
                let jitter = self.faults.delay_jitter.mul_f64(self.rng.random::<f64>());
                let at = self.now + self.faults.delay_min + jitter;
                self.counter += 1;
                self.queue.push(OrdDelivery((Reverse((at, self.counter)), i, to, msg.clone())));
            }
        }
    }
}
