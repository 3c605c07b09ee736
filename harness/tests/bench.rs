//! `osmosis-harness bench` end to end: a scenario file run against the reference node, one table on stdout.

mod common;

use std::collections::BTreeMap;

use common::{NODE, Run, client_invocations, fresh_store, harness_raw, invocations};

/// The table's rows by scenario name: header name → cell.
fn rows(stdout: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let split =
        |l: &str| -> Vec<String> { l.trim().trim_matches('|').split(" | ").map(|c| c.trim().to_owned()).collect() };
    let mut lines = stdout.lines().filter(|l| l.starts_with('|'));
    let header = split(lines.next().expect("a table header"));
    let _separator = lines.next().expect("a separator line");
    lines
        .map(|l| {
            let row: BTreeMap<String, String> = header.iter().cloned().zip(split(l)).collect();
            (row["scenario"].clone(), row)
        })
        .collect()
}

/// `msgs/op` as the harness computes and the table prints it: `:msgs-per-op` is a 32-bit float (spec §4.4).
fn per_op(msgs: u64, ops: u64) -> String {
    format!("{:.2}", f64::from((msgs as f64 / ops as f64) as f32))
}

#[test]
fn bench_prints_one_row_per_selected_scenario_with_exact_message_counts() {
    let dir = fresh_store(file!(), "two_scenarios");
    let store = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let common = format!("--bin {NODE} --node-count 3 --time-limit 2 --rate 10 --recovery 1");
    let file = dir.join("scenarios.txt");
    let text = format!(
        "# flood on a 3-node line (E = 2): 2E = 4 server messages per broadcast\n\
         line-flood -w broadcast {common} --topology line --store {} flood\n\
         \n\
         # the counter reference node forwards each add to the N − 1 = 2 other nodes\n\
         counter -w g-counter {common} --store {} flood g-counter\n\
         not-run -w broadcast {common} --store {} crash-after-init\n",
        store("line-flood"),
        store("counter"),
        store("not-run"),
    );
    std::fs::write(&file, text).unwrap();
    let run = harness_raw(&["bench", "--only", "line-flood,counter", file.to_str().unwrap()]);
    eprintln!("--- stderr ---\n{}\n--- stdout ---\n{}", run.stderr, run.stdout);
    assert_eq!(run.code, Some(0), "both scenarios are valid");

    let table = rows(&run.stdout);
    assert_eq!(table.keys().collect::<Vec<_>>(), ["counter", "line-flood"], "one row per selected scenario");
    assert!(!dir.join("not-run").exists(), "--only leaves the other scenarios alone");
    for (name, f, per_add, workload, lost) in
        [("line-flood", "broadcast", 4, "broadcast", "0"), ("counter", "add", 2, "g-counter", "-")]
    {
        let row = &table[name];
        let stored = Run { code: None, stdout: String::new(), stderr: String::new(), store: dir.join(name) };
        let history = stored.history();
        let (adds, ops) = (invocations(&history, f), client_invocations(&history));
        assert!(adds > 0, "{name}: the run issued no {f}");
        assert_eq!(row["workload"], workload);
        assert_eq!((row["nodes"].as_str(), row["nemesis"].as_str()), ("3", "none"));
        assert_eq!(row["valid"], "true", "{name}");
        assert_eq!(row["lost"], lost, "{name}");
        assert_eq!(row["ops"], ops.to_string(), "{name}: ops = client invocations");
        assert_eq!(row["msgs/op"], per_op(per_add * adds, ops), "{name}: {per_add} per {f} × {adds} / {ops} ops");
        assert_eq!(stored.results()["harness"]["seed"], 1, "{name}: the bench's default seed");
    }
    for column in ["stable p50 ms", "stable p95 ms", "stable max ms"] {
        assert!(table["line-flood"][column].parse::<u64>().is_ok(), "{column}: {:?}", table["line-flood"]);
        assert_eq!(table["counter"][column], "-", "counters have no stable latencies");
    }
    assert!(run.stdout.contains("Seeds 1; command: `"), "the footer: {}", run.stdout);
    assert!(run.stderr.contains("[1/2] line-flood seed 1 … valid ("), "progress lines: {}", run.stderr);
    assert!(!run.stdout.contains(":valid?"), "no results map on stdout");
}

#[test]
fn a_bad_scenario_line_exits_254_before_anything_runs() {
    let dir = fresh_store(file!(), "bad_line");
    let file = dir.join("scenarios.txt");
    let store = dir.join("store");
    let good = format!("-w echo --bin {NODE} --time-limit 1 --recovery 0 --store {} flood echo", store.display());
    std::fs::write(&file, format!("ok {good}\n# comment\nbad -w echo --bin {NODE} --topology ring\n")).unwrap();
    let path = file.to_str().unwrap();
    let run = harness_raw(&["bench", path]);
    assert_eq!(run.code, Some(254), "stderr: {}", run.stderr);
    assert!(run.stderr.contains(&format!("{path}:3: bad: --topology ring")), "stderr: {}", run.stderr);
    assert!(!store.exists(), "nothing ran");
    std::fs::write(&file, format!("ok {good}\n")).unwrap();
    let run = harness_raw(&["bench", "--only", "nope", path]);
    assert_eq!(run.code, Some(254), "stderr: {}", run.stderr);
    assert!(run.stderr.contains(&format!("{path}: --only nope: no such scenario")), "stderr: {}", run.stderr);
    assert!(!store.exists(), "nothing ran");
}
