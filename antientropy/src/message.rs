//! What engines send each other. Each message is a JSON object tagged by `type`, so a Maelstrom node can use it
//! as a message body as it is. Optional fields are left out when empty, so a push in the fault-free steady state
//! carries at most `ack` and `up` beyond its number and delta.

use osmosis_crdt::DeltaCrdt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A member a push's sender reports unreachable, and for how much longer its suspicion lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report<I> {
    /// The member.
    pub id: I,
    /// Milliseconds left before the sender's suspicion expires.
    pub ms: u64,
}

/// A message between two engines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", bound = "I: Serialize + DeserializeOwned", deny_unknown_fields)]
pub enum Message<C: DeltaCrdt, I = String> {
    /// Eager dissemination: fresh deltas, numbered per link (sender → receiver) from 0 so the receiver can notice
    /// a lost push and start a round.
    #[serde(rename = "ae_push")]
    Push {
        /// This link's push number.
        seq: u64,
        /// The deltas of the batch, joined.
        delta: C::Delta,
        /// The highest push number the sender has received from the receiver, once the receiver has sent it
        /// pushes as to its parent (`up`): a child that sees no acknowledgement suspects its parent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ack: Option<u64>,
        /// The sender pushes to the receiver as to its parent (upstream), which then relays for it and
        /// acknowledges its pushes even if it does not count the sender among its children.
        #[serde(default, skip_serializing_if = "is_false")]
        up: bool,
        /// The sender has just changed parents and this push carries what the old one did not acknowledge: the
        /// receiver relays it without waiting for a whole window.
        #[serde(default, skip_serializing_if = "is_false")]
        urgent: bool,
        /// The members the sender routes around (why it pushes to the receiver), for the receiver to route around
        /// them too if it has not heard from them lately.
        #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
        suspects: Vec<Report<I>>,
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
    /// Step 3: what the responder lacks (also the continuation of a step-2 delta too large for one message).
    #[serde(rename = "ae_delta")]
    Delta {
        /// The initiator's delta for the responder.
        delta: C::Delta,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl<C: DeltaCrdt, I> Message<C, I> {
    /// A plain push: number `seq`, `delta`, no acknowledgement, flags or reports.
    pub fn push(seq: u64, delta: C::Delta) -> Self {
        Message::Push { seq, delta, ack: None, up: false, urgent: false, suspects: Vec::new() }
    }

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

    /// The delta the message carries, if any.
    pub fn delta(&self) -> Option<&C::Delta> {
        match self {
            Message::Push { delta, .. } | Message::Delta { delta } => Some(delta),
            Message::Reply { delta, .. } => delta.as_ref(),
            Message::Digest { .. } => None,
        }
    }
}
