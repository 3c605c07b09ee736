//! The command line: Maelstrom's defaults, validation, node arguments.

use super::node_args::edit_distance;
use super::*;
use crate::latency::{Latency, LatencyDist};
use crate::nemesis::FaultKind;
use crate::topology::TopologyKind;

fn args(extra: &[&str]) -> Result<TestConfig, CliError> {
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_str().unwrap();
    let mut argv = vec!["osmosis-harness", "test", "--bin", exe];
    argv.extend_from_slice(extra);
    let argv: Vec<String> = argv.into_iter().map(str::to_owned).collect();
    let cli = parse(&argv).map_err(|e| CliError(vec![format!("{e:?}")]))?;
    let Command::Test(t) = cli.command else { panic!("parsed as test") };
    t.validate(7)
}

#[test]
fn concurrency_accepts_k_and_kn() {
    assert_eq!(parse_concurrency("3", 5), Ok(3));
    assert_eq!(parse_concurrency("2n", 5), Ok(10));
    assert!(parse_concurrency("n", 5).is_err());
    assert!(parse_concurrency("-1", 5).is_err());
    assert!(parse_concurrency("0n", 5).is_err());
    assert!(parse_concurrency("1.5", 5).is_err());
}

#[test]
fn default_nodes_are_n1_to_n5_and_node_count_names_from_n0() {
    let c = args(&["-w", "echo"]).unwrap();
    assert_eq!(c.nodes, ["n1", "n2", "n3", "n4", "n5"]);
    assert_eq!(c.concurrency, 5);
    let c = args(&["-w", "echo", "--node-count", "3", "--concurrency", "2n"]).unwrap();
    assert_eq!(c.nodes, ["n0", "n1", "n2"]);
    assert_eq!(c.concurrency, 6);
}

#[test]
fn maelstrom_defaults_hold() {
    let c = args(&["-w", "broadcast", "--seed", "9"]).unwrap();
    assert_eq!(c.time_limit_s, 60);
    assert_eq!(c.rate, 5.0);
    assert_eq!(c.latency, Latency { mean_ms: 0, dist: LatencyDist::Constant });
    assert_eq!(c.topology, TopologyKind::Grid);
    assert!(c.faults.is_empty());
    assert_eq!(c.recovery_s, 10.0);
    assert_eq!(c.seed, 9);
}

#[test]
fn trailing_arguments_go_to_the_node() {
    let c = args(&["-w", "g-set", "--node-count", "2", "flood", "--fast"]).unwrap();
    assert_eq!(c.bin_args, ["flood", "--fast"]);
    let c = args(&["-w", "g-set", "--", "flood"]).unwrap();
    assert_eq!(c.bin_args, ["flood"]);
}

#[test]
fn an_unknown_flag_is_an_error_not_a_node_argument() {
    for bad in [
        &["-w", "echo", "--latecy", "100", "--time-limit", "2"][..],
        &["-w", "echo", "--latecy=100", "--time-limit", "2"],
        &["-w", "echo", "--time-limit", "2", "--latecy", "100"],
        &["-w", "g-set", "g-set", "--seed", "3"],
    ] {
        let e = args(bad).unwrap_err();
        assert!(e.0[0].contains("NodeArgs"), "{bad:?}: {e}");
    }
    let e = args(&["-w", "echo", "--time-limit", "2", "--latecy", "100"]).unwrap_err();
    assert!(e.0[0].contains("did you mean --latency?"), "{e}");
    let c = args(&["-w", "g-set", "--", "g-set", "--seed", "3"]).unwrap();
    assert_eq!(c.bin_args, ["g-set", "--seed", "3"], "after `--`, anything goes to the node");
    let c = args(&["-w", "broadcast", "--time-limit", "2", "--relay-window-ms", "600", "--overlay", "full"]).unwrap();
    assert_eq!(c.bin_args, ["--relay-window-ms", "600", "--overlay", "full"], "node flags after the last harness flag");
    let c = args(&["-wbroadcast", "--time-limit=3", "--sim", "flood"]);
    assert!(c.as_ref().is_err_and(|e| e.0[0].contains("no in-process node")), "inline values are harness flags: {c:?}");
}

#[test]
fn edit_distance_counts_letters() {
    assert_eq!((edit_distance("latecy", "latency"), edit_distance("seed", "seed")), (1, 0));
    assert_eq!(edit_distance("fanout", "fault"), 3);
}

#[test]
fn every_bad_flag_is_reported() {
    let e = args(&["-w", "lin-kv", "--time-limit", "1.5", "--rate", "-1", "--nemesis", "burn"]).unwrap_err();
    assert_eq!(e.0.len(), 4, "{e}");
    assert!(e.0[0].contains("lin-kv"));
    let e = args(&["-w", "echo", "--latency", "0", "--latency-dist", "uniform"]).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
}

#[test]
fn intervals_may_be_ratios_and_node_lists_may_come_from_a_file() {
    let c = args(&["-w", "echo", "--nemesis", "partition", "--nemesis-interval", "1/2"]).unwrap();
    assert_eq!((c.faults.kinds.as_slice(), c.faults.interval_s), (&[FaultKind::Partition][..], 0.5));
    assert!(args(&["-w", "echo", "--nemesis-interval", "1/0"]).is_err());
    let file = std::env::temp_dir().join(format!("osmosis-nodes-{}", std::process::id()));
    std::fs::write(&file, "a\nb\n\n d \n").unwrap();
    let c = args(&["-w", "echo", "--nodes-file", file.to_str().unwrap()]).unwrap();
    assert_eq!(c.nodes, ["a", "b", "d"]);
    assert!(args(&["-w", "echo", "--nodes-file", "/nonexistent/nodes"]).is_err());
}

#[test]
fn maelstrom_workloads_out_of_scope_are_named_as_such() {
    let e = args(&["-w", "lin-kv"]).unwrap_err();
    assert!(e.0[0].contains("does not run"), "{e}");
    let e = args(&["-w", "nope"]).unwrap_err();
    assert!(e.0[0].contains("unknown workload"), "{e}");
}

#[test]
fn durations_that_would_overflow_and_names_that_clash_are_refused() {
    assert!(args(&["-w", "echo", "--time-limit", "18446744074"]).is_err());
    assert!(args(&["-w", "echo", "--nemesis", "partition", "--nemesis-interval", "1e-10"]).is_err());
    assert!(args(&["-w", "echo", "--recovery", "1e300"]).is_err());
    assert!(args(&["-w", "echo", "--nodes", "lin-kv,n2"]).is_err());
    assert!(args(&["-w", "echo", "--nodes", "a/b,a_b"]).is_err());
    assert!(args(&["-w", "echo", "--nodes", "n-1,n.2,n_3"]).is_ok());
}

#[test]
fn missing_bin_is_reported() {
    let cli = Cli::try_parse_from(["osmosis-harness", "test", "-w", "echo"]).unwrap();
    let Command::Test(t) = cli.command else { panic!("parsed as test") };
    let e = t.validate(1).unwrap_err();
    assert_eq!(e.0, ["Expected a --bin PATH_TO_BINARY to test"]);
}
