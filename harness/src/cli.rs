//! The command line (spec §1): Maelstrom's `test` flags with their names and defaults, plus ours (`--seed`,
//! `--store`, `--recovery`). Parsing never panics: every problem becomes one line of a [`CliError`], and the binary
//! exits with Maelstrom's code for bad arguments (254).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::checker::AvailabilityReq;
use crate::latency::{Latency, LatencyDist};
use crate::topology::TopologyKind;
use crate::workload::Workload;

/// Maelstrom's exit code for bad arguments (spec §1.3).
pub const EXIT_BAD_ARGS: i32 = 254;
/// Maelstrom's exit code for a crashed test: node crash, init or topology failure (spec §1.3).
pub const EXIT_CRASH: i32 = 255;

/// `osmosis-harness`: runs Maelstrom node binaries and scores them the way Maelstrom does.
#[derive(Debug, Parser)]
#[command(name = "osmosis-harness", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process: boxing would only obscure clap's derive
pub enum Command {
    /// Run one test, like `maelstrom test`.
    Test(TestArgs),
    /// Run the named scenarios of a file one after another and print one table of their figures.
    Bench(BenchArgs),
}

/// `osmosis-harness bench` flags (see [`crate::bench`] for the scenario file).
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Run only these scenarios (comma-separated names), in file order.
    #[arg(long, value_name = "NAME[,NAME…]")]
    pub only: Option<String>,
    /// Seed of every scenario whose line has no `--seed` of its own; repeats use S, S+1, …
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,
    /// Runs per scenario (seeds S, S+1, …); the table then shows min/med/max of each figure.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    /// Store directory for every scenario (default: each line's own `--store`, else `store`).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// The scenario file: one `NAME <test flags…> [node args…]` per line, `#` comments.
    #[arg(value_name = "SCENARIO_FILE")]
    pub file: PathBuf,
}

