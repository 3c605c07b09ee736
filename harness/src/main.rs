//! `osmosis-harness`: command-line entry point.
fn main() {}
