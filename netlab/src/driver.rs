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
use osmosis_harness::generator::{Action, Invocation, NemesisOp, Scheduler, SchedulerConfig};
use osmosis_harness::history::{F, History, Nanos, Op, OpType, Process};
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

/// Sums `osmosis_datagrams_sent_total` over the hosts that answer: (engine, swim).
async fn datagrams_sent(client: reqwest::Client, lab_urls: Vec<String>, token: String) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for base in lab_urls {
        let text = match client.get(format!("{base}/metrics")).bearer_auth(&token).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let (mut engine, mut swim) = (0, 0);
        for line in text.lines().filter(|l| l.starts_with("osmosis_datagrams_sent_total{")) {
            let n: u64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0);
            if line.contains("kind=\"swim\"") { swim += n } else { engine += n }
        }
        out.push((engine, swim));
    }
    out
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
    let nemesis_interval = match cfg.fault {
        Fault::Partition(i) => Some(i.as_nanos() as Nanos),
        _ => None,
    };
    let sched_cfg = SchedulerConfig {
        workload: cfg.workload,
        nodes: nodes.clone(),
        concurrency: cfg.concurrency,
        rate: cfg.rate,
        time_limit: cfg.time_limit.as_nanos() as Nanos,
        nemesis_interval,
        recovery: cfg.recovery.as_nanos() as Nanos,
    };
    sched_cfg.validate().map_err(anyhow::Error::msg)?;
    let mut sched = Scheduler::new(sched_cfg, cfg.seed);
    let (tx, rx) = mpsc::channel::<Done>();
    let mut history = History::default();
    let t0 = Instant::now();
    let nanos = move || t0.elapsed().as_nanos() as Nanos;
    let mut killed_totals: (u64, u64) = (0, 0);
    let mut kill_state = 0; // 0: not yet killed, 1: down, 2: restarted
    let mut first_op: Option<Nanos> = None;
    loop {
        while let Ok(done) = rx.try_recv() {
            complete(&mut history, &mut sched, cfg.workload, done);
        }
        let now = nanos();
        if let (Fault::Kill { host, at, down_for }, Some(first)) = (&cfg.fault, first_op) {
            let since = Duration::from_nanos(now.saturating_sub(first));
            if kill_state == 0 && since >= *at {
                let before =
                    on_runtime(&rt, datagrams_sent(client.clone(), vec![urls[*host].clone()], lab.token.clone()))?;
                killed_totals.0 += before[0].0;
                killed_totals.1 += before[0].1;
                lab.kill(*host)?;
                tracing::info!("killed {} (kill -9)", nodes[*host]);
                kill_state = 1;
            } else if kill_state == 1 && since >= *at + *down_for {
                lab.restart(*host)?;
                tracing::info!("restarted {}", nodes[*host]);
                kill_state = 2;
            }
        }
        let wake = match sched.next(now) {
            Action::Invoke { at, thread, process, op } => {
                first_op.get_or_insert(at);
                history.push(Op {
                    index: 0,
                    time: at,
                    op_type: OpType::Invoke,
                    process: Process::Client(process),
                    f: op.f,
                    value: op.value.clone(),
                    final_read: op.final_read,
                    error: None,
                });
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
                let (f, invoke, done) = match &op {
                    NemesisOp::Start(kind, grudge) => {
                        lab.partition(grudge)?;
                        (F::StartPartition, json!(kind.name()), json!(["isolated", grudge]))
                    }
                    NemesisOp::Stop => {
                        lab.heal()?;
                        (F::StopPartition, Value::Null, json!("network-healed"))
                    }
                };
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
    let totals = on_runtime(&rt, datagrams_sent(client, urls, lab.token.clone()))?;
    let engine_msgs = killed_totals.0 + totals.iter().map(|t| t.0).sum::<u64>();
    let swim_msgs = killed_totals.1 + totals.iter().map(|t| t.1).sum::<u64>();
    let ops = osmosis_harness::checker::net::op_count(&history);
    let mut net = NetStats::default();
    for _ in 0..engine_msgs + swim_msgs {
        net.on_send(false);
        net.on_recv(false);
    }
    for _ in 0..ops {
        net.on_send(true);
        net.on_send(true);
    }
    let results = check(&CheckConfig { workload: cfg.workload, availability: None }, &history, &net, &[]);
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
