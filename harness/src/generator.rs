//! The operation schedule (spec §6, §7, §8 timing): Jepsen's generator semantics as Maelstrom composes them,
//! sans-IO. The driver asks [`Scheduler::next`] what to do at `now` and reports completions.
//!
//! # What it reproduces
//!
//! Maelstrom's generator is (spec §6.1, Maelstrom `core.clj`):
//!
//! ```text
//! main  = time_limit(T, any(nemesis(stagger(interval, flip_flop(start, repeat(stop)))),
//!                           clients(rate > 0 ? stagger(1/rate, workload) : sleep(T))))
//! test  = phases(main, nemesis(stop), log("Waiting for recovery..."), sleep(10), clients(final))  # final-read workloads
//!       | main                                                                                  # echo, unique-ids
//! ```
//!
//! * **stagger** (§6.2): one global schedule for client ops; gaps are uniform integers in `[0, 2/rate)` s; the
//!   first op is due at the first `next` call's `now`. An op that finds every client thread busy goes out when a
//!   thread frees up, and the schedule continues from there (it never catches up).
//! * **thread choice** (§6.3): Jepsen's rotating pointer over the `C` client threads plus the nemesis (`C + 1`
//!   slots), advanced on every dispatch, client or nemesis; the op goes to the first free client thread at or
//!   after the pointer, wrapping. Echo is the exception: Maelstrom wraps its generator in `each-thread`, which
//!   picks uniformly at random among the free threads.
//! * **time limit** (§6.4): cutoff = time of the first op + `T`. `any` offers the sooner of the next client op and
//!   the next nemesis op (a client side with every thread busy is *pending* and loses to any nemesis op); the main
//!   phase ends at the first offered op whose time is `≥ cutoff`. Consequence kept from Jepsen: with the nemesis
//!   on, once its next op falls past the cutoff, a moment when every client thread is busy ends the main phase.
//! * **nemesis** (§8): `start-partition` at the first call, then `stop`/`start` alternately, gaps uniform in
//!   `[0, 2·interval)`; each start draws its grudge with [`crate::nemesis::random_grudge`]. Nemesis ops are
//!   instantaneous here (the driver applies them when it receives the action). The extensions of
//!   [`crate::nemesis`] add a `kill` and a `pause` flip-flop (a random node, then the same node back; each waits
//!   one gap before its first op), and the targeted faults at their given times; `any` offers the soonest of
//!   them all. With only `partition`, the schedule and its random draws are exactly Maelstrom's.
//! * **after main**, for workloads with final reads: barrier (every client thread idle), heal (only with a
//!   nemesis; it ends every fault), the log line, `recovery` of sleep, then one final read per client thread, all at the same time
//!   in random order; `Done` once they completed. Echo and unique-ids end when main's in-flight ops completed.
//! * **processes** (§5.1): thread `t` starts as process `t`; an `Info` completion bumps it by `C`.
//!
//! Every random choice comes from one `ChaCha8Rng` seeded in [`Scheduler::new`], drawn only when an action is
//! emitted, so the action sequence is a function of the seed and of the `(now, completion)` inputs alone.

use std::collections::VecDeque;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::history::{F, Nanos, Op, OpType, Process};
use crate::nemesis::{FaultKind, Grudge, GrudgeKind, TargetedFault};
use crate::workload::Workload;
use faults::NemesisSchedule;

/// What the scheduler needs to know about the run.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The workload (op mix, values, final reads).
    pub workload: Workload,
    /// Server node names, in test order (for grudges).
    pub nodes: Vec<String>,
    /// Number of client threads `C`.
    pub concurrency: usize,
    /// `--rate`, ops per second over all clients; 0 = no client ops in the main phase.
    pub rate: f64,
    /// `--time-limit` in nanoseconds.
    pub time_limit: Nanos,
    /// The nemesis, when any fault is on.
    pub nemesis: Option<NemesisConfig>,
    /// Recovery sleep before final reads (Maelstrom: 10 s).
    pub recovery: Nanos,
}

