//! The engine's knobs and the eager overlay (see ALGORITHM.md, "Knobs").

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The graph fresh deltas travel along before anti-entropy rounds repair what it missed.
///
/// Nodes are ordered by name (byte order); every node derives the same overlay from the same `node_ids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    /// The first node is the hub: every other node pushes its own updates to the hub, the hub relays everything
    /// it learns to every other node. Two hops between any two nodes; the hub batches, so one relay message carries
    /// every update of a window.
    Star,
    /// Every node pushes its own updates straight to every other node; nothing is relayed. One hop, N−1 messages
    /// per batch.
    Full,
    /// A k-ary tree over the ordered nodes: node i's parent is (i−1)/k. Deltas are relayed along tree edges, away
    /// from where they came from.
    Tree(usize),
    /// No eager path: anti-entropy rounds alone spread updates (slow; for testing the repair path).
    None,
}

impl FromStr for Overlay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "star" => Ok(Overlay::Star),
            "full" => Ok(Overlay::Full),
            "none" => Ok(Overlay::None),
            _ => match s.strip_prefix("tree") {
                Some("") => Ok(Overlay::Tree(4)),
                Some(k) => match k.strip_prefix(':').and_then(|k| k.parse::<usize>().ok()) {
                    Some(k) if (1..=1024).contains(&k) => Ok(Overlay::Tree(k)),
                    _ => Err(format!("bad tree arity in {s:?}: expected tree:K with K in 1..=1024")),
                },
                None => Err(format!("unknown overlay {s:?}: expected star, full, tree:K or none")),
            },
        }
    }
}

impl fmt::Display for Overlay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overlay::Star => write!(f, "star"),
            Overlay::Full => write!(f, "full"),
            Overlay::Tree(k) => write!(f, "tree:{k}"),
            Overlay::None => write!(f, "none"),
        }
    }
}

/// Everything that tunes an [`crate::Engine`]. The defaults are the ones the node uses for sets (broadcast, g-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The eager overlay.
    pub overlay: Overlay,
    /// How long a node that relays (the star's hub, a tree's inner nodes) collects deltas for a peer before it
    /// sends them in one message. Bounds the extra latency of a relay hop.
    pub relay_window: Duration,
    /// The same for a node that only pushes its own updates (star leaves, tree leaves, every node of `full`).
    pub local_window: Duration,
    /// The first anti-entropy round follows the last change of the replica by this much; each round without news
    /// doubles the wait, up to `round_max`.
    pub round_min: Duration,
    /// The longest wait between two rounds of a node, even while its replica keeps changing.
    pub round_max: Duration,
    /// Random peers contacted per timed round, besides the upstream node (the star's hub for a leaf, the parent in a
    /// tree), which every timed round includes.
    pub fanout: usize,
    /// A gap in a peer's push sequence that lasts this long (a lost or very late push) starts a round with that
    /// peer at once.
    pub gap_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            overlay: Overlay::Star,
            relay_window: Duration::from_millis(250),
            local_window: Duration::ZERO,
            round_min: Duration::from_secs(2),
            round_max: Duration::from_secs(8),
            fanout: 1,
            gap_timeout: Duration::from_secs(1),
        }
    }
}

impl Config {
    /// Checks the knobs' ranges: windows and round waits of at most an hour, `round_min` ≤ `round_max`, a
    /// non-zero `round_min` and `gap_timeout` (they pace repeated work) and a fanout of at least 1.
    pub fn validate(&self) -> Result<(), String> {
        let hour = Duration::from_secs(3600);
        for (name, d) in [
            ("relay window", self.relay_window),
            ("local window", self.local_window),
            ("round min", self.round_min),
            ("round max", self.round_max),
            ("gap timeout", self.gap_timeout),
        ] {
            if d > hour {
                return Err(format!("{name} of {d:?} is longer than an hour"));
            }
        }
        if self.round_min.is_zero() || self.gap_timeout.is_zero() {
            return Err("round min and gap timeout must be positive".into());
        }
        if self.round_min > self.round_max {
            return Err(format!("round min {:?} is longer than round max {:?}", self.round_min, self.round_max));
        }
        if self.fanout == 0 {
            return Err("fanout must be at least 1".into());
        }
        Ok(())
    }
}

/// One node's view of the overlay: whom it pushes a delta to, given where the delta came from.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The overlay's peers of this node (star: every other node; tree: parent and children).
    neighbours: Vec<String>,
    hub: Option<String>,
    overlay: Overlay,
    me: String,
    /// Tree only: whether `neighbours[0]` is this node's parent (every node but the root has one).
    has_parent: bool,
}

impl Plan {
    /// `nodes` is every node including `me`, in any order.
    pub(crate) fn new(overlay: Overlay, me: &str, nodes: &[String]) -> Plan {
        let mut order: Vec<String> = nodes.to_vec();
        if !order.iter().any(|n| n == me) {
            order.push(me.to_string());
        }
        order.sort();
        order.dedup();
        let peers = || order.iter().filter(|n| *n != me).cloned().collect::<Vec<_>>();
        let has_parent = order.iter().position(|n| n == me).is_some_and(|i| i > 0);
        let (neighbours, hub) = match overlay {
            Overlay::Star => (peers(), order.first().cloned()),
            Overlay::Full => (peers(), None),
            Overlay::None => (Vec::new(), None),
            Overlay::Tree(k) => {
                let i = order.iter().position(|n| n == me).unwrap_or(0);
                let mut nb: Vec<String> = Vec::new();
                if i > 0 {
                    nb.push(order[(i - 1) / k].clone());
                }
                let first = i.saturating_mul(k).saturating_add(1);
                nb.extend(order.iter().skip(first).take(k).cloned());
                (nb, None)
            }
        };
        Plan { neighbours, hub, overlay, me: me.to_string(), has_parent }
    }

