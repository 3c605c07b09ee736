//! The core's rules, driven with fake node output in virtual time: no processes, no clock.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;
use crate::cli::TestConfig;
use crate::history::{F, OpType, Process};
use crate::latency::Latency;
use crate::nemesis::FaultPlan;
use crate::topology::TopologyKind;

fn config(workload: Workload, nodes: usize) -> TestConfig {
    TestConfig {
        workload,
        bin: PathBuf::from("/fake"),
        bin_args: Vec::new(),
        nodes: (0..nodes).map(|i| format!("n{i}")).collect(),
        time_limit_s: 2,
        rate: 10.0,
        concurrency: nodes,
        latency: Latency::zero(),
        topology: TopologyKind::Grid,
        faults: FaultPlan::default(),
        availability: None,
        log_stderr: false,
        log_net_send: false,
        log_net_recv: false,
        seed: 3,
        store: PathBuf::from("/nonexistent"),
        recovery_s: 1.0,
        test_count: 1,
        sim: None,
    }
}

/// What a fake node answers to one message it reads: lines to print.
type Behaviour<'b> = dyn FnMut(usize, &Value) -> Vec<String> + 'b;

/// A reply from `msg`'s receiver to its sender: `body` plus `in_reply_to` = the request's `msg_id`.
fn reply(msg: &Value, mut body: Value) -> String {
    body["in_reply_to"] = msg["body"]["msg_id"].clone();
    json!({"src": msg["dest"], "dest": msg["src"], "body": body}).to_string()
}

/// A well-behaved node for every workload: answers init, topology, and each client request, never forwards.
fn polite(_node: usize, msg: &Value) -> Vec<String> {
    let body = &msg["body"];
    let answer = match body["type"].as_str() {
        Some("init") => json!({"type": "init_ok"}),
        Some("topology") => json!({"type": "topology_ok"}),
        Some("broadcast") => json!({"type": "broadcast_ok"}),
        Some("read") => json!({"type": "read_ok", "messages": []}),
        Some("echo") => json!({"type": "echo_ok", "echo": body["echo"]}),
        _ => return Vec::new(),
    };
    vec![reply(msg, answer)]
}

/// Everything one run did: the lines each node read (in order, with the time), the effects, the records.
struct Outcome {
    read: Vec<(Nanos, usize, Value)>,
    effects: Vec<Effect>,
    finished: Finished,
    origin: Nanos,
}

impl Outcome {
    fn origin(&self) -> Nanos {
        self.origin
    }

    fn read_by(&self, node: usize, kind: &str) -> Vec<&Value> {
        self.read.iter().filter(|(_, n, m)| *n == node && m["body"]["type"] == kind).map(|(_, _, m)| m).collect()
    }

    fn crash(&self) -> Option<&str> {
        self.finished.crash.as_ref().map(|c| c.message.as_str())
    }

    fn diagnostics(&self) -> Vec<String> {
        self.finished.diagnostics.iter().map(ToString::to_string).collect()
    }

    fn completions(&self, f: F) -> Vec<&crate::history::Op> {
        let h = &self.finished.history.ops;
        h.iter().filter(|op| op.is_client() && op.op_type != OpType::Invoke && op.f == f).collect()
    }
}

/// Runs `cfg` in virtual time with `behaviour` for every node, until the run is over or `limit` passes.
fn run(cfg: &TestConfig, behaviour: &mut Behaviour<'_>, limit: Nanos) -> Outcome {
    let mut core = Cluster::new(cfg, None);
    let mut now = 0;
    core.start(now);
    let (mut read, mut effects) = (Vec::new(), Vec::new());
    while !core.is_over() && now <= limit {
        core.on_timeout(now);
        while let Some(e) = core.pop_effect() {
            if let Effect::Deliver { node, line, .. } = &e {
                let msg: Value = serde_json::from_str(line).expect("the core writes JSON lines");
                for out in behaviour(*node, &msg) {
                    core.on_node_line(now, *node, NodeLine::parse(out.as_bytes()));
                }
                read.push((now, *node, msg));
            }
            effects.push(e);
        }
        match core.next_wake() {
            Some(t) => now = now.max(t),
            None => break,
        }
    }
    let origin = core.origin();
    Outcome { read, effects, finished: core.finish(), origin }
}

const LIMIT: Nanos = 60 * SEC;

