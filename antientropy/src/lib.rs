//! # osmosis-antientropy
//!
//! A sans-IO push-pull anti-entropy engine for delta-state CRDTs ([`osmosis_crdt::DeltaCrdt`]). Fresh deltas
//! travel at once (or after a short batching window) along an eager [`Overlay`]; push-pull rounds, the CRDT's own
//! reconciliation ([`osmosis_crdt::Reconcile`]) carried between two peers, repair whatever the eager path lost.
//! Merges are idempotent, so there are no retry queues and no acks: a lost, duplicated or reordered message is
//! repaired by a later round. The protocol, its convergence argument and its costs are written down in
//! [`algorithm`] (the crate's `ALGORITHM.md`).
//!
//! The engine never reads a clock, never does I/O and draws randomness from a seed: callers pass the time in,
//! feed it messages and drain its outbox, so the same engine runs under the node's tokio driver and in
//! deterministic simulations (see the tests).
//!
//! ```
//! use std::time::Duration;
//! use osmosis_antientropy::{Config, Engine};
//! use osmosis_crdt::GSet;
//!
//! let nodes = ["a".to_string(), "b".to_string()];
//! let t0 = Duration::ZERO;
//! let mut a: Engine<GSet> = Engine::new("a", nodes.clone(), Config::default(), 1, t0).unwrap();
//! let mut b: Engine<GSet> = Engine::new("b", nodes, Config::default(), 2, t0).unwrap();
//! a.update(t0, |s| s.insert(7)); // "a" is the star's hub: the push waits for its batching window
//! let later = a.next_deadline().unwrap();
//! a.on_tick(later);
//! for (to, msg) in a.take_outbox() {
//!     assert_eq!(to, "b");
//!     b.on_message(later, &"a".to_string(), msg);
//! }
//! assert!(b.state().contains(7));
//! ```
//!
//! Modules: `config` ([`Config`], [`Overlay`]), `overlay` (one node's view of the eager graph), `engine` (the
//! state machine, split into the eager path, the rounds and the round timer), [`message`] (the wire enum),
//! [`error`] (typed errors), `id` ([`NodeId`]), [`sim`] (a deterministic simulated network), [`algorithm`] (the
//! design, as prose).
//!
//! The engine over a real network: the workspace's `examples/udp_loopback.rs` (three replicas over tokio UDP on
//! loopback) and the `osmosis-daemon` crate.

mod config;
mod engine;
pub mod error;
mod id;
mod membership;
pub mod message;
mod overlay;
pub mod sim;

pub use config::{Config, Overlay};
pub use engine::{Engine, Replica, Stats};
pub use error::{ConfigError, EngineError, OverlayParseError};
pub use id::NodeId;
pub use message::{Message, Report};

#[doc = include_str!("../ALGORITHM.md")]
pub mod algorithm {}

/// The README's code blocks, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
