//! What Maelstrom's clients send and how they judge what comes back (spec §3.4, §5.3, §7): request bodies, the
//! closed reply schemas, the error registry and the `:ok`/`:fail`/`:info` rules. Pure functions, no I/O.

use serde_json::{Map, Value, json};

use crate::generator::Invocation;
use crate::history::{F, OpError, OpType};
use crate::workload::Workload;

/// Maelstrom's client RPC timeout (spec §3.4).
pub const RPC_TIMEOUT_MS: u64 = 5_000;
/// The `init` timeout (spec §3.3).
pub const INIT_TIMEOUT_MS: u64 = 10_000;

/// Name and definiteness of an error code (`resources/errors.edn`, spec §3.4).
pub fn error_code(code: Option<i64>) -> (&'static str, bool) {
    match code {
        Some(0) => ("timeout", false),
        Some(1) => ("node-not-found", true),
        Some(10) => ("not-supported", true),
        Some(11) => ("temporarily-unavailable", true),
        Some(12) => ("malformed-request", true),
        Some(13) => ("crash", false),
        Some(14) => ("abort", true),
        Some(20) => ("key-does-not-exist", true),
        Some(21) => ("key-already-exists", true),
        Some(22) => ("precondition-failed", true),
        Some(30) => ("txn-conflict", true),
        _ => ("unknown", false),
    }
}

/// How an operation ended, before it is written to the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// `:ok`, `:fail` or `:info`.
    pub op_type: OpType,
    /// The completion's `:value`.
    pub value: Value,
    /// The completion's `:error`.
    pub error: Option<OpError>,
    /// A problem with the node's reply worth a diagnostic (malformed reply), if any.
    pub problem: Option<String>,
}

/// The request body for a client operation, without its `msg_id` (the client adds it when it sends, spec §3.4).
pub fn request_body(workload: Workload, op: &Invocation) -> Value {
    match (workload, op.f) {
        (Workload::Broadcast, F::Broadcast) => json!({"type": "broadcast", "message": op.value}),
        (Workload::GSet, F::Add) => json!({"type": "add", "element": op.value}),
        (Workload::GCounter | Workload::PnCounter, F::Add) => json!({"type": "add", "delta": op.value}),
        (_, F::Read) => json!({"type": "read"}),
        (_, F::Echo) => json!({"type": "echo", "echo": op.value}),
        (_, F::Generate) => json!({"type": "generate"}),
        (w, f) => json!({"type": f.name(), "value": op.value, "workload": w.name()}),
    }
}

/// The keys a reply's body must carry besides `type`/`in_reply_to`/`msg_id`, and their checks.
#[derive(Clone, Copy)]
enum Field {
    /// any JSON value
    Any,
    /// a JSON array, or `null` (Prismatic Schema's vector check is `(or (nil? x) (sequential? x))`; a null read
    /// then reads as the empty set)
    Array,
    /// an integer that fits in 64 bits
    Int,
}

fn expected_reply(workload: Workload, f: F) -> (&'static str, &'static [(&'static str, Field)]) {
    match (workload, f) {
        (Workload::Broadcast, F::Broadcast) => ("broadcast_ok", &[]),
        (Workload::Broadcast, F::Read) => ("read_ok", &[("messages", Field::Array)]),
        (Workload::GSet, F::Add) => ("add_ok", &[]),
        (Workload::GSet, F::Read) => ("read_ok", &[("value", Field::Array)]),
        (Workload::GCounter | Workload::PnCounter, F::Add) => ("add_ok", &[]),
        (Workload::GCounter | Workload::PnCounter, F::Read) => ("read_ok", &[("value", Field::Int)]),
        (_, F::Echo) => ("echo_ok", &[("echo", Field::Any)]),
        (_, F::Generate) => ("generate_ok", &[("id", Field::Any)]),
        _ => ("?", &[]),
    }
}

/// Checks a reply body against a closed schema: exactly `type` (= `reply_type`), `in_reply_to` (integer),
/// optionally `msg_id` (integer), and `fields`. Returns the body as a map, or what is wrong.
fn check_schema<'a>(
    body: &'a Value,
    reply_type: &str,
    fields: &[(&str, Field)],
) -> Result<&'a Map<String, Value>, String> {
    let map = body.as_object().ok_or_else(|| "reply body is not a JSON object".to_owned())?;
    match map.get("type") {
        Some(Value::String(t)) if t == reply_type => {}
        Some(t) => return Err(format!("reply type is {t}, expected {reply_type:?}")),
        None => return Err("reply has no type".to_owned()),
    }
    match map.get("in_reply_to") {
        Some(v) if v.is_i64() || v.is_u64() => {}
        Some(v) => return Err(format!("in_reply_to is {v}, expected an integer")),
        None => return Err("reply has no in_reply_to".to_owned()),
    }
    if let Some(v) = map.get("msg_id")
        && !(v.is_i64() || v.is_u64())
    {
        return Err(format!("msg_id is {v}, expected an integer"));
    }
    for (name, field) in fields {
        let v = map.get(*name).ok_or_else(|| format!("reply has no {name:?} key"))?;
        let ok = match field {
            Field::Any => true,
            Field::Array => v.is_array() || v.is_null(),
            Field::Int => v.is_i64(),
        };
        if !ok {
            let want = match field {
                Field::Any => "any value",
                Field::Array => "an array",
                Field::Int => "a 64-bit integer",
            };
            return Err(format!("{name:?} is {}, expected {want}", clip_value(v)));
        }
    }
    for key in map.keys() {
        let allowed = matches!(key.as_str(), "type" | "in_reply_to" | "msg_id") || fields.iter().any(|(n, _)| n == key);
        if !allowed {
            return Err(format!("reply has a key the schema does not allow: {key:?}"));
        }
    }
    Ok(map)
}

