//! One node's view of the eager overlay: its upstream (parent), its children, and whom it pushes a delta to given
//! where the delta came from (ALGORITHM.md §1, §4).
//!
//! Every tree-shaped overlay (`star`, `tree:K`, `auto`) is a K-ary heap over the members in id order — position
//! `x`'s parent is `(x − 1) / K` — with the suspected members routed around: a node whose parent is suspected
//! climbs to the nearest live ancestor, and when the climb passes the root, the first live member in id order takes
//! the root's place. So a suspicion changes the parents of the suspect's children only (or, for the root, of the
//! nodes that climb past it), and every node that agrees on who is suspected derives the same tree. The star is the
//! heap with `K = N − 1`.

use crate::config::Overlay;

/// Where a delta came from: this node's own update, or the member at a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A local update.
    Local,
    /// The member at this position.
    Peer(usize),
}

/// The overlay's graph, as one node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A heap of this arity over the members.
    Heap(usize),
    /// Every node pushes its own updates to every other; nothing is relayed.
    Full,
    /// No eager path.
    Nothing,
}

/// One node's view of the overlay (member positions, this node included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    shape: Shape,
    me: usize,
    parent: Option<usize>,
    /// This node's children in the heap (after routing around suspects), ascending.
    children: Vec<usize>,
    /// The suspected members this node routes around to reach its parent, ascending: what it reports on its pushes
    /// so that the nodes it now pushes to can route around them too.
    skipped: Vec<usize>,
    /// The children that climb over suspects to reach this node, with those suspects (reported to them).
    child_skips: Vec<(usize, Vec<usize>)>,
    /// `Full` only: every live member but this node.
    everyone: Vec<usize>,
}

impl Plan {
    /// The plan of the member at position `me` of `n`, with `live(x)` telling whether member `x` is not suspected
    /// (`me` always is); `auto` overlays use a star up to `star_limit` members.
    pub(crate) fn new(overlay: Overlay, star_limit: usize, n: usize, me: usize, live: impl Fn(usize) -> bool) -> Plan {
        let shape = match overlay {
            Overlay::Star => Shape::Heap(n.saturating_sub(1).max(1)),
            Overlay::Tree(k) => Shape::Heap(k.max(1)),
            Overlay::Auto if n <= star_limit => Shape::Heap(n.saturating_sub(1).max(1)),
            Overlay::Auto => Shape::Heap(ceil_sqrt(n)),
            Overlay::Full => Shape::Full,
            Overlay::None => Shape::Nothing,
        };
        let live = |x: usize| x == me || live(x);
        let mut plan = Plan {
            shape,
            me,
            parent: None,
            children: Vec::new(),
            skipped: Vec::new(),
            child_skips: Vec::new(),
            everyone: Vec::new(),
        };
        match shape {
            Shape::Heap(k) => {
                let heap = Heap { k, n, root: (0..n).find(|&x| live(x)).unwrap_or(me) };
                (plan.parent, plan.skipped) = heap.climb(me, &live);
                for x in (0..n).filter(|&x| x != me && live(x)) {
                    let (parent, skipped) = heap.climb(x, &live);
                    if parent == Some(me) {
                        plan.children.push(x);
                        if !skipped.is_empty() {
                            plan.child_skips.push((x, skipped));
                        }
                    }
                }
            }
            Shape::Full => plan.everyone = (0..n).filter(|&x| x != me && live(x)).collect(),
            Shape::Nothing => {}
        }
        plan
    }

    /// Whether this node relays other nodes' deltas (it has children, so it batches with the relay window).
    pub(crate) fn relays(&self) -> bool {
        !self.children.is_empty()
    }

    /// The node this one reports to — the star's hub for a leaf, the parent in a tree — which every timed round
    /// includes: it is where everything converges first, so one round with it brings a node up to date.
    pub(crate) fn upstream(&self) -> Option<usize> {
        self.parent
    }

    /// This node's children in the heap, ascending.
    pub(crate) fn children(&self) -> &[usize] {
        &self.children
    }

