//! The Maelstrom wire format as types (spec §3): the envelope, the requests of each workload (spec §7), the replies,
//! and Maelstrom's error codes (spec §3.4).
//!
//! Decoding is in two steps, each strict and panic-free:
//! 1. [`parse_line`] turns one stdin line into an [`Incoming`] message: a JSON object with string `src` and `dest`,
//!    an object `body` with a string `type` and, if present, a non-negative integer `msg_id` (`-0` is 0). Numbers
//!    are kept exactly or flagged: an integer beyond 64 bits or a number beyond the double range, and a key
//!    repeated in one object, make the line's [`Incoming::defect`] (see `json.rs`). Maelstrom's extra
//!    top-level `id` (its network message id, spec §3.1) is accepted and ignored. Anything else is a [`LineError`]:
//!    the line is logged and skipped, since there is nobody to answer.
//! 2. [`Request::parse`] turns a body into a [`Request`] of the node's [`Workload`], or into a [`RequestError`]
//!    carrying the code to answer with: [`ErrorCode::NotSupported`] (10) for a type the workload does not serve,
//!    [`ErrorCode::MalformedRequest`] (12) with a text naming the field for a missing or mistyped field. Unknown
//!    extra fields are ignored.
//!
//! Engine messages between nodes (`ae_*`) are bodies too; the handler decodes them with serde into
//! [`osmosis_antientropy::Message`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::json;

/// The workload a node serves (spec §7.1–§7.6), chosen on the command line. `echo` and `generate` are served by every
/// workload; `topology` is acknowledged by every workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Workload {
    /// `broadcast {message}` / `read` → `read_ok {messages}`.
    Broadcast,
    /// `add {element}` / `read` → `read_ok {value: [...]}`.
    GSet,
    /// `add {delta}` with `delta ≥ 0` / `read` → `read_ok {value: int}`.
    GCounter,
    /// `add {delta}` / `read` → `read_ok {value: int}`.
    PnCounter,
    /// Only the RPCs every workload serves (`echo`, `generate`).
    Echo,
    /// Only the RPCs every workload serves (`generate`, `echo`).
    UniqueIds,
}

impl Workload {
    /// Maelstrom's name of the workload (`g-set`, `pn-counter`, …).
    pub fn name(self) -> &'static str {
        match self {
            Workload::Broadcast => "broadcast",
            Workload::GSet => "g-set",
            Workload::GCounter => "g-counter",
            Workload::PnCounter => "pn-counter",
            Workload::Echo => "echo",
            Workload::UniqueIds => "unique-ids",
        }
    }

    /// Every workload, in the order of the command line's help.
    pub const ALL: [Workload; 6] = [
        Workload::Broadcast,
        Workload::GSet,
        Workload::GCounter,
        Workload::PnCounter,
        Workload::Echo,
        Workload::UniqueIds,
    ];
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Maelstrom's error codes (spec §3.4, `resources/errors.edn`), sent as the integer `code` of an `error` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    /// 0: the request timed out (indefinite).
    Timeout,
    /// 1: the destination node does not exist.
    NodeNotFound,
    /// 10: the request type is not supported.
    NotSupported,
    /// 11: the node cannot serve the request now (here: before `init`).
    TemporarilyUnavailable,
    /// 12: the request is malformed (a missing or mistyped field).
    MalformedRequest,
    /// 13: the node crashed while handling the request (indefinite).
    Crash,
    /// 14: the operation was aborted; nothing changed.
    Abort,
    /// 20: the key does not exist.
    KeyDoesNotExist,
    /// 21: the key already exists.
    KeyAlreadyExists,
    /// 22: a precondition failed.
    PreconditionFailed,
    /// 30: a transaction conflicted.
    TxnConflict,
}

