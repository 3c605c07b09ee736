//! The workload driver: Maelstrom's broadcast, g-set and counter workloads sent to the daemons' HTTP APIs, with the
//! harness's own generator ([`Scheduler`]: rate, mix, threads, time limit, partition nemesis, final reads), its
//! RPC rules ([`rpc::on_reply`], [`rpc::on_timeout`]: `:ok`/`:fail`/`:info`) and its checkers ([`check`]).
//!
//! Each client operation becomes one HTTP request to the daemon of its thread (`thread mod N`, as in Maelstrom);
//! the answer is turned into the Maelstrom reply the workload expects (`broadcast_ok`, `read_ok` with the set's
//! elements, `add_ok`, …) or into an `error` with Maelstrom's code — 11 when the daemon was not reachable (the
//! request was not applied), 14 for a refused write (a cap), 12 for a bad request, 13 for anything that leaves
//! the outcome unknown — and judged by the harness exactly as a node's reply. A request unanswered after
//! Maelstrom's 5 s is a timeout.
//!
//! Objects: the workload's name is the object's (`/v1/sets/broadcast`, `/v1/sets/g-set`,
//! `/v1/counters/pn-counter`, `/v1/counters/g-counter`).
//!
//! Server messages (`:net :servers`) are the datagrams the daemons sent, read from their `/metrics` at the end
//! (and just before a kill, so a killed run's traffic counts): engine messages and SWIM packets, reported apart.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use osmosis_harness::checker::{CheckConfig, Results, check};
use osmosis_harness::generator::{Action, Invocation, NemesisConfig, NemesisOp, Scheduler, SchedulerConfig};
use osmosis_harness::history::{F, History, Nanos, Op, OpType, Process};
use osmosis_harness::nemesis::{TargetKind, TargetedFault};
use osmosis_harness::net::NetStats;
use osmosis_harness::rpc::{self, RPC_TIMEOUT_MS};
use osmosis_harness::workload::Workload;
use serde_json::{Value, json};

use crate::hosts::Lab;

/// A fault schedule beyond Maelstrom's partitions.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// No faults.
    None,
    /// Maelstrom's partition nemesis with this interval (random grudges, healed before the final reads).
    Partition(Duration),
    /// `kill -9` of one host's daemon `at` after the first operation, restarted `down_for` later.
    Kill {
        /// Host index.
        host: usize,
        /// When, from the first operation.
        at: Duration,
        /// How long it stays down.
        down_for: Duration,
    },
}

/// One run of a workload.
#[derive(Debug, Clone)]
pub struct DriveConfig {
    /// The workload.
    pub workload: Workload,
    /// Operations per second over all clients.
    pub rate: f64,
    /// Length of the main phase.
    pub time_limit: Duration,
    /// Client threads.
    pub concurrency: usize,
    /// The wait before the final reads.
    pub recovery: Duration,
    /// Seed of the generator.
    pub seed: u64,
    /// Faults.
    pub fault: Fault,
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The harness's results map.
    pub results: Results,
    /// The history.
    pub history: History,
    /// Engine datagrams the daemons sent.
    pub engine_msgs: u64,
    /// SWIM datagrams the daemons sent.
    pub swim_msgs: u64,
    /// Client invocations.
    pub ops: u64,
}

impl Outcome {
    /// Engine messages per client operation.
    pub fn engine_msgs_per_op(&self) -> f64 {
        self.engine_msgs as f64 / self.ops.max(1) as f64
    }

    /// SWIM messages per client operation.
    pub fn swim_msgs_per_op(&self) -> f64 {
        self.swim_msgs as f64 / self.ops.max(1) as f64
    }
}

/// How a request ended, in Maelstrom's terms: a reply body, or no reply in time.
enum Answer {
    Reply(Value),
    Timeout,
}

struct Done {
    thread: usize,
    op: Invocation,
    answer: Answer,
    at: Nanos,
}

fn object_path(workload: Workload) -> String {
    match workload {
        Workload::GCounter | Workload::PnCounter => format!("/v1/counters/{}", workload.name()),
        _ => format!("/v1/sets/{}", workload.name()),
    }
}

