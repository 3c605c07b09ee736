#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Criterion benches of what reconciliation costs a replica's CPU, on random u64 elements (the worst case for
//! roaring: one treemap entry per element) at 1e6 and 1e7 elements, with the coded prefix built:
//! - `insert`: one client insert (roaring plus the prefix's ~15 cells and one sketch bucket);
//! - `apply_delta`: joining a delta of 1000 new elements;
//! - `round`: one whole round where the responder lacks 1000 elements (both sides' steps, JSON included).
//!
//! Each iteration adds fresh elements, so the sets grow by a few percent over a run, not enough to move the
//! figures. Run: `cargo bench --bench reconcile_cpu -- --warm-up-time 1 --measurement-time 3 '<group>/'`; building
//! the two 1e7 sets takes a minute and ~4 GB.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use osmosis_sync::crdt::{GSet, Lattice, Reconcile, Repair};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SIZES: [u64; 2] = [1_000_000, 10_000_000];
const D: u64 = 1000;
const BUDGET: usize = 60_000;

fn random_set(n: u64, rng: &mut ChaCha8Rng) -> GSet {
    let s: GSet = (0..n).map(|_| rng.random::<u64>()).collect();
    s.summary(); // builds the coded prefix, kept up to date from then on
    s
}

fn insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("insert");
    g.sample_size(20);
    for n in SIZES {
        let mut rng = ChaCha8Rng::seed_from_u64(n);
        let mut set = random_set(n, &mut rng);
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("gset_random_u64", n), |b| {
            b.iter(|| black_box(set.insert(rng.random())));
        });
    }
}

fn apply_delta(c: &mut Criterion) {
    let mut g = c.benchmark_group("apply_delta");
    g.sample_size(20);
    for n in SIZES {
        let mut rng = ChaCha8Rng::seed_from_u64(n);
        let mut set = random_set(n, &mut rng);
        g.throughput(Throughput::Elements(D));
        g.bench_function(BenchmarkId::new("gset_random_u64_d1000", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let delta: GSet = (0..D).map(|_| rng.random::<u64>()).collect();
                    let t = Instant::now();
                    black_box(set.join(&delta));
                    total += t.elapsed();
                }
                total
            });
        });
    }
}

/// One round through JSON, `a` ahead of `b`.
fn one_round(a: &mut GSet, b: &mut GSet) {
    let text = serde_json::to_string(&a.summary()).expect("encodes");
    let Some((mut b_session, first)) = b.open(&serde_json::from_str(&text).expect("decodes"), BUDGET) else {
        return;
    };
    let mut a_session = Default::default();
    let mut queue: Vec<(bool, Repair)> = first.into_iter().map(|m| (true, m)).collect();
    while let Some((to_a, msg)) = queue.pop() {
        let msg: Repair = serde_json::from_str(&serde_json::to_string(&msg).expect("encodes")).expect("decodes");
        let step = if to_a { a.step(&mut a_session, &msg, BUDGET) } else { b.step(&mut b_session, &msg, BUDGET) };
        queue.extend(step.expect("valid").send.into_iter().map(|m| (!to_a, m)));
    }
}

fn round(c: &mut Criterion) {
    let mut g = c.benchmark_group("round");
    g.sample_size(10);
    for n in SIZES {
        let mut rng = ChaCha8Rng::seed_from_u64(n);
        let mut a = random_set(n, &mut rng);
        let mut b = a.clone();
        g.throughput(Throughput::Elements(D));
        g.bench_function(BenchmarkId::new("responder_lacks_d1000_random_u64", n), |bch| {
            bch.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    for _ in 0..D {
                        a.insert(rng.random());
                    }
                    let t = Instant::now();
                    one_round(&mut a, &mut b);
                    total += t.elapsed();
                }
                total
            });
        });
        assert!(a == b, "the rounds converged");
    }
}

criterion_group!(benches, insert, apply_delta, round);
criterion_main!(benches);
