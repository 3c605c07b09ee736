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
//! map each node to what happened to it). The completion's names count when it has any (it lists the nodes the
//! fault changed), else the invocation's. Unknown names are ignored. A `:start-partition` at the very instant of a
//! `:stop-partition` re-imposes what remained when one of several partitions ended: its grudges never lapsed.
//!
//! Every fault is taken at its *narrowest*: in force strictly after the last entry of its operation (the
//! completion) and strictly before the first entry of the operation that undoes it (the invocation), because the
//! harness applies a fault somewhere between the two entries, and in virtual time a node may still act at the very
//! instant a fault is applied: the ideal must never assume a fault that might not yet, or no longer, have been in
//! force. So a partition does not drop, a paused node runs and a killed node is alive at those instants.

use std::collections::BTreeMap;

use bitvec::vec::BitVec;
use serde_json::Value;

use crate::history::{F, History, Nanos, Op, Process};
use crate::nemesis::FaultKind;

/// The end of time: a fault still in force when the history ends, or a life never ended.
pub const FOREVER: Nanos = Nanos::MAX;

/// One life of a node: from its start (0, or a restart) until it is killed, with the stretches it was paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Life {
    /// The node, as an index into the cluster's node list.
    pub node: usize,
    /// When it started running.
    pub start: Nanos,
    /// When it was killed ([`FOREVER`] if never). It is alive from `start` to `end`, both included.
    pub end: Nanos,
    /// Stretches it was paused, `(from, until)` both excluded, in order, disjoint, within its life.
    pub pauses: Vec<(Nanos, Nanos)>,
}

/// Lives and grudges over time.
#[derive(Debug, Clone, Default)]
pub struct FaultSchedule {
    lives: Vec<Life>,
    /// node → its lives (indices into `lives`), in time order.
    by_node: Vec<Vec<usize>>,
    /// Partition periods, in order, disjoint.
    periods: Vec<Period>,
}

/// From a first `start-partition` to the heal: grudges only accumulate within a period, and all end at its heal.
#[derive(Debug, Clone)]
struct Period {
    /// When the grudges in force changed (each `start-partition`), with what was dropped from then on; in order,
    /// the first at the period's start.
    epochs: Vec<Epoch>,
    /// The heal ([`FOREVER`] if none came).
    heal: Nanos,
}

