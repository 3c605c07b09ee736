//! Engines survive node faults: any node — the hub or a relay included — crashing and restarting empty, pausing,
//! or being cut off, on top of loss, duplication and reordering, on 2–25 engines. Once the faults stop, every
//! engine converges, and no element that another replica held is lost.

use std::collections::BTreeSet;
use std::time::Duration;

use osmosis_antientropy::sim::{Faults, Sim};
use osmosis_antientropy::{Config, Overlay};
use osmosis_crdt::{GSet, JsonSet, PNCounter};
use proptest::prelude::*;
use serde_json::json;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What happens to one node for a while.
#[derive(Debug, Clone, Copy, PartialEq)]
enum NodeFault {
    CutOff,
    Pause,
    /// Crashes, stays down, restarts empty.
    Crash,
}

/// (node, fault, start ms, duration ms), within the 10 s faulty phase.
type Schedule = Vec<(usize, NodeFault, u64, u64)>;

fn schedule(crashes: bool) -> impl Strategy<Value = Schedule> {
    let fault = if crashes {
        prop_oneof![Just(NodeFault::CutOff), Just(NodeFault::Pause), Just(NodeFault::Crash)].boxed()
    } else {
        prop_oneof![Just(NodeFault::CutOff), Just(NodeFault::Pause)].boxed()
    };
    // Node 0 is every overlay's first root: favour it.
    let node = prop_oneof![Just(0usize), 0usize..25];
    prop::collection::vec((node, fault, 0u64..9_000, 100u64..6_000), 0..6)
}

fn config() -> impl Strategy<Value = Config> {
    let overlay = prop_oneof![Just(Overlay::Auto), Just(Overlay::Star), (2usize..5).prop_map(Overlay::Tree)];
    (overlay, 0u64..300, 1usize..10, 100u64..500, 1_000u64..8_000).prop_map(|(overlay, relay, limit, slack, ttl)| {
        Config {
            overlay,
            relay_window: ms(relay),
            star_limit: limit,
            ack_slack: ms(slack),
            suspicion_ttl: ms(ttl),
            ..Config::default()
        }
    })
}

fn network() -> impl Strategy<Value = Faults> {
    (0.0..0.3f64, 0.0..0.3f64, 1u64..150, 0u64..200).prop_map(|(loss, duplication, min, jitter)| Faults {
        loss,
        duplication,
        delay_min: ms(min),
        delay_jitter: ms(jitter),
    })
}

/// Local updates: (node, time in ms within the faulty phase, value).
fn updates() -> impl Strategy<Value = Vec<(usize, u64, u64)>> {
    prop::collection::vec((0usize..25, 0u64..10_000, 0u64..1_000_000), 1..80)
}

/// A step of the run: an update, or a node fault starting or ending.
#[derive(Debug, Clone, Copy)]
enum Step {
    Update(usize, u64),
    Start(usize, NodeFault),
    End(usize, NodeFault),
}

fn steps(n: usize, updates: &[(usize, u64, u64)], schedule: &Schedule) -> Vec<(u64, Step)> {
    let mut steps: Vec<(u64, Step)> = updates.iter().map(|&(i, t, v)| (t, Step::Update(i % n, v))).collect();
    for &(i, f, t, d) in schedule {
        steps.push((t, Step::Start(i % n, f)));
        steps.push(((t + d).min(10_000), Step::End(i % n, f)));
    }
    steps.sort_by_key(|s| s.0);
    steps
}

/// Applies a fault step to the simulation.
fn apply<C: osmosis_antientropy::Replica>(sim: &mut Sim<C>, step: Step) {
    match step {
        Step::Start(i, NodeFault::CutOff) => drop(sim.isolated.insert(i)),
        Step::End(i, NodeFault::CutOff) => drop(sim.isolated.remove(&i)),
        Step::Start(i, NodeFault::Pause) => sim.pause(i),
        Step::End(i, NodeFault::Pause) => sim.resume(i),
        Step::Start(i, NodeFault::Crash) => sim.crash(i),
        Step::End(i, NodeFault::Crash) if sim.is_dead(i) => sim.restart(i),
        Step::End(..) | Step::Update(..) => {}
    }
}