#[test]
fn every_node_gets_init_from_its_own_client_then_the_same_topology_from_a_setup_client() {
    let cfg = config(Workload::Broadcast, 3);
    let out = run(&cfg, &mut polite, LIMIT);
    assert_eq!(out.crash(), None);
    for node in 0..3 {
        let init = out.read_by(node, "init");
        assert_eq!(init.len(), 1);
        assert_eq!(init[0]["src"], format!("c{node}"), "init clients c0..c(N-1), in node order");
        assert_eq!(init[0]["body"]["node_id"], format!("n{node}"));
        assert_eq!(init[0]["body"]["node_ids"], json!(["n0", "n1", "n2"]));
        assert_eq!(init[0]["body"]["msg_id"], 1);
        let topo = out.read_by(node, "topology");
        assert_eq!(topo.len(), 1);
        assert_eq!(topo[0]["src"], format!("c{}", 3 + node), "setup clients cN..c(2N-1)");
        assert_eq!(topo[0]["body"]["topology"], out.read_by(0, "topology")[0]["body"]["topology"]);
    }
    let first_op = out.read.iter().find(|(_, _, m)| m["body"]["type"] == "broadcast" || m["body"]["type"] == "read");
    assert_eq!(first_op.unwrap().2["src"], "c6", "workers start at c(2N)");
    assert!(!out.completions(F::Read).is_empty());
}

#[test]
fn thread_t_always_talks_to_node_t_mod_n() {
    let mut cfg = config(Workload::Broadcast, 3);
    cfg.concurrency = 6;
    let out = run(&cfg, &mut polite, LIMIT);
    let h = &out.finished.history.ops;
    let sent: Vec<&(Nanos, usize, Value)> =
        out.read.iter().filter(|(_, _, m)| m["body"]["type"] == "broadcast").collect();
    assert!(sent.len() > 5);
    // Broadcast values are unique: each finds its invocation, whose process says the thread (no :info here).
    for (_, node, msg) in sent {
        let value = &msg["body"]["message"];
        let inv = h.iter().find(|op| op.f == F::Broadcast && &op.value == value).expect("its invocation");
        let Process::Client(p) = inv.process else { panic!("a client op") };
        assert_eq!(p as usize % 6 % 3, *node, "thread {p} mod 3");
    }
}

#[test]
fn a_node_that_never_answers_init_crashes_the_run_after_10_s_naming_it() {
    let cfg = config(Workload::Echo, 2);
    let mut behaviour = |node: usize, msg: &Value| if node == 1 { Vec::new() } else { polite(node, msg) };
    let out = run(&cfg, &mut behaviour, LIMIT);
    let crash = out.finished.crash.as_ref().expect("a crash");
    assert_eq!(crash.node, Some(1));
    assert!(crash.message.contains("n1") && crash.message.contains("init"), "{}", crash.message);
    assert!(out.finished.history.ops.is_empty(), "no operation ran");
}

#[test]
fn init_answered_with_an_error_or_a_wrong_type_crashes_the_run() {
    for answer in [json!({"type": "error", "code": 13}), json!({"type": "hello"})] {
        let cfg = config(Workload::Echo, 1);
        let mut behaviour = |_: usize, msg: &Value| vec![reply(msg, answer.clone())];
        let out = run(&cfg, &mut behaviour, LIMIT);
        assert!(out.crash().is_some_and(|c| c.contains("n0")), "{answer}: {:?}", out.crash());
    }
}

#[test]
fn a_topology_that_is_never_answered_crashes_the_run_after_5_s() {
    let cfg = config(Workload::Broadcast, 2);
    let mut behaviour =
        |node: usize, msg: &Value| if msg["body"]["type"] == "topology" { Vec::new() } else { polite(node, msg) };
    let out = run(&cfg, &mut behaviour, LIMIT);
    assert!(out.crash().is_some_and(|c| c.contains("topology")), "{:?}", out.crash());
}

#[test]
fn a_node_exit_is_a_crash_naming_the_node() {
    let cfg = config(Workload::Echo, 2);
    let mut core = Cluster::new(&cfg, None);
    core.start(0);
    core.on_node_exit(1, "exit status 3");
    assert!(core.is_over());
    assert_eq!(core.crash().map(|c| c.message.as_str()), Some("Node n1 crashed with exit status 3"));
}

