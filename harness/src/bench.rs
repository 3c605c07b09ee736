//! `osmosis-harness bench`: runs a file of named scenarios one after another, each exactly as
//! `osmosis-harness test` would run it, and prints one markdown table of the figures that matter.
//!
//! ## The scenario file
//!
//! Blank lines and lines whose first non-blank character is `#` are ignored. Every other line is
//! `NAME ARGS…`: `NAME` (letters, digits, `-`, `_`; unique in the file) and the arguments one would give to
//! `osmosis-harness test`, split on whitespace (no quoting), node arguments last:
//!
//! ```text
//! # name          test flags …                                                            node args
//! flood-grid-5    -w broadcast --bin target/release/osmosis-reference-node --node-count 5 flood
//! ```
//!
//! Each line goes through `test`'s own parser ([`TestArgs`]) and [`TestArgs::validate`], so a line accepts
//! exactly what `test` accepts; relative paths are relative to the working directory, as for `test`. Every line
//! is parsed and validated before anything runs; each problem becomes one `FILE:LINE: message` line.
//!
//! ## Seeds and repeats
//!
//! A scenario runs `--repeat N` times (or its line's own `--test-count`, when given) with seeds `S`, `S+1`, …,
//! where `S` is the line's `--seed`, else the bench's `--seed` (default 1, so a bench is reproducible as is).
//! With more than one run, each figure of the table is `min/med/max` over the runs that produced it (the median
//! of an even count is the lower middle value: always one that was measured).
//!
//! ## The table
//!
//! `scenario`, `workload`, `nodes`, `nemesis` (`none`, or the faults: `partition`, `kill`, `loss 0.05`,
//! `cut:n0:5-15`, …), `valid` (`true`/`false`/`unknown`/`crash`:
//! the worst of the runs, with `(k/N)` when not every run agrees, and a crash's first line), `lost` (set-full
//! `:lost-count`), `msgs/op` (`:net :servers :msgs-per-op`), `stable p50/p95/max ms` (set-full
//! `:stable-latencies` at 0.5, 0.95 and 1), `ops` (client invocations), `wall s` (the run and its analysis).
//! A figure a run does not have (a counter has no lost elements, a crash has no analysis) is `-`.

use std::io::Write as _;
use std::time::Instant;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};

use crate::CheckedRun;
use crate::checker::Edn;
use crate::checker::Validity;
use crate::checker::set_full::quantiles;
use crate::cli::{BenchArgs, CliError, EXIT_BAD_ARGS, EXIT_CRASH, TestArgs, TestConfig};
use crate::run::RunError;
use crate::run::sim::SimNodes;

/// One scenario line's arguments, parsed with exactly `test`'s flags.
#[derive(Debug, Parser)]
#[command(name = "scenario", no_binary_name = true, disable_help_flag = true, allow_negative_numbers = true)]
struct ScenarioLine {
    #[command(flatten)]
    args: TestArgs,
}

/// The longest crash message kept in the table, in characters.
const MAX_CRASH_CHARS: usize = 100;

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name (letters, digits, `-`, `_`).
    pub name: String,
    /// Its line in the scenario file (1-based).
    pub line: usize,
    /// The test to run; `seed` is the first run's seed.
    pub config: TestConfig,
    /// How many runs (seeds `config.seed`, `config.seed + 1`, …).
    pub runs: u32,
    /// The line's arguments after its name, as written (with `--sim` first when the bench forced it).
    pub args: Vec<String>,
}

/// What every scenario gets unless its line says otherwise.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// First seed, for lines without `--seed`.
    pub seed: u64,
    /// Runs per scenario, for lines without `--test-count`.
    pub repeat: u32,
    /// Store directory for every scenario (overrides the lines' `--store`).
    pub store: Option<std::path::PathBuf>,
    /// Run every scenario in virtual time, as if its line said `--sim`.
    pub sim: bool,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid arguments");
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// Parses and validates a whole scenario file. `label` names the file in errors (`label:LINE: message`). Every
/// problem of every line is reported; nothing is returned unless every line is good and there is at least one.
pub fn parse_scenarios(label: &str, text: &str, defaults: &Defaults) -> Result<Vec<Scenario>, CliError> {
    parse_scenarios_with(label, text, defaults, &SimNodes::builtin())
}

