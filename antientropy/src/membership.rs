//! Who is in the cluster and whom this node currently believes unreachable (ALGORITHM.md §4).
//!
//! Members are kept sorted by id, this node included, and named by their position in that order. A member is
//! *live* unless suspected. A suspicion has a source — this node's own evidence (its pushes went unacknowledged),
//! a peer's report (gossip on a push), or the caller (a failure detector) — and, except the caller's, an expiry:
//! evidence goes stale, and the overlay's preferred shape returns once it has. Hearing anything from a member clears
//! this node's and its peers' suspicions of it at once (the caller's stay until the caller lifts them).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::id::NodeId;

/// Why a member is suspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// This node's pushes to it went unacknowledged.
    Direct,
    /// A peer reported it (gossip carried on a push).
    Reported,
    /// The caller said so ([`crate::Engine::suspect`]); lasts until the caller lifts it.
    External,
}

/// A suspicion and when it ends (never, for [`Origin::External`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Suspicion {
    pub(crate) origin: Origin,
    pub(crate) until: Option<Duration>,
}

/// What this node knows about one member's health.
#[derive(Debug, Clone, Default)]
struct Health {
    /// When a message from it last arrived.
    heard: Option<Duration>,
    suspicion: Option<Suspicion>,
    /// Direct suspicions in a row without hearing from it: each doubles the next suspicion's length.
    strikes: u32,
}

/// The member list and the suspicions held against its members.
#[derive(Debug, Clone)]
pub(crate) struct Membership<I> {
    /// Every member, this node included, sorted, without duplicates.
    members: Vec<I>,
    /// This node's position in `members`.
    me: usize,
    health: BTreeMap<I, Health>,
}

impl<I: NodeId> Membership<I> {
    /// `members` with `me` added if missing.
    pub(crate) fn new(me: &I, members: impl IntoIterator<Item = I>) -> Self {
        let mut m = Membership { members: Vec::new(), me: 0, health: BTreeMap::new() };
        m.set(me, members);
        m
    }

    /// Replaces the member list (`me` stays a member whatever the list says); suspicions of members still listed
    /// are kept, those of members that left are dropped.
    pub(crate) fn set(&mut self, me: &I, members: impl IntoIterator<Item = I>) {
        let mut list: Vec<I> = members.into_iter().collect();
        list.push(me.clone());
        list.sort();
        list.dedup();
        self.me = list.binary_search(me).expect("me was just added");
        self.health.retain(|id, _| list.binary_search(id).is_ok());
        self.members = list;
    }

    /// Every member, sorted, this node included.
    pub(crate) fn all(&self) -> &[I] {
        &self.members
    }

    /// The number of members, this node included.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    /// This node's position.
    pub(crate) fn me(&self) -> usize {
        self.me
    }

    /// The id at position `pos`.
    pub(crate) fn id(&self, pos: usize) -> &I {
        &self.members[pos]
    }

    /// The position of `id`, if it is a member.
    pub(crate) fn position(&self, id: &I) -> Option<usize> {
        self.members.binary_search(id).ok()
    }

    /// Whether the member at `pos` is not suspected (this node always is).
    pub(crate) fn is_live(&self, pos: usize) -> bool {
        pos == self.me || self.health.get(&self.members[pos]).is_none_or(|h| h.suspicion.is_none())
    }

    /// The suspicion held against the member at `pos`, if any.
    pub(crate) fn suspicion(&self, pos: usize) -> Option<Suspicion> {
        self.health.get(&self.members[pos]).and_then(|h| h.suspicion)
    }

    /// Whether a message from the member at `pos` arrived within `window` before `now`.
    pub(crate) fn heard_within(&self, pos: usize, now: Duration, window: Duration) -> bool {
        self.health.get(&self.members[pos]).and_then(|h| h.heard).is_some_and(|t| t.saturating_add(window) > now)
    }

    /// Records a message from the member at `pos`; returns true if that cleared a suspicion (the view changed).
    pub(crate) fn heard(&mut self, pos: usize, now: Duration) -> bool {
        let h = self.entry(pos);
        h.heard = Some(now);
        h.strikes = 0;
        match h.suspicion {
            Some(s) if s.origin != Origin::External => {
                h.suspicion = None;
                true
            }
            _ => false,
        }
    }

    /// Suspects the member at `pos` on this node's own evidence, for `base` doubled per earlier strike (at most
    /// 16 × `base`); returns true if the view changed.
    pub(crate) fn suspect_direct(&mut self, pos: usize, now: Duration, base: Duration) -> bool {
        let h = self.entry(pos);
        let length = base.saturating_mul(1 << h.strikes.min(4));
        h.strikes = h.strikes.saturating_add(1);
        Self::install(h, Suspicion { origin: Origin::Direct, until: Some(now.saturating_add(length)) })
    }