#[derive(Debug, Clone)]
struct Epoch {
    /// When it took over: strictly after `from` when it only adds grudges to the epoch before (a
    /// `start-partition`), from `from` itself when it is what remained at a partition's end (see
    /// [`FaultSchedule::from_history`]).
    from: Nanos,
    inclusive: bool,
    /// sender → the receivers that drop it (one bit per node).
    dropped_by: Vec<BitVec>,
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

/// The node names a kill/start/pause/resume value mentions, `None` if it names none (not even as an empty list).
fn names(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) => Some(items.iter().filter_map(Value::as_str).collect()),
        Value::Object(map) => Some(map.keys().map(String::as_str).collect()),
        _ => None,
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
        FaultSchedule { lives, by_node: (0..node_count).map(|i| vec![i]).collect(), periods: Vec::new() }
    }

    /// Reads the schedule of `nodes` (the cluster's node names, in test order) from the nemesis operations of
    /// `history`.
    pub fn from_history(history: &History, nodes: &[String]) -> Self {
        let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let mut s = FaultSchedule::healthy(nodes.len());
        let n = nodes.len();
        // The period in progress: its epochs so far; and one just stopped, which a start at the same instant resumes.
        let mut open: Option<Vec<Epoch>> = None;
        let mut resumed: Option<Vec<Epoch>> = None;
        let mut stopped_at: Nanos = 0;
        let mut paused_since: BTreeMap<usize, Nanos> = BTreeMap::new();
        for op in nemesis_ops(history) {
            // The completion names the nodes the fault changed (a node already down is not killed again, one still
            // starting is not paused); without names there, the invocation's.
            let named = || {
                let [inv, done] = op.values();
                let names = names(done).or_else(|| names(inv)).unwrap_or_default();
                let mut v: Vec<usize> = names.into_iter().filter_map(|n| index.get(n).copied()).collect();
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
                    // A start at the very instant of a stop re-imposes the partitions still in force (the harness
                    // records one partition's end that way): those grudges never lapsed, so the period goes on
                    // with exactly this grudge, in force from that instant on.
                    let inclusive = resumed.is_some() && op.first.time == stopped_at;
                    if let Some(epochs) = resumed.take() {
                        if inclusive {
                            open = Some(epochs);
                        } else {
                            s.add_period(epochs, stopped_at);
                        }
                    }
                    let epochs = open.get_or_insert_with(Vec::new);
                    let mut dropped_by = match epochs.last() {
                        Some(e) if !inclusive => e.dropped_by.clone(),
                        _ => vec![BitVec::repeat(false, n); n],
                    };
                    for (receiver, senders) in g {
                        let Some(&r) = index.get(receiver.as_str()) else { continue };
                        for sender in senders.as_array().into_iter().flatten().filter_map(Value::as_str) {
                            if let Some(&snd) = index.get(sender).filter(|&&snd| snd != r) {
                                dropped_by[snd].set(r, true);
                            }
                        }
                    }
                    let from = if inclusive { stopped_at } else { at };
                    if epochs.last().is_some_and(|e| e.from == from) {
                        epochs.pop(); // one epoch per instant: the later record is what holds from then on
                    }
                    epochs.push(Epoch { from, inclusive, dropped_by });
                }
                F::StopPartition => {
                    if let Some(epochs) = resumed.take() {
                        s.add_period(epochs, stopped_at);
                    }
                    // Closed for good unless a start follows at the same instant.
                    resumed = open.take();
                    stopped_at = op.first.time;
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
        if let Some(epochs) = resumed {
            s.add_period(epochs, stopped_at);
        }
        if let Some(epochs) = open {
            s.add_period(epochs, FOREVER);
        }
        for (node, from) in paused_since {
            s.add_pause(node, from, FOREVER);
        }
        s
    }

    fn current(&self, node: usize) -> usize {
        *self.by_node[node].last().expect("every node has a first life")
    }

    /// Keeps a period healed at `heal` if it drops anything. Its epochs stay as they are: one that drops nothing
    /// may be what remained when a partition ended, and so end the grudges before it.
    fn add_period(&mut self, epochs: Vec<Epoch>, heal: Nanos) {
        let drops = epochs.iter().any(|e| e.dropped_by.iter().any(|d| d.any()));
        if drops && epochs.first().is_some_and(|e| e.from < heal) {
            self.periods.push(Period { epochs, heal });
        }
    }

    /// The epoch in force at `t` (strictly before its period's heal), as `(period, epoch)` indices.
    fn epoch_at(&self, t: Nanos) -> Option<(usize, usize)> {
        let p = self.periods.partition_point(|p| p.heal <= t);
        let period = self.periods.get(p)?;
        let e = period.epochs.partition_point(|e| e.from < t || (e.from == t && e.inclusive));
        Some((p, e.checked_sub(1)?))
    }

    /// When the epoch `(p, e)` gives way: the next epoch's start, or the heal.
    fn epoch_end(&self, p: usize, e: usize) -> Nanos {
        let period = &self.periods[p];
        period.epochs.get(e + 1).map_or(period.heal, |next| next.from)
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
        !self.periods.is_empty()
    }

    /// The receivers (one bit per node) that drop messages from `sender` at `t`, and an instant before which none
    /// of those grudges lifts; `None` when none drops it.
    pub fn dropping(&self, sender: usize, t: Nanos) -> Option<(&BitVec, Nanos)> {
        let (p, e) = self.epoch_at(t)?;
        let d = self.periods[p].epochs[e].dropped_by.get(sender).filter(|d| d.any())?;
        Some((d, self.epoch_end(p, e)))
    }

    /// The first instant `>= t` at which `life` runs (alive and not paused), if any.
    pub fn first_run(&self, life: usize, t: Nanos) -> Option<Nanos> {
        let l = &self.lives[life];
        let mut t = t.max(l.start);
        for &(from, until) in &l.pauses {
            if from < t && t < until {
                t = until;
            }
        }
        (t <= l.end && t != FOREVER).then_some(t)
    }

    /// The first instant `>= t` at which `receiver` does not drop `sender` ([`FOREVER`] if it drops it to the end).
    pub fn first_accept(&self, receiver: usize, sender: usize, t: Nanos) -> Nanos {
        let Some((p, e)) = self.epoch_at(t) else { return t };
        let period = &self.periods[p];
        // Walk the period's epochs until one no longer drops the sender: only an epoch that replaces the grudges
        // (from its instant on) can; one that adds to them cannot. Otherwise the grudge lasts to the heal, at which
        // instant it is lifted even if a new period starts then.
        let dropped = |e: &Epoch| e.dropped_by[sender][receiver];
        if !dropped(&period.epochs[e]) {
            return t;
        }
        period.epochs[e + 1..].iter().find(|next| !dropped(next)).map_or(period.heal, |next| next.from)
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
        for p in &self.periods {
            // From the first epoch that drops anything to the heal (a grudge that cuts nothing is no fault).
            if let Some(first) = p.epochs.iter().find(|e| e.dropped_by.iter().any(|d| d.any())) {
                spans.push((FaultKind::Partition, first.from, p.heal));
            }
        }
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
