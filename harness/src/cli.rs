//! The command line (spec §1): Maelstrom's `test` flags with their names and defaults, plus ours (`--seed`,
//! `--store`, `--recovery`). Parsing never panics: every problem becomes one line of a [`CliError`], and the binary
//! exits with Maelstrom's code for bad arguments (254).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::checker::AvailabilityReq;
use crate::latency::{Latency, LatencyDist};
use crate::nemesis::{FaultKind, FaultPlan, TargetedFault};
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
    /// Faults to inject (comma list): partition (Maelstrom's); kill, pause, loss, duplicate are osmosis
    /// extensions: kill a random node and restart it later with an empty state, pause one (SIGSTOP) and resume it,
    /// lose or duplicate server messages with --loss / --duplicate.
    #[arg(long, value_name = "FAULTS")]
    pub nemesis: Option<String>,
    /// Mean seconds between nemesis operations (each of partition, kill, pause has its own schedule).
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    pub nemesis_interval: String,
    /// (osmosis extension) Probability that a server message is lost, with --nemesis loss [default: 0.05].
    #[arg(long, value_name = "P")]
    pub loss: Option<String>,
    /// (osmosis extension) Probability that a server message is delivered twice, with --nemesis duplicate
    /// [default: 0.05].
    #[arg(long, value_name = "P")]
    pub duplicate: Option<String>,
    /// (osmosis extension) A fault on a named node between two history times, KIND:NODE:FROM-TO in seconds, KIND
    /// cut (off from every other node), kill (restarted empty at TO) or pause; repeatable, e.g. cut:n0:5-15.
    #[arg(long = "fault", value_name = "KIND:NODE:FROM-TO")]
    pub targeted: Vec<String>,
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
    /// Every fault of the run: `--nemesis`, `--nemesis-interval`, `--loss`, `--duplicate`, `--fault`.
    pub faults: FaultPlan,
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

/// Collects every problem with the arguments while the flags are checked one by one.
#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    /// The value, or `None` with its problem recorded.
    fn take<T>(&mut self, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }
}

/// `--flag raw`: a whole number in `range`, or the problem (`what` describes what is expected).
fn whole<T: std::str::FromStr + PartialOrd>(
    flag: &str,
    raw: &str,
    range: std::ops::RangeInclusive<T>,
    what: &str,
) -> Result<T, String> {
    raw.parse::<T>().ok().filter(|v| range.contains(v)).ok_or_else(|| format!("{flag} {raw}: must be {what}"))
}

/// `--flag raw`: a number (Clojure's reader syntax: integer, decimal or ratio) in `range`, or the problem.
fn number(flag: &str, raw: &str, range: std::ops::RangeInclusive<f64>, what: &str) -> Result<f64, String> {
    parse_number(raw).filter(|v| range.contains(v)).ok_or_else(|| format!("{flag} {raw}: must be {what}"))
}

/// `--flag raw` parsed with `FromStr`, its error prefixed with the flag.
fn named<T: std::str::FromStr<Err = String>>(flag: &str, raw: &str) -> Result<T, String> {
    raw.parse::<T>().map_err(|e| format!("{flag} {raw}: {e}"))
}

impl TestArgs {
    /// Validates the flags into a [`TestConfig`]. `random_seed` is used when `--seed` is absent. Every problem is
    /// reported, one line each.
    pub fn validate(self, random_seed: u64) -> Result<TestConfig, CliError> {
        let mut p = Problems::default();
        let workload = p.take(self.workload.parse::<Workload>().map_err(|e| {
            if MAELSTROM_ONLY_WORKLOADS.contains(&self.workload.as_str()) {
                format!(
                    "--workload {}: a Maelstrom workload that osmosis-harness does not run (it runs {})",
                    self.workload,
                    Workload::names()
                )
            } else {
                format!("--workload: {e}")
            }
        }));
        let bin = p.take(self.bin_path());
        let nodes = self.node_names(&mut p);
        let seconds = format!("a whole number of seconds from 1 to {MAX_SECONDS}");
        let time_limit_s = p.take(whole("--time-limit", &self.time_limit, 1..=MAX_SECONDS, &seconds));
        let rate = p.take(number("--rate", &self.rate, 0.0..=f64::MAX, "a non-negative number"));
        let concurrency = p.take(parse_concurrency(&self.concurrency, nodes.len()));
        let ms = "a non-negative whole number of milliseconds";
        let latency_ms = p.take(whole("--latency", &self.latency, 0..=u64::MAX, ms));
        let dist = p.take(named::<LatencyDist>("--latency-dist", &self.latency_dist));
        let latency = match (latency_ms, dist) {
            (Some(m), Some(d)) => {
                p.take(Latency::new(m, d).map_err(|e| format!("--latency {m} --latency-dist {d}: {e}")))
            }
            _ => None,
        };
        let topology = p.take(named::<TopologyKind>("--topology", &self.topology));
        let faults = self.faults(&mut p, &nodes);
        let availability = match self.availability.as_deref() {
            None => None,
            Some("total") => Some(AvailabilityReq::Total),
            Some(s) => p.take(
                number("--availability", s, 0.0..=1.0, "total or a number in [0, 1]").map(AvailabilityReq::AtLeast),
            ),
        };
        let test_count = p.take(whole("--test-count", &self.test_count, 1..=u32::MAX, "a positive whole number"));
        let recovery_range = format!("a number of seconds from 0 to {MAX_SECONDS}");
        let recovery_s = p.take(number("--recovery", &self.recovery, 0.0..=MAX_SECONDS as f64, &recovery_range));
        match (workload, bin, time_limit_s, rate, concurrency, latency, topology, faults, test_count, recovery_s) {
            (
                Some(workload),
                Some(bin),
                Some(time_limit_s),
                Some(rate),
                Some(concurrency),
                Some(latency),
                Some(topology),
                Some(faults),
                Some(test_count),
                Some(recovery_s),
            ) if p.0.is_empty() => Ok(TestConfig {
                workload,
                bin,
                bin_args: self.args.into_iter().skip_while(|a| a == "--").collect(),
                nodes,
                time_limit_s,
                rate,
                concurrency,
                latency,
                topology,
                faults,
                availability,
                log_stderr: self.log_stderr,
                log_net_send: self.log_net_send,
                log_net_recv: self.log_net_recv,
                seed: self.seed.unwrap_or(random_seed),
                store: self.store,
                recovery_s,
                test_count,
            }),
            _ => Err(CliError(p.0)),
        }
    }

