//! The ideal-latency checker (an osmosis extension, `:ideal` in the results): how far a broadcast or g-set run
//! was from the best any protocol could have done on the same network, under the same faults, judged by the
//! same reads.
//!
//! # The ideal network
//!
//! Every node that holds an element may send it, at any moment it runs, straight to any node (no topology). A
//! copy sent at `s` from `u` to `v`:
//!
//! * takes at least `floor`, the least latency the run's distribution can draw: `--latency` for `constant`, 0 for
//!   `uniform` and `exponential` (both can draw 0 ms);
//! * passes `v`'s partition check if `v` does not drop `u` at *some* instant between `s` and its arrival: the
//!   network checks a grudge when the receiver takes the message off its queue, which happens at the send when
//!   the receiver is idle and later when it is busy, so a copy can also wait in the queue for a heal. It arrives
//!   at `max(s + floor, τ)`, `τ` the first instant from `s` on at which `v` accepts `u`;
//! * is taken in at the first instant from its arrival on at which `v` runs: a paused node takes it when it
//!   resumes; a killed node's life is over, and a restarted node is a new, empty life that only holds what
//!   reaches it after its restart.
//!
//! Messages are never lost or duplicated in the ideal: both are random, the earliest possible run is the one
//! in which no copy is lost, and a duplicate arrives no earlier than its original's earliest. (Only `--loss 1`,
//! where every server message is lost, stops copies altogether.) Client messages have no latency, as in
//! Maelstrom: the add reaches its node at the add's invocation (or, if the node is down or paused then, at the
//! first moment from then on at which one of its lives runs), and a read sees whatever its node's life could hold
//! by the read's completion (the reply left the node no later than that). Faults are taken at their narrowest
//! ([`schedule`]).
//!
//! Under these rules, the ideal holding time of every (element, life) is a lower bound of when any protocol, on
//! the harness's network, could have made that life hold it. Each is computed by [`arrival`].
//!
//! # What is reported
//!
//! The reads of the history are replayed through set-full's rules with each read's content replaced by what it
//! would ideally have returned: every element its node's life could hold by the read's completion. The element's
//! *known* time is the observed one (its add's `:ok`, or the first read that returned it), so the ideal stable
//! latency measures the same interval as Maelstrom's stable latency, with the ideal network underneath:
//!
//! * `:stable-latencies`: quantiles of the ideal stable latency over the elements stable in the ideal replay;
//! * `:excess`: quantiles of observed − ideal stable latency over elements stable in both (ms);
//! * `:staleness`: for every (element, node) with a read: how long after the node's life could first have held
//!   the element a read invoked on it still lacked it (the largest such gap, 0 if none), quantiles in ms;
//! * `:lost`: elements lost even in the ideal replay (e.g. acknowledged by a node that was killed before any copy
//!   could leave it);
//! * `:early-read-count`: reads that returned an element before the ideal network could have brought it to their
//!   node. It must be 0: anything else means the history does not match the run's configuration (wrong latency,
//!   node list or concurrency), or a bug in the harness's network or in this model.

pub mod arrival;
pub mod schedule;

use std::cmp::Reverse;
use std::collections::BTreeMap;

use serde_json::Value;

use super::compare::ValueKey;
use super::edn::Edn;
use super::set_full::{Outcome, SetFullResult, quantiles_edn};
use crate::history::{F, History, Nanos, OpType, Process};
use crate::latency::{Latency, LatencyDist};
use arrival::IdealNetwork;
use schedule::FaultSchedule;

/// How many entries the `:worst-…` lists and `:early-reads` keep.
const WORST: usize = 8;

/// `:about`: the extension says what it is.
const ABOUT: &str =
    "osmosis extension, not in Maelstrom: the best any protocol could do on this run's network, faults and reads";

/// What the ideal checker needs to know of the cluster a history ran on.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Server node names, in test order.
    pub nodes: Vec<String>,
    /// Client threads: thread `t` talks to node `t mod N`, process `p` is thread `p mod concurrency` (spec §5.1).
    pub concurrency: usize,
    /// The inter-server latency.
    pub latency: Latency,
    /// The probability that a server message is lost (an osmosis fault; 0 without it).
    pub loss: f64,
}