/// `osmosis-harness test` flags. Names and defaults follow `maelstrom test` (spec §1.1, §1.2).
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Workload: broadcast, echo, g-counter, g-set, pn-counter, unique-ids.
    #[arg(short = 'w', long, default_value = "lin-kv")]
    pub workload: String,
    /// The node binary to test.
    #[arg(long, value_name = "FILE")]
    pub bin: Option<PathBuf>,
    /// Number of nodes, named n0 … n(N-1). Without it (and without --node/--nodes): n1 … n5.
    #[arg(long, value_name = "N")]
    pub node_count: Option<i64>,
    /// A node name (repeatable).
    #[arg(short = 'n', long = "node", value_name = "NAME")]
    pub node: Vec<String>,
    /// Comma-separated node names.
    #[arg(long, value_name = "A,B,C")]
    pub nodes: Option<String>,
    /// A file with one node name per line.
    #[arg(long, value_name = "FILE")]
    pub nodes_file: Option<PathBuf>,
    /// Run the test this many times (seeds `S`, `S+1`, …); the exit code is the worst verdict.
    #[arg(long, default_value = "1", value_name = "N")]
    pub test_count: String,
    /// Seconds the main phase runs (a whole number).
    #[arg(long, default_value = "60", value_name = "SECONDS")]
    pub time_limit: String,
    /// Approximate client requests per second, over all clients together.
    #[arg(long, default_value = "5", value_name = "R")]
    pub rate: String,
    /// Client threads: K, or Kn for K per node.
    #[arg(long, default_value = "1n", value_name = "K|Kn")]
    pub concurrency: String,
    /// Mean inter-server latency in milliseconds.
    #[arg(long, default_value = "0", value_name = "MS")]
    pub latency: String,
    /// Latency distribution: constant, uniform, exponential.
    #[arg(long, default_value = "constant", value_name = "DIST")]
    pub latency_dist: String,
    /// Broadcast topology: grid, line, total, tree, tree2, tree3, tree4.
    #[arg(long, default_value = "grid", value_name = "T")]
    pub topology: String,
    /// Faults to inject (comma list); only `partition` exists.
    #[arg(long, value_name = "FAULTS")]
    pub nemesis: Option<String>,
    /// Mean seconds between nemesis operations.
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    pub nemesis_interval: String,
    /// Echo each node's stderr lines into the harness log.
    #[arg(long)]
    pub log_stderr: bool,
    /// Log every message as it is sent into the network.
    #[arg(long)]
    pub log_net_send: bool,
    /// Log every message as it is delivered.
    #[arg(long)]
    pub log_net_recv: bool,
    /// Required availability: `total`, or a fraction in [0, 1].
    #[arg(long, value_name = "A")]
    pub availability: Option<String>,
    /// (osmosis) Seed for every random choice: op schedule, latency samples, partitions. Printed at start.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// (osmosis) Where runs are stored: <store>/<workload>/<time>/, with <store>/latest pointing at the newest.
    #[arg(long, default_value = "store", value_name = "DIR")]
    pub store: PathBuf,
    /// (osmosis) Seconds of the recovery sleep before final reads. Maelstrom's is 10; shorten it for quick CI runs.
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    pub recovery: String,
    /// Arguments passed to the node binary (put them last, or after `--`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// A validated test configuration.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// The workload.
    pub workload: Workload,
    /// The node binary, canonicalised (spec §1.1).
    pub bin: PathBuf,
    /// Its argv after the program name.
    pub bin_args: Vec<String>,
    /// Server node names, in test order.
    pub nodes: Vec<String>,
    /// `--time-limit`, seconds.
    pub time_limit_s: u64,
    /// `--rate`.
    pub rate: f64,
    /// Client threads.
    pub concurrency: usize,
    /// Inter-server latency.
    pub latency: Latency,
    /// Broadcast topology.
    pub topology: TopologyKind,
    /// Mean seconds between nemesis operations, when `--nemesis partition` is on.
    pub nemesis_interval_s: Option<f64>,
    /// `--availability`.
    pub availability: Option<AvailabilityReq>,
    /// `--log-stderr`.
    pub log_stderr: bool,
    /// `--log-net-send`.
    pub log_net_send: bool,
    /// `--log-net-recv`.
    pub log_net_recv: bool,
    /// The run's seed.
    pub seed: u64,
    /// Store root.
    pub store: PathBuf,
    /// Recovery sleep, seconds.
    pub recovery_s: f64,
    /// How many times to run the test.
    pub test_count: u32,
}

/// The longest time a flag may ask for (a year): durations become nanoseconds in a `u64`.
pub const MAX_SECONDS: u64 = 365 * 24 * 3600;

/// Workloads Maelstrom has that the harness does not run: named in the error instead of "unknown".
const MAELSTROM_ONLY_WORKLOADS: [&str; 4] = ["kafka", "lin-kv", "txn-list-append", "txn-rw-register"];

/// A number as Clojure's reader takes it on Maelstrom's command line: an integer, a decimal, or a ratio `a/b`.
fn parse_number(s: &str) -> Option<f64> {
    match s.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (a.parse::<i64>().ok()?, b.parse::<i64>().ok()?);
            (b != 0).then(|| a as f64 / b as f64)
        }
        None => s.parse::<f64>().ok(),
    }
}

/// Every problem found with the arguments, one line each (Maelstrom prints each error line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub Vec<String>);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for CliError {}