/// Ends every fault and makes the network reliable.
fn heal<C: osmosis_antientropy::Replica>(sim: &mut Sim<C>, n: usize) {
    sim.isolated.clear();
    for i in 0..n {
        sim.resume(i);
        if sim.is_dead(i) {
            sim.restart(i);
        }
    }
    sim.faults = Faults::reliable(ms(50));
}

/// Checks that every engine converged to a set holding every element another replica held when its writer
/// crashed (and every element whose writer never crashed), and nothing that was never written.
fn check_sets(
    n: usize,
    config: &Config,
    network: Faults,
    updates: &[(usize, u64, u64)],
    schedule: &Schedule,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut sim: Sim<GSet> = Sim::new(n, config, network, seed);
    let mut written = BTreeSet::new(); // every element a live engine accepted
    let mut may_be_lost = BTreeSet::new(); // held only by an engine when it crashed: may be lost, never expected
    for (t, step) in steps(n, updates, schedule) {
        sim.run_until(ms(t));
        match step {
            Step::Update(i, v) => {
                if sim.update(i, |s| s.insert(v)) {
                    written.insert(v);
                }
            }
            Step::Start(i, NodeFault::Crash) => {
                // What no other live engine holds may be lost with the crashing one (messages in flight may still
                // carry it) — whoever wrote it: the writer may have crashed before, leaving this engine the only
                // holder.
                let others: Vec<usize> = (0..n).filter(|&j| j != i && !sim.is_dead(j)).collect();
                let alone: Vec<u64> = written
                    .iter()
                    .copied()
                    .filter(|&v| !others.iter().any(|&j| sim.engines[j].state().contains(v)))
                    .collect();
                for v in alone {
                    written.remove(&v);
                    may_be_lost.insert(v);
                }
                apply(&mut sim, step);
            }
            _ => apply(&mut sim, step),
        }
    }
    let heal_at = ms(10_000);
    sim.run_until(heal_at);
    heal(&mut sim, n);
    sim.run_until(heal_at + config.round_max + Duration::from_secs(12));
    prop_assert!(sim.converged(), "engines disagree round_max + 12 s after the faults stopped");
    let held: BTreeSet<u64> = sim.engines[0].state().iter().collect();
    let missing: Vec<&u64> = written.iter().filter(|v| !held.contains(v)).collect();
    prop_assert!(missing.is_empty(), "lost {:?}", missing);
    prop_assert!(held.iter().all(|v| written.contains(v) || may_be_lost.contains(v)), "an element never written");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn sets_converge_and_lose_nothing_after_crashes_pauses_and_cut_off_nodes(
        n in 2usize..=25, config in config(), network in network(), updates in updates(),
        schedule in schedule(true), seed in any::<u64>()
    ) {
        check_sets(n, &config, network, &updates, &schedule, seed)?;
    }

    #[test]
    fn json_sets_and_counters_converge_to_the_join_of_every_update_after_pauses_and_cut_off_nodes(
        n in 2usize..=12, config in config(), network in network(), updates in updates(),
        schedule in schedule(false), seed in any::<u64>()
    ) {
        let mut sets: Sim<JsonSet> = Sim::new(n, &config, network, seed);
        let mut counters: Sim<PNCounter<usize>> = Sim::new(n, &config, network, seed);
        let (mut all_sets, mut total) = (JsonSet::new(), 0i128);
        for (t, step) in steps(n, &updates, &schedule) {
            sets.run_until(ms(t));
            counters.run_until(ms(t));
            match step {
                Step::Update(i, v) => {
                    let value = if v % 2 == 0 { json!(v) } else { json!(format!("s{v}")) };
                    if sets.update(i, |s| s.insert(&value)) {
                        all_sets.insert(&value);
                    }
                    let amount = v as i64 % 1000 - 500;
                    if counters.update(i, |c| c.add(i, amount).expect("small")) {
                        total += i128::from(amount);
                    }
                }
                fault => {
                    apply(&mut sets, fault);
                    apply(&mut counters, fault);
                }
            }
        }
        let heal_at = ms(10_000);
        sets.run_until(heal_at);
        counters.run_until(heal_at);
        heal(&mut sets, n);
        heal(&mut counters, n);
        let settle = heal_at + config.round_max + Duration::from_secs(12);
        sets.run_until(settle);
        counters.run_until(settle);
        prop_assert!(sets.converged() && counters.converged(), "engines disagree after the faults stopped");
        prop_assert_eq!(sets.engines[0].state(), &all_sets);
        prop_assert_eq!(counters.engines[0].state().read(), total);
    }
}