#[test]
fn a_bad_line_is_diagnosed_once_and_the_rest_of_the_node_output_is_ignored() {
    let cfg = config(Workload::Echo, 1);
    let mut first = true;
    let mut behaviour = |node: usize, msg: &Value| {
        if msg["body"]["type"] == "echo" && std::mem::take(&mut first) {
            return vec!["not json".to_owned(), reply(msg, json!({"type": "echo_ok", "echo": msg["body"]["echo"]}))];
        }
        polite(node, msg)
    };
    let out = run(&cfg, &mut behaviour, LIMIT);
    assert_eq!(out.crash(), None);
    let d = out.diagnostics();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].starts_with("n0: not JSON") && d[0].contains("stdout is ignored"), "{d:?}");
    assert!(out.effects.contains(&Effect::StopReading { node: 0 }));
    assert!(out.completions(F::Echo).iter().all(|op| op.op_type == OpType::Info), "no reply is read after it");
}

#[test]
fn a_reply_with_a_wrong_in_reply_to_is_dropped_diagnosed_and_its_request_times_out() {
    let cfg = config(Workload::Broadcast, 1);
    let mut behaviour = |node: usize, msg: &Value| {
        let mut lines = polite(node, msg);
        if msg["body"]["type"] == "broadcast" {
            let mut v: Value = serde_json::from_str(&lines[0]).unwrap();
            v["body"]["in_reply_to"] = json!(1000);
            lines = vec![v.to_string()];
        }
        lines
    };
    let out = run(&cfg, &mut behaviour, LIMIT);
    let broadcasts = out.completions(F::Broadcast);
    assert!(!broadcasts.is_empty());
    assert!(broadcasts.iter().all(|op| op.op_type == OpType::Info), "every broadcast timed out");
    let d = out.diagnostics();
    assert_eq!(d.len(), 1, "the same mistake is recorded once, counted: {d:?}");
    assert!(d[0].starts_with("n0: replied to c") && d[0].contains("in_reply_to 1000"), "{d:?}");
    assert!(out.finished.diagnostics[0].count as usize >= broadcasts.len());
}

#[test]
fn a_late_reply_to_a_closed_client_is_an_invalid_destination_and_stops_reading_the_node() {
    // The node holds its broadcast replies back; the harness times the broadcast out (5 s, :info), opens a new
    // client for the next op, and then the node sends the old reply to the closed client.
    let mut cfg = config(Workload::Broadcast, 1);
    cfg.time_limit_s = 8;
    let mut core = Cluster::new(&cfg, None);
    let (mut now, mut held, mut stopped) = (0, None::<String>, false);
    core.start(0);
    while !core.is_over() && now < LIMIT {
        core.on_timeout(now);
        while let Some(e) = core.pop_effect() {
            stopped |= e == Effect::StopReading { node: 0 };
            let Effect::Deliver { line, .. } = e else { continue };
            let msg: Value = serde_json::from_str(&line).unwrap();
            if msg["body"]["type"] == "broadcast" && held.is_none() {
                held = polite(0, &msg).pop();
                continue;
            }
            for out in polite(0, &msg) {
                core.on_node_line(now, 0, NodeLine::parse(out.as_bytes()));
            }
        }
        if now > 6 * SEC
            && let Some(late) = held.take_if(|_| !stopped)
        {
            core.on_node_line(now, 0, NodeLine::parse(late.as_bytes()));
        }
        now = core.next_wake().unwrap_or(now + SEC).max(now + MS);
    }
    let f = core.finish();
    assert!(stopped, "the harness stops reading the node");
    let d: Vec<String> = f.diagnostics.iter().map(ToString::to_string).collect();
    assert!(d.iter().any(|d| d.contains("invalid dest") && d.contains("late reply")), "{d:?}");
}

#[test]
fn a_timed_out_op_bumps_the_process_and_the_next_op_uses_a_new_client() {
    let cfg = config(Workload::Echo, 1);
    let mut n = 0;
    let mut behaviour = |node: usize, msg: &Value| {
        if msg["body"]["type"] == "echo" {
            n += 1;
            if n == 1 {
                return Vec::new();
            }
        }
        polite(node, msg)
    };
    let out = run(&cfg, &mut behaviour, LIMIT);
    let echoes = out.completions(F::Echo);
    assert_eq!(echoes[0].op_type, OpType::Info);
    assert_eq!(echoes[0].process, Process::Client(0));
    assert!(echoes[1..].iter().all(|op| op.op_type == OpType::Ok && op.process == Process::Client(1)));
    let clients: Vec<&Value> =
        out.read.iter().filter(|(_, _, m)| m["body"]["type"] == "echo").map(|(_, _, m)| &m["src"]).collect();
    assert_eq!(clients[0], "c2");
    assert!(clients[1..].iter().all(|c| *c == "c3"), "one new client for process 1: {clients:?}");
}

