//! Writing the results and the history to the store (spec §10, §6.8), and the console summary (spec §2 step 8).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::checker::edn::{Edn, error_edn, op_value_edn, process_edn};
use crate::checker::set_full::quantiles;
use crate::checker::{Results, Validity};
use crate::history::{History, Op};

/// Writes `results.edn` (pretty EDN, newline-terminated) and `results.json` (pretty JSON, same key order) into
/// `dir`, which must exist.
pub fn write_results(dir: &Path, results: &Results) -> io::Result<()> {
    let edn = results.edn();
    std::fs::write(dir.join("results.edn"), format!("{}\n", edn.to_edn()))?;
    let mut json = serde_json::to_string_pretty(&edn).map_err(io::Error::other)?;
    json.push('\n');
    std::fs::write(dir.join("results.json"), json)
}

/// The line Maelstrom prints after the results map.
pub fn verdict_line(valid: Validity) -> &'static str {
    match valid {
        Validity::True => "Everything looks good! ヽ(‘ー`)ノ",
        Validity::False => "Analysis invalid! (ﾉಥ益ಥ）ﾉ ┻━┻",
        Validity::Unknown => "Errors occurred during analysis, but no anomalies found. ಠ~ಠ",
    }
}

/// What the console shows at the end of a run: the pretty results map, a blank line, the verdict line.
pub fn summary(results: &Results) -> String {
    format!("{}\n\n{}\n", results.to_edn(), verdict_line(results.valid()))
}

/// How many lost elements, and how many nodes of each, the summary line names.
const SUMMARY_LOST: usize = 5;
const SUMMARY_NODES: usize = 6;

/// The one line that ends every run: verdict, server msgs/op, stable latency p50 and max, lost count, and for the
/// first lost elements the nodes whose last read lacked them, e.g.
/// `Summary: invalid · 0.55 msgs/op · stable p50 217 ms, max 6319 ms · lost 2: 17 (not on n2, n4), 18 (not on n1)`.
/// Parts a workload does not have (stable latencies and lost elements outside broadcast and g-set, msgs/op
/// without client ops) are left out.
pub fn summary_line(results: &Results) -> String {
    let verdict = match results.valid() {
        Validity::True => "valid",
        Validity::False => "invalid",
        Validity::Unknown => "unknown",
    };
    let mut parts = vec![verdict.to_owned()];
    if let Some(Edn::Float32(per_op)) = results.net_edn().get_in(&["servers", "msgs-per-op"]) {
        parts.push(format!("{per_op:.2} msgs/op"));
    }
    if let Some(q) = quantiles(results.stable_latencies(), &[0.5, 1.0]) {
        parts.push(format!("stable p50 {} ms, max {} ms", q[0].1, q[1].1));
    }
    let set_full = results.section("workload").and_then(|w| w.get("lost-count")).is_some();
    if set_full {
        parts.push(lost_part(results));
    }
    format!("Summary: {}", parts.join(" · "))
}

fn lost_part(results: &Results) -> String {
    let lost = results.lost();
    if lost.is_empty() {
        return "lost 0".to_owned();
    }
    let lacking = results.ideal().map(|i| &i.lacking[..]).unwrap_or_default();
    let shown: Vec<String> = lost
        .iter()
        .take(SUMMARY_LOST)
        .map(|e| {
            let element = Edn::from_json(e).to_edn_compact();
            match lacking.iter().find(|(v, _)| v == e) {
                Some((_, nodes)) if !nodes.is_empty() => {
                    let mut names = nodes.iter().take(SUMMARY_NODES).cloned().collect::<Vec<_>>().join(", ");
                    if nodes.len() > SUMMARY_NODES {
                        names.push_str(&format!(" and {} more", nodes.len() - SUMMARY_NODES));
                    }
                    format!("{element} (not on {names})")
                }
                _ => element,
            }
        })
        .collect();
    let more = lost.len().saturating_sub(SUMMARY_LOST);
    let tail = if more > 0 { format!(", … {more} more") } else { String::new() };
    format!("lost {}: {}{tail}", lost.len(), shown.join(", "))
}

/// The process exit code for a verdict (spec §1.3): 0 valid, 1 invalid, 2 unknown.
pub fn exit_code(valid: Validity) -> i32 {
    match valid {
        Validity::True => 0,
        Validity::False => 1,
        Validity::Unknown => 2,
    }
}

