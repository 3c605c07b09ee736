use osmosis_crdt::Reconcile;
use osmosis_crdt::repair::Items;
use proptest::prelude::*;
use serde_json::{Map, json};

use super::*;
use crate::cli::default_config;

const T0: Duration = Duration::ZERO;

/// A node that answers updates at once (`--acks applied`): these tests look at what a request does, not when it
/// is answered (held answers have tests of their own, with [`holding`]).
fn fresh(workload: Workload) -> Node {
    Node::new(Settings { workload, config: default_config(workload), seed: 1, incarnation: 0, acks: Acks::Applied })
        .unwrap()
}

/// A node with the binary's defaults (`--acks sent`) and `incarnation`, initialised as `me` of n1, n2, n3.
fn holding(workload: Workload, me: &str, incarnation: u64) -> Node {
    let settings = Settings { workload, config: default_config(workload), seed: 1, incarnation, acks: Acks::Sent };
    let mut node = Node::new(settings).unwrap();
    let init = json!({"src": "c0", "dest": me, "body": {"type": "init", "node_id": me, "node_ids": ["n1", "n2", "n3"], "msg_id": 1}});
    feed(&mut node, T0, &init.to_string());
    node
}

/// Feeds `line` and returns the output lines as JSON values.
fn feed(node: &mut Node, now: Duration, line: &str) -> Vec<Value> {
    node.handle_line(now, line);
    node.take_output().iter().map(|l| serde_json::from_str(l).expect("output lines are JSON")).collect()
}

/// Sends `body` from client c1 to n1 and returns the output bodies.
fn ask(node: &mut Node, body: Value) -> Vec<Value> {
    let line = json!({"src": "c1", "dest": "n1", "body": body}).to_string();
    feed(node, T0, &line).into_iter().map(|m| m["body"].clone()).collect()
}

fn initialised(workload: Workload) -> Node {
    let mut node = fresh(workload);
    let out = ask(&mut node, json!({"type": "init", "node_id": "n1", "node_ids": ["n1", "n2", "n3"], "msg_id": 1}));
    assert_eq!(out, [json!({"type": "init_ok", "msg_id": 0, "in_reply_to": 1})]);
    node
}

fn error_code(out: &[Value]) -> Option<u64> {
    match out {
        [body] if body["type"] == "error" => body["code"].as_u64(),
        _ => None,
    }
}

#[test]
fn requests_before_init_are_temporarily_unavailable() {
    let mut node = fresh(Workload::Broadcast);
    for body in [json!({"type": "echo", "echo": 1, "msg_id": 4}), json!({"type": "read", "msg_id": 5})] {
        assert_eq!(error_code(&ask(&mut node, body)), Some(11));
    }
    assert_eq!(node.node_id(), None);
}

#[test]
fn a_malformed_init_is_answered_with_error_12_and_leaves_the_node_uninitialised() {
    let mut node = fresh(Workload::GSet);
    assert_eq!(error_code(&ask(&mut node, json!({"type": "init", "node_id": "n1", "msg_id": 1}))), Some(12));
    assert_eq!(node.node_id(), None);
}

#[test]
fn a_repeated_init_is_acknowledged_if_identical_and_refused_otherwise() {
    let mut node = initialised(Workload::GSet);
    let same = json!({"type": "init", "node_id": "n1", "node_ids": ["n1", "n2", "n3"], "msg_id": 2});
    assert_eq!(ask(&mut node, same)[0]["type"], "init_ok");
    let other = json!({"type": "init", "node_id": "n2", "node_ids": ["n1", "n2"], "msg_id": 3});
    assert_eq!(error_code(&ask(&mut node, other)), Some(22));
    assert_eq!(node.node_id(), Some("n1"));
}

#[test]
fn replies_are_numbered_from_zero_and_name_the_request() {
    let mut node = initialised(Workload::Echo);
    for (i, msg_id) in [7, 3, 7].into_iter().enumerate() {
        let out = ask(&mut node, json!({"type": "echo", "echo": i, "msg_id": msg_id}));
        assert_eq!(out, [json!({"type": "echo_ok", "echo": i, "msg_id": i + 1, "in_reply_to": msg_id})]);
    }
}