/// [`parse_scenarios`], with `sim_nodes` as the nodes `--sim` lines can run in process.
pub fn parse_scenarios_with(
    label: &str,
    text: &str,
    defaults: &Defaults,
    sim_nodes: &SimNodes,
) -> Result<Vec<Scenario>, CliError> {
    let mut errors = Vec::new();
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut tokens = trimmed.split_whitespace();
        let name = tokens.next().unwrap_or_default().to_owned();
        let mut bad = |msg: String| errors.push(format!("{label}:{line}: {msg}"));
        if !valid_name(&name) {
            bad(format!("scenario name {name:?}: use only letters, digits, '-' and '_'"));
            continue;
        }
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            bad(format!("scenario {name} is already defined on line {first}"));
            continue;
        }
        seen.push((name.clone(), line));
        let mut tokens: Vec<String> = tokens.map(str::to_owned).collect();
        if defaults.sim && !tokens.iter().any(|t| t == "--sim") {
            tokens.insert(0, "--sim".to_owned());
        }
        let (flags, node_args) = match crate::cli::split_node_args(&tokens) {
            Ok(split) => split,
            Err(e) => {
                bad(format!("{name}: {e}"));
                continue;
            }
        };
        let matches = match ScenarioLine::command().try_get_matches_from(flags) {
            Ok(m) => m,
            Err(e) => {
                bad(format!("{name}: {}", clap_message(&e)));
                continue;
            }
        };
        let own_count = matches.value_source("test_count") == Some(ValueSource::CommandLine);
        let args = match ScenarioLine::from_arg_matches(&matches) {
            Ok(l) => TestArgs { args: node_args, ..l.args },
            Err(e) => {
                bad(format!("{name}: {}", clap_message(&e)));
                continue;
            }
        };
        match args.validate_with(defaults.seed, sim_nodes) {
            Ok(mut config) => {
                if let Some(store) = &defaults.store {
                    config.store = store.clone();
                }
                let runs = if own_count { config.test_count } else { defaults.repeat.max(1) };
                config.test_count = 1;
                scenarios.push(Scenario { name, line, config, runs, args: tokens });
            }
            Err(e) => e.0.into_iter().for_each(|m| bad(format!("{name}: {m}"))),
        }
    }
    if errors.is_empty() && scenarios.is_empty() {
        errors.push(format!("{label}: no scenarios (expected lines `NAME <test flags…>`)"));
    }
    if errors.is_empty() { Ok(scenarios) } else { Err(CliError(errors)) }
}

/// Keeps the scenarios named in `only` (comma-separated), in file order; every name must exist.
pub fn select(label: &str, scenarios: Vec<Scenario>, only: Option<&str>) -> Result<Vec<Scenario>, CliError> {
    let Some(only) = only else { return Ok(scenarios) };
    let wanted: Vec<&str> = only.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
    let known = |n: &str| scenarios.iter().any(|s| s.name == n);
    let names = || scenarios.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
    let mut errors: Vec<String> = wanted
        .iter()
        .filter(|n| !known(n))
        .map(|n| format!("{label}: --only {n}: no such scenario (the file has {})", names()))
        .collect();
    if wanted.is_empty() {
        errors.push(format!("{label}: --only {only:?}: names no scenario"));
    }
    if !errors.is_empty() {
        return Err(CliError(errors));
    }
    Ok(scenarios.into_iter().filter(|s| wanted.contains(&s.name.as_str())).collect())
}

/// How one run ended, from best to worst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `:valid? true`
    Valid,
    /// `:valid? :unknown`
    Unknown,
    /// `:valid? false`
    Invalid,
    /// The run crashed (no analysis); the error's first line.
    Crash(String),
}

impl Verdict {
    /// The checkers' verdict.
    pub fn of(valid: Validity) -> Verdict {
        match valid {
            Validity::True => Verdict::Valid,
            Validity::Unknown => Verdict::Unknown,
            Validity::False => Verdict::Invalid,
        }
    }

