//! The fault schedule of a run, read back from its history: when each node ran, and who dropped whom.
//!
//! Faults are recorded Jepsen-style as nemesis operations, each an invocation and a completion (both `:info`):
//!
//! | op | value | effect here |
//! |---|---|---|
//! | `:start-partition` | completes with `[:isolated {receiver #{senders…}…}]` | those receivers drop those senders, added to what is in force |
//! | `:stop-partition` | | every partition heals |
//! | `:kill` | the node names | each named node's life ends: what it held is gone |
//! | `:start` | the node names | each named killed node starts a new, empty life |
//! | `:pause` | the node names | each named node stops running (it neither takes in messages nor sends) |
//! | `:resume` | the node names | each named paused node runs again |
//!
//! Node names may be a string, an array of strings, or an object whose keys are the names (Jepsen's completions
//! map each node to what happened to it); names of neither the invocation nor the completion are merged. Unknown
//! names are ignored.
//!
//! Every fault is taken at its *narrowest*: it begins at the last entry of its operation (the completion) and
//! ends at the first entry of the operation that undoes it (the invocation), because the harness applies a fault
//! somewhere between the two entries and the ideal must never assume a fault that might not yet, or no longer,
//! have been in force.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::history::{F, History, Nanos, Op, Process};

/// The end of time: a fault still in force when the history ends, or a life never ended.
pub const FOREVER: Nanos = Nanos::MAX;

/// One life of a node: from its start (0, or a restart) until it is killed, with the stretches it was paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Life {
    /// The node, as an index into the cluster's node list.
    pub node: usize,
    /// When it started running.
    pub start: Nanos,
    /// When it was killed ([`FOREVER`] if never).
    pub end: Nanos,
    /// `[from, until)` stretches it was paused, in order, disjoint, within `[start, end)`.
    pub pauses: Vec<(Nanos, Nanos)>,
}

/// What kind of fault a shaded stretch of a plot shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Some receiver dropped some sender.
    Partition,
    /// Some node was down.
    Kill,
    /// Some node was paused.
    Pause,
}

impl FaultKind {
    /// `partition`, `kill`, `pause`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
        }
    }
}

/// Lives and grudges over time.
#[derive(Debug, Clone, Default)]
pub struct FaultSchedule {
    lives: Vec<Life>,
    /// node → its lives (indices into `lives`), in time order.
    by_node: Vec<Vec<usize>>,
    /// (receiver, sender) → `[from, until)` stretches in which the receiver dropped the sender, in order.
    drops: BTreeMap<(usize, usize), Vec<(Nanos, Nanos)>>,
}

/// One nemesis operation: its first entry and, if recorded, its second.
struct NemesisOp<'a> {
    f: F,
    first: &'a Op,
    last: &'a Op,
}

impl NemesisOp<'_> {
    fn values(&self) -> [&Value; 2] {
        [&self.first.value, &self.last.value]
    }
}

/// Nemesis entries paired up: the nemesis runs one operation at a time, so an entry with the same `:f` as the
/// unpaired one before it completes it.
fn nemesis_ops(history: &History) -> Vec<NemesisOp<'_>> {
    let mut ops: Vec<NemesisOp<'_>> = Vec::new();
    let mut open = false;
    for op in history.ops.iter().filter(|op| op.process == Process::Nemesis) {
        match ops.last_mut() {
            Some(prev) if open && prev.f == op.f => {
                prev.last = op;
                open = false;
            }
            _ => {
                ops.push(NemesisOp { f: op.f, first: op, last: op });
                open = true;
            }
        }
    }
    ops
}

