//! Typed errors of the engine's constructors and parsers. None of them leaves anything half-built: a failed
//! [`crate::Engine::new`] or [`crate::Config::validate`] changes no state.

use std::time::Duration;

/// A knob of [`crate::Config`] out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A window, wait or timeout longer than the longest accepted, [`crate::Config::LONGEST`] (an hour).
    #[error("{knob} of {value:?} is longer than an hour")]
    TooLong {
        /// The knob's name, as in the docs (`relay window`, …).
        knob: &'static str,
        /// Its value.
        value: Duration,
    },
    /// A knob that paces repeated work is zero (`round min`, `gap timeout`).
    #[error("{knob} must be positive")]
    Zero {
        /// The knob's name.
        knob: &'static str,
    },
    /// `round_min` is longer than `round_max`.
    #[error("round min {min:?} is longer than round max {max:?}")]
    RoundMinAboveMax {
        /// `round_min`.
        min: Duration,
        /// `round_max`.
        max: Duration,
    },
    /// `fanout` is zero.
    #[error("fanout must be at least 1")]
    ZeroFanout,
    /// `star_limit` is zero.
    #[error("star limit must be at least 1")]
    ZeroStarLimit,
    /// `max_message_bytes` is out of range.
    #[error(
        "a message budget of {bytes} bytes is outside {}..={}",
        crate::Config::SMALLEST_MESSAGE,
        crate::Config::LARGEST_MESSAGE
    )]
    MessageBudget {
        /// The budget given.
        bytes: usize,
    },
}

/// Why [`crate::Engine::new`] refused to build an engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The config is out of range.
    #[error("bad config: {0}")]
    Config(#[from] ConfigError),
}

/// A text that names no [`crate::Overlay`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverlayParseError {
    /// Not one of the overlay names.
    #[error("unknown overlay {0:?}: expected auto, star, full, tree:K or none")]
    Unknown(String),
    /// `tree:K` with a K that is not a number in `1..=1024`.
    #[error("bad tree arity in {0:?}: expected tree:K with K in 1..=1024")]
    BadArity(String),
}
