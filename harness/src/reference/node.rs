//! The node's logic, sans-IO: one input line in, a list of [`Effect`]s out. The binary's driver performs them, or
//! the in-process adapter ([`super::InProcess`]).
//!
//! Protocol (spec §3): every message is `{"src","dest","body"}` (the harness adds an integer `"id"`, ignored here).
//! Requests carrying a `msg_id` get exactly one reply with `in_reply_to = msg_id` and the node's own `msg_id`
//! counter; messages without `msg_id` are forwarded values between nodes (fire and forget) and are never answered.
//! Reply bodies hold exactly the keys Maelstrom's closed schemas allow (spec §3.4).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::args::{Config, LATE_REPLY_DELAY, Mode, Workload};

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Print this message as one JSON line on stdout.
    Send(Value),
    /// Print this message as one JSON line on stdout after the delay, without holding up other messages.
    SendAfter(Duration, Value),
    /// Print this line on stdout verbatim (not JSON: the `garbage` mode).
    Raw(String),
    /// Write this line on stderr.
    Log(String),
    /// Flush stdout and exit with this status.
    Exit(i32),
    /// Never read stdin again (stay alive).
    StopReading,
}

/// Error codes used in `error` replies (spec §3.4 error registry).
const NOT_SUPPORTED: i64 = 10;
const TEMPORARILY_UNAVAILABLE: i64 = 11;
const MALFORMED_REQUEST: i64 = 12;

/// The line printed instead of a reply by the `garbage` mode.
pub const GARBAGE_LINE: &str = "this is not JSON: reference node in garbage mode";

/// One node's state.
#[derive(Debug)]
pub struct Node {
    config: Config,
    /// `Some` once `init` arrived.
    id: Option<String>,
    /// All node ids from `init`, in test order.
    node_ids: Vec<String>,
    /// Neighbours of this node from `topology` (broadcast only).
    topology_neighbours: Vec<String>,
    /// Canonical JSON of every value known (dedup key).
    seen: BTreeSet<String>,
    /// Values known, in arrival order (broadcast messages / g-set elements).
    values: Vec<Value>,
    /// Counter total (g-counter, pn-counter).
    sum: i64,
    /// Our own `msg_id` counter for replies.
    next_msg_id: u64,
    /// Counter for `unique-ids`.
    next_unique: u64,
    /// Whether the `garbage` mode already printed its garbage.
    garbage_done: bool,
}

impl Node {
    /// A fresh node, before `init`.
    pub fn new(config: Config) -> Node {
        Node {
            config,
            id: None,
            node_ids: Vec::new(),
            topology_neighbours: Vec::new(),
            seen: BTreeSet::new(),
            values: Vec::new(),
            sum: 0,
            next_msg_id: 0,
            next_unique: 0,
            garbage_done: false,
        }
    }