impl Cluster {
    /// A cluster without message loss.
    pub fn new(nodes: Vec<String>, concurrency: usize, latency: Latency) -> Self {
        Cluster { nodes, concurrency, latency, loss: 0.0 }
    }

    /// The least latency a server message can get, `None` if none ever arrives.
    pub fn floor(&self) -> Option<Nanos> {
        if self.loss >= 1.0 {
            return None;
        }
        Some(match self.latency.dist {
            LatencyDist::Constant => self.latency.mean_ms.saturating_mul(1_000_000),
            LatencyDist::Uniform | LatencyDist::Exponential => 0,
        })
    }

    /// The node a client process talks to.
    fn node_of(&self, process: Process) -> Option<usize> {
        match process {
            Process::Client(p) if self.concurrency > 0 && !self.nodes.is_empty() => {
                Some((p % self.concurrency as u64) as usize % self.nodes.len())
            }
            _ => None,
        }
    }
}

/// One element's stable latencies, observed and ideal.
#[derive(Debug, Clone, PartialEq)]
pub struct Excess {
    /// The element.
    pub element: Value,
    /// set-full's stable latency (ms).
    pub observed: u64,
    /// The ideal stable latency (ms).
    pub ideal: u64,
}

impl Excess {
    /// observed − ideal, in ms.
    pub fn excess(&self) -> i64 {
        self.observed as i64 - self.ideal as i64
    }
}

/// One (element, node) pair's staleness.
#[derive(Debug, Clone, PartialEq)]
pub struct Staleness {
    /// The element.
    pub element: Value,
    /// The node.
    pub node: String,
    /// How long after it could first have held the element a read on the node still lacked it (ms).
    pub ms: u64,
}

/// A read that returned an element earlier than the ideal network could have brought it.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlyRead {
    /// The element.
    pub element: Value,
    /// The read's node.
    pub node: String,
    /// The read's completion index in the history.
    pub read: u64,
}

/// The `:ideal` result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IdealResult {
    /// The least server latency assumed (ms), `None` when no server message arrives.
    pub floor_ms: Option<u64>,
    /// The ideal stable latency (ms) of every element stable in the ideal replay, in element order.
    pub stable_latencies: Vec<u64>,
    /// Elements lost even in the ideal replay, in element order.
    pub lost: Vec<Value>,
    /// Observed and ideal stable latencies of every element stable in both, in element order.
    pub excess: Vec<Excess>,
    /// The staleness (ms) of every (element, node) pair with a read on that node, element order then node order.
    pub staleness_ms: Vec<u64>,
    /// The largest positive stalenesses, at most 8, largest first (ties in element then node order).
    pub worst_staleness: Vec<Staleness>,
    /// How many (read, element) pairs returned an element before it could have arrived.
    pub early_read_count: u64,
    /// The first few of them.
    pub early_reads: Vec<EarlyRead>,
    /// For each element set-full found lost: the nodes whose last read missed it (in node order).
    pub lacking: Vec<(Value, Vec<String>)>,
}

impl IdealResult {
    /// The largest excess (ms), if any element is stable both observed and ideally.
    pub fn worst_excess_ms(&self) -> Option<i64> {
        self.excess.iter().map(Excess::excess).max()
    }

    /// The largest staleness (ms), if any node was read.
    pub fn worst_staleness_ms(&self) -> Option<u64> {
        self.staleness_ms.iter().copied().max()
    }