/// Writes one line per op, in index order.
fn write_lines(path: &Path, history: &History, line: impl Fn(&Op) -> io::Result<String>) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    for op in &history.ops {
        out.write_all(line(op)?.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes the history as JSON Lines: one op object per line, in index order.
pub fn write_history_jsonl(path: &Path, history: &History) -> io::Result<()> {
    write_lines(path, history, |op| serde_json::to_string(op).map_err(io::Error::other))
}

/// Writes `history.edn` as Maelstrom's store has it (spec §10): one op map per line, in index order (printed as
/// plain maps, without the `#jepsen.history.Op` tag, so any EDN reader takes them).
pub fn write_history_edn(path: &Path, history: &History) -> io::Result<()> {
    write_lines(path, history, |op| Ok(crate::checker::edn::op_to_edn(op).to_edn_compact()))
}

/// One `history.txt` line (without newline): `<process>\t<type>\t<f>\t<value>[\t<error>]`, rendered the way
/// Clojure prints them, e.g. `3\t:info\t:broadcast\t1\t:net-timeout` or `:nemesis\t:info\t:start-partition\tnil`.
pub fn history_line(op: &Op) -> String {
    let mut line = format!(
        "{}\t:{}\t:{}\t{}",
        process_edn(op.process).to_edn_compact(),
        op.op_type.name(),
        op.f.name(),
        op_value_edn(&op.value).to_edn_compact()
    );
    if let Some(e) = &op.error {
        line.push('\t');
        line.push_str(&error_edn(e).to_edn_compact());
    }
    line
}

/// Writes `history.txt` (spec §6.8): one [`history_line`] per op.
pub fn write_history_txt(path: &Path, history: &History) -> io::Result<()> {
    write_lines(path, history, |op| Ok(history_line(op)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{F, OpError, OpType, Process};
    use serde_json::{Value, json};

    fn op(process: Process, op_type: OpType, f: F, value: Value, error: Option<OpError>) -> Op {
        Op { index: 0, time: 0, op_type, process, f, value, final_read: false, error }
    }

    #[test]
    fn history_lines_render_like_clojure() {
        let timeout = op(Process::Client(3), OpType::Info, F::Broadcast, json!(1), Some(OpError::NetTimeout));
        assert_eq!(history_line(&timeout), "3\t:info\t:broadcast\t1\t:net-timeout");
        let nemesis = op(Process::Nemesis, OpType::Info, F::StartPartition, Value::Null, None);
        assert_eq!(history_line(&nemesis), ":nemesis\t:info\t:start-partition\tnil");
        let rpc = OpError::Rpc { code: 11, name: "temporarily-unavailable".into(), text: "busy".into() };
        let read = op(Process::Client(0), OpType::Fail, F::Read, Value::Null, Some(rpc));
        assert_eq!(history_line(&read), "0\t:fail\t:read\tnil\t[:temporarily-unavailable \"busy\"]");
        let ok = op(Process::Client(1), OpType::Ok, F::Read, json!([1, 2]), None);
        assert_eq!(history_line(&ok), "1\t:ok\t:read\t[1 2]");
    }

    /// Pushes an invocation at `at` ms and its `:ok` completion 1 ms later.
    fn pair(h: &mut History, p: u64, f: F, inv: Value, value: Value, at: u64) {
        let t = |ms: u64| ms * 1_000_000;
        h.push(Op { time: t(at), ..op(Process::Client(p), OpType::Invoke, f, inv, None) });
        h.push(Op { time: t(at + 1), ..op(Process::Client(p), OpType::Ok, f, value, None) });
    }

    fn checked(workload: crate::workload::Workload, h: &History, server_msgs: u64) -> Results {
        let nodes: Vec<String> = ["n1", "n2", "n3"].map(String::from).to_vec();
        let cluster = crate::checker::Cluster::new(nodes, 3, crate::latency::Latency::zero());
        let config = crate::checker::CheckConfig { workload, availability: None, cluster: Some(cluster) };
        let mut net = crate::net::NetStats::default();
        (0..server_msgs).for_each(|_| net.on_send(false, 10));
        crate::checker::check(&config, h, &net, &[])
    }

    #[test]
    fn the_summary_line_gives_verdict_msgs_per_op_stable_latencies_and_lost_elements_with_their_nodes() {
        use crate::workload::Workload;
        let mut h = History::default();
        pair(&mut h, 0, F::Broadcast, json!(1), json!(1), 0);
        pair(&mut h, 0, F::Broadcast, json!(2), json!(2), 2);
        pair(&mut h, 1, F::Read, Value::Null, json!([]), 10); // n2 misses 1 and 2
        pair(&mut h, 1, F::Read, Value::Null, json!([1]), 40); // n2 has 1: its stable latency is 10 − 1 = 9 ms
        pair(&mut h, 2, F::Read, Value::Null, json!([1, 2]), 50);
        pair(&mut h, 1, F::Read, Value::Null, json!([1]), 60); // 2 is lost: n2's last read
        let r = checked(Workload::Broadcast, &h, 15);
        assert_eq!(
            summary_line(&r),
            "Summary: invalid · 2.50 msgs/op · stable p50 9 ms, max 9 ms · lost 1: 2 (not on n2)"
        );

        let mut h = History::default();
        pair(&mut h, 0, F::Add, json!(5), json!(5), 0);
        pair(&mut h, 0, F::Read, Value::Null, json!(5), 2);
        let r = checked(Workload::GCounter, &h, 0);
        assert_eq!(summary_line(&r), "Summary: valid · 0.00 msgs/op", "counters have no stable latencies");
        assert_eq!(summary_line(&checked(Workload::Echo, &History::default(), 3)), "Summary: valid");
    }

    #[test]
    fn exit_codes_follow_the_verdict() {
        assert_eq!(exit_code(Validity::True), 0);
        assert_eq!(exit_code(Validity::False), 1);
        assert_eq!(exit_code(Validity::Unknown), 2);
    }

    #[test]
    fn history_jsonl_round_trips() {
        let dir = std::env::temp_dir().join(format!("osmosis-results-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut h = History::default();
        h.push(op(Process::Client(0), OpType::Invoke, F::Read, Value::Null, None));
        h.push(Op { final_read: true, ..op(Process::Client(0), OpType::Ok, F::Read, json!([1]), None) });
        let path = dir.join("history.jsonl");
        write_history_jsonl(&path, &h).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let back: Vec<Op> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(back, h.ops);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
