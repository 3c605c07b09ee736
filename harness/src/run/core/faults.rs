//! The nemesis's operations applied to the cluster (spec §8 and the extensions of [`crate::nemesis`]), recorded in
//! the history the way Jepsen does: `:process :nemesis`, `:type :info` at both ends, instantaneous.
//!
//! - Partitions: `:start-partition` (value: what it is, e.g. `"majority"` or `"isolate n3"`; completion
//!   `[:isolated grudge]`), `:stop-partition` (completion `:network-healed`). As in Jepsen a start adds its grudge
//!   to what is in force and a stop heals everything; so when one of several partitions in force ends (a random
//!   partition and a targeted cut overlap), the core records a stop and, at the same instant, a start with the
//!   union of those that remain. The history alone then says which messages were dropped.
//! - Kills and restarts: `:kill` / `:start`, value and completion the node names (the completion lists the nodes
//!   it changed: killing a node already down does nothing). A killed node loses every message on its way to it;
//!   a restarted one is a fresh process with an empty state that gets `init` (and `topology`) like at setup.
//! - Pauses: `:pause` / `:resume` with the node names. A paused node takes nothing off its queue. A node that is
//!   still starting (its `init` or `topology` unanswered) is not paused.
//! - The end-of-main heal: `:stop-partition` when partitions are among the faults, then `:start` and `:resume`
//!   for the nodes still down or paused; message loss and duplication end there too.

use serde_json::{Value, json};

use super::{Cluster, Effect, NodeStatus};
use crate::generator::NemesisOp;
use crate::history::{F, Nanos, Op, OpType, Process};
use crate::nemesis::{Grudge, TargetKind, isolate, union};
use crate::net::MessageFaults;

/// Where a partition in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// `--nemesis partition`'s flip-flop.
    Random,
    /// A targeted cut of this node.
    Cut(usize),
}

/// The partitions in force, each with its label.
#[derive(Debug, Default)]
pub(super) struct FaultState {
    layers: Vec<(Layer, String, Grudge)>,
}

/// The times of one nemesis operation: `now` on the shell's clock; `at` (scheduled) and `done` in history time.
#[derive(Debug, Clone, Copy)]
struct When {
    now: Nanos,
    at: Nanos,
    done: Nanos,
}