    /// Whether this node relays other nodes' deltas (and so batches with the relay window).
    pub(crate) fn relays(&self) -> bool {
        match self.overlay {
            Overlay::Star => self.hub.as_deref() == Some(self.me.as_str()),
            Overlay::Tree(_) => self.neighbours.len() > 1,
            Overlay::Full | Overlay::None => false,
        }
    }

    /// The node this one reports to — the star's hub for a leaf, the parent in a tree — which every timed round
    /// includes: it is where everything converges first, so one round with it brings a node up to date.
    pub(crate) fn upstream(&self) -> Option<&str> {
        match self.overlay {
            Overlay::Star => self.hub.as_deref().filter(|h| *h != self.me),
            Overlay::Tree(_) if self.has_parent => self.neighbours.first().map(String::as_str),
            Overlay::Tree(_) | Overlay::Full | Overlay::None => None,
        }
    }

    /// The peers a delta that came from `from` (`me` for a local update) goes to.
    pub(crate) fn targets<'a>(&'a self, from: &'a str) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        let local = from == self.me;
        match self.overlay {
            Overlay::Star => {
                let hub = self.hub.as_deref().unwrap_or_default();
                if hub == self.me {
                    Box::new(self.neighbours.iter().filter(move |n| *n != from))
                } else if from != hub {
                    // A leaf's own update, or news a round brought from another leaf: the hub spreads it.
                    Box::new(self.neighbours.iter().filter(move |n| *n == hub))
                } else {
                    Box::new(std::iter::empty())
                }
            }
            Overlay::Full if local => Box::new(self.neighbours.iter()),
            Overlay::Full | Overlay::None => Box::new(std::iter::empty()),
            Overlay::Tree(_) => Box::new(self.neighbours.iter().filter(move |n| *n != from)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    fn targets(plan: &Plan, from: &str) -> Vec<String> {
        plan.targets(from).cloned().collect()
    }

    #[test]
    fn overlays_parse_and_print_back() {
        for s in ["star", "full", "none", "tree:3"] {
            assert_eq!(s.parse::<Overlay>().unwrap().to_string(), s);
        }
        assert_eq!("tree".parse::<Overlay>(), Ok(Overlay::Tree(4)));
        for bad in ["", "tree:0", "tree:x", "ring", "tree:99999"] {
            assert!(bad.parse::<Overlay>().is_err(), "{bad}");
        }
    }

    #[test]
    fn star_leaves_push_to_the_hub_and_the_hub_relays_to_everyone_else() {
        let nodes = names(4);
        let hub = Plan::new(Overlay::Star, "n0", &nodes);
        let leaf = Plan::new(Overlay::Star, "n2", &nodes);
        assert!(hub.relays() && !leaf.relays());
        assert_eq!(targets(&leaf, "n2"), ["n0"]);
        assert_eq!(targets(&leaf, "n3"), ["n0"], "news from another leaf goes to the hub");
        assert!(targets(&leaf, "n0").is_empty());
        assert_eq!(targets(&hub, "n2"), ["n1", "n3"]);
        assert_eq!(targets(&hub, "n0"), ["n1", "n2", "n3"]);
        assert_eq!((leaf.upstream(), hub.upstream()), (Some("n0"), None));
    }

    #[test]
    fn tree_edges_are_symmetric_and_relays_skip_the_source() {
        let nodes = names(10);
        let plans: Vec<Plan> = nodes.iter().map(|n| Plan::new(Overlay::Tree(3), n, &nodes)).collect();
        let mut edges = 0;
        for p in &plans {
            for q in &p.neighbours {
                let back = plans.iter().find(|x| &x.me == q).unwrap();
                assert!(back.neighbours.contains(&p.me), "{} -> {q} is not symmetric", p.me);
                edges += 1;
            }
            for q in &p.neighbours {
                assert!(!targets(p, q).contains(q));
            }
        }
        assert_eq!(edges, 2 * (nodes.len() - 1), "a tree has N-1 edges");
        assert_eq!(plans[0].upstream(), None, "the root has no parent");
        assert_eq!(plans[7].upstream(), Some("n2"), "node 7's parent is (7-1)/3");
    }

    #[test]
    fn full_pushes_only_local_updates_and_none_pushes_nothing() {
        let nodes = names(3);
        let full = Plan::new(Overlay::Full, "n1", &nodes);
        assert_eq!(targets(&full, "n1"), ["n0", "n2"]);
        assert!(targets(&full, "n0").is_empty());
        assert!(targets(&Plan::new(Overlay::None, "n1", &nodes), "n1").is_empty());
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(Config::default().validate().is_ok());
        let c = Config { fanout: 0, ..Config::default() };
        assert!(c.validate().is_err());
        let c = Config { round_min: Duration::from_secs(30), ..Config::default() };
        assert!(c.validate().is_err());
        let c = Config { relay_window: Duration::from_secs(7200), ..Config::default() };
        assert!(c.validate().is_err());
    }
}