/// Runs `sim` to `end` in 50 ms steps, calling `step(sim, k, t)` at each; checks that every element `step`
/// writes reaches every node `expect` lists within `bound`.
fn run_checked(
    sim: &mut Sim<GSet>,
    end: Duration,
    bound: Duration,
    mut step: impl FnMut(&mut Sim<GSet>, u64, Duration) -> Option<u64>,
    expect: impl Fn(&Sim<GSet>) -> Vec<usize>,
) {
    let mut pending: Vec<(Duration, u64)> = Vec::new();
    let mut k = 0;
    while sim.now < end {
        let t = ms(k * 50);
        sim.run_until(t);
        pending.retain(|&(at, x)| {
            if at + bound > t {
                return true;
            }
            let behind: Vec<usize> = expect(sim).into_iter().filter(|&i| !sim.engines[i].state().contains(x)).collect();
            assert!(behind.is_empty(), "element {x} written at {at:?} is missing on {behind:?} {bound:?} later");
            false
        });
        if let Some(x) = step(sim, k, t) {
            pending.push((t, x));
        }
        k += 1;
    }
}

/// The hub of a 25-node star is cut off while every other node keeps writing: within a second, every element
/// written by the others reaches all of them, and the preferred shape returns after the heal.
#[test]
fn a_cut_off_hub_is_routed_around_within_a_second_and_comes_back_after_the_heal() {
    let n = 25;
    let mut sim: Sim<GSet> = Sim::new(n, &Config::default(), Faults::reliable(ms(100)), 3);
    let write = |sim: &mut Sim<GSet>, k: u64, t: Duration| {
        if t == ms(5_000) {
            sim.isolated.insert(0);
        }
        if t == ms(15_000) {
            sim.isolated.remove(&0);
        }
        let writer = 1 + (k as usize * 7) % (n - 1);
        (t < ms(20_000) && sim.update(writer, |s| s.insert(k))).then_some(k)
    };
    run_checked(&mut sim, ms(25_000), ms(1_000), write, |_| (1..n).collect());
    assert!(sim.converged());
    assert!(sim.engines.iter().map(|e| e.stats().suspicions).sum::<u64>() > 0, "the hub was suspected");
    assert!((1..n).all(|i| sim.engines[i].upstream() == Some(&0)), "every leaf is back on the hub");
    assert!(sim.engines.iter().all(|e| e.suspected().is_empty()));
}