    /// Handles one stdin line. Malformed input yields only a [`Effect::Log`].
    pub fn on_line(&mut self, line: &str) -> Vec<Effect> {
        if line.trim().is_empty() {
            return Vec::new();
        }
        let parsed: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                return vec![log(format!("skipping a line that is not JSON ({e}): {}", clip(line)))];
            }
        };
        let (Some(src), Some(body)) =
            (parsed.get("src").and_then(Value::as_str), parsed.get("body").and_then(Value::as_object))
        else {
            return vec![log(format!("skipping a message without string src and object body: {}", clip(line)))];
        };
        let Some(kind) = body.get("type").and_then(Value::as_str) else {
            return vec![log(format!("skipping a message whose body has no string type: {}", clip(line)))];
        };
        let mut out = Vec::new();
        self.on_message(src, kind, body, &mut out);
        out
    }

    fn on_message(&mut self, src: &str, kind: &str, body: &Map<String, Value>, out: &mut Vec<Effect>) {
        let msg_id = body.get("msg_id").filter(|v| !v.is_null()).cloned();
        if kind == "init" {
            return self.on_init(src, body, msg_id, out);
        }
        if self.id.is_none() {
            return out.push(log(format!("skipping {kind:?} from {src}: not initialised yet")));
        }
        match (kind, self.config.workload) {
            ("topology", _) => self.on_topology(src, body, msg_id, out),
            ("broadcast", Workload::Broadcast) => match body.get("message") {
                Some(v) => self.on_value(src, v.clone(), msg_id, "broadcast_ok", out),
                None => self.malformed(src, msg_id, "broadcast without message", out),
            },
            ("add", Workload::GSet) => match body.get("element") {
                Some(v) => self.on_value(src, v.clone(), msg_id, "add_ok", out),
                None => self.malformed(src, msg_id, "add without element", out),
            },
            ("add", Workload::Counter) => match body.get("delta").and_then(Value::as_i64) {
                Some(d) => self.on_delta(src, d, msg_id, out),
                None => self.malformed(src, msg_id, "add without an integer delta", out),
            },
            ("read", Workload::Broadcast) => {
                self.on_read("messages", Value::from(self.values.clone()), src, msg_id, out);
            }
            ("read", Workload::GSet) => {
                self.on_read("value", Value::from(self.values.clone()), src, msg_id, out);
            }
            ("read", Workload::Counter) => {
                self.on_read("value", Value::from(self.sum), src, msg_id, out);
            }
            ("echo", Workload::Echo) => {
                let echo = body.get("echo").cloned().unwrap_or(Value::Null);
                self.reply(src, msg_id, "echo_ok", [("echo", echo)], out);
            }
            ("generate", Workload::UniqueIds) => {
                let id = format!("{}-{}", self.id.as_deref().unwrap_or("?"), self.next_unique);
                self.next_unique += 1;
                self.reply(src, msg_id, "generate_ok", [("id", Value::from(id))], out);
            }
            _ => {
                out.push(log(format!("{kind:?} from {src} is not supported by this node")));
                self.error(src, msg_id, NOT_SUPPORTED, &format!("{kind} is not supported"), out);
            }
        }
    }

    fn on_init(&mut self, src: &str, body: &Map<String, Value>, msg_id: Option<Value>, out: &mut Vec<Effect>) {
        let Some(id) = body.get("node_id").and_then(Value::as_str) else {
            return self.malformed(src, msg_id, "init without a string node_id", out);
        };
        let node_ids = strings(body.get("node_ids"));
        out.push(log(format!("init: I am {id} of {node_ids:?}")));
        self.id = Some(id.to_owned());
        self.node_ids = node_ids;
        match self.config.mode {
            Mode::HangInit => out.push(log("hang-init: never replying to init".into())),
            Mode::CrashAfterInit => {
                self.reply(src, msg_id, "init_ok", [], out);
                out.push(log("crash-after-init: exiting with status 3".into()));
                out.push(Effect::Exit(3));
            }
            _ => self.reply(src, msg_id, "init_ok", [], out),
        }
    }

    fn on_topology(&mut self, src: &str, body: &Map<String, Value>, msg_id: Option<Value>, out: &mut Vec<Effect>) {
        let me = self.id.as_deref().unwrap_or_default();
        let Some(map) = body.get("topology").and_then(Value::as_object) else {
            return self.malformed(src, msg_id, "topology without an object topology", out);
        };
        self.topology_neighbours = strings(map.get(me));
        out.push(log(format!("topology: my neighbours are {:?}", self.topology_neighbours)));
        self.reply(src, msg_id, "topology_ok", [], out);
        if self.config.mode == Mode::DeafAfterTopology {
            out.push(log("deaf-after-topology: not reading stdin any more".into()));
            out.push(Effect::StopReading);
        }
    }

    /// Neighbours a new value is forwarded to: topology for broadcast, all other nodes otherwise.
    fn neighbours(&self) -> Vec<String> {
        match self.config.workload {
            Workload::Broadcast => self.topology_neighbours.clone(),
            _ => self.node_ids.iter().filter(|n| Some(n.as_str()) != self.id.as_deref()).cloned().collect(),
        }
    }

    /// A broadcast message or g-set element, from a client (with `msg_id`) or forwarded (without).
    fn on_value(&mut self, src: &str, value: Value, msg_id: Option<Value>, ok: &str, out: &mut Vec<Effect>) {
        if msg_id.is_some() && self.config.mode == Mode::ErrorReply {
            return self.error(src, msg_id, TEMPORARILY_UNAVAILABLE, "temporarily unavailable", out);
        }
        if self.seen.insert(value.to_string()) {
            self.values.push(value.clone());
            if self.config.mode.forwards() {
                let (kind, key) = match self.config.workload {
                    Workload::GSet => ("add", "element"),
                    _ => ("broadcast", "message"),
                };
                for n in self.neighbours() {
                    if self.config.mode.skips_sender() && n == src {
                        continue;
                    }
                    out.push(Effect::Send(self.envelope(&n, json!({"type": kind, key: value}))));
                }
            }
        }
        self.update_reply(src, msg_id, ok, out);
    }

    fn on_delta(&mut self, src: &str, delta: i64, msg_id: Option<Value>, out: &mut Vec<Effect>) {
        if msg_id.is_some() && self.config.mode == Mode::ErrorReply {
            return self.error(src, msg_id, TEMPORARILY_UNAVAILABLE, "temporarily unavailable", out);
        }
        self.sum = self.sum.saturating_add(delta);
        // Only a client's add (it carries a msg_id) is forwarded; forwarded adds are just summed.
        if msg_id.is_some() && self.config.mode.forwards() {
            for n in self.neighbours() {
                out.push(Effect::Send(self.envelope(&n, json!({"type": "add", "delta": delta}))));
            }
        }
        self.update_reply(src, msg_id, "add_ok", out);
    }

    /// The reply to a `broadcast`/`add`, bent by the fault modes.
    fn update_reply(&mut self, src: &str, msg_id: Option<Value>, ok: &str, out: &mut Vec<Effect>) {
        let Some(msg_id) = msg_id else { return };
        match self.config.mode {
            Mode::Garbage if !self.garbage_done => {
                self.garbage_done = true;
                out.push(log("garbage: printing a non-JSON line instead of a reply".into()));
                out.push(Effect::Raw(GARBAGE_LINE.into()));
            }
            Mode::WrongReplyId => {
                let wrong = msg_id.as_u64().map_or(msg_id, |id| Value::from(id + 1000));
                self.reply(src, Some(wrong), ok, [], out);
            }
            Mode::LateReply => {
                let mut reply = Vec::new();
                self.reply(src, Some(msg_id), ok, [], &mut reply);
                out.extend(reply.into_iter().map(|e| match e {
                    Effect::Send(m) => Effect::SendAfter(LATE_REPLY_DELAY, m),
                    other => other,
                }));
            }
            _ => self.reply(src, Some(msg_id), ok, [], out),
        }
    }

    fn on_read(&mut self, key: &str, value: Value, src: &str, msg_id: Option<Value>, out: &mut Vec<Effect>) {
        if self.config.mode == Mode::ExtraKey {
            self.reply(src, msg_id, "read_ok", [(key, value), ("oops", Value::from(1))], out);
        } else {
            self.reply(src, msg_id, "read_ok", [(key, value)], out);
        }
    }

    fn malformed(&mut self, src: &str, msg_id: Option<Value>, what: &str, out: &mut Vec<Effect>) {
        out.push(log(format!("malformed request from {src}: {what}")));
        self.error(src, msg_id, MALFORMED_REQUEST, what, out);
    }

    fn error(&mut self, src: &str, msg_id: Option<Value>, code: i64, text: &str, out: &mut Vec<Effect>) {
        self.reply(src, msg_id, "error", [("code", Value::from(code)), ("text", Value::from(text))], out);
    }

    /// Replies to a request; a message without `msg_id` gets nothing.
    fn reply<'k>(
        &mut self,
        dest: &str,
        msg_id: Option<Value>,
        kind: &str,
        fields: impl IntoIterator<Item = (&'k str, Value)>,
        out: &mut Vec<Effect>,
    ) {
        let Some(in_reply_to) = msg_id else { return };
        self.next_msg_id += 1;
        let mut body = Map::new();
        body.insert("type".into(), Value::from(kind));
        body.insert("in_reply_to".into(), in_reply_to);
        body.insert("msg_id".into(), Value::from(self.next_msg_id));
        for (k, v) in fields {
            body.insert(k.into(), v);
        }
        out.push(Effect::Send(self.envelope(dest, Value::Object(body))));
    }

    fn envelope(&self, dest: &str, body: Value) -> Value {
        json!({"src": self.id.as_deref().unwrap_or_default(), "dest": dest, "body": body})
    }
}

fn log(line: String) -> Effect {
    Effect::Log(line)
}

/// The strings of a JSON array (anything else, or non-string items, are dropped).
fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A line cut for logging.
fn clip(line: &str) -> String {
    crate::diagnostic::clip(line, 200)
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
