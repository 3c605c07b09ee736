//! Topologies sent to broadcast nodes (spec §3.6).
//!
//! Every construction is a pure function of the node list in test order; neighbour lists keep Maelstrom's order
//! (it is visible on the wire in the `topology` message).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// `--topology`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopologyKind {
    /// `grid` (default)
    #[default]
    Grid,
    /// `line`
    Line,
    /// `total`
    Total,
    /// `tree` (= `tree2`), `tree3`, `tree4`: the branching factor.
    Tree(usize),
}

impl TopologyKind {
    /// Every name `--topology` accepts, in Maelstrom's order.
    pub const NAMES: [&'static str; 7] = ["grid", "line", "total", "tree", "tree2", "tree3", "tree4"];

    /// Maelstrom's canonical name (`tree` is reported as `tree2`).
    pub fn name(self) -> String {
        match self {
            TopologyKind::Grid => "grid".to_owned(),
            TopologyKind::Line => "line".to_owned(),
            TopologyKind::Total => "total".to_owned(),
            TopologyKind::Tree(b) => format!("tree{b}"),
        }
    }
}

impl fmt::Display for TopologyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for TopologyKind {
    type Err = String;

    /// Parses one of `grid, line, total, tree, tree2, tree3, tree4`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "grid" => Ok(TopologyKind::Grid),
            "line" => Ok(TopologyKind::Line),
            "total" => Ok(TopologyKind::Total),
            "tree" | "tree2" => Ok(TopologyKind::Tree(2)),
            "tree3" => Ok(TopologyKind::Tree(3)),
            "tree4" => Ok(TopologyKind::Tree(4)),
            _ => Err(format!("unknown topology {s:?}; expected one of {}", TopologyKind::NAMES.join(", "))),
        }
    }
}

/// node → neighbours, in Maelstrom's neighbour order.
pub type Topology = BTreeMap<String, Vec<String>>;

/// Builds the topology over `nodes` (test order).
///
/// `Tree(0)` (not reachable from the CLI) is treated as `Tree(1)`, a line rooted at the first node.
pub fn build(kind: TopologyKind, nodes: &[String]) -> Topology {
    match kind {
        TopologyKind::Grid => grid(nodes),
        TopologyKind::Line => line(nodes),
        TopologyKind::Total => total(nodes),
        TopologyKind::Tree(b) => tree(b.max(1), nodes),
    }
}

/// Number of undirected edges.
///
/// Counts each unordered pair `{a, b}` with `b` in `a`'s list or `a` in `b`'s list once (every topology built here
/// is symmetric, so that is half the sum of the list lengths). Self-loops are not edges.
pub fn edge_count(topology: &Topology) -> usize {
    let mut pairs = std::collections::BTreeSet::new();
    for (a, ns) in topology {
        for b in ns {
            if a != b {
                let pair = if a < b { (a.as_str(), b.as_str()) } else { (b.as_str(), a.as_str()) };
                pairs.insert(pair);
            }
        }
    }
    pairs.len()
}

/// spec §3.6 grid: `side = ceil(sqrt(N))`, row-major; neighbours below, above, right, left.
fn grid(nodes: &[String]) -> Topology {
    let n = nodes.len();
    let side = ceil_sqrt(n);
    let at = |i: isize, j: isize| -> Option<&String> {
        if i < 0 || j < 0 || j >= side as isize {
            return None;
        }
        let idx = i as usize * side + j as usize;
        nodes.get(idx)
    };
    let mut topo = Topology::new();
    for (idx, node) in nodes.iter().enumerate() {
        let (i, j) = ((idx / side) as isize, (idx % side) as isize);
        let ns = [at(i + 1, j), at(i - 1, j), at(i, j + 1), at(i, j - 1)];
        topo.insert(node.clone(), ns.into_iter().flatten().cloned().collect());
    }
    topo
}

