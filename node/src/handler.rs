//! The node itself, without I/O: [`Node`] takes stdin lines and clock ticks and produces stdout lines.
//!
//! It never reads a clock (`now` is passed in, as a `Duration` since any fixed origin), never touches stdin or
//! stdout, and draws randomness only from [`Settings::seed`]: the tokio driver in [`crate::cli`] and a simulator or
//! a golden-file test drive it the same way, and the same inputs at the same times give the same lines.
//!
//! What it serves, by workload (spec §7): broadcast and g-set keep an [`Engine`]`<`[`JsonSet`]`>` (any JSON value
//! is an element); g-counter an `Engine<GCounter<String>>`; pn-counter an `Engine<PNCounter<String>>`; echo and
//! unique-ids keep no replica. `echo`, `generate` and `topology` are answered under every workload. Reads are
//! local: a read returns this replica's state and never asks another node. Engine messages (`ae_*`) go out as
//! envelopes `{src: me, dest: peer, body: <message>}` with no `msg_id`.
//!
//! Choices the protocol leaves open:
//! - Unique ids are `"<node_id>-<incarnation>-<k>"`, `k` counting from 0 per process. The incarnation
//!   ([`Settings::incarnation`]) tells a restarted process apart from its earlier lives, so ids stay unique when a
//!   node is killed and restarted with an empty state (Maelstrom never restarts a node, but real deployments and
//!   the harness's `kill` nemesis do): the binary takes it from the wall clock at start ([`crate::cli::incarnation`]).
//! - A counter's local adds go to a replica entry of this process's own, `"<node_id>-<incarnation>"`: a restarted
//!   node counts from 0 again, and under its old entry its adds would hide behind what its earlier life counted.
//! - A client's update is answered once it has left this node in a push ([`Acks::Sent`], the default): a node
//!   that batches its own updates (the star's hub; every node of a counter) holds the answer until its batch
//!   leaves, so that a node killed and restarted empty has lost no update it answered for. `--acks applied`
//!   answers at once.
//! - A counter `add` that would overflow a replica's 64-bit entry, and a counter `read` whose value does not fit in
//!   the 64-bit integer Maelstrom reads (spec §7.3), get error 14 `abort`: definite, because the replica is left
//!   unchanged (`CounterOverflow` guarantees it). Maelstrom's counter client records either as `:info` anyway.
//! - Replies carry `msg_id`s counting from 0 per node. Requests without a `msg_id` are served but not answered.
//! - A body with `in_reply_to` is a reply; this node sends no requests, so it logs and drops it (answering a reply
//!   with an error could start an endless exchange). So are messages addressed to another node.
//! - A repeated `init` with the same `node_id` and `node_ids` is answered `init_ok` again and changes nothing; a
//!   different one gets error 22 `precondition-failed`.
//! - Replicas are capped so that a peer cannot make this node materialise more than it can hold (a ~1 MB roaring
//!   delta can describe billions of integers, and a `read` lists them all): a set holds at most
//!   [`MAX_SET_ELEMENTS`] elements, a counter at most [`MAX_COUNTER_ENTRIES`] replica entries. An engine message
//!   whose delta could take the replica past its cap is logged and dropped, not merged; a local `add` or
//!   `broadcast` that would pass it gets error 14 `abort` (definite: the replica is unchanged).
//! - An element whose JSON is larger than one message to a peer can carry ([`Engine::max_element_bytes`]: the
//!   message budget less 4096 bytes for the header) gets error 14 too: acknowledged, it could never spread.
//! - Values come back as written: a request holding an integer beyond 64 bits, a number beyond the double range or
//!   a key repeated in one object gets error 12 (`-0` is the integer 0); an engine message holding one is dropped
//!   (see [`crate::protocol::parse_line`]).

use std::sync::Arc;
use std::time::Duration;

use osmosis_antientropy::{Config, ConfigError, Engine, Message};
use osmosis_crdt::{GCounter, GSet, JsonSet, PNCounter, Repair};
use serde_json::Value;

use crate::protocol::{
    Envelope, ErrorCode, Incoming, Init, Reply, Request, RequestError, Workload, encode, encode_reply, excerpt,
    parse_line,
};

