//! # osmosis-harness
//!
//! A Maelstrom-compatible test bench (work in progress).

pub mod checker;
pub mod diagnostic;
pub mod generator;
pub mod history;
pub mod latency;
pub mod nemesis;
pub mod net;
pub mod plot;
pub mod results;
pub mod topology;
pub mod workload;
