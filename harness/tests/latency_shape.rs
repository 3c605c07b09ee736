//! The shape of latency (spec §4.2, §4.3, §12): with constant latency L, every server message is delivered no
//! earlier than L after it was sent, and a node that forwards each value directly to every other node (`total`)
//! makes each value stable about L after it is known.
//!
//! This file holds one run so that it has the machine to itself (cargo runs test binaries one after another):
//! the stable-latency bound below is a shape check with room for a loaded CI machine, tight enough to catch a
//! harness that delays messages twice.

mod common;

use std::collections::HashMap;

use common::harness;
use serde_json::Value;

const L_MS: u64 = 100;

#[test]
fn constant_latency_delays_every_server_message_by_l_and_direct_flooding_is_stable_after_about_l() {
    let latency = L_MS.to_string();
    let flags = [
        "--node-count",
        "5",
        "--topology",
        "total",
        "--latency",
        &latency,
        "--latency-dist",
        "constant",
        "--time-limit",
        "3",
        "--rate",
        "40",
        "--recovery",
        "1",
        "--seed",
        "11",
    ];
    let run = harness(file!(), "total_constant_latency", "broadcast", &flags, &["flood"]);
    assert_eq!(run.code, Some(0));

    // The journal: every server message is received at least L after it was sent (never early), and per receiver
    // in the order sent (constant latency is FIFO, spec §4.3).
    let journal = std::fs::read_to_string(run.dir().join("net-journal.jsonl")).unwrap();
    let mut sent: HashMap<u64, (u64, String, String)> = HashMap::new();
    let mut last_id_at: HashMap<String, u64> = HashMap::new();
    let mut server_recvs = 0;
    for line in journal.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let (id, time) = (e["id"].as_u64().unwrap(), e["time"].as_u64().unwrap());
        let (src, dest) = (e["src"].as_str().unwrap().to_owned(), e["dest"].as_str().unwrap().to_owned());
        match e["type"].as_str().unwrap() {
            "send" => {
                sent.insert(id, (time, src, dest));
            }
            "recv" => {
                let (sent_at, s, d) = sent.get(&id).unwrap_or_else(|| panic!("recv of unsent message {id}"));
                assert_eq!((s, d), (&src, &dest));
                if src.starts_with('c') || dest.starts_with('c') {
                    assert!(time >= *sent_at, "client message {id} received before it was sent");
                    continue;
                }
                server_recvs += 1;
                assert!(time >= sent_at + L_MS * 1_000_000, "message {id} {src}->{dest} delivered early");
                if let Some(prev) = last_id_at.insert(dest.clone(), id) {
                    assert!(prev < id, "{dest} received {id} after {prev}: constant latency must be FIFO");
                }
            }
            other => panic!("unknown journal event {other}"),
        }
    }
    let results = run.results();
    assert_eq!(server_recvs, common::net_count(&results, "servers", "recv-count"));
    assert!(server_recvs > 0);

    // Stable latency: a value is on every node L after its broadcast; reads sample that window, so the largest
    // stable latency is about L, never near 2L.
    let latencies = results["workload"]["stable-latencies"].as_object().expect("stable-latencies present");
    for k in ["0", "0.5", "0.95", "0.99", "1"] {
        assert!(latencies.contains_key(k), "quantile {k} missing: {latencies:?}");
    }
    let max = latencies["1"].as_u64().expect("the largest stable latency");
    assert!(max <= L_MS * 3 / 2, "max stable latency {max} ms with L = {L_MS} ms");
    assert_eq!(results["workload"]["lost-count"], 0);

    // The ideal (an osmosis extension): direct flooding is the ideal protocol, so nothing beats it, the ideal is
    // within one L, and no read saw a value before one L could have brought it.
    let ideal = &results["ideal"];
    assert_eq!(ideal["latency-floor-ms"], L_MS);
    assert_eq!(ideal["early-read-count"], 0, "{ideal}");
    assert!(ideal["stable-latencies"]["1"].as_u64().unwrap() <= L_MS, "{ideal}");
    assert!(ideal["excess"]["0"].as_i64().unwrap() >= 0, "{ideal}");
}
