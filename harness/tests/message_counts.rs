//! The harness's `:net` arithmetic checked exactly against the reference node (spec §4.4, §12).
//!
//! Every run here uses zero latency and a recovery sleep long enough for all forwarding to finish, so the number
//! of server messages is a pure function of the topology and the number of broadcasts in the history.

mod common;

use std::sync::OnceLock;

use common::{Run, client_completions, client_invocations, harness, invocations, net_count};
use serde_json::Value;

/// E, the undirected edge count of Maelstrom's topologies (spec §3.6, §12).
fn edges(topology: &str, nodes: u64) -> u64 {
    match (topology, nodes) {
        ("grid", 25) => 40,
        ("grid", 5) => 5,
        ("line" | "tree" | "tree2" | "tree3" | "tree4", n) => n - 1,
        ("total", n) => n * (n - 1) / 2,
        other => panic!("no edge count for {other:?}"),
    }
}

/// Runs the broadcast workload with `mode` on `topology` over `nodes` nodes.
fn broadcast_run(name: &str, mode: &str, topology: &str, nodes: u64, rate: &str) -> Run {
    let n = nodes.to_string();
    let flags = [
        "--node-count",
        &n,
        "--topology",
        topology,
        "--time-limit",
        "2",
        "--rate",
        rate,
        "--recovery",
        "2",
        "--seed",
        "7",
    ];
    let run = harness(file!(), name, "broadcast", &flags, &[mode]);
    assert_eq!(run.code, Some(0), "the flooding reference node is valid");
    run
}

/// Checks `servers.msg-count == per_broadcast × broadcasts` and that the run did broadcast.
fn assert_servers_per_broadcast(run: &Run, per_broadcast: u64) {
    let broadcasts = invocations(&run.history(), "broadcast");
    assert!(broadcasts > 0, "the run issued no broadcast");
    let servers = net_count(&run.results(), "servers", "msg-count");
    assert_eq!(servers, per_broadcast * broadcasts, "{per_broadcast} per broadcast × {broadcasts} broadcasts");
}

macro_rules! skip_sender_cases {
    ($($case:ident: $topology:literal, $nodes:literal, $per:literal;)*) => {
        /// `flood-skip-sender` sends 2E − (N − 1) server messages per broadcast (spec §12).
        mod flood_skip_sender_sends_exactly_2e_minus_n_minus_1_per_broadcast {
            use super::*;
            $(
                #[test]
                fn $case() {
                    // The spec's figure, and the formula from the edge count, must agree.
                    assert_eq!(2 * edges($topology, $nodes) - ($nodes - 1), $per);
                    let rate = if $nodes > 5 { "25" } else { "50" };
                    let run = broadcast_run(stringify!($case), "flood-skip-sender", $topology, $nodes, rate);
                    assert_servers_per_broadcast(&run, $per);
                }
            )*
        }
    };
}

skip_sender_cases! {
    on_grid_with_5_nodes: "grid", 5, 6;
    on_line_with_5_nodes: "line", 5, 4;
    on_tree4_with_5_nodes: "tree4", 5, 4;
    on_total_with_5_nodes: "total", 5, 16;
    on_grid_with_25_nodes: "grid", 25, 56;
    on_line_with_25_nodes: "line", 25, 24;
    on_tree4_with_25_nodes: "tree4", 25, 24;
    on_total_with_25_nodes: "total", 25, 576;
}

/// One `flood` run on a 5-node grid (E = 5), shared by the tests that only read it.
fn flood_grid() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| broadcast_run("flood_grid_5", "flood", "grid", 5, "50"))
}

#[test]
fn flood_sends_exactly_2e_per_broadcast() {
    assert_servers_per_broadcast(flood_grid(), 2 * edges("grid", 5));
}

#[test]
fn msg_count_over_msgs_per_op_equals_client_invocations() {
    let run = flood_grid();
    let results = run.results();
    let ops = client_invocations(&run.history());
    assert!(ops > 0);
    for group in ["all", "servers"] {
        let msgs = net_count(&results, group, "msg-count") as f64;
        let per_op = results["net"][group]["msgs-per-op"].as_f64().expect("msgs-per-op present when ops > 0");
        assert_eq!((msgs / per_op).round() as u64, ops, "{group}: {msgs} / {per_op}");
    }
    assert!(results["net"]["clients"].get("msgs-per-op").is_none(), "clients have no msgs-per-op (spec §4.4)");
}

#[test]
fn clients_msg_count_is_init_topology_and_two_per_answered_op() {
    let run = flood_grid();
    let history = run.history();
    let completions = client_completions(&history);
    // The flooding node answers every request at once: every op completes ok, so every op has one reply.
    assert_eq!(completions.len() as u64, client_invocations(&history));
    assert!(completions.iter().all(|op| op["type"] == "ok"), "all ops ok");
    let nodes = 5;
    let expected = 2 * nodes + 2 * nodes + 2 * completions.len() as u64;
    assert_eq!(net_count(&run.results(), "clients", "msg-count"), expected);
}

#[test]
fn send_recv_and_msg_counts_agree_when_nothing_is_in_flight_at_the_end() {
    let results = flood_grid().results();
    for group in ["all", "clients", "servers"] {
        let send = net_count(&results, group, "send-count");
        assert_eq!(net_count(&results, group, "msg-count"), send, "{group}");
        assert_eq!(net_count(&results, group, "recv-count"), send, "{group}");
    }
    let sum = net_count(&results, "clients", "msg-count") + net_count(&results, "servers", "msg-count");
    assert_eq!(net_count(&results, "all", "msg-count"), sum);
}

#[test]
fn the_store_holds_the_run_files_and_a_latest_link() {
    let run = flood_grid();
    let dir = run.dir();
    assert!(run.store.join("latest").exists(), "<store>/latest");
    assert_eq!(std::fs::canonicalize(run.store.join("latest")).unwrap(), dir);
    assert_eq!(dir.parent().unwrap().file_name().unwrap(), "broadcast", "<store>/<workload>/<time>/");
    for file in [
        "results.json",
        "results.edn",
        "history.jsonl",
        "history.edn",
        "history.txt",
        "net-journal.jsonl",
        "node-logs/n0.log",
        "node-logs/n4.log",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing in {dir:?}");
    }
    let results = run.results();
    assert_eq!(results["valid?"], Value::Bool(true));
    let stats = &results["stats"];
    let history = run.history();
    assert_eq!(stats["count"].as_u64().unwrap(), client_completions(&history).len() as u64);
    assert_eq!(stats["by-f"]["broadcast"]["count"].as_u64().unwrap(), invocations(&history, "broadcast"));
}
