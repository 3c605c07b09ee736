//! One node's view of the eager overlay: whom it pushes a delta to, given where the delta came from.
//!
//! Peers are named by their index in the engine's sorted peer list (`me` excluded); every node derives the same
//! overlay from the same members, ordered by id.

use crate::config::Overlay;

/// Where a delta came from: this node's own update, or peer `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A local update.
    Local,
    /// Peer number `i` (an index into the sorted peer list).
    Peer(usize),
}

/// The star's hub, as seen from one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hub {
    /// This node is the hub.
    Me,
    /// Peer `i` is the hub.
    Peer(usize),
}

/// One node's view of the overlay.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The overlay's peers of this node (star: every other node; tree: parent and children), as peer indices.
    neighbours: Vec<usize>,
    hub: Option<Hub>,
    overlay: Overlay,
    /// Tree only: whether `neighbours[0]` is this node's parent (every node but the root has one).
    has_parent: bool,
}

impl Plan {
    /// The plan of the node whose position among all members (`peers` and itself, in id order) is `me_at`, with
    /// `peers` others.
    pub(crate) fn new(overlay: Overlay, me_at: usize, peers: usize) -> Plan {
        // Position p among all members <-> peer index (p < me_at: p; p > me_at: p - 1).
        let peer = |p: usize| if p < me_at { p } else { p - 1 };
        let members = peers + 1;
        let everyone = || (0..peers).collect::<Vec<_>>();
        let (neighbours, hub) = match overlay {
            Overlay::Star => (everyone(), Some(if me_at == 0 { Hub::Me } else { Hub::Peer(0) })),
            Overlay::Full => (everyone(), None),
            Overlay::None => (Vec::new(), None),
            Overlay::Tree(k) => {
                let mut nb = Vec::new();
                if me_at > 0 {
                    nb.push(peer((me_at - 1) / k));
                }
                let first = me_at.saturating_mul(k).saturating_add(1);
                nb.extend((first..members).take(k).map(peer));
                (nb, None)
            }
        };
        Plan { neighbours, hub, overlay, has_parent: me_at > 0 }
    }

    /// Whether this node relays other nodes' deltas (and so batches with the relay window).
    pub(crate) fn relays(&self) -> bool {
        match self.overlay {
            Overlay::Star => self.hub == Some(Hub::Me),
            Overlay::Tree(_) => self.neighbours.len() > 1,
            Overlay::Full | Overlay::None => false,
        }
    }

    /// The node this one reports to — the star's hub for a leaf, the parent in a tree — which every timed round
    /// includes: it is where everything converges first, so one round with it brings a node up to date.
    pub(crate) fn upstream(&self) -> Option<usize> {
        match (self.overlay, self.hub) {
            (Overlay::Star, Some(Hub::Peer(h))) => Some(h),
            (Overlay::Tree(_), _) if self.has_parent => self.neighbours.first().copied(),
            _ => None,
        }
    }

    /// The peers a delta that came from `from` goes to.
    pub(crate) fn targets(&self, from: Source) -> impl Iterator<Item = usize> + '_ {
        let rule = match (self.overlay, self.hub, from) {
            // The hub relays to everyone but the source.
            (Overlay::Star, Some(Hub::Me), _) => Rule::AllBut(from),
            // The hub's own news stops at a leaf.
            (Overlay::Star, Some(Hub::Peer(h)), Source::Peer(p)) if p == h => Rule::Nobody,
            // A leaf's own update, or news a round brought from another leaf: the hub spreads it.
            (Overlay::Star, Some(Hub::Peer(h)), _) => Rule::Only(h),
            (Overlay::Full, _, Source::Local) => Rule::AllBut(Source::Local),
            (Overlay::Tree(_), _, _) => Rule::AllBut(from),
            _ => Rule::Nobody,
        };
        self.neighbours.iter().copied().filter(move |&n| rule.admits(n))
    }
}

/// Which neighbours a delta goes to.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Every neighbour but the delta's source.
    AllBut(Source),
    /// This one neighbour.
    Only(usize),
    /// None.
    Nobody,
}

impl Rule {
    fn admits(self, n: usize) -> bool {
        match self {
            Rule::AllBut(from) => from != Source::Peer(n),
            Rule::Only(m) => m == n,
            Rule::Nobody => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of member `me` of `n` (ids 0..n, so peer index = id, minus one above `me`).
    fn plan(overlay: Overlay, me: usize, n: usize) -> Plan {
        Plan::new(overlay, me, n - 1)
    }

    /// `targets` as member ids.
    fn targets(plan: &Plan, me: usize, from: Option<usize>) -> Vec<usize> {
        let from = from.map_or(Source::Local, |m| Source::Peer(if m < me { m } else { m - 1 }));
        plan.targets(from).map(|p| if p < me { p } else { p + 1 }).collect()
    }

    #[test]
    fn star_leaves_push_to_the_hub_and_the_hub_relays_to_everyone_else() {
        let hub = plan(Overlay::Star, 0, 4);
        let leaf = plan(Overlay::Star, 2, 4);
        assert!(hub.relays() && !leaf.relays());
        assert_eq!(targets(&leaf, 2, None), [0]);
        assert_eq!(targets(&leaf, 2, Some(3)), [0], "news from another leaf goes to the hub");
        assert!(targets(&leaf, 2, Some(0)).is_empty());
        assert_eq!(targets(&hub, 0, Some(2)), [1, 3]);
        assert_eq!(targets(&hub, 0, None), [1, 2, 3]);
        assert_eq!((leaf.upstream(), hub.upstream()), (Some(0), None));
    }

    #[test]
    fn tree_edges_are_symmetric_and_relays_skip_the_source() {
        let n = 10;
        let plans: Vec<Plan> = (0..n).map(|i| plan(Overlay::Tree(3), i, n)).collect();
        let neighbours = |i: usize| targets(&plans[i], i, None);
        let mut edges = 0;
        for (i, plan) in plans.iter().enumerate() {
            for q in neighbours(i) {
                assert!(neighbours(q).contains(&i), "{i} -> {q} is not symmetric");
                assert!(!targets(plan, i, Some(q)).contains(&q));
                edges += 1;
            }
        }
        assert_eq!(edges, 2 * (n - 1), "a tree has N-1 edges");
        assert_eq!(plans[0].upstream(), None, "the root has no parent");
        assert_eq!(plans[7].upstream(), Some(2), "node 7's parent is (7-1)/3");
    }

    #[test]
    fn full_pushes_only_local_updates_and_none_pushes_nothing() {
        let full = plan(Overlay::Full, 1, 3);
        assert_eq!(targets(&full, 1, None), [0, 2]);
        assert!(targets(&full, 1, Some(0)).is_empty());
        assert!(targets(&plan(Overlay::None, 1, 3), 1, None).is_empty());
    }
}
