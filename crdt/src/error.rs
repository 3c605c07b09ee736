//! Typed errors of the CRDT mutators.

/// A counter mutation would overflow a replica's `u64` entry. The counter is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("counter overflow: entry {current} + {add} exceeds u64::MAX (state unchanged)")]
pub struct CounterOverflow {
    /// The replica's entry before the failed mutation.
    pub current: u64,
    /// The amount that could not be added.
    pub add: u64,
}

/// A read does not fit the requested integer type. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("counter value {value} does not fit in {target}")]
pub struct ReadOverflow {
    /// The exact value.
    pub value: i128,
    /// The type it did not fit.
    pub target: &'static str,
}