fn clip_value(v: &Value) -> String {
    crate::diagnostic::clip(&v.to_string(), 80)
}

/// Does Maelstrom wrap this workload's client in its error wrapper (spec §5.3a)?
fn wrapped(workload: Workload) -> bool {
    matches!(workload, Workload::Broadcast | Workload::Echo | Workload::UniqueIds)
}

/// Is `f` idempotent for the error wrapper (broadcast `#{:read}`, echo and unique-ids `#{}`)?
fn idempotent(workload: Workload, f: F) -> bool {
    workload == Workload::Broadcast && f == F::Read
}

fn indeterminate(op: &Invocation, message: String, problem: Option<String>) -> Completion {
    Completion {
        op_type: OpType::Info,
        value: op.value.clone(),
        error: Some(OpError::Indeterminate { message }),
        problem,
    }
}

/// Judges a reply (already matched to the request by `in_reply_to`).
pub fn on_reply(workload: Workload, op: &Invocation, body: &Value) -> Completion {
    if body.get("type").and_then(Value::as_str) == Some("error") {
        let code = body.get("code").and_then(Value::as_i64);
        let text = body.get("text").and_then(Value::as_str).unwrap_or_default().to_owned();
        let (name, definite) = error_code(code);
        if !wrapped(workload) {
            let message = format!("RPC error {}: {name}: {text}", code.map_or("nil".to_owned(), |c| c.to_string()));
            return indeterminate(op, message, None);
        }
        let op_type = if definite || idempotent(workload, op.f) { OpType::Fail } else { OpType::Info };
        return Completion {
            op_type,
            value: op.value.clone(),
            error: Some(OpError::Rpc { code: code.unwrap_or(-1), name: name.to_owned(), text }),
            problem: None,
        };
    }
    let (reply_type, fields) = expected_reply(workload, op.f);
    match check_schema(body, reply_type, fields) {
        Err(why) => {
            let message = format!("Malformed RPC response: {why}");
            indeterminate(op, message.clone(), Some(message))
        }
        Ok(map) => {
            let value = match (workload, op.f) {
                (Workload::Broadcast, F::Read) => map["messages"].clone(),
                (_, F::Read) => map["value"].clone(),
                (_, F::Echo) => body.clone(),
                (_, F::Generate) => map["id"].clone(),
                _ => op.value.clone(),
            };
            Completion { op_type: OpType::Ok, value, error: None, problem: None }
        }
    }
}

/// The completion of a request that got no reply within [`RPC_TIMEOUT_MS`].
pub fn on_timeout(workload: Workload, op: &Invocation) -> Completion {
    if !wrapped(workload) {
        return indeterminate(op, "Client read timeout".to_owned(), None);
    }
    let op_type = if idempotent(workload, op.f) { OpType::Fail } else { OpType::Info };
    Completion { op_type, value: op.value.clone(), error: Some(OpError::NetTimeout), problem: None }
}

/// Checks an `init` reply: only its type matters (spec §3.3).
pub fn check_init_reply(body: &Value) -> Result<(), String> {
    match body.get("type").and_then(Value::as_str) {
        Some("init_ok") => Ok(()),
        Some("error") => Err(format!("init was answered with an error: {}", clip_value(body))),
        _ => Err(format!("Expected an init_ok message, but got {}", clip_value(body))),
    }
}