impl ErrorCode {
    /// Every code, ascending.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::Timeout,
        ErrorCode::NodeNotFound,
        ErrorCode::NotSupported,
        ErrorCode::TemporarilyUnavailable,
        ErrorCode::MalformedRequest,
        ErrorCode::Crash,
        ErrorCode::Abort,
        ErrorCode::KeyDoesNotExist,
        ErrorCode::KeyAlreadyExists,
        ErrorCode::PreconditionFailed,
        ErrorCode::TxnConflict,
    ];

    /// The integer on the wire.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::Timeout => 0,
            ErrorCode::NodeNotFound => 1,
            ErrorCode::NotSupported => 10,
            ErrorCode::TemporarilyUnavailable => 11,
            ErrorCode::MalformedRequest => 12,
            ErrorCode::Crash => 13,
            ErrorCode::Abort => 14,
            ErrorCode::KeyDoesNotExist => 20,
            ErrorCode::KeyAlreadyExists => 21,
            ErrorCode::PreconditionFailed => 22,
            ErrorCode::TxnConflict => 30,
        }
    }

    /// The code with this integer, if Maelstrom defines one.
    pub fn from_code(code: u64) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| u64::from(c.code()) == code)
    }

    /// Maelstrom's name (`not-supported`, …).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Timeout => "timeout",
            ErrorCode::NodeNotFound => "node-not-found",
            ErrorCode::NotSupported => "not-supported",
            ErrorCode::TemporarilyUnavailable => "temporarily-unavailable",
            ErrorCode::MalformedRequest => "malformed-request",
            ErrorCode::Crash => "crash",
            ErrorCode::Abort => "abort",
            ErrorCode::KeyDoesNotExist => "key-does-not-exist",
            ErrorCode::KeyAlreadyExists => "key-already-exists",
            ErrorCode::PreconditionFailed => "precondition-failed",
            ErrorCode::TxnConflict => "txn-conflict",
        }
    }

    /// Whether the error says for sure that the operation did not happen (spec §3.4, §5.3).
    pub fn is_definite(self) -> bool {
        !matches!(self, ErrorCode::Timeout | ErrorCode::Crash)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.code())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = u64::deserialize(d)?;
        ErrorCode::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown Maelstrom error code {code}")))
    }
}

/// A line that is not a Maelstrom message: logged and skipped, never answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("not a JSON object")]
    NotObject,
    /// `src`, `dest` or `body.type` is missing or not a string.
    #[error("{0:?} is missing or not a string")]
    NotAString(&'static str),
    /// `body` is missing or not an object.
    #[error("\"body\" is missing or not an object")]
    BodyNotObject,
    /// `body.msg_id` (or `body.in_reply_to`) is present but not a non-negative integer, so no reply could name it.
    #[error("{0:?} is not a non-negative integer")]
    BadId(&'static str),
}

/// One message read from stdin, checked for the envelope's shape only.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The sender (a client `c…`, a node, or a service).
    pub src: String,
    /// The addressee.
    pub dest: String,
    /// `body.type`.
    pub kind: String,
    /// `body.msg_id`, if present: a reply is owed only when it is.
    pub msg_id: Option<u64>,
    /// `body.in_reply_to`, if present: the message is a reply (this node never sends requests, so it drops them).
    pub in_reply_to: Option<u64>,
    /// The whole body, `type` included.
    pub body: Map<String, Value>,
    /// Why the line cannot be served as written although its envelope parsed: a number that cannot be kept
    /// exactly (read as 0 in `body`) or a key repeated in one object (the last value kept). A request with a
    /// defect is answered with error 12; an engine message with one is dropped.
    pub defect: Option<String>,
}

/// Parses one line into an [`Incoming`] message (see the module docs for what is checked).
pub fn parse_line(line: &str) -> Result<Incoming, LineError> {
    let (text, bad_numbers) = json::scan_numbers(line);
    let (value, duplicate) = json::parse(&text).map_err(|e| LineError::NotJson(e.to_string()))?;
    let defect = match (bad_numbers.first(), duplicate) {
        (Some(n), _) => Some(format!(
            "the number {n} cannot be kept exactly (osmosis keeps integers within 64 bits and finite doubles)"
        )),
        (None, Some(key)) => Some(format!("the key {key:?} appears twice in one object")),
        (None, None) => None,
    };
    let Value::Object(mut envelope) = value else {
        return Err(LineError::NotObject);
    };
    let mut string = |key: &'static str| match envelope.remove(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(LineError::NotAString(key)),
    };
    let src = string("src")?;
    let dest = string("dest")?;
    let Some(Value::Object(body)) = envelope.remove("body") else {
        return Err(LineError::BodyNotObject);
    };
    let kind = match body.get("type") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(LineError::NotAString("type")),
    };
    let id = |key: &'static str| match body.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or(LineError::BadId(key)),
    };
    let msg_id = id("msg_id")?;
    let in_reply_to = id("in_reply_to")?;
    Ok(Incoming { src, dest, kind, msg_id, in_reply_to, body, defect })
}

