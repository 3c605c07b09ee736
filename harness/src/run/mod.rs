//! The driver: runs one test the way Maelstrom does (spec §2) with real processes in real time.
//!
//! One event loop on the calling thread owns every decision: the simulated [`Network`], the [`Scheduler`], the
//! clients' outstanding RPCs, the history and the journal. It also writes delivered messages into each node's
//! stdin itself, through a non-blocking pipe ([`process::StdinPipe`]). Tokio tasks (see [`process`]) only parse
//! node stdout lines into [`Event`]s, log stderr and watch for exits. The loop sleeps with `recv_timeout` until
//! the next event, message deadline, RPC timeout or scheduled operation, so a delivery is late by the OS's wake-up
//! delay rather than by a timer wheel's tick (the lag is measured and reported under `:harness` in the results).

mod lag;
pub mod process;
mod progress;
pub mod store;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::cli::TestConfig;
use crate::diagnostic::{Diagnostic, clip};
use crate::generator::{Action, Invocation, NemesisOp, Scheduler, SchedulerConfig};
use crate::history::{F, History, Nanos, Op, OpType, Process};
use crate::net::{Addr, Delivery, Network};
use crate::rpc::{self, INIT_TIMEOUT_MS, RPC_TIMEOUT_MS};
use crate::service::{SERVICE_NAMES, Service};
use crate::topology;
use crate::workload::Workload;
use lag::LagHistogram;
use process::{Event, NodeProcess, Spawn};
use store::{EventKind, Journal};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// Why a run could not be analysed: Maelstrom's "crash" outcome (exit 255).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A node crashed, failed init or topology, or could not be started.
    #[error("{0}")]
    Crash(String),
    /// The harness could not write its store.
    #[error("store: {0}")]
    Io(#[from] std::io::Error),
}

/// Everything the driver recorded, ready for the checkers.
#[derive(Debug)]
pub struct Recording {
    /// The run directory in the store.
    pub dir: PathBuf,
    /// The history.
    pub history: History,
    /// `:net` counts.
    pub net: crate::net::NetStats,
    /// What nodes did wrong.
    pub diagnostics: Vec<Diagnostic>,
    /// Measurements of the harness itself.
    pub harness: HarnessStats,
}

/// How well the harness kept up: the figures behind "the harness must never be what limits a run".
#[derive(Debug, Clone, Default)]
pub struct HarnessStats {
    /// Delivery lag of server messages: µs from the deadline until the message was written into the node's stdin
    /// pipe, at quantiles 0.5, 0.99 and 1 (10 µs resolution below 2 ms).
    pub delivery_lag_us: Option<[u64; 3]>,
    /// Server-bound deliveries measured.
    pub deliveries: u64,
    /// The most messages sent in any one second of the run.
    pub peak_msgs_per_sec: u64,
    /// Wall-clock seconds from spawning the nodes until the history and journal are written.
    pub wall_s: f64,
    /// CPU seconds the harness process itself used (all its threads; not the nodes).
    pub cpu_s: f64,
}

/// CPU time used so far by this process, all threads.
fn process_cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// Runs the test and returns what it recorded. The caller scores it.
pub fn run(cfg: &TestConfig) -> Result<Recording, RunError> {
    let cpu_start = process_cpu_seconds();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let dir = store::create_run_dir(&cfg.store, cfg.workload.name())?;
    info!(
        "{} on {} nodes ({}), seed {}, store {}",
        cfg.workload,
        cfg.nodes.len(),
        cfg.bin.display(),
        cfg.seed,
        dir.display()
    );
    let mut d = Driver::new(cfg, &rt, dir)?;
    let outcome = d.execute();
    d.teardown(&rt);
    let crash = match outcome {
        Err(c) => Some(c),
        Ok(()) => d.crash.take(),
    };
    d.write_records()?;
    if let Some(c) = crash {
        return Err(RunError::Crash(c));
    }
    let mut harness = HarnessStats {
        wall_s: d.t0.elapsed().as_secs_f64(),
        cpu_s: process_cpu_seconds() - cpu_start,
        ..HarnessStats::default()
    };
    let lags = &d.lags;
    harness.deliveries = lags.count();
    if let (Some(a), Some(b), Some(c)) = (lags.quantile(0.5), lags.quantile(0.99), lags.quantile(1.0)) {
        harness.delivery_lag_us = Some([a, b, c]);
    }
    harness.peak_msgs_per_sec = d.sends_per_sec.iter().copied().max().unwrap_or(0);
    Ok(Recording {
        net: *d.net.stats(),
        history: std::mem::take(&mut d.history),
        diagnostics: std::mem::take(&mut d.diagnostics),
        harness,
        dir: d.dir.clone(),
    })
}

