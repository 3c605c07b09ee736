//! Throughput of the simulated network: send + poll for a 25-node cluster with clients (spec §4).
//!
//! Each iteration routes a batch of messages through a network in virtual time: node↔node gossip with sampled
//! latency plus client requests and replies, delivering everything due as time advances, the way the driver does.
#![expect(missing_docs, reason = "criterion_group! generates an undocumented public function")]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use osmosis_harness::latency::{Latency, LatencyDist};
use osmosis_harness::net::{Addr, Network};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Duration;

const NODES: usize = 25;
const BATCH: u64 = 10_000;

/// Sends `BATCH` messages at 10 µs spacing (90% node→node, 10% client→node), delivering all that is due before
/// each send, then drains. Returns the number of deliveries.
fn route(net: &mut Network<u64>, nodes: &[Addr], clients: &[Addr], rng: &mut ChaCha8Rng, t0: u64) -> (u64, u64) {
    let mut now = t0;
    let mut delivered = 0;
    for k in 0..BATCH {
        now += 10_000;
        while let Some(d) = net.poll(now) {
            delivered += black_box(d.payload) & 1;
        }
        let (src, dest) = if k % 10 == 0 {
            (clients[rng.random_range(0..clients.len())], nodes[rng.random_range(0..nodes.len())])
        } else {
            (nodes[rng.random_range(0..nodes.len())], nodes[rng.random_range(0..nodes.len())])
        };
        net.send(now, src, dest, k).expect("registered");
    }
    while let Some(t) = net.next_deadline() {
        now = now.max(t);
        while let Some(d) = net.poll(now) {
            delivered += black_box(d.payload) & 1;
        }
    }
    (delivered, now)
}

fn send_and_poll(c: &mut Criterion) {
    let mut group = c.benchmark_group("network_send_poll");
    group.throughput(Throughput::Elements(BATCH));
    for (name, latency) in [
        ("constant_100ms", Latency::new(100, LatencyDist::Constant).unwrap()),
        ("exponential_100ms", Latency::new(100, LatencyDist::Exponential).unwrap()),
    ] {
        group.bench_function(BenchmarkId::new(name, NODES), |b| {
            let mut net: Network<u64> = Network::new(latency, 1);
            let nodes: Vec<Addr> = (0..NODES).map(|i| net.register(&format!("n{i}"), ())).collect();
            let clients: Vec<Addr> = (0..NODES).map(|i| net.register(&format!("c{i}"), ())).collect();
            let mut rng = ChaCha8Rng::seed_from_u64(2);
            let mut now = 0;
            b.iter(|| {
                let (delivered, end) = route(&mut net, &nodes, &clients, &mut rng, now);
                now = end;
                black_box(delivered)
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = send_and_poll
}
criterion_main!(benches);
