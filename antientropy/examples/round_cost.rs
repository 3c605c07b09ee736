//! What one push-pull round costs through the engine, in messages and bytes (ALGORITHM.md §3):
//!
//! ```text
//! cargo run --release -p osmosis-antientropy --example round_cost [-- --n 1000000]
//! ```
//!
//! Two engines without an eager path; the first opens a round at its first timed round, and every message is
//! delivered at once, in order. For each case it prints the message types, the bytes of the CRDT's part of the
//! messages (the summary or repair JSON), and the bytes of the whole engine messages (the JSON body a Maelstrom
//! node sends, without Maelstrom's `src`/`dest`).

use std::collections::VecDeque;
use std::time::Duration;

use clap::Parser;
use osmosis_antientropy::{Config, Engine, Message, Overlay, Replica};
use osmosis_crdt::{GCounter, GSet, JsonSet, json_len};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Elements of the larger set replica.
    #[arg(long, default_value_t = 100_000)]
    n: u64,
}

/// One round `a` opens with `b`: (messages by type, payload bytes, message bytes).
fn one_round<C: Replica + PartialEq>(a: &C, b: &C) -> (String, usize, usize) {
    let config = Config { overlay: Overlay::None, ..Config::default() };
    let t0 = Duration::ZERO;
    let mut x: Engine<C, u8> = Engine::new(0, [0, 1], config.clone(), 1, t0).expect("valid");
    let mut y: Engine<C, u8> = Engine::new(1, [0, 1], config, 2, t0).expect("valid");
    x.update(t0, |s| {
        s.join(a);
        a.clone()
    });
    y.update(t0, |s| {
        s.join(b);
        b.clone()
    });
    let t = x.next_deadline().expect("a round is due");
    x.on_tick(t);
    let (mut kinds, mut payload, mut total) = (Vec::new(), 0, 0);
    let mut queue: VecDeque<(u8, Message<C, u8>)> = x.take_outbox().into_iter().collect();
    while let Some((to, msg)) = queue.pop_front() {
        kinds.push(msg.kind().trim_start_matches("ae_"));
        payload += match &msg {
            Message::Summary { summary, .. } => json_len(summary),
            Message::Reply { repair, .. } | Message::Repair { repair, .. } => json_len(repair),
            Message::Push { .. } => 0,
        };
        total += json_len(&msg);
        let receiver = if to == 1 { &mut y } else { &mut x };
        receiver.on_message(t, &(1 - to), msg);
        queue.extend(receiver.take_outbox());
    }
    assert!(x.state() == y.state(), "the round reaches the join");
    (kinds.join(" "), payload, total)
}

fn random(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ i
}

#[allow(clippy::print_stdout)] // a report is what this example is for
fn main() {
    let n = Args::parse().n;
    println!("| replica | n | case | messages | payload (B) | messages (B) |");
    println!("|---|---:|---|---|---:|---:|");
    let row = |what: &str, n: u64, case: &str, (kinds, payload, total): (String, usize, usize)| {
        println!("| {what} | {n} | {case} | {kinds} | {payload} | {total} |");
    };
    let base: GSet = (0..n).map(random).collect();
    row("GSet, random u64", n, "agreeing", one_round(&base, &base));
    for d in [1u64, 10, 100, 1000] {
        let mut more = base.clone();
        for i in 0..d {
            more.insert(random(n + i));
        }
        row("GSet, random u64", n, &format!("initiator lacks {d}"), one_round(&base, &more));
        row("GSet, random u64", n, &format!("responder lacks {d}"), one_round(&more, &base));
        let mut other = base.clone();
        for i in 0..d / 2 {
            other.insert(random(2 * n + i));
        }
        let mut half = base.clone();
        for i in 0..d - d / 2 {
            half.insert(random(n + i));
        }
        row("GSet, random u64", n, &format!("symmetric {d}"), one_round(&half, &other));
    }
    let small: GSet = (0..10_000).map(random).collect();
    row("GSet, random u64", 10_000, "initiator empty", one_round(&GSet::new(), &small));
    row("GSet, random u64", 10_000, "responder empty", one_round(&small, &GSet::new()));

    let mut ints = JsonSet::new();
    for i in 0..2_000u64 {
        ints.insert(&json!(i));
    }
    let mut one_more = ints.clone();
    one_more.insert(&json!(5_000));
    row("JsonSet, sequential", 2_000, "agreeing", one_round(&ints, &ints));
    row("JsonSet, sequential", 2_000, "responder lacks 1", one_round(&one_more, &ints));
    for replicas in [25usize, 1000] {
        let mut c = GCounter::<String>::new();
        for i in 0..replicas {
            c.increment(format!("n{i}"), 1_000 + i as u64).expect("small");
        }
        let mut ahead = c.clone();
        ahead.increment("n3".into(), 1).expect("small");
        row("GCounter", replicas as u64, "agreeing", one_round(&c, &c));
        row("GCounter", replicas as u64, "initiator lacks 1 entry", one_round(&c, &ahead));
        row("GCounter", replicas as u64, "responder lacks 1 entry", one_round(&ahead, &c));
    }
}