/// A request this node serves, decoded from a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `init {node_id, node_ids}` (spec §3.3).
    Init(Init),
    /// `echo {echo}` (spec §7.5).
    Echo {
        /// Any value, sent back as it came.
        echo: Value,
    },
    /// `topology {topology}` (spec §3.6): acknowledged; the engine picks its own overlay.
    Topology {
        /// Each node's neighbours.
        topology: BTreeMap<String, Vec<String>>,
    },
    /// `broadcast {message}` (spec §7.1).
    Broadcast {
        /// Any value.
        message: Value,
    },
    /// `read {}` (broadcast, g-set, counters).
    Read,
    /// g-set's `add {element}` (spec §7.2).
    AddElement {
        /// Any value.
        element: Value,
    },
    /// The counters' `add {delta}` (spec §7.3, §7.4); never negative for g-counter.
    AddDelta {
        /// The amount.
        delta: i64,
    },
    /// `generate {}` (spec §7.6).
    Generate,
}

/// The fields of `init` (spec §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    /// This node's name.
    pub node_id: String,
    /// Every node of the cluster, this one included (checked).
    pub node_ids: Vec<String>,
}

impl Init {
    /// Decodes an `init` body.
    pub fn parse(body: &Map<String, Value>) -> Result<Init, RequestError> {
        let kind = "init";
        let field =
            |name: &'static str| body.get(name).ok_or_else(|| malformed(kind, format!("missing field {name:?}")));
        let node_id = match field("node_id")? {
            Value::String(s) => s.clone(),
            v => return Err(mistyped(kind, "node_id", "a string", v)),
        };
        let raw = field("node_ids")?;
        let node_ids = string_list(raw).ok_or_else(|| mistyped(kind, "node_ids", "an array of strings", raw))?;
        if !node_ids.contains(&node_id) {
            return Err(malformed(kind, format!("field \"node_ids\" does not contain node_id {node_id:?}")));
        }
        Ok(Init { node_id, node_ids })
    }
}

/// The deepest nesting of arrays and objects accepted in a set element. Peers receive elements inside an engine
/// message, five levels down (envelope, body, delta, half, array), and every JSON reader here stops at 128 levels:
/// an element a peer could not decode would be acknowledged and then never spread, so it is refused up front.
pub const MAX_ELEMENT_DEPTH: usize = 100;