/// Derives independent seeds for the run's random streams (splitmix64).
fn sub_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Node(usize),
    Service(usize),
    Client,
}

#[derive(Debug)]
enum Purpose {
    Init(usize),
    Topology(usize),
    Op { thread: usize, node: usize, process: u64, op: Invocation },
}

#[derive(Debug)]
struct Pending {
    msg_id: u64,
    purpose: Purpose,
}

#[derive(Debug, Default)]
struct ClientState {
    next_msg_id: u64,
    pending: Option<Pending>,
}

#[derive(Debug, Default, Clone, Copy)]
struct ThreadState {
    client: Option<Addr>,
    process: u64,
}

#[derive(Debug, Default)]
struct Peer {
    target: Option<Target>,
    json_name: String,
}

#[derive(Debug, Default)]
struct Outbox {
    bytes: Vec<u8>,
    deadlines: Vec<u64>,
}

struct NodeSlot {
    name: String,
    addr: Addr,
    proc: NodeProcess,
    ignored: bool,
}

struct Driver<'c> {
    cfg: &'c TestConfig,
    t0: Instant,
    origin: Nanos,
    dir: PathBuf,
    net: Network<Box<RawValue>>,
    /// What each address is, indexed by `Addr.0`.
    peers: Vec<Peer>,
    nodes: Vec<NodeSlot>,
    services: Vec<(Addr, &'static str, Service)>,
    clients: HashMap<Addr, ClientState>,
    client_counter: u64,
    threads: Vec<ThreadState>,
    timeouts: BinaryHeap<Reverse<(Nanos, Addr, u64)>>,
    setup_left: usize,
    sched: Option<Scheduler>,
    history: History,
    diagnostics: Vec<Diagnostic>,
    journal: Journal,
    events: Receiver<Vec<Event>>,
    _events_tx: Sender<Vec<Event>>,
    crash: Option<String>,
    tearing_down: bool,
    lags: LagHistogram,
    /// Lines for each node gathered during one turn, written together.
    outbox: Vec<Outbox>,
    dirty: Vec<usize>,
    backed_up: Vec<usize>,
    sends_per_sec: Vec<u64>,
    counts: progress::Counts,
    progress: progress::Progress,
}

