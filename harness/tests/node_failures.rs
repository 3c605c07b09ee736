//! How the harness handles nodes that misbehave (spec §2 step 7, §3.1, §3.3, §3.4, §5.3, §14), using the
//! reference node's fault modes. Single-node clusters keep the unavoidable 5 s client timeouts few.

mod common;

use common::{Run, client_completions, harness};
use serde_json::Value;

/// A short one-node run of `workload` with the reference node in `mode`.
fn one_node(name: &str, workload: &str, mode: &str, recovery: &str) -> Run {
    one_node_for(name, workload, mode, "2", recovery)
}

/// Like [`one_node`] with a chosen `--time-limit`.
fn one_node_for(name: &str, workload: &str, mode: &str, time_limit: &str, recovery: &str) -> Run {
    let flags =
        ["--node-count", "1", "--time-limit", time_limit, "--rate", "10", "--recovery", recovery, "--seed", "5"];
    harness(file!(), name, workload, &flags, &[mode, workload])
}

/// Exit codes of a run that reached its analysis (valid, invalid or unknown), as opposed to a crash (255).
fn analysed(run: &Run) -> bool {
    matches!(run.code, Some(0..=2))
}

#[test]
fn a_node_that_crashes_after_init_makes_the_run_crash_naming_the_node() {
    // Maelstrom finds the crash at teardown (spec §2 step 7); the harness reports it as soon as the node exits. The
    // outcome is the same: exit 255, no analysis.
    let run = one_node("crash_after_init", "echo", "crash-after-init", "1");
    assert_eq!(run.code, Some(255), "node crash → exit 255 (spec §1.3)");
    let text = format!("{}{}", run.stderr, run.stdout);
    assert!(text.contains("n0"), "the message names the node:\n{text}");
    assert!(text.to_lowercase().contains("crash"), "the message says it crashed:\n{text}");
    assert!(
        run.stderr.contains("last stderr lines of n0")
            && run.stderr.contains("crash-after-init: exiting with status 3"),
        "the crash report quotes the node's last stderr line:\n{}",
        run.stderr
    );
}

#[test]
fn a_node_that_never_answers_init_makes_the_run_crash_naming_the_node() {
    // spec §3.3: 10 s init timeout, then a crash.
    let run = one_node("hang_init", "broadcast", "hang-init", "1");
    assert_eq!(run.code, Some(255));
    let text = format!("{}{}", run.stderr, run.stdout);
    assert!(text.contains("n0"), "the message names the node:\n{text}");
    assert!(text.contains("init"), "the message names the init handshake:\n{text}");
}

#[test]
fn a_garbage_line_is_diagnosed_and_the_run_still_completes() {
    // spec §3.1 / §14.1: the harness stops reading n0's stdout after the bad line, but says so and finishes.
    let run = one_node("garbage", "broadcast", "garbage", "1");
    assert!(analysed(&run), "the run completes with a verdict, exit {:?}", run.code);
    let diagnostics = run.diagnostics();
    assert!(
        diagnostics.iter().any(|d| d.contains("n0") && d.contains("this is not JSON")),
        "a diagnostic names the node and quotes the line: {diagnostics:?}"
    );
}

#[test]
fn a_reply_after_the_client_was_closed_is_diagnosed_and_the_run_still_completes() {
    // A worker closes its client lazily, when it starts its next op under a new process (spec §5.1). With a 7 s
    // main phase, the broadcast invoked near t = 0.3 s (seed 5) times out at ~5.3 s (:info), the worker goes on
    // at once with a new client, and the broadcast_ok lands at ~6.3 s on the closed client: an invalid
    // destination (spec §3.1, §4.4), after which n0's stdout is ignored.
    let run = one_node_for("late_reply_closed", "broadcast", "late-reply", "7", "1");
    assert!(analysed(&run), "the run completes with a verdict, exit {:?}", run.code);
    let history = run.history();
    let broadcasts: Vec<&Value> =
        client_completions(&history).into_iter().filter(|op| op["f"] == "broadcast").collect();
    assert!(!broadcasts.is_empty());
    assert!(broadcasts.iter().all(|op| op["type"] == "info"), "unanswered broadcasts are :info (spec §5.3)");
    let diagnostics = run.diagnostics();
    assert!(
        diagnostics.iter().any(|d| {
            let d = d.to_lowercase();
            d.contains("n0") && (d.contains("dest") || d.contains("closed"))
        }),
        "a diagnostic names the node and the invalid destination / closed client: {diagnostics:?}"
    );
    // The rejected reply is not journaled (spec §4.4): each timed-out op contributes its request only.
    let completions = client_completions(&history);
    let timed_out = completions.iter().filter(|op| op["error"]["kind"] == "net-timeout").count() as u64;
    let answered = completions.len() as u64 - timed_out;
    assert_eq!(common::net_count(&run.results(), "clients", "msg-count"), 4 + 2 * answered + timed_out);
}

