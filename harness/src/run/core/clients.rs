//! Maelstrom's clients (spec §3.2–§3.4, §5): opening and closing them, one outstanding RPC each, matching replies
//! by `in_reply_to`, timeouts, and turning each outcome into a history entry or a setup step.

use std::cmp::Reverse;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{Cluster, MS, Participant, Role, Stage, json_string};
use crate::diagnostic::{Diagnostic, clip};
use crate::generator::Invocation;
use crate::history::{Nanos, Op, OpType, Process};
use crate::net::Addr;
use crate::rpc::{self, INIT_TIMEOUT_MS, RPC_TIMEOUT_MS};
use crate::workload::Workload;

/// What an outstanding request is for.
#[derive(Debug)]
pub(super) enum Purpose {
    /// `init` to a node; `initial` at setup, else after a restart.
    Init { node: usize, initial: bool },
    /// `topology` to a node; `initial` at setup, else after a restart.
    Topology { node: usize, initial: bool },
    /// A client operation of a worker thread.
    Op { thread: usize, node: usize, process: u64, op: Invocation },
}

impl Purpose {
    fn node(&self) -> usize {
        match self {
            Purpose::Init { node, .. } | Purpose::Topology { node, .. } | Purpose::Op { node, .. } => *node,
        }
    }
}

/// The one outstanding request of a client.
#[derive(Debug)]
pub(super) struct Pending {
    msg_id: u64,
    purpose: Purpose,
}

/// A client: its `msg_id` counter and its outstanding request (spec §3.4: at most one).
#[derive(Debug)]
pub(super) struct ClientState {
    next_msg_id: u64,
    pending: Option<Pending>,
}

/// A worker thread: its client and the process that client was opened for (spec §5.1).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ThreadState {
    client: Option<Addr>,
    process: u64,
}

