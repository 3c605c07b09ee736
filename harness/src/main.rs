//! `osmosis-harness`: runs a Maelstrom node binary the way `maelstrom test` does and scores it the same way.
//! Exit codes follow Maelstrom (spec §1.3): 0 valid, 1 invalid, 2 unknown, 254 bad arguments, 255 crash.
//! `bench` runs a file of named scenarios the same way and prints one table (see `osmosis_harness::bench`).
//! With `--sim` it runs the harness's own reference node in process, in virtual time.

fn main() -> std::process::ExitCode {
    osmosis_harness::cli::main(osmosis_harness::run::sim::SimNodes::builtin())
}