#[test]
fn a_late_reply_to_a_client_not_yet_closed_is_counted_and_dropped_silently() {
    // Main phase 2 s: after the broadcast's timeout (~5.3 s) the worker has no next op until the final read
    // (~5.3 + 3 s recovery), so its old client is still open when the broadcast_ok lands (~6.3 s): the network
    // takes it (one more client message, spec §4.4: "2 if a late reply was still accepted"), the client drops it.
    let run = one_node("late_reply_open", "broadcast", "late-reply", "3");
    assert!(analysed(&run), "exit {:?}", run.code);
    assert_eq!(run.diagnostics(), Vec::<String>::new(), "nothing went wrong on the wire");
    let history = run.history();
    let completions = client_completions(&history);
    let timed_out = completions.iter().filter(|op| op["error"]["kind"] == "net-timeout").count() as u64;
    assert_eq!(timed_out, 1, "exactly one broadcast was in flight when the main phase ended");
    let answered = completions.len() as u64 - timed_out;
    let results = run.results();
    // init 2 + topology 2 + 2 per answered op + request and late reply of the timed-out broadcast.
    assert_eq!(common::net_count(&results, "clients", "msg-count"), 4 + 2 * answered + 2);
    let final_read = completions.iter().find(|op| op["final?"] == true).expect("a final read");
    assert_eq!(final_read["type"], "ok", "n0's stdout is still read: {final_read}");
}

#[test]
fn a_reply_with_an_extra_key_is_malformed_and_the_diagnostic_names_the_key() {
    // spec §3.4 closed schemas, §5.3(b): a malformed reply is an uncaught exception → :info, indeterminate.
    let run = one_node("extra_key", "broadcast", "extra-key", "1");
    assert_eq!(run.code, Some(1), "read never ok → :stats invalid (spec §9.5)");
    let history = run.history();
    let reads: Vec<&Value> = client_completions(&history).into_iter().filter(|op| op["f"] == "read").collect();
    assert!(!reads.is_empty());
    for op in &reads {
        assert_eq!(op["type"], "info", "{op}");
        assert_eq!(op["error"]["kind"], "indeterminate", "{op}");
    }
    let diagnostics = run.diagnostics();
    assert!(diagnostics.iter().any(|d| d.contains("oops")), "a diagnostic names the extra key: {diagnostics:?}");
}

#[test]
fn error_replies_make_broadcasts_fail_with_a_definite_code_11() {
    // spec §3.4 error registry, §5.3(a): a definite error → :fail, even for the non-idempotent broadcast.
    let run = one_node("error_reply", "broadcast", "error-reply", "1");
    assert!(analysed(&run), "exit {:?}", run.code);
    let history = run.history();
    let broadcasts: Vec<&Value> =
        client_completions(&history).into_iter().filter(|op| op["f"] == "broadcast").collect();
    assert!(!broadcasts.is_empty());
    for op in &broadcasts {
        assert_eq!(op["type"], "fail", "{op}");
        assert_eq!(op["error"]["kind"], "rpc", "{op}");
        assert_eq!(op["error"]["code"], 11, "{op}");
        assert_eq!(op["error"]["name"], "temporarily-unavailable", "{op}");
    }
    let by_f = &run.results()["stats"]["by-f"]["broadcast"];
    assert_eq!(by_f["ok-count"], 0);
    assert_eq!(by_f["fail-count"].as_u64().unwrap(), broadcasts.len() as u64);
}

#[test]
fn a_reply_with_a_wrong_in_reply_to_names_the_node_and_the_id() {
    // The client drops it (spec §3.4), so the broadcast times out; without the diagnostic the run would only say
    // "invalid".
    let run = one_node("wrong_reply_id", "broadcast", "wrong-reply-id", "1");
    assert!(analysed(&run), "exit {:?}", run.code);
    let diagnostics = run.diagnostics();
    assert!(
        diagnostics
            .iter()
            .any(|d| d.starts_with("n0: replied to c") && d.contains("in_reply_to 100") && d.contains("never sent")),
        "a diagnostic names the node and the wrong id: {diagnostics:?}"
    );
}

#[test]
fn a_node_that_stops_reading_stdin_after_topology_is_named_with_the_reason() {
    let run = one_node("deaf", "broadcast", "deaf-after-topology", "1");
    assert!(analysed(&run), "exit {:?}", run.code);
    let diagnostics = run.diagnostics();
    assert!(
        diagnostics.iter().any(|d| d.starts_with("n0: stopped reading its stdin")),
        "a diagnostic names the node and says it stopped reading: {diagnostics:?}"
    );
}
