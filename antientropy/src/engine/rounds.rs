//! Push-pull rounds: what each of a round's messages carries and how it is answered (ALGORITHM.md §1, "Push-pull
//! rounds").
//!
//! The rest of the engine uses exactly two entry points, so that the round protocol can change without touching
//! the eager path or the timer: [`Engine::open_rounds`] (start a round with some peers) and
//! [`Engine::on_round_message`] (any message but a push). A round reaches the rest of the engine only through
//! `merge` (news learned from a round is relayed like any other) and `send`.

use std::time::Duration;

use osmosis_crdt::DeltaCrdt;
use rand::Rng;

use super::Engine;
use crate::id::NodeId;
use crate::message::Message;
use crate::overlay::Source;

impl<C: DeltaCrdt<Delta = C> + Default + Clone, I: NodeId> Engine<C, I> {
    /// Starts one round with each of `peers`: one digest, computed once (it walks the replica), with a fresh seed.
    pub(super) fn open_rounds(&mut self, peers: &[usize]) {
        let digest = self.state.digest_seeded(self.rng.random());
        for &peer in peers {
            self.send(peer, Message::Digest { digest: digest.clone() });
        }
    }

    /// Handles step 1, 2 or 3 of a round from peer `from` (never a push).
    pub(super) fn on_round_message(&mut self, now: Duration, from: usize, msg: Message<C>) {
        match msg {
            Message::Digest { digest } => {
                let mine = self.state.digest_matching(&digest);
                if mine == digest {
                    self.stats.agreements += 1;
                    return;
                }
                let delta = self.state.delta_since(&digest);
                let delta = (!C::delta_is_empty(&delta)).then_some(delta);
                self.send(from, Message::Reply { delta, digest: mine });
            }
            Message::Reply { delta, digest } => {
                if let Some(delta) = delta {
                    self.merge(now, Source::Peer(from), &delta);
                }
                let back = self.state.delta_since(&digest);
                if !C::delta_is_empty(&back) {
                    self.send(from, Message::Delta { delta: back });
                }
            }
            Message::Delta { delta } => {
                self.merge(now, Source::Peer(from), &delta);
            }
            Message::Push { .. } => unreachable!("pushes are handled by the eager path"),
        }
    }
}
