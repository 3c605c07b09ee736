//! `osmosis-reference-node`: Maelstrom nodes with exactly known message counts, for checking the harness.
fn main() {}