    /// Valid 0, unknown 1, invalid 2, crash 3 (the order of `test`'s worst-verdict exit code, spec §1.3).
    pub(crate) fn severity(&self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Unknown => 1,
            Verdict::Invalid => 2,
            Verdict::Crash(_) => 3,
        }
    }

    /// Maelstrom's exit code (spec §1.3): 0 valid, 2 unknown, 1 invalid, 255 crash.
    pub fn exit_code(&self) -> i32 {
        [0, 2, 1, EXIT_CRASH][usize::from(self.severity())]
    }

    /// `true`, `unknown`, `false` or `crash`: the table's `valid` column.
    pub fn label(&self) -> &'static str {
        ["true", "unknown", "false", "crash"][usize::from(self.severity())]
    }

    /// `valid`, `unknown`, `invalid`, or `crash: <first line>`: the progress line's word.
    pub fn word(&self) -> String {
        match self {
            Verdict::Crash(msg) => format!("crash: {msg}"),
            v => ["valid", "unknown", "invalid"][usize::from(v.severity())].to_owned(),
        }
    }
}

/// The figures of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// The verdict.
    pub verdict: Verdict,
    /// set-full `:lost-count`.
    pub lost: Option<u64>,
    /// `:net :servers :msgs-per-op`.
    pub msgs_per_op: Option<f64>,
    /// set-full stable latencies (ms) at 0.5, 0.95 and 1.
    pub stable_ms: Option<[u64; 3]>,
    /// Client invocations.
    pub ops: Option<u64>,
    /// Wall-clock seconds of the run and its analysis.
    pub wall_s: f64,
}

/// A number in the results map (`:msgs-per-op` is a 32-bit float, widened exactly).
fn edn_number(e: &Edn) -> Option<f64> {
    match e {
        Edn::Int(n) => Some(*n as f64),
        Edn::Float(x) => Some(*x),
        Edn::Float32(x) => Some(f64::from(*x)),
        _ => None,
    }
}

impl Figures {
    /// Reads a scored run's figures from its results map.
    pub fn of_run(run: &CheckedRun, wall_s: f64) -> Figures {
        let r = &run.results;
        let stable_ms = quantiles(r.stable_latencies(), &[0.5, 0.95, 1.0]).map(|q| [q[0].1, q[1].1, q[2].1]);
        Figures {
            verdict: Verdict::of(r.valid()),
            lost: r.workload_edn().get("lost-count").and_then(Edn::as_int).and_then(|n| u64::try_from(n).ok()),
            msgs_per_op: r.net_edn().get_in(&["servers", "msgs-per-op"]).and_then(edn_number),
            stable_ms,
            ops: Some(run.op_count),
            wall_s,
        }
    }

    /// A crashed run: its error's first line, no analysis.
    pub fn of_crash(e: &RunError, wall_s: f64) -> Figures {
        let text = e.to_string();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("crashed").trim();
        Figures {
            verdict: Verdict::Crash(first.to_owned()),
            lost: None,
            msgs_per_op: None,
            stable_ms: None,
            ops: None,
            wall_s,
        }
    }
}

/// One row of the table: a scenario and its runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Scenario name.
    pub scenario: String,
    /// Workload name.
    pub workload: String,
    /// Number of nodes.
    pub nodes: usize,
    /// `none`, or the faults ([`crate::nemesis::FaultPlan::describe`]).
    pub nemesis: String,
    /// Every run's figures, in seed order.
    pub runs: Vec<Figures>,
}

impl Row {
    /// An empty row for `scenario`.
    pub fn new(scenario: &Scenario) -> Row {
        let c = &scenario.config;
        Row {
            scenario: scenario.name.clone(),
            workload: c.workload.name().to_owned(),
            nodes: c.nodes.len(),
            nemesis: c.faults.describe(),
            runs: Vec::new(),
        }
    }

    /// The worst verdict of the runs (valid for none).
    pub fn worst(&self) -> Verdict {
        self.runs.iter().map(|f| &f.verdict).max_by_key(|v| v.severity()).cloned().unwrap_or(Verdict::Valid)
    }

