//! Maelstrom's partition nemesis on the simulator: grudges of the four kinds Maelstrom draws from, a schedule of
//! them, and the earliest moment any protocol could get an element to each node under that schedule.

use std::collections::BTreeSet;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The links a grudge cuts: (sender, receiver).
pub(crate) type Cut = BTreeSet<(usize, usize)>;

/// One partition: the links it cuts, from `start` until `end` (at delivery time).
#[derive(Debug, Clone)]
pub(crate) struct Partition {
    pub(crate) start: Duration,
    pub(crate) end: Duration,
    pub(crate) cut: Cut,
    pub(crate) kind: &'static str,
}

/// Every node of `a` drops every node of `b`, both ways.
fn split(a: &[usize], b: &[usize]) -> Cut {
    let mut cut = Cut::new();
    for &x in a {
        for &y in b {
            cut.insert((x, y));
            cut.insert((y, x));
        }
    }
    cut
}

/// A grudge of the kind Maelstrom draws: `one` (a random node alone), `minority-third` (⌊(N−1)/3⌋ random nodes
/// apart), `majority` (⌊N/2⌋ apart), `majorities-ring` (every node hears a majority, itself included, built as
/// Jepsen's stochastic ring: connect the least-connected node to the next one it lacks until all have a majority).
fn grudge(n: usize, rng: &mut ChaCha8Rng) -> (&'static str, Cut) {
    let mut nodes: Vec<usize> = (0..n).collect();
    nodes.shuffle(rng);
    match rng.random_range(0..4) {
        0 => ("one", split(&nodes[..1], &nodes[1..])),
        1 => ("minority-third", split(&nodes[..(n - 1) / 3], &nodes[(n - 1) / 3..])),
        2 => ("majority", split(&nodes[..n / 2], &nodes[n / 2..])),
        _ => {
            let m = n / 2 + 1;
            let mut conns: Vec<BTreeSet<usize>> = (0..n).map(|i| BTreeSet::from([i])).collect();
            loop {
                let mut order: Vec<usize> = (0..n).collect();
                order.shuffle(rng);
                order.sort_by_key(|&i| conns[i].len());
                let a = order[0];
                if conns[a].len() >= m {
                    break;
                }
                let Some(&b) = order.iter().find(|&&x| !conns[a].contains(&x)) else { break };
                conns[a].insert(b);
                conns[b].insert(a);
            }
            let cut =
                (0..n).flat_map(|r| (0..n).map(move |s| (s, r))).filter(|&(s, r)| !conns[r].contains(&s)).collect();
            ("majorities-ring", cut)
        }
    }
}

/// Maelstrom's schedule: a partition starts, then heals, then the next starts, each step a random wait of mean
/// `interval` (uniform in `[0, 2·interval]`), until `until`; the last one heals by then.
pub(crate) fn schedule(n: usize, interval: Duration, until: Duration, seed: u64) -> Vec<Partition> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xfa17);
    let mut wait = || interval.mul_f64(2.0 * rng.random::<f64>());
    let mut grudges = ChaCha8Rng::seed_from_u64(seed ^ 0x9d);
    let mut parts = Vec::new();
    let mut t = wait();
    while t < until {
        let end = (t + wait()).min(until);
        let (kind, cut) = grudge(n, &mut grudges);
        parts.push(Partition { start: t, end, cut, kind });
        t = end + wait();
    }
    parts
}

/// The earliest time each node could hold an element that `writer` held at `at`, if every message took `latency`
/// and was dropped when it arrived over a cut link: Dijkstra over (node, time), a hop from `a` (holding at `τ`) to
/// `b` arriving at `τ + L`, or when the partition cutting `a → b` at that moment ends.
pub(crate) fn earliest(n: usize, parts: &[Partition], writer: usize, at: Duration, latency: Duration) -> Vec<Duration> {
    let never = Duration::MAX;
    let mut best = vec![never; n];
    let mut done = vec![false; n];
    best[writer] = at;
    for _ in 0..n {
        let Some(a) = (0..n).filter(|&i| !done[i] && best[i] < never).min_by_key(|&i| best[i]) else { break };
        done[a] = true;
        for b in (0..n).filter(|&b| !done[b]) {
            let mut arrive = best[a] + latency;
            while let Some(p) = parts.iter().find(|p| p.start <= arrive && arrive < p.end && p.cut.contains(&(a, b))) {
                arrive = p.end;
            }
            best[b] = best[b].min(arrive);
        }
    }
    best
}

/// `FILE:FROM:TO`: the grudge of a harness history's `start-partition` line (`["isolated", {receiver: [senders
/// it drops]}]`, nodes named `n<i>`), in force from FROM to TO seconds.
pub(crate) fn from_history(spec: &str) -> Partition {
    let mut parts = spec.rsplitn(3, ':');
    let to: f64 = parts.next().and_then(|s| s.parse().ok()).expect("FILE:FROM:TO");
    let from: f64 = parts.next().and_then(|s| s.parse().ok()).expect("FILE:FROM:TO");
    let file = parts.next().expect("FILE:FROM:TO");
    let text = std::fs::read_to_string(file).expect("a readable file");
    let op: serde_json::Value = serde_json::from_str(text.trim()).expect("a history line");
    let grudge = op["value"][1].as_object().expect("[\"isolated\", {receiver: [senders]}]");
    let index = |name: &str| name.trim_start_matches('n').parse::<usize>().expect("nodes named n<i>");
    let mut cut = Cut::new();
    for (receiver, senders) in grudge {
        for sender in senders.as_array().into_iter().flatten().filter_map(|s| s.as_str()) {
            cut.insert((index(sender), index(receiver)));
        }
    }
    Partition { start: Duration::from_secs_f64(from), end: Duration::from_secs_f64(to), cut, kind: "from history" }
}
