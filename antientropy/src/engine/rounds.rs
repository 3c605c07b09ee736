//! Push-pull rounds: what each of a round's messages carries and how it is answered (ALGORITHM.md §1, "Push-pull
//! rounds").
//!
//! The rest of the engine uses exactly two entry points, so that the round protocol can change without touching
//! the eager path or the timer: [`Engine::open_rounds`] (start a round with some peers) and
//! [`Engine::on_round_message`] (any message but a push). A round reaches the rest of the engine only through
//! `merge` (news learned from a round is relayed like any other), `cut` (a delta cut to the byte budget),
//! `found_bridge` (news from a round tells a stand-in root whom to bridge to) and `send`.

use std::time::Duration;

use osmosis_crdt::json_len;
use rand::Rng;

use super::{Engine, Replica};
use crate::id::NodeId;
use crate::message::Message;
use crate::overlay::Source;

impl<C: Replica, I: NodeId> Engine<C, I> {
    /// Starts one round with each of `peers`: one digest, computed once (it walks the replica), with a fresh seed.
    pub(super) fn open_rounds(&mut self, peers: &[usize]) {
        let digest = self.state.digest_seeded(self.rng.random());
        for &peer in peers {
            self.send(peer, Message::Digest { digest: digest.clone() });
        }
    }

    /// Handles step 1, 2 or 3 of a round from the member at `from` (never a push).
    pub(super) fn on_round_message(&mut self, now: Duration, from: usize, msg: Message<C, I>) {
        match msg {
            Message::Digest { digest } => {
                let mine = self.state.digest_matching(&digest);
                if mine == digest {
                    self.stats.agreements += 1;
                    return;
                }
                let delta = self.state.delta_since(&digest);
                self.reply(from, delta, mine);
            }
            Message::Reply { delta, digest } => {
                if let Some(delta) = delta
                    && self.merge(now, Source::Peer(from), &delta)
                {
                    self.found_bridge(now, from);
                }
                let back = self.state.delta_since(&digest);
                self.send_deltas(from, back);
            }
            Message::Delta { delta } => {
                if self.merge(now, Source::Peer(from), &delta) {
                    self.found_bridge(now, from);
                }
            }
            Message::Push { .. } => unreachable!("pushes are handled by the eager path"),
        }
    }

    /// Step 2: `delta` (omitted when empty) and this node's digest, in one message if it fits the byte budget;
    /// otherwise the reply carries the first part and `ae_delta` messages the rest.
    fn reply(&mut self, to: usize, delta: C, digest: C::Digest) {
        if C::delta_is_empty(&delta) {
            self.send(to, Message::Reply { delta: None, digest });
            return;
        }
        let bare = Message::<C, I>::Reply { delta: Some(C::default()), digest };
        let budget = self.config.max_message_bytes.saturating_sub(json_len(&bare) - C::default().json_len());
        let Message::Reply { digest, .. } = bare else { unreachable!("built as a reply above") };
        if budget < self.config.max_message_bytes / 4 {
            // The digest takes most of the budget: it goes alone, the delta in messages of its own.
            self.send(to, Message::Reply { delta: None, digest });
            self.send_deltas(to, delta);
            return;
        }
        let mut parts = self.cut(delta, budget).into_iter();
        self.send(to, Message::Reply { delta: parts.next(), digest });
        for part in parts {
            self.send(to, Message::Delta { delta: part });
        }
    }

    /// Step 3 (nothing when `delta` is empty), as several `ae_delta` messages if the budget needs.
    fn send_deltas(&mut self, to: usize, delta: C) {
        if C::delta_is_empty(&delta) {
            return;
        }
        let budget = self
            .config
            .max_message_bytes
            .saturating_sub(json_len(&Message::<C, I>::Delta { delta: C::default() }) - C::default().json_len());
        for part in self.cut(delta, budget) {
            self.send(to, Message::Delta { delta: part });
        }
    }
}
