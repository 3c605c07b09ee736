//! Node ingest: client broadcasts per second through the `osmosis` binary, over stdin, as the set grows to the
//! node's cap (2^22 elements), for sequential, random u32 and random u64 values. Prints the table of
//! benches/README.md ("Node ingest").
//!
//! `cargo bench --bench ingest` (all three at one node alone and as a leaf of a 5-node star, which pushes every
//! broadcast to the hub at once). Flags after `--`: `--up-to N` stops each run at N broadcasts (default: the cap);
//! `--alone` skips the star.
//!
//! A writer thread feeds `init` and then the broadcasts as fast as the pipe takes them; a reader thread counts the
//! `broadcast_ok` replies and notes the time at every 2^18 of them, so each row's rate is over one slice of set
//! sizes. The node is the release binary of this workspace (`CARGO_BIN_EXE_osmosis`), stderr discarded.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The node's set cap (`osmosis_node::handler::MAX_SET_ELEMENTS`).
const CAP: u64 = 1 << 22;
/// Replies between two time stamps.
const SLICE: u64 = 1 << 18;

#[derive(Clone, Copy)]
enum Dist {
    Sequential,
    U32,
    U64,
}

impl Dist {
    fn name(self) -> &'static str {
        match self {
            Dist::Sequential => "sequential",
            Dist::U32 => "random u32",
            Dist::U64 => "random u64",
        }
    }
}

/// Runs one node through `count` broadcasts; returns the time stamps of every [`SLICE`] replies.
fn run(dist: Dist, count: u64, star: bool) -> Vec<Duration> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_osmosis"))
        .arg("broadcast")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the osmosis binary starts");
    let stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    // As a leaf of a star (the hub is n0), the node pushes each broadcast to the hub at once.
    let (me, nodes) = if star { ("n1", r#"["n0","n1","n2","n3","n4"]"#) } else { ("n0", r#"["n0"]"#) };
    let init = format!(
        r#"{{"src":"c0","dest":"{me}","body":{{"type":"init","msg_id":0,"node_id":"{me}","node_ids":{nodes}}}}}"#
    );
    let writer = std::thread::spawn(move || {
        let mut out = BufWriter::with_capacity(1 << 16, stdin);
        writeln!(out, "{init}").expect("the node reads stdin");
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for i in 1..=count {
            let value = match dist {
                Dist::Sequential => i,
                Dist::U32 => u64::from(rng.random::<u32>()),
                Dist::U64 => rng.random::<u64>(),
            };
            writeln!(
                out,
                r#"{{"src":"c1","dest":"{me}","body":{{"type":"broadcast","msg_id":{i},"message":{value}}}}}"#
            )
            .expect("the node reads stdin");
        }
        out.flush().expect("the node reads stdin");
    });
    let start = Instant::now();
    let mut stamps = Vec::new();
    let (mut replies, mut errors) = (0u64, 0u64);
    for line in BufReader::with_capacity(1 << 16, stdout).lines() {
        let line = line.expect("the node writes UTF-8 lines");
        if line.contains(r#""broadcast_ok""#) {
            replies += 1;
            if replies.is_multiple_of(SLICE) || replies == count {
                stamps.push(start.elapsed());
            }
            if replies == count {
                break;
            }
        } else if line.contains(r#""error""#) {
            errors += 1;
        }
    }
    writer.join().expect("the writer finishes");
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!((replies, errors), (count, 0), "every broadcast acknowledged");
    stamps
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let up_to = args
        .iter()
        .position(|a| a == "--up-to")
        .and_then(|i| args.get(i + 1)?.parse::<u64>().ok())
        .unwrap_or(CAP)
        .min(CAP);
    let alone_only = args.iter().any(|a| a == "--alone");
    println!("| values | node | set size | broadcasts/s over the slice | overall broadcasts/s |");
    println!("|---|---|---|---:|---:|");
    for star in [false, true] {
        if star && alone_only {
            continue;
        }
        for dist in [Dist::Sequential, Dist::U32, Dist::U64] {
            let stamps = run(dist, up_to, star);
            let mut prev = (0u64, Duration::ZERO);
            for (i, &t) in stamps.iter().enumerate() {
                let done = ((i as u64 + 1) * SLICE).min(up_to);
                let rate = (done - prev.0) as f64 / (t - prev.1).as_secs_f64();
                let overall = done as f64 / t.as_secs_f64();
                println!(
                    "| {} | {} | {}–{} | {rate:.0} | {overall:.0} |",
                    dist.name(),
                    if star { "leaf of a 5-node star" } else { "alone" },
                    prev.0,
                    done
                );
                prev = (done, t);
            }
        }
    }
}
