//! Estimates what a broadcast run costs on the simulated network, in seconds of CPU instead of a harness run:
//! `cargo run --release -p osmosis-antientropy --example estimate -- --nodes 1000 --overlay auto`.
//!
//! Models a Maelstrom broadcast test roughly: `rate` ops/s, half of them broadcasts of fresh integers at uniformly
//! random nodes, every server message delayed by exactly `latency-ms`, a quiet recovery period, one final read per
//! node. Faults: `--cut N:FROM:TO` (node N's traffic dropped both ways between those seconds), `--pause N:FROM:TO`
//! (node N stopped: no ticks, its messages held), `--kill N:FROM:TO` (node N dead, then restarted empty); each can
//! be given several times.
//!
//! Prints server messages per op (ops = all client ops, as Maelstrom counts), the largest share of them one node
//! sent, and the time until every node holds an element (the harness's stable latency is at most this, since
//! reads only sample it) — over the elements written by nodes never faulted, and read by them. For each killed
//! node, how long after its restart it held everything written before it.

mod partitions;

use std::time::Duration;

use clap::Parser;
use osmosis_antientropy::sim::{Faults, Sim};
use osmosis_antientropy::{Config, Message, Overlay};
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
    #[arg(long)]
    overlay: Option<Overlay>,
    #[arg(long)]
    relay_ms: Option<u64>,
    #[arg(long)]
    local_ms: Option<u64>,
    #[arg(long)]
    round_min_ms: Option<u64>,
    #[arg(long)]
    round_max_ms: Option<u64>,
    #[arg(long)]
    star_limit: Option<usize>,
    #[arg(long)]
    ack_slack_ms: Option<u64>,
    #[arg(long)]
    suspicion_ttl_ms: Option<u64>,
    /// `N:FROM:TO` (seconds): node N cut off from every other node.
    #[arg(long)]
    cut: Vec<String>,
    /// `N:FROM:TO`: node N paused.
    #[arg(long)]
    pause: Vec<String>,
    /// `N:FROM:TO`: node N dead, then restarted with an empty replica.
    #[arg(long)]
    kill: Vec<String>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Maelstrom's partition nemesis: a random grudge (one, minority-third, majority, majorities-ring), a heal,
    /// the next, each after a random wait of mean --nemesis-interval seconds; also prints, per (element, node),
    /// how long the node stayed without the element beyond the earliest moment any protocol could have got it
    /// there under the partitions.
    #[arg(long)]
    partitions: bool,
    #[arg(long, default_value_t = 10.0)]
    nemesis_interval: f64,
    /// `FILE:FROM:TO`: one partition, the grudge of a harness run's `start-partition` (its history.jsonl line),
    /// from FROM to TO seconds; reproduces a harness run's partition on the simulator (staleness printed too).
    #[arg(long)]
    grudge: Option<String>,
    /// Print the N elements that took longest to reach every healthy node.
    #[arg(long, default_value_t = 0)]
    worst: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Cut,
    Pause,
    Kill,
}

/// A fault on one node between two times.
#[derive(Clone, Copy)]
struct Fault {
    kind: Kind,
    node: usize,
    from: Duration,
    to: Duration,
}

/// What happens at a moment of the run.
#[derive(Clone, Copy)]
enum Event {
    /// Element `v` is written at its node.
    Write(usize),
    /// A fault starts.
    Start(Fault),
    /// A fault ends.
    End(Fault),
    /// Partition `i` of the schedule starts.
    Cut(usize),
    /// The partition heals.
    Heal,
}

fn faults(a: &Args) -> Vec<Fault> {
    let parse = |kind, s: &String| {
        let p: Vec<f64> = s.split(':').map(|x| x.parse().expect("N:FROM:TO, numbers")).collect();
        assert_eq!(p.len(), 3, "N:FROM:TO");
        Fault { kind, node: p[0] as usize, from: Duration::from_secs_f64(p[1]), to: Duration::from_secs_f64(p[2]) }
    };
    let all = a.cut.iter().map(|s| parse(Kind::Cut, s));
    all.chain(a.pause.iter().map(|s| parse(Kind::Pause, s)))
        .chain(a.kill.iter().map(|s| parse(Kind::Kill, s)))
        .collect()
}

fn config(a: &Args) -> Config {
    let d = Config::default();
    let ms = Duration::from_millis;
    Config {
        overlay: a.overlay.unwrap_or(d.overlay),
        relay_window: a.relay_ms.map_or(d.relay_window, ms),
        local_window: a.local_ms.map_or(d.local_window, ms),
        round_min: a.round_min_ms.map_or(d.round_min, ms),
        round_max: a.round_max_ms.map_or(d.round_max, ms),
        star_limit: a.star_limit.unwrap_or(d.star_limit),
        ack_slack: a.ack_slack_ms.map_or(d.ack_slack, ms),
        suspicion_ttl: a.suspicion_ttl_ms.map_or(d.suspicion_ttl, ms),
        ..d
    }
}

