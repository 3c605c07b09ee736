//! The ideal is a lower bound of what a correct protocol achieves on the harness's own network: small clusters of
//! a flooding protocol with periodic repair run on [`Network`] (take-time partition checks, head-of-line blocking
//! with random latency) under random partitions, pauses and kills, and the ideal replay of their histories must
//! never be beaten: no early read, no negative excess, no element stable in the run but not ideally.

use std::collections::BTreeSet;

use proptest::prelude::*;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::Hist;
use crate::checker::ideal::{self, Cluster};
use crate::checker::set_full::{self, Outcome};
use crate::history::F;
use crate::latency::{Latency, LatencyDist};
use crate::nemesis::{Grudge, isolate, random_grudge, union};
use crate::net::{Addr, Network, WireSize};

const MS: u64 = 1_000_000;
/// Simulated run length (ms); faults end by `END - 500`, final reads at `END - 10`.
const END: u64 = 1500;
/// Every running node sends its whole set to one random peer this often (ms).
const REPAIR_MS: u64 = 40;

/// A message: the elements it carries.
#[derive(Clone)]
struct Elements(Vec<u64>);

impl WireSize for Elements {
    fn wire_size(&self) -> u64 {
        8 * self.0.len() as u64
    }
}

#[derive(Default)]
struct SimNode {
    set: BTreeSet<u64>,
    dead: bool,
    paused: bool,
    /// Deliveries and client requests (thread) held while paused.
    inbox: Vec<Vec<u64>>,
    waiting: Vec<usize>,
}

#[derive(Clone, Copy)]
enum Fault {
    Partition,
    StopPartition,
    /// A targeted cut of one node, layered over the random partition as the harness's core does.
    Cut(usize),
    Uncut(usize),
    Kill(usize),
    Start(usize),
    Pause(usize),
    Resume(usize),
}

struct Sim {
    rng: ChaCha8Rng,
    net: Network<Elements>,
    addrs: Vec<Addr>,
    names: Vec<String>,
    nodes: Vec<SimNode>,
    h: Hist,
    /// Per client thread: its process and the op it waits on (`Some(value)` for an add, `Some(None)` a read).
    process: Vec<u64>,
    pending: Vec<Option<Option<u64>>>,
    next_element: u64,
    /// Partitions in force: `None` the random one, `Some(i)` a cut of node `i`.
    layers: Vec<(Option<usize>, Grudge)>,
}