#[test]
fn a_request_without_msg_id_is_served_but_not_answered() {
    let mut node = initialised(Workload::GSet);
    let out = ask(&mut node, json!({"type": "add", "element": "x"}));
    assert!(out.iter().all(|b| b["type"] == "ae_push"), "no reply, only the hub's backup push: {out:?}");
    assert!(ask(&mut node, json!({"type": "nope"})).is_empty());
    let out = ask(&mut node, json!({"type": "read", "msg_id": 2}));
    assert_eq!(out[0]["value"], json!(["x"]));
}

#[test]
fn bad_requests_get_the_exact_error_code() {
    let cases = [
        (Workload::Broadcast, json!({"type": "cas", "msg_id": 1}), 10),
        (Workload::GCounter, json!({"type": "broadcast", "message": 1, "msg_id": 1}), 10),
        (Workload::Echo, json!({"type": "read", "msg_id": 1}), 10),
        (Workload::Broadcast, json!({"type": "broadcast", "msg_id": 1}), 12),
        (Workload::GSet, json!({"type": "add", "delta": 1, "msg_id": 1}), 12),
        (Workload::GCounter, json!({"type": "add", "delta": -2, "msg_id": 1}), 12),
        (Workload::PnCounter, json!({"type": "add", "delta": 0.5, "msg_id": 1}), 12),
    ];
    for (workload, body, code) in cases {
        let mut node = initialised(workload);
        assert_eq!(error_code(&ask(&mut node, body.clone())), Some(code), "{workload} {body}");
    }
}

#[test]
fn lines_that_are_not_messages_replies_and_mail_for_others_produce_nothing() {
    let mut node = initialised(Workload::Broadcast);
    let lines = [
        "not json",
        "[]",
        r#"{"src":"c1","dest":"n1","body":{"msg_id":1}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"read","msg_id":-1}}"#,
        r#"{"src":"n2","dest":"n1","body":{"type":"error","code":10,"text":"x","in_reply_to":3}}"#,
        r#"{"src":"n2","dest":"n1","body":{"type":"read_ok","messages":[],"in_reply_to":3,"msg_id":4}}"#,
        r#"{"src":"c1","dest":"n2","body":{"type":"read","msg_id":1}}"#,
    ];
    for line in lines {
        assert!(feed(&mut node, T0, line).is_empty(), "{line}");
    }
}

#[test]
fn malformed_engine_messages_are_dropped_without_reply() {
    let mut node = initialised(Workload::Broadcast);
    let bodies = [
        json!({"type": "ae_push", "msg_id": 1}),
        json!({"type": "ae_push", "seq": 0, "delta": 5, "msg_id": 2}),
        json!({"type": "ae_summary", "summary": "x", "msg_id": 3}),
        json!({"type": "ae_reply", "msg_id": 4}),
        // A well-formed repair of a round this node never took part in.
        json!({"type": "ae_repair", "round": 0, "seq": 0, "repair": {"delta": {"part": {"ints": [], "other": [1]}, "last": true}}}),
    ];
    for body in bodies {
        let line = json!({"src": "n2", "dest": "n1", "body": body}).to_string();
        assert!(feed(&mut node, T0, &line).is_empty(), "{line}");
    }
    assert!(ask(&mut node, json!({"type": "read", "msg_id": 9}))[0]["messages"].as_array().unwrap().is_empty());
}

#[test]
fn broadcast_reads_return_messages_and_g_set_reads_return_value() {
    let mut b = initialised(Workload::Broadcast);
    for m in [json!(3), json!("a"), json!(3)] {
        assert_eq!(ask(&mut b, json!({"type": "broadcast", "message": m, "msg_id": 2}))[0]["type"], "broadcast_ok");
    }
    assert_eq!(ask(&mut b, json!({"type": "read", "msg_id": 3}))[0]["messages"], json!([3, "a"]));
    let mut g = initialised(Workload::GSet);
    ask(&mut g, json!({"type": "add", "element": {"k": [1, 2]}, "msg_id": 2}));
    assert_eq!(ask(&mut g, json!({"type": "read", "msg_id": 3}))[0]["value"], json!([{"k": [1, 2]}]));
}

