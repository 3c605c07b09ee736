use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::latency::quantile_series;
use super::rate::rate_series;
use super::stable::cdf_steps;
use super::*;
use crate::checker::{CheckConfig, check};
use crate::history::{Op, Process};
use crate::net::NetStats;
use crate::workload::Workload;

fn push(h: &mut History, process: Process, op_type: OpType, f: F, value: Value, ms: u64) {
    let time = ms * 1_000_000;
    h.push(Op { index: 0, time, op_type, process, f, value, final_read: false, error: None });
}

fn nemesis(h: &mut History, f: F, ms: u64, done: Value) {
    push(h, Process::Nemesis, OpType::Info, f, Value::Null, ms);
    push(h, Process::Nemesis, OpType::Info, f, done, ms + 1);
}

fn point(f: F, completion: OpType, invoked_ms: u64, latency_ms: u64) -> LatencyPoint {
    let invoked_s = invoked_ms as f64 / 1e3;
    let latency_ms = latency_ms as f64;
    LatencyPoint { f, completion, invoked_s, completed_s: invoked_s + latency_ms / 1e3, latency_ms }
}

/// A broadcast-like run: 10 s, a partition from 2 s to 5 s, some timeouts, one element lost.
fn sample_history() -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut h = History::default();
    let mut seen = Vec::new();
    for i in 0..400u64 {
        let t = i * 25;
        if i == 80 {
            nemesis(&mut h, F::StartPartition, t, json!(["isolated", {"n1": ["n2"], "n2": ["n1"]}]));
        }
        if i == 200 {
            nemesis(&mut h, F::StopPartition, t, json!("network-healed"));
        }
        let p = i % 5;
        let lat = rng.random_range(0..40u64) + if (80..200).contains(&i) { 60 } else { 0 };
        if i % 2 == 0 {
            push(&mut h, Process::Client(p), OpType::Invoke, F::Broadcast, json!(i), t);
            let done = if i % 37 == 0 { OpType::Info } else { OpType::Ok };
            push(&mut h, Process::Client(p), done, F::Broadcast, json!(i), t + lat);
            // element 100 reaches every node but the last reader
            if i != 100 {
                seen.push((i, t + lat + rng.random_range(0..150u64)));
            }
        } else {
            push(&mut h, Process::Client(p), OpType::Invoke, F::Read, Value::Null, t);
            let done = if i % 41 == 0 { OpType::Fail } else { OpType::Ok };
            let mut visible: Vec<u64> = seen.iter().filter(|(_, at)| *at <= t).map(|(e, _)| *e).collect();
            if i < 300 && t > 2600 {
                visible.push(100);
            }
            push(&mut h, Process::Client(p), done, F::Read, json!(visible), t + lat);
        }
    }
    h
}

#[test]
fn latency_points_pair_invocations_with_completions() {
    let h = sample_history();
    let pts = latency_points(&h);
    assert_eq!(pts.len(), 400);
    assert_eq!(pts[0].f, F::Broadcast);
    assert!(pts.iter().any(|p| p.completion == OpType::Info));
    assert!(pts.iter().all(|p| p.latency_ms >= 0.0 && p.latency_ms < 100.0));
    assert!(pts.iter().all(|p| p.completed_s >= p.invoked_s));
}

#[test]
fn fault_intervals_run_from_a_fault_taking_effect_to_the_op_that_undoes_it() {
    let h = sample_history();
    assert_eq!(fault_intervals(&h), vec![(FaultKind::Partition, 2.001, 5.0)]);
    let mut h = History::default();
    nemesis(&mut h, F::StartPartition, 1000, json!(["isolated", {"n1": ["n2"]}]));
    nemesis(&mut h, F::Kill, 1500, json!(["n3"]));
    nemesis(&mut h, F::Start, 1800, json!(["n3"]));
    nemesis(&mut h, F::Pause, 1900, json!("n2"));
    push(&mut h, Process::Client(0), OpType::Invoke, F::Read, Value::Null, 3000);
    let got = fault_intervals(&h);
    assert_eq!(
        got,
        vec![(FaultKind::Partition, 1.001, 3.0), (FaultKind::Kill, 1.501, 1.8), (FaultKind::Pause, 1.901, 3.0)],
        "faults in force at the end stop at the last entry"
    );
}

#[test]
fn tick_labels_are_integers_when_whole_and_short_otherwise() {
    assert_eq!(tick(&2000.0), "2000");
    assert_eq!(tick(&0.0), "0");
    assert_eq!(tick(&-0.0001), "0");
    assert_eq!(tick(&0.5), "0.5");
    assert_eq!(tick(&(0.1 + 0.2)), "0.3");
    assert_eq!(tick(&12.25), "12.25");
}