impl<'c> Driver<'c> {
    fn new(cfg: &'c TestConfig, rt: &tokio::runtime::Runtime, dir: PathBuf) -> Result<Self, RunError> {
        let (tx, events) = channel();
        let t0 = Instant::now();
        let mut net = Network::new(cfg.latency, sub_seed(cfg.seed, 1));
        let mut targets = Vec::new();
        let journal = Journal::create(&dir)?;
        let mut nodes = Vec::with_capacity(cfg.nodes.len());
        let addrs: Vec<Addr> = cfg.nodes.iter().map(|n| net.register(n)).collect();
        let mut services = Vec::new();
        for (i, name) in SERVICE_NAMES.into_iter().enumerate() {
            let addr = net.register(name);
            targets.push((addr, Target::Service(i)));
            services.push((addr, name, Service::default()));
        }
        for (i, name) in cfg.nodes.iter().enumerate() {
            targets.push((addrs[i], Target::Node(i)));
            let spec = Spawn {
                index: i,
                name,
                bin: &cfg.bin,
                args: &cfg.bin_args,
                log_path: dir.join("node-logs").join(format!("{}.log", sanitize(name))),
                log_stderr: cfg.log_stderr,
            };
            let proc = NodeProcess::spawn(rt.handle(), spec, tx.clone())
                .map_err(|e| RunError::Crash(format!("could not start node {name} ({}): {e}", cfg.bin.display())))?;
            nodes.push(NodeSlot { name: name.clone(), addr: addrs[i], proc, ignored: false });
        }
        let mut driver = Driver {
            cfg,
            t0,
            origin: 0,
            dir,
            net,
            peers: Vec::new(),
            nodes,
            services,
            clients: HashMap::new(),
            client_counter: 0,
            threads: vec![ThreadState::default(); cfg.concurrency],
            timeouts: BinaryHeap::new(),
            setup_left: 0,
            sched: None,
            history: History::default(),
            diagnostics: Vec::new(),
            journal,
            events,
            _events_tx: tx,
            crash: None,
            tearing_down: false,
            outbox: (0..cfg.nodes.len()).map(|_| Outbox::default()).collect(),
            dirty: Vec::new(),
            backed_up: Vec::new(),
            lags: LagHistogram::default(),
            sends_per_sec: Vec::new(),
            counts: progress::Counts::default(),
            progress: progress::Progress::new(cfg.time_limit_s),
        };
        for (addr, target) in targets {
            driver.add_peer(addr, target);
        }
        Ok(driver)
    }

    fn now(&self) -> Nanos {
        self.t0.elapsed().as_nanos() as Nanos
    }

    fn execute(&mut self) -> Result<(), String> {
        self.init_phase()?;
        self.origin = self.now();
        self.setup_phase()?;
        self.main_phase()
    }

    /// spec §3.3: one fresh client per node sends `init`, all at once; 10 s to answer.
    fn init_phase(&mut self) -> Result<(), String> {
        let node_ids: Vec<Value> = self.cfg.nodes.iter().map(|n| json!(n)).collect();
        for i in 0..self.nodes.len() {
            let client = self.open_client();
            let body = json!({"type": "init", "node_id": self.nodes[i].name, "node_ids": node_ids});
            self.request(client, self.nodes[i].addr, body, Purpose::Init(i), INIT_TIMEOUT_MS);
        }
        self.setup_left = self.nodes.len();
        self.wait_setup()
    }

    /// spec §2 step 5: every workload opens one setup client per node (so workers start at `c(2N)`); only
    /// broadcast's setup sends anything: the same topology map to every node (spec §3.6), 5 s to answer. The setup
    /// clients stay open until the end.
    fn setup_phase(&mut self) -> Result<(), String> {
        let clients: Vec<Addr> = (0..self.nodes.len()).map(|_| self.open_client()).collect();
        if self.cfg.workload != Workload::Broadcast {
            return Ok(());
        }
        let topology = topology::build(self.cfg.topology, &self.cfg.nodes);
        let map = serde_json::to_value(&topology).map_err(|e| e.to_string())?;
        for (i, client) in clients.into_iter().enumerate() {
            let body = json!({"type": "topology", "topology": map});
            self.request(client, self.nodes[i].addr, body, Purpose::Topology(i), RPC_TIMEOUT_MS);
        }
        self.setup_left = self.nodes.len();
        self.wait_setup()
    }

    fn wait_setup(&mut self) -> Result<(), String> {
        while self.setup_left > 0 {
            self.step(None);
            if let Some(c) = self.crash.take() {
                return Err(c);
            }
        }
        Ok(())
    }

