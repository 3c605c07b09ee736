//! The test history: every client and nemesis operation, invocation and completion, in the order the run
//! recorded them (spec §5.2). Checkers read it; `history.jsonl` in the store is its serialisation.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Nanoseconds since the run's relative time origin (spec §2 step 4).
pub type Nanos = u64;

/// `:type` of a history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// `:invoke`
    Invoke,
    /// `:ok`
    Ok,
    /// `:fail`
    Fail,
    /// `:info`
    Info,
}

impl OpType {
    /// The EDN keyword name, without the colon.
    pub fn name(self) -> &'static str {
        match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        }
    }
}

/// `:process` of a history entry: a client process number, or the nemesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Process {
    /// A client process. Starts equal to the thread number; bumped by the concurrency after an `:info` (§5.1).
    Client(u64),
    /// The nemesis (serialised as the string `"nemesis"`).
    #[serde(with = "nemesis_tag")]
    Nemesis,
}

mod nemesis_tag {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    pub(super) fn serialize<S: Serializer>(s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("nemesis")
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        let s = String::deserialize(d)?;
        if s == "nemesis" { Ok(()) } else { Err(D::Error::custom("expected \"nemesis\"")) }
    }
}

/// `:f` of a history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum F {
    /// broadcast workload's add
    Broadcast,
    /// g-set / counters add
    Add,
    /// every workload's read
    Read,
    /// echo
    Echo,
    /// unique-ids
    Generate,
    /// nemesis: start a partition
    StartPartition,
    /// nemesis: heal
    StopPartition,
    /// nemesis (osmosis extension): kill nodes (the value names them); they restart empty on `start`
    Kill,
    /// nemesis (osmosis extension): restart killed nodes
    Start,
    /// nemesis (osmosis extension): pause nodes (SIGSTOP; in virtual time they neither receive nor tick)
    Pause,
    /// nemesis (osmosis extension): resume paused nodes
    Resume,
}

impl F {
    /// The EDN keyword name, without the colon.
    pub fn name(self) -> &'static str {
        match self {
            F::Broadcast => "broadcast",
            F::Add => "add",
            F::Read => "read",
            F::Echo => "echo",
            F::Generate => "generate",
            F::StartPartition => "start-partition",
            F::StopPartition => "stop-partition",
            F::Kill => "kill",
            F::Start => "start",
            F::Pause => "pause",
            F::Resume => "resume",
        }
    }
}

/// What went wrong with an operation (`:error`, spec §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OpError {
    /// `:error :net-timeout` — the error wrapper's timeout (broadcast, echo, unique-ids).
    NetTimeout,
    /// `:error [:<name> "<text>"]` — an `error` reply seen by the error wrapper.
    Rpc {
        /// Maelstrom's error code.
        code: i64,
        /// The registry name of the code (`temporarily-unavailable`, `unknown`, …).
        name: String,
        /// The reply's `text`, or empty.
        text: String,
    },
    /// `:error "indeterminate: <message>"` — an exception the client did not catch (always `:info`).
    Indeterminate {
        /// The message after `indeterminate: `.
        message: String,
    },
}

/// One history entry (a jepsen.history `Op`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Dense index over all entries, in recording order.
    pub index: u64,
    /// Nanoseconds since the relative origin.
    pub time: Nanos,
    /// `:type`
    #[serde(rename = "type")]
    pub op_type: OpType,
    /// `:process`
    pub process: Process,
    /// `:f`
    pub f: F,
    /// `:value`; `Value::Null` is `nil`. For nemesis completions see [`crate::nemesis`].
    pub value: Value,
    /// `:final? true` (final reads of broadcast and the counters).
    #[serde(rename = "final?", default, skip_serializing_if = "std::ops::Not::not")]
    pub final_read: bool,
    /// `:error`, on failed or indeterminate completions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OpError>,
}

impl Op {
    /// Is this a client operation (integer process)?
    pub fn is_client(&self) -> bool {
        matches!(self.process, Process::Client(_))
    }
}

/// The whole history, with the pairing of invocations and completions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Entries in index order (`ops[i].index == i`).
    pub ops: Vec<Op>,
}

impl History {
    /// Appends an entry, assigning it the next index, and returns that index.
    pub fn push(&mut self, mut op: Op) -> u64 {
        let index = self.ops.len() as u64;
        op.index = index;
        self.ops.push(op);
        index
    }

    /// For each entry, the index of its partner (an invocation's completion, a completion's invocation), pairing
    /// by process in order: a process has at most one operation outstanding. `None` for an invocation that never
    /// completed.
    pub fn pairs(&self) -> Vec<Option<usize>> {
        let mut partner = vec![None; self.ops.len()];
        let mut open: std::collections::HashMap<Process, usize> = std::collections::HashMap::new();
        for (i, op) in self.ops.iter().enumerate() {
            if op.op_type == OpType::Invoke {
                open.insert(op.process, i);
            } else if let Some(inv) = open.remove(&op.process) {
                partner[i] = Some(inv);
                partner[inv] = Some(i);
            }
        }
        partner
    }
}