#[test]
fn counters_add_and_read_locally() {
    let mut g = initialised(Workload::GCounter);
    for d in [4, 0, 3] {
        assert_eq!(ask(&mut g, json!({"type": "add", "delta": d, "msg_id": 2}))[0]["type"], "add_ok");
    }
    assert_eq!(ask(&mut g, json!({"type": "read", "msg_id": 3}))[0]["value"], 7);
    let mut pn = initialised(Workload::PnCounter);
    for d in [4, -9, 0] {
        ask(&mut pn, json!({"type": "add", "delta": d, "msg_id": 2}));
    }
    assert_eq!(ask(&mut pn, json!({"type": "read", "msg_id": 3}))[0]["value"], -5);
}

#[test]
fn counter_overflow_aborts_and_changes_nothing() {
    let mut g = initialised(Workload::GCounter);
    ask(&mut g, json!({"type": "add", "delta": i64::MAX, "msg_id": 1}));
    ask(&mut g, json!({"type": "add", "delta": i64::MAX, "msg_id": 2}));
    // The entry is 2^64 - 2: one more add of 2 overflows it, and the read no longer fits in i64.
    assert_eq!(error_code(&ask(&mut g, json!({"type": "add", "delta": 2, "msg_id": 3}))), Some(14));
    assert_eq!(error_code(&ask(&mut g, json!({"type": "read", "msg_id": 4}))), Some(14));
    let mut pn = initialised(Workload::PnCounter);
    ask(&mut pn, json!({"type": "add", "delta": i64::MAX, "msg_id": 1}));
    assert_eq!(ask(&mut pn, json!({"type": "read", "msg_id": 2}))[0]["value"], i64::MAX);
    ask(&mut pn, json!({"type": "add", "delta": i64::MAX, "msg_id": 3}));
    assert_eq!(error_code(&ask(&mut pn, json!({"type": "read", "msg_id": 4}))), Some(14));
    ask(&mut pn, json!({"type": "add", "delta": -i64::MAX, "msg_id": 5}));
    assert_eq!(ask(&mut pn, json!({"type": "read", "msg_id": 6}))[0]["value"], i64::MAX);
}

#[test]
fn unique_ids_name_the_node_and_its_incarnation_and_count_up() {
    let mut node = initialised(Workload::Broadcast);
    let ids: Vec<Value> =
        (0..3).map(|_| ask(&mut node, json!({"type": "generate", "msg_id": 1}))[0]["id"].clone()).collect();
    assert_eq!(ids, [json!("n1-0-0"), json!("n1-0-1"), json!("n1-0-2")]);
}

#[test]
fn a_restarted_node_with_a_new_incarnation_repeats_no_id_of_its_earlier_life() {
    let generate = |incarnation: u64| {
        let settings = Settings {
            workload: Workload::UniqueIds,
            config: default_config(Workload::UniqueIds),
            seed: 1,
            incarnation,
            acks: Acks::Sent,
        };
        let mut node = Node::new(settings).unwrap();
        feed(&mut node, T0, &json!({"src": "c0", "dest": "n1", "body": {"type": "init", "node_id": "n1", "node_ids": ["n1"], "msg_id": 1}}).to_string());
        (0..3)
            .map(|_| ask(&mut node, json!({"type": "generate", "msg_id": 1}))[0]["id"].clone())
            .collect::<Vec<Value>>()
    };
    let (first, second) = (generate(crate::cli::incarnation()), generate(crate::cli::incarnation()));
    assert!(first.iter().all(|id| !second.contains(id)), "{first:?} and {second:?} share an id");
}