    /// spec §6: the generator, until every phase is done.
    fn main_phase(&mut self) -> Result<(), String> {
        let config = SchedulerConfig {
            workload: self.cfg.workload,
            nodes: self.cfg.nodes.clone(),
            concurrency: self.cfg.concurrency,
            rate: self.cfg.rate,
            time_limit: self.cfg.time_limit_s * SEC,
            nemesis_interval: self.cfg.nemesis_interval_s.map(|s| (s * SEC as f64) as Nanos),
            recovery: (self.cfg.recovery_s * SEC as f64) as Nanos,
        };
        self.sched = Some(Scheduler::new(config, sub_seed(self.cfg.seed, 2)));
        loop {
            if let Some(c) = self.crash.take() {
                return Err(c);
            }
            let rel = self.now().saturating_sub(self.origin);
            let wake = loop {
                let Some(sched) = self.sched.as_mut() else { return Ok(()) };
                match sched.next(rel) {
                    Action::Invoke { at, thread, process, op } => self.invoke(at, thread, process, op),
                    Action::Nemesis { at, op } => self.nemesis(at, op),
                    Action::Log(msg) => self.progress.suspend(|| info!("{msg}")),
                    Action::Wait { until } => break until.map(|u| u + self.origin),
                    Action::Done => {
                        self.progress.finish();
                        return Ok(());
                    }
                }
            };
            self.step(wake);
            let phase = self.sched.as_ref().map_or("done", Scheduler::phase);
            let elapsed = self.now().saturating_sub(self.origin) as f64 / SEC as f64;
            self.progress.update(phase, elapsed, &self.counts);
        }
    }

    fn invoke(&mut self, at: Nanos, thread: usize, process: u64, op: Invocation) {
        self.history.push(Op {
            index: 0,
            time: at,
            op_type: OpType::Invoke,
            process: Process::Client(process),
            f: op.f,
            value: op.value.clone(),
            final_read: op.final_read,
            error: None,
        });
        // spec §5.1: a new process id means a new client, except for unique-ids whose client is reusable.
        let state = self.threads[thread];
        let client = match state.client {
            Some(c) if state.process == process || self.cfg.workload == Workload::UniqueIds => c,
            old => {
                if let Some(old) = old {
                    self.close_client(old);
                }
                self.open_client()
            }
        };
        self.threads[thread] = ThreadState { client: Some(client), process };
        // spec §5.1: thread t talks to node t mod N.
        let node = thread % self.nodes.len();
        let body = rpc::request_body(self.cfg.workload, &op);
        self.request(client, self.nodes[node].addr, body, Purpose::Op { thread, node, process, op }, RPC_TIMEOUT_MS);
    }

    fn nemesis(&mut self, at: Nanos, op: NemesisOp) {
        let (f, invoke_value, done_value) = match &op {
            NemesisOp::Start(kind, grudge) => {
                self.net.partition(grudge);
                (F::StartPartition, json!(kind.name()), json!(["isolated", grudge]))
            }
            NemesisOp::Stop => {
                self.net.heal();
                (F::StopPartition, Value::Null, json!("network-healed"))
            }
        };
        // Nemesis operations are instantaneous and `:info` at both ends (spec §8).
        let now = self.now().saturating_sub(self.origin).max(at);
        for (time, value) in [(at, invoke_value), (now, done_value)] {
            let op_type = OpType::Info;
            self.history.push(Op {
                index: 0,
                time,
                op_type,
                process: Process::Nemesis,
                f,
                value,
                final_read: false,
                error: None,
            });
        }
        if let NemesisOp::Start(kind, _) = op {
            self.progress.suspend(|| info!("nemesis: start-partition {}", kind.name()));
        } else {
            self.progress.suspend(|| info!("nemesis: stop-partition"));
        }
    }

    fn open_client(&mut self) -> Addr {
        let name = format!("c{}", self.client_counter);
        self.client_counter += 1;
        let addr = self.net.register(&name);
        // spec §3.4: a Maelstrom client takes messages off its queue only while it waits for a reply.
        let now = self.now();
        self.net.set_receiving(now, addr, false);
        self.clients.insert(addr, ClientState { next_msg_id: 1, pending: None });
        self.add_peer(addr, Target::Client);
        addr
    }