    /// Whether this node stands in for a suspected root: it has no parent, yet suspects members ahead of it.
    pub(crate) fn stands_in(&self) -> bool {
        self.parent.is_none() && !self.skipped.is_empty()
    }

    /// The suspected members a push to `target` reports: those this node routes around to reach its parent, and
    /// those `target` climbs over to reach this node, ascending.
    pub(crate) fn reports_for(&self, target: usize) -> Vec<usize> {
        let theirs = self.child_skips.iter().find(|(c, _)| *c == target).map(|(_, s)| s.as_slice()).unwrap_or(&[]);
        let mut all: Vec<usize> = self.skipped.iter().chain(theirs).copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Which of the members `sender` reports unreachable concern this node's routing, so that it adopts the
    /// suspicion: its own heap ancestors (it would climb through them to its parent), the sender's heap parent (the
    /// sender climbs over it to reach this node), and, when the report includes the root, every member ahead of the
    /// sender (they were the root's stand-ins before the sender). Suspicions of other members would only move other
    /// nodes' parents, on evidence this node cannot check.
    pub(crate) fn concerning(&self, sender: usize, reported: &[usize]) -> Vec<usize> {
        let Shape::Heap(k) = self.shape else { return Vec::new() };
        let heap = Heap { k, n: usize::MAX, root: 0 };
        let mut ancestors = Vec::new();
        let mut up = heap.parent(self.me);
        while let Some(p) = up {
            ancestors.push(p);
            up = heap.parent(p);
        }
        let root_reported = reported.contains(&0);
        reported
            .iter()
            .copied()
            .filter(|&s| s != self.me)
            .filter(|&s| ancestors.contains(&s) || heap.parent(sender) == Some(s) || (root_reported && s < sender))
            .collect()
    }

    /// The peers a delta that came from `from` goes to: every overlay neighbour of this node (its parent, its
    /// children, and the nodes that chose it as their parent, `adopted`) but `from`, ascending. `Full`: every other
    /// node, for a local update only.
    pub(crate) fn targets(&self, from: Source, adopted: impl Iterator<Item = usize>) -> Vec<usize> {
        let mut t: Vec<usize> = match (self.shape, from) {
            (Shape::Heap(_), _) => {
                self.parent.into_iter().chain(self.children.iter().copied()).chain(adopted).collect()
            }
            (Shape::Full, Source::Local) => self.everyone.clone(),
            _ => Vec::new(),
        };
        t.sort_unstable();
        t.dedup();
        t.retain(|&x| x != self.me && Source::Peer(x) != from);
        t
    }
}

/// A heap of arity `k` over `n` members whose live root is `root`.
struct Heap {
    k: usize,
    n: usize,
    root: usize,
}

impl Heap {
    fn parent(&self, x: usize) -> Option<usize> {
        (x > 0).then(|| (x - 1) / self.k)
    }

    /// `x`'s parent after routing around suspects, and the suspects passed on the way.
    fn climb(&self, x: usize, live: &impl Fn(usize) -> bool) -> (Option<usize>, Vec<usize>) {
        let mut skipped = Vec::new();
        let mut up = self.parent(x);
        while let Some(p) = up {
            if live(p) {
                return (Some(p), skipped);
            }
            skipped.push(p);
            up = self.parent(p);
        }
        if x == self.root {
            return (None, skipped);
        }
        // Past the root: the first live member stands in for it; everyone ahead of it is suspected.
        skipped.extend(0..self.root.min(self.n));
        skipped.sort_unstable();
        skipped.dedup();
        (Some(self.root), skipped)
    }
}

/// The smallest `k` with `k² ≥ n`.
fn ceil_sqrt(n: usize) -> usize {
    let mut k = (n as f64).sqrt() as usize;
    while k.saturating_mul(k) < n {
        k += 1;
    }
    while k > 1 && (k - 1) * (k - 1) >= n {
        k -= 1;
    }
    k.max(1)
}

#[cfg(test)]
#[path = "overlay_tests.rs"]
mod tests;
