//! Exact message counts on a reliable network: what one update costs on each overlay, and that agreeing
//! engines answer summaries with silence.

use std::time::Duration;

use osmosis_antientropy::sim::{Faults, Sim};
use osmosis_antientropy::{Config, Overlay};
use osmosis_crdt::GSet;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sim(n: usize, overlay: Overlay) -> Sim<GSet> {
    let config = Config { overlay, relay_window: ms(100), ..Config::default() };
    Sim::new(n, &config, Faults::reliable(ms(10)), 7)
}

fn kinds(sim: &Sim<GSet>, from: Duration, to: Duration) -> (usize, usize) {
    let pushes = sim.sent_between(from, to).filter(|s| s.kind == "ae_push").count();
    let other = sim.sent_between(from, to).filter(|s| s.kind != "ae_push" && s.kind != "ae_summary").count();
    (pushes, other)
}

#[test]
fn a_leaf_update_on_the_star_costs_one_push_to_the_hub_and_one_relay_push_per_other_leaf() {
    for n in [2, 5, 25] {
        let mut s = sim(n, Overlay::Star);
        s.update(n - 1, |s| s.insert(1));
        s.run_until(ms(500));
        assert!(s.converged());
        assert_eq!(kinds(&s, ms(0), ms(500)), (1 + (n - 2), 0), "{n} nodes");
        // The relay waits for its window: the hub got the push at 10 ms and relayed it at 110 ms.
        assert!(s.sent.iter().filter(|m| m.from == 0).all(|m| m.at == ms(110)));
    }
}

#[test]
fn updates_within_one_relay_window_share_the_hubs_messages() {
    let n = 25;
    let mut s = sim(n, Overlay::Star);
    for leaf in 1..n {
        s.update(leaf, |s| s.insert(leaf as u64));
        s.run_until(s.now + ms(2));
    }
    s.update(0, |s| s.insert(0));
    s.run_until(ms(500));
    assert!(s.converged());
    assert_eq!(s.engines[3].state().len(), n as u64);
    // 24 leaf pushes, then one relay batch per leaf.
    assert_eq!(kinds(&s, ms(0), ms(500)), (2 * (n - 1), 0));
}

#[test]
fn full_costs_n_minus_one_pushes_per_update_and_a_tree_one_per_edge() {
    let mut s = sim(7, Overlay::Full);
    s.update(3, |s| s.insert(9));
    s.run_until(ms(500));
    assert!(s.converged());
    assert_eq!(kinds(&s, ms(0), ms(500)), (6, 0));

    let mut s = sim(7, Overlay::Tree(2));
    s.update(3, |s| s.insert(9));
    s.run_until(ms(2000));
    assert!(s.converged());
    assert_eq!(kinds(&s, ms(0), ms(2000)), (6, 0), "a tree of 7 nodes has 6 edges");
}

#[test]
fn agreeing_engines_send_only_backed_off_digests() {
    let n = 5;
    let mut s = sim(n, Overlay::Star);
    s.update(2, |s| s.insert(1));
    s.run_until(ms(500));
    s.run_until(Duration::from_secs(60));
    let (pushes, other) = kinds(&s, ms(500), s.now);
    assert_eq!((pushes, other), (0, 0), "no pushes, replies or deltas between agreeing engines");
    // Rounds after the last news at ~0.1 s: 2 and 6 s after it, then every 8 s (round max): 14, 22, …, 54 s, 8 per
    // engine in 60 s. The hub's go to one random peer, each leaf's to the hub and one random other leaf.
    let digests = s.sent_between(ms(500), s.now).count();
    assert_eq!(digests, 8 + (n - 1) * 8 * 2);
    assert_eq!(s.engines.iter().map(|e| e.stats().agreements).sum::<u64>(), digests as u64);
}

#[test]
fn a_lost_push_is_noticed_at_the_next_push_and_repaired_by_one_round() {
    let n = 3;
    let mut s = sim(n, Overlay::Full);
    s.faults.loss = 1.0;
    s.update(1, |s| s.insert(1)); // lost on the way to n0 and n2
    s.faults.loss = 0.0;
    s.run_until(ms(50));
    s.update(1, |s| s.insert(2)); // push #1 arrives: #0 is missing
    s.run_until(ms(200));
    assert!(!s.converged(), "value 1 is still missing before the gap timeout");
    s.run_until(ms(1200));
    assert!(s.converged());
    let gap_rounds: u64 = s.engines.iter().map(|e| e.stats().gap_rounds).sum();
    assert_eq!(gap_rounds, 2, "n0 and n2 each start one round with n1");
}

#[test]
fn a_node_cut_off_from_news_runs_a_round_every_round_min_while_its_own_updates_continue() {
    let n = 3;
    let mut s = sim(n, Overlay::Star);
    s.faults.loss = 1.0; // n2 is cut off from everyone (and so is everyone else)
    for k in 0..20u64 {
        s.update(2, |s| s.insert(k));
        s.run_until(s.now + ms(500));
    }
    // 10 s of updates every 500 ms and no news: rounds at 2, 4, 6, 8 and 10 s (not backed off to 4, 8, 16 s).
    assert_eq!(s.engines[2].stats().rounds, 5);
    s.faults.loss = 0.0;
    // Updates stopped at 9.5 s, so the wait doubles after the round at 10 s: the next one is at 14 s.
    s.run_until(ms(13_900));
    assert!(!s.converged());
    s.run_until(ms(14_500));
    assert!(s.converged(), "the first round after the heal repairs everything");
}

#[test]
fn after_a_heal_every_leaf_catches_up_at_its_next_round_because_each_round_includes_the_hub() {
    // The hub learns an element, then a partition {hub, writer} | rest swallows its relay; nobody writes again.
    // Leaves of the other side can only learn it from a round: each of their rounds asks the hub.
    for seed in 0..50 {
        let config = Config::default();
        let mut s: Sim<GSet> = Sim::new(25, &config, Faults::reliable(ms(100)), seed);
        s.update(1, |s| s.insert(42));
        s.run_until(ms(150));
        s.sides = Some((0..25).map(|i| u8::from(i > 1)).collect());
        s.run_until(ms(5_000));
        assert!(!s.converged());
        s.sides = None;
        // No news since the start: the leaves' rounds came at 2 s and 6 s (interval 4 s); the one at 6 s repairs.
        s.run_until(ms(6_000) + 3 * ms(100));
        assert!(s.converged(), "seed {seed}: a leaf is still stale after its first round past the heal");
    }
}

#[test]
fn a_push_number_far_ahead_does_not_blind_gap_detection_on_its_link() {
    use osmosis_antientropy::{Engine, Message};
    let n1 = "n1".to_string();
    let mut e: Engine<GSet> = Engine::new("n0", ["n0".to_string(), n1.clone()], Config::default(), 1, ms(0)).unwrap();
    let push = |seq: u64| Message::Push { seq, delta: GSet::new().insert(seq % 1000) };
    e.on_message(ms(0), &n1, Message::Push { seq: u64::MAX, delta: GSet::new().insert(5) });
    let gap = Config::default().gap_timeout;
    for (round, (a, b)) in [(0, 2), (3, 5)].into_iter().enumerate() {
        let t = ms(10) + gap * (2 * round as u32);
        e.on_message(t, &n1, push(a));
        e.on_message(t, &n1, push(b)); // the push between them is missing
        e.on_tick(t + gap);
        assert_eq!(e.stats().gap_rounds, round as u64 + 1, "each gap on the link starts a round");
    }
    assert!(e.state().contains(5), "the far-ahead push's delta is merged all the same");
}
