//! Checkers (spec §9) and the results map they build.
//!
//! [`check`] runs every checker of Maelstrom's composed checker over the history, as pure functions of their
//! inputs (no clock, no I/O), and returns [`Results`]: the results map of `results.edn` / `results.json`
//! (spec §10) with typed accessors. Top-level key order is fixed: `:perf :timeline :exceptions :stats
//! :availability :net :workload`, then our own keys when present (`:diagnostics`, `:ideal`, then whatever the
//! driver added with [`Results::insert_extra`], in insertion order), then `:valid?`.
//!
//! | key | module | valid? |
//! |---|---|---|
//! | `:perf`, `:timeline` | here | always `true` (the graphs are [`crate::plot`]'s business) |
//! | `:exceptions` | [`exceptions`] | always `true` |
//! | `:stats` | [`stats`] | every `:f` has an `:ok` |
//! | `:availability` | [`availability`] | against `--availability` |
//! | `:net` | [`net`] | always `true` |
//! | `:workload` | [`set_full`], [`counter`], [`echo`], [`unique_ids`] | per checker |
//! | `:ideal` (osmosis extension) | [`ideal`] | no verdict of its own |
//!
//! A checker that cannot finish (where Jepsen's would throw, e.g. ids that Clojure cannot compare) yields
//! `{:valid? :unknown, :error "<message>"}`, as Jepsen's `check-safe` does. The overall `:valid?` is the worst
//! of all (false > :unknown > true); diagnostics and extras never change it.

pub mod availability;
pub mod compare;
pub mod counter;
pub mod echo;
pub mod edn;
pub mod exceptions;
pub mod ideal;
pub mod net;
pub mod set_full;
pub mod stats;
pub mod unique_ids;

#[cfg(test)]
mod tests;

pub use edn::Edn;

use crate::diagnostic::Diagnostic;
use crate::history::History;
use crate::net::NetStats;
use crate::workload::Workload;
pub use ideal::{Cluster, IdealResult};

/// `:valid?`: `true`, `false` or `:unknown`; ordered so that the worst is the greatest (§9 overall rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Validity {
    /// `true`
    True,
    /// `:unknown`
    Unknown,
    /// `false`
    False,
}

impl Validity {
    /// `true`, `false` or `:unknown`.
    pub fn to_edn(self) -> Edn {
        match self {
            Validity::True => Edn::Bool(true),
            Validity::False => Edn::Bool(false),
            Validity::Unknown => Edn::kw("unknown"),
        }
    }

    /// The worst of several (`true` for none), as Jepsen's `merge-valid`.
    pub fn worst(all: impl IntoIterator<Item = Validity>) -> Validity {
        all.into_iter().max().unwrap_or(Validity::True)
    }
}

/// `--availability`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AvailabilityReq {
    /// `total`: every invocation must be `:ok`.
    Total,
    /// a fraction in `[0, 1]`.
    AtLeast(f64),
}

/// What the checkers need besides the history.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// Which workload checker to run.
    pub workload: Workload,
    /// `--availability`, if given.
    pub availability: Option<AvailabilityReq>,
    /// The cluster the history ran on, for the ideal-latency checker (broadcast and g-set; none without it).
    pub cluster: Option<Cluster>,
}

/// The keys of the checkers, in output order.
pub const CHECKER_KEYS: [&str; 7] = ["perf", "timeline", "exceptions", "stats", "availability", "net", "workload"];

/// Top-level keys [`Results::insert_extra`] may not use.
const RESERVED_KEYS: [&str; 10] =
    ["perf", "timeline", "exceptions", "stats", "availability", "net", "workload", "diagnostics", "ideal", "valid?"];

/// One checker's result.
#[derive(Debug, Clone, PartialEq)]
struct Section {
    key: &'static str,
    valid: Validity,
    edn: Edn,
}

/// The composed results (`results.edn` / `results.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    sections: Vec<Section>,
    diagnostics: Vec<String>,
    extras: Vec<(String, Edn)>,
    stable_latencies: Vec<u64>,
    lost_latencies: Vec<u64>,
    lost: Vec<serde_json::Value>,
    ideal: Option<IdealResult>,
}

impl Results {
    /// The overall verdict: the worst of the checkers' (diagnostics and extras do not count).
    pub fn valid(&self) -> Validity {
        Validity::worst(self.sections.iter().map(|s| s.valid))
    }

    /// One checker's map by its key (`"stats"`, `"net"`, …; see [`CHECKER_KEYS`]).
    pub fn section(&self, key: &str) -> Option<&Edn> {
        self.sections.iter().find(|s| s.key == key).map(|s| &s.edn)
    }

    /// One checker's verdict by its key.
    pub fn section_valid(&self, key: &str) -> Option<Validity> {
        self.sections.iter().find(|s| s.key == key).map(|s| s.valid)
    }

    /// The `:workload` map.
    pub fn workload_edn(&self) -> &Edn {
        self.section("workload").unwrap_or(&Edn::Nil)
    }

    /// The `:net` map.
    pub fn net_edn(&self) -> &Edn {
        self.section("net").unwrap_or(&Edn::Nil)
    }

    /// The `:stats` map.
    pub fn stats_edn(&self) -> &Edn {
        self.section("stats").unwrap_or(&Edn::Nil)
    }

    /// The `:availability` map.
    pub fn availability_edn(&self) -> &Edn {
        self.section("availability").unwrap_or(&Edn::Nil)
    }

    /// set-full workloads: the stable latency (ms) of every stable element, in element order (empty otherwise).
    pub fn stable_latencies(&self) -> &[u64] {
        &self.stable_latencies
    }

    /// set-full workloads: the lost latency (ms) of every lost element, in element order (empty otherwise).
    pub fn lost_latencies(&self) -> &[u64] {
        &self.lost_latencies
    }