/// The node names a kill/start/pause/resume value mentions.
fn names(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        Value::Object(map) => map.keys().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The grudge of a `start-partition` value: `["isolated", {receiver: [senders]}]` or the bare map.
fn grudge(value: &Value) -> Option<&serde_json::Map<String, Value>> {
    match value {
        Value::Array(items) if items.len() == 2 && items[0].as_str() == Some("isolated") => items[1].as_object(),
        Value::Object(map) => Some(map),
        _ => None,
    }
}

impl FaultSchedule {
    /// No faults: every node runs for the whole history.
    pub fn healthy(node_count: usize) -> Self {
        let lives = (0..node_count).map(|node| Life { node, start: 0, end: FOREVER, pauses: Vec::new() }).collect();
        FaultSchedule { lives, by_node: (0..node_count).map(|i| vec![i]).collect(), drops: BTreeMap::new() }
    }

    /// Reads the schedule of `nodes` (the cluster's node names, in test order) from the nemesis operations of
    /// `history`.
    pub fn from_history(history: &History, nodes: &[String]) -> Self {
        let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let mut s = FaultSchedule::healthy(nodes.len());
        let mut open_drops: BTreeMap<(usize, usize), Nanos> = BTreeMap::new();
        let mut paused_since: BTreeMap<usize, Nanos> = BTreeMap::new();
        for op in nemesis_ops(history) {
            let named = || {
                let mut v: Vec<usize> =
                    op.values().into_iter().flat_map(names).filter_map(|n| index.get(n).copied()).collect();
                v.sort_unstable();
                v.dedup();
                v
            };
            match op.f {
                F::StartPartition => {
                    // The entry carrying the grudge is the moment it was applied (the completion, in practice).
                    let Some((at, g)) = [op.first, op.last].into_iter().find_map(|o| Some((o.time, grudge(&o.value)?)))
                    else {
                        continue;
                    };
                    for (receiver, senders) in g {
                        let Some(&r) = index.get(receiver.as_str()) else { continue };
                        for sender in senders.as_array().into_iter().flatten().filter_map(Value::as_str) {
                            if let Some(&snd) = index.get(sender).filter(|&&snd| snd != r) {
                                open_drops.entry((r, snd)).or_insert(at);
                            }
                        }
                    }
                }
                F::StopPartition => {
                    let at = op.first.time;
                    for (pair, from) in std::mem::take(&mut open_drops) {
                        s.add_drop(pair, from, at);
                    }
                }
                F::Kill => {
                    for node in named() {
                        let at = op.last.time;
                        if let Some(from) = paused_since.remove(&node) {
                            s.add_pause(node, from, at);
                        }
                        let life = s.current(node);
                        if s.lives[life].end == FOREVER {
                            s.lives[life].end = at.max(s.lives[life].start);
                        }
                    }
                }
                F::Start => {
                    for node in named() {
                        let life = s.current(node);
                        if s.lives[life].end != FOREVER {
                            let start = op.first.time.max(s.lives[life].end);
                            s.by_node[node].push(s.lives.len());
                            s.lives.push(Life { node, start, end: FOREVER, pauses: Vec::new() });
                        }
                    }
                }
                F::Pause => {
                    for node in named() {
                        if s.lives[s.current(node)].end == FOREVER {
                            paused_since.entry(node).or_insert(op.last.time);
                        }
                    }
                }
                F::Resume => {
                    for node in named() {
                        if let Some(from) = paused_since.remove(&node) {
                            s.add_pause(node, from, op.first.time);
                        }
                    }
                }
                _ => {}
            }
        }
        for (pair, from) in open_drops {
            s.add_drop(pair, from, FOREVER);
        }
        for (node, from) in paused_since {
            s.add_pause(node, from, FOREVER);
        }
        s
    }

    fn current(&self, node: usize) -> usize {
        *self.by_node[node].last().expect("every node has a first life")
    }

    fn add_drop(&mut self, pair: (usize, usize), from: Nanos, until: Nanos) {
        if from < until {
            self.drops.entry(pair).or_default().push((from, until));
        }
    }

    fn add_pause(&mut self, node: usize, from: Nanos, until: Nanos) {
        let life = self.current(node);
        let l = &mut self.lives[life];
        let (from, until) = (from.max(l.start), until.min(l.end));
        if from < until {
            l.pauses.push((from, until));
        }
    }

    /// Every life of every node.
    pub fn lives(&self) -> &[Life] {
        &self.lives
    }

    /// The lives of one node, in time order (indices into [`FaultSchedule::lives`]).
    pub fn lives_of(&self, node: usize) -> &[usize] {
        &self.by_node[node]
    }

    /// Does any receiver drop any sender at some time?
    pub fn has_partitions(&self) -> bool {
        !self.drops.is_empty()
    }

    /// The first instant `>= t` at which `life` runs (alive and not paused), if any.
    pub fn first_run(&self, life: usize, t: Nanos) -> Option<Nanos> {
        let l = &self.lives[life];
        let mut t = t.max(l.start);
        for &(from, until) in &l.pauses {
            if from <= t && t < until {
                t = until;
            }
        }
        (t < l.end).then_some(t)
    }

    /// The first instant `>= t` at which `receiver` does not drop `sender` ([`FOREVER`] if it drops it to the end).
    pub fn first_accept(&self, receiver: usize, sender: usize, t: Nanos) -> Nanos {
        let mut t = t;
        for &(from, until) in self.drops.get(&(receiver, sender)).into_iter().flatten() {
            if from <= t && t < until {
                t = until;
            }
        }
        t
    }

    /// The life of `node` that answered a read completed at `t`: the one alive then, else the latest one started
    /// by then (a fault's recorded instant may trail the moment the harness applied it), else its first.
    pub fn life_at(&self, node: usize, t: Nanos) -> usize {
        let lives = &self.by_node[node];
        lives.iter().rev().copied().find(|&l| self.lives[l].start <= t).unwrap_or(lives[0])
    }

    /// The stretches in which some fault of each kind was in force, merged per kind, ordered by kind then time:
    /// what a plot shades.
    pub fn shading(&self) -> Vec<(FaultKind, Nanos, Nanos)> {
        let mut spans: Vec<(FaultKind, Nanos, Nanos)> = Vec::new();
        spans.extend(self.drops.values().flatten().map(|&(a, b)| (FaultKind::Partition, a, b)));
        for node in &self.by_node {
            for pair in node.windows(2) {
                let (dead, next) = (&self.lives[pair[0]], &self.lives[pair[1]]);
                spans.push((FaultKind::Kill, dead.end, next.start));
            }
            if let Some(&last) = node.last()
                && self.lives[last].end != FOREVER
            {
                spans.push((FaultKind::Kill, self.lives[last].end, FOREVER));
            }
        }
        spans.extend(self.lives.iter().flat_map(|l| l.pauses.iter().map(|&(a, b)| (FaultKind::Pause, a, b))));
        spans.sort_unstable();
        let mut merged: Vec<(FaultKind, Nanos, Nanos)> = Vec::new();
        for (kind, a, b) in spans {
            match merged.last_mut() {
                Some((k, _, end)) if *k == kind && a <= *end => *end = (*end).max(b),
                _ => merged.push((kind, a, b)),
            }
        }
        merged
    }
}
