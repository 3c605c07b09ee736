//! Lattice, delta, convergence and reconciliation laws for every CRDT type, through the one shared checker in
//! `support`. The reconciliation law runs over random sizes, element distributions and differences (one-sided and
//! symmetric), small byte budgets that split messages, and forged summaries that make the responder's first batch
//! too small (forced decode failures).

mod support;

use std::collections::BTreeMap;

use osmosis_crdt::coding::SetHash;
use osmosis_crdt::reconcile::KeySummary;
use osmosis_crdt::{DeltaCrdt, GCounter, GSet, JsonSet, JsonSetDigest, Lattice, OrdGSet, PNCounter, Reconcile};
use proptest::prelude::*;
use serde_json::{Value, json};
use support::{collision_repair, convergence, delta_laws, join_laws, merge_order, repair_law, replica_count};

fn element() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..300,
        2 => (0u64..8, 0u64..64).prop_map(|(chunk, low)| (chunk << 16) | low),
        1 => any::<u64>(),
    ]
}

/// Scattered elements plus a run (0..200 long), so that large joins take the container-merge path.
fn gset() -> impl Strategy<Value = GSet> {
    (prop::collection::vec(element(), 0..60), element(), 0u64..200)
        .prop_map(|(v, start, len)| v.into_iter().chain((start..).take(len as usize)).collect())
}

fn ordgset() -> impl Strategy<Value = OrdGSet<String>> {
    prop::collection::vec("[a-d]{0,3}", 0..40).prop_map(|v| v.into_iter().collect())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        element().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-4i32..4).prop_map(|x| json!(f64::from(x) / 2.0)),
        "[a-c]{0,2}".prop_map(Value::from),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-c]", inner, 0..3).prop_map(|m| json!(m)),
        ]
    })
}

fn jsonset() -> impl Strategy<Value = JsonSet> {
    prop::collection::vec(json_value(), 0..30).prop_map(|values| {
        let mut s = JsonSet::new();
        for v in &values {
            s.insert(v);
        }
        s
    })
}

fn gcounter() -> impl Strategy<Value = GCounter<String>> {
    prop::collection::btree_map("n[1-5]", prop_oneof![1u64..100, Just(u64::MAX)], 0..5)
        .prop_map(|m: BTreeMap<String, u64>| GCounter::try_from(m).unwrap())
}

fn pncounter() -> impl Strategy<Value = PNCounter<String>> {
    prop::collection::vec(("n[1-5]", any::<i64>()), 0..10).prop_map(|ops| {
        let mut c = PNCounter::new();
        for (r, x) in ops {
            let _ = c.add(r, x);
        }
        c
    })
}

