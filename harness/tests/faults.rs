//! The faults beyond Maelstrom, end to end with node processes: a targeted kill is a real SIGKILL and a respawn
//! that gets `init` again, a pause holds the node's messages, a targeted cut is a partition isolating the node,
//! and all of them are in the history and under `:faults` in the results.

mod common;

use common::{harness, net_count};
use serde_json::Value;

#[test]
fn targeted_kill_pause_and_cut_happen_on_time_and_are_recorded() {
    let flags = [
        "--node-count",
        "3",
        "--time-limit",
        "3",
        "--rate",
        "30",
        "--recovery",
        "1",
        "--seed",
        "2",
        "--fault",
        "kill:n1:1-2",
        "--fault",
        "pause:n2:1-2.5,cut:n0:0.5-1.5",
    ];
    let run = harness(file!(), "targeted", "broadcast", &flags, &["flood"]);
    assert!(matches!(run.code, Some(0 | 1)), "the run is analysed, exit {:?}", run.code);
    let history = run.history();
    // (f, completion value, invocation time): nemesis ops are an invocation at the scheduled time and, right after,
    // a completion when applied (a little later in real time).
    let ops: Vec<&Value> = history.iter().filter(|op| op["process"] == "nemesis").collect();
    let nemesis: Vec<(&str, &Value, u64)> =
        ops.chunks(2).map(|p| (p[1]["f"].as_str().unwrap(), &p[1]["value"], p[0]["time"].as_u64().unwrap())).collect();
    let find = |f: &str| nemesis.iter().find(|(g, _, _)| *g == f).unwrap_or_else(|| panic!("no {f}: {nemesis:?}"));
    let ms = |t: u64| t / 1_000_000;
    assert_eq!(find("kill").1, &serde_json::json!(["n1"]));
    assert_eq!(find("start").1, &serde_json::json!(["n1"]));
    assert_eq!((ms(find("kill").2), ms(find("start").2)), (1000, 2000), "scheduled on time, in history time");
    assert_eq!(find("pause").1, &serde_json::json!(["n2"]));
    assert_eq!(ms(find("resume").2), 2500);
    let cut = find("start-partition");
    assert_eq!(cut.1[0], "isolated");
    assert_eq!(cut.1[1]["n0"], serde_json::json!(["n1", "n2"]), "the cut isolates n0");
    assert_eq!(ms(cut.2), 500);

    // A real SIGKILL and a new process: n1's log holds two startups, and the new process got init.
    let log = std::fs::read_to_string(run.dir().join("node-logs/n1.log")).unwrap();
    assert_eq!(log.matches("osmosis-reference-node: Config").count(), 2, "{log}");
    let journal = std::fs::read_to_string(run.dir().join("net-journal.jsonl")).unwrap();
    let inits = journal.lines().filter(|l| l.contains(r#""dest":"n1""#) && l.contains(r#""type":"init""#)).count();
    assert_eq!(inits, 2);

    let results = run.results();
    let faults = &results["faults"];
    assert_eq!(faults["extensions?"], true);
    let events = faults["events"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> =
        events.iter().map(|e| (e["fault"].as_str().unwrap(), e["what"].as_str().unwrap())).collect();
    assert!(
        kinds.contains(&("kill", "n1"))
            && kinds.contains(&("pause", "n2"))
            && kinds.contains(&("partition", "isolate n0")),
        "{kinds:?}"
    );
    assert!(events.iter().all(|e| e["to"].is_u64()), "every fault ended: {events:?}");
    assert!(net_count(&results, "servers", "send-count") > 0);

    // The ideal (an osmosis extension) is a lower bound under a real kill, pause and cut too: no read returned an
    // element before the ideal network could have brought it to that node's life.
    assert_eq!(results["ideal"]["early-read-count"], 0, "{}", results["ideal"]);
    assert!(results["ideal"]["excess"]["0"].as_i64().is_none_or(|e| e >= 0), "{}", results["ideal"]);
}
