//! The daemon's view of the anti-entropy engine: one `Engine<Objects>` whose member set follows membership.
//!
//! The thin adapter between the daemon and `osmosis-antientropy`: SWIM's live members go to
//! [`Engine::set_members`], which keeps the replica, the links' push numbers and the eager path's state and only
//! re-plans the overlay around the new set.

use std::collections::BTreeSet;
use std::time::Duration;

use osmosis_antientropy::{Config, Engine, Message};
use osmosis_crdt::Lattice;

use crate::objects::Objects;

/// The replica and its engine (see the module docs).
#[derive(Debug)]
pub struct Replica {
    me: String,
    /// Every member, this node included.
    members: BTreeSet<String>,
    engine: Engine<Objects>,
    changes: u64,
}

impl Replica {
    /// The replica `state` of node `me`, alone until [`Replica::set_members`] says otherwise; its engine numbers
    /// its rounds from `incarnation` ([`Engine::with_incarnation`]).
    pub fn new(
        me: &str,
        config: Config,
        seed: u64,
        incarnation: u64,
        now: Duration,
        state: Objects,
    ) -> Result<Replica, String> {
        let members = BTreeSet::from([me.to_string()]);
        let engine = Engine::new(me, [me.to_string()], config, seed, now).map_err(|e| e.to_string())?;
        let mut engine = engine.with_incarnation(incarnation);
        engine.restore(state);
        Ok(Replica { me: me.to_string(), members, engine, changes: 0 })
    }

    /// Makes `others` (the live members besides this node) the engine's peers. Returns whether they changed.
    pub fn set_members(&mut self, now: Duration, others: impl IntoIterator<Item = String>) -> bool {
        let mut members: BTreeSet<String> = others.into_iter().collect();
        members.insert(self.me.clone());
        if members == self.members {
            return false;
        }
        self.engine.set_members(now, members.iter().cloned());
        self.members = members;
        self.changes += 1;
        true
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

    /// Rounds started so far, by the timer and for push gaps.
    pub fn rounds(&self) -> (u64, u64) {
        let s = self.engine.stats();
        (s.rounds, s.gap_rounds)
    }

    /// How often the member set changed.
    pub fn member_changes(&self) -> u64 {
        self.changes
    }
}
