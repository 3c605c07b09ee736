//! Node ingest: client broadcasts acknowledged per second by the `osmosis` binary, driven over stdin, as its set
//! grows up to the node's cap (`MAX_SET_ELEMENTS`, 2^22), for sequential, random u32 and random u64 values.
//! Prints the table of benches/README.md ("Node ingest").
//!
//! `cargo bench --bench node_ingest -- [--up-to N] [--runs R] [--time-limit S] [--roles alone,leaf,hub]
//! [--values seq,u32,u64] [--bin PATH]`
//!
//! Each run starts the release binary (`CARGO_BIN_EXE_osmosis`, or `--bin`) with stderr discarded. A writer thread
//! sends `init` and then N broadcasts (default: the cap) as fast as the pipe takes them (the node's reader queues
//! at most 32 MiB of lines, so the node sets the pace); a reader thread counts the `broadcast_ok` replies and
//! notes the time whenever the set reaches a checkpoint (10k, 40k, 100k, 400k, 1M, 2M, 2^22), so each row's rate
//! is over one range of set sizes. Every run is bounded: a watchdog kills the node after `--time-limit` seconds
//! (default 120) and the run's last rows then say so.
//!
//! Values: `seq` is 1, 2, 3…; `u32` and `u64` are `i` through a bijective mixer (murmur3's finalisers), so they
//! are spread uniformly over their range like random hash ids and never repeat (every broadcast adds one element).
//!
//! Roles: `alone` is the single node of a one-node cluster (no peer traffic); `leaf` is n1 of a 5-node star, which
//! pushes every broadcast to the hub n0 at once (one push line per broadcast, as under Maelstrom); `hub` is n0 of
//! that star, which batches its clients' broadcasts for the 4 leaves every relay window (250 ms). The peers never
//! never push anything else, so for `leaf` and `hub` the node runs with acknowledgement slack and round waits of an
//! hour: the run measures ingest and pushes, not rounds or a node routing around peers it believes dead. As `leaf`,
//! the bench plays the hub's part in acknowledging: every [`ACK_EVERY`] pushes it sends the node an empty push from
//! n0 acknowledging the highest number seen, as the hub does once per relay window, so the node's record of
//! unacknowledged pushes stays as small as under a live hub. The peer lines are counted and printed per
//! broadcast, an exact check that ingest sends what it sent before.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The node's set cap (`osmosis_node::handler::MAX_SET_ELEMENTS`).
const CAP: u64 = 1 << 22;
/// Set sizes at which the reader notes the time.
const CHECKPOINTS: [u64; 7] = [10_000, 40_000, 100_000, 400_000, 1_000_000, 2_000_000, CAP];
/// As `leaf`, the bench acknowledges the node's pushes to the hub once per this many.
const ACK_EVERY: u64 = 4096;
/// Broadcasts written but not yet acknowledged at most (a client load generator's concurrency): the node's input
/// queue stays short, so the hub's acknowledgements reach it in time, as they would under a live hub.
const WINDOW: u64 = 16_384;

#[derive(Clone, Copy, PartialEq)]
enum Values {
    Sequential,
    U32,
    U64,
}

impl Values {
    fn name(self) -> &'static str {
        match self {
            Values::Sequential => "sequential",
            Values::U32 => "random u32",
            Values::U64 => "random u64",
        }
    }

    /// The `i`-th value (distinct for distinct `i` below 2^32).
    fn value(self, i: u64) -> u64 {
        match self {
            Values::Sequential => i,
            Values::U32 => u64::from(fmix32(i as u32)),
            Values::U64 => fmix64(i),
        }
    }
}

/// murmur3's 32-bit finaliser: a bijection on u32.
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// murmur3's 64-bit finaliser: a bijection on u64.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Alone,
    Leaf,
    Hub,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Alone => "alone",
            Role::Leaf => "leaf",
            Role::Hub => "hub",
        }
    }
}

/// What one run saw.
struct Run {
    /// (set size, time since the first broadcast was written, the node's CPU time) at each checkpoint reached.
    stamps: Vec<(u64, Duration, Option<Duration>)>,
    /// Lines addressed to peers.
    peer_lines: u64,
    /// Error replies (there should be none below the cap).
    errors: u64,
    /// Whether the watchdog stopped the node.
    timed_out: bool,
}