#[test]
fn a_leafs_update_is_pushed_to_the_hub_and_merged_there() {
    let init = |me: &str| json!({"src": "c0", "dest": me, "body": {"type": "init", "node_id": me, "node_ids": ["n1", "n2"], "msg_id": 1}});
    let (mut hub, mut leaf) = (fresh(Workload::Broadcast), fresh(Workload::Broadcast));
    feed(&mut hub, T0, &init("n1").to_string());
    feed(&mut leaf, T0, &init("n2").to_string());
    let line = json!({"src": "c1", "dest": "n2", "body": {"type": "broadcast", "message": 42, "msg_id": 2}});
    let out = feed(&mut leaf, T0, &line.to_string());
    assert_eq!(out.len(), 2, "the reply and the push: the local window is 0");
    assert_eq!(out[1]["dest"], "n1");
    assert_eq!(out[1]["body"]["type"], "ae_push");
    assert!(out[1]["body"].get("msg_id").is_none());
    feed(&mut hub, T0, &out[1].to_string());
    let read = json!({"src": "c1", "dest": "n1", "body": {"type": "read", "msg_id": 3}});
    assert_eq!(feed(&mut hub, T0, &read.to_string())[0]["body"]["messages"], json!([42]));
}

/// The set delta holding the integers of `range`, built as a peer would (roaring run containers: a few bytes per
/// 2^16 elements).
fn int_range(range: std::ops::Range<u64>) -> JsonSet {
    let mut ints = roaring::RoaringTreemap::new();
    ints.insert_range(range);
    let ints = serde_json::to_value(osmosis_crdt::GSet::from_treemap(ints)).unwrap();
    serde_json::from_value(json!({"ints": ints, "other": []})).unwrap()
}

/// The line of an engine message from n2 to n1.
fn from_n2(body: Value) -> String {
    json!({"src": "n2", "dest": "n1", "body": body}).to_string()
}

/// The size of the node's replica ([`Capped::size`]).
fn replica_size(node: &Node) -> u64 {
    match &node.replica {
        Replica::Stateless => 0,
        Replica::Set(e) => e.state().size(),
        Replica::GCounter(e) => e.state().size(),
        Replica::PNCounter(e) => e.state().size(),
    }
}

/// A round message carrying `ints` and `records` (counter entries or JSON values in their record form), as an
/// item part (`state`: false) or a state part.
fn round_part(ints: JsonSet, records: Vec<Vec<u8>>, state: bool) -> Value {
    let items = Items { last: true, ints: ints.ints().clone(), records, want: vec![] };
    serde_json::to_value(if state { Repair::State(items) } else { Repair::Items(items) }).unwrap()
}

/// The records of counter entries `f0..f{n}` at 1 (`half`: a pn-counter's increments 0, decrements 1).
fn fake_entries(n: u64, half: Option<u8>) -> Vec<Vec<u8>> {
    let record = |i: u64| half.into_iter().chain([1]).chain(format!("\"f{i}\"").into_bytes()).collect();
    (0..n).map(record).collect()
}

/// Peer n2 opens round `round` with a summary no replica has, then sends `repair` as its first repair message:
/// the message reaches a live session (the node answered the summary).
fn round_from_n2(node: &mut Node, round: u64, repair: Value) {
    let summary = osmosis_crdt::GSet::from_iter([u64::MAX, 3]).summary();
    node.handle_line(T0, &from_n2(json!({"type": "ae_summary", "round": round, "summary": summary})));
    let answer = node.take_output();
    assert!(answer.iter().any(|l| l.contains("ae_reply")), "the node answers the summary: {answer:?}");
    node.handle_line(T0, &from_n2(json!({"type": "ae_repair", "round": round, "seq": 0, "repair": repair})));
    node.take_output();
}

