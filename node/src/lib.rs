//! # osmosis-node (being written)

pub mod cli;