impl SchedulerConfig {
    /// Maelstrom's recovery sleep before the final reads: 10 s.
    pub const RECOVERY: Nanos = 10_000_000_000;

    /// Checks what Maelstrom's CLI would refuse. [`Scheduler::new`] does not call this and copes with anything, but
    /// some inputs degrade: `concurrency = 0` or a non-positive/NaN rate mean no client ops, an interval of 0 turns
    /// the nemesis off.
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1 client thread".into());
        }
        if self.rate.is_nan() || self.rate < 0.0 {
            return Err(format!("--rate must be a non-negative number, got {}", self.rate));
        }
        if self.nemesis.as_ref().is_some_and(|n| n.interval == 0 && !n.kinds.is_empty()) {
            return Err("--nemesis-interval must be positive".into());
        }
        if self.nodes.is_empty() {
            return Err("the test needs at least one node".into());
        }
        Ok(())
    }
}

/// What the nemesis schedules.
#[derive(Debug, Clone, PartialEq)]
pub struct NemesisConfig {
    /// `--nemesis-interval` in nanoseconds: the mean gap of every flip-flop.
    pub interval: Nanos,
    /// The faults scheduled at random, each on its own flip-flop.
    pub kinds: Vec<FaultKind>,
    /// Faults on named nodes at given history times.
    pub targeted: Vec<TargetedFault>,
}

impl NemesisConfig {
    /// Maelstrom's partition nemesis.
    pub fn partitions(interval: Nanos) -> Self {
        NemesisConfig { interval, kinds: vec![FaultKind::Partition], targeted: Vec::new() }
    }
}

/// A client operation to invoke.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// `:f`
    pub f: F,
    /// `:value` (`Null` = nil)
    pub value: Value,
    /// `:final? true`
    pub final_read: bool,
}

impl Invocation {
    /// The history's `:invoke` entry for this operation by client `process` at `at` (indexed when the history is
    /// finished).
    pub fn invoke_op(&self, at: Nanos, process: u64) -> Op {
        Op {
            index: 0,
            time: at,
            op_type: OpType::Invoke,
            process: Process::Client(process),
            f: self.f,
            value: self.value.clone(),
            final_read: self.final_read,
            error: None,
        }
    }
}

/// A nemesis operation.
#[derive(Debug, Clone, PartialEq)]
pub enum NemesisOp {
    /// `start-partition` with the grudge it imposes.
    StartPartition(GrudgeKind, Grudge),
    /// `stop-partition`: heal the random partition.
    StopPartition,
    /// Kill this node (extension).
    Kill(String),
    /// Restart this node, killed by the same flip-flop (extension).
    Start(String),
    /// Pause this node (extension).
    Pause(String),
    /// Resume this node, paused by the same flip-flop (extension).
    Resume(String),
    /// A targeted fault begins (`true`) or ends (extension).
    Targeted(TargetedFault, bool),
    /// The end of the main phase: every fault ends before the recovery sleep (spec §8's final `stop-partition`,
    /// and the extensions' ends).
    Heal,
}

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Invoke `op` on `thread` (bound to node `thread % N`) as `process`; `at` is the scheduled time, the
    /// invocation's history time (never later than the `now` passed in).
    Invoke {
        /// scheduled time
        at: Nanos,
        /// client thread
        thread: usize,
        /// its current process id
        process: u64,
        /// the operation
        op: Invocation,
    },
    /// Perform a nemesis operation at `at`.
    Nemesis {
        /// scheduled time
        at: Nanos,
        /// what to do
        op: NemesisOp,
    },
    /// Log a phase message (`"Waiting for recovery..."`).
    Log(&'static str),
    /// Nothing to do before `until` (if given) or before a completion is reported.
    Wait {
        /// wake-up time, if any
        until: Option<Nanos>,
    },
    /// Every phase is over and every operation completed.
    Done,
}

/// The log line between the heal and the recovery sleep (spec §6.1).
pub const RECOVERY_LOG: &str = "Waiting for recovery...";