    /// The `:ideal` map. Key order: `:about :latency-floor-ms :stable-count :lost-count :lost [:stable-latencies]
    /// [:excess] [:staleness] :worst-excess :worst-staleness :early-read-count [:early-reads]`.
    pub fn to_edn(&self) -> Edn {
        let mut m = vec![
            ("about", Edn::str(ABOUT)),
            ("latency-floor-ms", Edn::from(self.floor_ms)),
            ("stable-count", Edn::count(self.stable_latencies.len())),
            ("lost-count", Edn::count(self.lost.len())),
            ("lost", Edn::List(self.lost.iter().map(Edn::from_json).collect())),
        ];
        if let Some(q) = quantiles_edn(&self.stable_latencies) {
            m.push(("stable-latencies", q));
        }
        let excess: Vec<i64> = self.excess.iter().map(Excess::excess).collect();
        if let Some(q) = quantiles_edn(&excess) {
            m.push(("excess", q));
        }
        if let Some(q) = quantiles_edn(&self.staleness_ms) {
            m.push(("staleness", q));
        }
        let mut worst: Vec<&Excess> = self.excess.iter().filter(|e| e.excess() > 0).collect();
        worst.sort_by_key(|e| Reverse(e.excess()));
        let worst = worst.iter().take(WORST).map(|e| {
            Edn::kw_map([
                ("element", Edn::from_json(&e.element)),
                ("stable-latency", Edn::from(e.observed)),
                ("ideal", Edn::from(e.ideal)),
                ("excess", Edn::Int(i128::from(e.excess()))),
            ])
        });
        m.push(("worst-excess", Edn::Vector(worst.collect())));
        let stale = self.worst_staleness.iter().map(|s| {
            Edn::kw_map([
                ("element", Edn::from_json(&s.element)),
                ("node", Edn::str(s.node.as_str())),
                ("staleness", Edn::from(s.ms)),
            ])
        });
        m.push(("worst-staleness", Edn::Vector(stale.collect())));
        m.push(("early-read-count", Edn::from(self.early_read_count)));
        if !self.early_reads.is_empty() {
            let early = self.early_reads.iter().map(|r| {
                Edn::kw_map([
                    ("element", Edn::from_json(&r.element)),
                    ("node", Edn::str(r.node.as_str())),
                    ("read-index", Edn::from(r.read)),
                ])
            });
            m.push(("early-reads", Edn::Vector(early.collect())));
        }
        Edn::kw_map(m)
    }
}

/// One element as the replay tracks it.
struct Tracked {
    element: Value,
    /// Earliest holding time per life.
    hold: Vec<Option<Nanos>>,
    /// Ideal replay: latest-invoked reads that would (not) have had it, and the first that would have.
    last_present: Option<usize>,
    last_absent: Option<usize>,
    first_present: Option<usize>,
}

/// Per (element, node): the latest-invoked read (its invocation index and whether it had the element) and the
/// staleness so far.
#[derive(Clone, Copy)]
struct NodeView {
    last_read: Option<(usize, bool)>,
    staleness: Nanos,
}

const UNREAD: NodeView = NodeView { last_read: None, staleness: 0 };