/// The most elements a broadcast or g-set replica holds (2^22 = 4 194 304). A `read` lists every element: at this
/// cap the reply is tens of MB of JSON and the listing some hundreds of MB of `serde_json::Value`s, still within
/// reach; without a cap, one ~1 MB roaring delta from a peer describing `0..2^32` would make the next `read`
/// allocate hundreds of GB and abort. Maelstrom's workloads add thousands of elements, far below it.
pub const MAX_SET_ELEMENTS: u64 = 1 << 22;

/// The most replica entries a counter replica holds (2^16 = 65 536; for a pn-counter, its increment and decrement
/// halves together). An honest cluster has one entry per node and half; the cap stops a peer from growing the
/// replica, and every message and digest it is copied into, with made-up replica ids.
pub const MAX_COUNTER_ENTRIES: u64 = 1 << 16;

/// A replica whose size is capped (see the module docs): the size counts what a `read` or a digest walks.
trait Capped: osmosis_antientropy::Replica + osmosis_crdt::Reconcile<Repair = Repair> {
    /// The largest [`Capped::size`] allowed.
    const CAP: u64;
    /// What [`Capped::size`] counts, for logs.
    const UNIT: &'static str;
    /// The size, without materialising anything (O(containers) for a set, O(1) for a counter).
    fn size(&self) -> u64;
    /// The size this replica would have after joining `delta`, exactly, without joining (O(d log n) for a set's
    /// delta of d ≤ 4096 integers, O(containers) above, plus the delta's non-integer values; the delta's entries
    /// for a counter). Exact, not `size + delta.size`:
    /// a round's delta resends whole chunks the replica mostly holds, and must not be refused for it.
    fn merged_size(&self, delta: &Self) -> u64;
    /// The size this replica would have at most after a round's message (exact for integer elements, one more
    /// per record, the batch's end for coded cells: a decode adds at most that many keys).
    fn size_after(&self, repair: &Repair) -> u64 {
        match repair {
            Repair::Cells(batch) => self.size().saturating_add(batch.upto() as u64),
            Repair::Want(_) => self.size(),
            Repair::Items(_) | Repair::State(_) => {
                let ints = repair.ints().map_or(0, |i| self.new_ints(i));
                let records = repair.items_len() - repair.ints().map_or(0, GSet::len);
                self.size().saturating_add(ints).saturating_add(records)
            }
        }
    }
    /// How many of `ints` this replica lacks (none of them can be added to a counter: the step refuses them).
    fn new_ints(&self, ints: &GSet) -> u64;
}

impl Capped for JsonSet {
    const CAP: u64 = MAX_SET_ELEMENTS;
    const UNIT: &'static str = "elements";
    fn size(&self) -> u64 {
        self.len()
    }
    fn merged_size(&self, delta: &Self) -> u64 {
        let new_other = delta.other().iter().filter(|v| !self.other().contains(v)).count() as u64;
        self.len().saturating_add(self.new_ints(delta.ints())).saturating_add(new_other)
    }
    fn new_ints(&self, theirs: &GSet) -> u64 {
        let mine = self.ints();
        // A small delta (a push, a repair) is looked up element by element: O(d log n). roaring's `union_len`
        // walks every container of both sides, O(n) per message for scattered elements.
        if theirs.len() <= 4096 {
            theirs.iter().filter(|&x| !mine.contains(x)).count() as u64
        } else {
            mine.as_treemap().union_len(theirs.as_treemap()) - mine.len()
        }
    }
}

impl Capped for GCounter<String> {
    const CAP: u64 = MAX_COUNTER_ENTRIES;
    const UNIT: &'static str = "replica entries";
    fn size(&self) -> u64 {
        self.entries().len() as u64
    }
    fn merged_size(&self, delta: &Self) -> u64 {
        let new = delta.entries().keys().filter(|k| !self.entries().contains_key(*k)).count() as u64;
        self.size() + new
    }
    fn new_ints(&self, _: &GSet) -> u64 {
        0
    }
}

impl Capped for PNCounter<String> {
    const CAP: u64 = MAX_COUNTER_ENTRIES;
    const UNIT: &'static str = "replica entries";
    fn size(&self) -> u64 {
        self.increments().size() + self.decrements().size()
    }
    fn merged_size(&self, delta: &Self) -> u64 {
        self.increments().merged_size(delta.increments()) + self.decrements().merged_size(delta.decrements())
    }
    fn new_ints(&self, _: &GSet) -> u64 {
        0
    }
}

