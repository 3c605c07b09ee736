//! Reads back a binary snapshot of a million scattered 64-bit integers and prints the time, the CPU time and the
//! resident memory: `cargo run --release -p osmosis-daemon --example snapshot_load [fast|roaring]` (`roaring`:
//! through roaring's own treemap decoder instead of the snapshot's, for comparison). `stall` measures instead what a
//! periodic snapshot makes writes wait for: a writer thread adds one scattered integer about every 50 µs, each
//! under the replica's lock as the daemon does, while a snapshot is taken three times each way — `locked`, the
//! replica encoded under its lock (before), and `mirror`, the mirror's copy encoded on its own thread while the
//! lock is held only to queue the request (now) — and prints the longest write during each snapshot
//! (min/median/max over the three), and the memory the mirror's copy takes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use osmosis_crdt::{JsonSet, Lattice};
use osmosis_daemon::mirror::Mirror;
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
        stall(replica);
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

/// RSS in MiB (VmRSS).
fn rss_mib() -> f64 {
    status("VmRSS").trim_end_matches(" kB").parse::<f64>().unwrap_or(0.0) / 1024.0
}

fn spread(mut xs: Vec<f64>) -> String {
    xs.sort_by(f64::total_cmp);
    format!("min {:.3} / median {:.3} / max {:.3} ms", xs[0], xs[xs.len() / 2], xs[xs.len() - 1])
}

fn stall(mut replica: Objects) {
    let before = rss_mib();
    let seed = replica.clone();
    let mirror = Mirror::start(move || Ok(seed)).expect("a thread");
    replica.set_tap(mirror.tap());
    mirror.snapshot(0).blocking_recv().expect("answered").expect("a copy");
    eprintln!("RSS {before:.0} MiB with the replica alone, {:.0} MiB with the mirror's copy too", rss_mib());
    let replica = Arc::new(Mutex::new(replica));
    let stop = Arc::new(AtomicBool::new(false));
    let origin = Instant::now();
    let writer = {
        let (replica, stop) = (replica.clone(), stop.clone());
        std::thread::spawn(move || {
            // (start, latency) of every write, since `origin`.
            let mut writes: Vec<(Duration, Duration)> = Vec::new();
            let mut i = 2_000_000u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let mut set = JsonSet::new();
                set.insert(&serde_json::json!(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % (1 << 63)));
                let delta = Objects::with_set("big", set);
                let t = Instant::now();
                replica.lock().expect("no panic").join(&delta);
                writes.push((t - origin, t.elapsed()));
                std::thread::sleep(Duration::from_micros(50));
            }
            writes
        })
    };
    let mut windows = Vec::new();
    for way in ["locked", "mirror"] {
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(300));
            let (t0, c) = (Instant::now(), cpu());
            let bytes = if way == "locked" {
                let r = replica.lock().expect("no panic");
                let mut bytes = Vec::new();
                snapshot::write(&mut bytes, 0, &r).expect("writing to memory");
                bytes
            } else {
                let rx = mirror.snapshot(0);
                rx.blocking_recv().expect("answered").expect("a copy")
            };
            windows.push((way, t0 - origin, t0.elapsed(), cpu() - c, bytes.len()));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().expect("the writer");
    for way in ["locked", "mirror"] {
        let (mut longest, mut took) = (Vec::new(), Vec::new());
        for (_, from, len, cpu, bytes) in windows.iter().filter(|w| w.0 == way) {
            let during: Vec<&(Duration, Duration)> =
                writes.iter().filter(|(s, l)| *s < *from + *len && *s + *l > *from).collect();
            let max = during.iter().map(|(_, l)| *l).max().unwrap_or_default();
            eprintln!(
                "{way}: snapshot of {bytes} bytes in {len:?} ({cpu:.2} CPU-s of the process); {} writes during it, \
                 the longest {max:?}",
                during.len()
            );
            longest.push(max.as_secs_f64() * 1e3);
            took.push(len.as_secs_f64() * 1e3);
        }
        eprintln!("{way}: longest write during a snapshot {}; snapshot {}", spread(longest), spread(took));
    }
    let outside: Vec<f64> = writes
        .iter()
        .filter(|(s, l)| windows.iter().all(|w| *s + *l <= w.1 || *s >= w.1 + w.2))
        .map(|(_, l)| l.as_secs_f64() * 1e3)
        .collect();
    let max = outside.iter().copied().fold(0.0, f64::max);
    eprintln!("{} writes outside the snapshots, the longest {max:.2} ms", outside.len());
}