impl TestArgs {
    /// Validates the flags into a [`TestConfig`]. `random_seed` is used when `--seed` is absent.
    pub fn validate(self, random_seed: u64) -> Result<TestConfig, CliError> {
        let mut errors = Vec::new();
        let mut check = |r: Result<(), String>| {
            if let Err(e) = r {
                errors.push(e);
            }
        };

        let workload = match self.workload.parse::<Workload>() {
            Ok(w) => Some(w),
            Err(_) if MAELSTROM_ONLY_WORKLOADS.contains(&self.workload.as_str()) => {
                check(Err(format!(
                    "--workload {}: a Maelstrom workload that osmosis-harness does not run (it runs {})",
                    self.workload,
                    Workload::names()
                )));
                None
            }
            Err(e) => {
                check(Err(format!("--workload: {e}")));
                None
            }
        };

        let bin = match &self.bin {
            None => {
                check(Err("Expected a --bin PATH_TO_BINARY to test".to_owned()));
                None
            }
            Some(path) => match std::fs::canonicalize(path) {
                Ok(p) if p.is_file() => Some(p),
                Ok(p) => {
                    check(Err(format!("--bin {}: not a file", p.display())));
                    None
                }
                Err(e) => {
                    check(Err(format!("--bin {}: {e}", path.display())));
                    None
                }
            },
        };

        let nodes = match self.node_count {
            Some(n) if n <= 0 => {
                check(Err(format!("--node-count {n}: must be positive")));
                Vec::new()
            }
            Some(n) if n > 10_000 => {
                check(Err(format!("--node-count {n}: at most 10000 nodes")));
                Vec::new()
            }
            Some(n) => (0..n).map(|i| format!("n{i}")).collect(),
            None => {
                let mut names: Vec<String> = self.node.clone();
                if let Some(list) = &self.nodes {
                    names = list.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
                }
                if let Some(file) = &self.nodes_file {
                    match std::fs::read_to_string(file) {
                        Ok(text) => {
                            names = text.lines().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
                        }
                        Err(e) => check(Err(format!("--nodes-file {}: {e}", file.display()))),
                    }
                }
                if names.is_empty() {
                    names = (1..=5).map(|i| format!("n{i}")).collect();
                }
                names
            }
        };
        let mut seen = std::collections::BTreeSet::new();
        for n in &nodes {
            if n.starts_with('c') {
                check(Err(format!("node name {n:?}: names starting with 'c' are client ids")));
            } else if crate::service::SERVICE_NAMES.contains(&n.as_str()) {
                check(Err(format!("node name {n:?}: that is a built-in service's name")));
            } else if !n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                || n.starts_with('.')
            {
                check(Err(format!("node name {n:?}: use letters, digits, '-', '_' and '.' (it names a log file)")));
            }
            if !seen.insert(n) {
                check(Err(format!("node name {n:?} given twice")));
            }
        }

        let time_limit_s = match self.time_limit.parse::<u64>() {
            Ok(t) if t > 0 && t <= MAX_SECONDS => t,
            _ => {
                check(Err(format!(
                    "--time-limit {}: must be a whole number of seconds from 1 to {MAX_SECONDS}",
                    self.time_limit
                )));
                0
            }
        };
        let rate = match self.rate.parse::<f64>() {
            Ok(r) if r.is_finite() && r >= 0.0 => r,
            _ => {
                check(Err(format!("--rate {}: must be a non-negative number", self.rate)));
                0.0
            }
        };
        let concurrency = match parse_concurrency(&self.concurrency, nodes.len()) {
            Ok(c) => c,
            Err(e) => {
                check(Err(e));
                0
            }
        };
        let latency_ms = match self.latency.parse::<u64>() {
            Ok(l) => Some(l),
            Err(_) => {
                check(Err(format!("--latency {}: must be a non-negative whole number of milliseconds", self.latency)));
                None
            }
        };
        let dist = match self.latency_dist.parse::<LatencyDist>() {
            Ok(d) => Some(d),
            Err(e) => {
                check(Err(format!("--latency-dist {}: {e}", self.latency_dist)));
                None
            }
        };
        let latency = match (latency_ms, dist) {
            (Some(m), Some(d)) => match Latency::new(m, d) {
                Ok(l) => Some(l),
                Err(e) => {
                    check(Err(format!("--latency {m} --latency-dist {}: {e}", self.latency_dist)));
                    None
                }
            },
            _ => None,
        };
        let topology = match self.topology.parse::<TopologyKind>() {
            Ok(t) => Some(t),
            Err(e) => {
                check(Err(format!("--topology {}: {e}", self.topology)));
                None
            }
        };
        let mut partition = false;
        if let Some(faults) = &self.nemesis {
            for fault in faults.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if fault == "partition" {
                    partition = true;
                } else {
                    check(Err(format!("--nemesis {fault}: unknown fault; the only one is partition")));
                }
            }
        }
        let interval = match parse_number(&self.nemesis_interval) {
            Some(i) if (1e-6..=MAX_SECONDS as f64).contains(&i) => i,
            _ => {
                check(Err(format!(
                    "--nemesis-interval {}: must be a number of seconds from 0.000001 to {MAX_SECONDS}",
                    self.nemesis_interval
                )));
                0.0
            }
        };
        let availability = match self.availability.as_deref() {
            None => None,
            Some("total") => Some(AvailabilityReq::Total),
            Some(s) => match s.parse::<f64>() {
                Ok(a) if (0.0..=1.0).contains(&a) => Some(AvailabilityReq::AtLeast(a)),
                _ => {
                    check(Err(format!("--availability {s}: must be total or a number in [0, 1]")));
                    None
                }
            },
        };
        let test_count = match self.test_count.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => {
                check(Err(format!("--test-count {}: must be a positive whole number", self.test_count)));
                0
            }
        };
        let recovery_s = match self.recovery.parse::<f64>() {
            Ok(r) if (0.0..=MAX_SECONDS as f64).contains(&r) => r,
            _ => {
                check(Err(format!(
                    "--recovery {}: must be a number of seconds from 0 to {MAX_SECONDS}",
                    self.recovery
                )));
                0.0
            }
        };

        match (workload, bin, latency, topology) {
            (Some(workload), Some(bin), Some(latency), Some(topology)) if errors.is_empty() => Ok(TestConfig {
                workload,
                bin,
                bin_args: self.args.into_iter().skip_while(|a| a == "--").collect(),
                nodes,
                time_limit_s,
                rate,
                concurrency,
                latency,
                topology,
                nemesis_interval_s: partition.then_some(interval),
                availability,
                log_stderr: self.log_stderr,
                log_net_send: self.log_net_send,
                log_net_recv: self.log_net_recv,
                seed: self.seed.unwrap_or(random_seed),
                store: self.store,
                recovery_s,
                test_count,
            }),
            _ => Err(CliError(errors)),
        }
    }
}