/// What a node is configured with before `init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The workload served.
    pub workload: Workload,
    /// The engine's knobs (see [`crate::cli::default_config`] for each workload's defaults).
    pub config: Config,
    /// The base seed; each node's engine is seeded with `seed ^ hash(node_id)`, so nodes differ and runs repeat.
    pub seed: u64,
    /// Tells this process apart from earlier processes of the same node id (unique ids and a counter's replica
    /// entry embed it): any value that a restart never repeats, or 0 for a node that is never restarted.
    /// [`crate::cli::settings_from_args`] leaves it 0; the binary sets [`crate::cli::incarnation`].
    pub incarnation: u64,
    /// When a client's update is answered.
    pub acks: Acks,
}

/// When a node answers a client's update (`broadcast`, `add`): the answer is a promise that the update will reach
/// every node, and a node that crashes and restarts empty keeps only the promises whose update had left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Acks {
    /// Once the update has left this node in a push to a peer (or had no peer to go to): a node that batches its
    /// own updates (the star's hub, every node of a counter) holds its client's answer until the batch leaves, up
    /// to a window; a node that pushes its own updates at once (a star's leaf) answers at once.
    #[default]
    Sent,
    /// Once a peer has acknowledged a push that carried the update (the engine's [`Config::confirm`]): a leaf
    /// waits for its parent's next batch (about two trips plus a relay window), the hub for the next push up of any
    /// child that has its batch. A crash of this node then loses no answered update even if the network lost the
    /// push or its receiver was down at the time.
    Confirmed,
    /// As soon as the local replica holds the update: a crash of this node within its batching window loses it.
    Applied,
}

/// The replica a workload keeps.
#[derive(Debug)]
enum Replica {
    /// echo, unique-ids.
    Stateless,
    Set(Engine<JsonSet>),
    GCounter(Engine<GCounter<String>>),
    PNCounter(Engine<PNCounter<String>>),
}

impl Replica {
    /// The engine's (local updates taken, local updates that may be answered), if it has one: sent, or confirmed
    /// with [`Config::confirm`] ([`Engine::confirmed_local`] is [`Engine::sent_local`] without it).
    fn local_updates(&self) -> Option<(u64, u64)> {
        match self {
            Replica::Stateless => None,
            Replica::Set(e) => Some((e.local_updates(), e.confirmed_local())),
            Replica::GCounter(e) => Some((e.local_updates(), e.confirmed_local())),
            Replica::PNCounter(e) => Some((e.local_updates(), e.confirmed_local())),
        }
    }
}

/// Who this node is, known from `init` on.
#[derive(Debug)]
struct Identity {
    me: String,
    nodes: Vec<String>,
}

/// Why [`Node::new`] refused its settings. Nothing was built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The engine's config is out of range.
    #[error("bad engine config: {0}")]
    Config(#[from] ConfigError),
    /// The message budget leaves no room for the envelope within a stdin line (peers could not read them).
    #[error(
        "a message budget of {bytes} bytes does not fit a stdin line with its envelope (at most {})",
        crate::cli::MAX_MESSAGE_BYTES
    )]
    BudgetAboveLineLimit {
        /// The budget given.
        bytes: usize,
    },
}

/// A sans-IO Maelstrom node (see the module docs).
#[derive(Debug)]
pub struct Node {
    settings: Settings,
    identity: Option<Identity>,
    replica: Replica,
    next_msg_id: u64,
    next_unique: u64,
    output: Vec<String>,
    /// Answers to clients' updates held until the update has left ([`Acks::Sent`]): (the engine's local update
    /// number it waits for, the line), in order.
    held: std::collections::VecDeque<(u64, String)>,
}

impl Node {
    /// A node that waits for `init`.
    ///
    /// # Errors
    /// [`NodeError::Config`] if `settings.config` is out of range ([`Config::validate`]);
    /// [`NodeError::BudgetAboveLineLimit`] if its message budget is too large for a stdin line.
    pub fn new(settings: Settings) -> Result<Node, NodeError> {
        crate::cli::check_config(&settings.config)?;
        Ok(Node {
            settings,
            identity: None,
            replica: Replica::Stateless,
            next_msg_id: 0,
            next_unique: 0,
            output: vec![],
            held: std::collections::VecDeque::new(),
        })
    }