impl Sim {
    fn new(n: usize, latency: Latency, seed: u64) -> Sim {
        let mut net = Network::new(latency, seed);
        let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let addrs = names.iter().map(|name| net.register(name, ())).collect();
        Sim {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0xA5A5),
            net,
            addrs,
            names,
            nodes: (0..n).map(|_| SimNode::default()).collect(),
            h: Hist::new(),
            process: (0..n as u64).collect(),
            pending: vec![None; n],
            next_element: 0,
            layers: Vec::new(),
        }
    }

    fn running(&self, i: usize) -> bool {
        !self.nodes[i].dead && !self.nodes[i].paused
    }

    /// Node `i` learns `elements`; what is new goes straight to every other node.
    fn learn(&mut self, t: u64, i: usize, elements: &[u64]) {
        let new: Vec<u64> = elements.iter().copied().filter(|e| self.nodes[i].set.insert(*e)).collect();
        if new.is_empty() {
            return;
        }
        for j in 0..self.nodes.len() {
            if j != i {
                self.net.send(t * MS, self.addrs[i], self.addrs[j], Elements(new.clone())).unwrap();
            }
        }
    }

    /// Node `i` (running) serves client thread `thread`'s request at `t`.
    fn serve(&mut self, t: u64, i: usize, thread: usize) {
        let Some(op) = self.pending[thread].take() else { return };
        let p = self.process[thread];
        match op {
            Some(e) => {
                self.learn(t, i, &[e]);
                self.h.ok(p, F::Broadcast, json!(e), t);
            }
            None => {
                let read: Vec<u64> = self.nodes[i].set.iter().copied().collect();
                self.h.ok(p, F::Read, json!(read), t);
            }
        }
    }

    fn invoke(&mut self, t: u64, thread: usize, add: bool) {
        let (p, node) = (self.process[thread], thread % self.nodes.len());
        let op = if add {
            let e = self.next_element;
            self.next_element += 1;
            self.h.invoke(p, F::Broadcast, json!(e), t);
            Some(e)
        } else {
            self.h.invoke(p, F::Read, Value::Null, t);
            None
        };
        self.pending[thread] = Some(op);
        if self.nodes[node].dead {
            self.pending[thread] = None;
            match op {
                Some(e) => self.h.info(p, F::Broadcast, json!(e), t),
                None => self.h.fail(p, F::Read, Value::Null, t),
            };
            self.process[thread] += self.nodes.len() as u64;
        } else if self.nodes[node].paused {
            self.nodes[node].waiting.push(thread);
        } else {
            self.serve(t, node, thread);
        }
    }

    fn fault(&mut self, t: u64, fault: Fault) {
        match fault {
            Fault::Partition if !self.layers.iter().any(|(l, _)| l.is_none()) => {
                let (_, grudge) = random_grudge(&self.names, &mut self.rng);
                self.add_layer(t, None, grudge);
            }
            Fault::Cut(i) if !self.layers.iter().any(|(l, _)| *l == Some(i)) => {
                let grudge = isolate(&self.names[i], &self.names);
                self.add_layer(t, Some(i), grudge);
            }
            Fault::StopPartition => self.remove_layer(t, None),
            Fault::Uncut(i) => self.remove_layer(t, Some(i)),
            Fault::Kill(i) if !self.nodes[i].dead => {
                let waiting = std::mem::take(&mut self.nodes[i].waiting);
                self.nodes[i] = SimNode { dead: true, ..SimNode::default() };
                self.net.set_receiving(t * MS, self.addrs[i], true);
                self.h.fault(F::Kill, t, t, json!([self.names[i]]));
                for thread in waiting {
                    if let Some(op) = self.pending[thread].take() {
                        let p = self.process[thread];
                        match op {
                            Some(e) => self.h.info(p, F::Broadcast, json!(e), t),
                            None => self.h.fail(p, F::Read, Value::Null, t),
                        };
                        self.process[thread] += self.nodes.len() as u64;
                    }
                }
            }
            Fault::Start(i) if self.nodes[i].dead => {
                self.nodes[i].dead = false;
                self.h.fault(F::Start, t, t, json!([self.names[i]]));
            }
            Fault::Pause(i) if self.running(i) => {
                self.nodes[i].paused = true;
                self.net.set_receiving(t * MS, self.addrs[i], false);
                self.h.fault(F::Pause, t, t, json!([self.names[i]]));
            }
            Fault::Resume(i) if self.nodes[i].paused => {
                self.h.fault(F::Resume, t, t, json!([self.names[i]]));
                self.nodes[i].paused = false;
                for elements in std::mem::take(&mut self.nodes[i].inbox) {
                    self.learn(t, i, &elements);
                }
                for thread in std::mem::take(&mut self.nodes[i].waiting) {
                    self.serve(t, i, thread);
                }
                self.net.set_receiving(t * MS, self.addrs[i], true);
            }
            _ => {}
        }
    }

    fn add_layer(&mut self, t: u64, layer: Option<usize>, grudge: Grudge) {
        self.net.partition(&grudge);
        self.h.fault(F::StartPartition, t, t, json!(["isolated", grudge]));
        self.layers.push((layer, grudge));
    }

    /// Ends one partition: heal everything, then re-impose what remains at the same instant.
    fn remove_layer(&mut self, t: u64, layer: Option<usize>) {
        let before = self.layers.len();
        self.layers.retain(|(l, _)| *l != layer);
        if self.layers.len() == before && layer.is_some() {
            return;
        }
        self.net.heal();
        self.h.fault(F::StopPartition, t, t, json!("network-healed"));
        if !self.layers.is_empty() {
            let remaining = union(self.layers.iter().map(|(_, g)| g));
            self.net.partition(&remaining);
            self.h.fault(F::StartPartition, t, t, json!(["isolated", remaining]));
        }
    }

    fn deliver(&mut self, t: u64) {
        while let Some(d) = self.net.poll(t * MS) {
            let i = self.addrs.iter().position(|&a| a == d.dest).expect("a node");
            if self.nodes[i].dead {
                continue;
            }
            if self.nodes[i].paused {
                self.nodes[i].inbox.push(d.payload.0);
            } else {
                self.learn(t, i, &d.payload.0);
            }
        }
    }

    fn repair(&mut self, t: u64) {
        let n = self.nodes.len();
        for i in 0..n {
            if !self.running(i) {
                continue;
            }
            let peers: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            if let Some(&j) = peers.choose(&mut self.rng) {
                let all: Vec<u64> = self.nodes[i].set.iter().copied().collect();
                self.net.send(t * MS, self.addrs[i], self.addrs[j], Elements(all)).unwrap();
            }
        }
    }
}

/// A random fault schedule: `(time ms, fault)`, sorted, all undone by `END - 500`.
fn schedule(rng: &mut ChaCha8Rng, n: usize, faults: usize) -> Vec<(u64, Fault)> {
    let mut out = Vec::new();
    for _ in 0..faults {
        let from = rng.random_range(0..END - 700);
        let until = from + rng.random_range(1..200);
        let node = rng.random_range(0..n);
        let (start, stop) = match rng.random_range(0..4) {
            0 => (Fault::Partition, Fault::StopPartition),
            1 => (Fault::Kill(node), Fault::Start(node)),
            2 => (Fault::Cut(node), Fault::Uncut(node)),
            _ => (Fault::Pause(node), Fault::Resume(node)),
        };
        out.push((from, start));
        out.push((until, stop));
    }
    let heal = END - 500;
    out.extend((0..n).map(|i| (heal, Fault::Uncut(i))));
    out.push((heal, Fault::StopPartition));
    out.extend((0..n).flat_map(|i| [(heal, Fault::Start(i)), (heal, Fault::Resume(i))]));
    out.sort_by_key(|(t, _)| *t);
    out
}

