//! `sweep` (an osmosis extension): a scenario file over many seeds, in virtual time, on every core.
//!
//! Every line of the file (the `bench` format, see [`crate::bench`]) runs once per seed of `--seeds`, in
//! process and in virtual time (as if the line said `--sim`), kept in memory: no store, no plots. The runs are
//! shared out among `--jobs` threads; each run is deterministic, so the summary does not depend on how they were
//! shared out. Printed on stdout: one row per scenario and a total (`runs`, `invalid` — every run not valid:
//! invalid, unknown or crashed —, `lost` — set-full's lost elements, summed —, `worst excess` and `worst
//! staleness` — the ideal-latency checker's largest excess and staleness (`:ideal` in the results), ms, `-` where
//! no run has them (the checker covers broadcast and g-set) —, and
//! `cpu s`, the runs' CPU seconds summed), then for every failing run the command that replays it. With `--store`
//! each failing run is run again with its store, and the directory is printed too. The exit code is the worst
//! run's (0 when every run is valid).

use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::bench::{Defaults, Scenario, Verdict, parse_scenarios_with, select};
use crate::checker::edn::Edn;
use crate::cli::{CliError, EXIT_BAD_ARGS, SweepArgs, split_node_args};
use crate::run::sim::SimNodes;

/// Parses `A..B` (A to B−1), `A..=B` (A to B) or `S` (one seed).
pub fn parse_seeds(s: &str) -> Result<Vec<u64>, String> {
    let bad = || format!("--seeds {s}: expected A..B (A to B-1), A..=B (A to B) or one seed");
    let num = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
    let (from, to) = match (s.split_once("..="), s.split_once("..")) {
        (Some((a, b)), _) => (num(a)?, num(b)?.checked_add(1).ok_or_else(bad)?),
        (None, Some((a, b))) => (num(a)?, num(b)?),
        (None, None) => {
            let one = num(s)?;
            (one, one.checked_add(1).ok_or_else(bad)?)
        }
    };
    if from >= to || to - from > 10_000_000 {
        return Err(format!("--seeds {s}: names no seed, or more than 10 000 000"));
    }
    Ok((from..to).collect())
}

/// One run of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Index of its scenario.
    pub scenario: usize,
    /// Its seed.
    pub seed: u64,
    /// How it ended.
    pub verdict: Verdict,
    /// set-full's lost elements.
    pub lost: u64,
    /// The ideal-latency checker's largest excess of a stable latency over the ideal one, ms (when it ran).
    pub excess_ms: Option<i64>,
    /// As `excess_ms`, for staleness.
    pub staleness_ms: Option<u64>,
    /// CPU seconds of the run.
    pub cpu_s: f64,
}

/// Runs one scenario at one seed, in memory.
fn run_one(scenarios: &[Scenario], scenario: usize, seed: u64) -> Outcome {
    let mut config = scenarios[scenario].config.clone();
    config.seed = seed;
    match crate::run_and_check_in(&config, false) {
        Ok(run) => {
            let r = &run.results;
            let lost = r.workload_edn().get("lost-count").and_then(Edn::as_int).and_then(|n| u64::try_from(n).ok());
            let cpu_s = r.extra("harness").and_then(|h| h.get("cpu-seconds")).and_then(edn_float).unwrap_or(0.0);
            let (excess_ms, staleness_ms) = (r.worst_excess_ms(), r.worst_staleness_ms());
            Outcome {
                scenario,
                seed,
                verdict: Verdict::of(r.valid()),
                lost: lost.unwrap_or(0),
                excess_ms,
                staleness_ms,
                cpu_s,
            }
        }
        Err(e) => {
            let verdict = crate::bench::Figures::of_crash(&e, 0.0).verdict;
            Outcome { scenario, seed, verdict, lost: 0, excess_ms: None, staleness_ms: None, cpu_s: 0.0 }
        }
    }
}

fn edn_float(e: &Edn) -> Option<f64> {
    match e {
        Edn::Float(x) => Some(*x),
        Edn::Int(n) => Some(*n as f64),
        _ => None,
    }
}

