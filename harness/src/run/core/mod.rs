//! The cluster core: every rule of a run (spec §2–§8), sans-IO. It owns the simulated network, the participants,
//! the clients' RPCs, the scheduler, the faults, the history and the journal, and it never reads a clock, spawns a
//! process or touches a pipe: a shell passes the time in and carries out the [`Effect`]s it asks for.
//!
//! Inputs: [`Cluster::start`] (send `init` to every node), [`Cluster::on_timeout`] (the time has come: deliver
//! what is due, expire RPCs, run the scheduler), [`Cluster::on_node_line`] (a node printed a line) and
//! [`Cluster::on_node_exit`] (a node process ended on its own). Outputs: [`Cluster::pop_effect`] (write a line to
//! a node, kill, restart, pause or resume it, log), [`Cluster::next_wake`] (when to call `on_timeout` next, if
//! nothing else happens first) and, at the end, [`Cluster::finish`].
//!
//! The real-time shell runs it with node processes and the wall clock. Times are nanoseconds on the shell's clock; the history counts from the origin set when every node has
//! answered `init` (spec §2 step 4).
//!
//! Stages: `init` (one fresh client per node sends `init`, 10 s to answer, spec §3.3), `setup` (one setup client
//! per node; broadcast sends `topology`, 5 s to answer, spec §3.6), `main` (the scheduler, spec §6), `done`. A
//! crash (a node exits, or fails `init` or `topology`) ends the run without analysis (spec §2 step 7).

mod clients;
mod faults;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};

use super::store::{EventKind, Journal};
use super::wire::{NodeLine, delivery_line};
use crate::cli::TestConfig;
use crate::diagnostic::{Diagnostic, clip};
use crate::generator::{Action, NemesisConfig, Scheduler, SchedulerConfig};
use crate::history::{History, Nanos};
use crate::net::{Addr, Delivery, MessageFaults, NetStats, Network};
use crate::rpc::{INIT_TIMEOUT_MS, RPC_TIMEOUT_MS};
use crate::service::{SERVICE_NAMES, Service};
use crate::topology;
use crate::workload::Workload;
use clients::{ClientState, Purpose, ThreadState};
use faults::FaultState;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// What the core asks its shell to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Hand this line (without newline) to the node: write it to its stdin, or to the in-process node.
    Deliver {
        /// node index, in test order
        node: usize,
        /// the line
        line: String,
        /// the message's deadline, for server messages (the shell measures its delivery lag)
        deadline: Option<Nanos>,
    },
    /// Stop reading the node's output (spec §3.1): its later lines are ignored anyway.
    StopReading {
        /// node index
        node: usize,
    },
    /// Kill the node (SIGKILL; an in-process node is dropped).
    Kill {
        /// node index
        node: usize,
    },
    /// Start the node again with an empty state (a new process, a new in-process node). The core then sends it
    /// `init` like at setup.
    Restart {
        /// node index
        node: usize,
    },
    /// Stop the node (SIGSTOP; an in-process node neither receives nor ticks).
    Pause {
        /// node index
        node: usize,
    },
    /// Let a paused node run again (SIGCONT).
    Resume {
        /// node index
        node: usize,
    },
    /// A line for the harness log (`warn`: a diagnostic).
    Log {
        /// a warning rather than information
        warn: bool,
        /// the text
        text: String,
    },
}

/// Why the run crashed (spec §2 step 7): no analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash {
    /// The node at fault, if one is (the shell adds its last stderr lines).
    pub node: Option<usize>,
    /// What happened.
    pub message: String,
}

/// Completions so far, for the progress line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// `:ok`
    pub ok: u64,
    /// `:fail`
    pub fail: u64,
    /// `:info`
    pub info: u64,
}

/// Where the run is, for the progress line.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// `init`, `setup`, `main`, `heal`, `recovery`, `final`, `done`
    pub phase: &'static str,
    /// seconds into the phase and its length, for the timed phases (main, recovery)
    pub clock: Option<(f64, f64)>,
    /// completions so far
    pub counts: Counts,
}

