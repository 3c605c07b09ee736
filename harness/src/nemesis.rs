//! The nemesis's vocabulary: the partition grudges of spec §8, as Jepsen's `jepsen.nemesis` and
//! `jepsen.nemesis.combined` build them, and the faults beyond Maelstrom ([`FaultPlan`]).
//!
//! A grudge maps every test node to the set of nodes whose messages it drops. Like Jepsen's `complete-grudge`,
//! `invert-grudge` and `majorities-ring-perfect`, every node of the test gets an entry, possibly with an empty set
//! (this shows in the history as `[:isolated {n1 #{}, …}]`).
//!
//! # Faults beyond Maelstrom (osmosis extensions)
//!
//! Maelstrom's only fault is the partition. A [`FaultPlan`] adds, each marked as an extension wherever it shows:
//!
//! - `kill`: SIGKILL a random node, restart it later with an empty state (a new process that gets `init`, and
//!   `topology` for broadcast, like at setup). Recorded as `:kill` / `:start` with the node names as value.
//! - `pause`: SIGSTOP a random node, SIGCONT it later; while paused it takes no message off its queue (in virtual
//!   time it neither receives nor ticks). Recorded as `:pause` / `:resume` with the node names.
//! - `loss`, `duplicate`: every server↔server message is lost, or delivered twice, with a probability (see
//!   [`crate::net::MessageFaults`]); in force from the start until the end-of-main heal. Not in the history: their
//!   probabilities are in the results' `:faults` map.
//! - targeted faults ([`TargetedFault`]): cut off, kill or pause a named node between two given times, so that a
//!   test can hit the worst case on purpose. A cut-off is recorded as a partition whose grudge isolates the node.
//!
//! `partition`, `kill` and `pause` each run their own flip-flop (fault, then its end, alternating) with gaps drawn
//! like the partition's: uniform in `[0, 2·interval)`. The partition starts at once, as in Maelstrom; kill and pause
//! wait for their first gap. Before the recovery sleep (workloads with final reads) one heal ends every fault:
//! partitions healed, paused nodes resumed, killed nodes restarted, message faults off.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand::seq::SliceRandom;

/// receiver → the senders whose messages it drops.
pub type Grudge = BTreeMap<String, BTreeSet<String>>;

/// The four partition specs Maelstrom draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrudgeKind {
    /// `:one`
    One,
    /// `:minority-third`
    MinorityThird,
    /// `:majority`
    Majority,
    /// `:majorities-ring`
    MajoritiesRing,
}

impl GrudgeKind {
    /// The specs in Maelstrom's order (`[:one :minority-third :majority :majorities-ring]`); `random_grudge` draws
    /// an index into this array.
    pub const ALL: [GrudgeKind; 4] =
        [GrudgeKind::One, GrudgeKind::MinorityThird, GrudgeKind::Majority, GrudgeKind::MajoritiesRing];

    /// The keyword name without the colon (`one`, `minority-third`, `majority`, `majorities-ring`).
    pub fn name(self) -> &'static str {
        match self {
            GrudgeKind::One => "one",
            GrudgeKind::MinorityThird => "minority-third",
            GrudgeKind::Majority => "majority",
            GrudgeKind::MajoritiesRing => "majorities-ring",
        }
    }
}

impl fmt::Display for GrudgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GrudgeKind {
    type Err = String;

    /// Parses a keyword name without the colon.
    fn from_str(s: &str) -> Result<Self, String> {
        GrudgeKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            format!("unknown partition spec {s:?}; expected one of one, minority-third, majority, majorities-ring")
        })
    }
}

/// A fault `--nemesis` schedules at random, each on its own flip-flop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Maelstrom's partitions (spec §8).
    Partition,
    /// Kill a random node, restart it later with an empty state (extension).
    Kill,
    /// Pause a random node, resume it later (extension).
    Pause,
}

impl FaultKind {
    /// The name `--nemesis` takes.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
        }
    }
}

/// What a targeted fault does to its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TargetKind {
    /// Cut the node off from every other node (a partition whose grudge isolates it).
    Cut,
    /// Kill the node; restart it (empty state) at the end.
    Kill,
    /// Pause the node; resume it at the end.
    Pause,
}

