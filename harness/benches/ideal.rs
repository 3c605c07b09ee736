//! Cost of the ideal-latency checker on synthetic broadcast histories shaped like the Gossip Glomers scenario:
//! 100 ops/s for 20 s (half broadcasts, half reads, round-robin over the nodes), 100 ms constant latency, every
//! read returning what a flood would have delivered; without faults, and with a majority partition (the worst case
//! of the search: half the lives are cut off from the origin's side for the whole 10 s it lasts).
#![expect(missing_docs, reason = "criterion_group! generates an undocumented public function")]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use osmosis_harness::checker::ideal::{self, Cluster};
use osmosis_harness::checker::set_full;
use osmosis_harness::history::{F, History, Op, OpType, Process};
use osmosis_harness::latency::{Latency, LatencyDist};
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::Duration;

const MS: u64 = 1_000_000;
const OPS: u64 = 2000;
const LATENCY_MS: u64 = 100;

fn push(h: &mut History, process: Process, op_type: OpType, f: F, value: Value, time: u64) {
    h.push(Op { index: 0, time, op_type, process, f, value, final_read: false, error: None });
}

fn history(nodes: usize, partition: bool) -> History {
    let mut h = History::default();
    if partition {
        let half = nodes / 2;
        let mut grudge = serde_json::Map::new();
        for i in 0..nodes {
            let others: Vec<String> =
                (0..nodes).filter(|&j| (j < half) != (i < half)).map(|j| format!("n{j}")).collect();
            grudge.insert(format!("n{i}"), json!(others));
        }
        let t = 5_000 * MS - 1;
        push(&mut h, Process::Nemesis, OpType::Info, F::StartPartition, json!("majority"), t);
        push(&mut h, Process::Nemesis, OpType::Info, F::StartPartition, json!(["isolated", grudge]), t);
    }
    // Each read sees what a flood would have brought by then: one latency after the add, or after the heal for
    // an element added across the partition while it lasted.
    let (start, heal) = (5_000 * MS, 15_000 * MS);
    let side = |node: u64| node < nodes as u64 / 2;
    let mut added: Vec<(u64, u64, u64)> = Vec::new();
    for k in 0..OPS {
        let t = k * 10 * MS;
        if partition && t == heal {
            push(&mut h, Process::Nemesis, OpType::Info, F::StopPartition, Value::Null, t);
            push(&mut h, Process::Nemesis, OpType::Info, F::StopPartition, json!("network-healed"), t);
        }
        let p = k % nodes as u64;
        if k % 2 == 0 {
            push(&mut h, Process::Client(p), OpType::Invoke, F::Broadcast, json!(k), t);
            push(&mut h, Process::Client(p), OpType::Ok, F::Broadcast, json!(k), t + MS);
            added.push((k, p, t));
        } else {
            let seen: Vec<u64> = added
                .iter()
                .filter(|&&(_, at_node, at)| {
                    let cut = partition && side(at_node) != side(p) && (start..heal).contains(&at);
                    (if cut { heal } else { at }) + LATENCY_MS * MS <= t
                })
                .map(|(e, _, _)| *e)
                .collect();
            push(&mut h, Process::Client(p), OpType::Invoke, F::Read, Value::Null, t);
            push(&mut h, Process::Client(p), OpType::Ok, F::Read, json!(seen), t + MS);
        }
    }
    h
}

fn ideal_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("ideal_check");
    group.sample_size(10);
    for nodes in [25usize, 1000] {
        for partition in [false, true] {
            let h = history(nodes, partition);
            let observed = set_full::check(&h).expect("integers sort");
            let names: Vec<String> = (0..nodes).map(|i| format!("n{i}")).collect();
            let latency = Latency::new(LATENCY_MS, LatencyDist::Constant).expect("positive");
            let cluster = Cluster::new(names, nodes, latency);
            let name = if partition { "majority_partition" } else { "no_faults" };
            let early = ideal::check(&h, &observed, &cluster).early_read_count;
            assert_eq!(early, 0, "the synthetic reads are explained by the ideal network");
            group.bench_function(BenchmarkId::new(name, nodes), |b| {
                b.iter(|| black_box(ideal::check(&h, &observed, &cluster).early_read_count));
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = ideal_check
}
criterion_main!(benches);