/// Replays `history`'s reads on the ideal network of `cluster` and its recorded faults, against set-full's
/// observed result `observed` (from the same history).
pub fn check(history: &History, observed: &SetFullResult, cluster: &Cluster) -> IdealResult {
    let schedule = FaultSchedule::from_history(history, &cluster.nodes);
    let net = IdealNetwork::new(&schedule, cluster.floor());
    let n = cluster.nodes.len();
    let ops = &history.ops;
    let pairs = history.pairs();
    let mut index: BTreeMap<ValueKey, usize> = BTreeMap::new();
    let mut tracked: Vec<Tracked> = Vec::new();
    let mut views: Vec<NodeView> = Vec::new(); // tracked × nodes
    let mut present = Vec::new();
    let mut result = IdealResult { floor_ms: cluster.floor().map(|f| f / 1_000_000), ..IdealResult::default() };

    for (i, op) in ops.iter().enumerate() {
        let Some(node) = cluster.node_of(op.process) else { continue };
        match (op.f, op.op_type) {
            (F::Add | F::Broadcast, OpType::Invoke) => {
                let t = Tracked {
                    element: op.value.clone(),
                    hold: net.earliest(node, op.time),
                    last_present: None,
                    last_absent: None,
                    first_present: None,
                };
                let key = ValueKey::of(&op.value);
                match index.get(&key) {
                    Some(&at) => {
                        tracked[at] = t;
                        views[at * n..(at + 1) * n].fill(UNREAD);
                    }
                    None => {
                        index.insert(key, tracked.len());
                        tracked.push(t);
                        views.extend(std::iter::repeat_n(UNREAD, n));
                    }
                }
            }
            (F::Read, OpType::Ok) => {
                let Some(inv) = pairs[i] else { continue };
                present.clear();
                present.resize(tracked.len(), false);
                if let Value::Array(read) = &op.value {
                    for v in read {
                        if let Some(&at) = index.get(&ValueKey::of(v)) {
                            present[at] = true;
                        }
                    }
                }
                let life = schedule.life_at(node, op.time);
                let invoked = ops[inv].time;
                for (at, t) in tracked.iter_mut().enumerate() {
                    let hold = t.hold[life];
                    let ideal = hold.is_some_and(|h| h <= op.time);
                    if present[at] && !ideal {
                        result.early_read_count += 1;
                        if result.early_reads.len() < WORST {
                            let node = cluster.nodes[node].clone();
                            result.early_reads.push(EarlyRead { element: t.element.clone(), node, read: op.index });
                        }
                    }
                    let slot = if ideal { &mut t.last_present } else { &mut t.last_absent };
                    if slot.is_none_or(|s| s < inv) {
                        *slot = Some(inv);
                    }
                    if ideal {
                        t.first_present.get_or_insert(i);
                    }
                    let view = &mut views[at * n + node];
                    if view.last_read.is_none_or(|(r, _)| r < inv) {
                        view.last_read = Some((inv, present[at]));
                    }
                    if !present[at]
                        && let Some(h) = hold
                    {
                        view.staleness = view.staleness.max(invoked.saturating_sub(h));
                    }
                }
            }
            _ => {}
        }
    }

    // Tie the replay to set-full's elements (sorted by value) and their observed outcome and known time.
    let mut order: Vec<(usize, usize)> = observed
        .elements
        .iter()
        .enumerate()
        .filter_map(|(e, r)| Some((e, *index.get(&ValueKey::of(&r.element))?)))
        .collect();
    order.sort_unstable();
    let mut worst: Vec<(u64, usize, usize)> = Vec::with_capacity(WORST + 1);
    for (e, at) in order {
        let obs = &observed.elements[e];
        let t = &tracked[at];
        let known = obs.known.as_ref().map(|k| k.index as usize).or(t.first_present);
        let outcome = outcome(known, t.last_present, t.last_absent);
        let known_time = known.map_or(0, |k| ops[k].time);
        match outcome {
            Outcome::Stable => {
                let stable_time = t.last_absent.map_or(0, |la| ops[la].time + 1);
                let ideal = stable_time.saturating_sub(known_time) / 1_000_000;
                result.stable_latencies.push(ideal);
                if let Some(observed) = obs.stable_latency {
                    result.excess.push(Excess { element: obs.element.clone(), observed, ideal });
                }
            }
            Outcome::Lost => result.lost.push(obs.element.clone()),
            Outcome::NeverRead => {}
        }
        let node_views = &views[at * n..(at + 1) * n];
        for (v, view) in node_views.iter().enumerate().filter(|(_, w)| w.last_read.is_some()) {
            let ms = view.staleness / 1_000_000;
            result.staleness_ms.push(ms);
            // Keep the largest few by (ms, earliest pair) without materialising every pair.
            if ms > 0 && (worst.len() < WORST || worst.last().is_some_and(|w| w.0 < ms)) {
                let at = worst.partition_point(|w| w.0 >= ms);
                worst.insert(at, (ms, e, v));
                worst.truncate(WORST);
            }
        }
        if obs.outcome == Outcome::Lost {
            let lacking =
                node_views.iter().zip(&cluster.nodes).filter(|(w, _)| matches!(w.last_read, Some((_, false))));
            result.lacking.push((obs.element.clone(), lacking.map(|(_, name)| name.clone()).collect()));
        }
    }
    result.worst_staleness = worst
        .into_iter()
        .map(|(ms, e, v)| Staleness {
            element: observed.elements[e].element.clone(),
            node: cluster.nodes[v].clone(),
            ms,
        })
        .collect();
    result
}

/// set-full's outcome rule on invocation indices.
fn outcome(known: Option<usize>, last_present: Option<usize>, last_absent: Option<usize>) -> Outcome {
    let idx = |o: Option<usize>| o.map_or(-1, |i| i as i64);
    if last_present.is_some() && idx(last_absent) < idx(last_present) {
        Outcome::Stable
    } else if known.is_some() && last_absent.is_some() && idx(known) < idx(last_absent) {
        Outcome::Lost
    } else {
        Outcome::NeverRead
    }
}
