use serde_json::{Value, json};

use super::*;
use crate::checker::{CheckConfig, check};
use crate::history::{F, History, Op, OpType, Process};
use crate::net::NetStats;
use crate::workload::Workload;

/// A binary that exists, for `--bin`.
fn exe() -> String {
    std::env::current_exe().unwrap().to_str().unwrap().to_owned()
}

fn defaults() -> Defaults {
    Defaults { seed: 1, repeat: 1, store: None, sim: false }
}

fn parse(text: &str, d: &Defaults) -> Result<Vec<Scenario>, CliError> {
    parse_scenarios("s.txt", &text.replace("BIN", &exe()), d)
}

#[test]
fn comments_and_blank_lines_are_skipped_and_lines_parse_like_test() {
    let text = "# a comment\n\n   # indented comment\nflood-5 -w broadcast --bin BIN --node-count 5 --latency 100 \
                flood --fast\n\ncounter_3 -w g-counter --bin BIN --nodes a,b,d --nemesis partition --seed 9\n";
    let s = parse(text, &defaults()).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].name.as_str(), s[0].line), ("flood-5", 4));
    assert_eq!(s[0].config.workload, Workload::Broadcast);
    assert_eq!(s[0].config.nodes.len(), 5);
    assert_eq!(s[0].config.latency.mean_ms, 100);
    assert_eq!(s[0].config.bin_args, ["flood", "--fast"]);
    assert_eq!(s[0].config.seed, 1, "the bench's seed");
    assert_eq!((s[1].name.as_str(), s[1].line), ("counter_3", 6));
    assert_eq!(s[1].config.nodes, ["a", "b", "d"]);
    assert_eq!(s[1].config.faults.describe(), "partition");
    assert_eq!(s[1].config.seed, 9, "the line's own seed wins");
}

#[test]
fn repeat_and_store_apply_unless_the_line_says_otherwise() {
    let d = Defaults { seed: 4, repeat: 3, store: Some("/tmp/bench-store".into()), sim: false };
    let text = "a -w echo --bin BIN --store elsewhere\nb -w echo --bin BIN --test-count 2\n";
    let s = parse(text, &d).unwrap();
    assert_eq!(s[0].runs, 3);
    assert_eq!(s[0].config.store, std::path::Path::new("/tmp/bench-store"), "--store overrides the line's");
    assert_eq!(s[1].runs, 2, "an explicit --test-count wins over --repeat");
    assert!(s.iter().all(|s| s.config.test_count == 1));
    let s = parse(text, &defaults()).unwrap();
    assert_eq!(s[0].config.store, std::path::Path::new("elsewhere"), "without --store, the line's own");
}

#[test]
fn duplicate_names_are_reported_with_both_lines() {
    let e = parse("a -w echo --bin BIN\n# x\na -w echo --bin BIN\n", &defaults()).unwrap_err();
    assert_eq!(e.0, ["s.txt:3: scenario a is already defined on line 1"]);
}

#[test]
fn every_bad_line_is_reported_with_file_and_line() {
    let text = "ok -w echo --bin BIN\nbad-value -w echo --bin BIN --time-limit 1.5\nno-value -w echo --bin BIN --rate\n\
                bad/name -w echo --bin BIN\nno-bin -w echo\n";
    let e = parse(text, &defaults()).unwrap_err();
    assert_eq!(e.0.len(), 4, "{e}");
    assert!(e.0[0].starts_with("s.txt:2: bad-value: --time-limit 1.5"), "{e}");
    assert!(e.0[1].starts_with("s.txt:3: no-value: a value is required for '--rate"), "{e}");
    assert!(e.0[2].starts_with("s.txt:4: scenario name \"bad/name\""), "{e}");
    assert_eq!(e.0[3], "s.txt:5: no-bin: Expected a --bin PATH_TO_BINARY to test");
}

#[test]
fn a_file_without_scenarios_is_an_error() {
    let e = parse("# nothing\n\n", &defaults()).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert!(e.0[0].starts_with("s.txt: no scenarios"), "{e}");
}