    /// The node's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// This node's id, once `init` has arrived.
    pub fn node_id(&self) -> Option<&str> {
        self.identity.as_ref().map(|i| i.me.as_str())
    }

    /// Handles one stdin line (with or without its trailing newline) received at `now`. Never panics: lines that
    /// are not messages are logged and skipped, bad requests are answered with an `error` (see [`crate::protocol`]).
    pub fn handle_line(&mut self, now: Duration, line: &str) {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let msg = match parse_line(line) {
            Ok(msg) => msg,
            Err(e) => {
                tracing::warn!("skipping a line that is not a Maelstrom message ({e}): {}", excerpt(line));
                return;
            }
        };
        if let Some(id) = &self.identity
            && msg.dest != id.me
        {
            tracing::warn!("dropping a {} message addressed to {:?}, not to this node", excerpt(&msg.kind), msg.dest);
            return;
        }
        // Every `ae_*` type is the engine's, known or not: a peer of another version is never answered.
        if msg.kind.starts_with("ae_") {
            match &msg.defect {
                Some(defect) => tracing::warn!("dropping a {} from {:?}: {defect}", excerpt(&msg.kind), msg.src),
                None => self.on_engine_message(now, msg),
            }
        } else if msg.in_reply_to.is_some() {
            tracing::warn!("dropping a reply ({}) from {:?}: this node sends no requests", excerpt(&msg.kind), msg.src);
        } else {
            let served = match &msg.defect {
                Some(defect) => Err(RequestError::new(
                    ErrorCode::MalformedRequest,
                    format!("malformed {}: {defect}", excerpt(&msg.kind)),
                )),
                None => self.serve(now, &msg),
            };
            let wait = match &served {
                Ok(Reply::BroadcastOk | Reply::AddOk) if self.settings.acks != Acks::Applied => {
                    self.replica.local_updates().map(|(taken, _)| taken)
                }
                _ => None,
            };
            let at = self.output.len();
            self.reply(&msg, &served.unwrap_or_else(Reply::from));
            if let Some(n) = wait.filter(|_| self.output.len() > at) {
                let line = self.output.pop().expect("reply() printed one line");
                self.held.push_back((n, line));
            }
        }
        self.drain_engine();
    }

    /// Lets the engine send due batches and start due rounds. Call it once [`Node::next_deadline`] has passed;
    /// calling it more often is harmless.
    pub fn on_tick(&mut self, now: Duration) {
        match &mut self.replica {
            Replica::Stateless => {}
            Replica::Set(e) => e.on_tick(now),
            Replica::GCounter(e) => e.on_tick(now),
            Replica::PNCounter(e) => e.on_tick(now),
        }
        self.drain_engine();
    }

    /// When [`Node::on_tick`] has work next, if ever.
    pub fn next_deadline(&self) -> Option<Duration> {
        match &self.replica {
            Replica::Stateless => None,
            Replica::Set(e) => e.next_deadline(),
            Replica::GCounter(e) => e.next_deadline(),
            Replica::PNCounter(e) => e.next_deadline(),
        }
    }

    /// Takes the lines to print so far (complete JSON objects without newline), in order.
    pub fn take_output(&mut self) -> Vec<String> {
        std::mem::take(&mut self.output)
    }