fn run(bin: &str, values: Values, role: Role, count: u64, limit: Duration) -> Run {
    let mut command = Command::new(bin);
    command.arg("broadcast");
    if role != Role::Alone {
        let hour = "3600000";
        command.args(["--ack-slack-ms", hour, "--round-min-ms", hour, "--round-max-ms", hour]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let pid = child.id();
    let child: Arc<Mutex<Child>> = Arc::new(Mutex::new(child));
    let (me, nodes) = match role {
        Role::Alone => ("n0", r#"["n0"]"#),
        Role::Leaf => ("n1", r#"["n0","n1","n2","n3","n4"]"#),
        Role::Hub => ("n0", r#"["n0","n1","n2","n3","n4"]"#),
    };
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // Acknowledgements the reader wants written (the highest push number seen), interleaved by the writer.
    let (ack_tx, ack_rx) = mpsc::channel::<u64>();
    let watchdog = {
        let child = Arc::clone(&child);
        std::thread::spawn(move || {
            let timed_out = done_rx.recv_timeout(limit).is_err();
            if timed_out {
                let _ = child.lock().expect("not poisoned").kill();
            }
            timed_out
        })
    };
    let acked = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let done_writer = Arc::clone(&done);
    let start = Instant::now();
    let writer_acked = Arc::clone(&acked);
    let writer = std::thread::spawn(move || {
        let mut out = BufWriter::with_capacity(1 << 16, stdin);
        let init = format!(
            r#"{{"src":"c0","dest":"{me}","body":{{"type":"init","msg_id":0,"node_id":"{me}","node_ids":{nodes}}}}}"#
        );
        // A failed write means the node is gone (killed by the watchdog): stop writing.
        if writeln!(out, "{init}").is_err() {
            return;
        }
        let mut hub_seq = 0u64;
        for i in 1..=count {
            if i > writer_acked.load(Ordering::Relaxed) + WINDOW {
                if out.flush().is_err() {
                    return;
                }
                while i > writer_acked.load(Ordering::Relaxed) + WINDOW {
                    if done_writer.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            if let Ok(ack) = ack_rx.try_recv() {
                let push = format!(
                    r#"{{"src":"n0","dest":"{me}","body":{{"type":"ae_push","seq":{hub_seq},"delta":{{"ints":[],"other":[]}},"ack":{ack}}}}}"#
                );
                hub_seq += 1;
                if writeln!(out, "{push}").is_err() {
                    return;
                }
            }
            let value = values.value(i);
            let line = writeln!(
                out,
                r#"{{"src":"c1","dest":"{me}","body":{{"type":"broadcast","msg_id":{i},"message":{value}}}}}"#
            );
            if line.is_err() {
                return;
            }
        }
        // Stdin stays open until the reader is done: a node exits at the end of its input without waiting for
        // its relay window, and a hub holds its last answers until that window's batch leaves.
        let _ = out.flush();
        while !done_writer.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let mut checkpoints = CHECKPOINTS.iter().copied().filter(|&c| c < count).chain([count]).peekable();
    let shared_acked = acked;
    let (mut acked, mut errors, mut peer_lines) = (0u64, 0u64, 0u64);
    let mut stamps = Vec::new();
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut line = String::new();
    while checkpoints.peek().is_some() {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.contains(r#""type":"broadcast_ok""#) {
            acked += 1;
            if acked.is_multiple_of(1024) {
                shared_acked.store(acked, Ordering::Relaxed);
            }
            if checkpoints.peek() == Some(&acked) {
                stamps.push((acked, start.elapsed(), cpu_time(pid)));
                checkpoints.next();
            }
        } else if line.contains(r#""type":"error""#) {
            errors += 1;
        } else if !line.contains(r#""dest":"c"#) {
            peer_lines += 1;
            if role == Role::Leaf && peer_lines.is_multiple_of(ACK_EVERY) {
                let _ = ack_tx.send(push_number(&line));
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = done_tx.send(());
    let timed_out = watchdog.join().expect("the watchdog does not panic");
    {
        let mut child = child.lock().expect("not poisoned");
        let _ = child.kill();
        let _ = child.wait();
    }
    writer.join().expect("the writer does not panic");
    Run { stamps, peer_lines, errors, timed_out }
}

/// The CPU time (user and system) process `pid` has used so far, from `/proc` (None where there is none).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces): utime and stime are the
    // 12th and 13th, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The `seq` of a push line (0 if it has none).
fn push_number(line: &str) -> u64 {
    let Some(at) = line.find(r#""seq":"#) else { return 0 };
    let digits = &line[at + 6..];
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse().unwrap_or(0)
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn min_median_max(mut xs: Vec<f64>) -> String {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => "—".into(),
        1 => format!("{:.0}", xs[0]),
        n => format!("{:.0} / {:.0} / {:.0}", xs[0], xs[n / 2], xs[n - 1]),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count = flag(&args, "--up-to").map_or(CAP, |n| n.parse().expect("--up-to N")).clamp(1, CAP);
    let runs: usize = flag(&args, "--runs").map_or(1, |n| n.parse().expect("--runs R")).max(1);
    let limit = Duration::from_secs(flag(&args, "--time-limit").map_or(120, |s| s.parse().expect("--time-limit S")));
    let bin = flag(&args, "--bin").unwrap_or(env!("CARGO_BIN_EXE_osmosis")).to_string();
    let roles: Vec<Role> = flag(&args, "--roles")
        .unwrap_or("alone,leaf,hub")
        .split(',')
        .map(|r| match r {
            "alone" => Role::Alone,
            "leaf" => Role::Leaf,
            "hub" => Role::Hub,
            other => panic!("unknown role {other:?} (alone, leaf, hub)"),
        })
        .collect();
    let values: Vec<Values> = flag(&args, "--values")
        .unwrap_or("seq,u32,u64")
        .split(',')
        .map(|v| match v {
            "seq" => Values::Sequential,
            "u32" => Values::U32,
            "u64" => Values::U64,
            other => panic!("unknown values {other:?} (seq, u32, u64)"),
        })
        .collect();
    println!("{bin}: {count} broadcasts per run, {runs} run(s), time limit {} s per run", limit.as_secs());
    println!();
    println!(
        "| values | node | set size | broadcasts/s, wall clock (min / median / max) | broadcasts per CPU second \
         of the node (min / median / max) | peer lines per broadcast |"
    );
    println!("|---|---|---|---:|---:|---:|");
    for &role in &roles {
        for &v in &values {
            let results: Vec<Run> = (0..runs).map(|_| run(&bin, v, role, count, limit)).collect();
            let slices = results.iter().map(|r| r.stamps.len()).max().unwrap_or(0);
            let mut from = 0;
            for s in 0..=slices {
                // Slice s of each run, or (s == slices) the whole run up to its last checkpoint.
                let (mut wall, mut cpu) = (Vec::new(), Vec::new());
                let mut to = from;
                for r in &results {
                    let (end, start) = if s == slices {
                        (r.stamps.last(), None)
                    } else {
                        (r.stamps.get(s), s.checked_sub(1).and_then(|p| r.stamps.get(p)))
                    };
                    let Some(&(size, t, c)) = end else { continue };
                    let (size0, t0, c0) = start.copied().unwrap_or((0, Duration::ZERO, Some(Duration::ZERO)));
                    let n = (size - size0) as f64;
                    wall.push(n / (t - t0).as_secs_f64());
                    if let (Some(c), Some(c0)) = (c, c0)
                        && c > c0
                    {
                        cpu.push(n / (c - c0).as_secs_f64());
                    }
                    to = size;
                }
                let mut range = if s == slices { format!("0–{to} overall") } else { format!("{from}–{to}") };
                if wall.len() < runs {
                    range.push_str(&format!(" ({} of {runs} runs)", wall.len()));
                }
                let peers = if s == slices {
                    let most = results.iter().map(|r| r.peer_lines as f64 / count as f64).fold(0.0, f64::max);
                    format!("{most:.4}")
                } else {
                    String::new()
                };
                println!(
                    "| {} | {} | {range} | {} | {} | {peers} |",
                    v.name(),
                    role.name(),
                    min_median_max(wall),
                    min_median_max(cpu)
                );
                from = to;
            }
            let stopped = results.iter().filter(|r| r.timed_out).count();
            let errors: u64 = results.iter().map(|r| r.errors).sum();
            if stopped > 0 || errors > 0 {
                println!(
                    "| {} | {} | {stopped} run(s) stopped at the time limit, {errors} error replies | | | |",
                    v.name(),
                    role.name()
                );
            }
        }
    }
}
