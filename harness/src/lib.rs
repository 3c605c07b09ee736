//! # osmosis-harness
//!
//! A Maelstrom-compatible test bench. It runs any Maelstrom node binary the way `maelstrom test` does — one
//! process per node, newline-delimited JSON on stdin/stdout, a simulated network with per-receiver deadline
//! queues, Jepsen's client and generator semantics, the partition nemesis — and scores the run with Maelstrom's
//! checkers, writing `results.edn`/`results.json` with Maelstrom's key names. What it implements of Maelstrom, its
//! extensions and the known differences are written down in [`maelstrom`] (the crate's `MAELSTROM.md`); comments
//! cite its sections as `spec §N`. The ideal-latency checker's definition: [`ideal_latency`].
//!
//! ## Design
//!
//! Everything that decides something is sans-IO and passed the time: the cluster core ([`run::core`]: the
//! participants, clients' RPCs, setup, faults and history, effects out), the network model ([`net`]), the operation
//! schedule ([`generator`]), the nemesis ([`nemesis`]), the topologies ([`topology`]), the RPC rules ([`rpc`])
//! and the checkers ([`checker`]). Randomness comes from one seed (`--seed`, printed at start), split into
//! independent streams. Only the shells in [`run`] read a clock or touch processes: the real-time shell's event
//! loop on one thread owns the core and writes node stdin; tokio tasks parse node stdout and carry stderr.
//!
//! ## Modules
//!
//! - [`cli`]: flags, defaults and validation (spec §1); [`mod@bench`]: named scenarios run in turn, one table;
//!   [`sweep`]: scenarios over many seeds in virtual time, on every core.
//! - [`mod@reference`]: the reference node (its binary is `osmosis-reference-node`), also runnable in process.
//! - [`run`]: running a test (spec §2, §3): the sans-IO cluster core and the shell that runs it with processes;
//!   the store and journal.
//! - [`net`]: the simulated network (spec §4) and its `:net` counters.
//! - [`generator`]: stagger, mix, thread choice, time limit, phases, final reads (spec §6, §7).
//! - [`nemesis`]: grudges for the partition nemesis (spec §8).
//! - [`topology`], [`latency`]: topologies (spec §3.6) and latency distributions (spec §4.2).
//! - [`rpc`]: request bodies, closed reply schemas, error codes, ok/fail/info (spec §3.4, §5.3).
//! - [`service`]: the built-in `lin-kv`, `seq-kv`, `lww-kv`, `lin-tso` services (spec §3.5).
//! - [`checker`]: the checkers and the results map (spec §9, §10), with the ideal-latency checker (an osmosis
//!   extension, [`checker::ideal`]); [`results`] writes and prints them, [`plot`] draws the plots.
//! - [`history`], [`workload`], [`diagnostic`]: shared vocabulary.

pub mod bench;
pub mod checker;
pub mod cli;
pub mod diagnostic;
pub mod generator;
pub mod history;
pub mod latency;
pub mod nemesis;
pub mod net;
pub mod plot;
pub mod reference;
pub mod results;
pub mod rpc;
pub mod run;
pub mod service;
pub mod sweep;
pub mod topology;
pub mod workload;

#[doc = include_str!("../MAELSTROM.md")]
pub mod maelstrom {}

#[doc = include_str!("../ideal-latency.md")]
pub mod ideal_latency {}

use checker::edn::Edn;
use checker::{CheckConfig, check};

/// A run that was scored: what [`run_and_check`] returns.
#[derive(Debug, Clone)]
pub struct CheckedRun {
    /// The results map, as written to `results.edn` / `results.json`.
    pub results: checker::Results,
    /// The run directory in the store (`None` for a virtual-time run kept in memory).
    pub dir: Option<std::path::PathBuf>,
    /// Client invocations (spec §4.4's op-count, the divisor of `:msgs-per-op`).
    pub op_count: u64,
}

/// Runs one test and scores it: writes `results.edn`, `results.json`, the history, journal and plots into the run
/// directory and returns the results, printing nothing on stdout. A crash (spec §2 step 7) is an error: no
/// analysis. Shared by `osmosis-harness test` ([`test()`]) and `osmosis-harness bench` ([`mod@bench`]).
pub fn run_and_check(config: &cli::TestConfig) -> Result<CheckedRun, run::RunError> {
    run_and_check_in(config, true)
}

