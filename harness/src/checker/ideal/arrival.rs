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
//! Cost: every life other than the origin's holds the element no earlier than `max(h_origin + floor, start)`.
//! Lives whose copy from the origin meets that bound are settled at once; only the others (cut off, paused or
//! restarted when the copy would land) are searched, so a run without faults costs `O(lives)` per element and
//! one with faults `O(lives × affected lives)`.

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

        // Settled by the bound, or left for the search with the origin's copy as their first offer.
        let mut done = vec![false; lives.len()];
        done[first] = true;
        let mut queue: BinaryHeap<Reverse<(Nanos, usize)>> = BinaryHeap::new();
        let mut open: Vec<usize> = Vec::new();
        for (i, life) in lives.iter().enumerate() {
            if i == first || life.end <= bound {
                continue; // the origin, or a life over before any copy could land
            }
            let offer = self.copy(first, h0, i);
            if offer == Some(bound.max(life.start)) {
                done[i] = true;
            } else {
                open.push(i);
            }
            hold[i] = offer;
            if let Some(t) = offer {
                queue.push(Reverse((t, i)));
            }
        }
        while let Some(Reverse((t, i))) = queue.pop() {
            if hold[i] != Some(t) {
                continue; // a stale offer
            }
            done[i] = true;
            open.retain(|&k| !done[k]);
            for &k in &open {
                if let Some(c) = self.copy(i, t, k)
                    && hold[k].is_none_or(|best| c < best)
                {
                    hold[k] = Some(c);
                    queue.push(Reverse((c, k)));
                }
            }
        }
        hold
    }
}
