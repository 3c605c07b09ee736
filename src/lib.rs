//! # osmosis
//!
//! Delta-state CRDTs for sets and counters, a push-pull anti-entropy engine, and a node that speaks Jepsen
//! Maelstrom's protocol. This facade (the package `osmosis-sync`: `osmosis` on crates.io is an unrelated crate)
//! re-exports the member crates so that users depend on one package, and builds the `osmosis` Maelstrom node
//! binary (`cargo install osmosis-sync`, or `cargo install --path .` in a checkout):
//!
//! - [`crdt`] (`osmosis-crdt`): grow-only sets (roaring-backed for `u64`, ordered for any value, any JSON value),
//!   G-Counter and PN-Counter, each delta-state with a compact digest.
//! - [`antientropy`] (`osmosis-antientropy`): the sans-IO push-pull anti-entropy engine that keeps replicas of
//!   those types in sync; its design, convergence argument and costs are in [`antientropy::algorithm`].
//! - [`node`] (`osmosis-node`): the Maelstrom protocol, the sans-IO node handler and the binary's CLI and driver.
//!
//! The engine over a real network: `examples/udp_loopback.rs` in the repository (three replicas over tokio UDP on
//! loopback, `cargo run --example udp_loopback`), and `osmosisd` (package `osmosis-daemon`), which replicates
//! named sets and counters between hosts. The Maelstrom-compatible test bench lives in the separate
//! `osmosis-harness` package (binaries `osmosis-harness` and `osmosis-reference-node`), because it is a tool that
//! tests any node, not a library the node needs; `osmosis-sim` runs the osmosis node in the harness's virtual time.

pub use osmosis_antientropy as antientropy;
pub use osmosis_crdt as crdt;
pub use osmosis_node as node;

/// The README's code blocks, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
