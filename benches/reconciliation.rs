//! Prints the reconciliation tables of benches/README.md: one `GSet` round (summary, then every repair message
//! until both sides are done) between replicas that differ by `d` elements, for sequential, random u32 and random
//! u64 elements. `cargo bench --bench reconciliation` (n up to 1e6; add `-- --full` for 1e7, several minutes and
//! ~10 GB of memory for the random u64 sets; `-- --failures` prints only the second table).
#![allow(clippy::print_stdout)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use osmosis_sync::crdt::{GSet, Reconcile};
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
    cpu_initiator: Duration,
    cpu_responder: Duration,
}

/// One round through JSON; panics if it does not end at the join.
fn round(mut a: GSet, mut b: GSet) -> Round {
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
    while let Some((to_a, text)) = queue.pop_front() {
        r.messages += 1;
        r.bytes += text.len();
        assert!(text.len() <= BUDGET);
        let msg = serde_json::from_str(&text).expect("decodes");
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

fn table(sizes: &[u64]) {
    println!(
        "| elements | n | d | difference | messages | payload (B) | target 64 + 40·d (B) | CPU initiator | CPU responder |"
    );
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|");
    for dist in [Dist::Sequential, Dist::U32, Dist::U64] {
        for &n in sizes {
            let mut rng = ChaCha8Rng::seed_from_u64(n);
            let mut base: GSet = (0..n).map(|i| dist.draw(&mut rng, i)).collect();
            while base.len() < n {
                base.insert(dist.draw(&mut rng, n));
            }
            base.summary(); // builds the coded prefix once; clones keep it up to date
            for d in [0u64, 1, 10, 100, 1000] {
                for mode in [Mode::InitiatorLacks, Mode::ResponderLacks, Mode::Symmetric] {
                    if d == 0 && mode != Mode::InitiatorLacks {
                        continue;
                    }
                    let (a, b) = replicas(&base, dist, &mut rng, n, d, mode);
                    let r = round(a, b);
                    println!(
                        "| {} | {n} | {d} | {} | {} | {} | {} | {:.2} ms | {:.2} ms |",
                        dist.name(),
                        if d == 0 { "none" } else { mode.name() },
                        r.messages,
                        r.bytes,
                        64 + 40 * d,
                        r.cpu_initiator.as_secs_f64() * 1e3,
                        r.cpu_responder.as_secs_f64() * 1e3
                    );
                }
            }
        }
    }
}

/// How often the first batch is too small (the round takes more than the common case's messages) or the bytes
/// pass the target, over many seeds at a small n.
fn failures(trials: u64) {
    println!(
        "| d | difference | rounds | > 3 messages (first batch too small) | > 4 messages | over 64 + 40·d bytes | max messages |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let n = 10_000;
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let base: GSet = (0..n).map(|_| rng.random::<u64>()).collect();
    base.summary();
    for d in [1u64, 2, 3, 5, 10, 20, 50, 100, 300, 1000] {
        for mode in [Mode::InitiatorLacks, Mode::ResponderLacks, Mode::Symmetric] {
            if d == 1 && mode == Mode::Symmetric {
                continue;
            }
            let (mut over3, mut over4, mut over_bytes, mut max) = (0, 0, 0, 0);
            for _ in 0..trials {
                let (a, b) = replicas(&base, Dist::U64, &mut rng, n, d, mode);
                let r = round(a, b);
                over3 += u64::from(r.messages > 3);
                over4 += u64::from(r.messages > 4);
                over_bytes += u64::from(r.bytes as u64 > 64 + 40 * d);
                max = max.max(r.messages);
            }
            let pct = |x: u64| format!("{:.1} %", 100.0 * x as f64 / trials as f64);
            println!(
                "| {d} | {} | {trials} | {} | {} | {} | {max} |",
                mode.name(),
                pct(over3),
                pct(over4),
                pct(over_bytes)
            );
        }
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--full");
    let sizes: &[u64] = if full { &[10_000, 1_000_000, 10_000_000] } else { &[10_000, 1_000_000] };
    if !std::env::args().any(|a| a == "--failures") {
        table(sizes);
        println!();
    }
    failures(if full { 1000 } else { 200 });
}
