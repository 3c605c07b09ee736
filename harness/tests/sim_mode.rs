//! Virtual time (`--sim`): the same core with the reference node in process. Runs take milliseconds, so these
//! check exact quantities across many configurations: the fidelity figures of process mode hold here exactly, a
//! run is a pure function of its seed, and the two modes agree.

mod common;

use std::collections::HashMap;

use common::{Run, harness, harness_raw, invocations, net_count};
use serde_json::Value;

/// A broadcast run of the reference node in `mode`, in virtual time.
fn sim(name: &str, flags: &[&str], node_args: &[&str]) -> Run {
    let mut all = vec!["--sim"];
    all.extend_from_slice(flags);
    harness(file!(), name, "broadcast", &all, node_args)
}

fn edges(topology: &str, n: u64) -> u64 {
    match topology {
        "grid" if n == 25 => 40,
        "grid" if n == 5 => 5,
        "total" => n * (n - 1) / 2,
        _ => n - 1,
    }
}

#[test]
fn flooding_costs_exactly_2e_minus_n_minus_1_per_broadcast_on_every_topology_in_virtual_time() {
    for (topology, n) in
        [("grid", 5), ("line", 5), ("tree4", 5), ("total", 5), ("grid", 25), ("line", 25), ("total", 25)]
    {
        let nodes = n.to_string();
        let flags = [
            "--node-count",
            &nodes,
            "--topology",
            topology,
            "--time-limit",
            "3",
            "--rate",
            "50",
            "--recovery",
            "1",
            "--seed",
            "7",
        ];
        let run = sim(&format!("skip_{topology}_{n}"), &flags, &["flood-skip-sender"]);
        assert_eq!(run.code, Some(0));
        let broadcasts = invocations(&run.history(), "broadcast");
        assert!(broadcasts > 0);
        let per = 2 * edges(topology, n) - (n - 1);
        assert_eq!(net_count(&run.results(), "servers", "msg-count"), per * broadcasts, "{topology} {n}");
    }
}

#[test]
fn a_virtual_time_run_is_a_pure_function_of_its_seed() {
    let flags = |seed: &'static str| {
        let nemesis = ["--nemesis", "partition,kill,pause,loss,duplicate", "--nemesis-interval", "0.5"];
        let common = ["--node-count", "5", "--latency", "20", "--latency-dist", "exponential", "--time-limit", "4"];
        [&common[..], &["--rate", "40", "--recovery", "1", "--seed", seed], &nemesis].concat()
    };
    let a = sim("pure_a", &flags("5"), &["flood"]);
    let b = sim("pure_b", &flags("5"), &["flood"]);
    assert!(matches!(a.code, Some(0 | 1)), "exit {:?}", a.code);
    for file in ["history.jsonl", "net-journal.jsonl"] {
        let (x, y) = (std::fs::read(a.dir().join(file)).unwrap(), std::fs::read(b.dir().join(file)).unwrap());
        assert!(x == y, "{file} differs between two runs of one seed");
    }
    let history = a.history();
    for f in ["kill", "start", "pause", "resume", "start-partition"] {
        assert!(history.iter().any(|op| op["f"] == f), "the faults ran: no {f}");
    }
    let c = sim("pure_c", &flags("6"), &["flood"]);
    assert_ne!(
        std::fs::read(a.dir().join("history.jsonl")).unwrap(),
        std::fs::read(c.dir().join("history.jsonl")).unwrap()
    );
}

#[test]
fn constant_latency_delivers_every_server_message_exactly_l_after_it_was_sent() {
    let flags = [
        "--node-count",
        "5",
        "--topology",
        "total",
        "--latency",
        "100",
        "--time-limit",
        "3",
        "--rate",
        "40",
        "--recovery",
        "1",
        "--seed",
        "11",
    ];
    let run = sim("constant", &flags, &["flood"]);
    assert_eq!(run.code, Some(0));
    let journal = std::fs::read_to_string(run.dir().join("net-journal.jsonl")).unwrap();
    let mut sent: HashMap<u64, u64> = HashMap::new();
    let mut server = 0;
    for line in journal.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let (id, time) = (e["id"].as_u64().unwrap(), e["time"].as_u64().unwrap());
        let client = e["src"].as_str().unwrap().starts_with('c') || e["dest"].as_str().unwrap().starts_with('c');
        match e["type"].as_str().unwrap() {
            "send" => {
                sent.insert(id, time);
            }
            // A client message has no latency, but may wait behind the message its receiver has in flight.
            _ if client => assert!(time >= sent[&id]),
            _ => {
                server += 1;
                assert_eq!(time, sent[&id] + 100_000_000, "message {id}: no lag in virtual time");
            }
        }
    }
    assert!(server > 0);
    let max = run.results()["workload"]["stable-latencies"]["1"].as_u64().unwrap();
    assert!(max <= 100, "direct flooding is stable within L: {max} ms");
}

#[test]
fn process_and_virtual_time_agree_exactly_on_the_reference_nodes_cost_per_broadcast() {
    let flags = ["--node-count", "5", "--time-limit", "3", "--rate", "30", "--recovery", "1", "--seed", "3"];
    let real = harness(file!(), "agree_process", "broadcast", &flags, &["flood"]);
    let virt = sim("agree_sim", &flags, &["flood"]);
    for run in [&real, &virt] {
        assert_eq!(run.code, Some(0));
        let broadcasts = invocations(&run.history(), "broadcast");
        assert_eq!(net_count(&run.results(), "servers", "msg-count"), 10 * broadcasts, "2E per broadcast");
    }
    let ops = |r: &Run| common::client_invocations(&r.history()) as f64;
    assert!((ops(&real) - ops(&virt)).abs() / ops(&real) < 0.05, "the same schedule, give or take a slipped op");
}

#[test]
fn an_unknown_in_process_node_is_a_bad_argument() {
    let run = harness_raw(&["test", "--sim", "-w", "echo", "--bin", "no-such-node", "--time-limit", "1"]);
    assert_eq!(run.code, Some(254));
    assert!(run.stderr.contains("no in-process node named \"no-such-node\""), "{}", run.stderr);
    assert!(run.stderr.contains("osmosis-reference-node"), "the error lists the nodes there are: {}", run.stderr);
    let run = harness_raw(&[
        "test",
        "--sim",
        "-w",
        "echo",
        "--bin",
        "osmosis-reference-node",
        "--time-limit",
        "1",
        "no-such-mode",
    ]);
    assert_eq!(run.code, Some(254), "the node's own arguments are checked: {}", run.stderr);
}