/// What the core recorded, once the run is over.
#[derive(Debug)]
pub struct Finished {
    /// The history.
    pub history: History,
    /// What nodes did wrong.
    pub diagnostics: Vec<Diagnostic>,
    /// `:net` counts.
    pub net: NetStats,
    /// The crash, if the run crashed.
    pub crash: Option<Crash>,
    /// Messages sent in each second since the origin.
    pub sends_per_sec: Vec<u64>,
    /// The journal, to be flushed.
    pub journal: Option<Journal>,
    /// Messages lost and duplicated by the message faults: `(lost, duplicated)`.
    pub message_faults: (u64, u64),
}

/// One address's entry in the network's participant table.
#[derive(Debug)]
struct Participant {
    /// Its name as a JSON string literal, escaped once.
    json_name: String,
    role: Role,
}

/// What lives at an address.
#[derive(Debug)]
enum Role {
    /// A server node (index in test order).
    Node(usize),
    /// A built-in service.
    Service(&'static str, Service),
    /// A client and its RPC state.
    Client(ClientState),
}

/// Whether a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeStatus {
    /// Running.
    Up,
    /// Stopped by the nemesis: takes nothing off its queue, does nothing.
    Paused,
    /// Killed by the nemesis, not yet restarted.
    Down,
}

/// A server node.
#[derive(Debug)]
struct NodeSlot {
    name: String,
    addr: Addr,
    status: NodeStatus,
    /// Its stdout is ignored from here on (spec §3.1).
    ignored: bool,
    /// Restarted, and its `init` (or `topology`) not yet answered.
    starting: bool,
    /// Paused at some point: it may answer clients that gave up while it was stopped.
    was_paused: bool,
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before [`Cluster::start`].
    Idle,
    /// Waiting for `init_ok` from this many nodes.
    Init { left: usize },
    /// Waiting for `topology_ok` from this many nodes.
    Setup { left: usize },
    /// The scheduler runs.
    Main,
    /// Every phase is over.
    Done,
}

/// The cluster core (see the module docs).
#[derive(Debug)]
pub struct Cluster<'c> {
    cfg: &'c TestConfig,
    net: Network<Arc<str>, Participant>,
    nodes: Vec<NodeSlot>,
    client_counter: u64,
    threads: Vec<ThreadState>,
    /// RPC deadlines: `(when, client, msg_id)`.
    timeouts: BinaryHeap<Reverse<(Nanos, Addr, u64)>>,
    stage: Stage,
    sched: Scheduler,
    /// When the scheduler wants to be asked again (absolute), if it said.
    sched_wake: Option<Nanos>,
    origin: Nanos,
    history: History,
    diagnostics: Vec<Diagnostic>,
    journal: Option<Journal>,
    effects: VecDeque<Effect>,
    crash: Option<Crash>,
    counts: Counts,
    sends_per_sec: Vec<u64>,
    faults: FaultState,
}

/// Derives independent seeds for the run's random streams (splitmix64).
pub fn sub_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An address's name as a JSON string literal: escaped once when it was registered, or now for an address no
/// longer registered (a closed client's message still in flight).
fn json_name(net: &Network<Arc<str>, Participant>, addr: Addr) -> Cow<'_, str> {
    match net.role(addr) {
        Some(p) => Cow::Borrowed(p.json_name.as_str()),
        None => Cow::Owned(json_string(net.name(addr))),
    }
}

fn json_string(name: &str) -> String {
    serde_json::to_string(name).unwrap_or_else(|_| "null".to_owned())
}

