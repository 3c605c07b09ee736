//! Whole clusters of the `osmosis` node through the harness, in-process: every workload Maelstrom checks, with and
//! without partitions, short time limits. Each run keeps its store under `target/tmp/cluster/<case>/` to read when
//! a test fails (results.json, history, node logs).

use std::path::Path;

use osmosis_harness::checker::Validity;
use osmosis_harness::checker::edn::Edn;
use osmosis_harness::cli::{Command, parse};
use osmosis_harness::{CheckedRun, run_and_check};

const NODE: &str = env!("CARGO_BIN_EXE_osmosis");

/// Runs `osmosis-harness test --bin <osmosis> <args>` in-process with its own store and seed 1.
fn run(case: &str, args: &str) -> CheckedRun {
    let store = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cluster").join(case);
    let _ = std::fs::remove_dir_all(&store);
    let store = store.to_string_lossy().into_owned();
    let mut argv = vec!["osmosis-harness", "test", "--bin", NODE, "--store", &store, "--seed", "1"];
    argv.extend(args.split_whitespace());
    let argv: Vec<String> = argv.into_iter().map(str::to_owned).collect();
    let cli = parse(&argv).unwrap_or_else(|e| panic!("bad args {args}: {e:?}"));
    let Command::Test(test) = cli.command else { panic!("not a test command") };
    let config = test.validate(1).unwrap_or_else(|e| panic!("bad args {args}: {e:?}"));
    run_and_check(&config).unwrap_or_else(|e| panic!("{case} crashed: {e}"))
}

fn lost(run: &CheckedRun) -> Option<i128> {
    run.results.workload_edn().get("lost-count").and_then(Edn::as_int)
}

fn assert_valid(case: &str, run: &CheckedRun) {
    assert_eq!(run.results.valid(), Validity::True, "{case}: {}", run.results.to_edn());
}

/// A set workload is valid, loses nothing and every element it was given ends up stable.
fn assert_set_converged(case: &str, run: &CheckedRun) {
    assert_valid(case, run);
    assert_eq!(lost(run), Some(0), "{case}");
    let w = run.results.workload_edn();
    let attempts = w.get("attempt-count").and_then(Edn::as_int);
    assert!(attempts.is_some_and(|n| n > 0), "{case}: no elements were added");
    assert_eq!(w.get("stable-count").and_then(Edn::as_int), attempts, "{case}: every element is stable");
}

const SHORT: &str = "--node-count 5 --latency 20 --rate 50 --time-limit 4 --recovery 4";
const PARTITIONED: &str =
    "--node-count 5 --latency 20 --rate 50 --time-limit 8 --recovery 6 --nemesis partition --nemesis-interval 2";

#[test]
fn broadcast_is_valid_and_loses_nothing() {
    let r = run("broadcast", &format!("-w broadcast {SHORT} --topology tree4"));
    assert_set_converged("broadcast", &r);
}

#[test]
fn broadcast_loses_nothing_across_partitions() {
    let r = run("broadcast-partition", &format!("-w broadcast {PARTITIONED}"));
    assert_set_converged("broadcast-partition", &r);
}

#[test]
fn g_set_is_valid_and_loses_nothing() {
    let r = run("g-set", &format!("-w g-set {SHORT} g-set"));
    assert_set_converged("g-set", &r);
}

#[test]
fn g_set_loses_nothing_across_partitions() {
    let r = run("g-set-partition", &format!("-w g-set {PARTITIONED} g-set"));
    assert_set_converged("g-set-partition", &r);
}

#[test]
fn counters_read_an_acceptable_value_with_and_without_partitions() {
    for (case, workload, extra) in [
        ("g-counter", "g-counter", ""),
        ("pn-counter", "pn-counter", ""),
        ("g-counter-partition", "g-counter", "--nemesis partition --nemesis-interval 2"),
        ("pn-counter-partition", "pn-counter", "--nemesis partition --nemesis-interval 2"),
    ] {
        let r = run(
            case,
            &format!("-w {workload} --node-count 3 --rate 50 --time-limit 6 --recovery 8 {extra} {workload}"),
        );
        assert_valid(case, &r);
        let final_reads = r.results.workload_edn().get("final-reads");
        assert!(matches!(final_reads, Some(Edn::Vector(v) | Edn::List(v)) if v.len() == 3), "{case}: {final_reads:?}");
    }
}

#[test]
fn echo_and_unique_ids_are_valid_with_and_without_partitions() {
    for (case, workload, extra) in [
        ("echo", "echo", ""),
        ("unique-ids", "unique-ids", ""),
        ("unique-ids-partition", "unique-ids", "--nemesis partition --nemesis-interval 1"),
    ] {
        let r = run(case, &format!("-w {workload} --node-count 3 --rate 50 --time-limit 3 {extra} {workload}"));
        assert_valid(case, &r);
    }
}