/// In a 100-node tree (auto overlay, star limit 20), a relay crashes: its children route to the root, and
/// every element written elsewhere still reaches every live node within a second and a half.
#[test]
fn a_crashed_relays_children_climb_to_the_root() {
    let n = 100;
    let config = Config { star_limit: 20, ..Config::default() };
    let mut sim: Sim<GSet> = Sim::new(n, &config, Faults::reliable(ms(100)), 5);
    let relay = 3; // arity 10: node 3 relays for 31..=40
    let mut mid_run = None;
    let write = |sim: &mut Sim<GSet>, k: u64, t: Duration| {
        if t == ms(4_000) {
            sim.crash(relay);
        }
        if t == ms(10_000) {
            // While the cluster is busy (once writes stop, a quiet child may drift back to its dead relay when the
            // reports expire, until its next write proves the relay dead again).
            mid_run = Some((sim.engines[35].upstream().copied(), sim.engines[45].upstream().copied()));
        }
        let writer = (k as usize * 13) % n;
        (t < ms(15_000) && sim.update(writer, |s| s.insert(k))).then_some(k)
    };
    run_checked(&mut sim, ms(16_000), ms(1_500), write, |_| (0..n).filter(|&i| i != relay).collect());
    let (child, other) = mid_run.expect("recorded at 10 s");
    assert_eq!(child, Some(0), "a child of the crashed relay climbed to the root");
    assert_eq!(other, Some(4), "other subtrees kept their relays");
}

/// The hub crashes right after taking an update of its own: its backup push has already left, so the update
/// reaches every other node once they route around the hub.
#[test]
fn an_update_the_hub_took_just_before_it_crashed_is_not_lost() {
    let n = 25;
    let mut sim: Sim<GSet> = Sim::new(n, &Config::default(), Faults::reliable(ms(100)), 9);
    sim.run_until(ms(1_000));
    sim.update(0, |s| s.insert(7));
    sim.run_until(ms(1_010)); // well within the hub's relay window: its batch for the leaves has not left
    sim.crash(0);
    for k in 1..40u64 {
        sim.run_until(ms(1_010 + k * 50));
        let writer = 1 + (k as usize) % (n - 1); // the leaves keep writing, so they notice the hub is gone
        sim.update(writer, |s| s.insert(1_000 + k));
    }
    sim.run_until(ms(6_000));
    let behind: Vec<usize> = (1..n).filter(|&i| !sim.engines[i].state().contains(7)).collect();
    assert!(behind.is_empty(), "the hub's update is missing on {behind:?}");
    let no_backup = Config { backup: false, ..Config::default() };
    let mut sim: Sim<GSet> = Sim::new(n, &no_backup, Faults::reliable(ms(100)), 9);
    sim.run_until(ms(1_000));
    sim.update(0, |s| s.insert(7));
    sim.run_until(ms(1_010));
    sim.crash(0);
    sim.run_until(ms(6_000));
    assert!(
        (1..n).all(|i| !sim.engines[i].state().contains(7)),
        "without the backup push the update dies with the hub"
    );
}

/// A node cut off from the hub and from the next member too hands its unacknowledged update to that member first;
/// a new parent acknowledges a hand-off at once, so the node gives up on it after `ack_slack` (300 ms), not after a
/// whole acknowledgement timeout (relay window + slack, 550 ms), and moves on.
#[test]
fn a_hand_off_that_goes_unacknowledged_is_given_up_after_the_ack_slack() {
    let n = 5;
    let mut sim: Sim<GSet> = Sim::new(n, &Config::default(), Faults::reliable(ms(100)), 4);
    sim.run_until(ms(1_000));
    for other in [0, 1] {
        sim.cut_links.insert((2, other));
        sim.cut_links.insert((other, 2));
    }
    sim.update(2, |s| s.insert(9));
    sim.run_until(ms(4_000));
    let first =
        |to: usize| sim.sent.iter().find(|m| m.from == 2 && m.to == to && m.kind == "ae_push" && m.at >= ms(1_000));
    let handoff = first(1).expect("a hand-off to n1").at;
    assert_eq!(handoff, ms(1_550), "the hub suspected one acknowledgement timeout after the push");
    let next = first(3).expect("then n2 stands in and pushes to the others").at;
    assert_eq!(next, handoff + Config::default().ack_slack, "n1 suspected ack_slack after the hand-off");
    assert!((3..n).all(|i| sim.engines[i].state().contains(9)));
}
