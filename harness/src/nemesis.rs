//! The partition nemesis's grudges (spec §8). Owner: models helper. Interface fixed; bodies to fill.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;

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

/// Builds the grudge of one kind over the server nodes.
pub fn grudge<R: Rng + ?Sized>(kind: GrudgeKind, nodes: &[String], rng: &mut R) -> Grudge {
    todo!("{kind:?} {nodes:?} {}", rng.random::<u8>())
}

/// Draws a kind uniformly and builds its grudge (what each `start-partition` does).
pub fn random_grudge<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> (GrudgeKind, Grudge) {
    todo!("{nodes:?} {}", rng.random::<u8>())
}
