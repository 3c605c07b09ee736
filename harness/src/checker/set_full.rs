//! Jepsen's `set-full` checker (spec §9.1), used by broadcast (where `:broadcast` counts as `:add`) and g-set.
//!
//! Each element is tracked from its add *invocation*: `known` (the first `:ok` add completion, or the first `:ok`
//! read completion that returned it), `last_present` and `last_absent` (the latest-invoked `:ok` read that did or
//! did not contain it). Only the last reads by invocation index decide between stable and lost.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Validity;
use super::compare::{ValueKey, clojure_compare};
use super::edn::Edn;
use crate::history::{F, History, Op, OpType};

/// The quantile points of `:stable-latencies` / `:lost-latencies`.
pub const QUANTILE_POINTS: [f64; 5] = [0.0, 0.5, 0.95, 0.99, 1.0];

/// How many stale elements `:worst-stale` lists.
const WORST_STALE: usize = 8;

/// What became of one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Present in the last-invoked read that mentioned it either way.
    Stable,
    /// Known to be added, then missing from every read invoked after the last one that had it.
    Lost,
    /// Neither.
    NeverRead,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Stable => "stable",
            Outcome::Lost => "lost",
            Outcome::NeverRead => "never-read",
        }
    }
}

/// Per-element result (Jepsen's `set-full-element-results`).
#[derive(Debug, Clone, PartialEq)]
pub struct ElementResult {
    /// The element.
    pub element: Value,
    /// Stable, lost or never read.
    pub outcome: Outcome,
    /// Milliseconds from known to the invocation of the last read that missed it (0 if none); stable only.
    pub stable_latency: Option<u64>,
    /// Milliseconds from known to the invocation of the last read that had it (0 if none); lost only.
    pub lost_latency: Option<u64>,
    /// The op that made the element known.
    pub known: Option<Op>,
    /// The invocation of the latest-invoked read that did not contain it.
    pub last_absent: Option<Op>,
}

impl ElementResult {
    fn to_edn(&self) -> Edn {
        Edn::kw_map([
            ("element", Edn::from_json(&self.element)),
            ("outcome", Edn::kw(self.outcome.name())),
            ("stable-latency", Edn::from(self.stable_latency)),
            ("lost-latency", Edn::from(self.lost_latency)),
            ("known", self.known.as_ref().map_or(Edn::Nil, Edn::op)),
            ("last-absent", self.last_absent.as_ref().map_or(Edn::Nil, Edn::op)),
        ])
    }
}

/// The set-full result.
#[derive(Debug, Clone, PartialEq)]
pub struct SetFullResult {
    /// Every element, sorted by value (Clojure `compare`).
    pub elements: Vec<ElementResult>,
}

impl SetFullResult {
    /// `false` if anything was lost, `:unknown` if nothing is stable, else `true`.
    pub fn valid(&self) -> Validity {
        if self.count(Outcome::Lost) > 0 {
            Validity::False
        } else if self.count(Outcome::Stable) == 0 {
            Validity::Unknown
        } else {
            Validity::True
        }
    }

    /// Number of elements with this outcome.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.elements.iter().filter(|e| e.outcome == outcome).count()
    }

    /// Elements with this outcome, in ascending order.
    pub fn with_outcome(&self, outcome: Outcome) -> Vec<Value> {
        self.elements.iter().filter(|e| e.outcome == outcome).map(|e| e.element.clone()).collect()
    }

    /// Stable elements whose stable latency is positive, in ascending order.
    pub fn stale(&self) -> Vec<&ElementResult> {
        self.elements.iter().filter(|e| e.stable_latency.is_some_and(|l| l > 0)).collect()
    }

    /// Up to 8 stale elements with the largest stable latencies, largest first (ties: larger element first).
    pub fn worst_stale(&self) -> Vec<&ElementResult> {
        let mut stale = self.stale();
        stale.sort_by_key(|e| e.stable_latency); // stable sort, as Clojure's `sort-by`
        stale.reverse();
        stale.truncate(WORST_STALE);
        stale
    }

    /// The stable latency (ms) of every stable element, in element order.
    pub fn stable_latencies(&self) -> Vec<u64> {
        self.elements.iter().filter_map(|e| e.stable_latency).collect()
    }

    /// The lost latency (ms) of every lost element, in element order.
    pub fn lost_latencies(&self) -> Vec<u64> {
        self.elements.iter().filter_map(|e| e.lost_latency).collect()
    }

    /// The `:workload` map. Key order: `:valid? :attempt-count :stable-count :lost-count :lost
    /// :never-read-count :never-read :stale-count :stale :worst-stale [:stable-latencies] [:lost-latencies]
    /// :duplicated-count :duplicated`.
    pub fn to_edn(&self) -> Edn {
        let values = |vs: Vec<Value>| Edn::List(vs.iter().map(Edn::from_json).collect());
        let stale = self.stale();
        let mut m = vec![
            ("valid?", self.valid().to_edn()),
            ("attempt-count", Edn::count(self.elements.len())),
            ("stable-count", Edn::count(self.count(Outcome::Stable))),
            ("lost-count", Edn::count(self.count(Outcome::Lost))),
            ("lost", values(self.with_outcome(Outcome::Lost))),
            ("never-read-count", Edn::count(self.count(Outcome::NeverRead))),
            ("never-read", values(self.with_outcome(Outcome::NeverRead))),
            ("stale-count", Edn::count(stale.len())),
            ("stale", Edn::List(stale.iter().map(|e| Edn::from_json(&e.element)).collect())),
            ("worst-stale", Edn::List(self.worst_stale().iter().map(|e| e.to_edn()).collect())),
        ];
        if let Some(q) = quantiles_edn(&self.stable_latencies()) {
            m.push(("stable-latencies", q));
        }
        if let Some(q) = quantiles_edn(&self.lost_latencies()) {
            m.push(("lost-latencies", q));
        }
        // Jepsen 0.3.7's duplicate detector keeps counts `< 1`, which never happens: always empty (spec §9.1).
        m.push(("duplicated-count", Edn::Int(0)));
        m.push(("duplicated", Edn::Map(Vec::new())));
        Edn::kw_map(m)
    }
}

