//! The CI's fault sweep file, a few seeds of it in the test build: every line parses, runs in process without the
//! release binary it names, and is valid. CI runs it over 300 seeds with an optimised build (`.ci/run`).

use osmosis_harness::bench::{Defaults, Verdict, parse_scenarios_with};
use osmosis_harness::sweep::{replay_command, run_sweep};

#[test]
fn the_ci_sweep_file_runs_in_virtual_time_and_every_run_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/sweep-ci.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let defaults = Defaults { seed: 1, repeat: 1, store: None, sim: true };
    let scenarios = parse_scenarios_with("sweep-ci.txt", &text, &defaults, &osmosis_sim::sim_nodes()).unwrap();
    let workloads: std::collections::BTreeSet<&str> = scenarios.iter().map(|s| s.config.workload.name()).collect();
    assert_eq!(workloads.len(), 6, "every workload: {workloads:?}");
    let outcomes = run_sweep(&scenarios, &[1, 2], 2);
    for o in &outcomes {
        let s = &scenarios[o.scenario];
        assert_eq!(o.verdict, Verdict::Valid, "{}", replay_command("osmosis-sim", s, o.seed));
        assert_eq!(o.lost, 0);
    }
}
