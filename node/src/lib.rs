//! # osmosis-node
//!
//! A Jepsen Maelstrom node on osmosis CRDTs (to be documented).

pub mod cli;
pub mod handler;
pub mod protocol;