/// Runs every scenario at every seed on `jobs` threads; the outcomes in (scenario, seed) order.
pub fn run_sweep(scenarios: &[Scenario], seeds: &[u64], jobs: usize) -> Vec<Outcome> {
    let work: Vec<(usize, u64)> = (0..scenarios.len()).flat_map(|s| seeds.iter().map(move |&seed| (s, seed))).collect();
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(work.len()));
    let step = (work.len() / 20).max(1);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, work.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(scenario, seed)) = work.get(i) else { break };
                    let outcome = run_one(scenarios, scenario, seed);
                    let Ok(mut done) = done.lock() else { break };
                    done.push(outcome);
                    if done.len() % step == 0 || done.len() == work.len() {
                        let bad = done.iter().filter(|o| o.verdict != Verdict::Valid).count();
                        eprintln!("[{}/{}] runs done, {bad} not valid", done.len(), work.len());
                    }
                }
            });
        }
    });
    let mut outcomes = done.into_inner().unwrap_or_default();
    outcomes.sort_by_key(|o| (o.scenario, o.seed));
    outcomes
}

/// The command that replays one run: `PROGRAM test` with the scenario's flags, `--seed SEED`, then its node
/// arguments after `--`.
pub fn replay_command(program: &str, scenario: &Scenario, seed: u64) -> String {
    let (flags, node) = split_node_args(&scenario.args).unwrap_or_else(|_| (scenario.args.clone(), Vec::new()));
    let mut words = vec![program.to_owned(), "test".to_owned()];
    let mut i = 0;
    while i < flags.len() {
        let f = flags[i].as_str();
        if f == "--seed" || f == "--test-count" {
            i += 2;
            continue;
        }
        if !(f.starts_with("--seed=") || f.starts_with("--test-count=")) {
            words.push(flags[i].clone());
        }
        i += 1;
    }
    words.extend(["--seed".to_owned(), seed.to_string()]);
    if !node.is_empty() {
        words.push("--".to_owned());
        words.extend(node);
    }
    words.iter().map(|w| crate::bench::shell_word(w)).collect::<Vec<_>>().join(" ")
}

/// The summary table: one row per scenario, then the total.
pub fn summary(scenarios: &[Scenario], outcomes: &[Outcome]) -> String {
    fn ms<T: ToString>(v: Option<T>) -> String {
        v.map_or_else(|| "-".to_owned(), |v| v.to_string())
    }
    let row = |name: &str, of: &[&Outcome]| {
        let invalid = of.iter().filter(|o| o.verdict != Verdict::Valid).count();
        let lost: u64 = of.iter().map(|o| o.lost).sum();
        let excess = of.iter().filter_map(|o| o.excess_ms).max();
        let stale = of.iter().filter_map(|o| o.staleness_ms).max();
        let cpu: f64 = of.iter().map(|o| o.cpu_s).sum();
        format!(
            "| {name:<20} | {:>6} | {invalid:>7} | {lost:>6} | {:>15} | {:>18} | {cpu:>8.1} |\n",
            of.len(),
            ms(excess),
            ms(stale)
        )
    };
    let mut out = String::from(
        "| scenario             |   runs | invalid |   lost | worst excess ms | worst staleness ms |    cpu s |\n\
         | -------------------- | -----: | ------: | -----: | --------------: | -----------------: | -------: |\n",
    );
    for (i, s) in scenarios.iter().enumerate() {
        let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.scenario == i).collect();
        out.push_str(&row(&s.name, &of));
    }
    out.push_str(&row("all", &outcomes.iter().collect::<Vec<_>>()));
    out
}

