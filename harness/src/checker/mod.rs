//! Checkers (spec §9) and the results map they build. Owner: checkers helper. Interface fixed; bodies to fill.

use crate::diagnostic::Diagnostic;
use crate::history::History;
use crate::net::NetStats;
use crate::workload::Workload;

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
}

/// The composed results (`results.edn` / `results.json`).
#[derive(Debug, Clone)]
pub struct Results {}

impl Results {
    /// The overall verdict.
    pub fn valid(&self) -> Validity {
        todo!()
    }
}

/// Runs every checker of §9 and composes their results.
pub fn check(config: &CheckConfig, history: &History, net: &NetStats, diagnostics: &[Diagnostic]) -> Results {
    todo!("{config:?} {history:?} {net:?} {diagnostics:?}")
}