fn id(i: usize) -> String {
    format!("n{i}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn gset_obeys_the_laws(a in gset(), b in gset(), c in gset(), seed in any::<u64>()) {
        join_laws(&a, &b, &c)?;
        delta_laws(&a, &b, seed)?;
    }

    #[test]
    fn gset_replicas_converge(n in replica_count(), ops in prop::collection::vec((0usize..7, element()), 0..80),
                              order in merge_order()) {
        convergence(n, &ops, |s: &mut GSet, _, x| s.insert(*x), &order)?;
    }

    #[test]
    fn gset_collisions_are_repaired_by_the_next_seed(a in gset(), b in gset()) {
        collision_repair(&a, &b, |s, seed| s.digest_with(seed, 4, 16 + 16 * (seed % 4) as u8))?;
    }

    #[test]
    fn ordgset_obeys_the_laws(a in ordgset(), b in ordgset(), c in ordgset(), seed in any::<u64>()) {
        join_laws(&a, &b, &c)?;
        delta_laws(&a, &b, seed)?;
    }

    #[test]
    fn ordgset_replicas_converge(n in replica_count(), ops in prop::collection::vec((0usize..7, "[a-e]{1,2}"), 0..60),
                                 order in merge_order()) {
        convergence(n, &ops, |s: &mut OrdGSet<String>, _, x: &String| s.insert(x.clone()), &order)?;
    }

    #[test]
    fn ordgset_collisions_are_repaired_by_the_next_seed(a in ordgset(), b in ordgset()) {
        collision_repair(&a, &b, |s, seed| s.digest_with(seed, 4, 2))?;
    }

    #[test]
    fn jsonset_obeys_the_laws(a in jsonset(), b in jsonset(), c in jsonset(), seed in any::<u64>()) {
        join_laws(&a, &b, &c)?;
        delta_laws(&a, &b, seed)?;
    }

    #[test]
    fn jsonset_replicas_converge(n in replica_count(), ops in prop::collection::vec((0usize..7, json_value()), 0..40),
                                 order in merge_order()) {
        convergence(n, &ops, |s: &mut JsonSet, _, v: &Value| s.insert(v), &order)?;
    }

    #[test]
    fn jsonset_collisions_are_repaired_by_the_next_seed(a in jsonset(), b in jsonset()) {
        collision_repair(&a, &b, |s, seed| JsonSetDigest {
            ints: s.ints().digest_with(seed, 4, 16),
            other: s.other().digest_with(seed, 4, 1),
        })?;
    }

    #[test]
    fn gcounter_obeys_the_laws(a in gcounter(), b in gcounter(), c in gcounter(), seed in any::<u64>()) {
        join_laws(&a, &b, &c)?;
        delta_laws(&a, &b, seed)?;
        // Exact digest: nothing is sent to a replica that is ahead or equal.
        let ab = { let mut x = a.clone(); x.join(&b); x };
        prop_assert!(a.delta_since(&ab.digest()).is_empty());
    }

    #[test]
    fn gcounter_replicas_converge(n in replica_count(), ops in prop::collection::vec((0usize..7, 0u64..1000), 0..60),
                                  order in merge_order()) {
        convergence(n, &ops, |c: &mut GCounter<String>, i, x| c.increment(id(i), *x).unwrap(), &order)?;
    }

    #[test]
    fn gcounter_digest_is_exact_so_no_collision_can_hide_a_difference(a in gcounter(), b in gcounter()) {
        prop_assert_eq!(collision_repair(&a, &b, |s, seed| s.digest_seeded(seed))?, 0);
    }

    #[test]
    fn pncounter_obeys_the_laws(a in pncounter(), b in pncounter(), c in pncounter(), seed in any::<u64>()) {
        join_laws(&a, &b, &c)?;
        delta_laws(&a, &b, seed)?;
        let ab = { let mut x = a.clone(); x.join(&b); x };
        prop_assert!(a.delta_since(&ab.digest()).is_empty());
    }

    #[test]
    fn pncounter_replicas_converge(n in replica_count(), ops in prop::collection::vec((0usize..7, -1000i64..1000), 0..60),
                                   order in merge_order()) {
        convergence(n, &ops, |c: &mut PNCounter<String>, i, x| c.add(id(i), *x).unwrap(), &order)?;
    }

    #[test]
    fn pncounter_digest_is_exact_so_no_collision_can_hide_a_difference(a in pncounter(), b in pncounter()) {
        prop_assert_eq!(collision_repair(&a, &b, |s, seed| s.digest_seeded(seed))?, 0);
    }
}

/// A real collision: two different chunk contents whose 4-bit fingerprints agree under some seed. That round
/// ships nothing for the chunk; the next seed's fingerprints differ and the chunk is shipped.
#[test]
fn a_gset_fingerprint_collision_delays_a_chunk_by_one_round_only() {
    let a: GSet = [1u64, 2, 3].into_iter().collect();
    let b: GSet = [1u64, 2].into_iter().collect();
    let seed = (0..1000u64)
        .find(|&s| a.digest_with(s, 4, 16).chunks() == b.digest_with(s, 4, 16).chunks())
        .expect("a 4-bit collision within 1000 seeds");
    assert!(a.delta_since(&b.digest_with(seed, 4, 16)).is_empty(), "the colliding round ships nothing");
    let next = (seed + 1..seed + 64).find(|&s| !a.delta_since(&b.digest_with(s, 4, 16)).is_empty()).unwrap();
    let mut b2 = b.clone();
    b2.apply_delta(&a.delta_since(&b.digest_with(next, 4, 16)));
    assert_eq!(b2, a);
    // The same pair never collides with full-width fingerprints under those seeds.
    assert_eq!(a.delta_since(&b.digest_seeded(seed)), a);
}

#[test]
fn an_ordgset_fingerprint_collision_is_repaired_by_a_later_seed() {
    let a: OrdGSet<String> = ["x", "y"].into_iter().map(String::from).collect();
    let b: OrdGSet<String> = ["x"].into_iter().map(String::from).collect();
    let seed = (0..1000u64)
        .find(|&s| a.digest_with(s, 4, 0) == b.digest_with(s, 4, 0))
        .expect("a 4-bit collision within 1000 seeds");
    assert!(a.delta_since(&b.digest_with(seed, 4, 0)).is_empty());
    let rounds_short = support::collision_repair(&a, &b, |s, r| s.digest_with(seed + r, 4, 0)).unwrap();
    assert!(rounds_short >= 1);
}