/// `sweep`: loads the scenarios (any problem: its lines on stderr, exit 254), runs them over the seeds, prints the
/// summary and the failing runs' replay commands, and returns the worst run's exit code.
pub fn sweep(args: &SweepArgs, sim_nodes: &SimNodes, program: &str) -> i32 {
    let loaded = (|| -> Result<(Vec<Scenario>, Vec<u64>), CliError> {
        let seeds = parse_seeds(&args.seeds).map_err(|e| CliError(vec![e]))?;
        let label = args.file.display().to_string();
        let text = std::fs::read_to_string(&args.file).map_err(|e| CliError(vec![format!("{label}: {e}")]))?;
        let defaults = Defaults { seed: seeds[0], repeat: 1, store: args.store.clone(), sim: true };
        let scenarios = parse_scenarios_with(&label, &text, &defaults, sim_nodes)?;
        Ok((select(&label, scenarios, args.only.as_deref())?, seeds))
    })();
    let (scenarios, seeds) = match loaded {
        Ok(l) => l,
        Err(e) => {
            e.0.iter().for_each(|line| eprintln!("{line}"));
            return EXIT_BAD_ARGS;
        }
    };
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    eprintln!("sweep {}: {} scenarios × {} seeds on {jobs} threads", args.file.display(), scenarios.len(), seeds.len());
    let start = std::time::Instant::now();
    let outcomes = run_sweep(&scenarios, &seeds, jobs);
    let wall = start.elapsed().as_secs_f64();
    let mut text = summary(&scenarios, &outcomes);
    text.push_str(&format!("\n{} runs in {wall:.1} s wall on {jobs} threads.\n", outcomes.len()));
    let failing: Vec<&Outcome> = outcomes.iter().filter(|o| o.verdict != Verdict::Valid).collect();
    if !failing.is_empty() {
        text.push_str(&format!("\n{} failing runs; replay each with:\n", failing.len()));
    }
    for o in &failing {
        let s = &scenarios[o.scenario];
        text.push_str(&format!(
            "  {} seed {} ({}): {}\n",
            s.name,
            o.seed,
            o.verdict.word(),
            replay_command(program, s, o.seed)
        ));
        if let Some(store) = &args.store {
            let mut config = s.config.clone();
            (config.seed, config.store) = (o.seed, store.clone());
            match crate::run_and_check_in(&config, true) {
                Ok(run) => text.extend(run.dir.map(|d| format!("    stored in {}\n", d.display()))),
                Err(e) => {
                    let first = e.to_string().lines().next().unwrap_or_default().to_owned();
                    text.push_str(&format!("    stored run crashed: {first}\n"));
                }
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        eprintln!("stdout: {e}");
    }
    outcomes.iter().map(|o| &o.verdict).max_by_key(|v| v.severity()).map_or(0, Verdict::exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_ranges_the_rust_way_or_one_seed() {
        assert_eq!(parse_seeds("1..4"), Ok(vec![1, 2, 3]));
        assert_eq!(parse_seeds("1..=4"), Ok(vec![1, 2, 3, 4]));
        assert_eq!(parse_seeds("7"), Ok(vec![7]));
        for bad in ["4..4", "5..1", "x", "1..", "..3", "1..=18446744073709551615"] {
            assert!(parse_seeds(bad).is_err(), "{bad}");
        }
    }

    fn scenarios() -> Vec<Scenario> {
        let text = "flood -w broadcast --bin osmosis-reference-node --node-count 3 --time-limit 2 --rate 20 \
                    --recovery 1 --nemesis pause --nemesis-interval 0.5 --seed 99 flood\n\
                    silent -w broadcast --bin osmosis-reference-node --node-count 3 --time-limit 2 --rate 20 \
                    --recovery 1 silent\n";
        let defaults = Defaults { seed: 1, repeat: 1, store: None, sim: true };
        parse_scenarios_with("s.txt", text, &defaults, &SimNodes::builtin()).unwrap()
    }

    #[test]
    fn a_sweep_runs_every_scenario_at_every_seed_whatever_the_number_of_threads() {
        let scenarios = scenarios();
        let one = run_sweep(&scenarios, &[1, 2, 3], 1);
        let two = run_sweep(&scenarios, &[1, 2, 3], 2);
        assert_eq!(one.len(), 6);
        let strip =
            |o: &[Outcome]| o.iter().map(|o| (o.scenario, o.seed, o.verdict.clone(), o.lost)).collect::<Vec<_>>();
        assert_eq!(strip(&one), strip(&two), "runs are deterministic, however shared out");
        assert!(one[..3].iter().all(|o| o.verdict == Verdict::Valid), "{one:?}");
        assert!(one[3..].iter().all(|o| o.verdict == Verdict::Invalid && o.lost > 0), "silent nodes lose elements");
        let table = summary(&scenarios, &one);
        assert!(table.contains("| silent               |      3 |       3 |"), "{table}");
        assert!(table.lines().last().unwrap().starts_with("| all                  |      6 |       3 |"), "{table}");
        assert!(one.iter().all(|o| o.excess_ms.is_some() && o.staleness_ms.is_some()), "broadcast has ideal figures");
    }

    #[test]
    fn a_replay_command_is_the_line_at_one_seed_with_node_arguments_last() {
        let scenarios = scenarios();
        let cmd = replay_command("osmosis-sim", &scenarios[0], 42);
        assert_eq!(
            cmd,
            "osmosis-sim test --sim -w broadcast --bin osmosis-reference-node --node-count 3 --time-limit 2 --rate 20 \
             --recovery 1 --nemesis pause --nemesis-interval 0.5 --seed 42 -- flood"
        );
    }
}
