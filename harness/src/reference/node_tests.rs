//! In-process tests of the node logic, including a tiny FIFO cluster that checks the message arithmetic of spec §12.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};

use super::{Effect, GARBAGE_LINE, Node};
use crate::reference::args::{Config, LATE_REPLY_DELAY, Mode, Workload};

fn node(mode: Mode, workload: Workload) -> Node {
    Node::new(Config { mode, workload })
}

fn line(src: &str, dest: &str, body: Value) -> String {
    json!({"id": 99, "src": src, "dest": dest, "body": body}).to_string()
}

fn init(n: &mut Node, me: &str, all: &[&str]) -> Vec<Effect> {
    n.on_line(&line("c0", me, json!({"type": "init", "node_id": me, "node_ids": all, "msg_id": 1})))
}

fn sends(effects: &[Effect]) -> Vec<Value> {
    effects.iter().filter_map(|e| if let Effect::Send(m) = e { Some(m.clone()) } else { None }).collect()
}

fn only_reply(effects: &[Effect]) -> Value {
    let s = sends(effects);
    assert_eq!(s.len(), 1, "{effects:?}");
    s[0]["body"].clone()
}

#[test]
fn init_is_answered_with_init_ok_in_reply_to_its_msg_id() {
    let mut n = node(Mode::Flood, Workload::Broadcast);
    let body = only_reply(&init(&mut n, "n1", &["n1", "n2"]));
    assert_eq!(body, json!({"type": "init_ok", "in_reply_to": 1, "msg_id": 1}));
}

#[test]
fn replies_hold_exactly_the_keys_the_schema_allows() {
    let mut n = node(Mode::Flood, Workload::Broadcast);
    init(&mut n, "n1", &["n1"]);
    let topo = json!({"type": "topology", "topology": {"n1": []}, "msg_id": 1});
    assert_eq!(
        only_reply(&n.on_line(&line("c1", "n1", topo))),
        json!({"type": "topology_ok", "in_reply_to": 1, "msg_id": 2})
    );
    let b = n.on_line(&line("c2", "n1", json!({"type": "broadcast", "message": 7, "msg_id": 1})));
    assert_eq!(only_reply(&b), json!({"type": "broadcast_ok", "in_reply_to": 1, "msg_id": 3}));
    let r = n.on_line(&line("c2", "n1", json!({"type": "read", "msg_id": 2})));
    assert_eq!(only_reply(&r), json!({"type": "read_ok", "in_reply_to": 2, "msg_id": 4, "messages": [7]}));
    assert_eq!(sends(&r)[0]["dest"], "c2");
    assert_eq!(sends(&r)[0]["src"], "n1");
}

#[test]
fn forwarded_values_without_msg_id_get_no_reply() {
    let mut n = node(Mode::Flood, Workload::Broadcast);
    init(&mut n, "n1", &["n1", "n2"]);
    n.on_line(&line("c1", "n1", json!({"type": "topology", "topology": {"n1": ["n2"], "n2": ["n1"]}, "msg_id": 1})));
    let out = n.on_line(&line("n2", "n1", json!({"type": "broadcast", "message": 3})));
    // flood forwards to all neighbours, including the sender, and does not reply.
    assert_eq!(sends(&out), vec![json!({"src": "n1", "dest": "n2", "body": {"type": "broadcast", "message": 3}})]);
    assert!(sends(&n.on_line(&line("n2", "n1", json!({"type": "broadcast", "message": 3})))).is_empty());
}