/// Checks a `topology` reply: exactly `{type: topology_ok, in_reply_to, msg_id?}` (spec §3.6).
pub fn check_topology_reply(body: &Value) -> Result<(), String> {
    if body.get("type").and_then(Value::as_str) == Some("error") {
        return Err(format!("topology was answered with an error: {}", clip_value(body)));
    }
    check_schema(body, "topology_ok", &[]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(f: F, value: Value) -> Invocation {
        Invocation { f, value, final_read: false }
    }

    #[test]
    fn requests_carry_the_workload_fields() {
        assert_eq!(
            request_body(Workload::Broadcast, &op(F::Broadcast, json!(3))),
            json!({"type": "broadcast", "message": 3})
        );
        assert_eq!(request_body(Workload::GSet, &op(F::Add, json!(4))), json!({"type": "add", "element": 4}));
        assert_eq!(request_body(Workload::PnCounter, &op(F::Add, json!(-5))), json!({"type": "add", "delta": -5}));
        assert_eq!(request_body(Workload::GSet, &op(F::Read, Value::Null)), json!({"type": "read"}));
    }

    #[test]
    fn a_broadcast_read_ok_takes_the_messages_as_value() {
        let c = on_reply(
            Workload::Broadcast,
            &op(F::Read, Value::Null),
            &json!({"type": "read_ok", "in_reply_to": 1, "messages": [1, 2]}),
        );
        assert_eq!((c.op_type, c.value), (OpType::Ok, json!([1, 2])));
    }

    #[test]
    fn a_null_read_is_a_valid_reply_like_in_maelstroms_schema() {
        let c = on_reply(
            Workload::Broadcast,
            &op(F::Read, Value::Null),
            &json!({"type": "read_ok", "in_reply_to": 1, "messages": null}),
        );
        assert_eq!((c.op_type, c.value), (OpType::Ok, Value::Null));
        let c = on_reply(
            Workload::GSet,
            &op(F::Read, Value::Null),
            &json!({"type": "read_ok", "in_reply_to": 1, "value": 3}),
        );
        assert_eq!(c.op_type, OpType::Info);
    }

    #[test]
    fn an_extra_key_makes_a_reply_malformed_and_is_named() {
        let c = on_reply(
            Workload::Broadcast,
            &op(F::Read, Value::Null),
            &json!({"type": "read_ok", "in_reply_to": 1, "messages": [], "oops": 1}),
        );
        assert_eq!(c.op_type, OpType::Info);
        assert!(c.problem.unwrap().contains("\"oops\""));
    }

    #[test]
    fn a_wrong_reply_type_is_malformed() {
        let c = on_reply(Workload::GSet, &op(F::Add, json!(1)), &json!({"type": "read_ok", "in_reply_to": 1}));
        assert_eq!(c.op_type, OpType::Info);
    }

    #[test]
    fn a_counter_read_must_be_a_64_bit_integer() {
        let read = op(F::Read, Value::Null);
        let ok = on_reply(Workload::GCounter, &read, &json!({"type": "read_ok", "in_reply_to": 1, "value": 7}));
        assert_eq!((ok.op_type, ok.value), (OpType::Ok, json!(7)));
        for bad in [json!(7.5), json!("7"), json!(u64::MAX)] {
            let c = on_reply(Workload::GCounter, &read, &json!({"type": "read_ok", "in_reply_to": 1, "value": bad}));
            assert_eq!(c.op_type, OpType::Info, "{bad}");
        }
    }

    #[test]
    fn wrapped_errors_fail_when_definite_or_idempotent() {
        let err = |code| json!({"type": "error", "in_reply_to": 1, "code": code, "text": "no"});
        let b = op(F::Broadcast, json!(1));
        assert_eq!(on_reply(Workload::Broadcast, &b, &err(11)).op_type, OpType::Fail);
        assert_eq!(on_reply(Workload::Broadcast, &b, &err(13)).op_type, OpType::Info);
        assert_eq!(on_reply(Workload::Broadcast, &b, &err(1000)).op_type, OpType::Info);
        let r = op(F::Read, Value::Null);
        assert_eq!(on_reply(Workload::Broadcast, &r, &err(13)).op_type, OpType::Fail);
        let c = on_reply(Workload::Broadcast, &b, &err(11));
        assert_eq!(c.error, Some(OpError::Rpc { code: 11, name: "temporarily-unavailable".into(), text: "no".into() }));
    }

    #[test]
    fn unwrapped_workloads_turn_every_failure_into_info() {
        let a = op(F::Add, json!(1));
        let err = json!({"type": "error", "in_reply_to": 1, "code": 11});
        assert_eq!(on_reply(Workload::GSet, &a, &err).op_type, OpType::Info);
        let t = on_timeout(Workload::PnCounter, &a);
        assert_eq!(t.op_type, OpType::Info);
        assert_eq!(t.error, Some(OpError::Indeterminate { message: "Client read timeout".into() }));
    }

    #[test]
    fn timeouts_follow_idempotence() {
        assert_eq!(on_timeout(Workload::Broadcast, &op(F::Read, Value::Null)).op_type, OpType::Fail);
        assert_eq!(on_timeout(Workload::Broadcast, &op(F::Broadcast, json!(1))).op_type, OpType::Info);
        assert_eq!(on_timeout(Workload::Echo, &op(F::Echo, json!("x"))).op_type, OpType::Info);
    }

    #[test]
    fn echo_ok_keeps_the_whole_body() {
        let body = json!({"type": "echo_ok", "in_reply_to": 1, "echo": "hi", "msg_id": 9});
        let c = on_reply(Workload::Echo, &op(F::Echo, json!("hi")), &body);
        assert_eq!((c.op_type, c.value), (OpType::Ok, body));
    }

    #[test]
    fn init_and_topology_replies_are_checked() {
        assert!(check_init_reply(&json!({"type": "init_ok", "anything": 1})).is_ok());
        assert!(check_init_reply(&json!({"type": "error", "code": 13})).is_err());
        assert!(check_topology_reply(&json!({"type": "topology_ok", "in_reply_to": 1})).is_ok());
        assert!(check_topology_reply(&json!({"type": "topology_ok", "in_reply_to": 1, "x": 1})).is_err());
    }
}
