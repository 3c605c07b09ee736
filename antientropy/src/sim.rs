//! A deterministic in-process network for engines: virtual time, per-message delays, loss, duplication,
//! partitions, isolated nodes, paused nodes and nodes that crash and restart empty, all drawn from a seed. The
//! property tests and the cost estimates use it; it models what matters to the engine (delay, loss, duplication,
//! reordering, unreachable and stopped nodes), not Maelstrom's exact queues (the harness does that).

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};
use std::time::Duration;

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

/// A message on its way: (delivery time, send order), sender, receiver, message.
type Delivery<C> = (Reverse<(Duration, u64)>, usize, usize, Message<C, usize>);

/// Messages held for a paused engine: (sender, message), in arrival order.
type Held<C> = VecDeque<(usize, Message<C, usize>)>;

/// What a [`Sim::run_until_observing`] observer is shown: a message about to be delivered to an engine, with the
/// engine as it is before the delivery.
pub type Observer<'a, C> = dyn FnMut(Duration, usize, &Message<C, usize>, &Engine<C, usize>) + 'a;

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
    /// Nodes cut off from everyone: every message from or to them is dropped when it is delivered.
    pub isolated: BTreeSet<usize>,
    /// Links cut one way, as (sender, receiver): a message on them is dropped when it is delivered (Maelstrom's
    /// grudges, which need not be symmetric).
    pub cut_links: BTreeSet<(usize, usize)>,
    /// Nodes that crashed and have not restarted yet: messages for them are dropped, they never tick (messages they
    /// sent before the crash still arrive).
    dead: BTreeSet<usize>,
    /// Messages for each paused node, held in arrival order until it resumes; `None` for a running node.
    held: Vec<Option<Held<C>>>,
    config: Config,
    seed: u64,
    restarts: u64,
    queue: BinaryHeap<OrdDelivery<C>>,
    /// Each running engine's next deadline, as (deadline, index).
    deadlines: BTreeSet<(Duration, usize)>,
    deadline_of: Vec<Option<Duration>>,
    rng: ChaCha8Rng,
    counter: u64,
}

/// Heap entry ordered by delivery time, then send order.
#[derive(Debug)]
struct OrdDelivery<C: Replica>(Delivery<C>);

impl<C: Replica> PartialEq for OrdDelivery<C> {
    fn eq(&self, other: &Self) -> bool {
        self.0.0 == other.0.0
    }
}
impl<C: Replica> Eq for OrdDelivery<C> {}
impl<C: Replica> PartialOrd for OrdDelivery<C> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<C: Replica> Ord for OrdDelivery<C> {
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
        let mut sim = Sim {
            engines,
            sent: Vec::new(),
            faults,
            now: Duration::ZERO,
            sides: None,
            isolated: BTreeSet::new(),
            cut_links: BTreeSet::new(),
            dead: BTreeSet::new(),
            held: (0..n).map(|_| None).collect(),
            config: config.clone(),
            seed,
            restarts: 0,
            queue: BinaryHeap::new(),
            deadlines: BTreeSet::new(),
            deadline_of: vec![None; n],
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
            counter: 0,
        };
        for i in 0..n {
            sim.refresh(i);
        }
        sim
    }

    /// A local update at engine `i`, now ([`Engine::update`]: `mutate` changes the replica and returns its delta).
    /// Returns false, and does nothing, if the engine is paused or crashed: its client could not reach it.
    pub fn update(&mut self, i: usize, mutate: impl FnOnce(&mut C) -> C) -> bool {
        if self.held[i].is_some() || self.dead.contains(&i) {
            return false;
        }
        let now = self.now;
        self.engines[i].update(now, mutate);
        self.collect(i);
        true
    }

    /// Engine `i` crashes: until [`Sim::restart`] it does nothing and messages for it are lost.
    pub fn crash(&mut self, i: usize) {
        self.dead.insert(i);
        self.refresh(i);
    }

    /// Engine `i` (crashed or not) restarts with an empty replica and a fresh seed, as a new process would;
    /// messages on their way to it from now on reach the new engine.
    pub fn restart(&mut self, i: usize) {
        self.dead.remove(&i);
        self.restarts += 1;
        let seed = self.seed.wrapping_add(i as u64).wrapping_add(self.restarts << 32);
        let n = self.engines.len();
        self.engines[i] = Engine::new(i, 0..n, self.config.clone(), seed, self.now).expect("a valid config");
        self.refresh(i);
    }

    /// Engine `i` stops: no ticks, and messages for it wait (in arrival order) until [`Sim::resume`].
    pub fn pause(&mut self, i: usize) {
        if self.held[i].is_none() {
            self.held[i] = Some(VecDeque::new());
            self.refresh(i);
        }
    }

    /// Engine `i` runs again: it takes every message held for it, now, then its overdue ticks.
    pub fn resume(&mut self, i: usize) {
        let Some(held) = self.held[i].take() else { return };
        let now = self.now;
        for (from, msg) in held {
            self.engines[i].on_message(now, &from, msg);
        }
        self.collect(i);
    }

    /// Whether engine `i` has crashed and not restarted.
    pub fn is_dead(&self, i: usize) -> bool {
        self.dead.contains(&i)
    }

    /// Whether engine `i` is paused.
    pub fn is_paused(&self, i: usize) -> bool {
        self.held[i].is_some()
    }

    /// Runs every delivery and tick up to `until` (inclusive), in time order.
    pub fn run_until(&mut self, until: Duration) {
        self.run_until_observing(until, &mut |_, _, _, _| {});
    }

    /// [`Sim::run_until`], showing `observe` every message just before it is delivered, with its receiver as it
    /// is then (to time when each replica learns what). Messages held for a paused engine are not shown: they are
    /// delivered by [`Sim::resume`].
    pub fn run_until_observing(&mut self, until: Duration, observe: &mut Observer<'_, C>) {
        loop {
            let next_msg = self.queue.peek().map(|d| d.0.0.0.0);
            let next_tick = self.deadlines.first().map(|&(t, _)| t);
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
                if self.dropped(from, to) {
                    continue;
                }
                if let Some(held) = &mut self.held[to] {
                    held.push_back((from, msg));
                    continue;
                }
                let now = self.now;
                observe(now, to, &msg, &self.engines[to]);
                self.engines[to].on_message(now, &from, msg);
                self.collect(to);
            }
            let due: BTreeSet<usize> = self.deadlines.range(..=(self.now, usize::MAX)).map(|&(_, i)| i).collect();
            for i in due {
                let now = self.now;
                self.engines[i].on_tick(now);
                self.collect(i);
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

    /// Whether a message from `from` to `to` is dropped when it arrives now (partition, isolation, a cut link, a
    /// crashed receiver).
    fn dropped(&self, from: usize, to: usize) -> bool {
        self.sides.as_ref().is_some_and(|s| s.get(from) != s.get(to))
            || self.isolated.contains(&from)
            || self.isolated.contains(&to)
            || self.dead.contains(&to)
            || self.cut_links.contains(&(from, to))
    }

    /// Re-reads engine `i`'s next deadline (none while it is paused).
    fn refresh(&mut self, i: usize) {
        if let Some(t) = self.deadline_of[i].take() {
            self.deadlines.remove(&(t, i));
        }
        if self.held[i].is_none()
            && !self.dead.contains(&i)
            && let Some(t) = self.engines[i].next_deadline()
        {
            self.deadlines.insert((t, i));
            self.deadline_of[i] = Some(t);
        }
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
        self.refresh(i);
    }
}