impl<'c> Cluster<'c> {
    /// A cluster for `cfg`, with every node and service registered; `journal` receives every send and delivery.
    pub fn new(cfg: &'c TestConfig, journal: Option<Journal>) -> Self {
        let mut net = Network::new(cfg.latency, sub_seed(cfg.seed, 1));
        net.set_message_faults(MessageFaults { loss: cfg.faults.loss, duplicate: cfg.faults.duplicate });
        let mut nodes = Vec::with_capacity(cfg.nodes.len());
        for (i, name) in cfg.nodes.iter().enumerate() {
            let addr = net.register(name, Participant { json_name: json_string(name), role: Role::Node(i) });
            let status = NodeStatus::Up;
            nodes.push(NodeSlot {
                name: name.clone(),
                addr,
                status,
                ignored: false,
                starting: false,
                was_paused: false,
            });
        }
        for name in SERVICE_NAMES {
            let role = Role::Service(name, Service::default());
            net.register(name, Participant { json_name: json_string(name), role });
        }
        let config = SchedulerConfig {
            workload: cfg.workload,
            nodes: cfg.nodes.clone(),
            concurrency: cfg.concurrency,
            rate: cfg.rate,
            time_limit: cfg.time_limit_s * SEC,
            nemesis: (!cfg.faults.is_empty()).then(|| NemesisConfig {
                interval: (cfg.faults.interval_s * SEC as f64) as Nanos,
                kinds: cfg.faults.kinds.clone(),
                targeted: cfg.faults.targeted.clone(),
            }),
            recovery: (cfg.recovery_s * SEC as f64) as Nanos,
        };
        Cluster {
            cfg,
            net,
            nodes,
            client_counter: 0,
            threads: vec![ThreadState::default(); cfg.concurrency],
            timeouts: BinaryHeap::new(),
            stage: Stage::Idle,
            sched: Scheduler::new(config, sub_seed(cfg.seed, 2)),
            sched_wake: None,
            origin: 0,
            history: History::default(),
            diagnostics: Vec::new(),
            journal,
            effects: VecDeque::new(),
            crash: None,
            counts: Counts::default(),
            sends_per_sec: Vec::new(),
            faults: FaultState::default(),
        }
    }

    /// Starts the run at `now`: every node gets `init` from a fresh client (spec §3.3), all at once.
    pub fn start(&mut self, now: Nanos) {
        if self.stage != Stage::Idle {
            return;
        }
        self.stage = Stage::Init { left: self.nodes.len() };
        for node in 0..self.nodes.len() {
            self.send_init(now, node, true);
        }
    }

    /// Does everything due by `now`: deliveries, RPC timeouts, scheduled operations, and what they lead to at the
    /// same instant (a client message has no latency).
    pub fn on_timeout(&mut self, now: Nanos) {
        for _ in 0..1_000_000 {
            if self.is_over() {
                return;
            }
            let mut busy = false;
            while let Some(d) = self.net.poll(now) {
                self.on_delivery(d, now);
                busy = true;
            }
            busy |= self.expire(now);
            busy |= self.pump(now);
            if !busy {
                return;
            }
        }
    }