/// A set element, refused (error 12) if nested deeper than [`MAX_ELEMENT_DEPTH`].
fn element(kind: &str, name: &str, value: &Value) -> Result<Value, RequestError> {
    fn depth(v: &Value) -> usize {
        match v {
            Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    if depth(value) > MAX_ELEMENT_DEPTH {
        return Err(malformed(
            kind,
            format!("field {name:?} is nested deeper than {MAX_ELEMENT_DEPTH} levels, more than peers can decode"),
        ));
    }
    Ok(value.clone())
}

/// Why a request gets an `error` reply instead of being served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text} (error {code:?})")]
pub struct RequestError {
    /// The code to answer with.
    pub code: ErrorCode,
    /// The text to answer with.
    pub text: String,
}

impl RequestError {
    /// An error with `code` and `text`.
    pub fn new(code: ErrorCode, text: impl Into<String>) -> Self {
        RequestError { code, text: text.into() }
    }
}

impl Request {
    /// Decodes a body of type `kind` for a node serving `workload` (see the module docs for the error codes).
    pub fn parse(kind: &str, body: &Map<String, Value>, workload: Workload) -> Result<Request, RequestError> {
        let serves = |kinds: &[Workload]| kinds.contains(&workload);
        let field =
            |name: &'static str| body.get(name).ok_or_else(|| malformed(kind, format!("missing field {name:?}")));
        let counters = [Workload::GCounter, Workload::PnCounter];
        match kind {
            "init" => Init::parse(body).map(Request::Init),
            "echo" => Ok(Request::Echo { echo: field("echo")?.clone() }),
            "generate" => Ok(Request::Generate),
            "topology" => {
                let raw = field("topology")?;
                let topology = raw
                    .as_object()
                    .and_then(|m| m.iter().map(|(k, v)| Some((k.clone(), string_list(v)?))).collect())
                    .ok_or_else(|| mistyped(kind, "topology", "an object of arrays of strings", raw))?;
                Ok(Request::Topology { topology })
            }
            "broadcast" if serves(&[Workload::Broadcast]) => {
                Ok(Request::Broadcast { message: element(kind, "message", field("message")?)? })
            }
            "read" if serves(&[Workload::Broadcast, Workload::GSet, Workload::GCounter, Workload::PnCounter]) => {
                Ok(Request::Read)
            }
            "add" if serves(&[Workload::GSet]) => {
                Ok(Request::AddElement { element: element(kind, "element", field("element")?)? })
            }
            "add" if serves(&counters) => {
                let raw = field("delta")?;
                let delta = raw.as_i64().ok_or_else(|| mistyped(kind, "delta", "a 64-bit integer", raw))?;
                if workload == Workload::GCounter && delta < 0 {
                    return Err(malformed(kind, format!("field \"delta\" is {delta}: a g-counter only grows")));
                }
                Ok(Request::AddDelta { delta })
            }
            "broadcast" | "read" | "add" => Err(RequestError::new(
                ErrorCode::NotSupported,
                format!("{kind:?} is not served by the {workload} workload"),
            )),
            _ => Err(RequestError::new(ErrorCode::NotSupported, format!("unknown request type {:?}", excerpt(kind)))),
        }
    }
}

fn malformed(kind: &str, what: String) -> RequestError {
    RequestError::new(ErrorCode::MalformedRequest, format!("malformed {kind}: {what}"))
}

fn mistyped(kind: &str, name: &str, expected: &str, got: &Value) -> RequestError {
    malformed(kind, format!("field {name:?} must be {expected}, got {}", excerpt(&got.to_string())))
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(|s| s.as_str().map(str::to_string)).collect()
}

/// At most the first 100 characters of `s`, for logs and error texts (a line may be megabytes long).
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 100;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// A reply body's payload; [`encode_reply`] adds `msg_id` and `in_reply_to`. Each serializes to exactly the keys
/// of Maelstrom's closed reply schema (spec §3.4).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Reply {
    /// `init_ok`.
    #[serde(rename = "init_ok")]
    InitOk,
    /// `echo_ok {echo}`.
    #[serde(rename = "echo_ok")]
    EchoOk {
        /// The request's `echo`.
        echo: Value,
    },
    /// `topology_ok`.
    #[serde(rename = "topology_ok")]
    TopologyOk,
    /// `broadcast_ok`.
    #[serde(rename = "broadcast_ok")]
    BroadcastOk,
    /// broadcast's `read_ok {messages}`.
    #[serde(rename = "read_ok")]
    ReadMessages {
        /// Every message seen.
        messages: Vec<Value>,
    },
    /// g-set's `read_ok {value: [...]}`.
    #[serde(rename = "read_ok")]
    ReadSet {
        /// Every element seen.
        value: Vec<Value>,
    },
    /// The counters' `read_ok {value: int}`.
    #[serde(rename = "read_ok")]
    ReadCounter {
        /// The counter's value.
        value: i64,
    },
    /// `add_ok` (g-set and counters).
    #[serde(rename = "add_ok")]
    AddOk,
    /// `generate_ok {id}`.
    #[serde(rename = "generate_ok")]
    GenerateOk {
        /// A cluster-wide unique id.
        id: String,
    },
    /// `error {code, text}`.
    #[serde(rename = "error")]
    Error {
        /// Maelstrom's code.
        code: ErrorCode,
        /// A human-readable reason.
        text: String,
    },
}

impl From<RequestError> for Reply {
    fn from(e: RequestError) -> Reply {
        Reply::Error { code: e.code, text: e.text }
    }
}

/// An outgoing message (the envelope of spec §3.1, without Maelstrom's own `id`).
#[derive(Debug, Clone, Serialize)]
pub struct Envelope<'a, B> {
    /// This node.
    pub src: &'a str,
    /// The addressee.
    pub dest: &'a str,
    /// The body.
    pub body: B,
}

#[derive(Serialize)]
struct ReplyBody<'a> {
    #[serde(flatten)]
    reply: &'a Reply,
    msg_id: u64,
    in_reply_to: u64,
}

/// The line of a reply from `src` to `dest`, numbered `msg_id`, answering request `in_reply_to`.
pub fn encode_reply(
    src: &str,
    dest: &str,
    msg_id: u64,
    in_reply_to: u64,
    reply: &Reply,
) -> Result<String, serde_json::Error> {
    encode(&Envelope { src, dest, body: ReplyBody { reply, msg_id, in_reply_to } })
}

/// The line of any envelope. Fails only if the body holds a map with non-string keys (none of ours does).
pub fn encode<B: Serialize>(envelope: &Envelope<'_, B>) -> Result<String, serde_json::Error> {
    serde_json::to_string(envelope)
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
