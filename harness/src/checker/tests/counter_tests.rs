use proptest::prelude::*;
use serde_json::{Value, json};

use super::Hist;
use crate::checker::counter::{self, Intervals};
use crate::history::F;

#[test]
fn counter_acceptable_set_is_definite_sum_plus_subset_sums_of_info_adds() {
    // spec §9.2: ok adds 10; info adds 5, −1, −1 → [[8 10] [13 15]]; a final read of 11 is an error, 15 is fine.
    let mut h = Hist::new();
    h.invoke(0, F::Add, json!(10), 1);
    h.ok(0, F::Add, json!(10), 2);
    for (p, d) in [(1, 5), (2, -1), (3, -1)] {
        h.invoke(p, F::Add, json!(d), 3);
        h.info(p, F::Add, json!(d), 4);
    }
    h.invoke(4, F::Read, Value::Null, 5);
    let eleven = h.ok(4, F::Read, json!(11), 6);
    h.final_read(eleven);
    h.invoke(5, F::Read, Value::Null, 5);
    let fifteen = h.ok(5, F::Read, json!(15), 6);
    h.final_read(fifteen);
    let r = counter::check(&h.h).unwrap();
    assert_eq!(r.acceptable.as_slice(), &[(8, 10), (13, 15)]);
    assert_eq!(r.final_reads, vec![11, 15]);
    assert_eq!(r.errors, vec![h.h.ops[eleven].clone()]);
    assert!(!r.valid());
}

#[test]
fn counter_over_an_empty_history_is_valid_with_acceptable_zero() {
    let r = counter::check(&Hist::new().h).unwrap();
    assert_eq!(r.to_edn().to_edn(), "{:valid? true, :errors nil, :final-reads (), :acceptable ([0 0])}");
}

#[test]
fn counter_ignores_failed_adds_and_non_final_reads() {
    let mut h = Hist::new();
    h.invoke(0, F::Add, json!(3), 1);
    h.fail(0, F::Add, json!(3), 2);
    h.invoke(0, F::Read, Value::Null, 3);
    h.ok(0, F::Read, json!(99), 4); // not final: not checked
    h.invoke(0, F::Read, Value::Null, 5);
    let i = h.ok(0, F::Read, json!(0), 6);
    h.final_read(i);
    let r = counter::check(&h.h).unwrap();
    assert_eq!(r.acceptable.as_slice(), &[(0, 0)]);
    assert_eq!(r.final_reads, vec![0]);
    assert!(r.valid());
}

#[test]
fn counter_final_read_that_is_not_an_integer_is_an_error_not_a_panic() {
    let mut h = Hist::new();
    h.invoke(0, F::Read, Value::Null, 1);
    let i = h.ok(0, F::Read, json!(1.5), 2);
    h.final_read(i);
    assert!(counter::check(&h.h).is_err());
}

#[test]
fn intervals_merge_when_adjacent_and_stay_apart_across_a_gap() {
    let mut a = Intervals::point(0);
    a.union_shifted(1).unwrap(); // {0,1}
    assert_eq!(a.as_slice(), &[(0, 1)]);
    a.union_shifted(3).unwrap(); // {0,1,3,4}
    assert_eq!(a.as_slice(), &[(0, 1), (3, 4)]);
    a.union_shifted(2).unwrap(); // ∪ {2,3,5,6} = 0..=6
    assert_eq!(a.as_slice(), &[(0, 6)]);
    assert!(a.contains(0) && a.contains(6) && !a.contains(7) && !a.contains(-1));
}

#[test]
fn counter_stays_small_with_many_info_adds() {
    // 20 000 indeterminate adds with deltas in {-5..4}: the acceptable set collapses into one interval.
    let mut h = Hist::new();
    for i in 0..20_000u64 {
        let d = (i % 10) as i64 - 5;
        h.invoke(0, F::Add, json!(d), i);
        h.info(0, F::Add, json!(d), i);
    }
    let r = counter::check(&h.h).unwrap();
    let neg: i128 = (0..20_000i128).map(|i| (i % 10) - 5).filter(|d| *d < 0).sum();
    let pos: i128 = (0..20_000i128).map(|i| (i % 10) - 5).filter(|d| *d > 0).sum();
    assert_eq!(r.acceptable.as_slice(), &[(neg, pos)]);
}

fn brute_force(definite: i128, infos: &[i128]) -> std::collections::BTreeSet<i128> {
    let mut set = std::collections::BTreeSet::from([definite]);
    for d in infos {
        let shifted: Vec<i128> = set.iter().map(|x| x + d).collect();
        set.extend(shifted);
    }
    set
}

proptest! {
    #[test]
    fn acceptable_set_equals_brute_force_subset_sums(
        oks in prop::collection::vec(-20i64..20, 0..5),
        infos in prop::collection::vec(prop_oneof![-6i64..6, -300i64..300], 0..10),
    ) {
        let mut h = Hist::new();
        for d in &oks {
            h.invoke(0, F::Add, json!(d), 1);
            h.ok(0, F::Add, json!(d), 2);
        }
        for d in &infos {
            h.invoke(0, F::Add, json!(d), 1);
            h.info(0, F::Add, json!(d), 2);
        }
        let r = counter::check(&h.h).unwrap();
        let expect = brute_force(oks.iter().map(|&d| i128::from(d)).sum(), &infos.iter().map(|&d| i128::from(d)).collect::<Vec<_>>());
        let got: std::collections::BTreeSet<i128> =
            r.acceptable.as_slice().iter().flat_map(|&(lo, hi)| lo..=hi).collect();
        prop_assert_eq!(&got, &expect);
        // Intervals are sorted, disjoint and never adjacent.
        for w in r.acceptable.as_slice().windows(2) {
            prop_assert!(w[0].1 + 1 < w[1].0);
        }
    }
}
