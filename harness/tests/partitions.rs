//! The partition nemesis end to end (spec §8): start and stop alternate from the start of the main phase, grudges
//! name real nodes, messages between partitioned nodes are dropped (sent, never received), and the run heals before
//! the recovery sleep and the final reads.

mod common;

use common::{harness, net_count};
use serde_json::Value;

#[test]
fn partitions_alternate_drop_server_messages_and_heal_before_the_final_reads() {
    let flags = [
        "--node-count",
        "5",
        "--time-limit",
        "4",
        "--rate",
        "40",
        "--nemesis",
        "partition",
        "--nemesis-interval",
        "1",
        "--recovery",
        "1",
        "--seed",
        "3",
    ];
    let run = harness(file!(), "partition_flood", "broadcast", &flags, &["flood-skip-sender"]);
    assert!(matches!(run.code, Some(0 | 1)), "the run is analysed, exit {:?}", run.code);
    let history = run.history();
    let nemesis: Vec<&Value> = history.iter().filter(|op| op["process"] == "nemesis").collect();
    assert!(nemesis.len() >= 4, "a few partitions in 4 s at interval 1: {}", nemesis.len());
    assert!(nemesis.iter().all(|op| op["type"] == "info"), "nemesis ops are :info at both ends");

    // Invocation/completion pairs alternate start, stop, start, … and the last one heals.
    let invokes: Vec<&str> = nemesis.iter().step_by(2).map(|op| op["f"].as_str().unwrap()).collect();
    for (i, f) in invokes.iter().enumerate() {
        let expected = if i % 2 == 0 { "start-partition" } else { "stop-partition" };
        assert_eq!(*f, expected, "nemesis op {i}: {invokes:?}");
    }
    assert_eq!(invokes.last(), Some(&"stop-partition"), "the run heals before the final reads");
    let first_client = history.iter().find(|op| op["process"].is_u64()).unwrap();
    assert!(nemesis[0]["time"].as_u64().unwrap() <= first_client["time"].as_u64().unwrap() + 100_000_000);

    // Each start names its grudge over the test's nodes.
    for done in nemesis.iter().skip(1).step_by(2) {
        if done["f"] == "start-partition" {
            assert_eq!(done["value"][0], "isolated");
            let grudge = done["value"][1].as_object().unwrap();
            assert!(grudge.keys().all(|n| ["n0", "n1", "n2", "n3", "n4"].contains(&n.as_str())));
        } else {
            assert_eq!(done["value"], "network-healed");
        }
    }

    // Final reads come after the heal plus the recovery sleep (nemesis ops are instantaneous in the schedule; the
    // heal's completion is stamped microseconds later, when the driver applied it).
    let healed_at = nemesis[nemesis.len() - 2]["time"].as_u64().unwrap();
    let reads: Vec<&Value> = history.iter().filter(|op| op["type"] == "invoke" && op["f"] == "read").collect();
    let finals = &reads[reads.len() - 5..];
    assert!(finals.iter().all(|op| op["final?"] == true));
    assert!(finals.iter().all(|op| op["time"].as_u64().unwrap() >= healed_at + 1_000_000_000));

    // Partitions drop messages at the receiver: some server messages were sent and never received.
    let results = run.results();
    let (sent, received) = (net_count(&results, "servers", "send-count"), net_count(&results, "servers", "recv-count"));
    assert!(received < sent, "partitioned messages are dropped: sent {sent}, received {received}");
    assert_eq!(net_count(&results, "clients", "send-count"), net_count(&results, "clients", "recv-count"));

    // The ideal (an osmosis extension) is a lower bound under the recorded partitions too: no read saw an element
    // before the ideal network could have brought it, and no element became stable sooner than it could.
    let ideal = &results["ideal"];
    assert_eq!(ideal["early-read-count"], 0, "{ideal}");
    assert!(ideal["excess"]["0"].as_i64().is_none_or(|e| e >= 0), "{ideal}");
}