/// The whole generator of one run.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    rng: ChaCha8Rng,
    threads: Threads,
    ops: OpStream,
    /// The client stagger; `None` when the main phase has no client ops (rate 0, no threads).
    clients: Option<Stagger>,
    /// The nemesis's flip-flops and targeted faults; `None` without a nemesis.
    nemesis: Option<NemesisSchedule>,
    phase: Phase,
    ops_invoked: u64,
}

/// Jepsen's `stagger`: the next op is due at `next`; each emission draws a gap uniform in `[0, span)`.
#[derive(Debug)]
struct Stagger {
    span: Nanos,
    next: Nanos,
}

impl Stagger {
    fn advance<R: Rng + ?Sized>(&mut self, from: Nanos, rng: &mut R) {
        let gap = if self.span == 0 { 0 } else { rng.random_range(0..self.span) };
        self.next = from.saturating_add(gap);
    }
}

/// Client threads, their processes, and Jepsen's rotating thread pointer.
#[derive(Debug)]
struct Threads {
    busy: Vec<bool>,
    process: Vec<u64>,
    free: usize,
    /// Jepsen's `next-thread-index`, over `C + 1` slots (slot `C` is the nemesis).
    pointer: usize,
    /// A completion freed a thread while none was free: the next `next(now)` records `now` in `free_since`.
    unblocked: bool,
    /// When a client thread last became free after a moment with none free: a client op delayed by busy threads
    /// goes out then, not at its stagger time.
    free_since: Nanos,
}

impl Threads {
    fn new(c: usize) -> Self {
        Threads {
            busy: vec![false; c],
            process: (0..c as u64).collect(),
            free: c,
            pointer: 0,
            unblocked: false,
            free_since: 0,
        }
    }

    fn count(&self) -> usize {
        self.busy.len()
    }

    /// Jepsen's `some-free-process`: the first free thread at or after the pointer, wrapping.
    fn rotating(&self) -> Option<usize> {
        let c = self.count();
        (self.pointer.min(c)..c).chain(0..self.pointer.min(c)).find(|&t| !self.busy[t])
    }

    /// `each-thread`'s choice: uniform among the free threads.
    fn random<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<usize> {
        if self.free == 0 {
            return None;
        }
        let k = rng.random_range(0..self.free);
        (0..self.count()).filter(|&t| !self.busy[t]).nth(k)
    }

    /// Jepsen's `busy-thread`: mark it busy and move the pointer on.
    fn occupy(&mut self, thread: usize) {
        self.busy[thread] = true;
        self.free -= 1;
        self.bump_pointer();
    }

    fn bump_pointer(&mut self) {
        self.pointer = (self.pointer + 1) % (self.count() + 1);
    }

    fn all_idle(&self) -> bool {
        self.free == self.count()
    }
}

/// The workload's op stream (spec §7): Jepsen's `mix` keeps the index of the sub-generator for the *next* op and
/// redraws it each time an op is emitted.
#[derive(Debug)]
struct OpStream {
    workload: Workload,
    /// 0 = the add/broadcast side of the mix, 1 = read.
    mix_next: usize,
    /// The next value of the `(range)` broadcast / g-set sequence.
    next_value: u64,
}

impl OpStream {
    fn new<R: Rng + ?Sized>(workload: Workload, rng: &mut R) -> Self {
        let mix_next = match workload {
            Workload::Broadcast | Workload::GSet | Workload::PnCounter | Workload::GCounter => rng.random_range(0..2),
            Workload::Echo | Workload::UniqueIds => 0,
        };
        OpStream { workload, mix_next, next_value: 0 }
    }

    fn read() -> Invocation {
        Invocation { f: F::Read, value: Value::Null, final_read: false }
    }

    /// Takes the current mix choice and draws the next one.
    fn mix<R: Rng + ?Sized>(&mut self, rng: &mut R) -> usize {
        std::mem::replace(&mut self.mix_next, rng.random_range(0..2))
    }