/// Runs one simulated cluster and returns its history.
fn run(n: usize, latency: Latency, faults: usize, seed: u64) -> Hist {
    let mut sim = Sim::new(n, latency, seed);
    let plan = schedule(&mut sim.rng, n, faults);
    let mut next_fault = 0;
    let mut next_op: Vec<u64> = (0..n).map(|_| sim.rng.random_range(0..20)).collect();
    for t in 0..END {
        while next_fault < plan.len() && plan[next_fault].0 == t {
            sim.fault(t, plan[next_fault].1);
            next_fault += 1;
        }
        for (thread, next) in next_op.iter_mut().enumerate() {
            let final_read = t == END - 10;
            if sim.pending[thread].is_none() && (*next == t && t < END - 500 || final_read) {
                let add = !final_read && sim.rng.random_bool(0.5);
                sim.invoke(t, thread, add);
            }
            if *next <= t {
                *next = t + sim.rng.random_range(5..40);
            }
        }
        if t % REPAIR_MS == 0 {
            sim.repair(t);
        }
        sim.deliver(t);
    }
    sim.h
}

/// Every invariant of the ideal against one simulated run.
fn check_bounds(h: &Hist, cluster: &Cluster, faults: usize) -> Result<(), TestCaseError> {
    let observed = set_full::check(&h.h).unwrap();
    let r = ideal::check(&h.h, &observed, cluster);
    prop_assert_eq!(r.early_read_count, 0, "early reads: {:?}", r.early_reads);
    let stable = observed.count(Outcome::Stable);
    prop_assert!(stable > 0, "the run converged at the end");
    prop_assert_eq!(r.excess.len(), stable, "every element stable in the run is stable ideally");
    for e in &r.excess {
        prop_assert!(e.excess() >= 0, "element {} beat the ideal: {:?}", e.element, e);
    }
    for lost in &r.lost {
        let o = observed.elements.iter().find(|x| &x.element == lost).unwrap();
        prop_assert!(o.outcome != Outcome::Stable, "{} is lost ideally but stable in the run", lost);
    }
    if faults == 0 {
        let floor = cluster.floor().unwrap() / MS;
        prop_assert!(r.stable_latencies.iter().all(|&l| l <= floor), "{:?} > {floor}", r.stable_latencies);
        prop_assert!(r.lost.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn no_run_of_a_correct_protocol_beats_the_ideal(
        n in 2usize..=5,
        dist in 0usize..4,
        faults in 0usize..=4,
        seed: u64,
    ) {
        let latency = match dist {
            0 => Latency::new(0, LatencyDist::Constant),
            1 => Latency::new(20, LatencyDist::Constant),
            2 => Latency::new(15, LatencyDist::Uniform),
            _ => Latency::new(10, LatencyDist::Exponential),
        }
        .unwrap();
        let h = run(n, latency, faults, seed);
        let cluster = Cluster::new((1..=n).map(|i| format!("n{i}")).collect(), n, latency);
        check_bounds(&h, &cluster, faults)?;
    }
}

#[test]
fn the_bound_check_fails_when_the_model_is_given_a_slower_network_than_the_run_had() {
    // The same run judged as if messages took 60 ms instead of 20: reads on other nodes come "too early".
    let h = run(3, Latency::new(20, LatencyDist::Constant).unwrap(), 0, 11);
    let slow =
        Cluster::new(vec!["n1".into(), "n2".into(), "n3".into()], 3, Latency::new(60, LatencyDist::Constant).unwrap());
    let observed = set_full::check(&h.h).unwrap();
    assert!(ideal::check(&h.h, &observed, &slow).early_read_count > 0);
    let right = Cluster { latency: Latency::new(20, LatencyDist::Constant).unwrap(), ..slow };
    assert_eq!(ideal::check(&h.h, &observed, &right).early_read_count, 0);
}

#[test]
fn a_copy_sent_at_the_very_instant_a_partition_begins_passes_as_in_the_simulation() {
    // Found by the property test: n1 resumes and floods at 115 ms, the instant a partition starts; the copy is
    // taken before the grudge applies. Faults are not in force at their own instants.
    let latency = Latency::new(0, LatencyDist::Constant).unwrap();
    let h = run(2, latency, 3, 1845420650052236893);
    check_bounds(&h, &Cluster::new(vec!["n1".into(), "n2".into()], 2, latency), 3).unwrap();
}

#[test]
fn the_grudge_left_when_a_cut_ends_replaces_the_one_before_even_when_it_cuts_nothing() {
    // Found by the property test: on two nodes a random grudge cuts nothing; a cut of n1 over it ends at 494 ms and
    // the empty grudge left is re-imposed at that instant. The cut must end there.
    let latency = Latency::new(0, LatencyDist::Constant).unwrap();
    let h = run(2, latency, 2, 5537483458958167591);
    check_bounds(&h, &Cluster::new(vec!["n1".into(), "n2".into()], 2, latency), 2).unwrap();
}
