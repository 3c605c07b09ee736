//! Prints the reconciliation tables of benches/README.md: rounds (summary, then every repair message until both
//! sides are done) between replicas that differ by `d` elements, for sequential, random u32 and random u64
//! elements; how often a round misses its byte target or needs a second decoding attempt; counters; large
//! differences against the state's own encoding.
//!
//! `cargo bench --bench reconciliation` (n up to 1e6). Flags after `--`: `--full` adds n = 1e7 (several minutes,
//! ~6 GB for the random u64 sets), `--n N` prints only the byte table at n = N; `--failures` prints only the
//! failure table, `--trials N` sets its rounds per row (default 200); `--counters`, `--large` print only those
//! tables; `--profile N D [seq|u32|u64] [initiator|responder|symmetric]` runs only one round (default random
//! u64, responder lacks) at n = N, d = D, and `--profile-ops N` 1000 inserts and a 1000-element delta at n = N
//! (for `valgrind --tool=callgrind` or `perf record`).
#![allow(clippy::print_stdout)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use osmosis_sync::crdt::{GCounter, GSet, Lattice, Reconcile, Repair};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BUDGET: usize = 60_000;

#[derive(Clone, Copy)]
enum Dist {
    Sequential,
    U32,
    U64,
}

impl Dist {
    fn name(self) -> &'static str {
        match self {
            Dist::Sequential => "sequential",
            Dist::U32 => "random u32",
            Dist::U64 => "random u64",
        }
    }

    fn draw(self, rng: &mut ChaCha8Rng, i: u64) -> u64 {
        match self {
            Dist::Sequential => i,
            Dist::U32 => u64::from(rng.random::<u32>()),
            Dist::U64 => rng.random(),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// The initiator lacks `d` elements the responder has.
    InitiatorLacks,
    /// The responder lacks `d` elements the initiator has.
    ResponderLacks,
    /// Each lacks `d / 2` of the other's.
    Symmetric,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::InitiatorLacks => "initiator lacks d",
            Mode::ResponderLacks => "responder lacks d",
            Mode::Symmetric => "symmetric d/2 + d/2",
        }
    }
}

#[derive(Default)]
struct Round {
    messages: usize,
    bytes: usize,
    /// Decoding attempts that failed: requests for more cells after some arrived.
    failures: usize,
    cpu_initiator: Duration,
    cpu_responder: Duration,
}

/// One round through JSON; panics if it does not end at the join.
fn round<T: Reconcile<Repair = Repair> + PartialEq>(mut a: T, mut b: T) -> Round {
    let mut r = Round::default();
    let summary = serde_json::to_string(&a.summary()).expect("encodes");
    r.messages += 1;
    r.bytes += summary.len();
    let t = Instant::now();
    let opened = b.open(&serde_json::from_str(&summary).expect("decodes"), BUDGET);
    r.cpu_responder += t.elapsed();
    let Some((mut b_session, first)) = opened else { return r };
    let mut a_session = Default::default();
    let mut queue: VecDeque<(bool, String)> =
        first.iter().map(|m| (true, serde_json::to_string(m).expect("encodes"))).collect();
    let mut cells_seen = false;
    while let Some((to_a, text)) = queue.pop_front() {
        r.messages += 1;
        r.bytes += text.len();
        assert!(text.len() <= BUDGET);
        let msg: Repair = serde_json::from_str(&text).expect("decodes");
        match msg {
            Repair::Cells(_) => cells_seen = true,
            Repair::Want(_) if cells_seen => r.failures += 1,
            _ => {}
        }
        let t = Instant::now();
        let step = if to_a { a.step(&mut a_session, &msg, BUDGET) } else { b.step(&mut b_session, &msg, BUDGET) };
        *(if to_a { &mut r.cpu_initiator } else { &mut r.cpu_responder }) += t.elapsed();
        for m in step.expect("valid message").send {
            queue.push_back((!to_a, serde_json::to_string(&m).expect("encodes")));
        }
    }
    assert!(a == b, "the round did not converge");
    r
}

fn replicas(base: &GSet, dist: Dist, rng: &mut ChaCha8Rng, n: u64, d: u64, mode: Mode) -> (GSet, GSet) {
    let (mut a, mut b) = (base.clone(), base.clone());
    let (to_a, to_b) = match mode {
        Mode::InitiatorLacks => (0, d),
        Mode::ResponderLacks => (d, 0),
        Mode::Symmetric => (d / 2, d - d / 2),
    };
    let (mut i, mut drawn) = (n, std::collections::BTreeSet::new());
    for (target, count) in [(&mut a, to_a), (&mut b, to_b)] {
        let mut added = 0;
        while added < count {
            let x = dist.draw(rng, i);
            i += 1;
            if !base.contains(x) && drawn.insert(x) {
                target.insert(x);
                added += 1;
            }
        }
    }
    (a, b)
}