fn error_body(code: i64, text: String) -> Value {
    json!({"type": "error", "in_reply_to": 1, "code": code, "text": text})
}

/// The Maelstrom reply a successful HTTP answer stands for.
fn reply_body(workload: Workload, op: &Invocation, body: &Value) -> Value {
    match (workload, op.f) {
        (Workload::Broadcast, F::Broadcast) => json!({"type": "broadcast_ok", "in_reply_to": 1}),
        (Workload::Broadcast, F::Read) => json!({"type": "read_ok", "in_reply_to": 1, "messages": body["elements"]}),
        (_, F::Read) => {
            let value = if body.get("elements").is_some() { &body["elements"] } else { &body["value"] };
            json!({"type": "read_ok", "in_reply_to": 1, "value": value})
        }
        _ => json!({"type": "add_ok", "in_reply_to": 1}),
    }
}

async fn request(client: reqwest::Client, base: String, token: String, workload: Workload, op: &Invocation) -> Answer {
    let url = format!("{base}{}", object_path(workload));
    let req = match op.f {
        F::Read => client.get(&url),
        F::Broadcast | F::Add if matches!(workload, Workload::GCounter | Workload::PnCounter) => {
            client.post(&url).json(&json!({"delta": op.value}))
        }
        _ => client.post(&url).json(&json!({"element": op.value})),
    };
    match req.bearer_auth(token).send().await {
        Ok(resp) => {
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                return Answer::Reply(reply_body(workload, op, &body));
            }
            let code = match status.as_u16() {
                400 | 401 | 404 | 405 | 413 => 12,
                422 => 14,
                503 => 11,
                _ => 13,
            };
            Answer::Reply(error_body(code, format!("HTTP {status}: {body}")))
        }
        Err(e) if e.is_timeout() => Answer::Timeout,
        Err(e) if e.is_connect() => Answer::Reply(error_body(11, format!("not reachable: {e}"))),
        Err(e) => Answer::Reply(error_body(13, format!("no complete answer: {e}"))),
    }
}

/// What daemons sent, from their `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
struct Traffic {
    engine: u64,
    swim: u64,
    bytes: u64,
}

impl Traffic {
    fn add(&mut self, other: Traffic) {
        self.engine += other.engine;
        self.swim += other.swim;
        self.bytes += other.bytes;
    }
}

/// Reads `osmosis_datagrams_sent_total` and `osmosis_bytes_sent_total` of each host that answers.
async fn datagrams_sent(client: reqwest::Client, lab_urls: Vec<String>, token: String) -> Vec<Traffic> {
    let mut out = Vec::new();
    for base in lab_urls {
        let text = match client.get(format!("{base}/metrics")).bearer_auth(&token).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let mut t = Traffic::default();
        for line in text.lines() {
            let n: u64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0);
            if line.starts_with("osmosis_bytes_sent_total{") {
                t.bytes += n;
            } else if line.starts_with("osmosis_datagrams_sent_total{kind=\"swim\"}") {
                t.swim += n;
            } else if line.starts_with("osmosis_datagrams_sent_total{") {
                t.engine += n;
            }
        }
        out.push(t);
    }
    out
}

/// Applies the harness's nemesis operations to the lab.
struct Faults<'a> {
    lab: &'a mut Lab,
    rt: &'a tokio::runtime::Runtime,
    client: &'a reqwest::Client,
    urls: &'a [String],
    /// Hosts killed and not restarted yet.
    down: &'a mut Vec<usize>,
}

