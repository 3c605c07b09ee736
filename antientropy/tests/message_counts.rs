//! Exact message counts on a reliable network: what one update costs on each overlay, and that agreeing
//! engines answer digests with silence.

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
    let other = sim.sent_between(from, to).filter(|s| s.kind != "ae_push" && s.kind != "ae_digest").count();
    (pushes, other)
}

#[test]
fn a_leaf_update_on_the_star_costs_one_push_to_the_hub_one_relay_push_per_other_leaf_and_one_acknowledgement() {
    for n in [2, 5, 25] {
        let mut s = sim(n, Overlay::Star);
        s.update(n - 1, |s| s.insert(1));
        s.run_until(ms(500));
        assert!(s.converged());
        // The writer hears nothing else from the hub in that window, so the hub acknowledges its push alone.
        assert_eq!(kinds(&s, ms(0), ms(500)), (1 + (n - 2) + 1, 0), "{n} nodes");
        assert_eq!(s.engines[0].stats().empty_pushes, 1);
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
    // 24 leaf pushes, the hub's backup push of its own update to n1, then one relay batch per leaf (which
    // acknowledges its push).
    assert_eq!(kinds(&s, ms(0), ms(500)), (2 * (n - 1) + 1, 0));
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
    // A tree of 7 nodes has 6 edges; the update climbs two of them (3 → 1 → 0), and each parent acknowledges
    // the push it got from below alone, having nothing else for that child.
    assert_eq!(kinds(&s, ms(0), ms(2000)), (6 + 2, 0));
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
    // Slow to suspect its hub, so that it keeps counting on the star (a node that suspects every member ahead of
    // it stands in for the root and runs rounds faster: see the next test).
    let config = Config { relay_window: ms(100), ack_slack: Duration::from_secs(60), ..Config::default() };
    let mut s: Sim<GSet> = Sim::new(n, &config, Faults::reliable(ms(10)), 7);
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
fn a_node_that_suspects_every_member_ahead_of_it_runs_a_round_every_quarter_of_round_min() {
    let mut s = sim(3, Overlay::Star);
    s.isolated.insert(2);
    for k in 0..20u64 {
        s.update(2, |s| s.insert(k));
        s.run_until(s.now + ms(500));
    }
    // Its pushes went unacknowledged: it suspected the hub (at about 0.35 s), then node 1 (0.7 s), and stands in
    // for the root from then on, with a round every 500 ms: about 18 in the 9.3 s left.
    assert_eq!(s.engines[2].suspected(), [0, 1]);
    let rounds = s.engines[2].stats().rounds;
    assert!((17..=19).contains(&rounds), "{rounds} rounds");
    s.isolated.clear();
    s.run_until(s.now + ms(1_000));
    assert!(s.converged(), "hearing from the others ends the suspicions and a round repairs");
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
    let push = |seq: u64| Message::push(seq, GSet::new().insert(seq % 1000));
    e.on_message(ms(0), &n1, Message::push(u64::MAX, GSet::new().insert(5)));
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

/// While the leaves keep writing (news flows, every push to the hub acknowledged, the hub's pushes numbered without a
/// gap), no leaf runs a timed round: the eager path's acknowledgements and numbers show that nothing was lost. Once the
/// writes stop, rounds come back (and find the replicas agreeing).
#[test]
fn timed_rounds_are_skipped_while_news_flows_over_proven_links_and_return_when_it_stops() {
    let n = 5;
    let mut s = sim(n, Overlay::Star);
    for k in 0..200u64 {
        s.run_until(ms(100 * k));
        s.update(1 + (k as usize) % (n - 1), |s| s.insert(k));
    }
    s.run_until(ms(20_000));
    assert!(s.converged());
    let digests = |s: &Sim<GSet>, from, to| s.sent_between(from, to).filter(|m| m.kind == "ae_digest").count();
    let from_leaves = s.sent_between(ms(0), ms(20_000)).filter(|m| m.kind == "ae_digest" && m.from != 0).count();
    assert_eq!(from_leaves, 0, "no leaf runs a round while news flows");
    // The hub has no upstream to prove: it keeps its timed round every round_max (8 s), with one random peer.
    assert_eq!(digests(&s, ms(0), ms(20_000)), 2);
    assert!(s.engines[1..].iter().all(|e| e.stats().skipped_rounds > 0), "every leaf skipped its timed rounds");
    s.run_until(ms(40_000));
    assert!(digests(&s, ms(20_000), ms(40_000)) > 0, "rounds return once the writes stop");
    assert_eq!(kinds(&s, ms(20_000), ms(40_000)).1, 0, "the rounds find agreement: no reply, no delta");
}

#[test]
fn a_local_update_counts_as_sent_once_its_first_push_has_left_and_not_before() {
    let config = Config { overlay: Overlay::Star, relay_window: ms(100), backup: false, ..Config::default() };
    let mut s: Sim<GSet> = Sim::new(5, &config, Faults::reliable(ms(10)), 7);
    // A leaf pushes its own update at once (local window 0): sent as soon as it is taken.
    s.update(3, |s| s.insert(1));
    assert_eq!((s.engines[3].local_updates(), s.engines[3].sent_local()), (1, 1));
    // The hub batches its own: two updates wait for its relay window, then leave together.
    s.run_until(ms(500));
    s.update(0, |s| s.insert(2));
    s.run_until(ms(550));
    s.update(0, |s| s.insert(3));
    assert_eq!((s.engines[0].local_updates(), s.engines[0].sent_local()), (2, 0));
    s.run_until(ms(599));
    assert_eq!(s.engines[0].sent_local(), 0, "the window opened at 500 ms closes at 600 ms");
    s.run_until(ms(600));
    assert_eq!(s.engines[0].sent_local(), 2);
    // An update that changes nothing is no local update; one with no peer to go to is sent at once.
    s.update(0, |s| s.insert(3));
    assert_eq!((s.engines[0].local_updates(), s.engines[0].sent_local()), (2, 2));
    let mut alone: Sim<GSet> = Sim::new(1, &config, Faults::reliable(ms(10)), 7);
    alone.update(0, |s| s.insert(1));
    assert_eq!((alone.engines[0].local_updates(), alone.engines[0].sent_local()), (1, 1));
    // With backup pushes the hub's update leaves at once, to one leaf.
    let mut s: Sim<GSet> = Sim::new(5, &Config { backup: true, ..config }, Faults::reliable(ms(10)), 7);
    s.update(0, |s| s.insert(2));
    assert_eq!(s.engines[0].sent_local(), 1);
}

#[test]
fn an_update_waiting_only_for_a_member_that_left_counts_as_sent() {
    let config = Config { overlay: Overlay::Star, relay_window: ms(100), backup: false, ..Config::default() };
    let mut s: Sim<GSet> = Sim::new(2, &config, Faults::reliable(ms(10)), 7);
    s.update(0, |s| s.insert(1));
    assert_eq!(s.engines[0].sent_local(), 0);
    let now = s.now;
    s.engines[0].remove_member(now, &1);
    assert_eq!(s.engines[0].sent_local(), 1, "nobody is left to send it to");
}

#[test]
fn with_confirm_a_local_update_counts_once_a_peer_acknowledged_it_and_a_quiet_hub_asks_one_child() {
    let config =
        Config { overlay: Overlay::Star, relay_window: ms(100), backup: false, confirm: true, ..Config::default() };
    let mut s: Sim<GSet> = Sim::new(3, &config, Faults::reliable(ms(10)), 7);
    // A leaf's push is acknowledged on the hub's relay batch: sent at 0, relayed and acknowledged at 110 ms.
    s.update(2, |s| s.insert(1));
    assert_eq!((s.engines[2].sent_local(), s.engines[2].confirmed_local()), (1, 0));
    s.run_until(ms(119));
    assert_eq!(s.engines[2].confirmed_local(), 0);
    s.run_until(ms(120));
    assert_eq!(s.engines[2].confirmed_local(), 1);
    // The hub's own update leaves with its batch at 600 ms; a child's next push up acknowledges it, for free.
    s.run_until(ms(500));
    s.update(0, |s| s.insert(2));
    s.run_until(ms(650));
    assert_eq!((s.engines[0].sent_local(), s.engines[0].confirmed_local()), (1, 0));
    let before = s.sent.len();
    s.update(1, |s| s.insert(3));
    s.run_until(ms(660));
    assert_eq!(s.engines[0].confirmed_local(), 1);
    assert_eq!(s.sent.len(), before + 1, "only the child's own push");
    // In a quiet cluster nobody pushes up: after an acknowledgement timeout (100 + 300 ms) the hub asks one child,
    // which answers at once. Two pushes, against none without `confirm`.
    s.run_until(ms(2_000));
    s.update(0, |s| s.insert(4));
    s.run_until(ms(2_100));
    assert_eq!((s.engines[0].sent_local(), s.engines[0].confirmed_local()), (2, 1));
    let before = s.sent.len();
    s.run_until(ms(2_519));
    assert_eq!(s.engines[0].confirmed_local(), 1);
    s.run_until(ms(2_520));
    assert_eq!(s.engines[0].confirmed_local(), 2);
    let asked: Vec<(usize, usize)> = s.sent[before..].iter().map(|m| (m.from, m.to)).collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(asked[0].0, 0);
    assert_eq!(asked[1], (asked[0].1, 0));
}

#[test]
fn with_confirm_an_update_pushed_to_a_dead_hub_is_confirmed_by_the_next_parent() {
    let config =
        Config { overlay: Overlay::Star, relay_window: ms(100), backup: false, confirm: true, ..Config::default() };
    let mut s: Sim<GSet> = Sim::new(4, &config, Faults::reliable(ms(10)), 7);
    s.run_until(ms(1_000));
    s.crash(0);
    s.update(3, |s| s.insert(1));
    assert_eq!((s.engines[3].sent_local(), s.engines[3].confirmed_local()), (1, 0));
    // Unacknowledged for 100 + 300 ms: n3 routes around the hub, hands the update to n1, which acknowledges a
    // hand-off at once.
    s.run_until(ms(1_399));
    assert_eq!(s.engines[3].confirmed_local(), 0);
    s.run_until(ms(1_500));
    assert_eq!(s.engines[3].upstream(), Some(&1));
    assert_eq!(s.engines[3].confirmed_local(), 1);
    assert!(s.engines[1].state().contains(1));
}