impl TargetKind {
    /// The name in `--fault KIND:NODE:FROM-TO`.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Cut => "cut",
            TargetKind::Kill => "kill",
            TargetKind::Pause => "pause",
        }
    }
}

/// A fault on a named node between two history times (an osmosis extension): `KIND:NODE:FROM-TO`, seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetedFault {
    /// What happens to the node.
    pub kind: TargetKind,
    /// The node.
    pub node: String,
    /// When it starts, nanoseconds of history time.
    pub from: u64,
    /// When it ends, nanoseconds of history time.
    pub to: u64,
}

impl fmt::Display for TargetedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |ns: u64| ns as f64 / 1e9;
        write!(f, "{}:{}:{}-{}", self.kind.name(), self.node, s(self.from), s(self.to))
    }
}

impl FromStr for TargetedFault {
    type Err = String;

    /// Parses `cut:n3:5-15` (also `kill:…`, `pause:…`): the node is cut off (killed, paused) from 5 s to 15 s of
    /// history time. Times are non-negative decimals, `FROM < TO`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("{s:?}: {why}; expected KIND:NODE:FROM-TO, e.g. cut:n0:5-15 (KIND cut, kill or pause, seconds)")
        };
        let Some((kind, (node, times))) = s.split_once(':').and_then(|(k, rest)| Some((k, rest.rsplit_once(':')?)))
        else {
            return Err(bad("three parts needed"));
        };
        let kind = [TargetKind::Cut, TargetKind::Kill, TargetKind::Pause]
            .into_iter()
            .find(|k| k.name() == kind)
            .ok_or_else(|| bad("unknown kind"))?;
        let (from, to) = times.split_once('-').ok_or_else(|| bad("no FROM-TO"))?;
        let secs = |t: &str| t.parse::<f64>().ok().filter(|x| x.is_finite() && (0.0..=3.0e7).contains(x));
        let (Some(from), Some(to)) = (secs(from), secs(to)) else { return Err(bad("times must be seconds")) };
        if from >= to || node.is_empty() {
            return Err(bad("FROM must be before TO, and NODE a node"));
        }
        let ns = |x: f64| (x * 1e9).round() as u64;
        Ok(TargetedFault { kind, node: node.to_owned(), from: ns(from), to: ns(to) })
    }
}

/// Every fault of a run: Maelstrom's `--nemesis partition` and the osmosis extensions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    /// The faults scheduled at random, in `partition, kill, pause` order, each at most once.
    pub kinds: Vec<FaultKind>,
    /// `--nemesis-interval`: mean seconds between one scheduled fault's start and its end, and between its end
    /// and its next start.
    pub interval_s: f64,
    /// Probability that a server message is lost (0 = off).
    pub loss: f64,
    /// Probability that a server message is delivered twice (0 = off).
    pub duplicate: f64,
    /// Faults on named nodes at given times.
    pub targeted: Vec<TargetedFault>,
}

impl FaultPlan {
    /// No fault at all (Maelstrom without `--nemesis`).
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty() && self.targeted.is_empty() && self.loss == 0.0 && self.duplicate == 0.0
    }

    /// Can a partition be in force (random partitions, or a targeted cut)?
    pub fn partitions(&self) -> bool {
        self.kinds.contains(&FaultKind::Partition) || self.targeted.iter().any(|t| t.kind == TargetKind::Cut)
    }

    /// Does any fault go beyond Maelstrom's partitions?
    pub fn has_extensions(&self) -> bool {
        self.kinds.iter().any(|k| *k != FaultKind::Partition)
            || !self.targeted.is_empty()
            || self.loss > 0.0
            || self.duplicate > 0.0
    }

    /// A short description: `none`, or the faults joined by `,` (e.g. `partition,kill,loss 0.05,cut:n0:5-15`).
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.kinds.iter().map(|k| k.name().to_owned()).collect();
        if self.loss > 0.0 {
            parts.push(format!("loss {}", self.loss));
        }
        if self.duplicate > 0.0 {
            parts.push(format!("duplicate {}", self.duplicate));
        }
        parts.extend(self.targeted.iter().map(ToString::to_string));
        if parts.is_empty() { "none".to_owned() } else { parts.join(",") }
    }
}

