//! # osmosis-node
//!
//! A [Jepsen Maelstrom](https://github.com/jepsen-io/maelstrom) node on osmosis CRDTs: one replica per node, kept
//! in sync by the [`osmosis_antientropy`] engine, served over Maelstrom's protocol (newline-delimited JSON on
//! stdin/stdout). The binary is `osmosis` (root package); see `node/README.md` for usage, workloads and knobs.
//!
//! | workload | requests | replica |
//! |---|---|---|
//! | `broadcast` (default) | `broadcast {message}`, `read` → `{messages}`, `topology` | [`osmosis_crdt::JsonSet`] |
//! | `g-set` | `add {element}`, `read` → `{value: [...]}` | [`osmosis_crdt::JsonSet`] |
//! | `g-counter` | `add {delta ≥ 0}`, `read` → `{value}` | [`osmosis_crdt::GCounter`] |
//! | `pn-counter` | `add {delta}`, `read` → `{value}` | [`osmosis_crdt::PNCounter`] |
//! | `echo` | `echo {echo}` | none |
//! | `unique-ids` | `generate` → `{id}` | none |
//!
//! Every workload also answers `init`, `echo`, `generate` and `topology`. Reads are local.
//!
//! Modules, from the wire inwards:
//! - [`protocol`]: the Maelstrom wire format as types — envelope, requests, replies, [`protocol::ErrorCode`] —
//!   and strict, panic-free decoding.
//! - [`handler`]: the sans-IO [`handler::Node`] (`handle_line`, `on_tick`, `next_deadline`, `take_output`): no
//!   clock, no I/O, seeded, so simulators and golden-file tests drive it exactly as the binary does.
//! - [`cli`]: the command line (clap; [`cli::default_config`] holds each workload's engine defaults) and the tokio
//!   driver (stdin reader task, deadline timer, one buffered stdout).
//!
//! Tests: unit tests beside each module (`*_tests.rs`), a proptest feeding arbitrary lines to the handler, and the
//! golden wire files in `node/tests/golden/` (format in `node/tests/golden.rs`).

pub mod cli;
pub mod handler;
mod json;
pub mod protocol;
