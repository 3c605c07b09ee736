//! # osmosis-daemon
//!
//! `osmosisd`: the osmosis anti-entropy engine between real hosts. A daemon holds any number of named grow-only
//! sets (of JSON values) and PN-counters, created on first use, and replicates them to every other member of its
//! cluster over UDP; clients talk to it over HTTP/JSON.
//!
//! ## Design
//!
//! - **One engine over a map of CRDTs** ([`objects::Objects`]): every object of a daemon travels in the same
//!   pushes and rounds, so messages do not multiply with the number of objects (measured: `benches/README`
//!   figures in the crate's README).
//! - **UDP datagrams**, each authenticated by a BLAKE3 MAC under the cluster key ([`wire`]). The engine needs no
//!   reliable transport (nothing is acknowledged or retransmitted; a lost message is repaired by the next round),
//!   so UDP costs one datagram per engine message and no connection state; the engine cuts its messages to the
//!   datagram budget.
//! - **Membership from SWIM** (the `foca` crate, sans-IO like the engine; [`membership`]): nodes join through seed
//!   addresses, leave, are suspected and declared down; the engine's member set follows ([`replica`]).
//! - **Persistence** ([`storage`]): a snapshot plus an append-only log of local deltas under a data directory;
//!   with `--fsync always` a write is acknowledged only once it is on stable storage.
//! - **HTTP/JSON API** ([`http`]) with `GET /metrics` in Prometheus text format ([`metrics`]) and `GET /health`.
//!
//! The core ([`core::Core`]) is sans-IO: the tokio shell in [`server`] owns the sockets, the clock, the log
//! writer and the HTTP server, and feeds the core.
//!
//! ## Modules
//!
//! [`config`] (flags and file), [`objects`], [`wire`], [`membership`], [`replica`], [`core`], [`storage`],
//! [`record`], [`snapshot`], [`mirror`], [`http`], [`metrics`], [`server`].

pub mod config;
pub mod core;
pub mod http;
pub mod membership;
pub mod metrics;
pub mod mirror;
pub mod objects;
mod objects_keys;
pub mod record;
pub mod replica;
pub mod server;
pub mod snapshot;
pub mod storage;
pub mod wire;