impl Cluster<'_> {
    /// Opens client `c<k>` with the next `k` (spec §3.2). A Maelstrom client takes messages off its queue only
    /// while it waits for a reply (spec §3.4), so it starts not receiving.
    pub(super) fn open_client(&mut self) -> Addr {
        let name = format!("c{}", self.client_counter);
        self.client_counter += 1;
        let role = Role::Client(ClientState { next_msg_id: 1, pending: None });
        let addr = self.net.register(&name, Participant { json_name: json_string(&name), role });
        self.net.set_receiving(0, addr, false);
        addr
    }

    /// Closes a client: its name leaves the network, a late reply to it is an invalid destination.
    pub(super) fn close_client(&mut self, addr: Addr) {
        self.net.unregister(addr);
    }

    /// Closes every client waiting on a setup request to `node` (it was killed: its answer will never come).
    pub(super) fn abandon_setup_requests(&mut self, node: usize) {
        let waiting: Vec<Addr> = self
            .timeouts
            .iter()
            .map(|Reverse((_, client, _))| *client)
            .filter(|&c| match self.client(c).and_then(|s| s.pending.as_ref()) {
                Some(p) => {
                    matches!(p.purpose, Purpose::Init { .. } | Purpose::Topology { .. }) && p.purpose.node() == node
                }
                None => false,
            })
            .collect();
        for client in waiting {
            self.close_client(client);
        }
    }

    fn client(&self, addr: Addr) -> Option<&ClientState> {
        match self.net.role(addr).map(|p| &p.role) {
            Some(Role::Client(c)) => Some(c),
            _ => None,
        }
    }

    fn client_mut(&mut self, addr: Addr) -> Option<&mut ClientState> {
        match self.net.role_mut(addr).map(|p| &mut p.role) {
            Some(Role::Client(c)) => Some(c),
            _ => None,
        }
    }

    /// Sends an RPC from a client: assigns its `msg_id`, remembers it as the client's one outstanding request.
    pub(super) fn request(
        &mut self,
        now: Nanos,
        client: Addr,
        dest: Addr,
        mut body: Value,
        purpose: Purpose,
        timeout_ms: u64,
    ) {
        let Some(state) = self.client_mut(client) else { return };
        let msg_id = state.next_msg_id;
        state.next_msg_id += 1;
        state.pending = Some(Pending { msg_id, purpose });
        body["msg_id"] = json!(msg_id);
        self.timeouts.push(Reverse((now + timeout_ms * MS, client, msg_id)));
        self.send(now, client, dest, Arc::from(body.to_string()));
        self.net.set_receiving(now, client, true);
    }

    /// A scheduled client operation (spec §5.1): a new process id means a new client, except for unique-ids whose
    /// client is reusable; thread t talks to node t mod N.
    pub(super) fn invoke(&mut self, now: Nanos, at: Nanos, thread: usize, process: u64, op: Invocation) {
        self.history.push(op.invoke_op(at, process));
        let state = self.threads[thread];
        let client = match state.client {
            Some(c) if state.process == process || self.cfg.workload == Workload::UniqueIds => c,
            old => {
                if let Some(old) = old {
                    self.close_client(old);
                }
                self.open_client()
            }
        };
        self.threads[thread] = ThreadState { client: Some(client), process };
        let node = thread % self.nodes.len();
        let body = rpc::request_body(self.cfg.workload, &op);
        let dest = self.nodes[node].addr;
        self.request(now, client, dest, body, Purpose::Op { thread, node, process, op }, RPC_TIMEOUT_MS);
    }

    /// spec §3.4: a client takes the reply to its outstanding request and drops everything else. What it drops
    /// silently is a late reply to a request it gave up on; anything else it drops (no `in_reply_to`, or one it
    /// never sent) is a node's mistake that would otherwise only show as a timeout, so it gets a diagnostic.
    pub(super) fn on_client_message(&mut self, client: Addr, src: Addr, body: &str, now: Nanos) {
        let Some(state) = self.client(client) else { return };
        let Some(pending) = &state.pending else { return };
        let (outstanding, issued) = (pending.msg_id, state.next_msg_id);
        let parsed = serde_json::from_str::<Value>(body).ok();
        let in_reply_to = parsed.as_ref().and_then(|b| b.get("in_reply_to"));
        match in_reply_to.and_then(Value::as_u64) {
            Some(id) if id == outstanding => {
                let Some(p) = self.client_mut(client).and_then(|s| s.pending.take()) else { return };
                self.resolve(client, p, parsed, now);
            }
            Some(id) if (1..issued).contains(&id) => {} // a late reply to an abandoned request
            _ => {
                let (who, to) = (self.net.name(src).to_owned(), self.net.name(client).to_owned());
                let what = match in_reply_to {
                    None => format!("sent {to} a message without in_reply_to"),
                    Some(v) => format!(
                        "replied to {to} with in_reply_to {}, a msg_id {to} never sent",
                        clip(&v.to_string(), 40)
                    ),
                };
                let reason = format!(
                    "{what} (its outstanding request is msg_id {outstanding}): clients take only replies to their \
                     requests, so it was dropped, as Maelstrom does, and the request waits for its timeout"
                );
                self.diagnose(Diagnostic::new(who, Some(clip(body, 200)), reason));
            }
        }
    }

    /// Times out every request whose deadline has passed; `true` if any did.
    pub(super) fn expire(&mut self, now: Nanos) -> bool {
        let mut any = false;
        while let Some(Reverse((deadline, client, msg_id))) = self.timeouts.peek().copied() {
            if deadline > now {
                break;
            }
            self.timeouts.pop();
            let Some(state) = self.client_mut(client) else { continue };
            if state.pending.as_ref().is_some_and(|p| p.msg_id == msg_id)
                && let Some(p) = state.pending.take()
            {
                self.resolve(client, p, None, now);
                any = true;
            }
        }
        any
    }

    /// A request got its reply (`Some`) or timed out (`None`).
    fn resolve(&mut self, client: Addr, pending: Pending, reply: Option<Value>, now: Nanos) {
        self.net.set_receiving(now, client, false);
        match pending.purpose {
            Purpose::Init { node, initial } => self.on_init_reply(now, client, node, initial, reply),
            Purpose::Topology { node, initial } => self.on_topology_reply(now, node, initial, reply),
            Purpose::Op { thread, node, process, op } => {
                let completion = match &reply {
                    Some(body) => rpc::on_reply(self.cfg.workload, &op, body),
                    None => rpc::on_timeout(self.cfg.workload, &op),
                };
                if let Some(problem) = completion.problem {
                    let line = reply.as_ref().map(|b| clip(&b.to_string(), 200));
                    self.diagnose(Diagnostic::new(self.nodes[node].name.clone(), line, problem));
                }
                match completion.op_type {
                    OpType::Ok => self.counts.ok += 1,
                    OpType::Fail => self.counts.fail += 1,
                    _ => self.counts.info += 1,
                }
                self.history.push(Op {
                    index: 0,
                    time: now.saturating_sub(self.origin),
                    op_type: completion.op_type,
                    process: Process::Client(process),
                    f: op.f,
                    value: completion.value,
                    final_read: op.final_read,
                    error: completion.error,
                });
                self.sched.complete(thread, completion.op_type);
            }
        }
    }

    fn on_init_reply(&mut self, now: Nanos, client: Addr, node: usize, initial: bool, reply: Option<Value>) {
        let name = self.nodes[node].name.clone();
        let Some(body) = reply else {
            let msg = format!(
                "Expected node {name} to respond to an init message, but node did not respond within {} s.",
                INIT_TIMEOUT_MS / 1000
            );
            return self.crash_with(Some(node), msg);
        };
        if let Err(e) = rpc::check_init_reply(&body) {
            return self.crash_with(Some(node), format!("node {name}: {e}"));
        }
        self.close_client(client);
        match self.stage {
            Stage::Init { left } if initial => {
                self.stage = Stage::Init { left: left - 1 };
                if left == 1 {
                    self.on_init_done(now);
                }
            }
            _ if !initial && self.cfg.workload == Workload::Broadcast => {
                let client = self.open_client();
                self.send_topology(now, node, client, false);
            }
            _ => self.nodes[node].starting = false,
        }
    }

    fn on_topology_reply(&mut self, _now: Nanos, node: usize, initial: bool, reply: Option<Value>) {
        let name = self.nodes[node].name.clone();
        let Some(body) = reply else {
            let msg = format!("node {name} did not answer the topology message within {} s", RPC_TIMEOUT_MS / 1000);
            return self.crash_with(Some(node), msg);
        };
        if let Err(e) = rpc::check_topology_reply(&body) {
            return self.crash_with(Some(node), format!("node {name}: bad reply to topology: {e}"));
        }
        match self.stage {
            Stage::Setup { left } if initial => {
                self.stage = if left == 1 { Stage::Main } else { Stage::Setup { left: left - 1 } };
            }
            _ => self.nodes[node].starting = false,
        }
    }
}