    fn valid_cell(&self) -> String {
        let worst = self.worst();
        let mut cell = worst.label().to_owned();
        if let Verdict::Crash(msg) = &worst {
            let short: String = msg.chars().take(MAX_CRASH_CHARS).collect();
            let ellipsis = if short.len() < msg.len() { "…" } else { "" };
            cell.push_str(&format!(": {short}{ellipsis}"));
        }
        let same = self.runs.iter().filter(|f| f.verdict.severity() == worst.severity()).count();
        if same < self.runs.len() {
            cell.push_str(&format!(" ({same}/{})", self.runs.len()));
        }
        cell
    }

    fn cells(&self) -> Vec<String> {
        let n = self.runs.len();
        let stable = |i: usize| spread(n, self.runs.iter().filter_map(|f| f.stable_ms.map(|s| s[i])), u64::to_string);
        vec![
            self.scenario.clone(),
            self.workload.clone(),
            self.nodes.to_string(),
            self.nemesis.clone(),
            self.valid_cell(),
            spread(n, self.runs.iter().filter_map(|f| f.lost), u64::to_string),
            spread(n, self.runs.iter().filter_map(|f| f.msgs_per_op), |x| format!("{x:.2}")),
            stable(0),
            stable(1),
            stable(2),
            spread(n, self.runs.iter().filter_map(|f| f.ops), u64::to_string),
            spread(n, self.runs.iter().map(|f| f.wall_s), |x| format!("{x:.1}")),
        ]
    }
}

/// `-` without values; the value for one run; else `min/med/max` (lower median) over the values present.
fn spread<T: PartialOrd + Copy>(runs: usize, values: impl Iterator<Item = T>, fmt: impl Fn(&T) -> String) -> String {
    let mut v: Vec<T> = values.collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    match (v.first(), v.last()) {
        (Some(&min), Some(&max)) if runs > 1 => format!("{}/{}/{}", fmt(&min), fmt(&v[(v.len() - 1) / 2]), fmt(&max)),
        (Some(only), _) => fmt(only),
        _ => "-".to_owned(),
    }
}

/// The table's header.
pub const COLUMNS: [&str; 12] = [
    "scenario",
    "workload",
    "nodes",
    "nemesis",
    "valid",
    "lost",
    "msgs/op",
    "stable p50 ms",
    "stable p95 ms",
    "stable max ms",
    "ops",
    "wall s",
];

/// Columns from `nodes` on that hold numbers, right-aligned.
fn numeric(column: usize) -> bool {
    column == 2 || column >= 5
}

/// The GitHub-markdown table, one row per scenario, columns padded so it also reads as plain text.
pub fn table(rows: &[Row]) -> String {
    let escape = |s: String| s.replace('|', "\\|");
    let body: Vec<Vec<String>> = rows.iter().map(|r| r.cells().into_iter().map(escape).collect()).collect();
    let width =
        |c: usize| body.iter().map(|r| r[c].chars().count()).chain([COLUMNS[c].chars().count(), 3]).max().unwrap_or(3);
    let widths: Vec<usize> = (0..COLUMNS.len()).map(width).collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, s)| {
                let pad = " ".repeat(widths[c].saturating_sub(s.chars().count()));
                if numeric(c) { format!("{pad}{s}") } else { format!("{s}{pad}") }
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(COLUMNS.iter().map(|c| (*c).to_owned()).collect());
    out.push_str(&line(
        widths
            .iter()
            .enumerate()
            .map(|(c, &w)| if numeric(c) { format!("{}:", "-".repeat(w - 1)) } else { "-".repeat(w) })
            .collect(),
    ));
    for cells in body {
        out.push_str(&line(cells));
    }
    out
}

/// `S` for one run, `S–T` for several.
fn seed_range(first: u64, runs: u32) -> String {
    match runs {
        0 | 1 => first.to_string(),
        n => format!("{first}–{}", first.wrapping_add(u64::from(n) - 1)),
    }
}

