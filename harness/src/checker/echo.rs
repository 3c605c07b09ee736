//! Maelstrom's echo checker (spec §9.3).
//!
//! Invocations are paired with their completions the way Knossos' `pair-index` does: only `:ok` and `:fail`
//! completions pair, so an echo that timed out (`:info`) is ignored. Every pair whose completion value's `echo`
//! field differs from the invocation's value is an error; a `:fail` completion (its value is not a reply body)
//! therefore always is one.

use std::collections::BTreeMap;

use serde_json::Value;

use super::edn::{Edn, op_value_edn};
use crate::history::{History, OpType, Process};

/// One mismatched echo.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoError {
    /// The invocation's value.
    pub sent: Value,
    /// The completion's whole value.
    pub received: Value,
}

/// The echo checker's result.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoResult {
    /// Mismatches, in invocation order.
    pub errors: Vec<EchoError>,
}

impl EchoResult {
    /// No mismatch.
    pub fn valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// `{:valid? …, :errors (["Expected a message with :echo" <sent> "But received" <value>] …)}`.
    pub fn to_edn(&self) -> Edn {
        let errors = self
            .errors
            .iter()
            .map(|e| {
                Edn::Vector(vec![
                    Edn::str("Expected a message with :echo"),
                    Edn::from_json(&e.sent),
                    Edn::str("But received"),
                    op_value_edn(&e.received),
                ])
            })
            .collect();
        Edn::kw_map([("valid?", Edn::Bool(self.valid())), ("errors", Edn::List(errors))])
    }
}

/// Runs the echo checker.
pub fn check(history: &History) -> EchoResult {
    let mut open: BTreeMap<Process, usize> = BTreeMap::new();
    let mut errors = Vec::new();
    for (i, op) in history.ops.iter().enumerate() {
        match op.op_type {
            OpType::Invoke => {
                open.insert(op.process, i);
            }
            // Knossos pairs an :info alone and leaves the invocation open.
            OpType::Info => {}
            OpType::Ok | OpType::Fail => {
                let Some(inv) = open.remove(&op.process) else {
                    continue;
                };
                let sent = &history.ops[inv].value;
                let echoed = match &op.value {
                    Value::Object(body) => body.get("echo").unwrap_or(&Value::Null),
                    _ => &Value::Null,
                };
                if sent != echoed {
                    errors.push(EchoError { sent: sent.clone(), received: op.value.clone() });
                }
            }
        }
    }
    EchoResult { errors }
}