/// Elements of one distribution: sequential from an offset, random below 2^32, random over u64.
fn distribution() -> impl Strategy<Value = (u8, u64)> {
    (0u8..3, any::<u64>())
}

fn nth_element(kind: u8, seed: u64, i: u64) -> u64 {
    let x = seed.wrapping_add(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i << 17);
    match kind {
        0 => (seed >> 20).wrapping_add(i),
        1 => x >> 32,
        _ => x,
    }
}

/// Two replicas: `shared` common elements, then `only_a` and `only_b` elements of their own.
fn replicas() -> impl Strategy<Value = (GSet, GSet)> {
    (distribution(), 0u64..3000, 0u64..400, 0u64..400).prop_map(|((kind, seed), shared, only_a, only_b)| {
        let base: GSet = (0..shared).map(|i| nth_element(kind, seed, i)).collect();
        let (mut a, mut b) = (base.clone(), base);
        for i in 0..only_a {
            a.insert(nth_element(kind, seed, shared + i));
        }
        for i in 0..only_b {
            b.insert(nth_element(kind, seed, shared + only_a + i));
        }
        (a, b)
    })
}

/// The initiator claims the responder's count and sketch: the responder sizes for two differences.
fn forged(a: &KeySummary, b: &KeySummary) -> KeySummary {
    KeySummary { set: SetHash { len: b.set.len, hash: a.set.hash }, sketch: b.sketch }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn one_gset_repair_exchange_leaves_both_replicas_at_the_join(
        (a, b) in replicas(), budget in prop_oneof![Just(60_000usize), 300usize..4000], forge in any::<bool>(),
    ) {
        let cost = repair_law(&a, &b, budget, |x, y| if forge { forged(x, y) } else { *x })?;
        if a == b {
            prop_assert_eq!(cost.messages, 1, "agreeing replicas: one summary, answered by silence");
        }
    }

    #[test]
    fn a_gset_repair_with_an_empty_side_sends_the_state_once((a, _) in replicas(), empty_first in any::<bool>()) {
        let empty = GSet::new();
        let (x, y) = if empty_first { (&empty, &a) } else { (&a, &empty) };
        repair_law(x, y, 60_000, |s, _| *s)?;
    }
}

#[test]
fn a_repair_of_one_missing_random_u64_costs_a_few_dozen_bytes_in_two_to_four_messages() {
    let a: GSet = (0..100_000u64).map(|i| nth_element(2, 7, i)).collect();
    let mut b = a.clone();
    let missing = nth_element(2, 7, 1_000_000);
    b.insert(missing);
    let cost = repair_law(&a, &b, 60_000, |s, _| *s).unwrap();
    assert_eq!(cost.messages, 2, "summary, then one cell that decodes: the initiator lacked the element");
    assert!(cost.bytes <= 104, "{cost:?}");
    let mut joined = a.clone();
    joined.join(&b);
    let cost = repair_law(&b, &a, 60_000, |s, _| *s).unwrap();
    assert_eq!(cost.messages, 4, "summary, a request, one cell that decodes at the responder, its empty answer");
    assert!(cost.bytes <= 104, "{cost:?}");
}

#[test]
fn small_symmetric_differences_are_sized_by_the_parity_maps_and_mostly_decode_in_the_first_batch() {
    // 60 seeds for each d: 2000 shared random u64 elements, d/2 of its own on each side. The summaries' parity
    // maps tell these d nearly exactly, so the first batch is as large as the byte target affords; what is left
    // is the coding's own spread (a few cells more or less decode d), which the target cannot always pay for.
    for d in [2u64, 4, 6, 10] {
        let (mut within_target, mut within_four) = (0, 0);
        for seed in 0..60 {
            let base: GSet = (0..2000).map(|i| nth_element(2, seed << 32, i)).collect();
            let (mut a, mut b) = (base.clone(), base);
            for i in 0..d / 2 {
                a.insert(nth_element(2, seed << 32, 10_000 + i));
                b.insert(nth_element(2, seed << 32, 20_000 + i));
            }
            let cost = repair_law(&a, &b, 60_000, |s, _| *s).unwrap();
            within_target += u32::from(cost.bytes as u64 <= 64 + 40 * d);
            within_four += u32::from(cost.messages <= 4);
        }
        assert!(within_four >= 48 && within_target >= 48, "d = {d}: {within_four} / {within_target} of 60");
    }
}

