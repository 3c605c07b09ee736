//! Jepsen's `unhandled-exceptions` checker (spec §9.6), always valid.
//!
//! Jepsen groups `:info` ops carrying an `:exception` by the exception's class. Our history records no exception
//! object, only the message of an uncaught client error ([`OpError::Indeterminate`]), so the *class* here is
//! the message up to its first `:` (trimmed; the whole message if it has none, `"unknown"` if empty): for
//! example `"Malformed RPC response: extra key foo"` is grouped as `"Malformed RPC response"` and
//! `"Client read timeout"` as itself. Groups are listed most frequent first (ties by class), each with the
//! first op of the group as its example.

use std::collections::BTreeMap;

use super::edn::Edn;
use crate::history::{History, Op, OpError, OpType};

/// One group of ops that ended with the same kind of uncaught error.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionGroup {
    /// How many ops.
    pub count: usize,
    /// The class string (see the module docs).
    pub class: String,
    /// The first such op.
    pub example: Op,
}

/// The class string of an indeterminate error message.
pub fn class_of(message: &str) -> String {
    let head = message.split(':').next().unwrap_or("").trim();
    if head.is_empty() { "unknown".to_owned() } else { head.to_owned() }
}

/// The groups, most frequent first.
pub fn check(history: &History) -> Vec<ExceptionGroup> {
    let mut groups: BTreeMap<String, ExceptionGroup> = BTreeMap::new();
    for op in history.ops.iter().filter(|op| op.op_type == OpType::Info) {
        if let Some(OpError::Indeterminate { message }) = &op.error {
            let class = class_of(message);
            groups
                .entry(class.clone())
                .or_insert_with(|| ExceptionGroup { count: 0, class, example: op.clone() })
                .count += 1;
        }
    }
    let mut groups: Vec<ExceptionGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.class.cmp(&b.class)));
    groups
}

/// `{:valid? true}` or `{:valid? true, :exceptions ({:count n, :class "…", :example <op>} …)}`.
pub fn to_edn(groups: &[ExceptionGroup]) -> Edn {
    let mut m = vec![("valid?", Edn::Bool(true))];
    if !groups.is_empty() {
        let list = groups
            .iter()
            .map(|g| {
                Edn::kw_map([
                    ("count", Edn::count(g.count)),
                    ("class", Edn::str(g.class.as_str())),
                    ("example", Edn::op(&g.example)),
                ])
            })
            .collect();
        m.push(("exceptions", Edn::List(list)));
    }
    Edn::kw_map(m)
}
