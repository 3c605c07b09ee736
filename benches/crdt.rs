#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Criterion benches, one group per operation, at 1k / 100k / 1M elements, dense and sparse (see `datasets/mod.rs`),
//! against `BTreeSet<u64>`, `HashSet<u64>`, roaring's `RoaringBitmap` (u32 only) and the `crdts` crate.
//! Run: `cargo bench --bench crdt -- --warm-up-time 1 --measurement-time 2 '<group>/'`.

mod datasets;

use std::collections::{BTreeSet, HashSet};
use std::hint::black_box;

use crdts::{CmRDT, CvRDT};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use datasets::{SIZES, Spread, elements};
use osmosis_sync::crdt::{DeltaCrdt, GCounter, GSet, Lattice};
use roaring::{MultiOps, RoaringBitmap};

const SPREADS: [Spread; 2] = [Spread::Dense, Spread::Sparse];

fn crdts_set(v: &[u64]) -> crdts::GSet<u64> {
    let mut s = crdts::GSet::new();
    for &x in v {
        s.insert(x);
    }
    s
}

fn id(variant: &str, spread: Spread, n: u64) -> BenchmarkId {
    BenchmarkId::new(format!("{variant}/{}", spread.name()), n)
}

fn join(c: &mut Criterion) {
    let mut g = c.benchmark_group("join");
    g.sample_size(10);
    for spread in SPREADS {
        for n in SIZES {
            let (a, b) = (elements(spread, n, 0), elements(spread, n, 1));
            g.throughput(Throughput::Elements(n));
            let (ga, gb): (GSet, GSet) = (a.iter().copied().collect(), b.iter().copied().collect());
            g.bench_function(id("osmosis_gset", spread, n), |bch| {
                bch.iter_batched_ref(|| ga.clone(), |x| x.join(black_box(&gb)), BatchSize::LargeInput);
            });
            let (ra, rb): (RoaringBitmap, RoaringBitmap) =
                (a.iter().map(|&x| x as u32).collect(), b.iter().map(|&x| x as u32).collect());
            g.bench_function(id("roaring_bitmap_u32", spread, n), |bch| {
                bch.iter_batched_ref(|| ra.clone(), |x| *x |= black_box(&rb), BatchSize::LargeInput);
            });
            let (ba, bb): (BTreeSet<u64>, BTreeSet<u64>) = (a.iter().copied().collect(), b.iter().copied().collect());
            g.bench_function(id("btreeset", spread, n), |bch| {
                bch.iter_batched_ref(|| ba.clone(), |x| x.extend(black_box(&bb)), BatchSize::LargeInput);
            });
            let (ha, hb): (HashSet<u64>, HashSet<u64>) = (a.iter().copied().collect(), b.iter().copied().collect());
            g.bench_function(id("hashset", spread, n), |bch| {
                bch.iter_batched_ref(|| ha.clone(), |x| x.extend(black_box(&hb)), BatchSize::LargeInput);
            });
            let (ca, cb) = (crdts_set(&a), crdts_set(&b));
            g.bench_function(id("crdts_gset", spread, n), |bch| {
                bch.iter_batched_ref(
                    || (ca.clone(), cb.clone()),
                    |(x, y)| x.merge(std::mem::take(y)),
                    BatchSize::LargeInput,
                );
            });
        }
    }
    let replicas = 1_000;
    let mut ours = (GCounter::<u64>::new(), GCounter::<u64>::new());
    let mut theirs = (crdts::GCounter::<u64>::new(), crdts::GCounter::<u64>::new());
    for r in 0..replicas {
        ours.0.increment(r, r + 1).expect("small");
        ours.1.increment(r, replicas - r).expect("small");
        theirs.0.apply(theirs.0.inc_many(r, r + 1));
        theirs.1.apply(theirs.1.inc_many(r, replicas - r));
    }
    g.throughput(Throughput::Elements(replicas));
    g.bench_function(BenchmarkId::new("osmosis_gcounter", replicas), |bch| {
        bch.iter_batched_ref(|| ours.0.clone(), |x| x.join(black_box(&ours.1)), BatchSize::SmallInput);
    });
    g.bench_function(BenchmarkId::new("crdts_gcounter", replicas), |bch| {
        bch.iter_batched_ref(
            || (theirs.0.clone(), theirs.1.clone()),
            |(x, y)| x.merge(std::mem::take(y)),
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

/// Ways to join two sparse 1M-element sets (uniform in `0..2^32`, 65 536 array containers each, ~15 elements
/// per container) with roaring 0.12's public API, to find the fastest (benches/README.md, "Sparse join").
fn join_sparse_variants(c: &mut Criterion) {
    let mut g = c.benchmark_group("join_sparse_variants");
    g.sample_size(10);
    let n = 1_000_000;
    let (a, b) = (elements(Spread::Sparse, n, 0), elements(Spread::Sparse, n, 1));
    g.throughput(Throughput::Elements(n));
    let (ga, gb): (GSet, GSet) = (a.iter().copied().collect(), b.iter().copied().collect());
    let (ra, rb): (RoaringBitmap, RoaringBitmap) =
        (a.iter().map(|&x| x as u32).collect(), b.iter().map(|&x| x as u32).collect());
    let (ta, tb) = (ga.as_treemap().clone(), gb.as_treemap().clone());
    g.bench_function("gset_join", |bch| {
        bch.iter_batched_ref(|| ga.clone(), |x| x.join(black_box(&gb)), BatchSize::LargeInput);
    });
    g.bench_function("gset_join_equal_sets", |bch| {
        bch.iter_batched_ref(|| ga.clone(), |x| x.join(black_box(&ga)), BatchSize::LargeInput);
    });
    g.bench_function("treemap_or_assign", |bch| {
        bch.iter_batched_ref(|| ta.clone(), |x| *x |= black_box(&tb), BatchSize::LargeInput);
    });
    g.bench_function("bitmap_or_assign", |bch| {
        bch.iter_batched_ref(|| ra.clone(), |x| *x |= black_box(&rb), BatchSize::LargeInput);
    });
    g.bench_function("bitmap_or_refs", |bch| {
        bch.iter_batched_ref(|| ra.clone(), |x| *x = &*x | black_box(&rb), BatchSize::LargeInput);
    });
    g.bench_function("bitmap_multiops_union", |bch| {
        bch.iter_batched_ref(|| ra.clone(), |x| *x = [&*x, black_box(&rb)].union(), BatchSize::LargeInput);
    });
    g.bench_function("bitmap_from_sorted_merge", |bch| {
        bch.iter_batched_ref(
            || ra.clone(),
            |x| *x = RoaringBitmap::from_sorted_iter(sorted_union(x, black_box(&rb))).expect("ascending"),
            BatchSize::LargeInput,
        );
    });
    // The floor of any join that builds its result's containers: allocating and copying 65 536 of them.
    g.bench_function("bitmap_clone_floor", |bch| bch.iter(|| black_box(&ra).clone()));
    g.finish();
}

/// The ascending, deduplicated union of two bitmaps' elements.
fn sorted_union<'a>(a: &'a RoaringBitmap, b: &'a RoaringBitmap) -> impl Iterator<Item = u32> + 'a {
    let (mut x, mut y) = (a.iter().peekable(), b.iter().peekable());
    std::iter::from_fn(move || match (x.peek(), y.peek()) {
        (Some(&p), Some(&q)) if p == q => {
            y.next();
            x.next()
        }
        (Some(&p), Some(&q)) if q < p => y.next(),
        (Some(_), _) => x.next(),
        (None, _) => y.next(),
    })
}

/// `a` holds everything; `b` lacks one element in the middle (the common anti-entropy case).
fn delta_since(c: &mut Criterion) {
    let mut g = c.benchmark_group("delta_since");
    g.sample_size(10);
    for spread in SPREADS {
        for n in SIZES {
            let a = elements(spread, n, 0);
            let missing = a[a.len() / 2];
            let ga: GSet = a.iter().copied().collect();
            let gb: GSet = a.iter().copied().filter(|&x| x != missing).collect();
            let digest = gb.digest_seeded(1);
            g.throughput(Throughput::Elements(n));
            g.bench_function(id("osmosis_gset", spread, n), |bch| {
                bch.iter(|| ga.delta_since(black_box(&digest)));
            });
            let ba: BTreeSet<u64> = a.iter().copied().collect();
            let bb: BTreeSet<u64> = gb.iter().collect();
            g.bench_function(id("btreeset_difference", spread, n), |bch| {
                bch.iter(|| ba.difference(black_box(&bb)).copied().collect::<Vec<_>>());
            });
            let ha: HashSet<u64> = a.iter().copied().collect();
            let hb: HashSet<u64> = gb.iter().collect();
            g.bench_function(id("hashset_difference", spread, n), |bch| {
                bch.iter(|| ha.difference(black_box(&hb)).copied().collect::<Vec<_>>());
            });
        }
    }
    g.finish();
}

fn digest(c: &mut Criterion) {
    let mut g = c.benchmark_group("digest");
    g.sample_size(10);
    for spread in SPREADS {
        for n in SIZES {
            let ga: GSet = elements(spread, n, 0).into_iter().collect();
            g.throughput(Throughput::Elements(n));
            g.bench_function(id("osmosis_gset", spread, n), |bch| {
                bch.iter(|| black_box(&ga).digest_seeded(1));
            });
        }
    }
    g.finish();
}

fn encode_decode(c: &mut Criterion) {
    let mut enc = c.benchmark_group("encode");
    enc.sample_size(10);
    for spread in SPREADS {
        for n in SIZES {
            let a = elements(spread, n, 0);
            let ga: GSet = a.iter().copied().collect();
            let ba: BTreeSet<u64> = a.iter().copied().collect();
            let ca = crdts_set(&a);
            enc.throughput(Throughput::Elements(n));
            enc.bench_function(id("osmosis_gset", spread, n), |bch| {
                bch.iter(|| serde_json::to_vec(black_box(&ga)));
            });
            enc.bench_function(id("btreeset", spread, n), |bch| {
                bch.iter(|| serde_json::to_vec(black_box(&ba)));
            });
            enc.bench_function(id("crdts_gset", spread, n), |bch| {
                bch.iter(|| serde_json::to_vec(black_box(&ca)));
            });
        }
    }
    enc.finish();
    let mut dec = c.benchmark_group("decode");
    dec.sample_size(10);
    for spread in SPREADS {
        for n in SIZES {
            let a = elements(spread, n, 0);
            let ours = serde_json::to_vec(&a.iter().copied().collect::<GSet>()).expect("encode");
            let plain = serde_json::to_vec(&a).expect("encode");
            let theirs = serde_json::to_vec(&crdts_set(&a)).expect("encode");
            dec.throughput(Throughput::Elements(n));
            dec.bench_function(id("osmosis_gset", spread, n), |bch| {
                bch.iter(|| serde_json::from_slice::<GSet>(black_box(&ours)).expect("decode"));
            });
            dec.bench_function(id("btreeset", spread, n), |bch| {
                bch.iter(|| serde_json::from_slice::<BTreeSet<u64>>(black_box(&plain)).expect("decode"));
            });
            dec.bench_function(id("crdts_gset", spread, n), |bch| {
                bch.iter(|| serde_json::from_slice::<crdts::GSet<u64>>(black_box(&theirs)).expect("decode"));
            });
        }
    }
    dec.finish();
}

criterion_group!(benches, join, join_sparse_variants, delta_since, digest, encode_decode);
criterion_main!(benches);
