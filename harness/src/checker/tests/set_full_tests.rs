use proptest::prelude::*;
use serde_json::{Value, json};

use super::Hist;
use crate::checker::Validity;
use crate::checker::set_full::{self, Outcome, QUANTILE_POINTS, quantiles};
use crate::history::F;

#[test]
fn quantiles_take_the_floor_of_n_times_p() {
    let v: Vec<u64> = (1..=10).collect();
    let q = quantiles(&v, &QUANTILE_POINTS).unwrap();
    assert_eq!(q.iter().map(|x| x.1).collect::<Vec<_>>(), vec![1, 6, 10, 10, 10]);
    let hundred: Vec<u64> = (0..100).rev().collect();
    let q = quantiles(&hundred, &QUANTILE_POINTS).unwrap();
    assert_eq!(q.iter().map(|x| x.1).collect::<Vec<_>>(), vec![0, 50, 95, 99, 99]);
    assert_eq!(quantiles(&[7], &QUANTILE_POINTS).unwrap().iter().map(|x| x.1).collect::<Vec<_>>(), vec![7; 5]);
    assert!(quantiles::<u64>(&[], &QUANTILE_POINTS).is_none());
}

#[test]
fn element_in_every_read_after_its_add_is_stable_with_zero_latency() {
    let mut h = Hist::new();
    h.invoke(0, F::Broadcast, json!(1), 1);
    h.ok(0, F::Broadcast, json!(1), 2);
    h.invoke(1, F::Read, Value::Null, 3);
    h.ok(1, F::Read, json!([1]), 4);
    let r = set_full::check(&h.h).unwrap();
    assert_eq!(r.elements[0].outcome, Outcome::Stable);
    assert_eq!(r.elements[0].stable_latency, Some(0));
    assert_eq!(r.valid(), Validity::True);
    let edn = r.to_edn();
    assert_eq!(edn.get("stale-count").and_then(|e| e.as_int()), Some(0));
    assert_eq!(edn.get("stable-latencies").unwrap().to_edn(), "{0 0, 0.5 0, 0.95 0, 0.99 0, 1 0}");
}

#[test]
fn stable_latency_runs_from_known_to_the_last_read_that_missed_it() {
    let mut h = Hist::new();
    h.invoke(0, F::Add, json!(5), 0);
    h.ok(0, F::Add, json!(5), 10); // known at 10 ms
    h.invoke(1, F::Read, Value::Null, 15); // misses it: last absent, invoked at 15 ms
    h.ok(1, F::Read, json!([]), 16);
    h.invoke(2, F::Read, Value::Null, 20);
    h.ok(2, F::Read, json!([5]), 21);
    let r = set_full::check(&h.h).unwrap();
    let e = &r.elements[0];
    assert_eq!(e.outcome, Outcome::Stable);
    // trunc_ms(15 ms + 1 ns − 10 ms) = 5
    assert_eq!(e.stable_latency, Some(5));
    assert_eq!(r.stale().len(), 1);
    assert_eq!(e.last_absent.as_ref().map(|o| o.index), Some(2));
}

#[test]
fn element_missing_from_the_last_invoked_read_after_it_was_known_is_lost() {
    let mut h = Hist::new();
    h.invoke(0, F::Add, json!(1), 0);
    h.ok(0, F::Add, json!(1), 1);
    h.invoke(1, F::Read, Value::Null, 2);
    h.ok(1, F::Read, json!([1]), 3);
    h.invoke(1, F::Read, Value::Null, 10);
    h.ok(1, F::Read, json!([]), 11);
    let r = set_full::check(&h.h).unwrap();
    assert_eq!(r.elements[0].outcome, Outcome::Lost);
    // lost latency: last present read invoked at 2 ms, + 1 ns, − known 1 ms → 1 ms
    assert_eq!(r.elements[0].lost_latency, Some(1));
    assert_eq!(r.valid(), Validity::False);
    assert_eq!(r.to_edn().get("lost").unwrap().to_edn(), "(1)");
}

#[test]
fn unacknowledged_element_that_no_read_saw_is_never_read_and_nothing_stable_is_unknown() {
    let mut h = Hist::new();
    h.invoke(0, F::Add, json!(1), 0);
    h.info(0, F::Add, json!(1), 1);
    h.invoke(1, F::Read, Value::Null, 2);
    h.ok(1, F::Read, json!([]), 3);
    let r = set_full::check(&h.h).unwrap();
    assert_eq!(r.elements[0].outcome, Outcome::NeverRead);
    assert_eq!(r.valid(), Validity::Unknown);
    let edn = r.to_edn();
    assert_eq!(edn.get("never-read").unwrap().to_edn(), "(1)");
    assert!(edn.get("stable-latencies").is_none());
    assert_eq!(edn.get("duplicated-count").unwrap().to_edn(), "0");
    assert_eq!(edn.get("duplicated").unwrap().to_edn(), "{}");
}

#[test]
fn read_concurrent_with_the_add_that_misses_it_does_not_make_it_lost() {
    // The read is invoked before the add is known (completes): index(known) > index(last_absent) → never-read.
    let mut h = Hist::new();
    h.invoke(0, F::Add, json!(1), 0);
    h.invoke(1, F::Read, Value::Null, 1);
    h.ok(0, F::Add, json!(1), 2);
    h.ok(1, F::Read, json!([]), 3);
    let r = set_full::check(&h.h).unwrap();
    assert_eq!(r.elements[0].outcome, Outcome::NeverRead);
}