    fn next<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Invocation {
        match self.workload {
            Workload::Broadcast | Workload::GSet => {
                if self.mix(rng) == 1 {
                    return Self::read();
                }
                let value = self.next_value;
                self.next_value += 1;
                let f = if self.workload == Workload::Broadcast { F::Broadcast } else { F::Add };
                Invocation { f, value: Value::from(value), final_read: false }
            }
            Workload::PnCounter => {
                if self.mix_next == 1 {
                    self.mix(rng);
                    return Self::read();
                }
                // (- (rand-int 10) 5): the delta is drawn by the sub-generator, then mix redraws its index.
                let delta = rng.random_range(0..10i64) - 5;
                self.mix(rng);
                Invocation { f: F::Add, value: Value::from(delta), final_read: false }
            }
            Workload::GCounter => loop {
                // pn-counter's stream under (gen/filter (not (neg? delta))): a rejected add is discarded and the
                // mix asked again, with the index it redrew on emitting it (spec §6.6, §7.4).
                if self.mix_next == 1 {
                    self.mix(rng);
                    return Self::read();
                }
                let delta = rng.random_range(0..10i64) - 5;
                self.mix(rng);
                if delta >= 0 {
                    return Invocation { f: F::Add, value: Value::from(delta), final_read: false };
                }
            },
            Workload::Echo => {
                let k = rng.random_range(0..128u32);
                Invocation { f: F::Echo, value: Value::from(format!("Please echo {k}")), final_read: false }
            }
            Workload::UniqueIds => Invocation { f: F::Generate, value: Value::Null, final_read: false },
        }
    }

    /// The final read of one thread (spec §7: `:final? true`, except g-set's plain `{:f :read}`).
    fn final_read(&self) -> Invocation {
        Invocation { f: F::Read, value: Value::Null, final_read: self.workload != Workload::GSet }
    }
}

#[derive(Debug)]
enum Phase {
    /// Before the first `next` call.
    Idle,
    /// The time-limited main phase. `sleep_until`: with rate 0 a client thread sleeps `T` (Maelstrom's
    /// `(gen/sleep time-limit)`), so the barrier after main waits for it.
    Main {
        cutoff: Nanos,
        sleep_until: Nanos,
    },
    /// Main is over: waiting until every client thread is idle (and the rate-0 sleep is over).
    Drain {
        sleep_until: Nanos,
    },
    /// Heal issued (or not needed); the log line comes next, the recovery sleep starts at `at`.
    Log {
        at: Nanos,
    },
    /// Sleeping until the final reads.
    Recovery {
        until: Nanos,
    },
    /// Issuing one final read per thread (in `order`), all at `at`, then waiting for them.
    Final {
        at: Nanos,
        order: VecDeque<usize>,
    },
    Done,
}

/// Which of `any`'s two sub-generators offers the soonest op.
#[derive(Debug, Clone, Copy)]
enum Offer {
    Client(Nanos),
    Nemesis(Nanos),
    /// Both at the same time: Jepsen breaks the tie at random.
    Tie(Nanos),
}

impl Scheduler {
    /// A scheduler whose random choices all come from `seed`.
    pub fn new(config: SchedulerConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ops = OpStream::new(config.workload, &mut rng);
        let threads = Threads::new(config.concurrency);
        // Jepsen: (long (secs->nanos (* 2 (/ rate)))) — NaN and non-positive rates give no client ops.
        let clients = (config.rate > 0.0 && config.concurrency > 0)
            .then(|| Stagger { span: (2e9 / config.rate) as Nanos, next: 0 });
        let nemesis = config.nemesis.as_ref().map(NemesisSchedule::new);
        Scheduler { config, rng, threads, ops, clients, nemesis, phase: Phase::Idle, ops_invoked: 0 }
    }