#[test]
fn a_replica_holding_a_tenth_of_a_run_gets_the_run_in_a_few_bytes_whichever_side_starts() {
    let full: GSet = (0..100_000u64).collect();
    let tenth: GSet = full.iter().step_by(10).collect();
    let state = serde_json::to_string(&full).unwrap().len();
    for (a, b) in [(&full, &tenth), (&tenth, &full)] {
        let cost = repair_law(a, b, 60_000, |s, _| *s).unwrap();
        assert!(cost.bytes <= state + 64, "{cost:?} against a {state}-byte state");
    }
}

#[test]
fn sending_a_state_of_scattered_32_bit_elements_costs_no_more_than_its_roaring_encoding() {
    // 100,000 random elements below 2^28: the density of 1e6 random u32, where roaring packs ~2.3 bytes each.
    let full: GSet = (0..100_000u64).map(|i| nth_element(1, 5, i) >> 4).collect();
    let state = serde_json::to_string(&full).unwrap().len();
    for joiner in [GSet::new(), full.iter().step_by(10).collect()] {
        for (a, b) in [(&full, &joiner), (&joiner, &full)] {
            let cost = repair_law(a, b, 60_000, |s, _| *s).unwrap();
            assert!(cost.bytes <= state, "{cost:?} against a {state}-byte state");
        }
    }
}

/// A JSON value of one of three kinds: an integer of the distribution, a string, an object.
fn nth_value(kind: u8, seed: u64, i: u64) -> Value {
    match i % 5 {
        0 => json!(format!("s{}", nth_element(kind, seed, i))),
        1 => json!({"k": nth_element(kind, seed, i) % 1000, "i": i}),
        _ => json!(nth_element(kind, seed, i)),
    }
}

/// Two JSON sets: `shared` common values, then `only_a` and `only_b` values of their own (integers, strings and
/// objects mixed).
fn jsonset_replicas() -> impl Strategy<Value = (JsonSet, JsonSet)> {
    (distribution(), 0u64..600, 0u64..60, 0u64..60).prop_map(|((kind, seed), shared, only_a, only_b)| {
        let mut base = JsonSet::new();
        for i in 0..shared {
            base.insert(&nth_value(kind, seed, i));
        }
        let (mut a, mut b) = (base.clone(), base);
        for i in 0..only_a {
            a.insert(&nth_value(kind, seed, shared + i));
        }
        for i in 0..only_b {
            b.insert(&nth_value(kind, seed, shared + only_a + i));
        }
        (a, b)
    })
}

