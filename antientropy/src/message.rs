//! What engines send each other. Each message is a JSON object tagged by `type`, so a Maelstrom node can use it
//! as a message body as it is. Optional fields are left out when empty, so a push in the fault-free steady state
//! carries at most `ack` and `up` beyond its number and delta.
//!
//! A push-pull round is the CRDT's reconciliation ([`Reconcile`]): the engine carries its summary and repair
//! messages without looking inside, and adds what routing needs. `round` names the round: the initiator numbers
//! its rounds, and the type says which side sent a message (`ae_reply` from the responder, `ae_repair` from the
//! initiator), so that a round numbered 7 by each of two peers is two rounds. `seq` numbers a round's messages in
//! each direction from 0, so that the receiver hands them to the CRDT in order and once, whatever the network does.

use std::sync::Arc;

use osmosis_crdt::{DeltaCrdt, Reconcile};
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
pub enum Message<C: DeltaCrdt + Reconcile, I = String> {
    /// Eager dissemination: fresh deltas, numbered per link (sender → receiver) from 0 so the receiver can notice
    /// a lost push and start a round.
    #[serde(rename = "ae_push")]
    Push {
        /// This link's push number.
        seq: u64,
        /// The deltas of the batch, joined. Shared: a batch that goes to several peers (a hub's children get the
        /// same news) is one set, cut once, and a caller that encodes it can encode it once (the node does). On the
        /// wire it is the delta itself.
        delta: Arc<C::Delta>,
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
    /// Step 1 of a push-pull round: the initiator's summary. A responder that agrees stays silent.
    #[serde(rename = "ae_summary")]
    Summary {
        /// The initiator's number for the round.
        round: u64,
        /// The initiator's [`Reconcile::summary`].
        summary: C::Summary,
    },
    /// A message of the round from its responder to its initiator.
    #[serde(rename = "ae_reply")]
    Reply {
        /// The initiator's number for the round.
        round: u64,
        /// This message's number among the responder's messages of the round, from 0.
        seq: u32,
        /// The CRDT's message.
        repair: C::Repair,
    },
    /// A message of the round from its initiator to its responder (after the summary).
    #[serde(rename = "ae_repair")]
    Repair {
        /// The initiator's number for the round.
        round: u64,
        /// This message's number among the initiator's messages of the round (after the summary), from 0.
        seq: u32,
        /// The CRDT's message.
        repair: C::Repair,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl<C: DeltaCrdt + Reconcile, I> Message<C, I> {
    /// A plain push: number `seq`, `delta`, no acknowledgement, flags or reports.
    pub fn push(seq: u64, delta: C::Delta) -> Self {
        Message::Push { seq, delta: Arc::new(delta), ack: None, up: false, urgent: false, suspects: Vec::new() }
    }

    /// The message's `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Push { .. } => "ae_push",
            Message::Summary { .. } => "ae_summary",
            Message::Reply { .. } => "ae_reply",
            Message::Repair { .. } => "ae_repair",
        }
    }

    /// Whether a message body's `type` names an engine message.
    pub fn is_engine_type(kind: &str) -> bool {
        matches!(kind, "ae_push" | "ae_summary" | "ae_reply" | "ae_repair")
    }

    /// The delta the message carries, if it is a push (a round's messages carry the CRDT's repair messages,
    /// which only the CRDT reads).
    pub fn delta(&self) -> Option<&C::Delta> {
        match self {
            Message::Push { delta, .. } => Some(&**delta),
            _ => None,
        }
    }
}
