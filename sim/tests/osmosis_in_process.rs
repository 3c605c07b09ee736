//! The osmosis node in process, in virtual time, through the same command line as processes.

use osmosis_harness::checker::Validity;
use osmosis_harness::checker::edn::Edn;
use osmosis_harness::cli::{Command, parse};

fn config(args: &str) -> osmosis_harness::cli::TestConfig {
    let mut argv = vec!["osmosis-sim", "test", "--sim", "--bin", "osmosis", "--seed", "1"];
    argv.extend(args.split_whitespace());
    let argv: Vec<String> = argv.into_iter().map(str::to_owned).collect();
    let Ok(cli) = parse(&argv) else { panic!("bad args {args}") };
    let Command::Test(test) = cli.command else { panic!("not a test command") };
    test.validate_with(1, &osmosis_sim::sim_nodes()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_osmosis_node_runs_in_process_and_a_seed_gives_the_same_run_twice() {
    let cfg = config(
        "-w broadcast --node-count 5 --latency 20 --rate 50 --time-limit 4 --recovery 4 --nemesis partition,pause,loss,duplicate --nemesis-interval 1",
    );
    let a = osmosis_harness::run_and_check_in(&cfg, false).unwrap();
    let b = osmosis_harness::run_and_check_in(&cfg, false).unwrap();
    assert_eq!(a.results.valid(), Validity::True, "{}", a.results.to_edn());
    assert_eq!(a.results.workload_edn().get("lost-count").and_then(Edn::as_int), Some(0));
    assert_eq!(without_measurements(&a), without_measurements(&b), "the same results, but for the harness's clocks");
    assert!(a.dir.is_none(), "kept in memory");
}

/// The results as JSON without `:harness`, whose wall and CPU seconds are the only figures two runs of one seed
/// may differ in.
fn without_measurements(r: &osmosis_harness::CheckedRun) -> serde_json::Value {
    let mut json = r.results.to_json();
    json.as_object_mut().map(|m| m.remove("harness"));
    json
}

#[test]
fn the_node_refuses_bad_arguments_as_the_binary_would() {
    let argv: Vec<String> =
        ["osmosis-sim", "test", "-w", "echo", "--sim", "--bin", "osmosis", "--", "--overlay", "nope"]
            .map(str::to_owned)
            .to_vec();
    let Ok(cli) = parse(&argv) else { panic!("parses") };
    let Command::Test(test) = cli.command else { panic!("not a test command") };
    let e = test.validate_with(1, &osmosis_sim::sim_nodes()).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert!(e.0[0].contains("refuses its arguments") && e.0[0].contains("unknown overlay"), "{e}");
}

/// The unique id a fresh in-process node started at virtual time `started` generates first.
fn first_unique_id(started: u64) -> String {
    let factory = osmosis_sim::sim_nodes().find("osmosis").expect("the osmosis node is built in");
    let mut node = factory.spawn(&["unique-ids".to_owned()], started).expect("valid arguments");
    let zero = std::time::Duration::ZERO;
    node.handle_line(
        zero,
        r#"{"src":"c0","dest":"n1","body":{"type":"init","node_id":"n1","node_ids":["n1"],"msg_id":1}}"#,
    );
    node.handle_line(zero, r#"{"src":"c1","dest":"n1","body":{"type":"generate","msg_id":2}}"#);
    let out = node.take_output();
    let reply: serde_json::Value = serde_json::from_str(out.last().expect("a reply")).unwrap();
    reply["body"]["id"].as_str().expect("generate_ok carries an id").to_owned()
}

#[test]
fn an_in_process_nodes_incarnation_comes_from_virtual_time_so_runs_repeat_and_a_restart_still_differs() {
    // Unique ids (and counter entries, and round numbers) embed the incarnation: from the wall clock, two runs of
    // one seed would differ; from the instance's virtual start, they are the same, and a later life differs.
    assert_eq!(first_unique_id(0), first_unique_id(0));
    assert_eq!(first_unique_id(5_000_000_000), first_unique_id(5_000_000_000));
    assert_ne!(first_unique_id(0), first_unique_id(5_000_000_000), "a restarted node repeats no id of its first life");
}