#[test]
fn a_peer_delta_of_four_billion_elements_is_dropped_and_reads_keep_the_old_state() {
    let mut node = initialised(Workload::Broadcast);
    ask(&mut node, json!({"type": "broadcast", "message": 7, "msg_id": 1}));
    let huge = int_range(0..1 << 32);
    assert_eq!(huge.len(), 1 << 32);
    let line = from_n2(json!({"type": "ae_push", "seq": 0, "delta": huge}));
    assert!(line.len() < 2 << 20, "a line of {} bytes: within what stdin accepts", line.len());
    node.handle_line(T0, &line);
    node.take_output();
    assert_eq!(replica_size(&node), 1, "{}", excerpt(&line));
    // A round's part of one run 0..2^32, written by hand (an honest peer splits parts at 2^20 elements): the
    // bytes `1 0 ff ff ff ff 0f` (last part; gap 0; length − 1 as a varint) in base64.
    let text = "AQD/////Dw==";
    for (round, letter) in [(0, 'E'), (1, 'S')] {
        round_from_n2(&mut node, round, json!(format!("{letter}{text}")));
        assert_eq!(replica_size(&node), 1, "a round's part ({letter})");
    }
    assert_eq!(ask(&mut node, json!({"type": "read", "msg_id": 2}))[0]["messages"], json!([7]));
}

#[test]
fn a_set_fills_up_to_its_cap_then_refuses_new_elements_with_error_14() {
    let mut node = initialised(Workload::GSet);
    ask(&mut node, json!({"type": "add", "element": "x", "msg_id": 1}));
    // 1 + (cap - 1): exactly the cap, merged.
    node.handle_line(T0, &from_n2(json!({"type": "ae_push", "seq": 0, "delta": int_range(0..MAX_SET_ELEMENTS - 1)})));
    node.take_output();
    assert_eq!(replica_size(&node), MAX_SET_ELEMENTS);
    assert_eq!(error_code(&ask(&mut node, json!({"type": "add", "element": "y", "msg_id": 2}))), Some(14));
    assert_eq!(error_code(&ask(&mut node, json!({"type": "add", "element": 1_u64 << 40, "msg_id": 3}))), Some(14));
    for known in [json!("x"), json!(5)] {
        assert_eq!(ask(&mut node, json!({"type": "add", "element": known, "msg_id": 4}))[0]["type"], "add_ok");
    }
    round_from_n2(&mut node, 0, round_part(int_range(1 << 40..(1 << 40) + 1), vec![], false));
    assert_eq!(replica_size(&node), MAX_SET_ELEMENTS);
    round_from_n2(&mut node, 1, round_part(JsonSet::new(), vec![b"\"z\"".to_vec()], false));
    assert_eq!(replica_size(&node), MAX_SET_ELEMENTS, "a JSON value's record counts as one more element");
    // A round's part holds at most 2^20 elements: four fill a fresh replica to the cap.
    let mut b = initialised(Workload::Broadcast);
    let quarter = MAX_SET_ELEMENTS / 4;
    for i in 0..4 {
        round_from_n2(&mut b, i, round_part(int_range(i * quarter..(i + 1) * quarter), vec![], i % 2 == 0));
    }
    assert_eq!(error_code(&ask(&mut b, json!({"type": "broadcast", "message": -1, "msg_id": 1}))), Some(14));
    assert_eq!(replica_size(&b), MAX_SET_ELEMENTS);
}

#[test]
fn counter_deltas_with_too_many_replica_ids_are_dropped_and_local_adds_past_the_cap_abort() {
    let fake = |n: u64| Value::Object((0..n).map(|i| (format!("f{i}"), json!(1))).collect());
    let mut g = initialised(Workload::GCounter);
    ask(&mut g, json!({"type": "add", "delta": 5, "msg_id": 1}));
    g.handle_line(T0, &from_n2(json!({"type": "ae_push", "seq": 0, "delta": fake(MAX_COUNTER_ENTRIES)})));
    assert_eq!(ask(&mut g, json!({"type": "read", "msg_id": 2}))[0]["value"], 5);
    g.handle_line(T0, &from_n2(json!({"type": "ae_push", "seq": 1, "delta": fake(3)})));
    assert_eq!(ask(&mut g, json!({"type": "read", "msg_id": 3}))[0]["value"], 8);

    // A replica at the cap without an entry of its own: the first local add would create one more.
    let mut g = initialised(Workload::GCounter);
    round_from_n2(&mut g, 0, round_part(JsonSet::new(), fake_entries(MAX_COUNTER_ENTRIES, None), false));
    assert_eq!(replica_size(&g), MAX_COUNTER_ENTRIES);
    assert_eq!(error_code(&ask(&mut g, json!({"type": "add", "delta": 1, "msg_id": 1}))), Some(14));
    assert_eq!(ask(&mut g, json!({"type": "read", "msg_id": 2}))[0]["value"], MAX_COUNTER_ENTRIES);

    let mut pn = initialised(Workload::PnCounter);
    let half = MAX_COUNTER_ENTRIES / 2;
    let records = [fake_entries(half, Some(0)), fake_entries(half + 1, Some(1))].concat();
    round_from_n2(&mut pn, 0, round_part(JsonSet::new(), records, true));
    assert_eq!(replica_size(&pn), 0);
    let records = [fake_entries(half, Some(0)), fake_entries(half, Some(1))].concat();
    round_from_n2(&mut pn, 1, round_part(JsonSet::new(), records, true));
    assert_eq!(replica_size(&pn), MAX_COUNTER_ENTRIES);
    assert_eq!(error_code(&ask(&mut pn, json!({"type": "add", "delta": -1, "msg_id": 1}))), Some(14));
    assert_eq!(ask(&mut pn, json!({"type": "read", "msg_id": 2}))[0]["value"], 0);
}