#[test]
fn windows_cut_a_run_into_at_most_forty() {
    assert_eq!(window(3.0), 0.1);
    assert_eq!(window(10.0), 0.5);
    assert_eq!(window(20.0), 0.5);
    assert_eq!(window(30.0), 1.0);
    assert_eq!(window(600.0), 30.0);
    assert_eq!(window(1e9), 600.0);
}

#[test]
fn latency_quantiles_follow_jepsens_rule_per_window_and_f() {
    let pts = [
        point(F::Read, OpType::Ok, 100, 4),
        point(F::Read, OpType::Ok, 200, 1),
        point(F::Read, OpType::Fail, 300, 3),
        point(F::Read, OpType::Ok, 400, 2),
        point(F::Broadcast, OpType::Ok, 1200, 7),
    ];
    let s = quantile_series(&pts, 1.0);
    // F's order: broadcast before read
    assert_eq!(s[0], (F::Broadcast, vec![(1.5, [7.0; 4])]));
    // read latencies 1, 2, 3, 4 ms: 0.5 → sorted[2] = 3; 0.95, 0.99 and 1 → 4
    assert_eq!(s[1], (F::Read, vec![(0.5, [3.0, 4.0, 4.0, 4.0])]));
}

#[test]
fn rates_count_completions_per_second_per_window_with_zeros() {
    let pts = [
        point(F::Read, OpType::Ok, 100, 0),
        point(F::Read, OpType::Ok, 200, 0),
        point(F::Read, OpType::Ok, 300, 0),
        point(F::Read, OpType::Info, 1100, 0),
    ];
    let s = rate_series(&pts, 0.5, 1.5);
    assert_eq!(s[0], ((F::Read, OpType::Ok), vec![(0.25, 6.0), (0.75, 0.0), (1.25, 0.0)]));
    assert_eq!(s[1], ((F::Read, OpType::Info), vec![(0.25, 0.0), (0.75, 0.0), (1.25, 2.0)]));
}

#[test]
fn the_stable_latency_curve_ends_below_one_by_the_share_of_lost_elements() {
    assert_eq!(cdf_steps(&[20, 10], 4), vec![(0, 0.0), (10, 0.0), (10, 0.25), (20, 0.25), (20, 0.5)]);
    assert_eq!(cdf_steps(&[], 0), vec![(0, 0.0)]);
}

/// The text of every `<text>` element of an SVG, trimmed.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim().to_owned()))
        .collect()
}

/// Tick labels that print a whole number with a decimal point (`2000.0`).
fn float_ticks(svg: &str) -> Vec<String> {
    texts(svg).into_iter().filter(|t| t.ends_with(".0") && t[..t.len() - 2].parse::<i64>().is_ok()).collect()
}

fn results_of(h: &History, workload: Workload) -> crate::checker::Results {
    let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
    let cluster = crate::checker::Cluster::new(nodes, 5, crate::latency::Latency::zero());
    let config = CheckConfig { workload, availability: None, cluster: Some(cluster) };
    check(&config, h, &NetStats::default(), &[])
}

