//! [`TestArgs::validate`]: from the flags as typed to a [`TestConfig`], every problem reported.

use std::path::PathBuf;

use super::{CliError, MAX_SECONDS, TestArgs, TestConfig};
use crate::checker::AvailabilityReq;
use crate::latency::{Latency, LatencyDist};
use crate::nemesis::{FaultKind, FaultPlan, TargetedFault};
use crate::run::sim::{SimBin, SimNodes};
use crate::topology::TopologyKind;
use crate::workload::Workload;

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
    /// reported, one line each. `--sim` knows the harness's built-in in-process nodes.
    pub fn validate(self, random_seed: u64) -> Result<TestConfig, CliError> {
        self.validate_with(random_seed, &SimNodes::builtin())
    }

    /// [`TestArgs::validate`], with `sim_nodes` as the nodes `--sim` can run in process.
    pub fn validate_with(self, random_seed: u64, sim_nodes: &SimNodes) -> Result<TestConfig, CliError> {
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
        let (bin, sim) = match self.sim {
            false => (p.take(self.bin_path()), None),
            true => match p.take(self.sim_bin(sim_nodes)) {
                Some((bin, sim)) => (Some(bin), Some(sim)),
                None => (None, None),
            },
        };
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
                sim,
            }),
            _ => Err(CliError(p.0)),
        }
    }

    /// `--sim --bin …/NAME`: the in-process node named NAME, which must take the node arguments.
    fn sim_bin(&self, sim_nodes: &SimNodes) -> Result<(PathBuf, SimBin), String> {
        let path = self.bin.as_ref().ok_or_else(|| "Expected a --bin PATH_TO_BINARY to test".to_owned())?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let factory = sim_nodes.find(name).ok_or_else(|| {
            format!(
                "--sim --bin {}: no in-process node named {name:?} here (this binary has: {})",
                path.display(),
                sim_nodes.names()
            )
        })?;
        let args: Vec<String> = self.args.iter().skip_while(|a| *a == "--").cloned().collect();
        factory.spawn(&args, 0).map_err(|e| format!("--sim: the {name} node refuses its arguments {args:?}: {e}"))?;
        Ok((std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()), SimBin(factory)))
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
