//! `osmosis-reference-node`: Maelstrom nodes with exactly known message counts, for checking the harness.
//!
//! Usage: `osmosis-reference-node <mode> [--workload W]` (workload defaults to `broadcast`; `W` may also be given
//! positionally after the mode). It speaks the Maelstrom protocol (newline-delimited JSON on stdin/stdout, logs on
//! stderr; spec §3). The logic ([`node::Node`]) is sans-IO: the binary's driver reads stdin synchronously and
//! performs each line's effects in order; [`InProcess`] runs the same logic as a [`SimNode`] for virtual time.
//!
//! Modes (see [`args::Mode`]): `flood` (2E server messages per broadcast), `flood-skip-sender` (2E − (N − 1);
//! spec §12), `silent` (never forwards: lost elements, spec §9.1), and fault modes for the harness's failure
//! handling (spec §3.1, §3.3, §14): `crash-after-init`, `garbage`, `hang-init`, `late-reply`, `extra-key`,
//! `error-reply`, `wrong-reply-id`, `deaf-after-topology` (broadcast only). The fault modes otherwise behave like
//! `flood`.
//!
//! Workloads: `broadcast`, `g-set` (neighbours = all other nodes), `g-counter`/`pn-counter` (each client add's
//! delta is forwarded once to every other node: N − 1 server messages per add), `echo`, `unique-ids`.

pub mod args;
pub mod node;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::history::Nanos;
use crate::run::sim::{SimFactory, SimNode};
use node::{Effect, Node};

/// The reference node in process: its effects become output lines, delayed sends wait for their time, `exit`
/// ends it, and once deaf it ignores every line.
#[derive(Debug)]
pub struct InProcess {
    node: Node,
    output: Vec<String>,
    /// Delayed sends by due time (and order of arrival).
    later: BTreeMap<(Duration, u64), String>,
    sent_later: u64,
    exited: Option<String>,
    deaf: bool,
}

impl InProcess {
    fn perform(&mut self, now: Duration, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send(msg) => self.output.push(msg.to_string()),
                Effect::Raw(line) => self.output.push(line),
                Effect::SendAfter(delay, msg) => {
                    self.sent_later += 1;
                    self.later.insert((now + delay, self.sent_later), msg.to_string());
                }
                Effect::Log(line) => tracing::debug!(target: "node", "{line}"),
                Effect::Exit(code) => {
                    self.exited = Some(format!("exit status {code}"));
                    return;
                }
                Effect::StopReading => self.deaf = true,
            }
        }
    }
}

impl SimNode for InProcess {
    fn handle_line(&mut self, now: Duration, line: &str) {
        if self.deaf || self.exited.is_some() {
            return;
        }
        let effects = self.node.on_line(line);
        self.perform(now, effects);
    }

    fn on_tick(&mut self, now: Duration) {
        while let Some(entry) = self.later.first_entry() {
            if entry.key().0 > now {
                break;
            }
            self.output.push(entry.remove());
        }
    }

    fn next_deadline(&self) -> Option<Duration> {
        self.later.keys().next().map(|(at, _)| *at)
    }

    fn take_output(&mut self) -> Vec<String> {
        std::mem::take(&mut self.output)
    }

    fn exited(&self) -> Option<String> {
        self.exited.clone()
    }
}

/// Makes [`InProcess`] reference nodes: `--sim --bin …/osmosis-reference-node`.
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcessFactory;

impl SimFactory for InProcessFactory {
    fn name(&self) -> &str {
        "osmosis-reference-node"
    }

    fn spawn(&self, args: &[String], _started: Nanos) -> Result<Box<dyn SimNode>, String> {
        let config = args::parse(args).map_err(|e| e.to_string())?;
        let node = Node::new(config);
        Ok(Box::new(InProcess {
            node,
            output: Vec::new(),
            later: BTreeMap::new(),
            sent_later: 0,
            exited: None,
            deaf: false,
        }))
    }
}
