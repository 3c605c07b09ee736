//! Differential tests: the same operations on our types and on a trivial model must agree.

use std::collections::{BTreeMap, BTreeSet};

use osmosis_crdt::{DeltaCrdt, GCounter, GSet, JsonSet, Lattice, PNCounter};
use proptest::prelude::*;
use serde_json::Value;

#[derive(Debug, Clone)]
enum SetOp {
    Insert(u64),
    InsertRange(u64, u16),
    Join(Vec<u64>),
    DeltaFrom(Vec<u64>, u64),
    Decode,
}

fn element() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..1000, (0u64..4, any::<u16>()).prop_map(|(c, l)| (c << 16) | u64::from(l)), any::<u64>()]
}

fn set_op() -> impl Strategy<Value = SetOp> {
    prop_oneof![
        4 => element().prop_map(SetOp::Insert),
        1 => (element(), 0u16..2048).prop_map(|(x, n)| SetOp::InsertRange(x, n)),
        1 => prop::collection::vec(element(), 0..20).prop_map(SetOp::Join),
        1 => (prop::collection::vec(element(), 0..20), any::<u64>()).prop_map(|(v, s)| SetOp::DeltaFrom(v, s)),
        1 => Just(SetOp::Decode),
    ]
}

#[derive(Debug, Clone)]
enum CounterOp {
    Add(usize, i64),
    Big(usize, bool),
    Join(usize),
}

fn counter_op() -> impl Strategy<Value = CounterOp> {
    prop_oneof![
        6 => (0usize..4, any::<i64>()).prop_map(|(r, x)| CounterOp::Add(r, x)),
        1 => (0usize..4, any::<bool>()).prop_map(|(r, up)| CounterOp::Big(r, up)),
        2 => (0usize..4).prop_map(CounterOp::Join),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn gset_agrees_with_a_btreeset(ops in prop::collection::vec(set_op(), 0..40)) {
        let mut ours = GSet::new();
        let mut model = BTreeSet::new();
        for op in ops {
            match op {
                SetOp::Insert(x) => {
                    let delta = ours.insert(x);
                    let new = model.insert(x);
                    prop_assert_eq!(delta.iter().collect::<Vec<_>>(), if new { vec![x] } else { vec![] });
                }
                SetOp::InsertRange(x, n) => {
                    let end = x.saturating_add(u64::from(n));
                    for y in x..end {
                        ours.insert(y);
                    }
                    model.extend(x..end);
                }
                SetOp::Join(v) => {
                    let other: GSet = v.iter().copied().collect();
                    let changed = ours.join(&other);
                    let before = model.len();
                    model.extend(v);
                    prop_assert_eq!(changed, model.len() != before);
                }
                SetOp::DeltaFrom(v, seed) => {
                    let other: GSet = v.iter().copied().collect();
                    ours.apply_delta(&other.delta_since(&ours.digest_seeded(seed)));
                    model.extend(v);
                }
                SetOp::Decode => {
                    ours = serde_json::from_str(&serde_json::to_string(&ours).unwrap()).unwrap();
                }
            }
            prop_assert_eq!(ours.len(), model.len() as u64);
        }
        ours.validate().unwrap();
        prop_assert!(ours.iter().eq(model.iter().copied()));
        for x in model.iter().take(50) {
            prop_assert!(ours.contains(*x));
        }
    }

    #[test]
    fn jsonset_agrees_with_a_set_of_canonical_texts(values in prop::collection::vec(
        prop_oneof![
            (0u64..50).prop_map(Value::from),
            (-50i64..0).prop_map(Value::from),
            "[ab]{0,2}".prop_map(Value::from),
            (0u64..3, 0u64..3).prop_map(|(a, b)| serde_json::json!({"b": b, "a": a})),
        ], 0..40)) {
        let mut ours = JsonSet::new();
        let mut model = BTreeSet::new();
        for v in &values {
            ours.insert(v);
            let mut obj = v.clone();
            if let Value::Object(m) = &mut obj {
                m.sort_keys();
            }
            model.insert(serde_json::to_string(&obj).unwrap());
        }
        ours.validate().unwrap();
        let texts: BTreeSet<String> = ours.iter().map(|v| serde_json::to_string(&v).unwrap()).collect();
        prop_assert_eq!(texts, model);
    }

    #[test]
    fn counters_agree_with_an_i128_sum(ops in prop::collection::vec(counter_op(), 0..40)) {
        let mut pn: Vec<PNCounter<String>> = vec![PNCounter::new(); 4];
        let mut g: Vec<GCounter<String>> = vec![GCounter::new(); 4];
        // The model: each replica's own increments and decrements, as exact integers.
        let mut up = [0i128; 4];
        let mut down = [0i128; 4];
        let max = i128::from(u64::MAX);
        for op in ops {
            let (r, x) = match op {
                CounterOp::Add(r, x) => (r, i128::from(x)),
                CounterOp::Big(r, true) => (r, max),
                CounterOp::Big(r, false) => (r, -max),
                CounterOp::Join(r) => {
                    let (left, right) = pn.split_at_mut(r);
                    let (mine, rest) = right.split_first_mut().unwrap();
                    for other in left.iter().chain(rest.iter()) {
                        mine.join(other);
                    }
                    continue;
                }
            };
            let name = format!("n{r}");
            let before = pn[r].clone();
            let result = if x >= 0 {
                pn[r].increment(name.clone(), u64::try_from(x).unwrap())
            } else {
                pn[r].decrement(name.clone(), u64::try_from(-x).unwrap())
            };
            let entry = if x >= 0 { &mut up[r] } else { &mut down[r] };
            if *entry + x.abs() > max {
                prop_assert!(result.is_err(), "overflow must be an error");
                prop_assert_eq!(&pn[r], &before, "state unchanged on error");
            } else {
                prop_assert!(result.is_ok());
                *entry += x.abs();
                if x >= 0 {
                    let gres = g[r].increment(name, u64::try_from(x).unwrap());
                    prop_assert!(gres.is_ok());
                }
            }
        }
        let mut all = PNCounter::new();
        let mut gall = GCounter::new();
        for (c, gc) in pn.iter().zip(&g) {
            c.validate().unwrap();
            all.join(c);
            gall.join(gc);
        }
        let sum: i128 = up.iter().sum::<i128>() - down.iter().sum::<i128>();
        prop_assert_eq!(all.read(), sum);
        prop_assert_eq!(all.read_i64().ok(), i64::try_from(sum).ok());
        prop_assert_eq!(i128::try_from(gall.read()).unwrap(), up.iter().sum::<i128>());
        let per_replica: BTreeMap<String, u64> =
            (0..4).filter(|&r| up[r] > 0).map(|r| (format!("n{r}"), u64::try_from(up[r]).unwrap())).collect();
        prop_assert_eq!(all.increments().entries(), &per_replica);
    }
}