/// [`run_and_check`], stored or (virtual time only, see [`run::run_in`]) in memory: nothing written.
pub fn run_and_check_in(config: &cli::TestConfig, stored: bool) -> Result<CheckedRun, run::RunError> {
    let rec = run::run_in(config, stored)?;
    let cluster = checker::Cluster {
        loss: config.faults.loss,
        ..checker::Cluster::new(config.nodes.clone(), config.concurrency, config.latency)
    };
    let check_config =
        CheckConfig { workload: config.workload, availability: config.availability, cluster: Some(cluster) };
    let mut results = check(&check_config, &rec.history, &rec.net, &rec.diagnostics);
    results.insert_extra("harness", harness_edn(config, &rec.harness));
    if !config.faults.is_empty() {
        results.insert_extra("faults", faults_edn(&config.faults, &rec));
    }
    if let Some(dir) = &rec.dir {
        results::write_results(dir, &results)?;
        if let Err(e) = plot::write_plots(dir, &rec.history, &results) {
            tracing::warn!("plots were not written: {e}");
        }
    }
    Ok(CheckedRun { results, dir: rec.dir, op_count: checker::net::op_count(&rec.history) })
}

/// Runs one test and scores it, as `osmosis-harness test` does: [`run_and_check`], then prints the results, the
/// verdict, the run directory and the one-line summary ([`results::summary_line`]) on stdout, and returns
/// Maelstrom's exit code for the verdict (spec §1.3). A crash (spec §2 step 7) is an error: no analysis.
pub fn test(config: &cli::TestConfig) -> Result<i32, run::RunError> {
    let CheckedRun { results, dir, .. } = run_and_check(config)?;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    writeln!(out, "{}", results::summary(&results))?;
    if let Some(dir) = dir {
        writeln!(out, "Run stored in {}", dir.display())?;
    }
    writeln!(out, "{}", results::summary_line(&results))?;
    Ok(results::exit_code(results.valid()))
}

/// `:faults` in the results (an osmosis extension, present when any fault is on): the plan, with the message
/// faults' probabilities and how many messages they hit, and every fault with its history times.
fn faults_edn(plan: &nemesis::FaultPlan, rec: &run::Recording) -> Edn {
    let events = nemesis::intervals(&rec.history)
        .into_iter()
        .map(|i| {
            Edn::kw_map([
                ("fault", Edn::kw(i.fault)),
                ("what", Edn::str(i.what)),
                ("from", Edn::Int(i128::from(i.from))),
                ("to", i.to.map_or(Edn::Nil, |t| Edn::Int(i128::from(t)))),
            ])
        })
        .collect();
    let (lost, duplicated) = rec.message_faults;
    Edn::kw_map([
        ("nemesis", Edn::str(plan.describe())),
        ("extensions?", Edn::Bool(plan.has_extensions())),
        ("interval", Edn::Float(plan.interval_s)),
        ("loss", Edn::Float(plan.loss)),
        ("duplicate", Edn::Float(plan.duplicate)),
        ("lost-messages", Edn::Int(i128::from(lost))),
        ("duplicated-messages", Edn::Int(i128::from(duplicated))),
        ("targeted", Edn::Vector(plan.targeted.iter().map(|t| Edn::str(t.to_string())).collect())),
        ("events", Edn::Vector(events)),
    ])
}

/// `:harness` in the results: the seed, and how well the harness kept up.
fn harness_edn(config: &cli::TestConfig, h: &run::HarnessStats) -> Edn {
    let mut entries = vec![
        ("seed", Edn::Int(config.seed as i128)),
        ("mode", Edn::kw(if config.sim.is_some() { "virtual-time" } else { "processes" })),
        ("bin", Edn::str(config.bin.display().to_string())),
        ("args", Edn::Vector(config.bin_args.iter().map(|a| Edn::str(a.as_str())).collect())),
        ("wall-seconds", Edn::Float((h.wall_s * 1000.0).round() / 1000.0)),
        ("cpu-seconds", Edn::Float((h.cpu_s * 1000.0).round() / 1000.0)),
        ("peak-msgs-per-sec", Edn::Int(h.peak_msgs_per_sec as i128)),
        ("server-deliveries", Edn::Int(h.deliveries as i128)),
    ];
    if let Some([p50, p99, max]) = h.delivery_lag_us {
        let q = Edn::Map(vec![
            (Edn::Float(0.5), Edn::Int(p50 as i128)),
            (Edn::Float(0.99), Edn::Int(p99 as i128)),
            (Edn::Int(1), Edn::Int(max as i128)),
        ]);
        entries.push(("delivery-lag-us", q));
    }
    Edn::kw_map(entries)
}
