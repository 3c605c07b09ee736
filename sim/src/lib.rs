//! # osmosis-sim
//!
//! The osmosis Maelstrom node ([`osmosis_node::handler::Node`]) as an in-process node for the harness's virtual
//! time ([`osmosis_harness::run::sim`]), and the `osmosis-sim` binary: `osmosis-harness`'s whole command line with
//! this node built in, so `osmosis-sim test --sim --bin target/release/osmosis …` runs the same scenario as
//! `osmosis-harness test --bin target/release/osmosis …`, in process and in virtual time.
//!
//! Why a crate of its own: the harness tests any Maelstrom binary and knows nothing of the node (its library and
//! binary do not depend on it, so neither rebuilds nor changes when the node does); the node knows nothing of the
//! harness. This thin crate is the only place that knows both, and it uses only the node's public sans-IO API
//! (`Node::new`, `handle_line`, `on_tick`, `next_deadline`, `take_output`) and its command-line parser, so the
//! in-process node takes exactly the arguments the binary takes.

use std::sync::Arc;
use std::time::Duration;

use osmosis_harness::history::Nanos;
use osmosis_harness::run::sim::{SimFactory, SimNode, SimNodes};
use osmosis_node::handler::Node;

/// An osmosis node in process.
#[derive(Debug)]
pub struct OsmosisNode(Node);

impl SimNode for OsmosisNode {
    fn handle_line(&mut self, now: Duration, line: &str) {
        self.0.handle_line(now, line);
    }

    fn on_tick(&mut self, now: Duration) {
        self.0.on_tick(now);
    }

    fn next_deadline(&self) -> Option<Duration> {
        self.0.next_deadline()
    }

    fn take_output(&mut self) -> Vec<String> {
        self.0.take_output()
    }
}

/// Makes [`OsmosisNode`]s from the `osmosis` binary's arguments: `--sim --bin …/osmosis`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsmosisFactory;

impl SimFactory for OsmosisFactory {
    fn name(&self) -> &str {
        "osmosis"
    }

    fn spawn(&self, args: &[String], started: Nanos) -> Result<Box<dyn SimNode>, String> {
        let argv = std::iter::once("osmosis".to_owned()).chain(args.iter().cloned());
        let settings = osmosis_node::cli::settings_from_args(argv).map_err(|e| e.to_string().trim().to_owned())?;
        let settings = osmosis_node::handler::Settings { incarnation: sim_incarnation(started), ..settings };
        Ok(Box::new(OsmosisNode(Node::new(settings).map_err(|e| e.to_string())?)))
    }
}

/// The incarnation of a node started at virtual time `started`: what the binary takes from the wall clock at its
/// start (microseconds since the Unix epoch, [`osmosis_node::cli::incarnation`]), on a fixed epoch
/// (2025-12-01T00:00:00Z) instead, so that a run repeats to the byte (counter entries and unique ids embed it,
/// round numbers start from it) while a restarted node still differs from its earlier life, as a process does.
fn sim_incarnation(started: Nanos) -> u64 {
    const EPOCH_US: u64 = 1_764_547_200_000_000;
    EPOCH_US + started / 1_000
}

/// The in-process nodes of `osmosis-sim`: the harness's own and the osmosis node.
pub fn sim_nodes() -> SimNodes {
    SimNodes::builtin().with(Arc::new(OsmosisFactory))
}
