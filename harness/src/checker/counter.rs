//! Maelstrom's counter checker for g-counter and pn-counter (spec §9.2).
//!
//! The acceptable final values are `definite_sum + (subset sums of the :info deltas)`, where `definite_sum` sums
//! the `:ok` adds. Maelstrom keeps them in a Guava `TreeRangeSet` of open ranges, so that integer intervals
//! touching at an integer merge; [`Intervals`] is the same set as sorted, disjoint, non-adjacent inclusive
//! integer intervals. Each `:info` add doubles the set at worst and merging keeps it to a handful of intervals for
//! small deltas (deltas of {-5…4} merge into one or two intervals almost at once).

use serde_json::Value;

use super::compare::as_integer;
use super::edn::Edn;
use crate::history::{F, History, Op, OpType};

/// A set of integers as sorted, disjoint inclusive intervals with at least one missing integer between two
/// neighbours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intervals(Vec<(i128, i128)>);

impl Intervals {
    /// `{x}`.
    pub fn point(x: i128) -> Intervals {
        Intervals(vec![(x, x)])
    }

    /// The intervals, ascending.
    pub fn as_slice(&self) -> &[(i128, i128)] {
        &self.0
    }

    /// Is `x` in the set?
    pub fn contains(&self, x: i128) -> bool {
        let i = self.0.partition_point(|&(_, hi)| hi < x);
        self.0.get(i).is_some_and(|&(lo, _)| lo <= x)
    }

    /// `self := self ∪ (self + d)`; `Err` on overflow.
    pub fn union_shifted(&mut self, d: i128) -> Result<(), String> {
        if d == 0 {
            return Ok(());
        }
        let overflow = || format!("counter: acceptable set overflows when shifted by {d}");
        let shifted = self
            .0
            .iter()
            .map(|&(lo, hi)| Some((lo.checked_add(d)?, hi.checked_add(d)?)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(overflow)?;
        let mut merged: Vec<(i128, i128)> = Vec::with_capacity(self.0.len() + shifted.len());
        let (mut a, mut b) = (self.0.iter().peekable(), shifted.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            let &(lo, hi) = next.ok_or_else(overflow)?;
            match merged.last_mut() {
                // Overlapping or adjacent (no integer missing between them): merge.
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        self.0 = merged;
        Ok(())
    }
}

/// The counter checker's result.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterResult {
    /// Final reads whose value is not acceptable.
    pub errors: Vec<Op>,
    /// Values of the `:ok` final reads, in history order.
    pub final_reads: Vec<i128>,
    /// The acceptable final values.
    pub acceptable: Intervals,
}

impl CounterResult {
    /// No final read outside the acceptable set.
    pub fn valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// The `:workload` map: `{:valid? :errors :final-reads :acceptable}`; `:errors` is `nil` when there are none.
    pub fn to_edn(&self) -> Edn {
        Edn::kw_map([
            ("valid?", Edn::Bool(self.valid())),
            (
                "errors",
                if self.errors.is_empty() { Edn::Nil } else { Edn::List(self.errors.iter().map(Edn::op).collect()) },
            ),
            ("final-reads", Edn::List(self.final_reads.iter().map(|&v| Edn::Int(v)).collect())),
            (
                "acceptable",
                Edn::List(
                    self.acceptable
                        .as_slice()
                        .iter()
                        .map(|&(lo, hi)| Edn::Vector(vec![Edn::Int(lo), Edn::Int(hi)]))
                        .collect(),
                ),
            ),
        ])
    }
}

fn integer(op: &Op, what: &str) -> Result<i128, String> {
    match &op.value {
        Value::Number(n) => as_integer(n),
        _ => None,
    }
    .ok_or_else(|| format!("counter: {what} at index {} has a non-integer value {}", op.index, op.value))
}

/// Runs the counter checker. `Err` where Maelstrom would throw (a non-integer delta or final read).
pub fn check(history: &History) -> Result<CounterResult, String> {
    let adds = || history.ops.iter().filter(|op| op.f == F::Add);
    let mut definite: i128 = 0;
    for op in adds().filter(|op| op.op_type == OpType::Ok) {
        definite = definite.checked_add(integer(op, "add")?).ok_or("counter: definite sum overflows")?;
    }
    let mut acceptable = Intervals::point(definite);
    for op in adds().filter(|op| op.op_type == OpType::Info) {
        acceptable.union_shifted(integer(op, "add")?)?;
    }
    let mut errors = Vec::new();
    let mut final_reads = Vec::new();
    for op in history.ops.iter().filter(|op| op.final_read && op.op_type == OpType::Ok) {
        let v = integer(op, "final read")?;
        final_reads.push(v);
        if !acceptable.contains(v) {
            errors.push(op.clone());
        }
    }
    Ok(CounterResult { errors, final_reads, acceptable })
}