#[test]
fn invocation_order_not_completion_order_decides_between_stable_and_lost() {
    let mut h = Hist::new();
    h.invoke(0, F::Add, json!(1), 0);
    h.ok(0, F::Add, json!(1), 1);
    h.invoke(1, F::Read, Value::Null, 2); // earlier invoked, misses it, completes last
    h.invoke(2, F::Read, Value::Null, 3); // later invoked, has it
    h.ok(2, F::Read, json!([1]), 4);
    h.ok(1, F::Read, json!([]), 5);
    let r = set_full::check(&h.h).unwrap();
    assert_eq!(r.elements[0].outcome, Outcome::Stable);
    assert_eq!(r.elements[0].stable_latency, Some(1)); // 2 ms + 1 ns − 1 ms
}

#[test]
fn disjoint_final_reads_leave_one_stable_element_and_the_rest_lost() {
    // spec §9.1 worked example shape: 21 elements on 5 isolated nodes; each node's final read returns only its
    // own elements, and the last-invoked final read (process 4) returns [8].
    let mut h = Hist::new();
    for e in 0..21u64 {
        h.invoke(e % 5, F::Broadcast, json!(e), e * 10);
        h.ok(e % 5, F::Broadcast, json!(e), e * 10 + 1);
    }
    let reads: Vec<usize> = (0..5).map(|p| h.invoke(p, F::Read, Value::Null, 1000 + p * 10)).collect();
    assert_eq!(reads.len(), 5);
    for p in 0..5u64 {
        let own: Vec<u64> = if p == 4 { vec![8] } else { (0..21).filter(|e| e % 5 == p).collect() };
        let i = h.ok(p, F::Read, json!(own), 1100 + p);
        h.final_read(i);
    }
    let r = set_full::check(&h.h).unwrap();
    assert_eq!(r.elements.len(), 21);
    assert_eq!(r.with_outcome(Outcome::Stable), vec![json!(8)]);
    assert_eq!(r.count(Outcome::Lost), 20);
    assert_eq!(r.stale().iter().map(|e| e.element.clone()).collect::<Vec<_>>(), vec![json!(8)]);
    assert_eq!(r.valid(), Validity::False);
    let edn = r.to_edn();
    assert_eq!(edn.get("attempt-count").and_then(|e| e.as_int()), Some(21));
    assert_eq!(edn.get("stale").unwrap().to_edn(), "(8)");
    let worst = edn.get("worst-stale").unwrap().to_edn_compact();
    assert!(worst.starts_with("({:element 8, :outcome :stable, :stable-latency "), "{worst}");
    assert!(worst.contains(":lost-latency nil, :known {:index "), "{worst}");
}

#[test]
fn worst_stale_lists_eight_largest_latencies_larger_element_first_on_ties() {
    let mut h = Hist::new();
    // Elements 0..10, each known at 0 ms; element e is missed by a read invoked at (e / 2 + 1) * 10 ms.
    for e in 0..10u64 {
        h.invoke(0, F::Add, json!(e), 0);
        h.ok(0, F::Add, json!(e), 0);
    }
    for e in 0..10u64 {
        let others: Vec<u64> = (0..10).filter(|x| *x != e).collect();
        h.invoke(1, F::Read, Value::Null, (e / 2 + 1) * 10);
        h.ok(1, F::Read, json!(others), (e / 2 + 1) * 10);
    }
    h.invoke(1, F::Read, Value::Null, 100);
    h.ok(1, F::Read, json!((0..10).collect::<Vec<u64>>()), 100);
    let r = set_full::check(&h.h).unwrap();
    let worst: Vec<Value> = r.worst_stale().iter().map(|e| e.element.clone()).collect();
    assert_eq!(worst, [9, 8, 7, 6, 5, 4, 3, 2].map(|e| json!(e)).to_vec());
}

#[test]
fn elements_of_types_clojure_cannot_compare_make_the_checker_fail() {
    let mut h = Hist::new();
    h.invoke(0, F::Add, json!(1), 0);
    h.invoke(1, F::Add, json!("a"), 0);
    assert!(set_full::check(&h.h).is_err());
}

/// A sequential history: adds of 0, 1, 2, … (ok or info) interleaved with reads that return exactly the
/// elements whose add completed ok before the read, plus info-added elements from some point on.
fn sequential_history(steps: &[(bool, bool)]) -> Hist {
    let mut h = Hist::new();
    let mut t = 0;
    let mut next = 0u64;
    let mut visible: Vec<u64> = Vec::new();
    for &(is_add, ok) in steps {
        t += 1;
        if is_add {
            h.invoke(0, F::Add, json!(next), t);
            if ok {
                h.ok(0, F::Add, json!(next), t + 1);
                visible.push(next);
            } else {
                h.info(0, F::Add, json!(next), t + 1);
            }
            next += 1;
        } else {
            h.invoke(1, F::Read, Value::Null, t);
            h.ok(1, F::Read, json!(visible.clone()), t + 1);
        }
        t += 1;
    }
    h
}

proptest! {
    #[test]
    fn an_element_read_in_every_read_after_its_add_is_stable_and_never_lost(
        steps in prop::collection::vec((any::<bool>(), any::<bool>()), 0..60),
    ) {
        let h = sequential_history(&steps);
        let r = set_full::check(&h.h).unwrap();
        prop_assert_eq!(r.count(Outcome::Lost), 0);
        for e in &r.elements {
            if e.outcome == Outcome::Stable {
                prop_assert_eq!(e.stable_latency, Some(0));
            }
            // An acknowledged element followed by some read is stable.
            let acked = e.known.as_ref().is_some_and(|k| k.f == F::Add);
            let read_after = e.known.as_ref().is_some_and(|k| h.h.ops.iter().any(|o| o.f == F::Read && o.index > k.index));
            if acked && read_after {
                prop_assert_eq!(e.outcome, Outcome::Stable);
            }
        }
        prop_assert!(r.stale().is_empty());
    }
}