impl Cluster<'_> {
    /// Applies a nemesis operation scheduled at `at` (history time), at `now`, and records it.
    pub(super) fn nemesis(&mut self, now: Nanos, at: Nanos, op: NemesisOp) {
        let w = When { now, at, done: now.saturating_sub(self.origin).max(at) };
        match op {
            NemesisOp::StartPartition(kind, grudge) => self.add_partition(w, Layer::Random, kind.name(), grudge),
            NemesisOp::StopPartition => self.remove_partition(w, Layer::Random),
            NemesisOp::Kill(node) => self.kill(w, &[node]),
            NemesisOp::Start(node) => self.restart(w, &[node]),
            NemesisOp::Pause(node) => self.pause(w, &[node], true),
            NemesisOp::Resume(node) => self.pause(w, &[node], false),
            NemesisOp::Targeted(t, begins) => {
                let Some(i) = self.index(&t.node) else { return };
                match (t.kind, begins) {
                    (TargetKind::Cut, true) => {
                        let grudge = isolate(&t.node, &self.cfg.nodes);
                        self.add_partition(w, Layer::Cut(i), &format!("isolate {}", t.node), grudge);
                    }
                    (TargetKind::Cut, false) => self.remove_partition(w, Layer::Cut(i)),
                    (TargetKind::Kill, true) => self.kill(w, &[t.node]),
                    (TargetKind::Kill, false) => self.restart(w, &[t.node]),
                    (TargetKind::Pause, begins) => self.pause(w, &[t.node], begins),
                }
            }
            NemesisOp::Heal => self.heal(w),
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    fn add_partition(&mut self, w: When, layer: Layer, label: &str, grudge: Grudge) {
        self.net.partition(&grudge);
        self.record(w, F::StartPartition, json!(label), json!(["isolated", grudge]));
        self.faults.layers.push((layer, label.to_owned(), grudge));
    }

    /// Ends one partition; what else is in force is recorded again at once (see the module docs).
    fn remove_partition(&mut self, w: When, layer: Layer) {
        let before = self.faults.layers.len();
        self.faults.layers.retain(|(l, _, _)| *l != layer);
        if self.faults.layers.len() == before && layer != Layer::Random {
            return;
        }
        self.heal_partitions(w);
    }

    /// Records a `:stop-partition`, then re-imposes the partitions still in force, if any, as one start.
    fn heal_partitions(&mut self, w: When) {
        self.net.heal();
        self.record(w, F::StopPartition, Value::Null, json!("network-healed"));
        if self.faults.layers.is_empty() {
            return;
        }
        let remaining = union(self.faults.layers.iter().map(|(_, _, g)| g));
        let label: Vec<&str> = self.faults.layers.iter().map(|(_, l, _)| l.as_str()).collect();
        let label = label.join("+");
        self.net.partition(&remaining);
        self.record(w, F::StartPartition, json!(label), json!(["isolated", remaining]));
    }

    /// Kills the named nodes that are not down.
    fn kill(&mut self, w: When, names: &[String]) {
        let mut killed = Vec::new();
        for name in names {
            let Some(i) = self.index(name).filter(|&i| self.nodes[i].status != NodeStatus::Down) else { continue };
            let addr = self.nodes[i].addr;
            self.nodes[i].status = NodeStatus::Down;
            self.nodes[i].starting = false;
            self.net.set_receiving(w.now, addr, false);
            self.net.discard_pending(addr);
            self.abandon_setup_requests(i);
            self.effects.push_back(Effect::Kill { node: i });
            killed.push(name.clone());
        }
        self.record(w, F::Kill, json!(names), json!(killed));
    }

    /// Restarts the named nodes that are down: new processes, empty, then `init` as at setup.
    fn restart(&mut self, w: When, names: &[String]) {
        let mut started = Vec::new();
        for name in names {
            let Some(i) = self.index(name).filter(|&i| self.nodes[i].status == NodeStatus::Down) else { continue };
            let addr = self.nodes[i].addr;
            let slot = &mut self.nodes[i];
            (slot.status, slot.starting, slot.ignored) = (NodeStatus::Up, true, false);
            self.net.discard_pending(addr);
            self.net.set_receiving(w.now, addr, true);
            self.effects.push_back(Effect::Restart { node: i });
            self.send_init(w.now, i, false);
            started.push(name.clone());
        }
        self.record(w, F::Start, json!(names), json!(started));
    }

    /// Pauses the named nodes that are up and not starting (`pause`), or resumes those that are paused.
    fn pause(&mut self, w: When, names: &[String], pause: bool) {
        let mut changed = Vec::new();
        for name in names {
            let Some(i) = self.index(name) else { continue };
            let slot = &mut self.nodes[i];
            let (from, to) =
                if pause { (NodeStatus::Up, NodeStatus::Paused) } else { (NodeStatus::Paused, NodeStatus::Up) };
            if slot.status != from || (pause && slot.starting) {
                continue;
            }
            slot.status = to;
            slot.was_paused = true;
            let addr = slot.addr;
            self.net.set_receiving(w.now, addr, !pause);
            self.effects.push_back(if pause { Effect::Pause { node: i } } else { Effect::Resume { node: i } });
            changed.push(name.clone());
        }
        let f = if pause { F::Pause } else { F::Resume };
        self.record(w, f, json!(names), json!(changed));
    }

    /// The end-of-main heal: every fault ends (see the module docs).
    fn heal(&mut self, w: When) {
        if self.cfg.faults.partitions() {
            self.faults.layers.clear();
            self.heal_partitions(w);
        }
        let with = |status| -> Vec<String> {
            self.nodes.iter().filter(|n| n.status == status).map(|n| n.name.clone()).collect()
        };
        let (down, paused) = (with(NodeStatus::Down), with(NodeStatus::Paused));
        if !down.is_empty() {
            self.restart(w, &down);
        }
        if !paused.is_empty() {
            self.pause(w, &paused, false);
        }
        self.net.set_message_faults(MessageFaults::default());
    }

    /// Records a nemesis operation (invocation at `at`, completion at `done`) and logs it.
    fn record(&mut self, w: When, f: F, invoke_value: Value, done_value: Value) {
        let text = match &invoke_value {
            Value::Null => format!("nemesis: {}", f.name()),
            Value::String(s) => format!("nemesis: {} {s}", f.name()),
            Value::Array(nodes) => {
                let nodes: Vec<&str> = nodes.iter().filter_map(Value::as_str).collect();
                format!("nemesis: {} {}", f.name(), nodes.join(" "))
            }
            other => format!("nemesis: {} {other}", f.name()),
        };
        for (time, value) in [(w.at, invoke_value), (w.done, done_value)] {
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
        self.effects.push_back(Effect::Log { warn: false, text });
    }
}
