//! `osmosis-sim`: `osmosis-harness` with the osmosis node built in for `--sim` (see the `osmosis_sim` docs).

fn main() -> std::process::ExitCode {
    osmosis_harness::cli::main(osmosis_sim::sim_nodes())
}