/// The smallest `s` with `s * s >= n` (Maelstrom: `Math/ceil (Math/sqrt n)`; exact in integers here).
fn ceil_sqrt(n: usize) -> usize {
    let mut s = (n as f64).sqrt() as usize;
    while s * s < n {
        s += 1;
    }
    while s > 0 && (s - 1) * (s - 1) >= n {
        s -= 1;
    }
    s
}

/// spec §3.6 line: first → [second], last → [second-to-last], middle k → [k-1, k+1]; `N < 2` → empty map.
fn line(nodes: &[String]) -> Topology {
    let n = nodes.len();
    if n < 2 {
        return Topology::new();
    }
    nodes
        .iter()
        .enumerate()
        .map(|(k, node)| {
            let ns = match k {
                0 => vec![nodes[1].clone()],
                k if k == n - 1 => vec![nodes[n - 2].clone()],
                k => vec![nodes[k - 1].clone(), nodes[k + 1].clone()],
            };
            (node.clone(), ns)
        })
        .collect()
}

/// spec §3.6 total: every node → all others in test order.
fn total(nodes: &[String]) -> Topology {
    nodes.iter().map(|node| (node.clone(), nodes.iter().filter(|o| *o != node).cloned().collect())).collect()
}

/// spec §3.6 treeB: heap layout; neighbours = `[parent]` then children `B·g+1 … B·g+B`.
fn tree(b: usize, nodes: &[String]) -> Topology {
    let n = nodes.len();
    nodes
        .iter()
        .enumerate()
        .map(|(g, node)| {
            let mut ns = Vec::with_capacity(b + 1);
            if g > 0 {
                ns.push(nodes[(g - 1) / b].clone());
            }
            let first = b.saturating_mul(g).saturating_add(1);
            ns.extend((first..first.saturating_add(b)).take_while(|&c| c < n).map(|c| nodes[c].clone()));
            (node.clone(), ns)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("{prefix}{i}")).collect()
    }

    fn t(pairs: &[(&str, &[&str])]) -> Topology {
        pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn default_five_node_grid_matches_the_docs() {
        let topo = build(TopologyKind::Grid, &names("n", 1..6));
        let want = t(&[
            ("n1", &["n4", "n2"]),
            ("n2", &["n5", "n3", "n1"]),
            ("n3", &["n2"]),
            ("n4", &["n1", "n5"]),
            ("n5", &["n2", "n4"]),
        ]);
        assert_eq!(topo, want);
        assert_eq!(edge_count(&topo), 5);
    }

    #[test]
    fn twenty_five_node_grid_is_five_by_five_with_forty_edges() {
        let topo = build(TopologyKind::Grid, &names("n", 0..25));
        assert_eq!(edge_count(&topo), 40);
        // centre node 12 = (2,2): below 17, above 7, right 13, left 11
        assert_eq!(topo["n12"], ["n17", "n7", "n13", "n11"]);
        assert_eq!(topo["n0"], ["n5", "n1"]);
        assert_eq!(topo["n24"], ["n19", "n23"]);
    }

    #[test]
    fn five_node_trees_match_the_spec_examples() {
        let nodes = names("n", 1..6);
        let tree2 =
            t(&[("n1", &["n2", "n3"]), ("n2", &["n1", "n4", "n5"]), ("n3", &["n1"]), ("n4", &["n2"]), ("n5", &["n2"])]);
        assert_eq!(build(TopologyKind::Tree(2), &nodes), tree2);
        assert_eq!("tree".parse::<TopologyKind>().map(|k| build(k, &nodes)), Ok(tree2));
        let tree4 =
            t(&[("n1", &["n2", "n3", "n4", "n5"]), ("n2", &["n1"]), ("n3", &["n1"]), ("n4", &["n1"]), ("n5", &["n1"])]);
        assert_eq!(build(TopologyKind::Tree(4), &nodes), tree4);
    }

    #[test]
    fn single_node_line_is_an_empty_map_but_single_node_tree_and_grid_have_an_entry() {
        let one = names("n", 0..1);
        assert!(build(TopologyKind::Line, &one).is_empty());
        assert!(build(TopologyKind::Line, &[]).is_empty());
        assert_eq!(build(TopologyKind::Tree(2), &one), t(&[("n0", &[])]));
        assert_eq!(build(TopologyKind::Grid, &one), t(&[("n0", &[])]));
        assert_eq!(build(TopologyKind::Total, &one), t(&[("n0", &[])]));
    }

    #[test]
    fn line_links_each_node_to_its_predecessor_then_successor() {
        let topo = build(TopologyKind::Line, &names("n", 1..5));
        assert_eq!(topo, t(&[("n1", &["n2"]), ("n2", &["n1", "n3"]), ("n3", &["n2", "n4"]), ("n4", &["n3"])]));
    }

    #[test]
    fn total_lists_every_other_node_in_test_order() {
        let topo = build(TopologyKind::Total, &names("n", 1..4));
        assert_eq!(topo, t(&[("n1", &["n2", "n3"]), ("n2", &["n1", "n3"]), ("n3", &["n1", "n2"])]));
    }

    #[test]
    fn names_parse_and_unknown_names_are_refused() {
        for name in TopologyKind::NAMES {
            let k: TopologyKind = name.parse().unwrap();
            assert_eq!(k.name().parse::<TopologyKind>(), Ok(k));
        }
        assert_eq!("tree3".parse::<TopologyKind>(), Ok(TopologyKind::Tree(3)));
        assert!("tree5".parse::<TopologyKind>().unwrap_err().contains("grid, line"));
    }

    #[test]
    fn ceil_sqrt_is_exact_at_perfect_squares() {
        for n in 0..2000usize {
            let s = ceil_sqrt(n);
            assert!(s * s >= n && (s == 0 || (s - 1) * (s - 1) < n), "n={n} s={s}");
        }
    }

    fn connected(topo: &Topology) -> bool {
        let Some(start) = topo.keys().next() else {
            return true;
        };
        let mut seen = BTreeSet::from([start.as_str()]);
        let mut stack = vec![start.as_str()];
        while let Some(a) = stack.pop() {
            for b in &topo[a] {
                if seen.insert(b.as_str()) {
                    stack.push(b.as_str());
                }
            }
        }
        seen.len() == topo.len()
    }

    fn kind() -> impl Strategy<Value = TopologyKind> {
        prop_oneof![
            Just(TopologyKind::Grid),
            Just(TopologyKind::Line),
            Just(TopologyKind::Total),
            (2usize..=4).prop_map(TopologyKind::Tree),
        ]
    }

    proptest! {
        #[test]
        fn every_topology_is_symmetric_loop_free_complete_and_connected(kind in kind(), n in 0usize..60) {
            let nodes = names("n", 0..n);
            let topo = build(kind, &nodes);
            if kind == TopologyKind::Line && n < 2 {
                prop_assert!(topo.is_empty());
            } else {
                prop_assert_eq!(topo.keys().cloned().collect::<BTreeSet<_>>(), nodes.iter().cloned().collect());
            }
            for (a, ns) in &topo {
                prop_assert!(!ns.contains(a), "self-loop at {}", a);
                prop_assert_eq!(ns.iter().collect::<BTreeSet<_>>().len(), ns.len(), "duplicate neighbour of {}", a);
                for b in ns {
                    prop_assert!(topo[b].contains(a), "{} → {} but not back", a, b);
                }
            }
            prop_assert!(connected(&topo));
            let want = match kind {
                TopologyKind::Line | TopologyKind::Tree(_) => n.saturating_sub(1),
                TopologyKind::Total => n * n.saturating_sub(1) / 2,
                TopologyKind::Grid => edge_count(&topo),
            };
            prop_assert_eq!(edge_count(&topo), want);
            prop_assert_eq!(edge_count(&topo) * 2, topo.values().map(Vec::len).sum::<usize>());
        }
    }
}