/// Jepsen's `frequency-distribution`: for each point `p`, `sorted[min(n−1, floor(n·p))]`; `None` when empty.
pub fn quantiles<T: Copy + Ord>(values: &[T], points: &[f64]) -> Option<Vec<(f64, T)>> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    Some(
        points
            .iter()
            .map(|&p| {
                // `(int (Math/floor (* n point)))`; the cast saturates, and `min` keeps it in range.
                let idx = ((n as f64 * p).floor() as usize).min(n - 1);
                (p, sorted[idx])
            })
            .collect(),
    )
}

/// `{0 a, 0.5 b, 0.95 c, 0.99 d, 1 e}` at [`QUANTILE_POINTS`]: whole points print as integers, as in Clojure.
/// `None` when empty.
pub fn quantiles_edn<T: Copy + Ord + Into<i128>>(values: &[T]) -> Option<Edn> {
    let q = quantiles(values, &QUANTILE_POINTS)?;
    Some(Edn::Map(
        q.into_iter()
            .map(|(p, v)| {
                let key = if p.fract() == 0.0 { Edn::Int(p as i128) } else { Edn::Float(p) };
                (key, Edn::Int(v.into()))
            })
            .collect(),
    ))
}

#[derive(Debug)]
struct ElementState {
    element: Value,
    known: Option<usize>,
    last_present: Option<usize>,
    last_absent: Option<usize>,
}

impl ElementState {
    fn new(element: Value) -> Self {
        ElementState { element, known: None, last_present: None, last_absent: None }
    }
}

/// Runs set-full over the client ops of `history`. `Err` where Jepsen would throw (elements of types that
/// Clojure cannot sort together).
pub fn check(history: &History) -> Result<SetFullResult, String> {
    let ops = &history.ops;
    let pairs = history.pairs();
    let mut index: BTreeMap<ValueKey, usize> = BTreeMap::new();
    let mut states: Vec<ElementState> = Vec::new();
    let mut present = Vec::new();

    for (i, op) in ops.iter().enumerate() {
        if !op.is_client() {
            continue;
        }
        match (op.f, op.op_type) {
            (F::Add | F::Broadcast, OpType::Invoke) => {
                // (Re)creates the element's state: elements exist from their add invocation on.
                let fresh = ElementState::new(op.value.clone());
                match index.get(&ValueKey::of(&op.value)) {
                    Some(&at) => states[at] = fresh,
                    None => {
                        index.insert(ValueKey::of(&op.value), states.len());
                        states.push(fresh);
                    }
                }
            }
            (F::Add | F::Broadcast, OpType::Ok) => {
                if let Some(&at) = index.get(&ValueKey::of(&op.value)) {
                    states[at].known.get_or_insert(i);
                }
            }
            (F::Read, OpType::Ok) => {
                let Some(inv) = pairs[i] else { continue };
                present.clear();
                present.resize(states.len(), false);
                if let Value::Array(read) = &op.value {
                    for v in read {
                        if let Some(&at) = index.get(&ValueKey::of(v)) {
                            present[at] = true;
                        }
                    }
                }
                for (state, &here) in states.iter_mut().zip(&present) {
                    if here {
                        state.known.get_or_insert(i);
                        if state.last_present.is_none_or(|lp| lp < inv) {
                            state.last_present = Some(inv);
                        }
                    } else if state.last_absent.is_none_or(|la| la < inv) {
                        state.last_absent = Some(inv);
                    }
                }
            }
            _ => {}
        }
    }

    let mut elements: Vec<ElementResult> = states.into_iter().map(|s| element_result(ops, s)).collect();
    let mut err = None;
    elements.sort_by(|a, b| {
        clojure_compare(&a.element, &b.element).unwrap_or_else(|e| {
            err.get_or_insert(e);
            std::cmp::Ordering::Equal
        })
    });
    match err {
        Some(e) => Err(format!("set-full: cannot sort elements: {e}")),
        None => Ok(SetFullResult { elements }),
    }
}

/// `trunc_ms(max(0, to − from))`.
fn latency_ms(to: u64, from: u64) -> u64 {
    to.saturating_sub(from) / 1_000_000
}

fn element_result(ops: &[Op], s: ElementState) -> ElementResult {
    let idx = |o: Option<usize>| o.map_or(-1, |i| i as i64);
    let stable = s.last_present.is_some() && idx(s.last_absent) < idx(s.last_present);
    let lost = s.known.is_some()
        && s.last_absent.is_some()
        && idx(s.last_present) < idx(s.last_absent)
        && idx(s.known) < idx(s.last_absent);
    let known_time = s.known.map_or(0, |k| ops[k].time);
    let stable_latency = stable.then(|| {
        let stable_time = s.last_absent.map_or(0, |la| ops[la].time + 1);
        latency_ms(stable_time, known_time)
    });
    let lost_latency = lost.then(|| {
        let lost_time = s.last_present.map_or(0, |lp| ops[lp].time + 1);
        latency_ms(lost_time, known_time)
    });
    ElementResult {
        element: s.element,
        outcome: if stable {
            Outcome::Stable
        } else if lost {
            Outcome::Lost
        } else {
            Outcome::NeverRead
        },
        stable_latency,
        lost_latency,
        known: s.known.map(|k| ops[k].clone()),
        last_absent: s.last_absent.map(|la| ops[la].clone()),
    }
}