    /// set-full workloads: the lost elements, ascending (empty otherwise).
    pub fn lost(&self) -> &[serde_json::Value] {
        &self.lost
    }

    /// The ideal-latency checker's result (broadcast and g-set, when the cluster was known).
    pub fn ideal(&self) -> Option<&IdealResult> {
        self.ideal.as_ref()
    }

    /// The largest excess of an element's stable latency over its ideal one (ms), from [`Results::ideal`].
    pub fn worst_excess_ms(&self) -> Option<i64> {
        self.ideal.as_ref().and_then(IdealResult::worst_excess_ms)
    }

    /// The largest staleness of an (element, node) pair beyond its earliest possible arrival (ms), from
    /// [`Results::ideal`].
    pub fn worst_staleness_ms(&self) -> Option<u64> {
        self.ideal.as_ref().and_then(IdealResult::worst_staleness_ms)
    }

    /// The diagnostics, one sentence each.
    pub fn diagnostics(&self) -> &[String] {
        &self.diagnostics
    }

    /// Adds (or replaces) one of our own top-level keys, e.g. `harness {:seed 42 …}`, printed after the
    /// checkers' keys and before `:valid?`. Extras never change the verdict.
    ///
    /// # Panics
    /// If `key` is one of the checkers' keys, `diagnostics` or `valid?` (a programming error).
    pub fn insert_extra(&mut self, key: &str, value: Edn) {
        assert!(!RESERVED_KEYS.contains(&key), "results key {key:?} is reserved");
        match self.extras.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.extras.push((key.to_owned(), value)),
        }
    }

    /// An extra added with [`Results::insert_extra`].
    pub fn extra(&self, key: &str) -> Option<&Edn> {
        self.extras.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The whole results map.
    pub fn edn(&self) -> Edn {
        let mut m: Vec<(Edn, Edn)> = self.sections.iter().map(|s| (Edn::kw(s.key), s.edn.clone())).collect();
        if !self.diagnostics.is_empty() {
            let d = self.diagnostics.iter().map(|d| Edn::str(d.as_str())).collect();
            m.push((Edn::kw("diagnostics"), Edn::Vector(d)));
        }
        if let Some(ideal) = &self.ideal {
            m.push((Edn::kw("ideal"), ideal.to_edn()));
        }
        m.extend(self.extras.iter().map(|(k, v)| (Edn::kw(k), v.clone())));
        m.push((Edn::kw("valid?"), self.valid().to_edn()));
        Edn::Map(m)
    }

    /// The results map as pretty EDN.
    pub fn to_edn(&self) -> String {
        self.edn().to_edn()
    }

    /// The results map as JSON (see [`edn`] for the mapping).
    pub fn to_json(&self) -> serde_json::Value {
        self.edn().to_json()
    }
}

/// `{:valid? :unknown, :error "<message>"}`: what Jepsen's `check-safe` returns for a checker that threw.
fn crashed(message: String) -> (Validity, Edn) {
    (Validity::Unknown, Edn::kw_map([("valid?", Validity::Unknown.to_edn()), ("error", Edn::Str(message))]))
}

/// Runs every checker of §9 and composes their results.
pub fn check(config: &CheckConfig, history: &History, net: &NetStats, diagnostics: &[Diagnostic]) -> Results {
    let always_valid = |edn: Edn| (Validity::True, edn);
    let perf = always_valid(Edn::kw_map([
        ("latency-graph", Edn::kw_map([("valid?", Edn::Bool(true))])),
        ("rate-graph", Edn::kw_map([("valid?", Edn::Bool(true))])),
        ("valid?", Edn::Bool(true)),
    ]));
    let timeline = always_valid(Edn::kw_map([("valid?", Edn::Bool(true))]));
    let exceptions = always_valid(exceptions::to_edn(&exceptions::check(history)));
    let stats = stats::check(history);
    let stats = (stats.valid(), stats.to_edn());
    let availability = availability::check(history, config.availability);
    let availability = (availability.validity(), availability.to_edn());
    let net = always_valid(net::to_edn(net, history));

    let mut stable_latencies = Vec::new();
    let mut lost_latencies = Vec::new();
    let mut lost = Vec::new();
    let mut ideal = None;
    let workload = match config.workload {
        Workload::Broadcast | Workload::GSet => match set_full::check(history) {
            Ok(r) => {
                stable_latencies = r.stable_latencies();
                lost_latencies = r.lost_latencies();
                lost = r.with_outcome(set_full::Outcome::Lost);
                ideal = config.cluster.as_ref().map(|c| ideal::check(history, &r, c));
                (r.valid(), r.to_edn())
            }
            Err(e) => crashed(e),
        },
        Workload::GCounter | Workload::PnCounter => match counter::check(history) {
            Ok(r) => (bool_validity(r.valid()), r.to_edn()),
            Err(e) => crashed(e),
        },
        Workload::Echo => {
            let r = echo::check(history);
            (bool_validity(r.valid()), r.to_edn())
        }
        Workload::UniqueIds => match unique_ids::check(history) {
            Ok(r) => (bool_validity(r.valid()), r.to_edn()),
            Err(e) => crashed(e),
        },
    };

    let sections = CHECKER_KEYS
        .into_iter()
        .zip([perf, timeline, exceptions, stats, availability, net, workload])
        .map(|(key, (valid, edn))| Section { key, valid, edn })
        .collect();
    Results {
        sections,
        diagnostics: diagnostics.iter().map(ToString::to_string).collect(),
        extras: Vec::new(),
        stable_latencies,
        lost_latencies,
        lost,
        ideal,
    }
}

fn bool_validity(valid: bool) -> Validity {
    if valid { Validity::True } else { Validity::False }
}