/// `K` → K threads; `Kn` → K × nodes (spec §1.1).
pub fn parse_concurrency(s: &str, node_count: usize) -> Result<usize, String> {
    let bad = || format!("--concurrency {s}: expected a number, optionally followed by n (e.g. 10 or 2n)");
    let (digits, per_node) = match s.strip_suffix('n') {
        Some(d) => (d, true),
        None => (s, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let k: usize = digits.parse().map_err(|_| bad())?;
    let c = if per_node { k.checked_mul(node_count).ok_or_else(bad)? } else { k };
    if c == 0 {
        return Err(format!("--concurrency {s}: needs at least one client thread"));
    }
    if c > 100_000 {
        return Err(format!("--concurrency {s}: at most 100000 client threads"));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<TestConfig, CliError> {
        let exe = std::env::current_exe().unwrap();
        let exe = exe.to_str().unwrap();
        let mut argv = vec!["osmosis-harness", "test", "--bin", exe];
        argv.extend_from_slice(extra);
        let cli = Cli::try_parse_from(argv).map_err(|e| CliError(vec![e.to_string()]))?;
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
        assert_eq!(c.nemesis_interval_s, None);
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
    fn every_bad_flag_is_reported() {
        let e = args(&["-w", "lin-kv", "--time-limit", "1.5", "--rate", "-1", "--nemesis", "kill"]).unwrap_err();
        assert_eq!(e.0.len(), 4, "{e}");
        assert!(e.0[0].contains("lin-kv"));
        let e = args(&["-w", "echo", "--latency", "0", "--latency-dist", "uniform"]).unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
    }

    #[test]
    fn intervals_may_be_ratios_and_node_lists_may_come_from_a_file() {
        let c = args(&["-w", "echo", "--nemesis", "partition", "--nemesis-interval", "1/2"]).unwrap();
        assert_eq!(c.nemesis_interval_s, Some(0.5));
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
}