#[test]
fn services_answer_nodes_and_their_traffic_counts_as_server_traffic() {
    let cfg = config(Workload::Echo, 1);
    let mut asked = false;
    let mut behaviour = |node: usize, msg: &Value| {
        let mut lines = polite(node, msg);
        if std::mem::replace(&mut asked, true) {
            return lines;
        }
        lines.push(json!({"src": "n0", "dest": "lin-tso", "body": {"type": "ts", "msg_id": 7}}).to_string());
        lines
    };
    let out = run(&cfg, &mut behaviour, LIMIT);
    let ts = out.read_by(0, "ts_ok");
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0]["body"], json!({"type": "ts_ok", "ts": 0, "in_reply_to": 7}));
    assert_eq!(out.finished.net.servers.msg_count, 2);
}

#[test]
fn the_progress_clock_follows_the_main_phase_then_the_recovery() {
    let mut cfg = config(Workload::Broadcast, 1);
    cfg.recovery_s = 4.0;
    let mut core = Cluster::new(&cfg, None);
    let mut now = 0;
    core.start(0);
    let mut seen = Vec::new();
    while !core.is_over() && now < LIMIT {
        core.on_timeout(now);
        while let Some(e) = core.pop_effect() {
            let Effect::Deliver { node, line, .. } = e else { continue };
            for out in polite(node, &serde_json::from_str(&line).unwrap()) {
                core.on_node_line(now, node, NodeLine::parse(out.as_bytes()));
            }
        }
        let p = core.progress(now);
        if let Some((at, len)) = p.clock {
            assert!(at <= len + 1e-9, "{} {at}/{len}", p.phase);
            seen.push((p.phase, len));
        }
        now = core.next_wake().unwrap_or(now + SEC).max(now + 1);
    }
    assert!(seen.contains(&("main", 2.0)) && seen.contains(&("recovery", 4.0)), "{seen:?}");
}

fn targeted(cfg: &mut TestConfig, faults: &[&str]) {
    cfg.faults.targeted = faults.iter().map(|f| f.parse().unwrap()).collect();
}

/// The nemesis entries of the history: `(time, f, value)` of each completion.
fn nemesis_ops(out: &Outcome) -> Vec<(Nanos, F, Value)> {
    let h = &out.finished.history.ops;
    h.iter()
        .filter(|op| op.process == Process::Nemesis)
        .skip(1)
        .step_by(2)
        .map(|op| (op.time, op.f, op.value.clone()))
        .collect()
}

#[test]
fn a_killed_node_loses_its_messages_and_comes_back_empty_with_init_and_topology_again() {
    let mut cfg = config(Workload::Broadcast, 2);
    targeted(&mut cfg, &["kill:n1:0.5-1.5"]);
    let out = run(&cfg, &mut polite, LIMIT);
    assert_eq!(out.crash(), None);
    let kill = out.effects.iter().position(|e| *e == Effect::Kill { node: 1 }).expect("a kill");
    let restart = out.effects.iter().position(|e| *e == Effect::Restart { node: 1 }).expect("a restart");
    assert!(kill < restart);
    let ops = nemesis_ops(&out);
    assert_eq!(ops[0].1, F::Kill);
    assert_eq!(ops[0].2, json!(["n1"]));
    assert_eq!((ops[1].1, &ops[1].2), (F::Start, &json!(["n1"])));
    assert_eq!(ops[1].0 - ops[0].0, SEC, "down from 0.5 s to 1.5 s");
    let down = |t: Nanos| t >= ops[0].0 + out.origin() && t < ops[1].0 + out.origin();
    assert!(out.read.iter().all(|(t, n, _)| *n != 1 || !down(*t)), "nothing reaches a dead node");
    assert_eq!(out.read_by(1, "init").len(), 2, "the new process gets init");
    assert_eq!(out.read_by(1, "topology").len(), 2, "and the topology");
    assert_eq!(out.read_by(0, "init").len(), 1);
}

