//! The engine's knobs and the choice of eager overlay (see ALGORITHM.md, "Knobs").

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{ConfigError, OverlayParseError};

/// The graph fresh deltas travel along before anti-entropy rounds repair what it missed.
///
/// Nodes are ordered by id; every node derives the same overlay from the same members and the same suspicions.
/// Every tree-shaped overlay (`Star`, `Tree`, `Auto`) heals: a node whose parent stops acknowledging its pushes
/// routes around it (ALGORITHM.md §4). `Full` and `None` have nothing to heal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    /// The first node is the hub: every other node pushes its own updates to the hub, the hub relays everything
    /// it learns to every other node. Two hops between any two nodes; the hub batches, so one relay message carries
    /// every update of a window.
    Star,
    /// Every node pushes its own updates straight to every other node; nothing is relayed. One hop, N−1 messages
    /// per batch.
    Full,
    /// A k-ary tree over the ordered nodes: node i's parent is (i−1)/k. Deltas are relayed along tree edges, away
    /// from where they came from.
    Tree(usize),
    /// A star while the cluster has at most [`Config::star_limit`] members, a tree of arity ⌈√N⌉ above (two
    /// levels of relays: no node sends more than about 1/√N of the messages).
    Auto,
    /// No eager path: anti-entropy rounds alone spread updates (slow; for testing the repair path).
    None,
}

impl FromStr for Overlay {
    type Err = OverlayParseError;

    fn from_str(s: &str) -> Result<Self, OverlayParseError> {
        match s {
            "star" => Ok(Overlay::Star),
            "auto" => Ok(Overlay::Auto),
            "full" => Ok(Overlay::Full),
            "none" => Ok(Overlay::None),
            _ => match s.strip_prefix("tree") {
                Some("") => Ok(Overlay::Tree(4)),
                Some(k) => match k.strip_prefix(':').and_then(|k| k.parse::<usize>().ok()) {
                    Some(k) if (1..=1024).contains(&k) => Ok(Overlay::Tree(k)),
                    _ => Err(OverlayParseError::BadArity(s.to_string())),
                },
                None => Err(OverlayParseError::Unknown(s.to_string())),
            },
        }
    }
}

impl fmt::Display for Overlay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overlay::Star => write!(f, "star"),
            Overlay::Auto => write!(f, "auto"),
            Overlay::Full => write!(f, "full"),
            Overlay::Tree(k) => write!(f, "tree:{k}"),
            Overlay::None => write!(f, "none"),
        }
    }
}

/// Everything that tunes an [`crate::Engine`]. The defaults are the ones the node uses for sets (broadcast, g-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The eager overlay.
    pub overlay: Overlay,
    /// How long a node that relays (the star's hub, a tree's inner nodes) collects deltas for a peer before it
    /// sends them in one message. Bounds the extra latency of a relay hop.
    pub relay_window: Duration,
    /// The same for a node that only pushes its own updates (star leaves, tree leaves, every node of `full`).
    pub local_window: Duration,
    /// The first anti-entropy round follows the last change of the replica by this much; each round without news
    /// doubles the wait, up to `round_max`.
    pub round_min: Duration,
    /// The longest wait between two rounds of a node, even while its replica keeps changing.
    pub round_max: Duration,
    /// Random peers contacted per timed round, besides the upstream node (the star's hub for a leaf, the parent in a
    /// tree), which every timed round includes.
    pub fanout: usize,
    /// A gap in a peer's push sequence that lasts this long (a lost or very late push) starts a round with that
    /// peer at once. (Two or more pushes missing at once start it without waiting.)
    pub gap_timeout: Duration,
    /// `Auto` overlays are a star up to this many members, a tree above.
    pub star_limit: usize,
    /// How long past its parent's relay window a node waits for the acknowledgement of a push before it suspects
    /// the parent: two trips over the network plus a margin.
    pub ack_slack: Duration,
    /// How long a suspicion lasts without new evidence (doubled for each suspicion of the same member in a row,
    /// up to 16 times), unless the member is heard from first.
    pub suspicion_ttl: Duration,
    /// The most bytes of JSON one message may take: larger deltas are cut into several messages. The default
    /// fits a UDP datagram.
    pub max_message_bytes: usize,
    /// A local update that would wait for a batching window also goes at once to one peer (the parent, or a
    /// relay's first child), so that a crash within the window cannot lose an acknowledged update. Costs one
    /// message per local update of a node whose own updates are batched (the star's hub: 1/N of the updates).
    pub backup: bool,
    /// Local updates are tracked until a peer has acknowledged a push carrying them
    /// ([`crate::Engine::confirmed_local`]): a child's pushes up acknowledge its parent's pushes (on pushes it sends
    /// anyway), and a node whose pushes down stay unacknowledged for an acknowledgement timeout asks one child to
    /// acknowledge (one push each way, only when no child pushes up meanwhile).
    pub confirm: bool,
}

