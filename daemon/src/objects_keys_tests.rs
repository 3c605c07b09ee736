use std::collections::VecDeque;

use osmosis_crdt::coding::{CodedPrefix, Space};
use osmosis_crdt::reconcile::KeySet;
use osmosis_crdt::{Reconcile, Repair, json_len};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::*;
use crate::objects::encoded_len;

/// The engine's budget for the CRDT's part of a message at the daemon's default datagram size.
const BUDGET: usize = 60_000;

/// One round opened by `a` with `b`, every message through its JSON form and delivered in order: (messages, JSON
/// bytes of the CRDT's parts), the summary included.
fn round(a: &mut Objects, b: &mut Objects) -> (usize, usize) {
    let summary = a.summary();
    let (mut messages, mut bytes) = (1, json_len(&summary));
    let Some((mut at_b, first)) =
        b.open(&serde_json::from_str(&serde_json::to_string(&summary).unwrap()).unwrap(), BUDGET)
    else {
        return (messages, bytes);
    };
    let mut at_a = <Objects as Reconcile>::Session::default();
    let (mut to_a, mut to_b): (VecDeque<Repair>, VecDeque<Repair>) = (first.into(), VecDeque::new());
    loop {
        let (side, session, msg, out) = if let Some(m) = to_a.pop_front() {
            (&mut *a, &mut at_a, m, &mut to_b)
        } else if let Some(m) = to_b.pop_front() {
            (&mut *b, &mut at_b, m, &mut to_a)
        } else {
            return (messages, bytes);
        };
        let text = serde_json::to_string(&msg).unwrap();
        assert!(text.len() <= BUDGET, "a message of {} bytes", text.len());
        messages += 1;
        bytes += text.len();
        let step = side.step(session, &serde_json::from_str(&text).unwrap(), BUDGET).unwrap();
        out.extend(step.send);
    }
}

fn counter(entries: &[(&str, i64)]) -> Counter {
    let mut c = Counter::new();
    for (replica, amount) in entries {
        c.add((*replica).to_string(), *amount).unwrap();
    }
    c
}

/// Three sets of 2000 scattered integers and 300 strings each, and 20 counters of 5 entries: about 200 KB of state.
fn daemon_state() -> Objects {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut o = Objects::new();
    for s in 0..3 {
        let mut set = JsonSet::new();
        for _ in 0..2000 {
            set.insert(&json!(rng.random::<u64>()));
        }
        for i in 0..300 {
            set.insert(&json!(format!("value-{s}-{i}")));
        }
        o.join(&Objects::with_set(&format!("set-{s}"), set));
    }
    for c in 0..20 {
        let entries: Vec<(String, i64)> = (0..5).map(|n| (format!("node-{n}"), (c * 7 + n) as i64 - 40)).collect();
        let refs: Vec<(&str, i64)> = entries.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        o.join(&Objects::with_counter(&format!("counter-{c}"), counter(&refs)));
    }
    o
}

fn with_value(o: &Objects, set: &str, value: serde_json::Value) -> Objects {
    let mut out = o.clone();
    let mut s = JsonSet::new();
    s.insert(&value);
    out.join(&Objects::with_set(set, s));
    out
}

#[test]
fn agreeing_daemons_exchange_one_summary_and_one_differing_item_costs_that_item_not_the_state() {
    let base = daemon_state();
    let state_bytes = encoded_len(&base);
    assert!(state_bytes > 130_000, "{state_bytes}");
    let (mut a, mut b) = (base.clone(), base.clone());
    assert_eq!(round(&mut a, &mut b), (1, 37), "agreement: the summary alone, answered by silence");

    // The responder gained one value: its cells find it, the initiator wants its record and gets it.
    let (mut a, mut b) = (base.clone(), with_value(&base, "set-1", json!("new")));
    assert_eq!(round(&mut a, &mut b), (4, 110), "summary, cells, a want of one key, its record");
    assert_eq!(a, b);

    // The initiator gained one integer: the responder's cells, then the initiator's record.
    let (mut a, mut b) = (with_value(&base, "set-2", json!(12345)), base.clone());
    assert_eq!(round(&mut a, &mut b), (3, 97), "summary, cells, the record");
    assert_eq!(a, b);

    // One counter entry raised on one side: two differing keys (its old and its new record).
    let mut raised = base.clone();
    raised.join(&Objects::with_counter("counter-3", counter(&[("node-2", 1000)])));
    let (mut a, mut b) = (base, raised);
    assert_eq!(round(&mut a, &mut b), (4, 128), "summary, cells for two keys, a want of one key, its record");
    assert_eq!(a, b);
    // By whole state (what a map of objects fell back to), each of these rounds sent the responder's state.
    assert!(128 * 1000 < state_bytes);
}

