//! Maelstrom's built-in services (spec §3.5): `lin-kv`, `seq-kv`, `lww-kv` and `lin-tso`, registered in every run.
//!
//! None of the workloads in scope needs them, but a node may talk to them, so the harness answers rather than
//! treating the name as an unknown destination. All three key-value services are served linearizably here: a
//! linearizable store is a legal behaviour of the sequential and last-write-wins stores too, so a node correct
//! against Maelstrom's weaker services is correct against these; the reverse does not hold (documented in the
//! README).

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The services' names, in registration order.
pub const SERVICE_NAMES: [&str; 4] = ["lin-kv", "lww-kv", "seq-kv", "lin-tso"];

/// One service's state.
#[derive(Debug, Default)]
pub struct Service {
    kv: BTreeMap<String, Value>,
    next_ts: u64,
}

impl Service {
    /// Handles a request body addressed to the service `name`; returns the reply body (with `in_reply_to`), or
    /// `None` when the request carries no `msg_id` (nothing to reply to).
    pub fn handle(&mut self, name: &str, body: &Value) -> Option<Value> {
        let msg_id = body.get("msg_id")?.clone();
        let mut reply = self.answer(name, body);
        reply["in_reply_to"] = msg_id;
        Some(reply)
    }

    fn answer(&mut self, name: &str, body: &Value) -> Value {
        let error = |code: u32, text: String| json!({"type": "error", "code": code, "text": text});
        let kind = body.get("type").and_then(Value::as_str).unwrap_or_default();
        if name == "lin-tso" {
            return match kind {
                "ts" => {
                    let ts = self.next_ts;
                    self.next_ts += 1;
                    json!({"type": "ts_ok", "ts": ts})
                }
                _ => error(10, format!("lin-tso does not support {kind:?}")),
            };
        }
        let Some(key) = body.get("key") else {
            return error(12, format!("{kind:?} needs a key"));
        };
        // Keys are compared as values: JSON text is a canonical enough identity for the values clients send.
        let key = key.to_string();
        match kind {
            "read" => match self.kv.get(&key) {
                Some(v) => json!({"type": "read_ok", "value": v}),
                None => error(20, "key does not exist".to_owned()),
            },
            "write" => match body.get("value") {
                Some(v) => {
                    self.kv.insert(key, v.clone());
                    json!({"type": "write_ok"})
                }
                None => error(12, "write needs a value".to_owned()),
            },
            "cas" => {
                let (Some(from), Some(to)) = (body.get("from"), body.get("to")) else {
                    return error(12, "cas needs from and to".to_owned());
                };
                let create = body.get("create_if_not_exists").and_then(Value::as_bool).unwrap_or(false);
                match self.kv.get(&key) {
                    None if create => {
                        self.kv.insert(key, to.clone());
                        json!({"type": "cas_ok"})
                    }
                    None => error(20, "key does not exist".to_owned()),
                    Some(cur) if cur == from => {
                        self.kv.insert(key, to.clone());
                        json!({"type": "cas_ok"})
                    }
                    Some(cur) => error(22, format!("expected {from}, but had {cur}")),
                }
            }
            _ => error(10, format!("{name} does not support {kind:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_reads_what_was_written_and_cas_checks_the_current_value() {
        let mut s = Service::default();
        let r = s.handle("lin-kv", &json!({"type": "read", "key": "k", "msg_id": 1})).unwrap();
        assert_eq!(r["code"], 20);
        assert_eq!(r["in_reply_to"], 1);
        s.handle("lin-kv", &json!({"type": "write", "key": "k", "value": 1, "msg_id": 2})).unwrap();
        let r = s.handle("lin-kv", &json!({"type": "cas", "key": "k", "from": 2, "to": 3, "msg_id": 3})).unwrap();
        assert_eq!(r["code"], 22);
        let r = s.handle("lin-kv", &json!({"type": "cas", "key": "k", "from": 1, "to": 3, "msg_id": 4})).unwrap();
        assert_eq!(r["type"], "cas_ok");
        let r = s.handle("lin-kv", &json!({"type": "read", "key": "k", "msg_id": 5})).unwrap();
        assert_eq!(r, json!({"type": "read_ok", "value": 3, "in_reply_to": 5}));
    }

    #[test]
    fn tso_counts_from_zero_and_requests_without_msg_id_get_no_reply() {
        let mut s = Service::default();
        assert_eq!(s.handle("lin-tso", &json!({"type": "ts", "msg_id": 1})).unwrap()["ts"], 0);
        assert_eq!(s.handle("lin-tso", &json!({"type": "ts", "msg_id": 2})).unwrap()["ts"], 1);
        assert!(s.handle("lin-tso", &json!({"type": "ts"})).is_none());
    }
}
