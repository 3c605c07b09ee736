//! Jepsen's `stats` checker (as wrapped by the kafka `stats-checker`, which changes nothing for Maelstrom's
//! `:f`s), spec §9.5: counts of client completions, overall and by `:f`.

use std::collections::BTreeMap;

use super::Validity;
use super::edn::Edn;
use crate::history::{History, OpType};

/// Completion counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `:ok` completions.
    pub ok: u64,
    /// `:fail` completions.
    pub fail: u64,
    /// `:info` completions.
    pub info: u64,
}

impl Counts {
    /// All completions.
    pub fn count(&self) -> u64 {
        self.ok + self.fail + self.info
    }

    fn to_edn(self, valid: Validity) -> Vec<(&'static str, Edn)> {
        vec![
            ("valid?", valid.to_edn()),
            ("count", Edn::from(self.count())),
            ("ok-count", Edn::from(self.ok)),
            ("fail-count", Edn::from(self.fail)),
            ("info-count", Edn::from(self.info)),
        ]
    }
}

/// The stats result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsResult {
    /// Over every client completion.
    pub all: Counts,
    /// By `:f` name (sorted as Clojure sorts keywords).
    pub by_f: BTreeMap<&'static str, Counts>,
}

impl StatsResult {
    /// `true` iff every `:f` that occurs has at least one `:ok` (so `true` with no client ops).
    pub fn valid(&self) -> Validity {
        if self.by_f.values().all(|c| c.ok > 0) { Validity::True } else { Validity::False }
    }

    /// `{:valid? :count :ok-count :fail-count :info-count :by-f {<f> {…}}}`.
    pub fn to_edn(&self) -> Edn {
        let by_f = self
            .by_f
            .iter()
            .map(|(f, c)| {
                let valid = if c.ok > 0 { Validity::True } else { Validity::False };
                (Edn::kw(f), Edn::kw_map(c.to_edn(valid)))
            })
            .collect();
        let mut m = self.all.to_edn(self.valid());
        m.push(("by-f", Edn::Map(by_f)));
        Edn::kw_map(m)
    }
}

/// Counts client completions (invocations and nemesis ops excluded).
pub fn check(history: &History) -> StatsResult {
    let mut r = StatsResult::default();
    for op in history.ops.iter().filter(|op| op.is_client()) {
        let bump = |c: &mut Counts| match op.op_type {
            OpType::Ok => c.ok += 1,
            OpType::Fail => c.fail += 1,
            OpType::Info => c.info += 1,
            OpType::Invoke => {}
        };
        if op.op_type != OpType::Invoke {
            bump(&mut r.all);
            bump(r.by_f.entry(op.f.name()).or_default());
        }
    }
    r
}
