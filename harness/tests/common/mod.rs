//! Running `osmosis-harness test` against `osmosis-reference-node` and reading what it left in its store.
//!
//! Each run gets its own store under cargo's `CARGO_TARGET_TMPDIR` (`target/tmp/<test file>/<case>/`), wiped before
//! the run and kept afterwards, so a failing test leaves its `results.json`, `history.jsonl` and node logs to read.

#![allow(dead_code)] // each test file uses a different part of this module

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The harness under test.
pub(crate) const HARNESS: &str = env!("CARGO_BIN_EXE_osmosis-harness");
/// The reference node.
pub(crate) const NODE: &str = env!("CARGO_BIN_EXE_osmosis-reference-node");
/// A run that takes longer than this is a hang: the harness is killed and the test fails.
const WATCHDOG: Duration = Duration::from_secs(120);

/// What one `osmosis-harness` invocation produced.
#[derive(Debug)]
pub(crate) struct Run {
    /// Exit status (`None` if killed by a signal).
    pub(crate) code: Option<i32>,
    /// Everything the harness printed on stdout.
    pub(crate) stdout: String,
    /// Everything the harness printed on stderr.
    pub(crate) stderr: String,
    /// The `--store` directory.
    pub(crate) store: PathBuf,
}

/// Runs `osmosis-harness <args>` with the watchdog; `args` are passed verbatim.
pub(crate) fn harness_raw(args: &[&str]) -> Run {
    harness_raw_in(args, PathBuf::new())
}

fn harness_raw_in(args: &[&str], store: PathBuf) -> Run {
    let mut child = Command::new(HARNESS)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn osmosis-harness");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("osmosis-harness {args:?} still running after {WATCHDOG:?}: killed (store {store:?})");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run { code: status.code(), stdout: out.join().unwrap(), stderr: err.join().unwrap(), store }
}

/// A fresh, empty store directory for the case `name` of the calling test file.
pub(crate) fn fresh_store(file: &str, name: &str) -> PathBuf {
    let stem = Path::new(file).file_stem().unwrap().to_string_lossy().into_owned();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(stem).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `osmosis-harness test -w <workload> --bin <reference node> --store <fresh> <flags…> <node_args…>`.
///
/// `store_name` names the store directory (unique per test case); `node_args` are the reference node's trailing
/// arguments (mode, and the workload positionally when it is not broadcast).
pub(crate) fn harness(file: &str, store_name: &str, workload: &str, flags: &[&str], node_args: &[&str]) -> Run {
    let store = fresh_store(file, store_name);
    let store_arg = store.to_str().unwrap().to_owned();
    let mut args = vec!["test", "-w", workload, "--bin", NODE, "--store", &store_arg];
    args.extend_from_slice(flags);
    args.extend_from_slice(node_args);
    let run = harness_raw_in(&args, store);
    eprintln!("osmosis-harness {args:?} → exit {:?}\n--- stderr ---\n{}", run.code, tail(&run.stderr, 4000));
    run
}

fn tail(s: &str, max: usize) -> &str {
    let mut at = s.len().saturating_sub(max);
    while !s.is_char_boundary(at) {
        at += 1;
    }
    &s[at..]
}

impl Run {
    /// The run directory `<store>/<workload>/<timestamp>/`: where `<store>/latest` points, or else the only
    /// directory two levels down that holds a `results.json`.
    pub(crate) fn dir(&self) -> PathBuf {
        if let Ok(dir) = std::fs::canonicalize(self.store.join("latest")) {
            return dir;
        }
        let mut found = Vec::new();
        for w in std::fs::read_dir(&self.store).into_iter().flatten().flatten() {
            for t in std::fs::read_dir(w.path()).into_iter().flatten().flatten() {
                if t.path().join("results.json").is_file() {
                    found.push(t.path());
                }
            }
        }
        assert_eq!(found.len(), 1, "expected one run directory in {:?}, found {found:?}", self.store);
        found.pop().unwrap()
    }

    /// `results.json`.
    pub(crate) fn results(&self) -> Value {
        let path = self.dir().join("results.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}\n{}", self.stderr));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?} is not JSON: {e}"))
    }

    /// `history.jsonl`, one op per line.
    pub(crate) fn history(&self) -> Vec<Value> {
        let path = self.dir().join("history.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad history line {l:?}: {e}")))
            .collect()
    }

    /// `results.json`'s `diagnostics`, each rendered as one string (absent key = none).
    pub(crate) fn diagnostics(&self) -> Vec<String> {
        let results = self.results();
        let Some(list) = results.get("diagnostics") else {
            return Vec::new();
        };
        list.as_array()
            .expect("diagnostics is a list")
            .iter()
            .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned))
            .collect()
    }
}

/// Is this history entry a client invocation (integer process, spec §4.4's op-count)?
pub(crate) fn is_client_invoke(op: &Value) -> bool {
    op["type"] == "invoke" && op["process"].is_u64()
}

/// Number of client invocations of `f` in `history`.
pub(crate) fn invocations(history: &[Value], f: &str) -> u64 {
    history.iter().filter(|op| is_client_invoke(op) && op["f"] == f).count() as u64
}

/// Number of client invocations of any `f` (spec §4.4 op-count).
pub(crate) fn client_invocations(history: &[Value]) -> u64 {
    history.iter().filter(|op| is_client_invoke(op)).count() as u64
}

/// The client completions (`ok`/`fail`/`info` with an integer process).
pub(crate) fn client_completions(history: &[Value]) -> Vec<&Value> {
    history.iter().filter(|op| op["type"] != "invoke" && op["process"].is_u64()).collect()
}

/// `results.json` → `net` → `group` → `key`, as an integer.
pub(crate) fn net_count(results: &Value, group: &str, key: &str) -> u64 {
    results["net"][group][key].as_u64().unwrap_or_else(|| panic!("net.{group}.{key} missing in {}", results["net"]))
}
