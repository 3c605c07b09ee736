//! The nemesis's operations applied to the cluster (spec §8), and recorded in the history the way Jepsen does:
//! `:process :nemesis`, `:type :info` at both ends.

use serde_json::{Value, json};

use super::{Cluster, Effect};
use crate::generator::NemesisOp;
use crate::history::{F, Nanos, Op, OpType, Process};

impl Cluster<'_> {
    /// Applies a nemesis operation scheduled at `at` (relative), at `now`, and records it.
    pub(super) fn nemesis(&mut self, now: Nanos, at: Nanos, op: NemesisOp) {
        let (f, invoke_value, done_value, text) = match &op {
            NemesisOp::Start(kind, grudge) => {
                self.net.partition(grudge);
                let text = format!("nemesis: start-partition {}", kind.name());
                (F::StartPartition, json!(kind.name()), json!(["isolated", grudge]), text)
            }
            NemesisOp::Stop => {
                self.net.heal();
                (F::StopPartition, Value::Null, json!("network-healed"), "nemesis: stop-partition".to_owned())
            }
        };
        // Nemesis operations are instantaneous and `:info` at both ends (spec §8).
        let done = now.saturating_sub(self.origin).max(at);
        self.record(f, at, invoke_value, done, done_value);
        self.effects.push_back(Effect::Log { warn: false, text });
    }

    /// Records a nemesis operation: its invocation at `at` with `invoke_value`, its completion at `done`.
    fn record(&mut self, f: F, at: Nanos, invoke_value: Value, done: Nanos, done_value: Value) {
        for (time, value) in [(at, invoke_value), (done, done_value)] {
            self.history.push(Op {
                index: 0,
                time,
                op_type: OpType::Info,
                process: Process::Nemesis,
                f,
                value,
                final_read: false,
                error: None,
            });
        }
    }
}
