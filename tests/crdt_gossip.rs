//! Through the facade: replicas of each set and counter type, fed seeded random operations, converge under
//! random push-pull gossip with a fresh digest seed per exchange, and pass their invariant checks.

use osmosis_sync::crdt::{DeltaCrdt, GCounter, JsonSet, PNCounter};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

const REPLICAS: usize = 5;

fn gossip<T: DeltaCrdt + PartialEq + std::fmt::Debug>(replicas: &mut [T], rng: &mut ChaCha8Rng, exchanges: usize) {
    for round in 0..exchanges {
        let i = rng.random_range(0..replicas.len());
        let j = (i + rng.random_range(1..replicas.len())) % replicas.len();
        let seed = rng.random::<u64>() ^ round as u64;
        let to_i = replicas[j].delta_since(&replicas[i].digest_seeded(seed));
        replicas[i].apply_delta(&to_i);
        let to_j = replicas[i].delta_since(&replicas[j].digest_seeded(seed));
        replicas[j].apply_delta(&to_j);
    }
    // A final ring of exchanges makes convergence certain, not just likely.
    for _pass in 0..2 {
        for i in 0..replicas.len() {
            let j = (i + 1) % replicas.len();
            let to_j = replicas[i].delta_since(&replicas[j].digest());
            replicas[j].apply_delta(&to_j);
            let to_i = replicas[j].delta_since(&replicas[i].digest());
            replicas[i].apply_delta(&to_i);
        }
    }
}

#[test]
fn json_sets_converge_under_random_gossip() {
    let seed = 20_240_601;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut replicas = vec![JsonSet::new(); REPLICAS];
    let mut expected = std::collections::BTreeSet::new();
    for step in 0..2_000u64 {
        let r = rng.random_range(0..REPLICAS);
        let value = match rng.random_range(0..4) {
            0 => json!(rng.random_range(0..100_000u64)),
            1 => json!(rng.random::<u64>()),
            2 => json!(-(rng.random_range(1..1000i64))),
            _ => {
                let tag = if rng.random::<bool>() { "a" } else { "b" };
                json!({"tag": tag, "step": step % 50})
            }
        };
        expected.insert(value.to_string());
        replicas[r].insert(&value);
        if step % 100 == 0 {
            gossip(&mut replicas, &mut rng, 3);
        }
    }
    gossip(&mut replicas, &mut rng, 20);
    for r in &replicas {
        r.validate().unwrap();
        assert_eq!(r, &replicas[0], "seed {seed}");
    }
    let got: std::collections::BTreeSet<String> = replicas[0].iter().map(|v| v.to_string()).collect();
    assert_eq!(got, expected, "seed {seed}");
}

#[test]
fn counters_converge_under_random_gossip_to_the_plain_sum() {
    let seed = 7;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pn = vec![PNCounter::<String>::new(); REPLICAS];
    let mut g = vec![GCounter::<String>::new(); REPLICAS];
    let (mut sum, mut up) = (0i128, 0u128);
    for step in 0..1_000 {
        let r = rng.random_range(0..REPLICAS);
        let x = rng.random_range(-1_000i64..1_000);
        pn[r].add(format!("n{r}"), x).unwrap();
        g[r].increment(format!("n{r}"), x.unsigned_abs()).unwrap();
        sum += i128::from(x);
        up += u128::from(x.unsigned_abs());
        if step % 50 == 0 {
            gossip(&mut pn, &mut rng, 2);
            gossip(&mut g, &mut rng, 2);
        }
    }
    gossip(&mut pn, &mut rng, 10);
    gossip(&mut g, &mut rng, 10);
    for (p, c) in pn.iter().zip(&g) {
        p.validate().unwrap();
        assert_eq!(p.read(), sum, "seed {seed}");
        assert_eq!(c.read(), up, "seed {seed}");
    }
}
