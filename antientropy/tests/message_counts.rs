//! Exact message counts on a reliable network: what one update costs on each overlay, and that agreeing
//! engines answer summaries with silence.

use std::time::Duration;

use osmosis_antientropy::sim::{Faults, Sim};
use osmosis_antientropy::{Config, Engine, Message, Overlay, Replica};
use osmosis_crdt::{GCounter, GSet, json_len};

mod support;
use support::Understated;

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
fn agreeing_engines_send_only_backed_off_summaries() {
    let n = 5;
    let mut s = sim(n, Overlay::Star);
    s.update(2, |s| s.insert(1));
    s.run_until(ms(500));
    s.run_until(Duration::from_secs(60));
    let (pushes, other) = kinds(&s, ms(500), s.now);
    assert_eq!((pushes, other), (0, 0), "no pushes, replies or repairs between agreeing engines");
    // Rounds after the last news at ~0.1 s: 2 and 6 s after it, then every 8 s (round max): 14, 22, …, 54 s, 8 per
    // engine in 60 s. The hub's go to one random peer. A leaf's go to the hub, and to one random other leaf as well
    // once a round with the hub went unanswered (silence: agreement, or a hub cut off) since the hub's last round
    // message; so its first, at 2 s, goes to the hub alone.
    let first: Vec<_> = s.sent_between(ms(1_900), ms(2_500)).filter(|m| m.from != 0).collect();
    assert_eq!(first.len(), n - 1, "{first:?}");
    assert!(first.iter().all(|m| m.to == 0), "{first:?}");
    let summaries = s.sent_between(ms(500), s.now).count();
    assert!((8 + (n - 1) * 8..8 + (n - 1) * 8 * 2).contains(&summaries), "{summaries} summaries");
    assert_eq!(s.engines.iter().map(|e| e.stats().agreements).sum::<u64>(), summaries as u64);
    // Each initiator heard silence: its sessions expire unanswered, seen at the engine's next tick (its next round),
    // so all but the last round's (at 54 s) are counted by 60 s.
    let last = s.sent_between(ms(53_000), s.now).count();
    let silent: u64 = s.engines.iter().map(|e| e.stats().silent_rounds).sum();
    assert_eq!(silent, (summaries - last) as u64);
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

/// The JSON bytes of the CRDT's part of a round message: the summary or the repair message.
fn payload_len<C: Replica>(msg: &Message<C, u8>) -> usize {
    match msg {
        Message::Push { .. } => unreachable!("rounds only"),
        Message::Summary { summary, .. } => json_len(summary),
        Message::Reply { repair, .. } | Message::Repair { repair, .. } => json_len(repair),
    }
}

/// Two engines without an eager path (rounds alone), holding `a` and `b`.
fn pair<C: Replica>(a: &C, b: &C) -> (Engine<C, u8>, Engine<C, u8>) {
    let config = Config { overlay: Overlay::None, ..Config::default() };
    let mut x: Engine<C, u8> = Engine::new(0, [0, 1], config.clone(), 1, ms(0)).unwrap();
    let mut y: Engine<C, u8> = Engine::new(1, [0, 1], config, 2, ms(0)).unwrap();
    x.update(ms(0), |s| {
        s.join(a);
        a.clone()
    });
    y.update(ms(0), |s| {
        s.join(b);
        b.clone()
    });
    (x, y)
}

/// The round the first engine opens with the second at its first timed round, every message delivered at once and
/// in order: each message's type and CRDT payload bytes, and whether both replicas then hold `a ⊔ b`.
fn one_round<C: Replica + PartialEq>(a: &C, b: &C) -> (Vec<(&'static str, usize)>, bool) {
    let (mut x, mut y) = pair(a, b);
    let t = x.next_deadline().expect("a timed round is due");
    x.on_tick(t);
    let mut log = Vec::new();
    let mut queue: std::collections::VecDeque<(u8, Message<C, u8>)> = x.take_outbox().into_iter().collect();
    while let Some((to, msg)) = queue.pop_front() {
        assert!(json_len(&msg) <= Config::default().max_message_bytes, "a {} over the budget", msg.kind());
        log.push((msg.kind(), payload_len(&msg)));
        let receiver = if to == 1 { &mut y } else { &mut x };
        receiver.on_message(t, &(1 - to), msg);
        queue.extend(receiver.take_outbox());
    }
    let mut joined = a.clone();
    joined.join(b);
    (log, x.state() == &joined && y.state() == &joined)
}

/// `n` random 64-bit elements from `seed`.
fn random_set(n: u64, seed: u64) -> GSet {
    (0..n).map(|i| (seed ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ i).collect()
}

fn kinds_of(log: &[(&'static str, usize)]) -> Vec<&'static str> {
    log.iter().map(|(k, _)| *k).collect()
}

fn bytes_of(log: &[(&'static str, usize)]) -> usize {
    log.iter().map(|(_, b)| b).sum()
}

#[test]
fn a_gset_round_costs_one_summary_when_replicas_agree_and_two_or_three_messages_for_one_difference() {
    let base = random_set(10_000, 1);
    let (log, ok) = one_round(&base, &base);
    assert!(ok);
    assert_eq!(kinds_of(&log), ["ae_summary"], "agreement is answered by silence");
    assert!(bytes_of(&log) <= 64, "{log:?}");

    let mut more = base.clone();
    more.insert(42);
    // The initiator lacks one element: the responder sends its first cell and its set hash; the initiator decodes
    // it and, lacking nothing the responder needs, answers nothing.
    let (log, ok) = one_round(&base, &more);
    assert!(ok);
    assert_eq!(log, [("ae_summary", 37), ("ae_reply", 33)]);
    assert!(bytes_of(&log) <= 64 + 40, "{log:?}");
    // The responder lacks it: cells flow to the side that lacks, so the responder asks for the initiator's first
    // cell (a 5-byte want); the initiator sends it with its set hash (its set may have changed since its summary),
    // and the responder's decode yields the element itself; it ends the round with an empty part, so that the
    // initiator does not count the round as unanswered.
    let (log, ok) = one_round(&more, &base);
    assert!(ok);
    assert_eq!(log, [("ae_summary", 37), ("ae_reply", 5), ("ae_repair", 33), ("ae_reply", 5)]);
    assert!(bytes_of(&log) <= 64 + 40, "{log:?}");
    // One difference each way. The summaries' parity maps tell 1 + 1 (two differing bits, equal counts), so the
    // responder sends the five cells the byte target affords, with its set hash. These two elements (42 and 43)
    // share all five: the initiator's decode fails and it asks the same sender for the cells after those (the
    // code is rateless: only the extra cells travel), decodes both and sends the responder its element. 205
    // bytes against the 144 of the target: about one round in ten of d = 2 random u64 fails its first decode
    // like this one (benches/README.md, "Reconciliation").
    let mut other = base.clone();
    other.insert(43);
    let (log, ok) = one_round(&more, &other);
    assert!(ok);
    let expected = [("ae_summary", 37), ("ae_reply", 91), ("ae_repair", 5), ("ae_reply", 66), ("ae_repair", 6)];
    assert_eq!(log, expected);
    // 44 and 43 are told apart by the first five cells: 3 messages, within the target.
    let mut third = base.clone();
    third.insert(44);
    let (log, ok) = one_round(&third, &other);
    assert!(ok);
    assert_eq!(kinds_of(&log), ["ae_summary", "ae_reply", "ae_repair"]);
    assert!(bytes_of(&log) <= 64 + 40 * 2, "{log:?}");
}

#[test]
fn a_gset_round_with_an_empty_side_sends_the_state_in_budget_sized_parts() {
    // 10,000 random u64 elements: 80 KB raw, 107 KB of base64, two parts at the 60 KB budget.
    let full = random_set(10_000, 2);
    let empty = GSet::new();
    // The empty initiator: the responder answers with its state; the initiator has nothing to send back.
    let (log, ok) = one_round(&empty, &full);
    assert!(ok);
    assert_eq!(kinds_of(&log), ["ae_summary", "ae_reply", "ae_reply"]);
    // The empty responder: its (empty) state, then the initiator's elements in two parts.
    let (log, ok) = one_round(&full, &empty);
    assert!(ok);
    assert_eq!(kinds_of(&log), ["ae_summary", "ae_reply", "ae_repair", "ae_repair"]);
    assert!(bytes_of(&log) < 10_000 * 8 * 4 / 3 + 200, "no more than the state once: {log:?}");
}

#[test]
fn a_failed_first_decode_costs_one_more_message_not_a_restart() {
    // Five differences each way; the responder sizes its first batch for two (as if the sketches agreed).
    let base = random_set(10_000, 3);
    let (mut a, mut b) = (base.clone(), base);
    for i in 0..5 {
        a.insert(1_000_000 + i);
        b.insert(2_000_000 + i);
    }
    let (log, ok) = one_round(&Understated(a.clone()), &Understated(b.clone()));
    assert!(ok);
    // Summary; the responder's cells for two differences (with its set hash), too few for ten; the initiator's
    // failed decode estimates the difference from the cells that stayed zero and asks for the cells after them
    // (a 5-byte want); the responder sends them, the initiator decodes, takes the responder's 5 elements and
    // sends its own 5 (one run, 10 bytes). The failure costs one exchange and only the extra cells, never a
    // restart or a resend of the set.
    let expected = [("ae_summary", 37), ("ae_reply", 91), ("ae_repair", 5), ("ae_reply", 447), ("ae_repair", 10)];
    assert_eq!(log, expected);
    let (log, ok) = one_round(&a, &b);
    assert!(ok);
    // Sized by the true summaries: their parity maps tell these 10 differences (ten differing bits, equal
    // counts); either side's batch carries its 8-byte set hash, so the responder's request would cost a 5-byte
    // want more: the responder sends as many cells as the target affords, and the initiator decodes and sends
    // the responder its 5 elements. 3 messages, 402 bytes (the target is 64 + 40·10 = 464).
    assert_eq!(log, [("ae_summary", 37), ("ae_reply", 355), ("ae_repair", 10)]);
    assert!(bytes_of(&log) <= 64 + 40 * 10);
}

#[test]
fn a_counter_round_costs_one_summary_when_replicas_agree_and_the_changed_entry_otherwise() {
    let mut a = GCounter::<String>::new();
    for i in 0..25 {
        a.increment(format!("n{i}"), 10).unwrap();
    }
    let (log, ok) = one_round(&a, &a);
    assert!(ok);
    assert_eq!(kinds_of(&log), ["ae_summary"]);
    assert!(bytes_of(&log) <= 64);
    let mut b = a.clone();
    b.increment("n3".into(), 1).unwrap();
    // One entry changed is two keys (its old and new value): the responder sends cells, the initiator decodes
    // them, and the records travel by key: the one the decoder lacks is asked for and sent.
    let (log, ok) = one_round(&a, &b);
    assert!(ok);
    assert_eq!(log, [("ae_summary", 36), ("ae_reply", 179), ("ae_repair", 26), ("ae_reply", 14)]);
    // The responder lacks it: the initiator decodes the same cells, sends the entry's record and asks for the
    // responder's old one; that record is gone once the new one is joined, so the responder ends the round with
    // an empty last part (5 bytes) instead of leaving the initiator waiting until the round expires.
    let (log, ok) = one_round(&b, &a);
    assert!(ok);
    assert_eq!(log, [("ae_summary", 36), ("ae_reply", 179), ("ae_repair", 26), ("ae_reply", 5)]);
}

#[test]
fn duplicated_and_reordered_round_messages_are_handed_over_once_in_order_and_stale_ones_dropped() {
    let full = random_set(10_000, 4);
    let (mut x, mut y) = pair(&GSet::new(), &full);
    let t = x.next_deadline().unwrap();
    x.on_tick(t);
    let summary = x.take_outbox().pop().unwrap().1;
    y.on_message(t, &0, summary.clone());
    y.on_message(t, &0, summary);
    let parts = y.take_outbox();
    assert_eq!(parts.len(), 2, "one answer to a duplicated summary, in two parts");
    assert_eq!(y.stats().stale, 1);
    // The second part first, then both again: the state arrives whole, once.
    for (_, msg) in parts.iter().rev().chain(parts.iter()).cloned() {
        x.on_message(t, &1, msg);
    }
    assert_eq!(x.state(), &full);
    assert_eq!(x.stats().stale, 2, "the repeated parts");
    // A reply to a round never opened, and one after the round expired, change nothing.
    x.on_message(t + Config::default().round_min * 2, &1, parts[0].1.clone());
    assert_eq!(x.stats().stale, 3);
}

#[test]
fn rounds_a_peer_leaves_unanswered_are_counted_until_it_is_heard_from() {
    let (mut x, mut y) = pair(&random_set(100, 5), &GSet::new());
    let mut t = ms(0);
    for expected in 0..4u32 {
        t = x.next_deadline().unwrap();
        x.on_tick(t); // also ends the sessions older than round_min: the previous round's
        assert_eq!(x.unanswered_rounds(&1), expected);
        if expected < 3 {
            assert_eq!(x.take_outbox().len(), 1, "a summary, lost");
        }
    }
    assert_eq!(x.stats().silent_rounds, 3);
    // The peer answers the last round: the count starts again, and the round completes.
    let mut queue: std::collections::VecDeque<(u8, Message<GSet, u8>)> = x.take_outbox().into_iter().collect();
    while let Some((to, msg)) = queue.pop_front() {
        let receiver = if to == 1 { &mut y } else { &mut x };
        receiver.on_message(t, &(1 - to), msg);
        queue.extend(receiver.take_outbox());
    }
    assert_eq!(x.unanswered_rounds(&1), 0);
    assert_eq!(x.state(), y.state());
}

#[test]
fn a_peer_that_floods_summaries_gets_at_most_eight_answers_per_round_min() {
    let (_, mut y) = pair(&GSet::new(), &random_set(1000, 6));
    let summary = osmosis_crdt::Reconcile::summary(&GSet::new()); // an empty replica asks for the whole state
    for round in 0..20 {
        y.on_message(ms(0), &0, Message::Summary { round, summary });
    }
    assert_eq!(y.take_outbox().len(), 8, "each answer is the whole state: only 8 of them");
    assert_eq!(y.stats().stale, 12);
    // Once those sessions expire, the peer is answered again.
    y.on_message(Config::default().round_min, &0, Message::Summary { round: 20, summary });
    assert_eq!(y.take_outbox().len(), 1);
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
    let summaries = |s: &Sim<GSet>, from, to| s.sent_between(from, to).filter(|m| m.kind == "ae_summary").count();
    let from_leaves = s.sent_between(ms(0), ms(20_000)).filter(|m| m.kind == "ae_summary" && m.from != 0).count();
    assert_eq!(from_leaves, 0, "no leaf runs a round while news flows");
    // The hub has no upstream to prove: it keeps its timed round every round_max (8 s), with one random peer.
    assert_eq!(summaries(&s, ms(0), ms(20_000)), 2);
    assert!(s.engines[1..].iter().all(|e| e.stats().skipped_rounds > 0), "every leaf skipped its timed rounds");
    s.run_until(ms(40_000));
    assert!(summaries(&s, ms(20_000), ms(40_000)) > 0, "rounds return once the writes stop");
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

/// Writes one element every 50 ms, at nodes picked in turn, until `until`.
fn write_until(s: &mut Sim<GSet>, until: Duration, k: &mut u64) {
    let n = s.engines.len();
    while s.now < until {
        s.update((*k as usize * 7) % n, |x| x.insert(*k));
        *k += 1;
        s.run_until(s.now + ms(50));
    }
}

#[test]
fn after_a_heal_the_nodes_that_routed_around_the_hub_stop_relaying_to_each_other_within_a_relay_window() {
    // Nodes 17..=24 are cut off from the hub for 10 s and re-form a star around a stand-in (node 17); after the
    // heal they hear from the hub and move back to it. Each tells the stand-in it leaves (an empty push up), and
    // the stand-in's batches for them go to the hub: from then on only the hub relays.
    let n = 25;
    let mut s: Sim<GSet> = Sim::new(n, &Config::default(), Faults::reliable(ms(100)), 3);
    s.sides = Some((0..n).map(|i| u8::from(i >= 17)).collect());
    let mut k = 0;
    write_until(&mut s, ms(10_000), &mut k);
    assert_eq!(s.engines[20].upstream(), Some(&17), "the cut-off side routes around the hub");
    s.sides = None;
    write_until(&mut s, ms(16_000), &mut k);
    s.run_until(ms(17_000));
    assert!(s.converged());
    assert!((1..n).all(|i| s.engines[i].upstream() == Some(&0)), "every node is back on the hub");
    let relays: Vec<_> =
        s.sent_between(ms(11_000), ms(17_000)).filter(|m| m.kind == "ae_push" && m.from != 0 && m.to != 0).collect();
    assert!(relays.is_empty(), "pushes between nodes other than the hub after the heal: {relays:?}");
}

#[test]
fn a_leaf_whose_unacknowledged_pushes_left_after_the_hubs_last_push_skips_its_timed_rounds_while_news_flows() {
    // Both leaves write every 50 ms: a push of theirs is nearly always on its way to the hub or waiting for the
    // hub's next push, which will acknowledge it. That proves nothing either way, so their timed rounds are
    // skipped (a push that a later message from the hub failed to acknowledge would call for the round).
    let mut s = sim(3, Overlay::Star);
    for k in 0..400u64 {
        s.update(1 + (k as usize % 2), |x| x.insert(k));
        s.run_until(s.now + ms(50));
    }
    s.run_until(s.now + ms(500));
    assert!(s.converged());
    for leaf in [1, 2] {
        let stats = s.engines[leaf].stats();
        assert_eq!((stats.rounds, stats.suspicions), (0, 0), "leaf {leaf}: {stats:?}");
        assert!(stats.skipped_rounds >= 2, "leaf {leaf}: {stats:?}");
    }
}