    /// The next action at `now`. Call repeatedly until it returns `Wait` or `Done`.
    ///
    /// `now` must not go backwards between calls. `Wait { until: Some(t) }` always has `t > now` and is the exact
    /// time of the next scheduled action; `Wait { until: None }` means only a completion can unblock.
    pub fn next(&mut self, now: Nanos) -> Action {
        if self.threads.unblocked {
            self.threads.unblocked = false;
            self.threads.free_since = now;
        }
        loop {
            match &mut self.phase {
                Phase::Idle => {
                    let cutoff = now.saturating_add(self.config.time_limit);
                    if let Some(s) = &mut self.clients {
                        s.next = now;
                    }
                    if let Some(n) = &mut self.nemesis {
                        // Maelstrom's partition starts at once; the extensions wait for their first gap.
                        for f in &mut n.flip_flops {
                            f.stagger.next = now;
                            if f.kind != FaultKind::Partition {
                                f.stagger.advance(now, &mut self.rng);
                            }
                        }
                    }
                    let sleep_until = if self.clients.is_none() { cutoff } else { now };
                    self.phase = Phase::Main { cutoff, sleep_until };
                }
                &mut Phase::Main { cutoff, sleep_until } => match self.step_main(now, cutoff) {
                    Some(action) => return action,
                    None => self.phase = Phase::Drain { sleep_until },
                },
                &mut Phase::Drain { sleep_until } => {
                    if !self.threads.all_idle() {
                        return Action::Wait { until: None };
                    }
                    if now < sleep_until {
                        return Action::Wait { until: Some(sleep_until) };
                    }
                    if !self.config.workload.has_final_reads() {
                        self.phase = Phase::Done;
                        continue;
                    }
                    self.phase = Phase::Log { at: now };
                    if self.nemesis.is_some() {
                        // spec §8: one stop-partition before the recovery sleep (and every other fault ends).
                        self.threads.bump_pointer();
                        return Action::Nemesis { at: now, op: NemesisOp::Heal };
                    }
                }
                &mut Phase::Log { at } => {
                    self.phase = Phase::Recovery { until: at.saturating_add(self.config.recovery) };
                    return Action::Log(RECOVERY_LOG);
                }
                &mut Phase::Recovery { until } => {
                    if now < until {
                        return Action::Wait { until: Some(until) };
                    }
                    // each-thread: every thread's read is due at once; ties are broken at random (spec §6.7).
                    let mut order: Vec<usize> = (0..self.threads.count()).collect();
                    order.shuffle(&mut self.rng);
                    self.phase = Phase::Final { at: until, order: order.into() };
                }
                Phase::Final { at, order } => {
                    let at = *at;
                    if let Some(thread) = order.pop_front() {
                        return self.invoke(at, thread, self.ops.final_read());
                    }
                    if !self.threads.all_idle() {
                        return Action::Wait { until: None };
                    }
                    self.phase = Phase::Done;
                }
                Phase::Done => return Action::Done,
            }
        }
    }

    /// Reports that `thread`'s outstanding operation completed with `op_type` (`Info` bumps its process by `C`).
    ///
    /// A report for a thread that has no operation outstanding (or does not exist) is ignored. Call `next` right
    /// after reporting: a client op held back because every thread was busy goes out at that call's `now`.
    pub fn complete(&mut self, thread: usize, op_type: OpType) {
        if !self.threads.busy.get(thread).copied().unwrap_or(false) {
            return;
        }
        self.threads.busy[thread] = false;
        if self.threads.free == 0 {
            self.threads.unblocked = true;
        }
        self.threads.free += 1;
        if op_type == OpType::Info {
            self.threads.process[thread] += self.threads.count() as u64;
        }
    }

