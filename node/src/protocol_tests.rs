use serde_json::json;

use super::*;

fn body(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("test bodies are objects"),
    }
}

fn parse(kind: &str, v: Value, w: Workload) -> Result<Request, RequestError> {
    Request::parse(kind, &body(v), w)
}

fn code_of(r: Result<Request, RequestError>) -> u16 {
    r.expect_err("expected an error").code.code()
}

#[test]
fn a_well_formed_line_parses_with_maelstroms_extra_id() {
    let line = r#"{"id":7,"src":"c1","dest":"n1","body":{"type":"echo","echo":"x","msg_id":3}}"#;
    let msg = parse_line(line).unwrap();
    assert_eq!((msg.src.as_str(), msg.dest.as_str(), msg.kind.as_str()), ("c1", "n1", "echo"));
    assert_eq!((msg.msg_id, msg.in_reply_to), (Some(3), None));
    assert_eq!(msg.body["echo"], json!("x"));
}

#[test]
fn each_kind_of_unparsable_line_is_its_own_line_error() {
    let cases = [
        ("", "not JSON"),
        ("{", "not JSON"),
        ("[1,2]", "not a JSON object"),
        ("17", "not a JSON object"),
        (r#"{"dest":"n1","body":{"type":"echo"}}"#, "\"src\""),
        (r#"{"src":1,"dest":"n1","body":{"type":"echo"}}"#, "\"src\""),
        (r#"{"src":"c1","body":{"type":"echo"}}"#, "\"dest\""),
        (r#"{"src":"c1","dest":"n1"}"#, "\"body\""),
        (r#"{"src":"c1","dest":"n1","body":[]}"#, "\"body\""),
        (r#"{"src":"c1","dest":"n1","body":{}}"#, "\"type\""),
        (r#"{"src":"c1","dest":"n1","body":{"type":5}}"#, "\"type\""),
        (r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":-1}}"#, "\"msg_id\""),
        (r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":1.5}}"#, "\"msg_id\""),
        (r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":"1"}}"#, "\"msg_id\""),
        (r#"{"src":"c1","dest":"n1","body":{"type":"x_ok","in_reply_to":null}}"#, "\"in_reply_to\""),
    ];
    for (line, needle) in cases {
        let err = parse_line(line).expect_err(line).to_string();
        assert!(err.contains(needle), "{line}: {err:?} should mention {needle}");
    }
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let line = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(parse_line(&line), Err(LineError::NotJson(_))));
}

#[test]
fn unknown_types_are_not_supported_whatever_the_workload() {
    for w in Workload::ALL {
        assert_eq!(code_of(parse("cas", json!({}), w)), 10);
    }
}

#[test]
fn another_workloads_rpc_is_not_supported() {
    assert_eq!(code_of(parse("broadcast", json!({"message": 1}), Workload::GCounter)), 10);
    assert_eq!(code_of(parse("add", json!({"element": 1}), Workload::Broadcast)), 10);
    assert_eq!(code_of(parse("read", json!({}), Workload::Echo)), 10);
    assert_eq!(code_of(parse("read", json!({}), Workload::UniqueIds)), 10);
}

#[test]
fn echo_generate_and_topology_are_served_by_every_workload() {
    for w in Workload::ALL {
        assert_eq!(parse("echo", json!({"echo": null}), w), Ok(Request::Echo { echo: Value::Null }));
        assert_eq!(parse("generate", json!({}), w), Ok(Request::Generate));
        let topology = BTreeMap::from([("n1".to_string(), vec!["n2".to_string()])]);
        assert_eq!(parse("topology", json!({"topology": {"n1": ["n2"]}}), w), Ok(Request::Topology { topology }));
    }
}

#[test]
fn add_means_element_on_a_g_set_and_delta_on_a_counter() {
    assert_eq!(parse("add", json!({"element": [1]}), Workload::GSet), Ok(Request::AddElement { element: json!([1]) }));
    assert_eq!(parse("add", json!({"delta": -3}), Workload::PnCounter), Ok(Request::AddDelta { delta: -3 }));
    assert_eq!(parse("add", json!({"delta": 3}), Workload::GCounter), Ok(Request::AddDelta { delta: 3 }));
}

#[test]
fn missing_or_mistyped_fields_are_malformed_and_the_text_names_the_field() {
    let cases = [
        ("init", json!({"node_ids": ["n1"]}), Workload::Broadcast, "node_id"),
        ("init", json!({"node_id": 1, "node_ids": ["n1"]}), Workload::Broadcast, "node_id"),
        ("init", json!({"node_id": "n1"}), Workload::Broadcast, "node_ids"),
        ("init", json!({"node_id": "n1", "node_ids": ["n1", 2]}), Workload::Broadcast, "node_ids"),
        ("init", json!({"node_id": "n9", "node_ids": ["n1"]}), Workload::Broadcast, "node_ids"),
        ("echo", json!({}), Workload::Echo, "echo"),
        ("topology", json!({}), Workload::Broadcast, "topology"),
        ("topology", json!({"topology": {"n1": "n2"}}), Workload::Broadcast, "topology"),
        ("broadcast", json!({}), Workload::Broadcast, "message"),
        ("add", json!({"delta": 1}), Workload::GSet, "element"),
        ("add", json!({}), Workload::PnCounter, "delta"),
        ("add", json!({"delta": 1.5}), Workload::PnCounter, "delta"),
        ("add", json!({"delta": "1"}), Workload::PnCounter, "delta"),
        ("add", json!({"delta": u64::MAX}), Workload::PnCounter, "delta"),
        ("add", json!({"delta": -1}), Workload::GCounter, "delta"),
    ];
    for (kind, b, w, field) in cases {
        let err = parse(kind, b.clone(), w).expect_err(&b.to_string());
        assert_eq!(err.code, ErrorCode::MalformedRequest, "{kind} {b}");
        assert!(err.text.contains(&format!("\"{field}\"")), "{kind} {b}: {:?} should name {field}", err.text);
    }
}

#[test]
fn a_null_field_is_present() {
    assert_eq!(
        parse("broadcast", json!({"message": null}), Workload::Broadcast),
        Ok(Request::Broadcast { message: Value::Null })
    );
}

#[test]
fn error_codes_are_maelstroms() {
    let table: Vec<(u16, &str, bool)> = ErrorCode::ALL.iter().map(|c| (c.code(), c.name(), c.is_definite())).collect();
    assert_eq!(
        table,
        [
            (0, "timeout", false),
            (1, "node-not-found", true),
            (10, "not-supported", true),
            (11, "temporarily-unavailable", true),
            (12, "malformed-request", true),
            (13, "crash", false),
            (14, "abort", true),
            (20, "key-does-not-exist", true),
            (21, "key-already-exists", true),
            (22, "precondition-failed", true),
            (30, "txn-conflict", true),
        ]
    );
    for c in ErrorCode::ALL {
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, c.code().to_string());
        assert_eq!(serde_json::from_str::<ErrorCode>(&text).unwrap(), c);
    }
    assert!(serde_json::from_str::<ErrorCode>("2").is_err());
    assert_eq!(ErrorCode::from_code(1000), None);
}

#[test]
fn replies_carry_exactly_the_keys_of_maelstroms_schemas() {
    let cases = [
        (Reply::InitOk, json!({"type": "init_ok"})),
        (Reply::EchoOk { echo: json!({"a": [1]}) }, json!({"type": "echo_ok", "echo": {"a": [1]}})),
        (Reply::TopologyOk, json!({"type": "topology_ok"})),
        (Reply::BroadcastOk, json!({"type": "broadcast_ok"})),
        (Reply::ReadMessages { messages: vec![json!(1)] }, json!({"type": "read_ok", "messages": [1]})),
        (Reply::ReadSet { value: vec![json!("a")] }, json!({"type": "read_ok", "value": ["a"]})),
        (Reply::ReadCounter { value: -4 }, json!({"type": "read_ok", "value": -4})),
        (Reply::AddOk, json!({"type": "add_ok"})),
        (Reply::GenerateOk { id: "n1-0".into() }, json!({"type": "generate_ok", "id": "n1-0"})),
        (
            Reply::Error { code: ErrorCode::NotSupported, text: "no".into() },
            json!({"type": "error", "code": 10, "text": "no"}),
        ),
    ];
    for (reply, mut expected) in cases {
        let line = encode_reply("n1", "c2", 5, 9, &reply).unwrap();
        let got: Value = serde_json::from_str(&line).unwrap();
        expected["msg_id"] = json!(5);
        expected["in_reply_to"] = json!(9);
        assert_eq!(got, json!({"src": "n1", "dest": "c2", "body": expected}));
    }
}

#[test]
fn excerpts_cut_long_text_on_a_character_boundary() {
    assert_eq!(excerpt("short"), "short");
    let long = "é".repeat(150);
    let cut = excerpt(&long);
    assert_eq!(cut.chars().count(), 101);
    assert!(cut.ends_with('…'));
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |v, _| json!([v]))
}

#[test]
fn elements_nested_deeper_than_peers_can_decode_are_refused() {
    let ok = nested(MAX_ELEMENT_DEPTH);
    assert_eq!(parse("add", json!({ "element": ok }), Workload::GSet), Ok(Request::AddElement { element: ok }));
    let deep = nested(MAX_ELEMENT_DEPTH + 1);
    assert_eq!(code_of(parse("broadcast", json!({ "message": deep }), Workload::Broadcast)), 12);
    assert_eq!(code_of(parse("add", json!({ "element": deep }), Workload::GSet)), 12);
}

#[test]
fn the_deepest_accepted_element_still_parses_inside_a_peers_push() {
    use osmosis_antientropy::Message;
    use osmosis_crdt::JsonSet;
    let delta = JsonSet::new().insert(&nested(MAX_ELEMENT_DEPTH));
    let push: Message<JsonSet> = Message::push(0, delta);
    let line = json!({"src": "n0", "dest": "n1", "body": push}).to_string();
    let msg = parse_line(&line).expect("a peer decodes the push");
    let back: Message<JsonSet> = serde_json::from_value(Value::Object(msg.body)).expect("and its delta");
    assert_eq!(back, push);
}
