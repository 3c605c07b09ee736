//! Verdicts and exit codes (spec §1.3, §9) of whole runs against the reference node.

mod common;

use common::{NODE, harness, harness_raw};
use serde_json::Value;

#[test]
fn silent_node_is_invalid_with_lost_elements() {
    // spec §9.1 worked example: nodes that never talk lose every element but those of the last-read node.
    let flags = ["--node-count", "5", "--time-limit", "2", "--rate", "20", "--recovery", "1", "--seed", "3"];
    let run = harness(file!(), "silent", "broadcast", &flags, &["silent"]);
    assert_eq!(run.code, Some(1), "invalid → exit 1");
    let results = run.results();
    let workload = &results["workload"];
    assert_eq!(workload["valid?"], Value::Bool(false));
    assert_eq!(results["valid?"], Value::Bool(false));
    let lost = workload["lost-count"].as_u64().unwrap();
    assert!(lost > 0);
    assert_eq!(workload["lost"].as_array().unwrap().len() as u64, lost);
    assert!(workload["stable-count"].as_u64().unwrap() >= 1, "the last-read node's own elements are stable");
    assert_eq!(common::net_count(&results, "servers", "msg-count"), 0, "silent nodes send nothing to each other");
}

macro_rules! valid_workloads {
    ($($case:ident: $workload:literal;)*) => {
        /// Every workload in scope passes with the flooding reference node: exit 0, `valid?` true.
        mod every_workload_is_valid_with_the_reference_node {
            use super::*;
            $(
                #[test]
                fn $case() {
                    let flags = ["--node-count", "3", "--time-limit", "2", "--rate", "30", "--recovery", "1"];
                    let run = harness(file!(), stringify!($case), $workload, &flags, &["flood", $workload]);
                    assert_eq!(run.code, Some(0));
                    let results = run.results();
                    assert_eq!(results["valid?"], Value::Bool(true));
                    assert_eq!(results["workload"]["valid?"], Value::Bool(true));
                    assert!(results["stats"]["ok-count"].as_u64().unwrap() > 0);
                    assert!(results.get("diagnostics").is_none(), "no diagnostics: {:?}", results["diagnostics"]);
                }
            )*
        }
    };
}

valid_workloads! {
    g_set: "g-set";
    g_counter: "g-counter";
    pn_counter: "pn-counter";
    echo: "echo";
    unique_ids: "unique-ids";
}

#[test]
fn counters_forward_each_add_to_the_other_nodes_exactly_once() {
    // The reference node sends N − 1 server messages per add (and none per read).
    let flags = ["--node-count", "3", "--time-limit", "2", "--rate", "30", "--recovery", "1"];
    let run = harness(file!(), "pn_counter_counts", "pn-counter", &flags, &["flood", "pn-counter"]);
    assert_eq!(run.code, Some(0));
    let adds = common::invocations(&run.history(), "add");
    assert!(adds > 0);
    assert_eq!(common::net_count(&run.results(), "servers", "msg-count"), 2 * adds);
}

#[test]
fn bad_flags_exit_254() {
    let cases: [&[&str]; 5] = [
        &["test", "-w", "no-such-workload", "--bin", NODE],
        &["test", "-w", "broadcast", "--bin", NODE, "--time-limit", "1.5"],
        &["test", "-w", "broadcast"],
        &["test", "-w", "broadcast", "--bin", NODE, "--topology", "ring"],
        &["test", "-w", "broadcast", "--bin", NODE, "--concurrency", "2x"],
    ];
    for args in cases {
        let run = harness_raw(args);
        assert_eq!(run.code, Some(254), "{args:?}\nstderr: {}", run.stderr);
        assert!(!run.stderr.trim().is_empty() || !run.stdout.trim().is_empty(), "{args:?}: the error is printed");
    }
}