#[test]
fn a_paused_node_reads_what_waited_for_it_once_resumed_and_its_late_replies_are_not_fatal() {
    let mut cfg = config(Workload::Broadcast, 2);
    cfg.time_limit_s = 8;
    targeted(&mut cfg, &["pause:n1:0.5-7"]);
    let out = run(&cfg, &mut polite, LIMIT);
    assert!(out.effects.contains(&Effect::Pause { node: 1 }) && out.effects.contains(&Effect::Resume { node: 1 }));
    let ops = nemesis_ops(&out);
    assert_eq!((ops[0].1, ops[1].1), (F::Pause, F::Resume));
    let (from, to) = (ops[0].0 + out.origin(), ops[1].0 + out.origin());
    let during: Vec<Nanos> =
        out.read.iter().filter(|(t, n, _)| *n == 1 && *t >= from && *t < to).map(|(t, ..)| *t).collect();
    assert!(during.is_empty(), "a paused node takes nothing: {during:?}");
    assert!(out.read.iter().any(|(t, n, _)| *n == 1 && *t == to), "what waited is read at the resume");
    assert!(!out.effects.contains(&Effect::StopReading { node: 1 }), "{:?}", out.diagnostics());
    assert!(out.diagnostics().is_empty(), "{:?}", out.diagnostics());
}

#[test]
fn overlapping_cuts_are_recorded_so_that_the_history_alone_says_what_was_cut() {
    let mut cfg = config(Workload::Broadcast, 3);
    cfg.time_limit_s = 4;
    targeted(&mut cfg, &["cut:n0:0.5-2", "cut:n1:1-3"]);
    let out = run(&cfg, &mut polite, LIMIT);
    let ops = nemesis_ops(&out);
    let kinds: Vec<F> = ops.iter().map(|o| o.1).collect();
    use F::{StartPartition as Start, StopPartition as Stop};
    assert_eq!(kinds, [Start, Start, Stop, Start, Stop, Stop], "{ops:?}");
    let isolated = |i: usize| ops[i].2[1].clone();
    assert_eq!(isolated(0)["n0"], json!(["n1", "n2"]));
    assert_eq!(isolated(1)["n1"], json!(["n0", "n2"]));
    assert_eq!(isolated(3), isolated(1), "when n0's cut ends, n1's alone is imposed again, at the same instant");
    assert_eq!(ops[2].0, ops[3].0);
    let h = &out.finished.history.ops;
    let invocations = h.iter().filter(|op| op.process == Process::Nemesis).step_by(2);
    let labels: Vec<&Value> = invocations.filter(|op| op.f == Start).map(|op| &op.value).collect();
    assert_eq!(labels, [&json!("isolate n0"), &json!("isolate n1"), &json!("isolate n1")]);
}

#[test]
fn the_end_of_main_heal_restarts_and_resumes_what_is_still_down() {
    let mut cfg = config(Workload::Broadcast, 3);
    targeted(&mut cfg, &["kill:n1:1-100", "pause:n2:1-100"]);
    let out = run(&cfg, &mut polite, LIMIT);
    assert_eq!(out.crash(), None);
    let ops = nemesis_ops(&out);
    let kinds: Vec<(F, &Value)> = ops.iter().map(|o| (o.1, &o.2)).collect();
    assert_eq!(kinds[..2], [(F::Kill, &json!(["n1"])), (F::Pause, &json!(["n2"]))]);
    assert_eq!(
        kinds[2..],
        [(F::Start, &json!(["n1"])), (F::Resume, &json!(["n2"]))],
        "no partition: no stop-partition"
    );
    let final_reads = out.completions(F::Read).into_iter().filter(|op| op.final_read).count();
    assert_eq!(final_reads, 3);
}

#[test]
fn message_loss_drops_server_messages_until_the_end_of_main_heal() {
    let mut cfg = config(Workload::Broadcast, 2);
    cfg.faults.loss = 1.0;
    let mut gossip = |node: usize, msg: &Value| {
        let mut lines = polite(node, msg);
        if msg["body"]["type"] == "broadcast" || msg["body"]["type"] == "read" {
            let other = format!("n{}", 1 - node);
            lines.push(json!({"src": format!("n{node}"), "dest": other, "body": {"type": "gossip"}}).to_string());
        }
        lines
    };
    let out = run(&cfg, &mut gossip, LIMIT);
    let (lost, _) = out.finished.message_faults;
    let servers = out.finished.net.servers;
    assert!(lost > 0);
    assert_eq!(servers.send_count - servers.recv_count, lost, "every lost message, and only those, never arrived");
    assert_eq!(servers.recv_count, 2, "the final reads' gossip, after the heal, arrives");
    assert!(out.read.iter().all(|(_, _, m)| m["body"]["type"] != "gossip" || m["body"].get("x").is_none()));
}
