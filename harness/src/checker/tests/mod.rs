//! Unit and property tests of the checkers, from the spec's examples (§9).

mod counter_tests;
mod edn_tests;
mod ideal_sim;
mod ideal_tests;
mod results_tests;
mod set_full_tests;
mod small_checkers_tests;

use serde_json::Value;

use crate::history::{F, History, Op, OpError, OpType, Process};

/// Builds histories tersely; times are given in milliseconds.
#[derive(Default)]
pub(super) struct Hist {
    pub(super) h: History,
}

impl Hist {
    pub(super) fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, p: Process, t: OpType, f: F, v: Value, ms: u64) -> usize {
        let op =
            Op { index: 0, time: ms * 1_000_000, op_type: t, process: p, f, value: v, final_read: false, error: None };
        self.h.push(op) as usize
    }

    pub(super) fn invoke(&mut self, p: u64, f: F, v: Value, ms: u64) -> usize {
        self.push(Process::Client(p), OpType::Invoke, f, v, ms)
    }

    pub(super) fn ok(&mut self, p: u64, f: F, v: Value, ms: u64) -> usize {
        self.push(Process::Client(p), OpType::Ok, f, v, ms)
    }

    pub(super) fn fail(&mut self, p: u64, f: F, v: Value, ms: u64) -> usize {
        self.push(Process::Client(p), OpType::Fail, f, v, ms)
    }

    pub(super) fn info(&mut self, p: u64, f: F, v: Value, ms: u64) -> usize {
        let i = self.push(Process::Client(p), OpType::Info, f, v, ms);
        self.h.ops[i].error = Some(OpError::NetTimeout);
        i
    }

    /// An indeterminate `:info` completion (an uncaught client error).
    pub(super) fn crash(&mut self, p: u64, f: F, v: Value, ms: u64, message: &str) -> usize {
        let i = self.push(Process::Client(p), OpType::Info, f, v, ms);
        self.h.ops[i].error = Some(OpError::Indeterminate { message: message.to_owned() });
        i
    }

    /// Marks an op as a final read.
    pub(super) fn final_read(&mut self, i: usize) {
        self.h.ops[i].final_read = true;
    }

    /// A nemesis entry (both halves of a nemesis op are `:info`, spec §8).
    pub(super) fn nemesis(&mut self, f: F, ms: u64) -> usize {
        self.push(Process::Nemesis, OpType::Info, f, Value::Null, ms)
    }

    /// A whole nemesis operation at `ms` with both values.
    pub(super) fn push_fault(&mut self, f: F, ms: u64, invoke: Value, done: Value) {
        self.push(Process::Nemesis, OpType::Info, f, invoke, ms);
        self.push(Process::Nemesis, OpType::Info, f, done, ms);
    }

    /// A whole nemesis operation: its invocation at `ms` and its completion with `value` at `done_ms`.
    pub(super) fn fault(&mut self, f: F, ms: u64, done_ms: u64, value: Value) {
        self.push(Process::Nemesis, OpType::Info, f, Value::Null, ms);
        self.push(Process::Nemesis, OpType::Info, f, value, done_ms);
    }
}
