//! The virtual-time shell: runs the [`Cluster`] core with the nodes in process and a clock that jumps from one
//! event to the next, so a 20 s run takes as long as its work, not 20 s.
//!
//! A node is anything that takes lines and time and gives lines ([`SimNode`]: exactly the shape of a sans-IO
//! Maelstrom node such as `osmosis_node::handler::Node`); a [`SimFactory`] makes one from the arguments the node
//! binary would get. The core, the generator, the network, the nemesis, the checkers and the store files are the
//! same as with processes; only the shell differs:
//!
//! - time: the next instant is the earliest of the core's next wake-up and the nodes' next deadlines; at each
//!   instant the core does what is due, then every node whose deadline has come ticks. A node's `now` counts from
//!   its own start (a restarted node starts again from zero), as a process's clock would.
//! - a node handles each line the moment it is delivered, and what it prints is handed to the core at that same
//!   instant: nodes take no time to think (process mode adds their real processing time and the OS's wake-ups).
//! - faults: a killed node is dropped, a restarted one is a new instance; a paused node neither receives nor ticks
//!   (a line delivered to it is held until it resumes).
//!
//! Runs are deterministic: the same configuration and seed give the same history, byte for byte.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::core::{Cluster, Effect, Finished};
use super::store::Journal;
use super::wire::NodeLine;
use crate::cli::TestConfig;
use crate::history::Nanos;

/// A Maelstrom node that runs in process: lines in, lines out, time passed in. Implementors must be deterministic
/// functions of their inputs (and of the seed in their arguments), and must not read a clock.
pub trait SimNode: Send {
    /// Handles one line (a JSON message, without newline) read at `now` (time since the node started).
    fn handle_line(&mut self, now: Duration, line: &str);
    /// Lets the node do what its timers want; called once [`SimNode::next_deadline`] has passed.
    fn on_tick(&mut self, now: Duration);
    /// When the node wants [`SimNode::on_tick`] next, if ever (time since the node started).
    fn next_deadline(&self) -> Option<Duration>;
    /// The lines printed since the last call, in order (JSON messages without newline).
    fn take_output(&mut self) -> Vec<String>;
    /// How the node ended, if it exited on its own (a crash, spec §2 step 7). Most nodes never do.
    fn exited(&self) -> Option<String> {
        None
    }
}

/// Makes in-process nodes: the in-process stand-in for a node binary.
pub trait SimFactory: Send + Sync {
    /// The file name of the binary it stands for (`--sim --bin …/NAME` picks it), e.g. `osmosis`.
    fn name(&self) -> &str;
    /// A fresh node, as the binary would start with these arguments (after the program name), at virtual time
    /// `started` (nanoseconds since the run began: 0 for the first instances, the restart's time for a killed
    /// node's next one). A node that takes something from its process's start (an incarnation number, read from
    /// the wall clock by a binary) derives it from `started`, so that a run repeats exactly. An error is what the
    /// binary would refuse.
    fn spawn(&self, args: &[String], started: Nanos) -> Result<Box<dyn SimNode>, String>;
}

/// The in-process nodes a binary of the harness knows, looked up by the file name of `--bin`.
#[derive(Clone, Default)]
pub struct SimNodes(Vec<Arc<dyn SimFactory>>);

impl SimNodes {
    /// The nodes built into the harness: the reference node (`osmosis-reference-node`).
    pub fn builtin() -> SimNodes {
        SimNodes(vec![Arc::new(crate::reference::InProcessFactory)])
    }

    /// Adds a node (a later one with the same name wins).
    pub fn with(mut self, factory: Arc<dyn SimFactory>) -> SimNodes {
        self.0.insert(0, factory);
        self
    }

    /// The node standing for the binary named `name`.
    pub fn find(&self, name: &str) -> Option<Arc<dyn SimFactory>> {
        self.0.iter().find(|f| f.name() == name).cloned()
    }

    /// The names known, comma-separated.
    pub fn names(&self) -> String {
        self.0.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Debug for SimNodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|n| n.name())).finish()
    }
}

/// The in-process node a virtual-time run uses (a [`SimFactory`] shared by the run's configurations).
#[derive(Clone)]
pub struct SimBin(pub Arc<dyn SimFactory>);

impl fmt::Debug for SimBin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimBin({})", self.0.name())
    }
}

/// One node of the virtual cluster.
struct Slot {
    node: Option<Box<dyn SimNode>>,
    /// When this instance started (its clock's zero).
    started: Nanos,
    paused: bool,
    /// Lines delivered while paused, handed over at the resume.
    held: Vec<String>,
    /// The node's next deadline (absolute), as last pushed into the timer heap.
    deadline: Option<Nanos>,
}

