//! Topologies sent to broadcast nodes (spec §3.6). Owner: models helper. Interface fixed; bodies to fill.

use std::collections::BTreeMap;

/// `--topology`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopologyKind {
    /// `grid` (default)
    Grid,
    /// `line`
    Line,
    /// `total`
    Total,
    /// `tree` (= `tree2`), `tree3`, `tree4`: the branching factor.
    Tree(usize),
}

/// node → neighbours, in Maelstrom's neighbour order.
pub type Topology = BTreeMap<String, Vec<String>>;

/// Builds the topology over `nodes` (test order).
pub fn build(kind: TopologyKind, nodes: &[String]) -> Topology {
    todo!("{kind:?} {nodes:?}")
}

/// Number of undirected edges.
pub fn edge_count(topology: &Topology) -> usize {
    todo!("{topology:?}")
}