fn base_set(dist: Dist, n: u64) -> (GSet, ChaCha8Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(n);
    let mut base: GSet = (0..n).map(|i| dist.draw(&mut rng, i)).collect();
    while base.len() < n {
        base.insert(dist.draw(&mut rng, n));
    }
    base.summary(); // builds the coded prefix once; clones keep it up to date
    (base, rng)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn table(sizes: &[u64]) {
    println!(
        "| elements | n | d | difference | messages | payload (B) | target 64 + 40·d (B) | failed decodes | CPU initiator | CPU responder |"
    );
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    for dist in [Dist::Sequential, Dist::U32, Dist::U64] {
        for &n in sizes {
            let (base, mut rng) = base_set(dist, n);
            for d in [0u64, 1, 10, 100, 1000] {
                for mode in [Mode::InitiatorLacks, Mode::ResponderLacks, Mode::Symmetric] {
                    if d == 0 && mode != Mode::InitiatorLacks {
                        continue;
                    }
                    let (a, b) = replicas(&base, dist, &mut rng, n, d, mode);
                    let r = round(a, b);
                    println!(
                        "| {} | {n} | {d} | {} | {} | {} | {} | {} | {} | {} |",
                        dist.name(),
                        if d == 0 { "none" } else { mode.name() },
                        r.messages,
                        r.bytes,
                        64 + 40 * d,
                        r.failures,
                        ms(r.cpu_initiator),
                        ms(r.cpu_responder)
                    );
                }
            }
        }
    }
}

/// How often a round passes its byte target, takes more than 4 messages, or needs a second decoding attempt,
/// over many seeds at a small n (the cells needed depend on d, not n).
fn failures(trials: u64) {
    println!(
        "| elements | d | difference | rounds | over 64 + 40·d bytes | > 4 messages | failed decodes | median bytes / target | max messages |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|");
    let n = 10_000;
    for dist in [Dist::U64, Dist::U32] {
        let (base, mut rng) = base_set(dist, n);
        for d in [1u64, 2, 3, 5, 10, 20, 50, 100, 300, 1000] {
            for mode in [Mode::InitiatorLacks, Mode::ResponderLacks, Mode::Symmetric] {
                if d == 1 && mode == Mode::Symmetric {
                    continue;
                }
                let (mut over_bytes, mut over4, mut failed, mut max, mut ratios) = (0, 0, 0, 0, Vec::new());
                for _ in 0..trials {
                    let (a, b) = replicas(&base, dist, &mut rng, n, d, mode);
                    let r = round(a, b);
                    over_bytes += u64::from(r.bytes as u64 > 64 + 40 * d);
                    over4 += u64::from(r.messages > 4);
                    failed += u64::from(r.failures > 0);
                    max = max.max(r.messages);
                    ratios.push(r.bytes as f64 / (64 + 40 * d) as f64);
                }
                ratios.sort_by(f64::total_cmp);
                let pct = |x: u64| format!("{:.1} %", 100.0 * x as f64 / trials as f64);
                println!(
                    "| {} | {d} | {} | {trials} | {} | {} | {} | {:.2} | {max} |",
                    dist.name(),
                    mode.name(),
                    pct(over_bytes),
                    pct(over4),
                    pct(failed),
                    ratios[ratios.len() / 2]
                );
            }
        }
    }
}

/// Counter rounds: `replicas` entries in common, `changed` of them raised on one side (a symmetric difference
/// of two keys per entry), or new on one side.
fn counters() {
    println!("| replicas | changed entries | how | messages | payload (B) | payload per changed entry (B) |");
    println!("|---:|---:|---|---:|---:|---:|");
    for replicas in [10u64, 20, 25, 1000, 65_536] {
        let mut base = GCounter::<String>::new();
        for i in 0..replicas {
            base.increment(format!("n{i}"), i + 1).expect("small");
        }
        base.summary();
        for changed in [0u64, 1, 10, 100] {
            for raised in [true, false] {
                if changed == 0 && !raised {
                    continue;
                }
                let mut a = base.clone();
                for i in 0..changed {
                    let id = if raised { format!("n{}", i * 7 % replicas) } else { format!("new{i}") };
                    a.increment(id, 3).expect("small");
                }
                let r = round(base.clone(), a);
                let per = (r.bytes as u64).checked_div(changed).map_or("–".to_string(), |b| b.to_string());
                let how = if changed == 0 {
                    "none"
                } else if raised {
                    "raised"
                } else {
                    "added"
                };
                println!("| {replicas} | {changed} | {how} | {} | {} | {per} |", r.messages, r.bytes);
            }
        }
    }
}

/// An empty replica joining, and one that holds a tenth: the round's bytes against the state's own JSON
/// encoding (roaring or array, whichever is shorter).
fn large(sizes: &[u64]) {
    println!("| elements | n | joiner holds | messages | payload (B) | state as GSet JSON (B) | ratio |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for dist in [Dist::Sequential, Dist::U32, Dist::U64] {
        for &n in sizes {
            let (full, _) = base_set(dist, n);
            for tenth in [false, true] {
                let joiner: GSet = if tenth { full.iter().step_by(10).collect() } else { GSet::new() };
                let state = serde_json::to_string(&full).expect("encodes").len();
                for (a, b, who) in [(joiner.clone(), full.clone(), "initiator"), (full.clone(), joiner, "responder")] {
                    let r = round(a, b);
                    println!(
                        "| {} | {n} | {} ({who}) | {} | {} | {state} | {:.2} |",
                        dist.name(),
                        if tenth { "n/10" } else { "nothing" },
                        r.messages,
                        r.bytes,
                        r.bytes as f64 / state as f64
                    );
                }
            }
        }
    }
}

/// Inserts `xs` one by one (a client's updates).
#[inline(never)]
fn insert_each(set: &mut GSet, xs: &[u64]) {
    for &x in xs {
        std::hint::black_box(set.insert(x));
    }
}

/// Joins a delta.
#[inline(never)]
fn apply_delta(set: &mut GSet, delta: &GSet) {
    std::hint::black_box(set.join(delta));
}

/// The operations of step 3 on one random u64 set of `n` elements, for instruction counts: `valgrind
/// --tool=callgrind --toggle-collect='reconciliation::insert_each' …` (or `…apply_delta`, `…round*`).
fn profile_ops(n: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let xs: Vec<u64> = (0..1000).map(|_| rng.random()).collect();
    let (mut plain, _) = base_set(Dist::U64, n);
    let mut bare = GSet::from_treemap(plain.as_treemap().clone());
    insert_each(&mut bare, &xs); // no coded prefix: roaring alone
    insert_each(&mut plain, &xs); // roaring and the coded prefix
    let delta: GSet = (0..1000).map(|_| rng.random::<u64>()).collect();
    apply_delta(&mut plain, &delta);
    println!("{} and {} elements", bare.len(), plain.len());
}

fn profile(n: u64, d: u64, dist: Dist, mode: Mode) {
    let (base, mut rng) = base_set(dist, n);
    let (a, b) = replicas(&base, dist, &mut rng, n, d, mode);
    let r = round(a, b);
    println!(
        "n {n}, d {d}: {} messages, {} B, initiator {}, responder {}",
        r.messages,
        r.bytes,
        ms(r.cpu_initiator),
        ms(r.cpu_responder)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)?.parse::<u64>().ok());
    if let Some(n) = value("--profile-ops") {
        return profile_ops(n);
    }
    if let Some(i) = args.iter().position(|a| a == "--profile") {
        let n = args.get(i + 1).and_then(|x| x.parse().ok()).unwrap_or(10_000_000);
        let d = args.get(i + 2).and_then(|x| x.parse().ok()).unwrap_or(1000);
        let dist = match args.get(i + 3).map(String::as_str) {
            Some("seq") => Dist::Sequential,
            Some("u32") => Dist::U32,
            _ => Dist::U64,
        };
        let mode = match args.get(i + 4).map(String::as_str) {
            Some("initiator") => Mode::InitiatorLacks,
            Some("symmetric") => Mode::Symmetric,
            _ => Mode::ResponderLacks,
        };
        return profile(n, d, dist, mode);
    }
    if let Some(n) = value("--n") {
        return table(&[n]);
    }
    let full = has("--full");
    let sizes: &[u64] = if full { &[10_000, 1_000_000, 10_000_000] } else { &[10_000, 1_000_000] };
    let only = has("--failures") || has("--counters") || has("--large");
    if !only {
        table(sizes);
        println!();
    }
    if !only || has("--failures") {
        failures(value("--trials").unwrap_or(200));
        println!();
    }
    if !only || has("--counters") {
        counters();
        println!();
    }
    if !only || has("--large") {
        large(&sizes[..sizes.len().min(2)]);
    }
}