/// A journal: setup, then a broadcast, its relay (delivered), a relay never delivered and one delivered late.
fn sample_journal(path: &std::path::Path) {
    let lines = [
        r#"{"type":"send","time":100,"id":0,"src":"c0","dest":"n1","body":{"type":"init","node_id":"n1","node_ids":["n1","n2","n10"],"msg_id":1}}"#,
        r#"{"type":"recv","time":100,"id":0,"src":"c0","dest":"n1"}"#,
        r#"{"type":"send","time":5000000,"id":1,"src":"c12","dest":"n1","body":{"type":"broadcast","message":7,"msg_id":1}}"#,
        r#"{"type":"recv","time":5000000,"id":1,"src":"c12","dest":"n1"}"#,
        r#"{"type":"send","time":5100000,"id":2,"src":"n1","dest":"n10","body":{"type":"gossip","message":7}}"#,
        r#"{"type":"send","time":5100000,"id":3,"src":"n1","dest":"n2","body":{"type":"gossip","message":7}}"#,
        r#"{"type":"send","time":5100000,"id":4,"src":"n1","dest":"lin-kv","body":{"type":"error","code":11,"text":"<busy>"}}"#,
        r#"{"type":"recv","time":105100000,"id":2,"src":"n1","dest":"n10"}"#,
        r#"{"type":"recv","time":205100000,"id":4,"src":"n1","dest":"lin-kv"}"#,
        r#"{"type":"send","time":300000000,"id":5,"src":"n2","dest":"n1","body":{"type":"read_ok"}}"#,
    ];
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn the_message_timeline_draws_a_window_after_setup_and_tells_late_messages_from_lost_ones() {
    let dir = std::env::temp_dir().join(format!("osmosis-plot-messages-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("net-journal.jsonl");
    sample_journal(&journal);
    let w = messages::read_window(&journal, 5, 100).unwrap();
    // init and its delivery are setup: the window starts with the broadcast
    assert_eq!(w.times, [5_000_000, 5_000_000, 5_100_000, 5_100_000, 5_100_000]);
    assert_eq!(w.later_events, 3);
    let fates: Vec<messages::Fate> = w.sent.values().map(|(_, f)| *f).collect();
    use messages::Fate::*;
    assert_eq!(fates, [Delivered(1), Later(100_100_000), Never, Later(200_100_000)]);
    let svg = messages::render(&w);
    let columns: Vec<usize> =
        [">n1<", ">n2<", ">n10<", ">lin-kv<", ">c12<"].iter().map(|c| svg.find(c).unwrap()).collect();
    assert!(columns.windows(2).all(|p| p[0] < p[1]), "nodes in natural order, then services, then clients");
    assert!(svg.contains(r#"broadcast {&quot;message&quot;:7}"#), "bodies are labelled without msg_id");
    assert!(svg.contains("error &quot;&lt;busy&gt;&quot;"), "errors show their text, XML-escaped");
    assert!(svg.contains("gossip → n2: never delivered") && svg.contains("(arrives +100.1 ms)"));
    assert!(svg.contains("2 messages sent in this window are delivered after it"));
    assert!(svg.contains("3 later network events are not shown"));
    // a duplicated message is delivered twice: both arrows are drawn
    let dup = [
        r#"{"type":"send","time":0,"id":9,"src":"n1","dest":"n2","body":{"type":"gossip"}}"#,
        r#"{"type":"recv","time":5,"id":9,"src":"n1","dest":"n2"}"#,
        r#"{"type":"recv","time":7,"id":9,"src":"n1","dest":"n2"}"#,
    ];
    std::fs::write(&journal, dup.join("\n")).unwrap();
    let w = messages::read_window(&journal, 10, 100).unwrap();
    assert_eq!((w.duplicates.clone(), w.sent[&9].1), (vec![(9, 2)], Delivered(1)));
    assert!(messages::render(&w).contains("gossip (duplicate)"));
    // a journal with nothing after setup still gives a (blank) diagram
    std::fs::write(&journal, "not json\n").unwrap();
    let empty = messages::render(&messages::read_window(&journal, 5, 100).unwrap());
    assert!(empty.starts_with("<svg") && empty.ends_with("</svg>\n"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plots_are_written_as_svg_with_text_labels() {
    let h = sample_history();
    let results = results_of(&h, Workload::Broadcast);
    assert!(results.lost().contains(&json!(100)), "the sample loses element 100");
    let lost = results.lost().len();
    let dir = std::env::temp_dir().join(format!("osmosis-plot-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    sample_journal(&dir.join("net-journal.jsonl"));
    let written = write_plots(&dir, &h, &results).unwrap();
    let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["latency-raw.svg", "latency-quantiles.svg", "rate.svg", "stable-latency.svg", "messages.svg"]);
    let read = |i: usize| std::fs::read_to_string(&written[i]).unwrap();
    let raw = read(0);
    assert!(raw.starts_with("<svg"));
    for label in ["Latency (ms, log scale", "Time (s)", "broadcast ok", "read ok", "read fail", "partition"] {
        assert!(raw.contains(label), "missing {label}");
    }
    // broadcast and read successes in different colours
    assert!(raw.contains("#81BFFC") && raw.contains("#2CA02C"));
    assert!(float_ticks(&raw).is_empty() && texts(&raw).contains(&"2".to_owned()), "{:?}", texts(&raw));
    let q = read(1);
    assert!(q.contains("Latency quantiles (0.5 s windows)") && q.contains("read 0.99") && q.contains("broadcast 1"));
    let rate = read(2);
    assert!(rate.contains("Throughput (ops/s)") && rate.contains("broadcast info"));
    let stable = read(3);
    assert!(stable.contains("Stable latency (ms)"));
    assert!(stable.contains(&format!("{lost} lost of")));
    assert!(stable.contains(&format!("lost elements ({lost}): never stable")));
    assert!(stable.contains("ideal (osmosis extension)"));
    assert!(float_ticks(&stable).is_empty(), "integer ms ticks: {:?}", texts(&stable));
    assert!(float_ticks(&q).is_empty() && float_ticks(&rate).is_empty());
    if std::env::var_os("OSMOSIS_KEEP_PLOTS").is_some() {
        eprintln!("plots kept in {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn plots_of_an_empty_history_still_render_and_skip_stable_latency_and_messages_without_a_journal() {
    let h = History::default();
    let results = results_of(&h, Workload::Echo);
    let dir = std::env::temp_dir().join(format!("osmosis-plot-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let written = write_plots(&dir, &h, &results).unwrap();
    let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["latency-raw.svg", "latency-quantiles.svg", "rate.svg"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(write_plots(&dir.join("missing/dir"), &h, &results).is_err());
}