    /// Serves a request (anything but an engine message or a reply).
    fn serve(&mut self, now: Duration, msg: &Incoming) -> Result<Reply, RequestError> {
        let workload = self.settings.workload;
        let Some(identity) = &self.identity else {
            if msg.kind != "init" {
                return Err(RequestError::new(
                    ErrorCode::TemporarilyUnavailable,
                    format!("{} before init: this node does not know its id yet", excerpt(&msg.kind)),
                ));
            }
            self.init(now, Init::parse(&msg.body)?)?;
            return Ok(Reply::InitOk);
        };
        let me = identity.me.clone();
        match (Request::parse(&msg.kind, &msg.body, workload)?, &mut self.replica) {
            (Request::Init(init), _) => {
                if init.node_id == identity.me && init.node_ids == identity.nodes {
                    Ok(Reply::InitOk)
                } else {
                    Err(RequestError::new(
                        ErrorCode::PreconditionFailed,
                        format!("already initialised as {:?} in a cluster of {}", identity.me, identity.nodes.len()),
                    ))
                }
            }
            (Request::Echo { echo }, _) => Ok(Reply::EchoOk { echo }),
            (Request::Generate, _) => {
                let id = format!("{me}-{}-{}", self.settings.incarnation, self.next_unique);
                self.next_unique += 1;
                Ok(Reply::GenerateOk { id })
            }
            (Request::Topology { .. }, _) => Ok(Reply::TopologyOk),
            (Request::Broadcast { message }, Replica::Set(e)) => {
                insert_capped(e, now, &message)?;
                Ok(Reply::BroadcastOk)
            }
            (Request::AddElement { element }, Replica::Set(e)) => {
                insert_capped(e, now, &element)?;
                Ok(Reply::AddOk)
            }
            (Request::AddDelta { delta }, Replica::GCounter(e)) => {
                let by = u64::try_from(delta).map_err(|_| abort(format!("negative delta {delta}")))?;
                let id = counter_id(&me, self.settings.incarnation);
                if by > 0 && e.state().get(&id) == 0 {
                    room_for_one(e)?;
                }
                e.try_update(now, |c| c.increment(id, by)).map_err(|err| abort(err.to_string()))?;
                Ok(Reply::AddOk)
            }
            (Request::AddDelta { delta }, Replica::PNCounter(e)) => {
                let id = counter_id(&me, self.settings.incarnation);
                let half = if delta >= 0 { e.state().increments() } else { e.state().decrements() };
                if delta != 0 && half.get(&id) == 0 {
                    room_for_one(e)?;
                }
                e.try_update(now, |c| c.add(id, delta)).map_err(|err| abort(err.to_string()))?;
                Ok(Reply::AddOk)
            }
            (Request::Read, Replica::Set(e)) => Ok(match workload {
                Workload::Broadcast => Reply::ReadMessages { messages: e.state().to_values() },
                _ => Reply::ReadSet { value: e.state().to_values() },
            }),
            (Request::Read, Replica::GCounter(e)) => {
                let total = e.state().read();
                let value =
                    i64::try_from(total).map_err(|_| abort(format!("counter value {total} does not fit in i64")))?;
                Ok(Reply::ReadCounter { value })
            }
            (Request::Read, Replica::PNCounter(e)) => {
                let value = e.state().read_i64().map_err(|err| abort(err.to_string()))?;
                Ok(Reply::ReadCounter { value })
            }
            // Request::parse only yields the RPCs the workload serves, and init gives each workload its replica.
            (request, _) => Err(RequestError::new(
                ErrorCode::Crash,
                format!("internal error: no replica for {request:?} in the {workload} workload"),
            )),
        }
    }

    fn init(&mut self, now: Duration, Init { node_id: me, node_ids: nodes }: Init) -> Result<(), RequestError> {
        let seed = self.settings.seed ^ fnv1a(me.as_bytes());
        let mut config = self.settings.config.clone();
        config.confirm |= self.settings.acks == Acks::Confirmed;
        /// The engine of this life of the node: its rounds numbered from the incarnation, since a restarted node's
        /// peers would drop rounds numbered as its earlier life's (0 for a node that is never restarted: tests,
        /// golden files).
        fn start<C: osmosis_antientropy::Replica>(
            me: &str,
            nodes: &[String],
            config: Config,
            seed: u64,
            now: Duration,
            life: u64,
        ) -> Result<Engine<C>, RequestError> {
            let engine = Engine::new(me.to_owned(), nodes.iter().cloned(), config, seed, now)
                .map_err(|e| RequestError::new(ErrorCode::Crash, format!("cannot start the engine: {e}")))?;
            Ok(engine.with_incarnation(life))
        }
        let life = self.settings.incarnation;
        self.replica = match self.settings.workload {
            Workload::Broadcast | Workload::GSet => Replica::Set(start(&me, &nodes, config, seed, now, life)?),
            Workload::GCounter => Replica::GCounter(start(&me, &nodes, config, seed, now, life)?),
            Workload::PnCounter => Replica::PNCounter(start(&me, &nodes, config, seed, now, life)?),
            Workload::Echo | Workload::UniqueIds => Replica::Stateless,
        };
        tracing::info!("init: {me} of {} nodes, {} workload, engine seed {seed}", nodes.len(), self.settings.workload);
        self.identity = Some(Identity { me, nodes });
        Ok(())
    }