impl Faults<'_> {
    /// Applies `op`; returns its history `:f` and the values of its invocation and completion (as the harness
    /// records them). A killed daemon's traffic so far is added to `killed`, since its metrics die with it.
    fn apply(&mut self, op: NemesisOp, killed: &mut Traffic) -> Result<(F, Value, Value)> {
        match op {
            NemesisOp::StartPartition(kind, grudge) => {
                self.lab.partition(&grudge)?;
                Ok((F::StartPartition, json!(kind.name()), json!(["isolated", grudge])))
            }
            NemesisOp::StopPartition => {
                self.lab.heal()?;
                Ok((F::StopPartition, Value::Null, json!("network-healed")))
            }
            NemesisOp::Kill(node) | NemesisOp::Targeted(TargetedFault { kind: TargetKind::Kill, node, .. }, true) => {
                let i = self.host(&node)?;
                let before = on_runtime(
                    self.rt,
                    datagrams_sent(self.client.clone(), vec![self.urls[i].clone()], self.lab.token.clone()),
                )?;
                before.into_iter().for_each(|t| killed.add(t));
                self.lab.kill(i)?;
                self.down.push(i);
                tracing::info!("killed {node} (kill -9)");
                Ok((F::Kill, json!([node]), json!([node])))
            }
            NemesisOp::Start(node) | NemesisOp::Targeted(TargetedFault { kind: TargetKind::Kill, node, .. }, false) => {
                let i = self.host(&node)?;
                self.restart(i)?;
                Ok((F::Start, json!([node]), json!([node])))
            }
            NemesisOp::Heal => {
                self.lab.heal()?;
                let names: Vec<String> = self.down.iter().map(|&i| self.lab.hosts[i].name.clone()).collect();
                for i in self.down.clone() {
                    self.restart(i)?;
                }
                Ok((F::StopPartition, Value::Null, json!({"network-healed": true, "started": names})))
            }
            other => anyhow::bail!("netlab does not apply the nemesis operation {other:?}"),
        }
    }

    fn host(&self, name: &str) -> Result<usize> {
        self.lab.hosts.iter().position(|h| h.name == name).with_context(|| format!("no host {name}"))
    }

    fn restart(&mut self, i: usize) -> Result<()> {
        self.lab.restart(i)?;
        self.down.retain(|&d| d != i);
        tracing::info!("restarted {}", self.lab.hosts[i].name);
        Ok(())
    }
}

/// Runs `f` on one of the runtime's threads (they are in the switch namespace; the caller is not) and waits.
fn on_runtime<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    f: impl Future<Output = T> + Send + 'static,
) -> Result<T> {
    Ok(rt.block_on(rt.spawn(f))?)
}