#[test]
fn stateless_workloads_have_no_deadline_and_ignore_engine_messages() {
    let mut node = initialised(Workload::UniqueIds);
    assert_eq!(node.next_deadline(), None);
    let line = json!({"src": "n2", "dest": "n1", "body": {"type": "ae_push", "seq": 0, "delta": {"n2": 1}}});
    assert!(feed(&mut node, T0, &line.to_string()).is_empty());
    node.on_tick(Duration::from_secs(100));
    assert!(node.take_output().is_empty());
}

#[test]
fn nodes_with_different_ids_get_different_seeds() {
    assert_ne!(fnv1a(b"n1"), fnv1a(b"n2"));
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c, "the published FNV-1a 64 test vector");
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[a-z_0-9]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bodies that look like requests and engine messages, with random field values: they reach deep into the handler.
fn near_miss_line() -> impl Strategy<Value = String> {
    let kinds = prop::sample::select(vec![
        "init",
        "echo",
        "topology",
        "broadcast",
        "read",
        "add",
        "generate",
        "ae_push",
        "ae_summary",
        "ae_reply",
        "ae_repair",
        "error",
        "read_ok",
    ]);
    let fields = prop::sample::subsequence(
        vec![
            "msg_id",
            "in_reply_to",
            "message",
            "element",
            "delta",
            "echo",
            "seq",
            "round",
            "summary",
            "repair",
            "topology",
            "node_id",
        ],
        0..5,
    );
    let src = prop::sample::select(vec!["c1", "n2", "n3", "n1", "zz"]);
    (kinds, fields, prop::collection::vec(json_value(), 5), src).prop_map(|(kind, fields, values, src)| {
        let mut body = Map::new();
        body.insert("type".into(), json!(kind));
        for (f, v) in fields.into_iter().zip(values) {
            body.insert(f.into(), v);
        }
        json!({"src": src, "dest": "n1", "body": body}).to_string()
    })
}

fn any_line() -> impl Strategy<Value = String> {
    prop_oneof![".{0,40}", json_value().prop_map(|v| v.to_string()), near_miss_line()]
}

proptest! {
    #[test]
    fn arbitrary_lines_never_panic_and_every_output_is_a_message(
        workload in prop::sample::select(Workload::ALL.to_vec()),
        init_first in any::<bool>(),
        lines in prop::collection::vec(any_line(), 1..20),
    ) {
        let mut node = if init_first { initialised(workload) } else { fresh(workload) };
        let mut now = T0;
        for line in &lines {
            now += Duration::from_millis(300);
            node.handle_line(now, line);
            node.on_tick(now);
            for out in node.take_output() {
                let v: Value = serde_json::from_str(&out).expect("an output line is JSON");
                prop_assert!(v["src"].is_string() && v["dest"].is_string(), "{out}");
                prop_assert!(v["body"]["type"].is_string(), "{out}");
                prop_assert!(!out.contains('\n'));
            }
        }
    }
}