/// One fault while it was in force, read back from the history.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultInterval {
    /// `partition`, `kill` or `pause`.
    pub fault: &'static str,
    /// What: the partition's label (`majority`, `isolate n3`, …) or the node.
    pub what: String,
    /// From this history time (the completion of the op that started it)…
    pub from: u64,
    /// …to this one (the completion of the op that ended it), or `None` if still in force at the end.
    pub to: Option<u64>,
}

/// Every fault of a history with its times: partitions from each `:start-partition` to the next
/// `:stop-partition`, kills from `:kill` to the node's `:start`, pauses from `:pause` to its `:resume` (completions,
/// their values naming the nodes changed). In start order.
pub fn intervals(history: &crate::history::History) -> Vec<FaultInterval> {
    use crate::history::{F, Process};
    let mut out: Vec<FaultInterval> = Vec::new();
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    };
    // Nemesis operations are instantaneous: each invocation is followed at once by its completion (both :info).
    let nemesis: Vec<&crate::history::Op> = history.ops.iter().filter(|op| op.process == Process::Nemesis).collect();
    for pair in nemesis.chunks(2) {
        let [invocation, op] = pair else { continue };
        let invoke_value = &invocation.value;
        let open = |out: &mut Vec<FaultInterval>, fault, what: String| {
            out.push(FaultInterval { fault, what, from: op.time, to: None });
        };
        let close = |out: &mut Vec<FaultInterval>, fault: &str, what: Option<&str>| {
            for i in out.iter_mut().filter(|i| i.fault == fault && i.to.is_none() && what.is_none_or(|w| i.what == w)) {
                i.to = Some(op.time);
            }
        };
        match op.f {
            F::StartPartition => {
                let label = invoke_value.as_str().unwrap_or("partition").to_owned();
                open(&mut out, "partition", label);
            }
            F::StopPartition => close(&mut out, "partition", None),
            F::Kill => names(&op.value).into_iter().for_each(|n| open(&mut out, "kill", n)),
            F::Pause => names(&op.value).into_iter().for_each(|n| open(&mut out, "pause", n)),
            F::Start => names(&op.value).iter().for_each(|n| close(&mut out, "kill", Some(n))),
            F::Resume => names(&op.value).iter().for_each(|n| close(&mut out, "pause", Some(n))),
            _ => {}
        }
    }
    out
}

/// The grudge that cuts `node` off from every other node of `nodes` (both directions).
pub fn isolate(node: &str, nodes: &[String]) -> Grudge {
    let rest: Vec<String> = nodes.iter().filter(|n| *n != node).cloned().collect();
    complete_grudge(&[vec![node.to_owned()], rest])
}

/// The union of grudges: every receiver drops what any of them makes it drop.
pub fn union<'a>(grudges: impl IntoIterator<Item = &'a Grudge>) -> Grudge {
    let mut out = Grudge::new();
    for g in grudges {
        for (dest, srcs) in g {
            out.entry(dest.clone()).or_default().extend(srcs.iter().cloned());
        }
    }
    out
}