    fn close_client(&mut self, addr: Addr) {
        self.net.unregister(addr);
        self.clients.remove(&addr);
        if let Some(p) = self.peers.get_mut(addr.0 as usize) {
            p.target = None;
        }
    }

    /// Sends an RPC from a client: assigns its `msg_id`, remembers it as the client's one outstanding request.
    fn request(&mut self, client: Addr, dest: Addr, mut body: Value, purpose: Purpose, timeout_ms: u64) {
        let Some(state) = self.clients.get_mut(&client) else { return };
        let msg_id = state.next_msg_id;
        state.next_msg_id += 1;
        state.pending = Some(Pending { msg_id, purpose });
        body["msg_id"] = json!(msg_id);
        let now = self.now();
        self.timeouts.push(Reverse((now + timeout_ms * MS, client, msg_id)));
        match RawValue::from_string(body.to_string()) {
            Ok(raw) => {
                self.send(now, client, dest, raw);
                self.net.set_receiving(now, client, true);
            }
            Err(e) => warn!("could not encode a request: {e}"),
        }
    }

    /// Hands a message to the network and journals it. A message to an address that is no longer registered (a
    /// service answering a client that has since been closed) is dropped, as Maelstrom's network refuses it.
    fn send(&mut self, now: Nanos, src: Addr, dest: Addr, body: Box<RawValue>) {
        if !(self.net.is_registered(src) && self.net.is_registered(dest)) {
            tracing::debug!("dropped a message from {} to {}: not registered", self.net.name(src), self.net.name(dest));
            return;
        }
        // Both ends are registered, so the network takes the message under its next id: journal it first, while the
        // body is still ours to read.
        let id = self.net.next_message_id();
        let (s, d) = (json_name(&self.peers, src), json_name(&self.peers, dest));
        self.journal.record(EventKind::Send, now, id, s, d, Some(body.get()));
        if self.cfg.log_net_send {
            info!(target: "net", "send {id} {s} -> {d} {}", body.get());
        }
        let sec = (now.saturating_sub(self.origin) / SEC) as usize;
        if self.sends_per_sec.len() <= sec {
            self.sends_per_sec.resize(sec + 1, 0);
        }
        self.sends_per_sec[sec] += 1;
        let _ = self.net.send(now, src, dest, body);
    }

    /// Remembers what an address is, and its name in JSON.
    fn add_peer(&mut self, addr: Addr, target: Target) {
        let i = addr.0 as usize;
        if self.peers.len() <= i {
            self.peers.resize_with(i + 1, Peer::default);
        }
        let json_name = serde_json::to_string(self.net.name(addr)).unwrap_or_else(|_| "null".to_owned());
        self.peers[i] = Peer { target: Some(target), json_name };
    }

    fn target(&self, addr: Addr) -> Option<Target> {
        self.peers.get(addr.0 as usize).and_then(|p| p.target)
    }