    /// Adopts a peer's report that the member at `pos` is unreachable, until `until`; returns true if the view
    /// changed. A longer suspicion already held is kept.
    pub(crate) fn adopt(&mut self, pos: usize, until: Duration) -> bool {
        let h = self.entry(pos);
        Self::install(h, Suspicion { origin: Origin::Reported, until: Some(until) })
    }

    /// The caller's suspicion (kept until [`Membership::lift`]); returns true if the view changed.
    pub(crate) fn suspect_external(&mut self, pos: usize) -> bool {
        let h = self.entry(pos);
        let changed = h.suspicion.is_none();
        h.suspicion = Some(Suspicion { origin: Origin::External, until: None });
        changed
    }

    /// Lifts any suspicion of the member at `pos`; returns true if the view changed.
    pub(crate) fn lift(&mut self, pos: usize) -> bool {
        let h = self.entry(pos);
        h.strikes = 0;
        h.suspicion.take().is_some()
    }

    /// Ends the suspicions whose time is up; returns true if the view changed.
    pub(crate) fn expire(&mut self, now: Duration) -> bool {
        let mut changed = false;
        for h in self.health.values_mut() {
            if h.suspicion.is_some_and(|s| s.until.is_some_and(|t| t <= now)) {
                h.suspicion = None;
                changed = true;
            }
        }
        changed
    }

    /// When the next suspicion ends, if one will.
    pub(crate) fn next_expiry(&self) -> Option<Duration> {
        self.health.values().filter_map(|h| h.suspicion.and_then(|s| s.until)).min()
    }

    /// The positions of the suspected members, ascending.
    pub(crate) fn suspected(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.members.len()).filter(|&p| !self.is_live(p))
    }

    fn entry(&mut self, pos: usize) -> &mut Health {
        let id = &self.members[pos];
        if !self.health.contains_key(id) {
            self.health.insert(id.clone(), Health::default());
        }
        self.health.get_mut(id).expect("inserted above")
    }

    /// Installs `new` unless a suspicion lasting at least as long is held; returns true if the view changed.
    fn install(h: &mut Health, new: Suspicion) -> bool {
        match h.suspicion {
            None => {
                h.suspicion = Some(new);
                true
            }
            Some(old) => {
                let longer = match (old.until, new.until) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(a), Some(b)) => b > a,
                };
                if longer {
                    h.suspicion = Some(new);
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn members_are_sorted_with_me_included_and_named_by_position() {
        let m = Membership::new(&'b', ['c', 'a', 'c']);
        assert_eq!(m.all(), ['a', 'b', 'c']);
        assert_eq!((m.me(), m.position(&'c'), m.position(&'z')), (1, Some(2), None));
    }

    #[test]
    fn direct_suspicions_expire_and_each_strike_doubles_the_next() {
        let mut m = Membership::new(&0u8, [0, 1, 2]);
        assert!(m.suspect_direct(1, ms(0), ms(100)));
        assert!(!m.is_live(1) && m.is_live(0) && m.is_live(2));
        assert_eq!(m.next_expiry(), Some(ms(100)));
        assert!(m.expire(ms(100)) && m.is_live(1));
        m.suspect_direct(1, ms(200), ms(100));
        assert_eq!(m.next_expiry(), Some(ms(400)), "the second strike lasts twice as long");
        assert!(m.heard(1, ms(250)), "hearing from a member clears the suspicion");
        m.suspect_direct(1, ms(300), ms(100));
        assert_eq!(m.next_expiry(), Some(ms(400)), "and resets the strikes");
    }

    #[test]
    fn the_callers_suspicions_outlast_evidence_and_expiry() {
        let mut m = Membership::new(&0u8, [0, 1]);
        assert!(m.suspect_external(1));
        assert!(!m.heard(1, ms(5)) && !m.expire(ms(1_000_000)));
        assert!(!m.is_live(1));
        assert!(m.lift(1) && m.is_live(1));
    }

    #[test]
    fn a_new_member_list_keeps_the_suspicions_of_those_who_stay() {
        let mut m = Membership::new(&1u8, [0, 1, 2, 3]);
        m.suspect_direct(2, ms(0), ms(100));
        m.suspect_direct(3, ms(0), ms(100));
        m.set(&1, [1, 3, 4]);
        assert_eq!(m.all(), [1, 3, 4]);
        assert_eq!(m.suspected().collect::<Vec<_>>(), [1], "3 (now at position 1) is still suspected");
    }
}
