//! The workloads the harness can run (spec §7): their names, and (in the driver) their RPC shapes.

use std::fmt;
use std::str::FromStr;

/// A Maelstrom workload supported by the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// `echo` (§7.5)
    Echo,
    /// `broadcast` (§7.1)
    Broadcast,
    /// `g-set` (§7.2)
    GSet,
    /// `g-counter` (§7.4)
    GCounter,
    /// `pn-counter` (§7.3)
    PnCounter,
    /// `unique-ids` (§7.6)
    UniqueIds,
}

impl Workload {
    /// Every supported workload, in the order the help text lists them.
    pub const ALL: [Workload; 6] = [
        Workload::Broadcast,
        Workload::Echo,
        Workload::GCounter,
        Workload::GSet,
        Workload::PnCounter,
        Workload::UniqueIds,
    ];

    /// Maelstrom's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Echo => "echo",
            Workload::Broadcast => "broadcast",
            Workload::GSet => "g-set",
            Workload::GCounter => "g-counter",
            Workload::PnCounter => "pn-counter",
            Workload::UniqueIds => "unique-ids",
        }
    }

    /// Every workload's name, comma-separated (for error messages).
    pub fn names() -> String {
        Workload::ALL.iter().map(|w| w.name()).collect::<Vec<_>>().join(", ")
    }

    /// Does the run end with heal, recovery and one final read per client thread (§6.1)?
    pub fn has_final_reads(self) -> bool {
        !matches!(self, Workload::Echo | Workload::UniqueIds)
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| format!("unknown workload {s:?}; expected one of {}", Workload::names()))
    }
}