    /// A node printed `line` at `now`. A message goes into the network; a bad line (or a message the network
    /// refuses) makes the core ignore the rest of that node's output, as Maelstrom does (spec §3.1, §14).
    pub fn on_node_line(&mut self, now: Nanos, node: usize, line: NodeLine) {
        let Some(slot) = self.nodes.get(node) else { return };
        if slot.ignored || slot.status == NodeStatus::Down {
            return;
        }
        match line {
            NodeLine::Msg { src, dest, body } => {
                let (s, t) = (self.net.addr(&src), self.net.addr(&dest));
                let problem = match (s, t) {
                    (Some(s), Some(t)) => {
                        self.send(now, s, t, body);
                        return;
                    }
                    (None, _) => format!("invalid source {src:?}: not a node, service or open client"),
                    // A node that was paused answers clients that gave up while it was stopped: the fault's doing,
                    // not the node's, so the reply is lost (as on a real network) rather than fatal.
                    (_, None) if dest.starts_with('c') && self.nodes[node].was_paused => return,
                    (_, None) if dest.starts_with('c') => format!(
                        "invalid dest {dest:?}: that client is closed (it timed out and moved on, or was an init \
                         client), so this is a late reply"
                    ),
                    (_, None) => format!("invalid dest {dest:?}: not a node, service or open client"),
                };
                let line = clip(&format!(r#"{{"src":{src:?},"dest":{dest:?},"body":…}}"#), 200);
                self.stop_reading(node, Some(line), problem);
            }
            NodeLine::Bad { line, reason } => self.stop_reading(node, Some(line), reason),
        }
    }

    /// A node's process ended without being killed by the nemesis: a crash (spec §2 step 7), reported at once.
    pub fn on_node_exit(&mut self, node: usize, status: &str) {
        if let Some(name) = self.nodes.get(node).map(|n| n.name.clone()) {
            self.crash_with(Some(node), format!("Node {name} crashed with {status}"));
        }
    }

    /// Records a diagnostic; the same node doing the same thing again only bumps its count.
    pub fn diagnose(&mut self, d: Diagnostic) {
        const MAX: usize = 100;
        if let Some(seen) = self.diagnostics.iter_mut().find(|s| s.node == d.node && s.reason == d.reason) {
            seen.count += 1;
        } else if self.diagnostics.len() < MAX {
            self.effects.push_back(Effect::Log { warn: true, text: d.to_string() });
            self.diagnostics.push(d);
        } else if self.diagnostics.len() == MAX {
            let reason = format!("more than {MAX} different diagnostics; the rest are not recorded");
            self.diagnostics.push(Diagnostic::new("harness", None, reason));
        }
    }

    /// The next thing the shell should hand over, if any.
    pub fn pop_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// When [`Cluster::on_timeout`] has work next, if nothing else happens first.
    pub fn next_wake(&self) -> Option<Nanos> {
        let timeout = self.timeouts.peek().map(|r| r.0.0);
        [self.net.next_deadline(), timeout, self.sched_wake].into_iter().flatten().min()
    }

    /// Is the run over (every phase done, or crashed)?
    pub fn is_over(&self) -> bool {
        self.stage == Stage::Done || self.crash.is_some()
    }

    /// The crash, if the run crashed.
    pub fn crash(&self) -> Option<&Crash> {
        self.crash.as_ref()
    }

    /// Crashes the run (the shell found a problem, e.g. a node that could not be restarted).
    pub fn crash_with(&mut self, node: Option<usize>, message: String) {
        if self.crash.is_none() {
            self.crash = Some(Crash { node, message });
        }
    }

    /// Is this node paused by the nemesis (so it is not expected to read or answer)?
    pub fn is_paused(&self, node: usize) -> bool {
        self.nodes.get(node).is_some_and(|n| n.status == NodeStatus::Paused)
    }

    /// The name of a node.
    pub fn node_name(&self, node: usize) -> &str {
        self.nodes.get(node).map_or("?", |n| n.name.as_str())
    }

    /// The history origin on the shell's clock (0 until every node answered `init`).
    pub fn origin(&self) -> Nanos {
        self.origin
    }

    /// Where the run is at `now`.
    pub fn progress(&self, now: Nanos) -> Progress {
        let phase = match self.stage {
            Stage::Idle | Stage::Init { .. } => "init",
            Stage::Setup { .. } => "setup",
            Stage::Main => self.sched.phase(),
            Stage::Done => "done",
        };
        let secs = |ns: Nanos| ns as f64 / SEC as f64;
        let clock = match self.stage {
            Stage::Main => {
                self.sched.phase_clock(now.saturating_sub(self.origin)).map(|(at, len)| (secs(at), secs(len)))
            }
            _ => None,
        };
        Progress { phase, clock, counts: self.counts }
    }

    /// Ends the run and hands over what it recorded.
    pub fn finish(self) -> Finished {
        Finished {
            net: *self.net.stats(),
            message_faults: self.net.fault_counts(),
            history: self.history,
            diagnostics: self.diagnostics,
            crash: self.crash,
            sends_per_sec: self.sends_per_sec,
            journal: self.journal,
        }
    }

    /// Runs the scheduler at `now` until it waits; `true` if it did anything.
    fn pump(&mut self, now: Nanos) -> bool {
        if self.stage != Stage::Main {
            return false;
        }
        let rel = now.saturating_sub(self.origin);
        let mut did = false;
        loop {
            match self.sched.next(rel) {
                Action::Invoke { at, thread, process, op } => self.invoke(now, at, thread, process, op),
                Action::Nemesis { at, op } => self.nemesis(now, at, op),
                Action::Log(msg) => self.effects.push_back(Effect::Log { warn: false, text: msg.to_owned() }),
                Action::Wait { until } => {
                    self.sched_wake = until.map(|u| u + self.origin);
                    return did;
                }
                Action::Done => {
                    self.sched_wake = None;
                    self.stage = Stage::Done;
                    return true;
                }
            }
            did = true;
        }
    }

    /// `init` went through on every node: the origin is now; spec §2 step 5: every workload opens one setup
    /// client per node (so workers start at `c(2N)`); only broadcast's setup sends anything, the same topology map
    /// to every node (spec §3.6). The setup clients stay open until the end.
    fn on_init_done(&mut self, now: Nanos) {
        self.origin = now;
        let clients: Vec<Addr> = (0..self.nodes.len()).map(|_| self.open_client()).collect();
        if self.cfg.workload != Workload::Broadcast {
            self.stage = Stage::Main;
            return;
        }
        self.stage = Stage::Setup { left: self.nodes.len() };
        for (node, client) in clients.into_iter().enumerate() {
            self.send_topology(now, node, client, true);
        }
    }

    fn send_init(&mut self, now: Nanos, node: usize, initial: bool) {
        let node_ids: Vec<Value> = self.cfg.nodes.iter().map(|n| json!(n)).collect();
        let client = self.open_client();
        let body = json!({"type": "init", "node_id": self.nodes[node].name, "node_ids": node_ids});
        let dest = self.nodes[node].addr;
        self.request(now, client, dest, body, Purpose::Init { node, initial }, INIT_TIMEOUT_MS);
    }

    fn send_topology(&mut self, now: Nanos, node: usize, client: Addr, initial: bool) {
        let topology = topology::build(self.cfg.topology, &self.cfg.nodes);
        let body = json!({"type": "topology", "topology": topology});
        let dest = self.nodes[node].addr;
        self.request(now, client, dest, body, Purpose::Topology { node, initial }, RPC_TIMEOUT_MS);
    }

    /// Hands a message to the network and journals it. A message to an address that is no longer registered (a
    /// service answering a client that has since been closed) is dropped, as Maelstrom's network refuses it.
    fn send(&mut self, now: Nanos, src: Addr, dest: Addr, body: Arc<str>) {
        let Ok(id) = self.net.send(now, src, dest, body.clone()) else {
            tracing::debug!("dropped a message from {} to {}: not registered", self.net.name(src), self.net.name(dest));
            return;
        };
        let (s, d) = (json_name(&self.net, src), json_name(&self.net, dest));
        if let Some(j) = self.journal.as_mut() {
            j.record(EventKind::Send, now, id, &s, &d, Some(&body));
        }
        if self.cfg.log_net_send {
            let text = format!("send {id} {s} -> {d} {body}");
            self.effects.push_back(Effect::Log { warn: false, text });
        }
        let sec = (now.saturating_sub(self.origin) / SEC) as usize;
        if self.sends_per_sec.len() <= sec {
            self.sends_per_sec.resize(sec + 1, 0);
        }
        self.sends_per_sec[sec] += 1;
    }

    /// A message reached its receiver: a node gets the line, a service answers, a client matches its RPC.
    fn on_delivery(&mut self, d: Delivery<Arc<str>>, now: Nanos) {
        let (s, t) = (json_name(&self.net, d.src), json_name(&self.net, d.dest));
        if let Some(j) = self.journal.as_mut() {
            j.record(EventKind::Recv, now, d.id, &s, &t, None);
        }
        if self.cfg.log_net_recv {
            let text = format!("recv {} {s} -> {t} {}", d.id, d.payload);
            self.effects.push_back(Effect::Log { warn: false, text });
        }
        let Some(role) = self.net.role_mut(d.dest).map(|p| &mut p.role) else { return };
        match role {
            Role::Node(node) => {
                let node = *node;
                let (src, dest) = (json_name(&self.net, d.src), json_name(&self.net, d.dest));
                let line = delivery_line(d.id, &src, &dest, &d.payload);
                let deadline = (!self.net.is_client(d.src)).then_some(d.deadline);
                self.effects.push_back(Effect::Deliver { node, line, deadline });
            }
            Role::Service(name, service) => {
                let Ok(request) = serde_json::from_str::<Value>(&d.payload) else { return };
                if let Some(reply) = service.handle(name, &request) {
                    self.send(now, d.dest, d.src, Arc::from(reply.to_string()));
                }
            }
            Role::Client(_) => self.on_client_message(d.dest, d.src, &d.payload, now),
        }
    }

    /// spec §3.1 and §14 decision 1: ignore the rest of the node's stdout, and say why, once.
    fn stop_reading(&mut self, node: usize, line: Option<String>, reason: String) {
        let slot = &mut self.nodes[node];
        slot.ignored = true;
        let reason = format!("{reason}; as Maelstrom does, the rest of this node's stdout is ignored");
        let d = Diagnostic::new(slot.name.clone(), line, reason);
        self.effects.push_back(Effect::StopReading { node });
        self.diagnose(d);
    }
}
