//! Golden wire files: each `tests/golden/*.jsonl` replays a conversation through the sans-IO [`Node`] and pins
//! every line the nodes print, compared as JSON values.
//!
//! Format: one JSON object per line.
//! - Line 1: `{"args": ["<workload>", "--seed", "1", …]}`: the command line every node of the file gets.
//! - `{"comment": "…"}`: ignored.
//! - `{"node": "n1", "in": <message>}`: node `n1` (created on first use) reads the message as a line at the current
//!   time; `{"node": "n1", "in_raw": "<text>"}` feeds text as it is (for lines that are not JSON).
//! - `{"tick_ms": N}`: the clock moves to N ms (never back) and every node's `on_tick` runs, in name order.
//! - `{"deliver": true}`: every message printed so far and addressed to a node of the file (and not yet delivered
//!   or dropped) is fed to that node, in print order. Messages printed meanwhile wait for the next `deliver`.
//! - `{"drop": true}`: those messages are lost instead.
//! - `{"node": "n1", "out": <message>}`: a line node `n1` printed, right after the event that made it print.
//!
//! The runner replays the inputs (every line but `out`) and regenerates the `out` lines; the test fails on the
//! first line that differs from the file. `UPDATE_GOLDEN=1 cargo test -p osmosis-node --test golden` rewrites the
//! files instead (review the diff).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use osmosis_node::cli::settings_from_args;
use osmosis_node::handler::{Node, Settings};
use serde_json::Value;

/// Replays `path`'s inputs; returns the file as it should be (inputs as written, outputs regenerated).
fn replay(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().expect("a header line");
    let settings = header_settings(header);
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut wire: VecDeque<(String, String)> = VecDeque::new(); // (dest, line) printed by a node, for a node
    let mut now = Duration::ZERO;
    let mut out = vec![header.to_string()];
    for (i, line) in lines.enumerate() {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 2));
        if event.get("out").is_some() {
            continue;
        }
        out.push(line.to_string());
        let mut printed: Vec<(String, String)> = Vec::new();
        if let Some(name) = event.get("node").and_then(Value::as_str) {
            let input = match (&event.get("in"), &event.get("in_raw")) {
                (Some(v), None) => v.to_string(),
                (None, Some(Value::String(raw))) => raw.clone(),
                _ => panic!("line {}: a node event needs \"in\" or \"in_raw\" (text)", i + 2),
            };
            let node = nodes.entry(name.to_string()).or_insert_with(|| Node::new(settings.clone()).unwrap());
            node.handle_line(now, &input);
            printed.extend(node.take_output().into_iter().map(|l| (name.to_string(), l)));
        } else if let Some(ms) = event.get("tick_ms").and_then(Value::as_u64) {
            assert!(Duration::from_millis(ms) >= now, "line {}: time goes back", i + 2);
            now = Duration::from_millis(ms);
            for (name, node) in &mut nodes {
                node.on_tick(now);
                printed.extend(node.take_output().into_iter().map(|l| (name.clone(), l)));
            }
        } else if event.get("deliver").is_some() {
            for (dest, line) in std::mem::take(&mut wire) {
                let node = nodes.get_mut(&dest).expect("only messages for nodes of the file are queued");
                node.handle_line(now, &line);
                printed.extend(node.take_output().into_iter().map(|l| (dest.clone(), l)));
            }
        } else if event.get("drop").is_some() {
            wire.clear();
        } else if event.get("comment").is_none() {
            panic!("line {}: unknown event {line}", i + 2);
        }
        for (name, line) in printed {
            let msg: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{name} printed non-JSON {line}: {e}"));
            let dest = msg["dest"].as_str().unwrap_or_default().to_string();
            if nodes.contains_key(&dest) {
                wire.push_back((dest, line.clone()));
            }
            out.push(format!("{{\"node\":{},\"out\":{line}}}", Value::from(name)));
        }
    }
    out
}

fn header_settings(header: &str) -> Settings {
    let header: Value = serde_json::from_str(header).expect("the header is JSON");
    let args: Vec<String> = header["args"]
        .as_array()
        .expect("the header is {\"args\": [...]}")
        .iter()
        .map(|a| a.as_str().expect("args are strings").to_string())
        .collect();
    settings_from_args(std::iter::once("osmosis".to_string()).chain(args)).expect("the header's args parse")
}

fn check(name: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.jsonl"));
    let expected = replay(&path);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, expected.join("\n") + "\n").unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let actual: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let parse = |l: &str| serde_json::from_str::<Value>(l).unwrap();
    for (i, (want, got)) in expected.iter().zip(&actual).enumerate() {
        assert_eq!(
            parse(want),
            parse(got),
            "{name}.jsonl line {}: the node printed the first value, the file says the second \
             (UPDATE_GOLDEN=1 rewrites the file)",
            i + 1
        );
    }
    assert_eq!(expected.len(), actual.len(), "{name}.jsonl: line counts differ (UPDATE_GOLDEN=1 rewrites the file)");
}

#[test]
fn broadcast_between_a_hub_and_a_leaf_pushes_batches_and_repairs_a_lost_push() {
    check("broadcast");
}

#[test]
fn g_set_adds_any_json_value_and_reads_them_in_canonical_order() {
    check("g-set");
}

#[test]
fn g_counter_batches_increments_and_reads_locally() {
    check("g-counter");
}

#[test]
fn pn_counter_adds_signed_deltas() {
    check("pn-counter");
}

#[test]
fn echo_returns_any_value() {
    check("echo");
}

#[test]
fn unique_ids_are_node_id_and_counter() {
    check("unique-ids");
}

#[test]
fn errors_get_maelstroms_codes_and_unparsable_lines_get_silence() {
    check("errors");
}
