//! The daemon's view of the anti-entropy engine: one `Engine<Objects>` whose member set follows membership.
//!
//! This is the thin adapter between the daemon and `osmosis-antientropy`. The engine takes its member set when it
//! is built, so a change of the live members rebuilds it around the same replica ([`Engine::restore`]): batches
//! still waiting in the old engine's window are dropped (the new engine starts with a round, which repairs them),
//! push numbers start again from 0 on every link (a receiver takes the lower numbers for
//! duplicates: it still merges them, it only cannot see gaps on that link until the numbers catch up). Once the
//! engine takes membership as an input, [`Replica::set_members`] becomes a call into it and nothing else changes.

use std::collections::BTreeSet;
use std::time::Duration;

use osmosis_antientropy::{Config, Engine, Message};
use osmosis_crdt::Lattice;

use crate::objects::Objects;

/// The replica and its engine (see the module docs).
#[derive(Debug)]
pub struct Replica {
    me: String,
    config: Config,
    seed: u64,
    /// Every member, this node included.
    members: BTreeSet<String>,
    engine: Engine<Objects>,
    rebuilds: u64,
    /// Timer and gap rounds of the engines before the last rebuild.
    past_rounds: (u64, u64),
}

impl Replica {
    /// The replica `state` of node `me`, alone until [`Replica::set_members`] says otherwise.
    pub fn new(me: &str, config: Config, seed: u64, now: Duration, state: Objects) -> Result<Replica, String> {
        let members = BTreeSet::from([me.to_string()]);
        let mut engine = Engine::new(me, [me.to_string()], config.clone(), seed, now).map_err(|e| e.to_string())?;
        engine.restore(state);
        Ok(Replica { me: me.to_string(), config, seed, members, engine, rebuilds: 0, past_rounds: (0, 0) })
    }

    /// Makes `others` (the live members besides this node) the engine's peers. Returns whether they changed.
    pub fn set_members(&mut self, now: Duration, others: impl IntoIterator<Item = String>) -> bool {
        let mut members: BTreeSet<String> = others.into_iter().collect();
        members.insert(self.me.clone());
        if members == self.members {
            return false;
        }
        let nodes: Vec<String> = members.iter().cloned().collect();
        let count = nodes.len();
        self.rebuilds += 1;
        let seed = self.seed ^ self.rebuilds.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // The new engine is told it started `round_min` ago, so its first round (with its upstream) is due at
        // once: a member that joined or came back is brought up to date, and whatever the old engine still held
        // in its batch window reaches the upstream. The config was validated when this replica was built.
        let born = now.saturating_sub(self.config.round_min);
        match Engine::new(self.me.clone(), nodes, self.config.clone(), seed, born) {
            Ok(mut engine) => {
                // A clone: the engine gives no way to take its state out (membership changes are rare).
                engine.restore(self.engine.state().clone());
                self.past_rounds = self.rounds();
                self.engine = engine;
                self.members = members;
                true
            }
            Err(e) => {
                tracing::error!("could not rebuild the engine for {count} members: {e}");
                false
            }
        }
    }

    /// Whether `name` is a peer of this replica (a live member other than this node).
    pub fn is_peer(&self, name: &str) -> bool {
        name != self.me && self.members.contains(name)
    }

    /// The members, this node included.
    pub fn members(&self) -> &BTreeSet<String> {
        &self.members
    }

    /// The replica.
    pub fn state(&self) -> &Objects {
        self.engine.state()
    }

    /// Joins a local update's delta (computed by the caller against this replica) and schedules its pushes; see
    /// [`Engine::update`].
    pub fn apply_local(&mut self, now: Duration, delta: Objects) -> bool {
        self.engine.update(now, |state| {
            state.join(&delta);
            delta
        })
    }

    /// Handles a peer's message; see [`Engine::on_message`].
    pub fn on_message(&mut self, now: Duration, from: &str, msg: Message<Objects>) {
        self.engine.on_message(now, &from.to_string(), msg);
    }

    /// See [`Engine::on_tick`].
    pub fn on_tick(&mut self, now: Duration) {
        self.engine.on_tick(now);
    }

    /// See [`Engine::next_deadline`].
    pub fn next_deadline(&self) -> Option<Duration> {
        self.engine.next_deadline()
    }

    /// See [`Engine::take_outbox`].
    pub fn take_outbox(&mut self) -> Vec<(String, Message<Objects>)> {
        self.engine.take_outbox()
    }

    /// Rounds started so far, by the timer and for push gaps, over every engine this replica had.
    pub fn rounds(&self) -> (u64, u64) {
        let s = self.engine.stats();
        (self.past_rounds.0 + s.rounds, self.past_rounds.1 + s.gap_rounds)
    }

    /// How often the engine was rebuilt for a new member set.
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds
    }
}