#[test]
fn skip_sender_does_not_send_the_value_back() {
    let mut n = node(Mode::FloodSkipSender, Workload::Broadcast);
    init(&mut n, "n1", &["n1", "n2", "n3"]);
    let topo = json!({"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]});
    n.on_line(&line("c1", "n1", json!({"type": "topology", "topology": topo, "msg_id": 1})));
    let out = n.on_line(&line("n2", "n1", json!({"type": "broadcast", "message": "x"})));
    let dests: Vec<_> = sends(&out).iter().map(|m| m["dest"].clone()).collect();
    assert_eq!(dests, vec![json!("n3")]);
}

#[test]
fn g_set_reads_answer_value_and_forward_to_all_other_nodes() {
    let mut n = node(Mode::Flood, Workload::GSet);
    init(&mut n, "n2", &["n1", "n2", "n3"]);
    let out = n.on_line(&line("c4", "n2", json!({"type": "add", "element": 5, "msg_id": 1})));
    let s = sends(&out);
    let fwd: Vec<_> = s.iter().filter(|m| m["body"]["type"] == "add").map(|m| m["dest"].clone()).collect();
    assert_eq!(fwd, vec![json!("n1"), json!("n3")]);
    assert_eq!(s.last().unwrap()["body"], json!({"type": "add_ok", "in_reply_to": 1, "msg_id": 2}));
    let r = n.on_line(&line("c4", "n2", json!({"type": "read", "msg_id": 2})));
    assert_eq!(only_reply(&r)["value"], json!([5]));
}

#[test]
fn counter_sums_client_and_forwarded_deltas_and_forwards_only_client_adds() {
    let mut n = node(Mode::Flood, Workload::Counter);
    init(&mut n, "n1", &["n1", "n2", "n3"]);
    let out = n.on_line(&line("c4", "n1", json!({"type": "add", "delta": -4, "msg_id": 1})));
    assert_eq!(sends(&out).len(), 3, "two forwards and one add_ok");
    assert!(sends(&n.on_line(&line("n2", "n1", json!({"type": "add", "delta": 10})))).is_empty());
    let r = n.on_line(&line("c4", "n1", json!({"type": "read", "msg_id": 2})));
    assert_eq!(only_reply(&r), json!({"type": "read_ok", "in_reply_to": 2, "msg_id": 3, "value": 6}));
}

#[test]
fn echo_and_generate_answer_with_their_workload_keys() {
    let mut e = node(Mode::Flood, Workload::Echo);
    init(&mut e, "n1", &["n1"]);
    let r = e.on_line(&line("c1", "n1", json!({"type": "echo", "echo": "Please echo 3", "msg_id": 5})));
    assert_eq!(only_reply(&r), json!({"type": "echo_ok", "echo": "Please echo 3", "in_reply_to": 5, "msg_id": 2}));
    let mut g = node(Mode::Flood, Workload::UniqueIds);
    init(&mut g, "n3", &["n3"]);
    let a = only_reply(&g.on_line(&line("c1", "n3", json!({"type": "generate", "msg_id": 1}))));
    let b = only_reply(&g.on_line(&line("c1", "n3", json!({"type": "generate", "msg_id": 2}))));
    assert_eq!((a["id"].clone(), b["id"].clone()), (json!("n3-0"), json!("n3-1")));
}

#[test]
fn malformed_input_is_logged_and_skipped() {
    let mut n = node(Mode::Flood, Workload::Broadcast);
    init(&mut n, "n1", &["n1"]);
    for bad in
        ["not json", "[1,2]", "{\"src\":1}", "{\"src\":\"c1\",\"body\":{}}", "{\"src\":\"c1\",\"body\":[]}", "\u{0}"]
    {
        let out = n.on_line(bad);
        assert!(matches!(out.as_slice(), [Effect::Log(_)]), "{bad:?} gave {out:?}");
    }
    assert!(n.on_line("").is_empty());
}

#[test]
fn bad_requests_get_a_definite_error_not_a_panic() {
    let mut n = node(Mode::Flood, Workload::Counter);
    init(&mut n, "n1", &["n1"]);
    let r = n.on_line(&line("c1", "n1", json!({"type": "add", "delta": "x", "msg_id": 1})));
    assert_eq!(only_reply(&r)["code"], 12);
    let r = n.on_line(&line("c1", "n1", json!({"type": "cas", "msg_id": 2})));
    assert_eq!(only_reply(&r)["code"], 10);
    let r = n.on_line(&line("c1", "n1", json!({"type": "add", "delta": i64::MAX, "msg_id": 3})));
    only_reply(&r);
    n.on_line(&line("c1", "n1", json!({"type": "add", "delta": i64::MAX, "msg_id": 4})));
    assert_eq!(only_reply(&n.on_line(&line("c1", "n1", json!({"type": "read", "msg_id": 5}))))["value"], i64::MAX);
}

#[test]
fn messages_before_init_are_skipped() {
    let mut n = node(Mode::Flood, Workload::Broadcast);
    let out = n.on_line(&line("c1", "n1", json!({"type": "read", "msg_id": 1})));
    assert!(matches!(out.as_slice(), [Effect::Log(_)]));
}

#[test]
fn crash_after_init_replies_then_exits_with_status_3() {
    let mut n = node(Mode::CrashAfterInit, Workload::Broadcast);
    let out = init(&mut n, "n1", &["n1"]);
    assert_eq!(only_reply(&out)["type"], "init_ok");
    assert_eq!(out.last(), Some(&Effect::Exit(3)));
}

#[test]
fn hang_init_never_replies() {
    let mut n = node(Mode::HangInit, Workload::Broadcast);
    assert!(sends(&init(&mut n, "n1", &["n1"])).is_empty());
}

#[test]
fn garbage_replaces_only_the_first_update_reply() {
    let mut n = node(Mode::Garbage, Workload::GSet);
    init(&mut n, "n1", &["n1"]);
    let first = n.on_line(&line("c1", "n1", json!({"type": "add", "element": 1, "msg_id": 1})));
    assert!(first.contains(&Effect::Raw(GARBAGE_LINE.into())));
    assert!(sends(&first).is_empty());
    let second = n.on_line(&line("c1", "n1", json!({"type": "add", "element": 2, "msg_id": 2})));
    assert_eq!(only_reply(&second)["type"], "add_ok");
    assert!(serde_json::from_str::<Value>(GARBAGE_LINE).is_err());
}

#[test]
fn late_reply_delays_updates_but_not_reads() {
    let mut n = node(Mode::LateReply, Workload::Broadcast);
    init(&mut n, "n1", &["n1"]);
    let out = n.on_line(&line("c1", "n1", json!({"type": "broadcast", "message": 1, "msg_id": 1})));
    assert!(
        matches!(out.as_slice(), [Effect::SendAfter(d, m)] if *d == LATE_REPLY_DELAY && m["body"]["type"] == "broadcast_ok")
    );
    assert!(LATE_REPLY_DELAY.as_millis() > 5_000, "must exceed the 5 s client timeout");
    only_reply(&n.on_line(&line("c1", "n1", json!({"type": "read", "msg_id": 2}))));
}

#[test]
fn extra_key_adds_oops_to_every_read_ok() {
    let mut n = node(Mode::ExtraKey, Workload::Counter);
    init(&mut n, "n1", &["n1"]);
    let r = only_reply(&n.on_line(&line("c1", "n1", json!({"type": "read", "msg_id": 1}))));
    assert_eq!(r["oops"], 1);
}

#[test]
fn error_reply_answers_updates_with_code_11_and_does_not_apply_them() {
    let mut n = node(Mode::ErrorReply, Workload::Broadcast);
    init(&mut n, "n1", &["n1"]);
    let e = only_reply(&n.on_line(&line("c1", "n1", json!({"type": "broadcast", "message": 1, "msg_id": 1}))));
    assert_eq!((e["type"].clone(), e["code"].clone()), (json!("error"), json!(11)));
    let r = only_reply(&n.on_line(&line("c1", "n1", json!({"type": "read", "msg_id": 2}))));
    assert_eq!(r["messages"], json!([]));
}

// ---- A FIFO cluster: exact server message counts per broadcast (spec §12). ----

/// Topologies per spec §3.6 (independent of the harness's implementation on purpose).
fn topology(kind: &str, nodes: &[String]) -> BTreeMap<String, Vec<String>> {
    let n = nodes.len();
    let mut t = BTreeMap::new();
    for (idx, name) in nodes.iter().enumerate() {
        let nb: Vec<usize> = match kind {
            "total" => (0..n).filter(|&j| j != idx).collect(),
            "line" => [idx.checked_sub(1), Some(idx + 1).filter(|&j| j < n)].into_iter().flatten().collect(),
            "grid" => {
                let side = (n as f64).sqrt().ceil() as usize;
                let (i, j) = ((idx / side) as i64, (idx % side) as i64);
                [(i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)]
                    .into_iter()
                    .filter(|&(a, b)| a >= 0 && b >= 0 && (b as usize) < side && (a as usize) * side + (b as usize) < n)
                    .map(|(a, b)| a as usize * side + b as usize)
                    .collect()
            }
            tree => {
                let b: usize = tree.strip_prefix("tree").unwrap().parse().unwrap_or(2);
                let parent = (idx > 0).then(|| (idx - 1) / b);
                parent.into_iter().chain((b * idx + 1..=b * idx + b).filter(|&c| c < n)).collect()
            }
        };
        t.insert(name.clone(), nb.into_iter().map(|j| nodes[j].clone()).collect());
    }
    t
}

/// Runs `broadcasts` client broadcasts (round robin over nodes) through a FIFO network; returns server messages sent.
fn server_messages(mode: Mode, kind: &str, n: usize, broadcasts: usize) -> (usize, usize) {
    let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    let topo = topology(kind, &names);
    let edges = topo.values().map(Vec::len).sum::<usize>() / 2;
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for name in &names {
        let mut node = node(mode, Workload::Broadcast);
        init(&mut node, name, &all);
        node.on_line(&line("c9", name, json!({"type": "topology", "topology": topo, "msg_id": 1})));
        nodes.insert(name.clone(), node);
    }
    let mut queue: VecDeque<Value> = VecDeque::new();
    let mut server = 0;
    for b in 0..broadcasts {
        let dest = &names[b % n];
        let body = json!({"type": "broadcast", "message": b, "msg_id": 1});
        queue.push_back(json!({"src": "c100", "dest": dest, "body": body}));
        while let Some(m) = queue.pop_front() {
            let dest = m["dest"].as_str().unwrap();
            let Some(node) = nodes.get_mut(dest) else {
                continue;
            };
            for out in sends(&node.on_line(&m.to_string())) {
                if !out["dest"].as_str().unwrap().starts_with('c') {
                    server += 1;
                    queue.push_back(out);
                }
            }
        }
    }
    for (name, node) in &mut nodes {
        let r = only_reply(&node.on_line(&line("c1", name, json!({"type": "read", "msg_id": 7}))));
        assert_eq!(r["messages"].as_array().unwrap().len(), broadcasts, "{name} on {kind} missed values");
    }
    (server, edges)
}

#[test]
fn spec_edge_counts_hold_for_the_test_topologies() {
    for (kind, n, e) in [("grid", 25, 40), ("grid", 5, 5), ("line", 25, 24), ("tree4", 25, 24), ("total", 25, 300)] {
        let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        assert_eq!(topology(kind, &names).values().map(Vec::len).sum::<usize>(), 2 * e, "{kind} {n}");
    }
}

#[test]
fn flood_sends_2e_and_skip_sender_sends_2e_minus_n_minus_1_per_broadcast() {
    for kind in ["grid", "line", "tree2", "tree3", "tree4", "total"] {
        for n in [1, 2, 5, 7, 25] {
            let (flood, e) = server_messages(Mode::Flood, kind, n, 6);
            assert_eq!(flood, 6 * 2 * e, "flood {kind} {n}");
            let (skip, _) = server_messages(Mode::FloodSkipSender, kind, n, 6);
            assert_eq!(skip, 6 * (2 * e + 1 - n), "skip-sender {kind} {n}");
        }
    }
    // spec §12's figures for 25 nodes.
    assert_eq!(server_messages(Mode::FloodSkipSender, "grid", 25, 1).0, 56);
    assert_eq!(server_messages(Mode::FloodSkipSender, "line", 25, 1).0, 24);
    assert_eq!(server_messages(Mode::FloodSkipSender, "total", 25, 1).0, 576);
}