/// Runs the test with in-process nodes in virtual time; the core's records.
pub(super) fn run(cfg: &TestConfig, factory: &dyn SimFactory, journal: Option<Journal>) -> Finished {
    let mut core = Cluster::new(cfg, journal);
    let mut shell = Shell { slots: Vec::new(), timers: BinaryHeap::new(), factory, args: &cfg.bin_args, now: 0 };
    for node in 0..cfg.nodes.len() {
        match factory.spawn(&cfg.bin_args, 0) {
            Ok(n) => {
                let slot = Slot { node: Some(n), started: 0, paused: false, held: Vec::new(), deadline: None };
                shell.slots.push(slot);
            }
            Err(e) => {
                core.crash_with(Some(node), format!("could not start node {} (in process): {e}", cfg.nodes[node]));
                return core.finish();
            }
        }
    }
    core.start(0);
    shell.event_loop(&mut core);
    core.finish()
}

struct Shell<'a> {
    slots: Vec<Slot>,
    /// Node deadlines `(when, node)`; an entry is stale unless it equals the node's `deadline`.
    timers: BinaryHeap<Reverse<(Nanos, usize)>>,
    factory: &'a dyn SimFactory,
    args: &'a [String],
    now: Nanos,
}

impl Shell<'_> {
    fn event_loop(&mut self, core: &mut Cluster<'_>) {
        self.perform(core);
        while !core.is_over() {
            let Some(next) = [core.next_wake(), self.next_timer()].into_iter().flatten().min() else {
                core.crash_with(None, "virtual time: nothing is left to happen, yet the run is not over".into());
                return;
            };
            self.now = self.now.max(next);
            core.on_timeout(self.now);
            self.perform(core);
            self.tick_due(core);
        }
    }

    /// The earliest live node deadline (stale heap entries are dropped on the way).
    fn next_timer(&mut self) -> Option<Nanos> {
        while let Some(&Reverse((at, node))) = self.timers.peek() {
            let slot = &self.slots[node];
            if slot.deadline == Some(at) && slot.node.is_some() && !slot.paused {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// Ticks every node whose deadline has come.
    fn tick_due(&mut self, core: &mut Cluster<'_>) {
        while let Some(at) = self.next_timer().filter(|&at| at <= self.now) {
            let Some(Reverse((_, node))) = self.timers.pop() else { break };
            self.slots[node].deadline = None;
            let rel = self.rel(node);
            if let Some(n) = self.slots[node].node.as_mut() {
                n.on_tick(rel);
            }
            debug_assert!(at <= self.now);
            self.after(core, node);
            self.perform(core);
        }
    }

    /// The node's own clock at the current instant.
    fn rel(&self, node: usize) -> Duration {
        Duration::from_nanos(self.now.saturating_sub(self.slots[node].started))
    }

    /// Carries out the core's effects until there are none (a node's output can lead to more at once).
    fn perform(&mut self, core: &mut Cluster<'_>) {
        while let Some(effect) = core.pop_effect() {
            match effect {
                Effect::Deliver { node, line, .. } => {
                    let slot = &mut self.slots[node];
                    if slot.paused {
                        slot.held.push(line);
                        continue;
                    }
                    let rel = self.rel(node);
                    let Some(n) = self.slots[node].node.as_mut() else { continue };
                    n.handle_line(rel, &line);
                    self.after(core, node);
                }
                Effect::StopReading { .. } => {}
                Effect::Kill { node } => {
                    let slot = &mut self.slots[node];
                    (slot.node, slot.deadline, slot.paused) = (None, None, false);
                    slot.held.clear();
                }
                Effect::Restart { node } => match self.factory.spawn(self.args, self.now) {
                    Ok(n) => {
                        let slot = &mut self.slots[node];
                        (slot.node, slot.started, slot.deadline) = (Some(n), self.now, None);
                    }
                    Err(e) => core.crash_with(Some(node), format!("could not restart node {node}: {e}")),
                },
                Effect::Pause { node } => self.slots[node].paused = true,
                Effect::Resume { node } => {
                    self.slots[node].paused = false;
                    let rel = self.rel(node);
                    for line in std::mem::take(&mut self.slots[node].held) {
                        if let Some(n) = self.slots[node].node.as_mut() {
                            n.handle_line(rel, &line);
                        }
                    }
                    // Its timer may have passed while it was stopped: it fires now.
                    self.slots[node].deadline = None;
                    self.after(core, node);
                }
                Effect::Log { warn: true, text } => tracing::warn!("{text}"),
                Effect::Log { warn: false, text } => tracing::info!("{text}"),
            }
        }
    }

    /// After the node ran: hand its output to the core, note whether it exited, re-arm its timer.
    fn after(&mut self, core: &mut Cluster<'_>, node: usize) {
        let now = self.now;
        let slot = &mut self.slots[node];
        let Some(n) = slot.node.as_mut() else { return };
        for line in n.take_output() {
            core.on_node_line(now, node, NodeLine::parse(line.as_bytes()));
        }
        if let Some(status) = n.exited() {
            core.on_node_exit(node, &status);
            slot.node = None;
            return;
        }
        let deadline = n.next_deadline().map(|d| slot.started.saturating_add(d.as_nanos() as Nanos).max(now));
        if deadline != slot.deadline {
            slot.deadline = deadline;
            if let Some(at) = deadline {
                self.timers.push(Reverse((at, node)));
            }
        }
    }
}