/// Runs one workload against the lab's daemons and checks it.
pub fn drive(lab: &mut Lab, cfg: &DriveConfig) -> Result<Outcome> {
    let ns = lab.switch_ns();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            if let Some(ns) = &ns
                && let Err(e) = crate::probe::enter_netns(ns)
            {
                eprintln!("netlab: {e:#}");
            }
        })
        .build()?;
    let client = {
        let _guard = rt.enter();
        reqwest::Client::builder()
            .timeout(Duration::from_millis(RPC_TIMEOUT_MS))
            .connect_timeout(Duration::from_secs(1))
            .no_proxy()
            .build()?
    };
    let urls: Vec<String> = lab.hosts.iter().map(|h| format!("http://{}", h.http)).collect();
    let nodes: Vec<String> = lab.hosts.iter().map(|h| h.name.clone()).collect();
    // Faults come from the harness's nemesis schedule: its partition flip-flop, or a targeted kill of one node.
    let nemesis = match &cfg.fault {
        Fault::None => None,
        Fault::Partition(i) => Some(NemesisConfig::partitions(i.as_nanos() as Nanos)),
        Fault::Kill { host, at, down_for } => Some(NemesisConfig {
            interval: 10_000_000_000,
            kinds: Vec::new(),
            targeted: vec![TargetedFault {
                kind: TargetKind::Kill,
                node: nodes.get(*host).cloned().context("no such host to kill")?,
                from: at.as_nanos() as u64,
                to: (*at + *down_for).as_nanos() as u64,
            }],
        }),
    };
    let sched_cfg = SchedulerConfig {
        workload: cfg.workload,
        nodes,
        concurrency: cfg.concurrency,
        rate: cfg.rate,
        time_limit: cfg.time_limit.as_nanos() as Nanos,
        nemesis,
        recovery: cfg.recovery.as_nanos() as Nanos,
    };
    sched_cfg.validate().map_err(anyhow::Error::msg)?;
    let mut sched = Scheduler::new(sched_cfg, cfg.seed);
    let (tx, rx) = mpsc::channel::<Done>();
    let mut history = History::default();
    let t0 = Instant::now();
    let nanos = move || t0.elapsed().as_nanos() as Nanos;
    // The daemons' counters run from their start: what they sent before this run (an earlier workload on the same
    // lab) is subtracted at the end.
    let mut baseline = Traffic::default();
    for t in on_runtime(&rt, datagrams_sent(client.clone(), urls.clone(), lab.token.clone()))? {
        baseline.add(t);
    }
    let mut killed_totals = Traffic::default();
    let mut down: Vec<usize> = Vec::new();
    loop {
        while let Ok(done) = rx.try_recv() {
            complete(&mut history, &mut sched, cfg.workload, done);
        }
        let now = nanos();
        let wake = match sched.next(now) {
            Action::Invoke { at, thread, process, op } => {
                history.push(op.invoke_op(at, process));
                let (client, base, token, tx) =
                    (client.clone(), urls[thread % urls.len()].clone(), lab.token.clone(), tx.clone());
                let workload = cfg.workload;
                rt.spawn(async move {
                    let answer = request(client, base, token, workload, &op).await;
                    let _ = tx.send(Done { thread, op, answer, at: nanos() });
                });
                continue;
            }
            Action::Nemesis { at, op } => {
                let mut faults = Faults { lab: &mut *lab, rt: &rt, client: &client, urls: &urls, down: &mut down };
                let (f, invoke, done) = faults.apply(op, &mut killed_totals)?;
                for (time, value) in [(at, invoke), (nanos().max(at), done)] {
                    let op_type = OpType::Info;
                    history.push(Op {
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
                continue;
            }
            Action::Log(msg) => {
                tracing::info!("{msg}");
                continue;
            }
            Action::Wait { until } => until,
            Action::Done => break,
        };
        let wait = wake.map_or(Duration::from_millis(50), |w| Duration::from_nanos(w.saturating_sub(nanos())));
        if let Ok(done) = rx.recv_timeout(wait.min(Duration::from_millis(50))) {
            complete(&mut history, &mut sched, cfg.workload, done);
        }
    }
    lab.heal()?;
    let mut total = killed_totals;
    for t in on_runtime(&rt, datagrams_sent(client, urls, lab.token.clone()))? {
        total.add(t);
    }
    total.engine = total.engine.saturating_sub(baseline.engine);
    total.swim = total.swim.saturating_sub(baseline.swim);
    total.bytes = total.bytes.saturating_sub(baseline.bytes);
    let ops = osmosis_harness::checker::net::op_count(&history);
    let mut net = NetStats::default();
    // `:net :servers`: every datagram the daemons sent (their bytes on the first), engine and SWIM alike.
    for i in 0..total.engine + total.swim {
        net.on_send(false, if i == 0 { total.bytes } else { 0 });
        net.on_recv(false);
    }
    for _ in 0..ops {
        net.on_send(true, 0);
        net.on_send(true, 0);
    }
    let check_config = CheckConfig { workload: cfg.workload, availability: None, cluster: None };
    let results = check(&check_config, &history, &net, &[]);
    let (engine_msgs, swim_msgs) = (total.engine, total.swim);
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(Outcome { results, history, engine_msgs, swim_msgs, ops })
}

fn complete(history: &mut History, sched: &mut Scheduler, workload: Workload, done: Done) {
    let c = match done.answer {
        Answer::Reply(body) => rpc::on_reply(workload, &done.op, &body),
        Answer::Timeout => rpc::on_timeout(workload, &done.op),
    };
    let process = sched.process(done.thread).unwrap_or(done.thread as u64);
    history.push(Op {
        index: 0,
        time: done.at,
        op_type: c.op_type,
        process: Process::Client(process),
        f: done.op.f,
        value: c.value,
        final_read: done.op.final_read,
        error: c.error,
    });
    sched.complete(done.thread, c.op_type);
}

/// Writes the history and results of a run under `dir`.
pub fn store(dir: &std::path::Path, outcome: &Outcome) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    osmosis_harness::results::write_results(dir, &outcome.results).context("writing results")?;
    osmosis_harness::results::write_history_jsonl(&dir.join("history.jsonl"), &outcome.history)?;
    Ok(())
}