    fn on_engine_message(&mut self, now: Duration, msg: Incoming) {
        let from = msg.src;
        let body = Value::Object(msg.body);
        match &mut self.replica {
            Replica::Stateless => {
                tracing::warn!("dropping an engine message from {from:?}: this node keeps no replica (yet)");
            }
            Replica::Set(e) => deliver(e, now, &from, body),
            Replica::GCounter(e) => deliver(e, now, &from, body),
            Replica::PNCounter(e) => deliver(e, now, &from, body),
        }
    }

    /// Queues the reply to `msg`, if it has a `msg_id` to answer.
    fn reply(&mut self, msg: &Incoming, reply: &Reply) {
        let error = match reply {
            Reply::Error { code, text } => format!("error {}: {text}", code.code()),
            _ => String::new(),
        };
        let Some(in_reply_to) = msg.msg_id else {
            if error.is_empty() {
                tracing::debug!("no msg_id on {} from {:?}: no reply", excerpt(&msg.kind), msg.src);
            } else {
                tracing::warn!("no msg_id on {} from {:?} to answer with {error}", excerpt(&msg.kind), msg.src);
            }
            return;
        };
        if !error.is_empty() {
            tracing::info!("answering {} from {:?} with {error}", excerpt(&msg.kind), msg.src);
        }
        // Before init the only name we have is the one the request was sent to.
        let me = self.identity.as_ref().map_or(msg.dest.as_str(), |i| i.me.as_str());
        match encode_reply(me, &msg.src, self.next_msg_id, in_reply_to, reply) {
            Ok(line) => {
                self.next_msg_id += 1;
                self.output.push(line);
            }
            Err(e) => tracing::error!("cannot encode a reply to {:?}: {e}", msg.src),
        }
    }

    /// Prints the engine's messages, then the held answers whose update has left with them.
    fn drain_engine(&mut self) {
        let Some(id) = &self.identity else { return };
        match &mut self.replica {
            Replica::Stateless => {}
            Replica::Set(e) => outbox_lines(&id.me, e, &mut self.output),
            Replica::GCounter(e) => outbox_lines(&id.me, e, &mut self.output),
            Replica::PNCounter(e) => outbox_lines(&id.me, e, &mut self.output),
        }
        let sent = self.replica.local_updates().map_or(u64::MAX, |(_, left)| left);
        while self.held.front().is_some_and(|&(n, _)| n <= sent) {
            let (_, line) = self.held.pop_front().expect("checked above");
            self.output.push(line);
        }
    }
}

/// The replica entry a counter's local adds go to: the node id and its incarnation (`n1-1764640000000000`), or
/// the id alone for incarnation 0 (a node that is never restarted: tests, golden files). A restarted process counts
/// from 0, and under its old entry its new adds would stay hidden behind the larger value its earlier life left
/// on the other nodes (a join keeps the maximum) until they exceeded it.
fn counter_id(me: &str, incarnation: u64) -> String {
    if incarnation == 0 { me.to_owned() } else { format!("{me}-{incarnation}") }
}

/// Error 14 (definite): the replica is unchanged (see the module docs).
fn abort(text: String) -> RequestError {
    RequestError::new(ErrorCode::Abort, text)
}

/// Error 14 (replica unchanged) if a local update that adds one element or one replica entry would take the
/// replica past its cap (the bound [`Capped::merged_size`] holds a peer's delta to).
fn room_for_one<C: Capped>(engine: &Engine<C>) -> Result<(), RequestError> {
    if engine.state().size() >= C::CAP {
        return Err(abort(format!("the replica is full: it holds the most {} this node keeps, {}", C::UNIT, C::CAP)));
    }
    Ok(())
}

/// Inserts a client's element in place, unless it is new and the replica is full, or it is larger than any message
/// to a peer can carry (error 14 either way: acknowledged, it could never spread). Below the cap the element is not
/// looked up first (ingest costs one lookup, the insert's).
fn insert_capped(engine: &mut Engine<JsonSet>, now: Duration, value: &Value) -> Result<(), RequestError> {
    let (bytes, most) = (osmosis_crdt::json_len(value), engine.max_element_bytes());
    if bytes > most {
        return Err(abort(format!(
            "the element takes {bytes} bytes of JSON, more than the {most} one message to a peer carries"
        )));
    }
    // Below the cap there is room whether or not the element is new: no lookup before the insert's own.
    if engine.state().size() >= JsonSet::CAP && !engine.state().contains(value) {
        room_for_one(engine)?;
    }
    engine.update(now, |s| s.insert(value));
    Ok(())
}