/// Jepsen's `util/majority`: `floor(n/2) + 1`.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Jepsen's `util/minority-third`: the largest integer strictly below `n/3`, i.e. `floor((n-1)/3)` (0 for n = 0).
pub fn minority_third(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

/// Builds the grudge of one kind over the server nodes.
///
/// * `One`: a random node vs the rest; `Majority`: shuffle, first `floor(N/2)` vs the rest; `MinorityThird`: shuffle,
///   first `floor((N-1)/3)` vs the rest — all complete grudges ([`complete_grudge`]).
/// * `MajoritiesRing`: every node hears a majority including itself (see [`majorities_ring`]).
///
/// An empty node list gives an empty grudge.
pub fn grudge<R: Rng + ?Sized>(kind: GrudgeKind, nodes: &[String], rng: &mut R) -> Grudge {
    if nodes.is_empty() {
        return Grudge::new();
    }
    match kind {
        GrudgeKind::One => {
            // split-one: [[loner] (remove #{loner} nodes)]
            let loner = &nodes[rng.random_range(0..nodes.len())];
            let rest: Vec<String> = nodes.iter().filter(|n| *n != loner).cloned().collect();
            complete_grudge(&[vec![loner.clone()], rest])
        }
        GrudgeKind::Majority => split_shuffled(nodes, nodes.len() / 2, rng),
        GrudgeKind::MinorityThird => split_shuffled(nodes, minority_third(nodes.len()), rng),
        GrudgeKind::MajoritiesRing => majorities_ring(nodes, rng),
    }
}

/// Draws a kind uniformly and builds its grudge (what each `start-partition` does).
pub fn random_grudge<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> (GrudgeKind, Grudge) {
    let kind = GrudgeKind::ALL[rng.random_range(0..GrudgeKind::ALL.len())];
    (kind, grudge(kind, nodes, rng))
}

/// Jepsen's `complete-grudge`: every node drops every node outside its own component.
pub fn complete_grudge(components: &[Vec<String>]) -> Grudge {
    let universe: BTreeSet<&String> = components.iter().flatten().collect();
    let mut grudge = Grudge::new();
    for component in components {
        let inside: BTreeSet<&String> = component.iter().collect();
        let outside: BTreeSet<String> = universe.difference(&inside).map(|s| (*s).clone()).collect();
        for node in component {
            grudge.insert(node.clone(), outside.clone());
        }
    }
    grudge
}

/// Jepsen's `majorities-ring`: the "perfect" ring for `N ≤ 5`, the stochastic construction above.
///
/// Perfect: shuffle into a ring, `m = floor(N/2)+1`; the window of `m` ring positions starting at `i` makes its
/// node at offset `floor(m/2)` drop everyone outside the window (for N = 5 each node hears itself and its two ring
/// neighbours; for N = 3 the result is not symmetric, as in Jepsen). Stochastic: see [`majorities_ring_stochastic`].
pub fn majorities_ring<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> Grudge {
    if nodes.len() <= 5 { majorities_ring_perfect(nodes, rng) } else { majorities_ring_stochastic(nodes, rng) }
}

fn majorities_ring_perfect<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> Grudge {
    let n = nodes.len();
    let m = majority(n);
    let mut ring = nodes.to_vec();
    ring.shuffle(rng);
    let universe: BTreeSet<&String> = nodes.iter().collect();
    let mut grudge = Grudge::new();
    for i in 0..n {
        // (partition m 1 (cycle ring)) → windows ring[i..i+m] (wrapping); the centre drops the rest.
        let window: BTreeSet<&String> = (0..m).map(|k| &ring[(i + k) % n]).collect();
        let centre = &ring[(i + m / 2) % n];
        grudge.insert(centre.clone(), universe.difference(&window).map(|s| (*s).clone()).collect());
    }
    grudge
}

/// Jepsen's `majorities-ring-stochastic`: start with each node connected to itself; repeatedly list the nodes by
/// ascending degree (each degree class shuffled), take the first `a`; stop when its degree is at least `m`; else
/// connect it both ways to the first listed node it is not yet connected to. Every node then drops the nodes it is
/// not connected to.
pub fn majorities_ring_stochastic<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> Grudge {
    let n = nodes.len();
    let m = majority(n);
    // conns[i] includes i itself; degree = conns[i].len().
    let mut conns: Vec<BTreeSet<usize>> = (0..n).map(|i| BTreeSet::from([i])).collect();
    let mut by_degree: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::from([(1, (0..n).collect())]);
    loop {
        let mut dns: Vec<(usize, usize)> = Vec::with_capacity(n);
        for (&degree, class) in &by_degree {
            let mut class: Vec<usize> = class.iter().copied().collect();
            class.shuffle(rng);
            dns.extend(class.into_iter().map(|i| (degree, i)));
        }
        let Some(&(a_degree, a)) = dns.first() else {
            break;
        };
        if a_degree >= m {
            break;
        }
        // a has fewer than m ≤ n connections, so some node is not connected to it.
        let Some(&(b_degree, b)) = dns.iter().find(|(_, x)| !conns[a].contains(x)) else {
            break;
        };
        conns[a].insert(b);
        conns[b].insert(a);
        for (degree, node) in [(a_degree, a), (b_degree, b)] {
            if let Some(class) = by_degree.get_mut(&degree) {
                class.remove(&node);
            }
            by_degree.entry(degree + 1).or_default().insert(node);
        }
        by_degree.retain(|_, class| !class.is_empty());
    }
    // invert-grudge
    let mut grudge = Grudge::new();
    for (i, node) in nodes.iter().enumerate() {
        let dropped = nodes.iter().enumerate().filter(|(j, _)| !conns[i].contains(j)).map(|(_, s)| s.clone());
        grudge.entry(node.clone()).or_default().extend(dropped);
    }
    grudge
}

fn split_shuffled<R: Rng + ?Sized>(nodes: &[String], at: usize, rng: &mut R) -> Grudge {
    let mut shuffled = nodes.to_vec();
    shuffled.shuffle(rng);
    let rest = shuffled.split_off(at.min(shuffled.len()));
    complete_grudge(&[shuffled, rest])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    /// For each node, the nodes it hears from (itself included).
    fn hears(g: &Grudge, nodes: &[String]) -> BTreeMap<String, BTreeSet<String>> {
        nodes.iter().map(|a| (a.clone(), nodes.iter().filter(|b| !g[a].contains(*b)).cloned().collect())).collect()
    }

    /// Component sizes of a complete grudge (ascending), checking that it really is one.
    fn component_sizes(g: &Grudge, nodes: &[String]) -> Vec<usize> {
        let h = hears(g, nodes);
        let components: BTreeSet<&BTreeSet<String>> = h.values().collect();
        for c in &components {
            for a in c.iter() {
                assert_eq!(&h[a], *c, "components of a complete grudge are cliques");
            }
        }
        let mut sizes: Vec<usize> = components.iter().map(|c| c.len()).collect();
        sizes.sort_unstable();
        sizes
    }

    fn basic_laws(g: &Grudge, nodes: &[String]) {
        let all: BTreeSet<&String> = nodes.iter().collect();
        assert_eq!(g.keys().collect::<BTreeSet<_>>(), all, "every node has an entry, no stranger does");
        for (a, dropped) in g {
            assert!(!dropped.contains(a), "{a} drops itself");
            assert!(dropped.iter().all(|d| all.contains(d)), "{a} drops a stranger");
        }
    }

    fn symmetric(g: &Grudge) -> bool {
        g.iter().all(|(a, ds)| ds.iter().all(|b| g[b].contains(a)))
    }

    #[test]
    fn helper_counts_match_jepsen_util() {
        assert_eq!((majority(1), majority(4), majority(5), majority(25)), (1, 3, 3, 13));
        assert_eq!((minority_third(0), minority_third(3), minority_third(4), minority_third(5)), (0, 0, 1, 1));
        assert_eq!((minority_third(7), minority_third(25)), (2, 8));
    }

    #[test]
    fn five_node_majorities_ring_hears_itself_and_two_ring_neighbours() {
        let nodes = names(5);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50 {
            let g = grudge(GrudgeKind::MajoritiesRing, &nodes, &mut rng);
            basic_laws(&g, &nodes);
            assert!(symmetric(&g));
            let h = hears(&g, &nodes);
            // hearing graph minus self-loops is 2-regular and connected on 5 nodes: a 5-cycle
            assert!(h.values().all(|s| s.len() == 3));
            let mut seen = BTreeSet::from([nodes[0].clone()]);
            let mut cur = nodes[0].clone();
            let mut prev = String::new();
            for _ in 0..5 {
                let next = h[&cur].iter().find(|x| **x != cur && **x != prev).unwrap().clone();
                prev = std::mem::replace(&mut cur, next);
                seen.insert(cur.clone());
            }
            assert_eq!(cur, nodes[0], "walking the ring returns home after 5 steps");
            assert_eq!(seen.len(), 5);
        }
    }

    #[test]
    fn three_node_majorities_ring_is_asymmetric_as_in_jepsen() {
        let nodes = names(3);
        let g = grudge(GrudgeKind::MajoritiesRing, &nodes, &mut ChaCha8Rng::seed_from_u64(1));
        basic_laws(&g, &nodes);
        assert!(g.values().all(|d| d.len() == 1), "each hears itself and one other: {g:?}");
        assert!(!symmetric(&g));
    }

    #[test]
    fn tiny_clusters_give_grudges_that_cut_nothing() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for kind in [GrudgeKind::MinorityThird, GrudgeKind::MajoritiesRing] {
            for n in 1..=2 {
                let g = grudge(kind, &names(n), &mut rng);
                assert!(g.values().all(BTreeSet::is_empty), "{kind} over {n}: {g:?}");
            }
        }
        assert!(grudge(GrudgeKind::One, &[], &mut rng).is_empty());
    }

    #[test]
    fn random_grudge_draws_every_kind_about_equally() {
        let nodes = names(5);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut counts = BTreeMap::new();
        for _ in 0..4000 {
            let (kind, g) = random_grudge(&nodes, &mut rng);
            basic_laws(&g, &nodes);
            *counts.entry(kind.name()).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 4);
        assert!(counts.values().all(|&c| (880..1120).contains(&c)), "{counts:?}");
    }

    #[test]
    fn targeted_faults_parse_and_print_back() {
        let t: TargetedFault = "cut:n3:5-15.5".parse().unwrap();
        assert_eq!(
            t,
            TargetedFault { kind: TargetKind::Cut, node: "n3".into(), from: 5_000_000_000, to: 15_500_000_000 }
        );
        assert_eq!(t.to_string(), "cut:n3:5-15.5");
        assert_eq!("kill:a:b:0-1".parse::<TargetedFault>().unwrap().node, "a:b", "NODE runs to the last colon");
        for bad in ["cut:n3", "burn:n3:1-2", "cut:n3:2-1", "cut:n3:1-1", "cut::1-2", "pause:n1:x-2", "kill:n1:-1-2"] {
            assert!(bad.parse::<TargetedFault>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cut_isolates_one_node_both_ways_and_unions_add_up() {
        let nodes = names(4);
        let g = isolate("n2", &nodes);
        basic_laws(&g, &nodes);
        assert_eq!(component_sizes(&g, &nodes), [1, 3]);
        assert_eq!(g["n2"].len(), 3);
        let both = union([&g, &isolate("n4", &nodes)]);
        assert_eq!(both["n1"], BTreeSet::from(["n2".to_owned(), "n4".to_owned()]));
        assert_eq!(both["n2"].len(), 3);
    }

    #[test]
    fn fault_plans_describe_themselves() {
        assert_eq!(FaultPlan::default().describe(), "none");
        let plan = FaultPlan {
            kinds: vec![FaultKind::Partition, FaultKind::Kill],
            interval_s: 10.0,
            loss: 0.05,
            duplicate: 0.0,
            targeted: vec!["cut:n0:5-15".parse().unwrap()],
        };
        assert_eq!(plan.describe(), "partition,kill,loss 0.05,cut:n0:5-15");
        assert!(plan.partitions() && plan.has_extensions() && !plan.is_empty());
    }

    #[test]
    fn kind_names_round_trip() {
        for k in GrudgeKind::ALL {
            assert_eq!(k.name().parse::<GrudgeKind>(), Ok(k));
        }
        assert!("primaries".parse::<GrudgeKind>().is_err());
    }

    proptest! {
        #[test]
        fn complete_grudges_split_into_the_components_the_spec_names(n in 1usize..40, seed: u64) {
            let nodes = names(n);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for (kind, small) in [
                (GrudgeKind::One, 1),
                (GrudgeKind::Majority, n / 2),
                (GrudgeKind::MinorityThird, minority_third(n)),
            ] {
                let g = grudge(kind, &nodes, &mut rng);
                basic_laws(&g, &nodes);
                prop_assert!(symmetric(&g));
                let mut want = vec![small, n - small];
                want.retain(|&s| s > 0);
                want.sort_unstable();
                prop_assert_eq!(component_sizes(&g, &nodes), want, "{}", kind);
            }
        }

        #[test]
        fn majorities_ring_lets_every_node_hear_a_majority(n in 1usize..40, seed: u64) {
            let nodes = names(n);
            let g = grudge(GrudgeKind::MajoritiesRing, &nodes, &mut ChaCha8Rng::seed_from_u64(seed));
            basic_laws(&g, &nodes);
            let h = hears(&g, &nodes);
            for (a, heard) in &h {
                prop_assert!(heard.contains(a));
                prop_assert!(heard.len() >= majority(n), "{} hears {} of {}", a, heard.len(), n);
            }
            if n > 5 {
                prop_assert!(symmetric(&g), "stochastic connections are made both ways");
            }
            if n <= 5 {
                prop_assert!(h.values().all(|s| s.len() == majority(n)), "perfect rings give exactly a majority");
            }
        }
    }
}
