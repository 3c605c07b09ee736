//! # osmosis
//!
//! Delta-state CRDTs for sets and counters, a push-pull anti-entropy engine, and a node that speaks Jepsen
//! Maelstrom's protocol. This facade re-exports the member crates so that users depend on one package:
//!
//! - [`crdt`]: grow-only sets (roaring-backed for `u64`, ordered for any value), G-Counter and PN-Counter, each
//!   delta-state with a compact digest.
//!
//! The Maelstrom-compatible test bench lives in the separate `osmosis-harness` package (binary
//! `osmosis-harness`), because it is a tool that tests any node, not a library the node needs.

pub use osmosis_antientropy as antientropy;
pub use osmosis_crdt as crdt;
pub use osmosis_node as node;

/// The README's code blocks, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
