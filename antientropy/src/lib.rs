//! # osmosis-antientropy
//!
//! A sans-IO push-pull anti-entropy engine for delta-state CRDTs ([`osmosis_crdt::DeltaCrdt`]). Fresh deltas
//! travel at once (or after a short batching window) along an eager [`Overlay`]; push-pull rounds of digests and
//! deltas repair whatever the eager path lost. Merges are idempotent, so there are no retry queues and no acks: a
//! lost, duplicated or reordered message is repaired by a later round. The protocol, its convergence argument and
//! its costs are written down in `antientropy/ALGORITHM.md`.
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
//! let nodes = vec!["a".to_string(), "b".to_string()];
//! let t0 = Duration::ZERO;
//! let mut a: Engine<GSet> = Engine::new("a", &nodes, Config::default(), 1, t0).unwrap();
//! let mut b: Engine<GSet> = Engine::new("b", &nodes, Config::default(), 2, t0).unwrap();
//! a.apply_local(t0, GSet::new().insert(7)); // "a" is the star's hub: the push waits for its batching window
//! let later = a.next_deadline().unwrap();
//! a.on_tick(later);
//! for (to, msg) in a.take_outbox() {
//!     assert_eq!(to, "b");
//!     b.on_message(later, "a", msg);
//! }
//! assert!(b.state().contains(7));
//! ```

mod config;
mod engine;
mod message;
pub mod sim;

pub use config::{Config, Overlay};
pub use engine::{Engine, Stats};
pub use message::Message;
