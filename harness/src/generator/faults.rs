//! The nemesis side of the schedule: one flip-flop per scheduled fault kind (Maelstrom's partition, and the
//! extensions' kill and pause), and the targeted faults at their times.

use std::collections::VecDeque;

use rand::Rng;

use super::{NemesisConfig, NemesisOp, Stagger};
use crate::history::Nanos;
use crate::nemesis::{FaultKind, TargetedFault, random_grudge};

/// One fault kind's flip-flop: its stagger, and the node its fault holds while in force.
#[derive(Debug)]
pub(super) struct FlipFlop {
    pub(super) kind: FaultKind,
    pub(super) stagger: Stagger,
    /// In force now (for kill and pause: on this node)?
    holding: Option<String>,
}

#[derive(Debug)]
pub(super) struct NemesisSchedule {
    pub(super) flip_flops: Vec<FlipFlop>,
    /// Targeted faults' starts and ends, by time: `(at, fault, begins)`.
    targeted: VecDeque<(Nanos, TargetedFault, bool)>,
}

impl NemesisSchedule {
    pub(super) fn new(config: &NemesisConfig) -> Self {
        // A zero interval would fire every flip-flop endlessly at one instant: no random faults then.
        let kinds = if config.interval == 0 { &[][..] } else { &config.kinds[..] };
        let flip_flops = kinds
            .iter()
            .map(|&kind| FlipFlop {
                kind,
                stagger: Stagger { span: config.interval.saturating_mul(2), next: 0 },
                holding: None,
            })
            .collect();
        let mut targeted: Vec<(Nanos, TargetedFault, bool)> =
            config.targeted.iter().flat_map(|t| [(t.from, t.clone(), true), (t.to, t.clone(), false)]).collect();
        targeted.sort_by_key(|(at, _, begins)| (*at, *begins));
        NemesisSchedule { flip_flops, targeted: targeted.into() }
    }

    /// The soonest op: `(time, Some(flip-flop index))` or `(time, None)` for the next targeted event.
    pub(super) fn next(&self) -> Option<(Nanos, Option<usize>)> {
        let flips = self.flip_flops.iter().enumerate().map(|(i, f)| (f.stagger.next, Some(i)));
        flips.chain(self.targeted.front().map(|(at, _, _)| (*at, None))).min_by_key(|(t, i)| (*t, i.is_none()))
    }
    /// The soonest op, taken (its flip-flop flips and draws its next gap), if any.
    pub(super) fn emit<R: Rng + ?Sized>(&mut self, at: Nanos, nodes: &[String], rng: &mut R) -> Option<NemesisOp> {
        match self.next()? {
            (_, Some(i)) => {
                let f = &mut self.flip_flops[i];
                let op = match (f.kind, f.holding.take()) {
                    (FaultKind::Partition, None) => {
                        f.holding = Some(String::new());
                        let (kind, grudge) = random_grudge(nodes, rng);
                        NemesisOp::StartPartition(kind, grudge)
                    }
                    (FaultKind::Partition, Some(_)) => NemesisOp::StopPartition,
                    (kind, None) => {
                        let node = nodes[rng.random_range(0..nodes.len())].clone();
                        f.holding = Some(node.clone());
                        if kind == FaultKind::Kill { NemesisOp::Kill(node) } else { NemesisOp::Pause(node) }
                    }
                    (FaultKind::Kill, Some(node)) => NemesisOp::Start(node),
                    (FaultKind::Pause, Some(node)) => NemesisOp::Resume(node),
                };
                f.stagger.advance(at, rng);
                Some(op)
            }
            (_, None) => self.targeted.pop_front().map(|(_, fault, begins)| NemesisOp::Targeted(fault, begins)),
        }
    }
}
