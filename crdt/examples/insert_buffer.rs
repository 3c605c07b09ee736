//! Experiment (issue 10): the per-element cost of inserting random u32 / u64 values one by one into a
//! `RoaringTreemap`, against buffering recent inserts in a `BTreeSet` and merging them in bulk.
//!
//! `cargo run --release -p osmosis-crdt --example insert_buffer -- [u32|u64|seq] [up_to] [policy…]`
//! (policies: the names printed, matched as substrings; `none` runs only the direct insert and `GSet::insert`)
//!
//! Prints, for each policy and window of set sizes, the mean nanoseconds per insert (lookup included: every
//! policy reports whether the element was new, as `GSet::insert` must).
#![allow(clippy::print_stdout)]

use std::collections::BTreeSet;
use std::time::Instant;

use osmosis_crdt::{GSet, Reconcile};
use roaring::{RoaringBitmap, RoaringTreemap};

fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A treemap plus a write buffer merged when it reaches `bound(len, containers)`.
struct Buffered {
    main: RoaringTreemap,
    buf: BTreeSet<u64>,
    len: u64,
    containers: u64,
    bound: Bound,
    /// Buffer only the elements whose 2^16 chunk the treemap does not hold yet (the others cost no shift).
    new_chunks_only: bool,
}

impl Buffered {
    fn insert(&mut self, x: u64) -> bool {
        if self.new_chunks_only {
            if !self.buf.is_empty() && self.buf.contains(&x) {
                return false;
            }
            if self.main.range_cardinality(x & !0xffff..=x | 0xffff) > 0 {
                let new = self.main.insert(x);
                self.len += u64::from(new);
                return new;
            }
            self.buf.insert(x);
        } else if self.main.contains(x) || !self.buf.insert(x) {
            return false;
        }
        self.len += 1;
        if self.buf.len() >= (self.bound)(self.len, self.containers) {
            self.merge();
        }
        true
    }

    /// Groups the buffer by inner bitmap; a group for a new high key, or a small one, is inserted element by
    /// element (in order); a large group into an existing bitmap replaces it by the linear union.
    fn merge(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let mut last_chunk = None;
        for &x in &buf {
            let chunk = x >> 16;
            if last_chunk != Some(chunk) {
                last_chunk = Some(chunk);
                if self.main.range_cardinality(chunk << 16..=chunk << 16 | 0xffff) == 0 {
                    self.containers += 1;
                }
            }
        }
        let mut it = buf.into_iter().peekable();
        let mut replaced = Vec::new();
        while let Some(&first) = it.peek() {
            let high = (first >> 32) as u32;
            let mut group = Vec::new();
            while let Some(&x) = it.peek() {
                if (x >> 32) as u32 != high {
                    break;
                }
                group.push(x as u32);
                it.next();
            }
            let existing = if group.len() >= 64 { self.main.bitmaps().find(|&(h, _)| h == high) } else { None };
            match existing {
                Some((_, b)) if group.len() >= 64 => {
                    let g = RoaringBitmap::from_sorted_iter(group).expect("sorted");
                    replaced.push((high, b | &g));
                }
                _ => {
                    for lo in group {
                        self.main.insert((u64::from(high) << 32) | u64::from(lo));
                    }
                }
            }
        }
        if !replaced.is_empty() {
            self.main |= RoaringTreemap::from_bitmaps(replaced);
        }
    }
}

/// A buffer bound from the set's length and container count.
type Bound = fn(u64, u64) -> usize;

/// Mean nanoseconds per `insert` call over each window of `values` (a window ends at each of `windows`).
fn per_window(values: &[u64], windows: &[usize], mut insert: impl FnMut(u64)) -> Vec<f64> {
    let mut out = Vec::new();
    let mut start = 0;
    for &end in windows {
        let clock = Instant::now();
        for &x in &values[start..end] {
            insert(x);
        }
        out.push(clock.elapsed().as_nanos() as f64 / (end - start) as f64);
        start = end;
    }
    out
}

/// Direct: one `RoaringTreemap::insert` per element.
fn direct(values: &[u64], windows: &[usize]) -> Vec<f64> {
    let mut t = RoaringTreemap::new();
    let out = per_window(values, windows, |x| {
        std::hint::black_box(t.insert(x));
    });
    assert_eq!(t.len(), values.len() as u64);
    out
}

/// `GSet::insert` as the node calls it (coded prefix built if `prefix`, then maintained per insert; the delta
/// returned).
fn gset(values: &[u64], windows: &[usize], prefix: bool) -> Vec<f64> {
    let mut s = GSet::new();
    if prefix {
        let _ = s.summary();
    }
    let out = per_window(values, windows, |x| {
        std::hint::black_box(s.insert(x));
    });
    assert_eq!(s.len(), values.len() as u64);
    out
}

fn buffered(values: &[u64], windows: &[usize], bound: Bound, new_chunks_only: bool) -> Vec<f64> {
    let mut t =
        Buffered { main: RoaringTreemap::new(), buf: BTreeSet::new(), len: 0, containers: 0, bound, new_chunks_only };
    let out = per_window(values, windows, |x| {
        std::hint::black_box(t.insert(x));
    });
    t.merge();
    assert_eq!(t.main.len(), values.len() as u64);
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).map_or("u32", String::as_str);
    let up_to: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4_000_000);
    let values: Vec<u64> = (0..up_to as u64)
        .map(|i| match kind {
            "u64" => fmix64(i),
            "seq" => i,
            _ => u64::from(fmix32(i as u32)),
        })
        .collect();
    let windows: Vec<usize> = [10_000, 40_000, 100_000, 400_000, 1_000_000, 4_000_000, 10_000_000]
        .into_iter()
        .filter(|&w| w <= up_to)
        .collect();
    let header: Vec<String> = windows.iter().map(|w| format!("≤{w}")).collect();
    println!("{kind}: ns per insert, windows {}", header.join(" "));
    let show = |name: &str, r: Vec<f64>| {
        let cells: Vec<String> = r.iter().map(|ns| format!("{ns:.0}")).collect();
        println!("{name:28} {}", cells.join(" "));
    };
    show("direct", direct(&values, &windows));
    show("GSet::insert", gset(&values, &windows, true));
    show("GSet::insert, no prefix", gset(&values, &windows, false));
    let policies: [(&str, Bound); 5] = [
        ("max(64,C/8)", |_, c| (c / 8).max(64) as usize),
        ("max(64,C/2)", |_, c| (c / 2).max(64) as usize),
        ("max(64,C)", |_, c| c.max(64) as usize),
        ("max(64,len/8)", |n, _| (n / 8).max(64) as usize),
        ("4096", |_, _| 4096),
    ];
    let only: Vec<String> = args.iter().skip(3).cloned().collect();
    for new_chunks_only in [false, true] {
        for (name, bound) in policies {
            let label = format!("{} {name}", if new_chunks_only { "new-chunk" } else { "all" });
            if only.is_empty() || only.iter().any(|o| label.contains(o.as_str())) {
                show(&label, buffered(&values, &windows, bound, new_chunks_only));
            }
        }
    }
}