/// Poisson arrivals at `rate`, half of them broadcasts at a random node: (ops, [(time, node)]).
fn schedule(a: &Args) -> (u64, Vec<(Duration, usize)>) {
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let end = Duration::from_secs(a.time_limit);
    let (mut t, mut ops, mut adds) = (Duration::ZERO, 0u64, Vec::new());
    loop {
        t += Duration::from_secs_f64(-rng.random::<f64>().ln() / a.rate);
        if t >= end {
            return (ops, adds);
        }
        ops += 1;
        if rng.random_bool(0.5) {
            adds.push((t, rng.random_range(0..a.nodes)));
        }
    }
}

#[allow(clippy::print_stdout)] // a report is what this example is for
fn main() {
    let a = Args::parse();
    let faults = faults(&a);
    let (ops, adds) = schedule(&a);
    let mut sim: Sim<GSet> =
        Sim::new(a.nodes, &config(&a), Faults::reliable(Duration::from_millis(a.latency_ms)), a.seed);
    // arrival[node][element]: when the node first held it (reset when the node restarts empty).
    let mut arrival: Vec<Vec<Option<Duration>>> = vec![vec![None; adds.len()]; a.nodes];
    // Events in time order: writes, and each fault's start and end.
    // Events in time order: writes, and each fault's start and end.
    let mut events: Vec<(Duration, Event)> = adds.iter().enumerate().map(|(v, &(t, _))| (t, Event::Write(v))).collect();
    for f in &faults {
        events.push((f.from, Event::Start(*f)));
        events.push((f.to, Event::End(*f)));
    }
    let latency = Duration::from_millis(a.latency_ms);
    let parts = match (&a.grudge, a.partitions) {
        (Some(spec), _) => vec![partitions::from_history(spec)],
        (None, true) => partitions::schedule(
            a.nodes,
            Duration::from_secs_f64(a.nemesis_interval),
            Duration::from_secs(a.time_limit),
            a.seed,
        ),
        (None, false) => Vec::new(),
    };
    for (i, p) in parts.iter().enumerate() {
        events.push((p.start, Event::Cut(i)));
        events.push((p.end, Event::Heal));
    }
    events.sort_by_key(|e| e.0);
    let mut restarted: Vec<(usize, Duration)> = Vec::new();
    let mut written = vec![true; adds.len()];
    for (t, event) in events {
        sim.run_until_observing(t, &mut |now, to, msg, _| note(&mut arrival, now, to, msg));
        match event {
            Event::Write(v) => {
                let writer = adds[v].1;
                if sim.update(writer, |s| s.insert(v as u64)) {
                    arrival[writer][v].get_or_insert(t);
                } else {
                    written[v] = false; // the node is paused or dead: its client's write fails
                }
            }
            Event::Cut(i) => sim.cut_links = parts[i].cut.clone(),
            Event::Heal => sim.cut_links.clear(),
            Event::Start(f) | Event::End(f) => match (f.kind, matches!(event, Event::Start(_))) {
                (Kind::Cut, true) => drop(sim.isolated.insert(f.node)),
                (Kind::Cut, false) => drop(sim.isolated.remove(&f.node)),
                (Kind::Pause, true) => sim.pause(f.node),
                (Kind::Pause, false) => sim.resume(f.node),
                (Kind::Kill, true) => sim.crash(f.node),
                (Kind::Kill, false) => {
                    sim.restart(f.node);
                    arrival[f.node].iter_mut().for_each(|s| *s = None);
                    restarted.push((f.node, t));
                }
            },
        }
    }
    let end = Duration::from_secs(a.time_limit + a.recovery);
    sim.run_until_observing(end, &mut |now, to, msg, _| note(&mut arrival, now, to, msg));
    let adds: Vec<(Duration, usize)> =
        adds.iter().zip(&written).map(|(&(t, w), &ok)| (t, if ok { w } else { usize::MAX })).collect();
    report(&a, &sim, ops, &adds, &arrival, &faults, &restarted);
    if a.partitions || a.grudge.is_some() {
        staleness(&a, &parts, &adds, &arrival, latency);
    }
}

/// Per (element, node): how long after the earliest possible moment the node got the element.
#[allow(clippy::print_stdout)]
fn staleness(
    a: &Args,
    parts: &[partitions::Partition],
    adds: &[(Duration, usize)],
    arrival: &[Vec<Option<Duration>>],
    latency: Duration,
) {
    let never = Duration::from_secs(3600);
    let mut stale: Vec<u128> = Vec::new();
    for (v, &(t, w)) in adds.iter().enumerate().filter(|(_, (_, w))| *w != usize::MAX) {
        let ideal = partitions::earliest(a.nodes, parts, w, t, latency);
        for r in 0..a.nodes {
            let got = arrival[r][v].unwrap_or(never);
            let late = got.saturating_sub(ideal[r]).as_millis();
            if a.worst > 0 && late > 1000 {
                eprintln!(
                    "stale {late} ms: element {v} by n{w} at {:.2} s on n{r} (ideal {:.2} s)",
                    t.as_secs_f64(),
                    ideal[r].as_secs_f64()
                );
            }
            stale.push(late);
        }
    }
    stale.sort_unstable();
    let q = |p: f64| {
        stale.get(((stale.len() as f64 * p) as usize).min(stale.len().saturating_sub(1))).copied().unwrap_or(0)
    };
    let kinds: Vec<String> =
        parts.iter().map(|p| format!("{}@{:.1}-{:.1}", p.kind, p.start.as_secs_f64(), p.end.as_secs_f64())).collect();
    println!(
        "partitions {kinds:?}; stale beyond the earliest possible delivery, per (element, node), ms: p50 {} p95 {} p99 {} max {}",
        q(0.5),
        q(0.95),
        q(0.99),
        q(1.0)
    );
}

