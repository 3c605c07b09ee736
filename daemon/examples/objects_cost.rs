//! One engine over the map of named objects, or one engine per object? Messages of both on the engine's simulated
//! network (5 nodes, 100 ms, default config): 20 s of writes at 50 per second spread over K sets, then 60 s
//! quiet.
//!
//! `cargo run --release -p osmosis-daemon --example objects_cost`
#![allow(clippy::print_stdout)] // a report is what this example is for

use std::time::Duration;

use osmosis_antientropy::Config;
use osmosis_antientropy::sim::{Faults, Sim};
use osmosis_crdt::JsonSet;
use osmosis_daemon::objects::Objects;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

const NODES: usize = 5;
const WRITES_PER_S: u64 = 50;
const BUSY: Duration = Duration::from_secs(20);
const QUIET: Duration = Duration::from_secs(60);

/// The writes: (time, node, object, value).
fn schedule(objects: usize, seed: u64) -> Vec<(Duration, usize, usize, u64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = WRITES_PER_S * BUSY.as_secs();
    (0..n)
        .map(|i| {
            let at = Duration::from_micros(i * 1_000_000 / WRITES_PER_S);
            (at, rng.random_range(0..NODES), rng.random_range(0..objects), i)
        })
        .collect()
}

fn one_engine(objects: usize, seed: u64) -> (usize, usize) {
    let mut sim: Sim<Objects> = Sim::new(NODES, &Config::default(), Faults::reliable(Duration::from_millis(100)), seed);
    for (at, node, obj, value) in schedule(objects, seed) {
        sim.run_until(at);
        let name = format!("set-{obj}");
        sim.update(node, |s| {
            let mut one = JsonSet::new();
            one.insert(&json!(value));
            let delta = Objects::with_set(&name, one);
            osmosis_crdt::Lattice::join(s, &delta);
            delta
        });
    }
    sim.run_until(BUSY);
    let busy = sim.sent.len();
    sim.run_until(BUSY + QUIET);
    assert!(sim.converged());
    (busy, sim.sent.len() - busy)
}

fn engine_per_object(objects: usize, seed: u64) -> (usize, usize) {
    let config = Config::default();
    let faults = Faults::reliable(Duration::from_millis(100));
    let mut sims: Vec<Sim<JsonSet>> = (0..objects).map(|k| Sim::new(NODES, &config, faults, seed + k as u64)).collect();
    for (at, node, obj, value) in schedule(objects, seed) {
        for sim in &mut sims {
            sim.run_until(at);
        }
        sims[obj].update(node, |s| s.insert(&json!(value)));
    }
    let mut busy = 0;
    let mut total = 0;
    for sim in &mut sims {
        sim.run_until(BUSY);
        busy += sim.sent.len();
        sim.run_until(BUSY + QUIET);
        assert!(sim.converged());
        total += sim.sent.len();
    }
    (busy, total - busy)
}

fn main() {
    println!("| objects | design | messages while writing (20 s, 1000 writes) | messages in the next 60 s quiet |");
    println!("|---:|---|---:|---:|");
    for objects in [1, 10, 100] {
        let (b1, q1) = one_engine(objects, 1);
        let (b2, q2) = engine_per_object(objects, 1);
        println!("| {objects} | one engine over the map | {b1} | {q1} |");
        println!("| {objects} | one engine per object | {b2} | {q2} |");
    }
}