#[test]
fn only_keeps_file_order_and_refuses_unknown_names() {
    let s = parse("a -w echo --bin BIN\nb -w echo --bin BIN\nc -w echo --bin BIN\n", &defaults()).unwrap();
    let picked = select("s.txt", s.clone(), Some("c,a")).unwrap();
    assert_eq!(picked.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "c"]);
    assert_eq!(select("s.txt", s.clone(), None).unwrap().len(), 3);
    let e = select("s.txt", s.clone(), Some("a,zz")).unwrap_err();
    assert_eq!(e.0, ["s.txt: --only zz: no such scenario (the file has a, b, c)"]);
    assert!(select("s.txt", s, Some(",")).is_err());
}

fn op(index: u64, time_ms: u64, op_type: OpType, process: u64, f: F, value: Value) -> Op {
    Op {
        index,
        time: time_ms * 1_000_000,
        op_type,
        process: Process::Client(process),
        f,
        value,
        final_read: false,
        error: None,
    }
}

/// Element 1 is absent from the read invoked at 40 ms, present in the last: stable, 39 ms after its add
/// completed at 1 ms. Element 2 is in the first read only: lost. 5 client invocations, 6 server messages.
fn broadcast_run() -> CheckedRun {
    use OpType::{Invoke, Ok};
    let mut h = History::default();
    for o in [
        op(0, 0, Invoke, 0, F::Broadcast, json!(1)),
        op(1, 1, Ok, 0, F::Broadcast, json!(1)),
        op(2, 2, Invoke, 0, F::Broadcast, json!(2)),
        op(3, 3, Ok, 0, F::Broadcast, json!(2)),
        op(4, 10, Invoke, 0, F::Read, Value::Null),
        op(5, 11, Ok, 0, F::Read, json!([1, 2])),
        op(6, 40, Invoke, 0, F::Read, Value::Null),
        op(7, 41, Ok, 0, F::Read, json!([2])),
        op(8, 100, Invoke, 0, F::Read, Value::Null),
        op(9, 101, Ok, 0, F::Read, json!([1])),
    ] {
        h.push(o);
    }
    let mut net = NetStats::default();
    (0..6).for_each(|_| net.on_send(false, 0));
    let config = CheckConfig { workload: Workload::Broadcast, availability: None, cluster: None };
    let results = check(&config, &h, &net, &[]);
    CheckedRun { results, dir: Some("run".into()), op_count: crate::checker::net::op_count(&h) }
}

fn row(name: &str, runs: Vec<Figures>) -> Row {
    Row { scenario: name.into(), workload: "broadcast".into(), nodes: 5, nemesis: "none".into(), runs }
}

#[test]
fn figures_are_read_from_the_results_map() {
    let f = Figures::of_run(&broadcast_run(), 2.25);
    assert_eq!(f.verdict, Verdict::Invalid);
    assert_eq!(f.lost, Some(1));
    assert_eq!(f.msgs_per_op.map(|x| format!("{x:.2}")).as_deref(), Some("1.20"));
    assert_eq!(f.stable_ms, Some([39, 39, 39]));
    assert_eq!(f.ops, Some(5));
    let cells = row("lossy", vec![f]).cells();
    assert_eq!(cells, ["lossy", "broadcast", "5", "none", "false", "1", "1.20", "39", "39", "39", "5", "2.2"]);
}

#[test]
fn missing_figures_print_as_dashes_and_crashes_keep_their_first_line() {
    let crash = RunError::Crash("node n1 exited with status 3\nstderr tail: …".into());
    let f = Figures::of_crash(&crash, 0.5);
    assert_eq!(f.verdict, Verdict::Crash("node n1 exited with status 3".into()));
    let cells = row("dead", vec![f]).cells();
    assert_eq!(cells[4], "crash: node n1 exited with status 3");
    assert_eq!(cells[5..11], ["-", "-", "-", "-", "-", "-"]);
    assert_eq!(cells[11], "0.5");
    let counter = Figures {
        verdict: Verdict::Valid,
        lost: None,
        msgs_per_op: Some(2.0),
        stable_ms: None,
        ops: Some(40),
        wall_s: 3.0,
    };
    let cells = row("counter", vec![counter]).cells();
    assert_eq!(cells[4..12], ["true", "-", "2.00", "-", "-", "-", "40", "3.0"]);
}

