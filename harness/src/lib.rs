//! # osmosis-harness
//!
//! A Maelstrom-compatible test bench. It runs any Maelstrom node binary the way `maelstrom test` does — one
//! process per node, newline-delimited JSON on stdin/stdout, a simulated network with per-receiver deadline
//! queues, Jepsen's client and generator semantics, the partition nemesis — and scores the run with Maelstrom's
//! checkers, writing `results.edn`/`results.json` with Maelstrom's key names. The behaviour it reproduces is
//! written down in `shared/maelstrom-spec.md`; comments cite its sections as `spec §N`.
//!
//! ## Design
//!
//! Everything that decides something is sans-IO and passed the time: the network model ([`net`]), the operation
//! schedule ([`generator`]), the nemesis ([`nemesis`]), the topologies ([`topology`]), the RPC rules ([`rpc`])
//! and the checkers ([`checker`]). Randomness comes from one seed (`--seed`, printed at start), split into
//! independent streams. The [`run`] module is the only one that reads a clock or touches processes: an event loop
//! on one thread owns all state, tokio tasks move bytes between it and the nodes.
//!
//! ## Modules
//!
//! - [`cli`]: flags, defaults and validation (spec §1).
//! - [`run`]: the driver (spec §2, §3): spawn, init, topology, the main loop, teardown; the store and journal.
//! - [`net`]: the simulated network (spec §4) and its `:net` counters.
//! - [`generator`]: stagger, mix, thread choice, time limit, phases, final reads (spec §6, §7).
//! - [`nemesis`]: grudges for the partition nemesis (spec §8).
//! - [`topology`], [`latency`]: topologies (spec §3.6) and latency distributions (spec §4.2).
//! - [`rpc`]: request bodies, closed reply schemas, error codes, ok/fail/info (spec §3.4, §5.3).
//! - [`service`]: the built-in `lin-kv`, `seq-kv`, `lww-kv`, `lin-tso` services (spec §3.5).
//! - [`checker`]: the checkers and the results map (spec §9, §10).
//! - [`history`], [`workload`], [`diagnostic`]: shared vocabulary.

pub mod checker;
pub mod cli;
pub mod diagnostic;
pub mod generator;
pub mod history;
pub mod latency;
pub mod nemesis;
pub mod net;
pub mod rpc;
pub mod run;
pub mod service;
pub mod topology;
pub mod workload;