    /// One turn of the loop: deliver what is due, expire RPCs, wait for the next event or deadline, handle events.
    fn step(&mut self, wake: Option<Nanos>) {
        let now = self.now();
        self.deliver_due(now);
        self.expire(now);
        self.flush_backed_up(now);
        // A node with output waiting in a full pipe is retried every millisecond.
        let retry = (!self.backed_up.is_empty()).then_some(now + MS);
        let next =
            [wake, self.net.next_deadline(), self.timeouts.peek().map(|r| r.0.0), retry].into_iter().flatten().min();
        let now = self.now();
        let wait = next.map_or(200 * MS, |n| n.saturating_sub(now)).min(200 * MS);
        if wait > 0 {
            match self.events.recv_timeout(Duration::from_nanos(wait)) {
                Ok(batch) => self.on_events(batch),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
        }
        // Drain what else arrived, but deliver as soon as something falls due: a surge of node output must not
        // hold up deliveries.
        for _ in 0..10_000 {
            match self.events.try_recv() {
                Ok(batch) => self.on_events(batch),
                Err(_) => break,
            }
            let now = self.now();
            if self.net.next_deadline().is_some_and(|d| d <= now) {
                self.deliver_due(now);
            }
        }
        let now = self.now();
        self.deliver_due(now);
        self.expire(now);
    }

    fn on_events(&mut self, batch: Vec<Event>) {
        let now = self.now();
        for ev in batch {
            self.on_event(ev, now);
        }
    }

    /// Delivers every message due by `now`, then hands each node its lines in one batch.
    fn deliver_due(&mut self, now: Nanos) {
        while let Some(d) = self.net.poll(now) {
            self.deliver(d, now);
        }
        for i in self.dirty.drain(..) {
            let out = &mut self.outbox[i];
            let stdin = &mut self.nodes[i].proc.stdin;
            // Read the clock per node: the lag must include the time spent on the nodes written before this one.
            let now = self.t0.elapsed().as_nanos() as Nanos;
            stdin.write(&out.bytes, &out.deadlines, now, &mut self.lags);
            out.bytes.clear();
            out.deadlines.clear();
            if stdin.is_backed_up() && !self.backed_up.contains(&i) {
                self.backed_up.push(i);
            }
        }
    }

    /// Retries output that a node's full pipe could not take.
    fn flush_backed_up(&mut self, now: Nanos) {
        let (nodes, lags) = (&mut self.nodes, &mut self.lags);
        self.backed_up.retain(|&i| {
            nodes[i].proc.stdin.flush(now, lags);
            nodes[i].proc.stdin.is_backed_up()
        });
    }

    fn deliver(&mut self, d: Delivery<Box<RawValue>>, now: Nanos) {
        let body = d.payload;
        {
            let (s, t) = (json_name(&self.peers, d.src), json_name(&self.peers, d.dest));
            self.journal.record(EventKind::Recv, now, d.id, s, t, None);
            if self.cfg.log_net_recv {
                info!(target: "net", "recv {} {s} -> {t} {}", d.id, body.get());
            }
        }
        match self.target(d.dest) {
            Some(Target::Node(i)) => {
                let out = &mut self.outbox[i];
                if out.bytes.is_empty() {
                    self.dirty.push(i);
                }
                if !self.net.is_client(d.src) {
                    out.deadlines.push(d.deadline);
                }
                let line = &mut out.bytes;
                let (src, dest) = (json_name(&self.peers, d.src), json_name(&self.peers, d.dest));
                let _ = write!(line, "{{\"id\":{},\"src\":{src},\"dest\":{dest},\"body\":", d.id);
                line.extend_from_slice(body.get().as_bytes());
                line.extend_from_slice(b"}\n");
            }
            Some(Target::Service(i)) => {
                let Ok(request) = serde_json::from_str::<Value>(body.get()) else { return };
                let (addr, name, service) = &mut self.services[i];
                let addr = *addr;
                if let Some(reply) = service.handle(name, &request)
                    && let Ok(raw) = RawValue::from_string(reply.to_string())
                {
                    self.send(now, addr, d.src, raw);
                }
            }
            Some(Target::Client) => self.on_client_message(d.dest, &body, now),
            None => {}
        }
    }

    /// spec §3.4: a client takes the reply to its outstanding request and silently drops everything else.
    fn on_client_message(&mut self, client: Addr, body: &RawValue, now: Nanos) {
        let Some(state) = self.clients.get_mut(&client) else { return };
        let Some(pending) = &state.pending else { return };
        let Ok(body) = serde_json::from_str::<Value>(body.get()) else { return };
        if body.get("in_reply_to").and_then(Value::as_u64) != Some(pending.msg_id) {
            return;
        }
        if let Some(p) = state.pending.take() {
            self.resolve(client, p, Some(body), now);
        }
    }

    fn expire(&mut self, now: Nanos) {
        while let Some(Reverse((deadline, client, msg_id))) = self.timeouts.peek().copied() {
            if deadline > now {
                break;
            }
            self.timeouts.pop();
            let Some(state) = self.clients.get_mut(&client) else { continue };
            if state.pending.as_ref().is_some_and(|p| p.msg_id == msg_id)
                && let Some(p) = state.pending.take()
            {
                self.resolve(client, p, None, now);
            }
        }
    }

    /// A request got its reply (`Some`) or timed out (`None`).
    fn resolve(&mut self, client: Addr, pending: Pending, reply: Option<Value>, now: Nanos) {
        self.net.set_receiving(now, client, false);
        match pending.purpose {
            Purpose::Init(i) => {
                let name = &self.nodes[i].name;
                match reply {
                    None => {
                        let msg = format!(
                            "Expected node {name} to respond to an init message, but node did not respond within \
                             {} s.",
                            INIT_TIMEOUT_MS / 1000
                        );
                        self.crash_with(i, msg);
                    }
                    Some(body) => match rpc::check_init_reply(&body) {
                        Ok(()) => {
                            self.setup_left -= 1;
                            self.close_client(client);
                        }
                        Err(e) => self.crash_with(i, format!("node {name}: {e}")),
                    },
                }
            }
            Purpose::Topology(i) => {
                let name = &self.nodes[i].name;
                match reply {
                    None => {
                        let msg = format!(
                            "node {name} did not answer the topology message within {} s",
                            RPC_TIMEOUT_MS / 1000
                        );
                        self.crash_with(i, msg);
                    }
                    Some(body) => match rpc::check_topology_reply(&body) {
                        Ok(()) => self.setup_left -= 1,
                        Err(e) => self.crash_with(i, format!("node {name}: bad reply to topology: {e}")),
                    },
                }
            }
            Purpose::Op { thread, node, process, op } => {
                let completion = match &reply {
                    Some(body) => rpc::on_reply(self.cfg.workload, &op, body),
                    None => rpc::on_timeout(self.cfg.workload, &op),
                };
                if let Some(problem) = completion.problem {
                    let line = reply.as_ref().map(|b| clip(&b.to_string(), 200));
                    self.diagnose(Diagnostic::new(self.nodes[node].name.clone(), line, problem));
                }
                match completion.op_type {
                    OpType::Ok => self.counts.ok += 1,
                    OpType::Fail => self.counts.fail += 1,
                    _ => self.counts.info += 1,
                }
                self.history.push(Op {
                    index: 0,
                    time: now.saturating_sub(self.origin),
                    op_type: completion.op_type,
                    process: Process::Client(process),
                    f: op.f,
                    value: completion.value,
                    final_read: op.final_read,
                    error: completion.error,
                });
                if let Some(s) = self.sched.as_mut() {
                    s.complete(thread, completion.op_type);
                }
            }
        }
    }

    fn on_event(&mut self, ev: Event, now: Nanos) {
        match ev {
            Event::Msg { node, src, dest, body } => {
                if self.nodes[node].ignored {
                    return;
                }
                let (s, t) = (self.net.addr(&src), self.net.addr(&dest));
                let problem = match (s, t) {
                    (Some(s), Some(t)) => {
                        // Both registered: the network takes it.
                        self.send(now, s, t, body);
                        return;
                    }
                    (None, _) => format!("invalid source {src:?}: not a node, service or open client"),
                    (_, None) if dest.starts_with('c') => format!(
                        "invalid dest {dest:?}: that client is closed (it timed out and moved on, or was an init \
                         client), so this is a late reply"
                    ),
                    (_, None) => format!("invalid dest {dest:?}: not a node, service or open client"),
                };
                let line = clip(&format!(r#"{{"src":{src:?},"dest":{dest:?},"body":…}}"#), 200);
                self.stop_reading(node, Some(line), problem);
            }
            Event::BadLine { node, line, reason } => {
                if !self.nodes[node].ignored {
                    self.stop_reading(node, Some(line), reason);
                }
            }
            Event::Exited { node, status } => {
                if !self.tearing_down {
                    let name = self.nodes[node].name.clone();
                    self.crash_with(node, format!("Node {name} crashed with {status}"));
                }
            }
        }
    }

    /// spec §3.1 and §14 decision 1: ignore the rest of the node's stdout, and say why, once.
    fn stop_reading(&mut self, node: usize, line: Option<String>, reason: String) {
        let slot = &mut self.nodes[node];
        slot.ignored = true;
        slot.proc.stop_reading.store(true, Ordering::Relaxed);
        let reason = format!("{reason}; as Maelstrom does, the rest of this node's stdout is ignored");
        let d = Diagnostic::new(slot.name.clone(), line, reason);
        self.diagnose(d);
    }

    /// Records a diagnostic; the same node doing the same thing again only bumps its count.
    fn diagnose(&mut self, d: Diagnostic) {
        const MAX: usize = 100;
        if let Some(seen) = self.diagnostics.iter_mut().find(|s| s.node == d.node && s.reason == d.reason) {
            seen.count += 1;
        } else if self.diagnostics.len() < MAX {
            self.progress.suspend(|| warn!("{d}"));
            self.diagnostics.push(d);
        } else if self.diagnostics.len() == MAX {
            let reason = format!("more than {MAX} different diagnostics; the rest are not recorded");
            self.diagnostics.push(Diagnostic::new("harness", None, reason));
        }
    }

    fn crash_with(&mut self, node: usize, msg: String) {
        if self.crash.is_some() {
            return;
        }
        let tail = self.nodes[node].proc.stderr_tail();
        let mut msg = msg;
        if !tail.is_empty() {
            msg.push_str(&format!("\nlast stderr lines of {}:\n  {}", self.nodes[node].name, tail.join("\n  ")));
        }
        self.crash = Some(msg);
    }

    /// spec §2 step 7: every node is force-killed; one that had already exited is a crash.
    fn teardown(&mut self, rt: &tokio::runtime::Runtime) {
        self.progress.finish();
        while let Ok(batch) = self.events.try_recv() {
            self.on_events(batch);
        }
        self.tearing_down = true;
        for n in &mut self.nodes {
            n.proc.kill();
        }
        let nodes = &mut self.nodes;
        let early = rt.block_on(async {
            let mut early = None;
            for (i, n) in nodes.iter_mut().enumerate() {
                if let Some(status) = n.proc.wait_killed().await {
                    early = early.or(Some((i, status)));
                }
            }
            early
        });
        if let Some((i, status)) = early {
            let name = self.nodes[i].name.clone();
            self.crash_with(i, format!("Node {name} crashed with {status}"));
        }
    }

    fn write_records(&mut self) -> std::io::Result<()> {
        self.journal.finish()?;
        crate::results::write_history_jsonl(&self.dir.join("history.jsonl"), &self.history)?;
        crate::results::write_history_edn(&self.dir.join("history.edn"), &self.history)?;
        crate::results::write_history_txt(&self.dir.join("history.txt"), &self.history)
    }
}

/// An address's name as a JSON string literal, escaped once when it was registered.
fn json_name(peers: &[Peer], addr: Addr) -> &str {
    peers.get(addr.0 as usize).map_or("null", |p| p.json_name.as_str())
}

fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_seeds_differ_per_stream_and_repeat_per_seed() {
        assert_ne!(sub_seed(1, 1), sub_seed(1, 2));
        assert_ne!(sub_seed(1, 1), sub_seed(2, 1));
        assert_eq!(sub_seed(7, 3), sub_seed(7, 3));
    }

    #[test]
    fn node_log_names_are_safe_file_names() {
        assert_eq!(sanitize("n1"), "n1");
        assert_eq!(sanitize("../x"), "___x");
    }
}