#[test]
fn repeats_show_min_median_max_and_the_worst_verdict() {
    let fig = |verdict: Verdict, lost: u64, per_op: f64, p50: u64, ops: u64, wall_s: f64| Figures {
        verdict,
        lost: Some(lost),
        msgs_per_op: Some(per_op),
        stable_ms: Some([p50, p50 + 10, p50 + 20]),
        ops: Some(ops),
        wall_s,
    };
    let runs = vec![
        fig(Verdict::Valid, 0, 3.456, 120, 200, 12.0),
        fig(Verdict::Invalid, 4, 3.0, 100, 210, 11.0),
        fig(Verdict::Valid, 0, 3.2, 110, 190, 13.04),
        fig(Verdict::Valid, 1, 3.1, 130, 205, 12.5),
    ];
    let cells = row("r", runs).cells();
    assert_eq!(cells[4], "false (1/4)");
    assert_eq!(cells[5], "0/0/4", "lower median of 0, 0, 1, 4");
    assert_eq!(cells[6], "3.00/3.10/3.46");
    assert_eq!(cells[7..10], ["100/110/130", "110/120/140", "120/130/150"]);
    assert_eq!(cells[10], "190/200/210");
    assert_eq!(cells[11], "11.0/12.0/13.0");
    let crashed = vec![fig(Verdict::Valid, 0, 2.0, 5, 10, 1.0), Figures::of_crash(&RunError::Crash("x".into()), 1.0)];
    let cells = row("c", crashed).cells();
    assert_eq!(cells[4], "crash: x (1/2)");
    assert_eq!(cells[6], "2.00/2.00/2.00", "figures over the runs that have them");
}

#[test]
fn the_table_is_github_markdown_with_one_row_per_scenario() {
    let t = table(&[row("a|b", vec![Figures::of_run(&broadcast_run(), 1.0)])]);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 3);
    let header: Vec<&str> = lines[0].trim_matches('|').split(" | ").map(str::trim).collect();
    assert_eq!(header, COLUMNS);
    assert!(lines[1].starts_with("| ---") && lines[1].ends_with(": |"), "{}", lines[1]);
    assert!(lines[2].starts_with(r"| a\|b "), "pipes are escaped: {}", lines[2]);
    assert!(lines.iter().all(|l| l.chars().count() == lines[0].chars().count()), "padded columns:\n{t}");
}

#[test]
fn exit_code_is_that_of_the_worst_verdict() {
    assert_eq!(Verdict::Valid.exit_code(), 0);
    assert_eq!(Verdict::Unknown.exit_code(), 2);
    assert_eq!(Verdict::Invalid.exit_code(), 1);
    assert_eq!(Verdict::Crash(String::new()).exit_code(), 255);
    let r = row("x", vec![Figures::of_crash(&RunError::Crash("boom".into()), 0.0)]);
    assert_eq!(r.worst().exit_code(), 255);
}

#[test]
fn the_footer_names_the_seeds_and_the_command() {
    let d = Defaults { seed: 1, repeat: 3, store: None, sim: false };
    let s = parse("a -w echo --bin BIN\nb -w echo --bin BIN --seed 7\n", &d).unwrap();
    let argv: Vec<String> = ["osmosis-harness", "bench", "--repeat", "3", "my file.txt"].map(String::from).into();
    assert_eq!(footer(&s, &d, &argv), "Seeds 1–3, b 7–9; command: `osmosis-harness bench --repeat 3 'my file.txt'`\n");
}

#[test]
fn the_repositorys_scenario_files_keep_node_arguments_apart_from_harness_flags() {
    let benches = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches");
    for file in ["scenarios.txt", "scenarios-reference.txt"] {
        let text = std::fs::read_to_string(benches.join(file)).unwrap();
        let lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
        for line in lines {
            let tokens: Vec<String> = line.split_whitespace().skip(1).map(str::to_owned).collect();
            let split = crate::cli::split_node_args(&tokens);
            assert!(split.is_ok(), "{file}: {line}: {split:?}");
        }
    }
}