/// Records when `to` first held each element of the message's delta.
fn note(arrival: &mut [Vec<Option<Duration>>], now: Duration, to: usize, msg: &Message<GSet, usize>) {
    for x in msg.delta().into_iter().flat_map(GSet::iter) {
        if let Some(slot) = arrival[to].get_mut(x as usize) {
            slot.get_or_insert(now);
        }
    }
}

#[allow(clippy::print_stdout)]
fn report(
    a: &Args,
    sim: &Sim<GSet>,
    ops: u64,
    adds: &[(Duration, usize)],
    arrival: &[Vec<Option<Duration>>],
    faults: &[Fault],
    restarted: &[(usize, Duration)],
) {
    let ops = ops + a.nodes as u64; // one final read per node
    let healthy: Vec<usize> = (0..a.nodes).filter(|n| faults.iter().all(|f| f.node != *n)).collect();
    let never = Duration::from_secs(3600);
    let mut lat: Vec<u128> = adds
        .iter()
        .enumerate()
        .filter(|(_, (_, w))| healthy.contains(w))
        .map(|(v, &(t, _))| healthy.iter().map(|&r| arrival[r][v].unwrap_or(never)).max().unwrap_or(t) - t)
        .map(|d| d.as_millis())
        .collect();
    if a.worst > 0 {
        let mut slow: Vec<(u128, usize)> = lat
            .iter()
            .copied()
            .zip(adds.iter().enumerate().filter(|(_, (_, w))| healthy.contains(w)).map(|(v, _)| v))
            .collect();
        slow.sort_unstable_by(|x, y| y.cmp(x));
        for &(ms, v) in slow.iter().take(a.worst) {
            let last = healthy.iter().max_by_key(|&&r| arrival[r][v].unwrap_or(never)).copied().unwrap_or(0);
            eprintln!(
                "element {v} written at {:.3} s by n{} reached every node after {ms} ms (last: n{last})",
                adds[v].0.as_secs_f64(),
                adds[v].1
            );
        }
    }
    lat.sort_unstable();
    let q = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0);
    let mut kinds = std::collections::BTreeMap::new();
    let mut by_node = vec![0u64; a.nodes];
    for s in &sim.sent {
        *kinds.entry(s.kind).or_insert(0) += 1;
        by_node[s.from] += 1;
    }
    let total = sim.sent.len() as f64;
    let (top, top_sent) = by_node.iter().enumerate().max_by_key(|(_, n)| **n).map_or((0, 0), |(i, n)| (i, *n));
    println!(
        "{} server msgs / {ops} ops = {:.3} msgs/op {kinds:?}; busiest node n{top} sent {:.1} %; all healthy nodes hold \
         an element after (ms) p50 {} p95 {} p99 {} max {}",
        sim.sent.len(),
        total / ops as f64,
        100.0 * top_sent as f64 / total.max(1.0),
        q(0.5),
        q(0.95),
        q(0.99),
        q(1.0)
    );
    for &(node, at) in restarted {
        let last = adds
            .iter()
            .enumerate()
            .filter(|(_, (t, w))| *t < at && *w != usize::MAX)
            .map(|(v, _)| arrival[node][v].unwrap_or(never))
            .max()
            .unwrap_or(at);
        let missing = adds
            .iter()
            .enumerate()
            .filter(|(v, (t, w))| *t < at && *w != usize::MAX && !sim.engines[node].state().contains(*v as u64))
            .count();
        if missing > 0 {
            println!("n{node} restarted at {:.1} s still lacks {missing} elements written before", at.as_secs_f64());
            continue;
        }
        println!(
            "n{node} restarted at {:.1} s held everything written before after {} ms",
            at.as_secs_f64(),
            (last.max(at) - at).as_millis()
        );
    }
    let stats = sim.engines.iter().map(|e| e.stats()).fold((0, 0, 0, 0), |acc, s| {
        (acc.0 + s.suspicions, acc.1 + s.adopted_reports, acc.2 + s.reroutes, acc.3 + s.empty_pushes)
    });
    println!("suspicions {} adopted reports {} reroutes {} empty pushes {}", stats.0, stats.1, stats.2, stats.3);
}
