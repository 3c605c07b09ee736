//! What engines send each other. Each message is a JSON object tagged by `type`, so a Maelstrom node can use it
//! as a message body as it is.
//!
//! A push-pull round is the CRDT's reconciliation ([`Reconcile`]): the engine carries its summary and repair
//! messages without looking inside, and adds what routing needs. `round` names the round: the initiator numbers
//! its rounds, and the type says which side sent a message (`ae_reply` from the responder, `ae_repair` from the
//! initiator), so that a round numbered 7 by each of two peers is two rounds. `seq` numbers a round's messages in
//! each direction from 0, so that the receiver hands them to the CRDT in order and once, whatever the network does.

use osmosis_crdt::{DeltaCrdt, Reconcile};
use serde::{Deserialize, Serialize};

/// A message between two engines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", bound = "", deny_unknown_fields)]
pub enum Message<C: DeltaCrdt + Reconcile> {
    /// Eager dissemination: fresh deltas, numbered per link (sender → receiver) from 0 so the receiver can notice
    /// a lost push and start a round.
    #[serde(rename = "ae_push")]
    Push {
        /// This link's push number.
        seq: u64,
        /// The deltas of the batch, joined.
        delta: C::Delta,
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

impl<C: DeltaCrdt + Reconcile> Message<C> {
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
}
