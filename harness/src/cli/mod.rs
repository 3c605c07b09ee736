//! The command line (spec §1): Maelstrom's `test` flags with their names and defaults, plus ours (`--seed`,
//! `--store`, `--recovery`, `--sim`, the fault extensions) and the `bench` and `sweep` subcommands. Parsing never
//! panics: every problem becomes one line of a [`CliError`], and the binary exits with Maelstrom's code for bad
//! arguments (254). [`parse`] splits node arguments from harness flags ([`split_node_args`]);
//! [`TestArgs::validate`] turns the flags into a [`TestConfig`]; [`main`] is the binaries' entry point.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::checker::AvailabilityReq;
use crate::latency::Latency;
use crate::nemesis::FaultPlan;
use crate::run::sim::SimBin;
use crate::topology::TopologyKind;
use crate::workload::Workload;

mod entry;
mod node_args;
mod validate;

pub use entry::main;
use node_args::NODE_ARGS_HELP;
pub use node_args::{ParseError, parse, split_node_args};
pub use validate::parse_concurrency;

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
    #[command(
        after_help = NODE_ARGS_HELP,
        override_usage = "test [OPTIONS] --bin <FILE> [NODE_ARGS]... [-- NODE_ARGS...]",
        allow_negative_numbers = true
    )]
    Test(TestArgs),
    /// Run the named scenarios of a file one after another and print one table of their figures.
    Bench(BenchArgs),
    /// (osmosis) Run the scenarios of a file over many seeds in virtual time, on every core, and print one summary
    /// and the command that replays each failing seed.
    Sweep(SweepArgs),
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
    /// (osmosis) Run every scenario in virtual time, with its node in process, as if each line said `--sim`.
    #[arg(long)]
    pub sim: bool,
    /// The scenario file: one `NAME <test flags…> [node args…]` per line, `#` comments.
    #[arg(value_name = "SCENARIO_FILE")]
    pub file: PathBuf,
}

/// `osmosis-harness sweep` flags (see [`crate::sweep`]).
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The seeds: `A..B` (A to B−1), `A..=B` (A to B) or one seed.
    #[arg(long, value_name = "A..B")]
    pub seeds: String,
    /// Run only these scenarios (comma-separated names), in file order.
    #[arg(long, value_name = "NAME[,NAME…]")]
    pub only: Option<String>,
    /// Runs at once (default: one per core).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Store every failing run again, in full, under this directory (runs are otherwise kept in memory only).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// The scenario file, as for `bench`; every line runs in virtual time (`--sim`).
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
    /// (osmosis) Where runs are stored: `<store>/<workload>/<time>/`, with `<store>/latest` pointing at the
    /// newest.
    #[arg(long, default_value = "store", value_name = "DIR")]
    pub store: PathBuf,
    /// (osmosis extension) Run in virtual time, the node in process instead of --bin's processes: the same core,
    /// schedule, faults and checks, a clock that jumps to the next event. --bin names the node by its file name
    /// (it need not exist); an unknown one is an error that lists the nodes this binary has.
    #[arg(long)]
    pub sim: bool,
    /// (osmosis) Seconds of the recovery sleep before final reads. Maelstrom's is 10; shorten it for quick CI runs.
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    pub recovery: String,
    /// Arguments passed to the node binary: after the last harness flag, or after `--` (set by [`parse`] from
    /// [`split_node_args`], never by clap).
    #[arg(skip)]
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
    /// `--sim`: the in-process node that stands for `bin`, run in virtual time.
    pub sim: Option<SimBin>,
}

/// The longest time a flag may ask for (a year): durations become nanoseconds in a `u64`.
pub const MAX_SECONDS: u64 = 365 * 24 * 3600;

/// Every problem found with the arguments, one line each (Maelstrom prints each error line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub Vec<String>);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests;
