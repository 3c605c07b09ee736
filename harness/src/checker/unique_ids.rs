//! Jepsen's `unique-ids` checker (spec §9.4).

use std::collections::BTreeMap;

use serde_json::Value;

use super::compare::{ValueKey, clojure_compare};
use super::edn::Edn;
use crate::history::{F, History, OpType};

/// How many duplicated ids `:duplicated` shows.
const SHOWN_DUPLICATES: usize = 48;

/// The unique-ids checker's result.
#[derive(Debug, Clone, PartialEq)]
pub struct UniqueIdsResult {
    /// `:generate` invocations.
    pub attempted_count: usize,
    /// `:ok` `:generate` completions.
    pub acknowledged_count: usize,
    /// Distinct ids acknowledged more than once.
    pub duplicated_count: usize,
    /// Up to 48 of the most frequent duplicates, id → times acknowledged, sorted by id.
    pub duplicated: Vec<(Value, u64)>,
    /// Smallest and largest acknowledged id (Clojure `compare`), `None` when nothing was acknowledged.
    pub range: Option<(Value, Value)>,
}

impl UniqueIdsResult {
    /// No id acknowledged twice.
    pub fn valid(&self) -> bool {
        self.duplicated_count == 0
    }

    /// `{:valid? :attempted-count :acknowledged-count :duplicated-count :duplicated :range}`.
    pub fn to_edn(&self) -> Edn {
        let range = match &self.range {
            Some((lo, hi)) => Edn::Vector(vec![Edn::from_json(lo), Edn::from_json(hi)]),
            None => Edn::Vector(vec![Edn::Nil, Edn::Nil]),
        };
        Edn::kw_map([
            ("valid?", Edn::Bool(self.valid())),
            ("attempted-count", Edn::count(self.attempted_count)),
            ("acknowledged-count", Edn::count(self.acknowledged_count)),
            ("duplicated-count", Edn::count(self.duplicated_count)),
            ("duplicated", Edn::Map(self.duplicated.iter().map(|(v, n)| (Edn::from_json(v), Edn::from(*n))).collect())),
            ("range", range),
        ])
    }
}

fn sort_by_value(entries: &mut [(Value, u64)]) -> Result<(), String> {
    let mut err = None;
    entries.sort_by(|a, b| {
        clojure_compare(&a.0, &b.0).unwrap_or_else(|e| {
            err.get_or_insert(e);
            std::cmp::Ordering::Equal
        })
    });
    err.map_or(Ok(()), |e| Err(format!("unique-ids: {e}")))
}

/// Runs the unique-ids checker over every `:generate` op. `Err` where Clojure would throw: ids of types
/// `compare` cannot order (e.g. a number and a string).
pub fn check(history: &History) -> Result<UniqueIdsResult, String> {
    let mut attempted_count = 0;
    let mut acknowledged_count = 0;
    let mut freqs: BTreeMap<ValueKey, (Value, u64)> = BTreeMap::new();
    let mut range: Option<(Value, Value)> = None;
    for op in history.ops.iter().filter(|op| op.f == F::Generate) {
        match op.op_type {
            OpType::Invoke => attempted_count += 1,
            OpType::Ok => {
                acknowledged_count += 1;
                freqs.entry(ValueKey::of(&op.value)).or_insert_with(|| (op.value.clone(), 0)).1 += 1;
                range = Some(match range {
                    None => (op.value.clone(), op.value.clone()),
                    Some((lo, hi)) => {
                        let lo = if clojure_compare(&op.value, &lo)?.is_lt() { op.value.clone() } else { lo };
                        let hi = if clojure_compare(&op.value, &hi)?.is_gt() { op.value.clone() } else { hi };
                        (lo, hi)
                    }
                });
            }
            OpType::Fail | OpType::Info => {}
        }
    }
    // (->> dups (sort-by val) reverse (take 48) (into (sorted-map))), dups being a sorted map.
    let mut dups: Vec<(Value, u64)> = freqs.into_values().filter(|(_, n)| *n > 1).collect();
    sort_by_value(&mut dups)?;
    let duplicated_count = dups.len();
    dups.sort_by_key(|(_, n)| *n);
    dups.reverse();
    dups.truncate(SHOWN_DUPLICATES);
    sort_by_value(&mut dups)?;
    Ok(UniqueIdsResult { attempted_count, acknowledged_count, duplicated_count, duplicated: dups, range })
}
