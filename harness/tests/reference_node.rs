//! The built `osmosis-reference-node` binary, driven through its stdin/stdout like the harness drives it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const NODE: &str = env!("CARGO_BIN_EXE_osmosis-reference-node");

/// Runs the node with `args`, feeds it `lines`, closes stdin and collects what it printed.
fn run(args: &[&str], lines: &[String]) -> Output {
    run_raw(args, lines.iter().map(|l| format!("{l}\n")).collect::<String>().as_bytes())
}

/// Runs the node with `args`, feeds it `input` verbatim, closes stdin and collects what it printed.
fn run_raw(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(NODE)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The node may already have exited (crash-after-init): a broken pipe is fine here.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn msg(id: u64, src: &str, body: Value) -> String {
    json!({"id": id, "src": src, "dest": "n1", "body": body}).to_string()
}

fn init() -> String {
    msg(0, "c0", json!({"type": "init", "node_id": "n1", "node_ids": ["n1", "n2"], "msg_id": 1}))
}

fn stdout_messages(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_broadcast_session_gets_one_reply_per_request_and_forwards_to_neighbours() {
    let lines = [
        init(),
        msg(1, "c2", json!({"type": "topology", "topology": {"n1": ["n2"], "n2": ["n1"]}, "msg_id": 1})),
        msg(2, "c3", json!({"type": "broadcast", "message": 42, "msg_id": 1})),
        msg(3, "n2", json!({"type": "broadcast", "message": 43})),
        "garbage that must be skipped".to_owned(),
        msg(4, "c3", json!({"type": "read", "msg_id": 2})),
    ];
    let out = run(&["flood-skip-sender"], &lines);
    assert!(out.status.success(), "{out:?}");
    let msgs = stdout_messages(&out);
    let types: Vec<(&str, &str)> =
        msgs.iter().map(|m| (m["dest"].as_str().unwrap(), m["body"]["type"].as_str().unwrap())).collect();
    assert_eq!(
        types,
        vec![("c0", "init_ok"), ("c2", "topology_ok"), ("n2", "broadcast"), ("c3", "broadcast_ok"), ("c3", "read_ok")]
    );
    assert_eq!(msgs[2]["body"], json!({"type": "broadcast", "message": 42}), "forwards carry no msg_id");
    assert_eq!(msgs[4]["body"]["messages"], json!([42, 43]));
    assert!(msgs.iter().all(|m| m["src"] == "n1" && m.as_object().unwrap().len() == 3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not JSON"), "malformed input is logged on stderr");
}

#[test]
fn the_workload_flag_selects_g_set_replies() {
    let lines = [
        init(),
        msg(1, "c3", json!({"type": "add", "element": 1, "msg_id": 1})),
        msg(2, "c3", json!({"type": "read", "msg_id": 2})),
    ];
    let msgs = stdout_messages(&run(&["silent", "--workload", "g-set"], &lines));
    assert_eq!(msgs.len(), 3, "silent forwards nothing: {msgs:?}");
    assert_eq!(msgs[2]["body"]["value"], json!([1]));
}

#[test]
fn crash_after_init_exits_with_status_3_after_init_ok() {
    let out = run(&["crash-after-init"], &[init(), msg(1, "c3", json!({"type": "read", "msg_id": 1}))]);
    assert_eq!(out.status.code(), Some(3));
    let msgs = stdout_messages(&out);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["body"]["type"], "init_ok");
}

#[test]
fn garbage_prints_one_non_json_line_then_keeps_answering() {
    let lines = [
        init(),
        msg(1, "c2", json!({"type": "topology", "topology": {}, "msg_id": 1})),
        msg(2, "c3", json!({"type": "broadcast", "message": 1, "msg_id": 1})),
        msg(3, "c3", json!({"type": "broadcast", "message": 2, "msg_id": 2})),
    ];
    let out = run(&["garbage"], &lines);
    let text = String::from_utf8_lossy(&out.stdout);
    let bad: Vec<&str> = text.lines().filter(|l| serde_json::from_str::<Value>(l).is_err()).collect();
    assert_eq!(bad.len(), 1, "{text}");
    assert!(text.lines().last().unwrap().contains("broadcast_ok"));
}

#[test]
fn late_reply_answers_reads_at_once_while_updates_wait() {
    let lines = [
        init(),
        msg(1, "c2", json!({"type": "topology", "topology": {}, "msg_id": 1})),
        msg(2, "c3", json!({"type": "broadcast", "message": 1, "msg_id": 1})),
        msg(3, "c4", json!({"type": "read", "msg_id": 1})),
    ];
    // Closing stdin ends the node before the 6 s delay, so the broadcast_ok is never printed.
    let types: Vec<Value> =
        stdout_messages(&run(&["late-reply"], &lines)).iter().map(|m| m["body"]["type"].clone()).collect();
    assert_eq!(types, vec![json!("init_ok"), json!("topology_ok"), json!("read_ok")]);
}

#[test]
fn bad_arguments_exit_2_with_usage_on_stderr() {
    for args in [&[][..], &["warp"], &["flood", "--workload", "lin-kv"]] {
        let out = run(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
        assert!(out.stdout.is_empty(), "nothing but protocol messages on stdout");
    }
}

#[test]
fn invalid_utf8_input_is_skipped() {
    let mut input = b"\xff\xfe\n".to_vec();
    input.extend_from_slice(format!("{}\n", init()).as_bytes());
    let out = run_raw(&["flood"], &input);
    assert!(out.status.success());
    assert_eq!(stdout_messages(&out).len(), 1);
}
