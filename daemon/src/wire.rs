//! Datagrams between daemons: a one-byte version, a one-byte kind, the payload, and a 32-byte MAC.
//!
//! ```text
//! +---------+------+----------------------+----------------------------------------+
//! | 0x01    | kind | payload              | BLAKE3 keyed hash of version‖kind‖payload |
//! +---------+------+----------------------+----------------------------------------+
//!   kind 1: engine message, payload = JSON {"from": "<node name>", "msg": <engine message>}
//!   kind 2: membership (SWIM), payload = foca's own encoding
//! ```
//!
//! The MAC is BLAKE3 in keyed mode under a 32-byte key derived from the cluster secret
//! ([`ClusterKey::from_secret`]); the comparison is constant-time (`blake3::Hash`'s equality). A datagram that is
//! too short, has another version or kind, or fails the MAC is refused with a [`DropReason`] before anything reads
//! its payload: the daemon counts it and never merges it. The MAC gives integrity and authenticity within the
//! cluster, not confidentiality (payloads travel in clear) and not freshness: a recorded datagram can be replayed,
//! which merges state that was already valid (joins are idempotent) and which SWIM's incarnation numbers make
//! harmless for membership.

use std::fmt;

/// The format version of every datagram.
pub const VERSION: u8 = 1;
/// Bytes of MAC at the end of every datagram.
pub const MAC_LEN: usize = 32;
/// Version and kind.
pub const HEADER_LEN: usize = 2;
/// The largest UDP payload over IPv4 (65 535 − 8 − 20).
pub const MAX_DATAGRAM: usize = 65_507;

/// What a datagram carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An anti-entropy engine message.
    Engine,
    /// A SWIM membership message.
    Membership,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Engine => 1,
            Kind::Membership => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Engine),
            2 => Some(Kind::Membership),
            _ => None,
        }
    }
}

/// Why an incoming datagram was dropped (the label of `osmosis_datagrams_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Shorter than a header and a MAC.
    TooShort,
    /// An unknown version byte.
    BadVersion,
    /// An unknown kind byte.
    BadKind,
    /// The MAC does not match (another cluster's key, corruption, forgery).
    BadMac,
    /// Authentic, but the payload does not decode.
    Malformed,
    /// From a node that is not a live member (or from this node).
    Foreign,
    /// Merging it would take the replica past a cap.
    OverCap,
}

impl DropReason {
    /// Every reason, for metrics.
    pub const ALL: [DropReason; 7] = [
        DropReason::TooShort,
        DropReason::BadVersion,
        DropReason::BadKind,
        DropReason::BadMac,
        DropReason::Malformed,
        DropReason::Foreign,
        DropReason::OverCap,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::TooShort => "too_short",
            DropReason::BadVersion => "bad_version",
            DropReason::BadKind => "bad_kind",
            DropReason::BadMac => "bad_mac",
            DropReason::Malformed => "malformed",
            DropReason::Foreign => "foreign",
            DropReason::OverCap => "over_cap",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The key every datagram's MAC is computed under.
#[derive(Clone)]
pub struct ClusterKey([u8; 32]);

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

/// The shortest cluster secret accepted, in bytes.
pub const MIN_SECRET: usize = 16;

impl ClusterKey {
    /// Derives the MAC key from a secret of at least [`MIN_SECRET`] bytes (surrounding whitespace ignored, so a
    /// key file may end in a newline), with BLAKE3's key derivation under a context string of this protocol.
    pub fn from_secret(secret: &[u8]) -> Result<ClusterKey, String> {
        let trimmed = secret.trim_ascii();
        if trimmed.len() < MIN_SECRET {
            return Err(format!(
                "the cluster secret has {} bytes; at least {MIN_SECRET} are needed (e.g. `head -c 32 /dev/urandom | base64`)",
                trimmed.len()
            ));
        }
        Ok(ClusterKey(blake3::derive_key("osmosis daemon 2026 datagram MAC v1", trimmed)))
    }

    fn mac(&self, head: &[u8], payload: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(head);
        h.update(payload);
        h.finalize()
    }

    /// The datagram carrying `payload` of `kind`.
    pub fn seal(&self, kind: Kind, payload: &[u8]) -> Vec<u8> {
        let head = [VERSION, kind.byte()];
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + MAC_LEN);
        out.extend_from_slice(&head);
        out.extend_from_slice(payload);
        out.extend_from_slice(self.mac(&head, payload).as_bytes());
        out
    }

    /// The kind and payload of an authentic datagram.
    pub fn open<'a>(&self, datagram: &'a [u8]) -> Result<(Kind, &'a [u8]), DropReason> {
        if datagram.len() < HEADER_LEN + MAC_LEN {
            return Err(DropReason::TooShort);
        }
        let (head, rest) = datagram.split_at(HEADER_LEN);
        let (payload, mac) = rest.split_at(rest.len() - MAC_LEN);
        if head[0] != VERSION {
            return Err(DropReason::BadVersion);
        }
        let kind = Kind::from_byte(head[1]).ok_or(DropReason::BadKind)?;
        let mac: [u8; MAC_LEN] = mac.try_into().map_err(|_| DropReason::TooShort)?;
        // blake3::Hash compares in constant time.
        if self.mac(head, payload) != blake3::Hash::from_bytes(mac) {
            return Err(DropReason::BadMac);
        }
        Ok((kind, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> ClusterKey {
        ClusterKey::from_secret(s.as_bytes()).unwrap()
    }

    #[test]
    fn a_sealed_datagram_opens_under_the_same_key_only() {
        let k = key("correct horse battery staple");
        let d = k.seal(Kind::Engine, b"{\"x\":1}");
        assert_eq!(k.open(&d), Ok((Kind::Engine, &b"{\"x\":1}"[..])));
        assert_eq!(key("another cluster's secret").open(&d), Err(DropReason::BadMac));
    }

    #[test]
    fn any_flipped_bit_fails_the_mac_or_the_header() {
        let k = key("correct horse battery staple");
        let d = k.seal(Kind::Membership, b"payload");
        for i in 0..d.len() {
            for bit in 0..8 {
                let mut bad = d.clone();
                bad[i] ^= 1 << bit;
                assert!(k.open(&bad).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn short_and_unknown_datagrams_are_refused() {
        let k = key("correct horse battery staple");
        assert_eq!(k.open(&[]), Err(DropReason::TooShort));
        assert_eq!(k.open(&[1; 33]), Err(DropReason::TooShort));
        let mut d = k.seal(Kind::Engine, b"");
        assert_eq!(k.open(&d).map(|(k, p)| (k, p.len())), Ok((Kind::Engine, 0)));
        d[0] = 9;
        assert_eq!(k.open(&d), Err(DropReason::BadVersion));
        d[0] = VERSION;
        d[1] = 7;
        assert_eq!(k.open(&d), Err(DropReason::BadKind));
    }

    #[test]
    fn short_secrets_are_refused_and_whitespace_is_ignored() {
        assert!(ClusterKey::from_secret(b"short").is_err());
        let a = key("0123456789abcdef0123");
        let b = ClusterKey::from_secret(b"  0123456789abcdef0123\n").unwrap();
        assert_eq!(a.0, b.0);
    }
}
