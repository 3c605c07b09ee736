//! Engines converge whatever the network does while it misbehaves — loss, duplication, reordering — once
//! delivery resumes; and once they agree they fall quiet. Checked for every osmosis CRDT and every overlay, and
//! for a set whose reconciliation is made to fail its first decodes.

use std::time::Duration;

use osmosis_antientropy::sim::{Faults, Sim};
use osmosis_antientropy::{Config, Overlay, Replica};
use osmosis_crdt::{GCounter, GSet, JsonSet, PNCounter};

mod support;
use proptest::prelude::*;
use serde_json::json;
use support::Understated;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn overlay() -> impl Strategy<Value = Overlay> {
    prop_oneof![Just(Overlay::Star), Just(Overlay::Full), (1usize..4).prop_map(Overlay::Tree), Just(Overlay::None)]
}

fn config() -> impl Strategy<Value = Config> {
    (overlay(), 0u64..300, 0u64..300, 1u64..5).prop_map(|(overlay, relay, local, fanout)| Config {
        overlay,
        relay_window: ms(relay),
        local_window: ms(local),
        fanout: fanout as usize,
        ..Config::default()
    })
}

fn faults() -> impl Strategy<Value = Faults> {
    (0.0..0.9f64, 0.0..0.5f64, 0u64..200, 0u64..800).prop_map(|(loss, duplication, min, jitter)| Faults {
        loss,
        duplication,
        delay_min: ms(min),
        delay_jitter: ms(jitter),
    })
}

/// Local updates: (node, time in ms within the faulty phase, value).
fn updates() -> impl Strategy<Value = Vec<(usize, u64, i64)>> {
    prop::collection::vec((0usize..7, 0u64..10_000, -1000i64..1000), 1..60)
}

/// Runs `updates` (made into deltas by `make`) through `n` engines on a faulty network for 10 s, then on a
/// reliable one; checks that all engines reach `expected(updates)`-equivalent states within 120 s of the heal and
/// then send nothing but agreeing summaries.
fn check<C: Replica + PartialEq + std::fmt::Debug>(
    n: usize,
    config: &Config,
    faults: Faults,
    updates: &[(usize, u64, i64)],
    seed: u64,
    make: impl Fn(&mut C, usize, i64) -> C,
) -> Result<(), TestCaseError> {
    let mut sim: Sim<C> = Sim::new(n, config, faults, seed);
    let mut sorted: Vec<_> = updates.iter().map(|&(i, t, v)| (t, i % n, v)).collect();
    sorted.sort();
    let mut all = C::default();
    for (t, i, v) in sorted {
        sim.run_until(ms(t));
        sim.update(i, |s| {
            let delta = make(s, i, v);
            all.join(&delta);
            delta
        });
    }
    let heal = Duration::from_secs(10);
    sim.run_until(heal);
    sim.faults = Faults::reliable(ms(50));
    if matches!(config.overlay, Overlay::Star | Overlay::Tree(_)) {
        // Every node's next timed round (at most round_max away) includes its hub or parent, and what that brings
        // in is relayed hop by hop (at most 6 hops of relay window + delay here): ALGORITHM.md §2's bound.
        sim.run_until(heal + config.round_max + Duration::from_secs(4));
        prop_assert!(sim.converged(), "engines disagree round_max + 4 s after the heal");
    }
    let settle = heal + Duration::from_secs(120);
    sim.run_until(settle);
    prop_assert!(sim.converged(), "engines disagree 120 s after the heal");
    prop_assert_eq!(sim.engines[0].state(), &all, "the converged state is the join of every update");
    let quiet_from = settle;
    sim.run_until(settle + Duration::from_secs(40));
    let chatter: Vec<_> = sim.sent_between(quiet_from, sim.now).filter(|s| s.kind != "ae_summary").collect();
    prop_assert!(chatter.is_empty(), "agreeing engines sent {:?}", chatter);
    let digests = sim.sent_between(quiet_from, sim.now).count();
    // Backed-off rounds: at most one per round_max per engine, plus one for the boundary; each round goes to
    // `fanout` random peers and the overlay's upstream node.
    let rounds = (40 / config.round_max.as_secs()) as usize + 1;
    prop_assert!(digests <= n * (config.fanout + 1) * rounds, "{digests} digests in 40 quiet seconds from {n} engines");
    Ok(())
}

fn set_delta(s: &mut GSet, _: usize, v: i64) -> GSet {
    s.insert(v.unsigned_abs())
}

fn understated_delta(s: &mut Understated, _: usize, v: i64) -> Understated {
    Understated(s.0.insert(v.unsigned_abs().wrapping_mul(0x9e37_79b9_7f4a_7c15)))
}

fn json_delta(s: &mut JsonSet, _: usize, v: i64) -> JsonSet {
    // Negative values become strings: both halves of the set travel.
    let value = if v < 0 { json!(format!("s{v}")) } else { json!(v) };
    s.insert(&value)
}

fn gcounter_delta(c: &mut GCounter<usize>, me: usize, v: i64) -> GCounter<usize> {
    c.increment(me, v.unsigned_abs()).expect("small")
}

fn pncounter_delta(c: &mut PNCounter<usize>, me: usize, v: i64) -> PNCounter<usize> {
    c.add(me, v).expect("small")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn gsets_converge_after_loss_duplication_and_reordering(
        n in 2usize..=7, config in config(), faults in faults(), updates in updates(), seed in any::<u64>()
    ) {
        check(n, &config, faults, &updates, seed, set_delta)?;
    }

    #[test]
    fn sets_converge_when_first_decodes_fail(
        n in 2usize..=7, config in config(), faults in faults(), updates in updates(), seed in any::<u64>()
    ) {
        check(n, &config, faults, &updates, seed, understated_delta)?;
    }

    #[test]
    fn json_sets_converge_after_loss_duplication_and_reordering(
        n in 2usize..=7, config in config(), faults in faults(), updates in updates(), seed in any::<u64>()
    ) {
        check(n, &config, faults, &updates, seed, json_delta)?;
    }

    #[test]
    fn g_counters_converge_after_loss_duplication_and_reordering(
        n in 2usize..=7, config in config(), faults in faults(), updates in updates(), seed in any::<u64>()
    ) {
        check(n, &config, faults, &updates, seed, gcounter_delta)?;
    }

    #[test]
    fn pn_counters_converge_after_loss_duplication_and_reordering(
        n in 2usize..=7, config in config(), faults in faults(), updates in updates(), seed in any::<u64>()
    ) {
        check(n, &config, faults, &updates, seed, pncounter_delta)?;
    }
}