/// Two counter replicas: `shared` replicas' entries in common, then each side raises or adds entries of its own.
fn counter_replicas() -> impl Strategy<Value = (PNCounter<String>, PNCounter<String>)> {
    let ops = || prop::collection::vec((0u64..300, -1000i64..1000), 0..40);
    (0u64..200, ops(), ops()).prop_map(|(shared, to_a, to_b)| {
        let mut base = PNCounter::new();
        for i in 0..shared {
            base.add(format!("r{i}"), (i as i64 % 7) - 3).unwrap();
        }
        let (mut a, mut b) = (base.clone(), base);
        for (r, x) in to_a {
            a.add(format!("r{r}"), x).unwrap();
        }
        for (r, x) in to_b {
            b.add(format!("r{r}"), x).unwrap();
        }
        (a, b)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn one_jsonset_repair_exchange_leaves_both_replicas_at_the_join(
        (a, b) in jsonset_replicas(), budget in prop_oneof![Just(60_000usize), 300usize..4000], forge in any::<bool>(),
    ) {
        let cost = repair_law(&a, &b, budget, |x, y| if forge { forged(x, y) } else { *x })?;
        if a == b {
            prop_assert_eq!(cost.messages, 1, "agreeing replicas: one summary, answered by silence");
        }
    }

    #[test]
    fn a_jsonset_repair_with_an_empty_side_sends_the_state_once((a, _) in jsonset_replicas(), empty_first in any::<bool>()) {
        let empty = JsonSet::new();
        let (x, y) = if empty_first { (&empty, &a) } else { (&a, &empty) };
        repair_law(x, y, 60_000, |s, _| *s)?;
    }

    #[test]
    fn one_counter_repair_exchange_leaves_both_replicas_at_the_join(
        (a, b) in counter_replicas(), budget in prop_oneof![Just(60_000usize), 300usize..2000], forge in any::<bool>(),
    ) {
        let cost = repair_law(&a, &b, budget, |x, y| if forge { forged(x, y) } else { *x })?;
        if a == b {
            prop_assert_eq!(cost.messages, 1, "agreeing replicas: one summary, answered by silence");
        }
        let (ga, gb) = (a.increments().clone(), b.increments().clone());
        repair_law(&ga, &gb, budget, |x, y| if forge { forged(x, y) } else { *x })?;
        repair_law(&ga, &GCounter::new(), budget, |x, _| *x)?;
        repair_law(&PNCounter::new(), &b, budget, |x, _| *x)?;
    }
}

#[test]
fn an_agreeing_counter_check_is_one_summary_of_at_most_64_bytes_at_any_replica_count() {
    for replicas in [1u64, 25, 1000, 50_000] {
        let mut c = PNCounter::<String>::new();
        for i in 0..replicas {
            c.add(format!("n{i}"), (i as i64 % 11) - 5).unwrap();
        }
        let cost = repair_law(&c, &c.clone(), 60_000, |s, _| *s).unwrap();
        assert_eq!(cost.messages, 1);
        assert!(cost.bytes <= 64, "{replicas} replicas: {cost:?}");
    }
}

#[test]
fn a_counter_repair_costs_bytes_in_proportion_to_the_changed_entries_not_the_replicas() {
    let mut base = GCounter::<String>::new();
    for i in 0..10_000u64 {
        base.increment(format!("n{i}"), i + 1).unwrap();
    }
    let mut changed = base.clone();
    for i in 0..3u64 {
        changed.increment(format!("n{}", i * 1000), 5).unwrap();
    }
    // Three entries: six differing keys (old and new pairs), their cells, three records and a request.
    let cost = repair_law(&base, &changed, 60_000, |s, _| *s).unwrap();
    assert!(cost.bytes <= 64 + 200 * 3, "{cost:?}");
    assert!(cost.messages <= 5, "{cost:?}");
}

/// JSON bytes of `x`'s state as a round sends it (to an empty initiator), without the summary.
fn state_round_bytes(x: &GCounter<String>) -> usize {
    let empty = GCounter::new();
    let summary = serde_json::to_string(&empty.summary()).unwrap().len();
    repair_law(&empty, x, 60_000, |s, _| *s).unwrap().bytes - summary
}

#[test]
fn a_counter_repair_never_costs_more_than_the_state_and_the_agreeing_check_at_any_replica_count() {
    for replicas in (1u64..=48).chain([64, 100, 1000]) {
        let mut base = GCounter::<String>::new();
        for i in 0..replicas {
            base.increment(format!("n{i}"), i + 1).unwrap();
        }
        let raised = |c: &GCounter<String>, k: u64| {
            let mut c = c.clone();
            for i in 0..k {
                c.increment(format!("n{}", i * 7 % replicas), 3).unwrap();
            }
            c
        };
        let added = |c: &GCounter<String>, k: u64| {
            let mut c = c.clone();
            for i in 0..k {
                c.increment(format!("new{i}"), 3).unwrap();
            }
            c
        };
        for changed in [1u64, 2, 3] {
            for (how, ahead) in [("raised", raised(&base, changed)), ("added", added(&base, changed))] {
                // Without coding: the responder sends its state and gets back the initiator's entries above it,
                // or, if the initiator holds more entries, asks for the initiator's state (a 5-byte request) and
                // ends the round with a 5-byte empty part.
                for (a, b) in [(&base, &ahead), (&ahead, &base)] {
                    let check = serde_json::to_string(&a.summary()).unwrap().len();
                    let bound = if a.entries().len() > b.entries().len() {
                        check + 10 + state_round_bytes(a)
                    } else {
                        check + state_round_bytes(b) + state_round_bytes(&a.delta_since(&b.digest()))
                    };
                    let cost = repair_law(a, b, 60_000, |s, _| *s).unwrap();
                    assert!(
                        cost.bytes <= bound,
                        "{replicas} replicas, {changed} {how}, initiator ahead: {}: {cost:?} over the state's {bound} B",
                        std::ptr::eq(a, &ahead)
                    );
                }
            }
        }
    }
}
