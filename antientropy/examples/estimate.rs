//! Estimates what a broadcast run costs on the simulated network, in milliseconds of CPU instead of a harness run:
//! `cargo run --release -p osmosis-antientropy --example estimate -- --relay-ms 170`.
//!
//! Models a Maelstrom broadcast test roughly: `rate` ops/s, half of them broadcasts of fresh integers at uniformly
//! random nodes, every server message delayed by exactly `latency-ms`, a quiet recovery period, one final read per
//! node. Prints server messages per op (ops = all client ops, as Maelstrom counts) and the time until every node
//! holds an element (the harness's stable latency is at most this, since reads only sample it).

use std::time::Duration;

use clap::Parser;
use osmosis_antientropy::sim::{Faults, Sim};
use osmosis_antientropy::{Config, Overlay};
use osmosis_crdt::GSet;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 25)]
    nodes: usize,
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    #[arg(long, default_value_t = 20)]
    time_limit: u64,
    #[arg(long, default_value_t = 10)]
    recovery: u64,
    #[arg(long, default_value = "star")]
    overlay: Overlay,
    #[arg(long)]
    relay_ms: Option<u64>,
    #[arg(long)]
    local_ms: Option<u64>,
    #[arg(long)]
    round_min_ms: Option<u64>,
    #[arg(long)]
    round_max_ms: Option<u64>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[allow(clippy::print_stdout)] // a report is what this example is for
fn main() {
    let a = Args::parse();
    let d = Config::default();
    let config = Config {
        overlay: a.overlay,
        relay_window: a.relay_ms.map_or(d.relay_window, Duration::from_millis),
        local_window: a.local_ms.map_or(d.local_window, Duration::from_millis),
        round_min: a.round_min_ms.map_or(d.round_min, Duration::from_millis),
        round_max: a.round_max_ms.map_or(d.round_max, Duration::from_millis),
        ..d
    };
    // The schedule: Poisson arrivals at `rate`, half of them broadcasts at a random node.
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let end = Duration::from_secs(a.time_limit);
    let (mut t, mut ops, mut adds) = (Duration::ZERO, 0u64, Vec::new());
    loop {
        t += Duration::from_secs_f64(-rng.random::<f64>().ln() / a.rate);
        if t >= end {
            break;
        }
        ops += 1;
        if rng.random_bool(0.5) {
            adds.push((t, rng.random_range(0..a.nodes)));
        }
    }
    let latency = Faults::reliable(Duration::from_millis(a.latency_ms));
    let mut sim: Sim<GSet> = Sim::new(a.nodes, &config, latency, a.seed);
    let mut done: Vec<Option<Duration>> = vec![None; adds.len()];
    let (mut now, mut issued) = (Duration::ZERO, 0);
    let stop = end + Duration::from_secs(a.recovery);
    while now <= stop {
        while issued < adds.len() && adds[issued].0 <= now {
            sim.run_until(adds[issued].0);
            sim.update(adds[issued].1, |s| s.insert(issued as u64));
            issued += 1;
        }
        sim.run_until(now);
        for (v, slot) in done.iter_mut().enumerate().take(issued) {
            if slot.is_none() && sim.engines.iter().all(|e| e.state().contains(v as u64)) {
                *slot = Some(now - adds[v].0);
            }
        }
        now += Duration::from_millis(1);
    }
    let ops = ops + a.nodes as u64; // one final read per node
    let mut lat: Vec<u128> = done.iter().map(|d| d.map_or(u128::MAX, |d| d.as_millis())).collect();
    lat.sort_unstable();
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let mut kinds = std::collections::BTreeMap::new();
    for s in &sim.sent {
        *kinds.entry(s.kind).or_insert(0) += 1;
    }
    println!(
        "{} server msgs / {ops} ops = {:.3} msgs/op {kinds:?}; all nodes hold an element after (ms) p50 {} p95 {} max {}",
        sim.sent.len(),
        sim.sent.len() as f64 / ops as f64,
        q(0.5),
        q(0.95),
        q(1.0)
    );
}