    /// `--bin`, canonicalised (spec §1.1).
    fn bin_path(&self) -> Result<PathBuf, String> {
        let path = self.bin.as_ref().ok_or_else(|| "Expected a --bin PATH_TO_BINARY to test".to_owned())?;
        match std::fs::canonicalize(path) {
            Ok(p) if p.is_file() => Ok(p),
            Ok(p) => Err(format!("--bin {}: not a file", p.display())),
            Err(e) => Err(format!("--bin {}: {e}", path.display())),
        }
    }

    /// The node names: `--node-count` (`n0…`), else `--nodes-file`, `--nodes`, `--node`, else `n1…n5`; each must
    /// be a usable, unique name (every one that is not is a problem).
    fn node_names(&self, p: &mut Problems) -> Vec<String> {
        let split = |text: &str, sep: char| -> Vec<String> {
            text.split(sep).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
        };
        let mut names = match self.node_count {
            Some(n) if !(1..=10_000).contains(&n) => {
                p.0.push(format!("--node-count {n}: must be from 1 to 10000"));
                return Vec::new();
            }
            Some(n) => (0..n).map(|i| format!("n{i}")).collect(),
            None => match (&self.nodes_file, &self.nodes) {
                (Some(file), _) => {
                    let text =
                        std::fs::read_to_string(file).map_err(|e| format!("--nodes-file {}: {e}", file.display()));
                    p.take(text).map_or_else(Vec::new, |t| split(&t, '\n'))
                }
                (None, Some(list)) => split(list, ','),
                (None, None) => self.node.clone(),
            },
        };
        if names.is_empty() {
            names = (1..=5).map(|i| format!("n{i}")).collect();
        }
        let mut seen = std::collections::BTreeSet::new();
        for n in &names {
            let bad_char = !n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            let problem = if n.starts_with('c') {
                "names starting with 'c' are client ids"
            } else if crate::service::SERVICE_NAMES.contains(&n.as_str()) {
                "that is a built-in service's name"
            } else if bad_char || n.starts_with('.') {
                "use letters, digits, '-', '_' and '.' (it names a log file)"
            } else if !seen.insert(n) {
                "given twice"
            } else {
                continue;
            };
            p.0.push(format!("node name {n:?}: {problem}"));
        }
        names
    }

    /// `--nemesis`, `--nemesis-interval`, `--loss`, `--duplicate` and `--fault` as one plan.
    fn faults(&self, p: &mut Problems, nodes: &[String]) -> Option<FaultPlan> {
        let interval_range = format!("a number of seconds from 0.000001 to {MAX_SECONDS}");
        let interval_s =
            p.take(number("--nemesis-interval", &self.nemesis_interval, 1e-6..=MAX_SECONDS as f64, &interval_range));
        let names: Vec<&str> =
            self.nemesis.iter().flat_map(|f| f.split(',')).map(str::trim).filter(|s| !s.is_empty()).collect();
        let mut probability = |flag: &str, raw: &Option<String>| match raw {
            Some(raw) if !names.contains(&&flag[2..]) => {
                p.0.push(format!("{flag} {raw}: needs --nemesis {}", &flag[2..]));
                None
            }
            Some(raw) => p.take(number(flag, raw, 0.0..=1.0, "a probability in [0, 1]")),
            None => Some(0.05),
        };
        let (loss, duplicate) = (probability("--loss", &self.loss), probability("--duplicate", &self.duplicate));
        let mut plan = FaultPlan { interval_s: interval_s?, ..FaultPlan::default() };
        for &fault in &names {
            match fault {
                "partition" => plan.kinds.push(FaultKind::Partition),
                "kill" => plan.kinds.push(FaultKind::Kill),
                "pause" => plan.kinds.push(FaultKind::Pause),
                "loss" => plan.loss = loss?,
                "duplicate" => plan.duplicate = duplicate?,
                _ => p.0.push(format!(
                    "--nemesis {fault}: unknown fault; Maelstrom's is partition, the osmosis extensions kill, pause, \
                     loss and duplicate"
                )),
            }
        }
        plan.kinds.sort_unstable();
        plan.kinds.dedup();
        for raw in self.targeted.iter().flat_map(|f| f.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
            let t = p.take(raw.parse::<TargetedFault>().map_err(|e| format!("--fault {e}")))?;
            if !nodes.contains(&t.node) {
                p.0.push(format!("--fault {raw}: no node {:?} in this test", t.node));
            }
            plan.targeted.push(t);
        }
        Some(plan)
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
}
