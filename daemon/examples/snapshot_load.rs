//! Reads back a binary snapshot of a million scattered 64-bit integers and prints the time, the CPU time and the
//! resident memory: `cargo run --release -p osmosis-daemon --example snapshot_load [fast|roaring]` (`roaring`:
//! through roaring's own treemap decoder instead of the snapshot's, for comparison). `stall` prints instead what a
//! periodic snapshot holds the replica's lock for: a clone of the replica (before) against encoding the snapshot
//! into memory (now).

use std::time::Instant;

use osmosis_crdt::JsonSet;
use osmosis_daemon::objects::Objects;
use osmosis_daemon::snapshot;

fn status(field: &str) -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with(field)).unwrap_or("?").split_whitespace().skip(1).collect::<Vec<_>>().join(" ")
}

/// CPU-seconds of this process (user + system), from /proc/self/stat (ticks of 1/100 s).
fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(13) + tick(14)) / 100.0
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "fast".into());
    let mut set = JsonSet::new();
    for i in 0..1_000_000u64 {
        set.insert(&serde_json::json!(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % (1 << 63)));
    }
    let replica = Objects::with_set("big", set);
    if mode == "stall" {
        for _ in 0..3 {
            let (t, c) = (Instant::now(), cpu());
            let copy = replica.clone();
            let (clone_wall, clone_cpu) = (t.elapsed(), cpu() - c);
            drop(copy);
            let (t, c) = (Instant::now(), cpu());
            let mut bytes = Vec::new();
            snapshot::write(&mut bytes, 0, &replica).expect("writing to memory");
            let (enc_wall, enc_cpu) = (t.elapsed(), cpu() - c);
            eprintln!(
                "clone {clone_wall:?} ({clone_cpu:.2} CPU-s); encode {} bytes {enc_wall:?} ({enc_cpu:.2} CPU-s)",
                bytes.len()
            );
        }
        return;
    }
    let mut bytes = Vec::new();
    snapshot::write(&mut bytes, 0, &replica).expect("writing to memory");
    let (t, c) = (Instant::now(), cpu());
    let read = if mode == "roaring" { snapshot::read_with_roaring_decoder(&bytes) } else { snapshot::read(&bytes) };
    let (_, back) = read.expect("a snapshot just written reads back");
    let (wall, cpu) = (t.elapsed(), cpu() - c);
    let n = back.sizes().elements;
    eprintln!(
        "{mode}: {} bytes, {n} elements read in {wall:?} ({cpu:.2} CPU-s); peak RSS {}",
        bytes.len(),
        status("VmHWM")
    );
}