    /// Short name of the current phase, for the progress line (`"main"`, `"heal"`, `"recovery"`, `"final"`, `"done"`).
    ///
    /// `"heal"` covers the wait for main's last operations and the heal itself, for workloads with final reads;
    /// echo and unique-ids stay in `"main"` until `"done"`.
    pub fn phase(&self) -> &'static str {
        match self.phase {
            Phase::Idle | Phase::Main { .. } => "main",
            Phase::Drain { .. } if !self.config.workload.has_final_reads() => "main",
            Phase::Drain { .. } | Phase::Log { .. } => "heal",
            Phase::Recovery { .. } => "recovery",
            Phase::Final { .. } => "final",
            Phase::Done => "done",
        }
    }

    /// How far into its timed phase the run is at `now`: `(elapsed, length)` of the main phase (from its first
    /// op, of the time limit) or of the recovery sleep; `None` in the untimed phases. For the progress line.
    pub fn phase_clock(&self, now: Nanos) -> Option<(Nanos, Nanos)> {
        match self.phase {
            Phase::Main { cutoff, .. } => {
                let start = cutoff.saturating_sub(self.config.time_limit);
                Some((now.saturating_sub(start), self.config.time_limit))
            }
            Phase::Recovery { until } => {
                let start = until.saturating_sub(self.config.recovery);
                Some((now.saturating_sub(start), self.config.recovery))
            }
            _ => None,
        }
    }

    /// Client invocations issued so far (final reads included).
    pub fn ops_invoked(&self) -> u64 {
        self.ops_invoked
    }

    /// Client operations outstanding now.
    pub fn in_flight(&self) -> usize {
        self.threads.count() - self.threads.free
    }

    /// The current process of a client thread.
    pub fn process(&self, thread: usize) -> Option<u64> {
        self.threads.process.get(thread).copied()
    }

    /// The main phase's cutoff (first op time + time limit), once the run has started.
    pub fn cutoff(&self) -> Option<Nanos> {
        match self.phase {
            Phase::Main { cutoff, .. } => Some(cutoff),
            _ => None,
        }
    }

    /// The configuration this scheduler runs.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// One step of `time_limit(any(nemesis, clients))`: an action, or `None` when the main phase is over.
    fn step_main(&mut self, now: Nanos, cutoff: Nanos) -> Option<Action> {
        enum Side {
            Exhausted,
            Pending,
            At(Nanos),
        }
        let client = match &self.clients {
            None => Side::Exhausted,
            Some(_) if self.threads.free == 0 => Side::Pending,
            Some(s) => Side::At(s.next.max(self.threads.free_since)),
        };
        let nemesis = self.nemesis.as_ref().and_then(|n| n.next()).map(|(t, _)| t);
        let offer = match (client, nemesis) {
            (Side::At(c), Some(n)) if c == n => Offer::Tie(c),
            (Side::At(c), Some(n)) if n < c => Offer::Nemesis(n),
            (Side::At(c), _) => Offer::Client(c),
            (_, Some(n)) => Offer::Nemesis(n),
            (Side::Pending, None) => return Some(Action::Wait { until: None }),
            (Side::Exhausted, None) => return None,
        };
        let (Offer::Client(t) | Offer::Nemesis(t) | Offer::Tie(t)) = offer;
        if t >= cutoff {
            return None;
        }
        if t > now {
            return Some(Action::Wait { until: Some(t) });
        }
        let client_first = match offer {
            Offer::Client(_) => true,
            Offer::Nemesis(_) => false,
            Offer::Tie(_) => self.rng.random_bool(0.5),
        };
        Some(if client_first { self.emit_client(t) } else { self.emit_nemesis(t) })
    }

    fn emit_client(&mut self, at: Nanos) -> Action {
        let thread = if self.config.workload == Workload::Echo {
            self.threads.random(&mut self.rng)
        } else {
            self.threads.rotating()
        };
        let Some(thread) = thread else {
            // step_main only offers a client op when a thread is free.
            return Action::Wait { until: None };
        };
        let op = self.ops.next(&mut self.rng);
        if let Some(s) = &mut self.clients {
            s.advance(at, &mut self.rng);
        }
        self.invoke(at, thread, op)
    }

    fn emit_nemesis(&mut self, at: Nanos) -> Action {
        let Some(n) = &mut self.nemesis else {
            return Action::Wait { until: None };
        };
        let Some(op) = n.emit(at, &self.config.nodes, &mut self.rng) else {
            return Action::Wait { until: None };
        };
        self.threads.bump_pointer();
        Action::Nemesis { at, op }
    }

    fn invoke(&mut self, at: Nanos, thread: usize, op: Invocation) -> Action {
        self.threads.occupy(thread);
        self.ops_invoked += 1;
        Action::Invoke { at, thread, process: self.threads.process[thread], op }
    }
}

mod faults;
#[cfg(test)]
mod tests;
