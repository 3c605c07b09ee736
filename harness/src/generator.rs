//! The operation schedule (spec §6, §7, §8 timing): Jepsen's generator semantics as Maelstrom composes them,
//! sans-IO. The driver asks [`Scheduler::next`] what to do at `now` and reports completions.
//! Owner: models helper. Interface fixed; bodies to fill.

use serde_json::Value;

use crate::history::{F, Nanos, OpType};
use crate::nemesis::{Grudge, GrudgeKind};
use crate::workload::Workload;

/// What the scheduler needs to know about the run.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The workload (op mix, values, final reads).
    pub workload: Workload,
    /// Server node names, in test order (for grudges).
    pub nodes: Vec<String>,
    /// Number of client threads `C`.
    pub concurrency: usize,
    /// `--rate`, ops per second over all clients; 0 = no client ops in the main phase.
    pub rate: f64,
    /// `--time-limit` in nanoseconds.
    pub time_limit: Nanos,
    /// `--nemesis-interval` in nanoseconds, when `--nemesis partition` is on.
    pub nemesis_interval: Option<Nanos>,
    /// Recovery sleep before final reads (Maelstrom: 10 s).
    pub recovery: Nanos,
}

/// A client operation to invoke.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// `:f`
    pub f: F,
    /// `:value` (`Null` = nil)
    pub value: Value,
    /// `:final? true`
    pub final_read: bool,
}

/// A nemesis operation.
#[derive(Debug, Clone, PartialEq)]
pub enum NemesisOp {
    /// `start-partition` with the grudge it imposes.
    Start(GrudgeKind, Grudge),
    /// `stop-partition`: heal.
    Stop,
}

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Invoke `op` on `thread` (bound to node `thread % N`) as `process`; `at` is the scheduled time, the
    /// invocation's history time (never later than the `now` passed in).
    Invoke {
        /// scheduled time
        at: Nanos,
        /// client thread
        thread: usize,
        /// its current process id
        process: u64,
        /// the operation
        op: Invocation,
    },
    /// Perform a nemesis operation at `at`.
    Nemesis {
        /// scheduled time
        at: Nanos,
        /// what to do
        op: NemesisOp,
    },
    /// Log a phase message (`"Waiting for recovery..."`).
    Log(&'static str),
    /// Nothing to do before `until` (if given) or before a completion is reported.
    Wait {
        /// wake-up time, if any
        until: Option<Nanos>,
    },
    /// Every phase is over and every operation completed.
    Done,
}

/// The whole generator of one run.
#[derive(Debug)]
pub struct Scheduler {}

impl Scheduler {
    /// A scheduler whose random choices all come from `seed`.
    pub fn new(config: SchedulerConfig, seed: u64) -> Self {
        todo!("{config:?} {seed}")
    }

    /// The next action at `now`. Call repeatedly until it returns `Wait` or `Done`.
    pub fn next(&mut self, now: Nanos) -> Action {
        todo!("{now}")
    }

    /// Reports that `thread`'s outstanding operation completed with `op_type` (`Info` bumps its process by `C`).
    pub fn complete(&mut self, thread: usize, op_type: OpType) {
        todo!("{thread} {op_type:?}")
    }

    /// Short name of the current phase, for the progress line (`"main"`, `"heal"`, `"recovery"`, `"final"`, `"done"`).
    pub fn phase(&self) -> &'static str {
        todo!()
    }
}
