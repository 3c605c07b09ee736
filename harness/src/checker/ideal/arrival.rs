//! The earliest instant at which each life could hold one element, on the ideal network (see [`super`] for the
//! rules): a shortest-path search over lives, where the copy from a life holding the element since `h` reaches
//! life `I` of node `v` at
//!
//! ```text
//! first_run(I, max(h + floor, first_accept(v, u, h), start(I)))
//! ```
//!
//! `floor` is the least latency a message can get, `first_accept(v, u, h)` the first instant from `h` on at which
//! `v` does not drop `u`, and `first_run` the first instant from then on at which `I` runs. That time never
//! decreases as `h` grows, so the sender's best moment is the moment it came to hold the element, and Dijkstra's
//! order (settle the earliest holder first) is exact.
//!
//! Which offers can matter: every life other than the origin's holds the element no earlier than the origin's copy
//! would bring it if accepted at its send, `first_run(I, max(h_origin + floor, start(I)))`, and a copy accepted
//! at its send from a later holder brings it no sooner. So a life whose node accepts the origin at `h_origin` is
//! settled by the origin's copy, and one cut off from it (an *open* life) by the first holder it accepts at that
//! holder's moment, unless a copy waiting out a grudge comes sooner. A waiting copy lands no sooner than the next
//! change of the grudges in force (the heal, or what remains when one of several partitions ends), which bounds it
//! in O(1). A run without faults thus costs `O(lives)` per element;
//! with partitions, `O(lives × open lives)` bit tests at most.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::schedule::{FOREVER, FaultSchedule};
use crate::history::Nanos;

/// The ideal network over one fault schedule.
#[derive(Debug, Clone, Copy)]
pub struct IdealNetwork<'a> {
    schedule: &'a FaultSchedule,
    /// The least latency of a server message, or `None` when no server message ever arrives.
    floor: Option<Nanos>,
}

impl<'a> IdealNetwork<'a> {
    /// `floor`: the least latency a server message can get (`None`: every message is lost).
    pub fn new(schedule: &'a FaultSchedule, floor: Option<Nanos>) -> Self {
        IdealNetwork { schedule, floor }
    }

    /// When the copy sent by `from` (a life holding the element since `held`) could be held by `to`.
    fn copy(&self, from: usize, held: Nanos, to: usize) -> Option<Nanos> {
        let floor = self.floor?;
        let lives = self.schedule.lives();
        let (u, v) = (lives[from].node, lives[to].node);
        let accepted = if u == v { held } else { self.schedule.first_accept(v, u, held) };
        let t = held.saturating_add(floor).max(accepted).max(lives[to].start);
        if t == FOREVER {
            return None;
        }
        self.schedule.first_run(to, t)
    }

    /// For an element whose add was invoked at `added` on node `origin`: for every life (indexed as
    /// [`FaultSchedule::lives`]), the earliest instant it could hold the element, `None` if never.
    ///
    /// The add request reaches the origin at `added` (client messages have no latency) and is taken by the first
    /// of the origin's lives to run from then on.
    pub fn earliest(&self, origin: usize, added: Nanos) -> Vec<Option<Nanos>> {
        let s = self.schedule;
        let lives = s.lives();
        let mut hold: Vec<Option<Nanos>> = vec![None; lives.len()];
        let Some((first, h0)) = s.lives_of(origin).iter().find_map(|&l| Some((l, s.first_run(l, added)?))) else {
            return hold;
        };
        hold[first] = Some(h0);
        let Some(floor) = self.floor else { return hold };
        let bound = h0.saturating_add(floor);

        let mut queue: BinaryHeap<Reverse<(Nanos, usize)>> = BinaryHeap::new();
        let mut open: Vec<usize> = Vec::new();
        let cut_off = s.dropping(origin, h0).map(|(d, _)| d);
        for (i, life) in lives.iter().enumerate() {
            if i == first || life.end < bound {
                continue; // the origin, or a life over before any copy could land
            }
            hold[i] = self.copy(first, h0, i);
            if let Some(t) = hold[i] {
                queue.push(Reverse((t, i)));
            }
            if cut_off.is_some_and(|d| d[life.node]) {
                open.push(i);
            }
        }
        let mut done = vec![false; lives.len()];
        done[first] = true;
        while let Some(Reverse((t, i))) = queue.pop() {
            if done[i] || hold[i] != Some(t) {
                continue; // settled already, or a stale offer
            }
            done[i] = true;
            if open.is_empty() {
                continue;
            }
            let earliest = t.saturating_add(floor);
            let dropping = s.dropping(lives[i].node, t);
            open.retain(|&k| {
                if done[k] {
                    return false;
                }
                let offer = match dropping {
                    Some((d, change)) if d[lives[k].node] => {
                        // Cut off from this holder too: its copy waits out the grudge, landing no sooner than the
                        // grudges' next change.
                        if hold[k].is_some_and(|best| best <= earliest.max(change)) {
                            return true;
                        }
                        self.copy(i, t, k)
                    }
                    _ => s.first_run(k, earliest.max(lives[k].start)),
                };
                if let Some(c) = offer
                    && hold[k].is_none_or(|best| c < best)
                {
                    hold[k] = Some(c);
                    queue.push(Reverse((c, k)));
                }
                // Accepted at the send: nothing later can do better. A waiting copy may yet be beaten.
                dropping.is_some_and(|(d, _)| d[lives[k].node])
            });
        }
        hold
    }
}