/// Decodes an engine message from a peer and hands it to the engine; a bad one is logged and dropped, and so is one
/// carrying a delta that would take the replica past its cap ([`Capped::merged_size`], computed without merging).
fn deliver<C: Capped>(engine: &mut Engine<C>, now: Duration, from: &String, body: Value) {
    let msg = match serde_json::from_value::<Message<C>>(body) {
        Ok(msg) => msg,
        Err(e) => {
            tracing::warn!("dropping a malformed engine message from {from:?}: {}", excerpt(&e.to_string()));
            return;
        }
    };
    let (have, after) = match &msg {
        Message::Push { delta, .. } => (engine.state().size(), engine.state().merged_size(delta)),
        Message::Reply { repair, .. } | Message::Repair { repair, .. } => {
            (engine.state().size(), engine.state().size_after(repair))
        }
        Message::Summary { .. } => (0, 0),
    };
    if after > C::CAP {
        tracing::warn!(
            "dropping a {} from {from:?}: it could take this replica from {have} to {after} {}, past the cap of {}",
            msg.kind(),
            C::UNIT,
            C::CAP
        );
        return;
    }
    engine.on_message(now, from, msg);
}

/// Prints the engine's messages. A delta that several pushes share (a hub's batch for each of its children: the
/// engine cuts it once) is encoded once, its text spliced into each of their lines.
fn outbox_lines<C: Capped>(me: &str, engine: &mut Engine<C>, out: &mut Vec<String>) {
    let mut shared: Vec<(Arc<C>, String)> = Vec::new();
    for (dest, msg) in engine.take_outbox() {
        let line = match &msg {
            Message::Push { delta, .. } if Arc::strong_count(delta) > 1 => {
                encode_shared_push(&Envelope { src: me, dest: &dest, body: &msg }, &mut shared)
            }
            _ => encode(&Envelope { src: me, dest: &dest, body: &msg }),
        };
        match line {
            Ok(line) => out.push(line),
            Err(e) => tracing::error!("cannot encode a {} to {dest:?}: {e}", msg.kind()),
        }
    }
}

/// The line of a push whose delta other pushes share, the delta's text taken from `shared` (or encoded and kept
/// there): the push is encoded with an empty delta, whose text is then replaced. The first `"delta":` of the line
/// is the push's own field: `src`, `dest`, `type` and `seq` come before it, and a JSON string cannot hold that
/// text (a quote inside a string is escaped).
fn encode_shared_push<C: Capped>(
    envelope: &Envelope<'_, &Message<C>>,
    shared: &mut Vec<(Arc<C>, String)>,
) -> Result<String, serde_json::Error> {
    let Message::Push { seq, delta, ack, up, urgent, suspects } = envelope.body else {
        return encode(envelope);
    };
    let text = match shared.iter().find(|(d, _)| Arc::ptr_eq(d, delta)) {
        Some((_, text)) => text,
        None => {
            shared.push((Arc::clone(delta), serde_json::to_string(&**delta)?));
            &shared.last().expect("pushed above").1
        }
    };
    let (seq, ack, up, urgent, suspects) = (*seq, *ack, *up, *urgent, suspects.clone());
    let blank: Message<C> = Message::Push { seq, delta: Arc::default(), ack, up, urgent, suspects };
    let line = encode(&Envelope { body: &blank, ..*envelope })?;
    let empty = format!("\"delta\":{}", serde_json::to_string(&C::default())?);
    let Some(at) = line.find(&empty) else { return encode(envelope) };
    let mut spliced = String::with_capacity(line.len() + text.len());
    spliced.push_str(&line[..at + "\"delta\":".len()]);
    spliced.push_str(text);
    spliced.push_str(&line[at + empty.len()..]);
    Ok(spliced)
}

/// 64-bit FNV-1a: a fixed hash, so a node id's seed is the same on every build and platform.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
