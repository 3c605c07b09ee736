//! What engines send each other. Each message is a JSON object tagged by `type`, so a Maelstrom node can use it
//! as a message body as it is.

use osmosis_crdt::DeltaCrdt;
use serde::{Deserialize, Serialize};

/// A message between two engines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", bound = "", deny_unknown_fields)]
pub enum Message<C: DeltaCrdt> {
    /// Eager dissemination: fresh deltas, numbered per link (sender → receiver) from 0 so the receiver can notice
    /// a lost push and start a round.
    #[serde(rename = "ae_push")]
    Push {
        /// This link's push number.
        seq: u64,
        /// The deltas of the batch, joined.
        delta: C::Delta,
    },
    /// Step 1 of a push-pull round: the initiator's digest.
    #[serde(rename = "ae_digest")]
    Digest {
        /// The initiator's digest, with a fresh seed.
        digest: C::Digest,
    },
    /// Step 2: what the initiator lacks (if anything) and the responder's digest, computed like the initiator's.
    #[serde(rename = "ae_reply")]
    Reply {
        /// The responder's delta for the initiator, if it has anything the initiator lacks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delta: Option<C::Delta>,
        /// The responder's digest.
        digest: C::Digest,
    },
    /// Step 3: what the responder lacks.
    #[serde(rename = "ae_delta")]
    Delta {
        /// The initiator's delta for the responder.
        delta: C::Delta,
    },
}

impl<C: DeltaCrdt> Message<C> {
    /// The message's `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Push { .. } => "ae_push",
            Message::Digest { .. } => "ae_digest",
            Message::Reply { .. } => "ae_reply",
            Message::Delta { .. } => "ae_delta",
        }
    }

    /// Whether a message body's `type` names an engine message.
    pub fn is_engine_type(kind: &str) -> bool {
        matches!(kind, "ae_push" | "ae_digest" | "ae_reply" | "ae_delta")
    }
}