#[test]
fn a_replica_near_its_cap_still_takes_a_state_part_that_mostly_repeats_it() {
    let mut node = initialised(Workload::Broadcast);
    let most = MAX_SET_ELEMENTS - 10;
    node.handle_line(T0, &from_n2(json!({"type": "ae_push", "seq": 0, "delta": int_range(0..most)})));
    node.take_output();
    assert_eq!(replica_size(&node), most);
    // A state part may repeat what the replica has (a peer's whole state), plus one element.
    let part = int_range(most + 1 - (1 << 20)..most + 1);
    round_from_n2(&mut node, 0, round_part(part, vec![], true));
    assert_eq!(replica_size(&node), most + 1, "merged: the union is far below the cap");
}

/// The body types of `out`, and to whom.
fn kinds(out: &[Value]) -> Vec<(String, String)> {
    out.iter()
        .map(|m| (m["dest"].as_str().unwrap().to_owned(), m["body"]["type"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn the_hub_answers_its_clients_update_once_its_batch_has_left_and_a_leaf_at_once() {
    let pair = |dest: &str, kind: &str| (dest.to_owned(), kind.to_owned());
    let mut hub = holding(Workload::Broadcast, "n1", 0);
    let line = |m: u64| {
        json!({"src": "c1", "dest": "n1", "body": {"type": "broadcast", "message": m, "msg_id": m}}).to_string()
    };
    assert!(feed(&mut hub, T0, &line(7)).is_empty(), "held: the batch waits for the relay window");
    assert!(feed(&mut hub, Duration::from_millis(100), &line(8)).is_empty());
    let window = default_config(Workload::Broadcast).relay_window;
    hub.on_tick(window - Duration::from_millis(1));
    assert!(hub.take_output().is_empty());
    hub.on_tick(window);
    let out: Vec<Value> = hub.take_output().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let expected =
        [pair("n2", "ae_push"), pair("n3", "ae_push"), pair("c1", "broadcast_ok"), pair("c1", "broadcast_ok")];
    assert_eq!(kinds(&out), expected, "both answers follow the batch that carries their elements");
    assert_eq!(out[2]["body"]["in_reply_to"], 7);
    // A read is never held, nor an update that is already sent.
    assert_eq!(
        kinds(&feed(
            &mut hub,
            window,
            &json!({"src": "c1", "dest": "n1", "body": {"type": "read", "msg_id": 9}}).to_string()
        )),
        [pair("c1", "read_ok")]
    );
    assert_eq!(kinds(&feed(&mut hub, window, &line(7))), [pair("c1", "broadcast_ok")]);
    // A leaf pushes its client's update at once: the answer follows the push in the same lines.
    let mut leaf = holding(Workload::Broadcast, "n2", 0);
    let line = json!({"src": "c2", "dest": "n2", "body": {"type": "broadcast", "message": 1, "msg_id": 1}});
    assert_eq!(kinds(&feed(&mut leaf, T0, &line.to_string())), [pair("n1", "ae_push"), pair("c2", "broadcast_ok")]);
}

#[test]
fn a_counter_answers_an_add_once_its_batch_has_left() {
    let mut leaf = holding(Workload::GCounter, "n2", 0);
    let add = json!({"src": "c2", "dest": "n2", "body": {"type": "add", "delta": 3, "msg_id": 1}});
    assert!(feed(&mut leaf, T0, &add.to_string()).is_empty());
    let window = default_config(Workload::GCounter).local_window;
    leaf.on_tick(window);
    let out: Vec<Value> = leaf.take_output().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(out.len(), 2);
    assert_eq!((out[0]["dest"].as_str(), out[0]["body"]["delta"].clone()), (Some("n1"), json!({"n2": 3})));
    assert_eq!(out[1]["body"]["type"], "add_ok");
}

#[test]
fn a_restarted_counter_counts_under_an_entry_of_its_own_incarnation_so_its_old_adds_still_count() {
    for workload in [Workload::GCounter, Workload::PnCounter] {
        let mut node = holding(workload, "n1", 5);
        // The other nodes still hold what n1 counted in its first life, under that life's entry.
        let old = match workload {
            Workload::GCounter => json!({"n1-4": 10}),
            _ => json!({"p": {"n1-4": 10}, "n": {}}),
        };
        feed(&mut node, T0, &from_n2(json!({"type": "ae_push", "seq": 0, "delta": old})));
        let add = json!({"src": "c1", "dest": "n1", "body": {"type": "add", "delta": 3, "msg_id": 1}});
        feed(&mut node, T0, &add.to_string());
        let read = json!({"src": "c1", "dest": "n1", "body": {"type": "read", "msg_id": 2}});
        assert_eq!(
            feed(&mut node, T0, &read.to_string())[0]["body"]["value"],
            13,
            "{workload}: 10 before the restart, 3 after"
        );
    }
}

#[test]
fn with_confirmed_answers_a_leaf_answers_once_the_hub_has_acknowledged_its_push() {
    let settings = Settings {
        workload: Workload::Broadcast,
        config: default_config(Workload::Broadcast),
        seed: 1,
        incarnation: 0,
        acks: Acks::Confirmed,
    };
    let mut leaf = Node::new(settings).unwrap();
    let init = json!({"src": "c0", "dest": "n2", "body": {"type": "init", "node_id": "n2", "node_ids": ["n1", "n2"], "msg_id": 1}});
    feed(&mut leaf, T0, &init.to_string());
    let line = json!({"src": "c2", "dest": "n2", "body": {"type": "broadcast", "message": 5, "msg_id": 7}});
    let out = feed(&mut leaf, T0, &line.to_string());
    assert_eq!(kinds(&out), [("n1".to_owned(), "ae_push".to_owned())], "pushed, not answered");
    let ack = json!({"src": "n1", "dest": "n2", "body": {"type": "ae_push", "seq": 0, "delta": {"ints": [], "other": []}, "ack": 0}});
    let out = feed(&mut leaf, Duration::from_millis(300), &ack.to_string());
    assert_eq!(kinds(&out), [("c2".to_owned(), "broadcast_ok".to_owned())]);
    assert_eq!(out[0]["body"]["in_reply_to"], 7);
}

#[test]
fn a_node_numbers_its_rounds_from_its_incarnation_so_a_restarted_one_repeats_no_round_of_its_earlier_life() {
    for incarnation in [0, 1_764_640_000_000_000] {
        let mut node = holding(Workload::Broadcast, "n1", incarnation);
        let mut rounds = Vec::new();
        for _ in 0..20 {
            let Some(at) = node.next_deadline() else { break };
            node.on_tick(at);
            let out = node.take_output().into_iter().map(|l| serde_json::from_str::<Value>(&l).unwrap());
            rounds.extend(out.filter(|m| m["body"]["type"] == "ae_summary").map(|m| m["body"]["round"].as_u64()));
            if rounds.len() >= 2 {
                break;
            }
        }
        assert_eq!(rounds, [Some(incarnation), Some(incarnation + 1)], "incarnation {incarnation}");
    }
}

#[test]
fn a_push_whose_delta_is_shared_is_encoded_as_any_other() {
    let mut delta = JsonSet::new();
    for v in [json!(3), json!(1u64 << 40), json!("x\"delta\":{\"ints\":[],\"other\":[]}"), json!({"delta": []})] {
        delta.insert(&v);
    }
    let delta = Arc::new(delta);
    let suspects = vec![osmosis_antientropy::Report { id: "n\"delta\":".to_string(), ms: 5 }];
    let push: Message<JsonSet> =
        Message::Push { seq: 9, delta: Arc::clone(&delta), ack: Some(4), up: true, urgent: true, suspects };
    let mut shared = Vec::new();
    for dest in ["n\"delta\":{\"ints\":[],\"other\":[]}", "n2"] {
        let envelope = Envelope { src: "n0", dest, body: &push };
        assert_eq!(encode_shared_push(&envelope, &mut shared).unwrap(), encode(&envelope).unwrap());
    }
    assert_eq!(shared.len(), 1, "the delta is encoded once");
}