#[test]
fn an_empty_daemon_receives_the_state_once_within_a_fifth_of_its_json_size_whichever_side_opens() {
    let full = daemon_state();
    let state_bytes = encoded_len(&full);
    let (mut empty, mut full_copy) = (Objects::new(), full.clone());
    let (_, bytes) = round(&mut empty, &mut full_copy);
    assert_eq!(empty, full);
    assert!(bytes <= state_bytes * 6 / 5, "{bytes} bytes for a state of {state_bytes}");
    let (mut full_copy, mut empty) = (full.clone(), Objects::new());
    let (_, bytes) = round(&mut full_copy, &mut empty);
    assert_eq!(empty, full);
    assert!(bytes <= state_bytes * 6 / 5, "{bytes} bytes for a state of {state_bytes}");
}

/// A random delta of sets and counters under a few names, from `rng`.
fn random_delta(rng: &mut ChaCha8Rng, me: &str) -> Objects {
    let mut o = Objects::new();
    for _ in 0..rng.random_range(0..6) {
        let name = format!("s{}", rng.random_range(0..4));
        let mut s = JsonSet::new();
        for _ in 0..rng.random_range(1..40) {
            match rng.random_range(0..3) {
                0 => s.insert(&json!(rng.random_range(0..200u64))),
                1 => s.insert(&json!(rng.random::<u64>())),
                _ => s.insert(&json!({"k": rng.random_range(0..50)})),
            };
        }
        o.join(&Objects::with_set(&name, s));
    }
    for _ in 0..rng.random_range(0..4) {
        let name = format!("c{}", rng.random_range(0..3));
        let replica = if rng.random_bool(0.5) { me.to_string() } else { format!("n{}", rng.random_range(0..4)) };
        o.join(&Objects::with_counter(&name, counter(&[(&replica, rng.random_range(-50..50))])));
    }
    o
}

/// The prefix rebuilt from scratch, to compare with the one kept up to date.
fn rebuilt(o: &Objects) -> CodedPrefix {
    CodedPrefix::from_keys(o.keys().collect::<Vec<(Space, u64)>>().into_iter())
}

#[test]
fn one_round_leaves_both_daemons_at_the_join_and_the_kept_prefix_matches_the_items() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for case in 0..200 {
        let common = random_delta(&mut rng, "a");
        let (mut a, mut b) = (common.clone(), common);
        a.prefix(); // built now, so that the joins below keep it up to date
        for _ in 0..rng.random_range(0..4) {
            a.join(&random_delta(&mut rng, "a"));
            b.join(&random_delta(&mut rng, "b"));
        }
        let mut joined = a.clone();
        joined.join(&b);
        if case % 2 == 0 {
            round(&mut a, &mut b);
        } else {
            round(&mut b, &mut a);
        }
        assert_eq!(a, joined, "case {case}");
        assert_eq!(b, joined, "case {case}");
        assert_eq!(a.prefix(), &rebuilt(&a), "case {case}: the kept prefix drifted from the items");
        assert_eq!(b.prefix(), &rebuilt(&b), "case {case}");
    }
}

#[test]
fn records_from_a_peer_are_checked_and_a_bad_one_changes_nothing() {
    let rec = |kind: u8, name: &str, body: &[u8]| {
        let mut r = vec![kind, name.len() as u8];
        r.extend_from_slice(name.as_bytes());
        r.extend_from_slice(body);
        r
    };
    let mut entry = 5u64.to_le_bytes().to_vec();
    entry.extend_from_slice(b"n1");
    let good = [rec(b'i', "s", &7u64.to_le_bytes()), rec(b'v', "s", br#""x""#), rec(b'p', "c", &entry)];
    let parsed = Objects::parse(&GSet::new(), &good).unwrap();
    assert_eq!(parsed.set("s").unwrap().to_values(), vec![json!(7), json!("x")]);
    assert_eq!(parsed.counter("c").unwrap().read(), 5);
    let zero = 0u64.to_le_bytes();
    let bad = [
        vec![],
        vec![b'i'],
        vec![b'i', 3, b's'],
        rec(b'i', "s", &[1, 2, 3]),
        rec(b'v', "s", b"{not json"),
        rec(b'p', "c", &zero),
        rec(b'p', "c", &[1, 2]),
        rec(b'n', "c", &[1, 0, 0, 0, 0, 0, 0, 0, 0xff]),
        rec(b'i', "a b", &7u64.to_le_bytes()),
        rec(b'x', "s", b""),
    ];
    for r in bad {
        assert!(Objects::parse(&GSet::new(), &[good[0].clone(), r.clone()]).is_err(), "{r:?}");
    }
    assert!(Objects::parse(&GSet::from_iter([1u64]), &[]).is_err(), "integer keys for a map of records");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..2000 {
        let junk: Vec<u8> = (0..rng.random_range(0..40)).map(|_| rng.random()).collect();
        let _ = Objects::parse(&GSet::new(), &[junk]);
    }
}