/// The most members one push reports unreachable.
pub(crate) const MAX_REPORTS: usize = 16;

/// Bytes of a push that are not its delta, at most: its number, acknowledgement, flags and reports (each report's
/// id included, up to [`MAX_REPORTS`] ids of about 200 bytes).
const HEADER_RESERVE: usize = 4096;

impl Default for Config {
    fn default() -> Self {
        Config {
            overlay: Overlay::Auto,
            relay_window: Duration::from_millis(250),
            local_window: Duration::ZERO,
            round_min: Duration::from_secs(2),
            round_max: Duration::from_secs(8),
            fanout: 1,
            gap_timeout: Duration::from_secs(1),
            star_limit: 128,
            ack_slack: Duration::from_millis(300),
            suspicion_ttl: Duration::from_secs(5),
            max_message_bytes: 60_000,
            backup: true,
            confirm: false,
        }
    }
}

impl Config {
    /// The longest window, wait or timeout accepted: an hour.
    pub const LONGEST: Duration = Duration::from_secs(3600);

    /// Checks the knobs' ranges: windows, waits and timeouts of at most [`Config::LONGEST`], `round_min` ≤
    /// `round_max`, a non-zero `round_min`, `gap_timeout`, `ack_slack` and `suspicion_ttl` (they pace repeated
    /// work), a fanout and star limit of at least 1, and a byte budget in
    /// [`Config::SMALLEST_MESSAGE`]`..=`[`Config::LARGEST_MESSAGE`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (knob, value) in [
            ("relay window", self.relay_window),
            ("local window", self.local_window),
            ("round min", self.round_min),
            ("round max", self.round_max),
            ("gap timeout", self.gap_timeout),
            ("ack slack", self.ack_slack),
            ("suspicion ttl", self.suspicion_ttl),
        ] {
            if value > Self::LONGEST {
                return Err(ConfigError::TooLong { knob, value });
            }
        }
        for (knob, value) in [
            ("round min", self.round_min),
            ("gap timeout", self.gap_timeout),
            ("ack slack", self.ack_slack),
            ("suspicion ttl", self.suspicion_ttl),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Zero { knob });
            }
        }
        if self.round_min > self.round_max {
            return Err(ConfigError::RoundMinAboveMax { min: self.round_min, max: self.round_max });
        }
        if self.fanout == 0 {
            return Err(ConfigError::ZeroFanout);
        }
        if self.star_limit == 0 {
            return Err(ConfigError::ZeroStarLimit);
        }
        if !(Self::SMALLEST_MESSAGE..=Self::LARGEST_MESSAGE).contains(&self.max_message_bytes) {
            return Err(ConfigError::MessageBudget { bytes: self.max_message_bytes });
        }
        Ok(())
    }

    /// The smallest byte budget accepted: room for a push's header and a few elements.
    pub const SMALLEST_MESSAGE: usize = 2 * HEADER_RESERVE;
    /// The largest byte budget accepted (64 MiB).
    pub const LARGEST_MESSAGE: usize = 64 << 20;

    /// The largest element (bytes of JSON) a message within the budget can always carry, whatever its header.
    pub fn max_element_bytes(&self) -> usize {
        self.max_message_bytes.saturating_sub(HEADER_RESERVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlays_parse_and_print_back() {
        for s in ["star", "auto", "full", "none", "tree:3"] {
            assert_eq!(s.parse::<Overlay>().unwrap().to_string(), s);
        }
        assert_eq!("tree".parse::<Overlay>(), Ok(Overlay::Tree(4)));
        for bad in ["", "tree:0", "tree:x", "ring", "tree:99999"] {
            assert!(bad.parse::<Overlay>().is_err(), "{bad}");
        }
        assert_eq!("ring".parse::<Overlay>(), Err(OverlayParseError::Unknown("ring".into())));
    }

    #[test]
    fn bad_configs_are_refused_with_what_is_wrong() {
        assert!(Config::default().validate().is_ok());
        let c = Config { fanout: 0, ..Config::default() };
        assert_eq!(c.validate(), Err(ConfigError::ZeroFanout));
        let c = Config { round_min: Duration::from_secs(30), ..Config::default() };
        assert!(matches!(c.validate(), Err(ConfigError::RoundMinAboveMax { .. })));
        let c = Config { relay_window: Duration::from_secs(7200), ..Config::default() };
        assert_eq!(c.validate(), Err(ConfigError::TooLong { knob: "relay window", value: Duration::from_secs(7200) }));
        let c = Config { gap_timeout: Duration::ZERO, ..Config::default() };
        assert_eq!(c.validate(), Err(ConfigError::Zero { knob: "gap timeout" }));
    }
}
