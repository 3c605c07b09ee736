//! # osmosis-netlab
//!
//! Multi-host tests of `osmosisd` on one machine: each host a network namespace with its own daemon, joined by a
//! bridge, with delay (a user-space relay: the kernel here has no netem) and loss (nft) on the daemons' UDP,
//! partitions as `nft` drops, and `kill -9` with a
//! restart from the data directory ([`hosts`]). The workloads are Maelstrom's (broadcast, g-set, g-counter,
//! pn-counter), scheduled by the harness's generator, sent over HTTP, judged by the harness's RPC rules and scored
//! by its checkers ([`driver`]): the same verdicts as `osmosis-harness test`, on real sockets.
//!
//! Without root, [`hosts::Mode::Loopback`] runs the daemons on 127.0.0.1 ports (no delay, loss or partitions).

pub mod driver;
pub mod hosts;
pub mod probe;
pub mod relay;

use osmosis_harness::checker::Edn;

pub use driver::{DriveConfig, Fault, Outcome, drive};
pub use hosts::{Lab, LabConfig, Mode};

/// One line of figures for a run: validity, lost elements, messages per op, stable latencies.
pub fn summary_line(label: &str, o: &Outcome) -> String {
    let r = &o.results;
    let lost = r.workload_edn().get("lost-count").and_then(Edn::as_int).map_or("-".to_string(), |n| n.to_string());
    let mut stable = r.stable_latencies().to_vec();
    stable.sort_unstable();
    let q = |p: f64| {
        if stable.is_empty() {
            "-".to_string()
        } else {
            let i = ((stable.len() as f64 - 1.0) * p).round() as usize;
            stable[i].to_string()
        }
    };
    format!(
        "| {label} | {:?} | {lost} | {:.2} | {:.2} | {} | {} | {} | {} |",
        r.valid(),
        o.engine_msgs_per_op(),
        o.swim_msgs_per_op(),
        q(0.5),
        q(0.95),
        q(1.0),
        o.ops
    )
}

/// The header of [`summary_line`]'s table.
pub const SUMMARY_HEADER: &str = "| run | valid | lost | engine msgs/op | swim msgs/op | stable p50 ms | stable p95 ms | stable max ms | ops |\n|---|---|---:|---:|---:|---:|---:|---:|---:|";