/// A word as a POSIX shell would need it to read it back.
pub(crate) fn shell_word(w: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c);
    if !w.is_empty() && w.chars().all(plain) { w.to_owned() } else { format!("'{}'", w.replace('\'', r"'\''")) }
}

/// The line under the table: the seeds (the bench's, then each scenario whose own differ) and the command.
pub fn footer(scenarios: &[Scenario], defaults: &Defaults, argv: &[String]) -> String {
    let mut seeds = format!("Seeds {}", seed_range(defaults.seed, defaults.repeat));
    for s in scenarios.iter().filter(|s| s.config.seed != defaults.seed || s.runs != defaults.repeat) {
        seeds.push_str(&format!(", {} {}", s.name, seed_range(s.config.seed, s.runs)));
    }
    let command: Vec<String> = argv.iter().map(|a| shell_word(a)).collect();
    format!("{seeds}; command: `{}`\n", command.join(" "))
}

/// Runs every scenario's runs in turn through `runner`, with a progress line per run on stderr.
pub fn run_all(
    scenarios: &[Scenario],
    mut runner: impl FnMut(&TestConfig) -> Result<CheckedRun, RunError>,
) -> Vec<Row> {
    let total: u64 = scenarios.iter().map(|s| u64::from(s.runs)).sum();
    let mut done = 0;
    let mut rows = Vec::new();
    for scenario in scenarios {
        let mut row = Row::new(scenario);
        for i in 0..scenario.runs {
            done += 1;
            let mut config = scenario.config.clone();
            config.seed = scenario.config.seed.wrapping_add(u64::from(i));
            let head = format!("[{done}/{total}] {} seed {} …", scenario.name, config.seed);
            eprintln!("{head}");
            let start = Instant::now();
            let outcome = runner(&config);
            let wall_s = start.elapsed().as_secs_f64();
            let figures = match &outcome {
                Ok(run) => Figures::of_run(run, wall_s),
                Err(e) => Figures::of_crash(e, wall_s),
            };
            let stored = outcome.ok().and_then(|r| r.dir).map(|d| format!(", {}", d.display())).unwrap_or_default();
            eprintln!("{head} {} ({wall_s:.0} s{stored})", figures.verdict.word());
            row.runs.push(figures);
        }
        rows.push(row);
    }
    rows
}

/// Reads, parses and selects the scenarios of `args`.
pub fn load(args: &BenchArgs, sim_nodes: &SimNodes) -> Result<(Vec<Scenario>, Defaults), CliError> {
    let label = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).map_err(|e| CliError(vec![format!("{label}: {e}")]))?;
    let defaults = Defaults { seed: args.seed, repeat: args.repeat, store: args.store.clone(), sim: args.sim };
    let scenarios = parse_scenarios_with(&label, &text, &defaults, sim_nodes)?;
    Ok((select(&label, scenarios, args.only.as_deref())?, defaults))
}

/// `osmosis-harness bench`: loads the scenarios (any problem: its lines on stderr, exit 254), runs them with
/// [`crate::run_and_check`], prints the table and the footer on stdout, and returns the exit code of the worst
/// run (0 when every run is valid).
pub fn bench(args: &BenchArgs, argv: &[String], sim_nodes: &SimNodes) -> i32 {
    let (scenarios, defaults) = match load(args, sim_nodes) {
        Ok(s) => s,
        Err(e) => {
            e.0.iter().for_each(|line| eprintln!("{line}"));
            return EXIT_BAD_ARGS;
        }
    };
    let total: u32 = scenarios.iter().map(|s| s.runs).sum();
    eprintln!("bench {}: {} scenarios, {total} runs, seed {}", args.file.display(), scenarios.len(), args.seed);
    let rows = run_all(&scenarios, crate::run_and_check);
    let mut out = std::io::stdout().lock();
    if let Err(e) = write!(out, "{}\n{}", table(&rows), footer(&scenarios, &defaults, argv)).and_then(|()| out.flush())
    {
        eprintln!("stdout: {e}");
    }
    rows.iter().map(Row::worst).max_by_key(Verdict::severity).map_or(0, |v| v.exit_code())
}

#[cfg(test)]
mod tests;
