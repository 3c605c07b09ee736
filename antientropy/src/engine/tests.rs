use osmosis_crdt::{GCounter, GSet};

use super::*;

const T0: Duration = Duration::ZERO;

fn pair<C: Replica>() -> (Engine<C, u8>, Engine<C, u8>) {
    let config = Config { local_window: Duration::ZERO, ..Config::default() };
    (Engine::new(0, [0, 1], config.clone(), 1, T0).unwrap(), Engine::new(1, [0, 1], config, 2, T0).unwrap())
}

#[test]
fn counter_updates_mutate_the_replica_in_place_and_push_their_deltas() {
    let (mut hub, mut leaf) = pair::<GCounter<u8>>();
    for _ in 0..3 {
        assert_eq!(leaf.try_update(T0, |c| c.increment(1, 1)), Ok(true));
    }
    assert_eq!(leaf.state().read(), 3);
    let pushes = leaf.take_outbox();
    assert_eq!(pushes.len(), 3, "a leaf pushes each update to the hub at once");
    for (to, msg) in pushes {
        assert_eq!(to, 0);
        hub.on_message(T0, &1, msg);
    }
    assert_eq!(hub.state().read(), 3);
}

#[test]
fn a_failed_update_changes_nothing_and_sends_nothing() {
    let (_, mut leaf) = pair::<GCounter<u8>>();
    leaf.try_update(T0, |c| c.increment(1, u64::MAX)).unwrap();
    assert!(leaf.try_update(T0, |c| c.increment(1, 1)).is_err());
    assert_eq!(leaf.state().read(), u128::from(u64::MAX));
    assert_eq!(leaf.take_outbox().len(), 1);
}

#[test]
fn an_update_that_changes_nothing_sends_nothing() {
    let (_, mut leaf) = pair::<GSet>();
    assert!(leaf.update(T0, |s| s.insert(4)));
    assert!(!leaf.update(T0, |s| s.insert(4)));
    assert_eq!(leaf.take_outbox().len(), 1);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "had not applied")]
fn a_delta_made_from_another_replica_is_loud_in_debug_builds() {
    let (_, mut leaf) = pair::<GCounter<u8>>();
    leaf.update(T0, |_| GCounter::new().increment(1, 1).unwrap());
}

#[test]
fn messages_from_outside_the_cluster_are_counted_and_ignored() {
    let (mut hub, _) = pair::<GSet>();
    hub.on_message(T0, &7, Message::push(0, GSet::new().insert(1)));
    hub.on_message(T0, &0, Message::push(0, GSet::new().insert(1)));
    assert_eq!(hub.stats().foreign, 2);
    assert!(hub.state().is_empty());
}

/// Delivers every message between `nodes` (by id = index) at `now` until none is left; returns how many went.
fn settle(nodes: &mut [Engine<GSet, u8>], now: Duration) -> usize {
    let mut delivered = 0;
    for _ in 0..20 {
        let sent: Vec<(u8, u8, Message<GSet, u8>)> = nodes
            .iter_mut()
            .flat_map(|n| {
                let from = *n.me();
                n.take_outbox().into_iter().map(move |(to, m)| (from, to, m))
            })
            .collect();
        if sent.is_empty() {
            break;
        }
        delivered += sent.len();
        for (from, to, m) in sent {
            nodes[usize::from(to)].on_message(now, &from, m);
        }
    }
    delivered
}

fn summaries_to(outbox: &[(u8, Message<GSet, u8>)]) -> Vec<u8> {
    outbox.iter().filter(|(_, m)| matches!(m, Message::Summary { .. })).map(|(to, _)| *to).collect()
}

#[test]
fn a_root_that_was_alone_runs_a_round_with_a_member_as_soon_as_it_is_given_members() {
    // Node 0 (the star's hub once it has members) restarts alone with what it had logged; 1 and 2 hold the rest.
    let config = Config::default();
    let mut nodes: Vec<Engine<GSet, u8>> =
        (0..3).map(|i| Engine::new(i, [0, 1, 2], config.clone(), u64::from(i), T0).unwrap()).collect();
    nodes[1].update(T0, |s| s.insert(10));
    nodes[2].update(T0, |s| s.insert(20));
    for step in 0..100 {
        let now = Duration::from_millis(10 * step);
        nodes.iter_mut().for_each(|n| n.on_tick(now));
        settle(&mut nodes, now);
    }
    assert!(nodes[1].state().contains(20) && nodes[2].state().contains(10));
    let t = Duration::from_secs(1);
    nodes[0] = Engine::new(0, [0], config, 9, t).unwrap();
    nodes[0].update(t, |s| s.insert(1));
    assert!(nodes[0].take_outbox().is_empty(), "alone, it sends nothing");
    nodes[0].set_members(t, [0, 1, 2]);
    let outbox = nodes[0].take_outbox();
    let summaries = summaries_to(&outbox);
    assert_eq!(summaries.len(), 1, "one round at once: {outbox:?}");
    assert!(summaries[0] == 1 || summaries[0] == 2);
    assert_eq!(nodes[0].stats().gap_rounds, 1);
    for (to, m) in outbox {
        nodes[usize::from(to)].on_message(t, &0, m);
    }
    settle(&mut nodes, t);
    assert_eq!(nodes[0].state(), &GSet::from_iter([1, 10, 20]), "caught up within the round, without the timer");
    assert!(nodes[usize::from(summaries[0])].state().contains(1), "and its partner has what it logged");
}

#[test]
fn a_leaf_that_was_alone_runs_its_round_with_the_hub() {
    let mut leaf: Engine<GSet, u8> = Engine::new(2, [2], Config::default(), 3, T0).unwrap();
    leaf.set_members(T0, [0, 1, 2]);
    assert_eq!(summaries_to(&leaf.take_outbox()), [0]);
    assert_eq!(leaf.stats().gap_rounds, 1);
}

#[test]
fn a_root_with_members_given_one_more_starts_no_round() {
    let mut root: Engine<GSet, u8> = Engine::new(0, [0, 1], Config::default(), 3, T0).unwrap();
    root.set_members(T0, [0, 1, 2]);
    assert_eq!(summaries_to(&root.take_outbox()), Vec::<u8>::new());
    assert_eq!(root.stats().gap_rounds, 0);
}

#[test]
fn a_peers_early_round_messages_wait_only_up_to_eight_message_budgets_of_bytes() {
    use osmosis_crdt::Reconcile;
    let (mut hub, _) = pair::<GSet>();
    let budget = Config::default().max_message_bytes;
    let big: GSet = (0..10_000u64).map(|i| (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
    // A responder session at the (empty) hub for the peer's round 7: the hub answers with its empty state.
    hub.on_message(T0, &1, Message::Summary { round: 7, summary: big.summary() });
    assert!(!hub.take_outbox().is_empty(), "the hub opened the round");
    let (_, parts) = big.open(&GSet::new().summary(), budget - 96).expect("differ");
    let part = parts.into_iter().next().expect("a state part");
    let bytes = osmosis_crdt::json_len(&part);
    assert_eq!(8 * budget / bytes, 9, "a part of {bytes} B: 9 fit in 8 budgets of {budget} B");
    let stale = hub.stats().stale;
    // 32 early parts (seq 0 never comes): the session has room for 32 messages, but only 8 budgets of bytes.
    for seq in 1..=32 {
        hub.on_message(T0, &1, Message::Repair { round: 7, seq, repair: part.clone() });
    }
    assert_eq!(hub.stats().stale - stale, 23, "9 parts wait, 23 are dropped");
    assert!(hub.state().is_empty(), "nothing is applied out of order");
}

/// A leaf of hub 0 in a 4-node star whose push went unacknowledged: it suspects the hub and stands in for it.
fn stand_in() -> Engine<GSet, u8> {
    let mut leaf: Engine<GSet, u8> = Engine::new(1, [0, 1, 2, 3], Config::default(), 1, T0).unwrap();
    leaf.update(T0, |s| s.insert(1));
    leaf.take_outbox();
    leaf.on_tick(Duration::from_secs(1));
    assert_eq!(leaf.suspected(), [0]);
    assert_eq!(leaf.upstream(), None, "it stands in for the hub");
    // Its notices to its new children and its first rounds go out.
    while let Some(t) = leaf.next_deadline().filter(|&t| t < Duration::from_millis(1_900)) {
        leaf.on_tick(t);
    }
    leaf.take_outbox();
    leaf
}

#[test]
fn a_push_that_ends_a_suspicion_and_shows_a_gap_opens_one_round_with_its_sender() {
    let mut leaf = stand_in();
    let t = Duration::from_millis(1_900);
    // The hub's push number 5 arrives: it is reachable again (the leaf climbs back to it and catches up), and
    // five pushes are missing (a round now). Both ask for a round with the hub at the same instant.
    leaf.on_message(t, &0, Message::push(5, GSet::new().insert(2)));
    assert_eq!(leaf.upstream(), Some(&0));
    assert_eq!(summaries_to(&leaf.take_outbox()), [0], "one round, not two");
    assert_eq!((leaf.stats().gap_rounds, leaf.stats().merged_rounds), (2, 1));
}

#[test]
fn a_stand_ins_batches_for_nodes_it_no_longer_relays_to_go_to_its_parent_once_it_climbs_back() {
    let mut leaf = stand_in();
    let t = Duration::from_millis(1_900);
    // Node 2 climbs to the stand-in and pushes an element; it waits in the stand-in's batch for node 3.
    let reports = vec![crate::message::Report { id: 0, ms: 5_000 }];
    let push = Message::Push {
        seq: 0,
        delta: std::sync::Arc::new(GSet::new().insert(20)),
        ack: None,
        up: true,
        urgent: false,
        suspects: reports,
    };
    leaf.on_message(t, &2, push);
    let early = leaf.take_outbox();
    assert!(early.iter().all(|(to, _)| *to != 3), "not yet: the relay window: {early:?}");
    // The hub is heard from again before the window ends: node 3 is the hub's child again, not the stand-in's.
    leaf.on_message(t, &0, Message::push(0, GSet::new()));
    leaf.on_tick(t);
    let outbox = leaf.take_outbox();
    assert!(outbox.iter().all(|(to, m)| *to != 3 || !matches!(m, Message::Push { .. })), "{outbox:?}");
    let to_hub = outbox.iter().find_map(|(to, m)| match m {
        Message::Push { delta, up: true, .. } if *to == 0 => Some(delta.clone()),
        _ => None,
    });
    assert!(to_hub.is_some_and(|d| d.contains(20)), "the batch for node 3 went up to the hub: {outbox:?}");
}

/// Delivers the messages between `a` and `b` at `now` until neither has any for the other (others are dropped).
fn exchange(a: &mut Engine<GSet, u8>, b: &mut Engine<GSet, u8>, now: Duration) {
    for _ in 0..20 {
        let (ia, ib) = (*a.me(), *b.me());
        let to_b: Vec<_> = a.take_outbox().into_iter().filter(|(to, _)| *to == ib).collect();
        let to_a: Vec<_> = b.take_outbox().into_iter().filter(|(to, _)| *to == ia).collect();
        if to_a.is_empty() && to_b.is_empty() {
            return;
        }
        to_b.into_iter().for_each(|(_, m)| b.on_message(now, &ia, m));
        to_a.into_iter().for_each(|(_, m)| a.on_message(now, &ib, m));
    }
}

#[test]
fn a_stand_in_keeps_its_bridge_while_it_works_when_rounds_with_other_nodes_bring_news() {
    let mut leaf = stand_in();
    let t = Duration::from_millis(1_900);
    let mut peers: Vec<Engine<GSet, u8>> =
        [2u8, 3].iter().map(|&i| Engine::new(i, [0, 1, 2, 3], Config::default(), 5, T0).unwrap()).collect();
    for (k, peer) in peers.iter_mut().enumerate() {
        peer.update(T0, |s| s.insert(100 + k as u64));
        peer.take_outbox();
        peer.gap_round(t, 1); // a round with the stand-in, which brings it news
        exchange(&mut leaf, peer, t);
        assert!(leaf.state().contains(100 + k as u64));
        assert_eq!(leaf.upstream(), Some(&2), "the first node whose round brought news is the bridge, and stays");
    }
    assert_eq!(leaf.stats().reroutes, 2, "to the stand-in's own root, then to its bridge");
}

#[test]
fn a_gap_round_left_unanswered_is_made_up_by_the_next_timed_round_even_while_news_flows() {
    let mut leaf: Engine<GSet, u8> = Engine::new(1, [0, 1], Config::default(), 1, T0).unwrap();
    let mut summaries = Vec::new();
    // The hub pushes news every 100 ms; its push number 2 is lost, and so is the round that the gap starts.
    for k in 0..100u64 {
        let now = Duration::from_millis(100 * k);
        leaf.on_tick(now);
        if k != 2 {
            leaf.on_message(now, &0, Message::push(k, GSet::new().insert(k)));
        }
        let sent = leaf.take_outbox();
        summaries.extend(summaries_to(&sent).into_iter().map(|to| (now, to)));
    }
    let ms = |n| Duration::from_millis(n);
    // At 400 ms, push 4 leaves two numbers behind it unaccounted for: a round at once.
    assert_eq!(summaries.first(), Some(&(ms(400), 0)), "the gap's round: {summaries:?}");
    // Its session expired unanswered at 2.4 s: the timed round at 8 s (`round_max`) is not skipped, although every
    // push from the hub since arrived in order and news kept flowing.
    assert_eq!(summaries.get(1), Some(&(ms(8_000), 0)), "{summaries:?}");
    assert_eq!((leaf.stats().rounds, leaf.stats().skipped_rounds), (1, 0));
}

#[test]
fn a_hubs_children_share_one_batch_cut_once_and_a_pushing_child_gets_its_own() {
    use osmosis_crdt::Lattice;
    let mut hub: Engine<GSet, u8> = Engine::new(0, 0..5, Config::default(), 1, T0).unwrap();
    let scattered = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for i in 0..10_000 {
        hub.update(T0, |s| s.insert(scattered(i)));
    }
    let delta = std::sync::Arc::new(GSet::new().insert(7));
    let push = Message::Push { seq: 0, delta, ack: None, up: true, urgent: false, suspects: Vec::new() };
    hub.on_message(T0, &1, push);
    hub.on_tick(T0 + hub.config().relay_window);
    let mut parts: BTreeMap<u8, Vec<std::sync::Arc<GSet>>> = BTreeMap::new();
    for (to, msg) in hub.take_outbox() {
        let Message::Push { delta, .. } = msg else { panic!("only pushes are due") };
        parts.entry(to).or_default().push(delta);
    }
    assert_eq!(parts.keys().copied().collect::<Vec<u8>>(), [1, 2, 3, 4]);
    assert!(parts[&2].len() > 1, "a batch of 10 000 scattered elements takes several messages");
    for to in [3, 4] {
        assert_eq!(parts[&to].len(), parts[&2].len());
        assert!(parts[&to].iter().zip(&parts[&2]).all(|(a, b)| std::sync::Arc::ptr_eq(a, b)), "cut once");
    }
    let joined = |to: u8| {
        parts[&to].iter().fold(GSet::new(), |mut all, p| {
            all.join(p);
            all
        })
    };
    let clients: GSet = (0..10_000).map(scattered).collect();
    assert_eq!(joined(1), clients, "the child that pushed 7 is not sent 7 back");
    let mut all = clients;
    all.join(&GSet::new().insert(7));
    assert_eq!(joined(2), all);
}

#[test]
fn a_stand_in_whose_only_batch_for_a_former_child_was_empty_sends_its_parent_no_empty_push_up() {
    let mut leaf = stand_in();
    let t = Duration::from_millis(1_900);
    // A node joins and becomes the stand-in's child: an empty batch waits to carry the stand-in's reports to it
    // (half a relay window after the stand-in's last flush down).
    leaf.set_members(t, [0, 1, 2, 3, 4]);
    leaf.set_members(t, [0, 1, 2, 3, 4, 5]);
    let before = leaf.take_outbox();
    assert!(before.iter().all(|(to, _)| *to != 5), "node 5's notice waits: {before:?}");
    // The hub is heard from again before that batch leaves: node 5 is no longer the stand-in's child.
    leaf.on_message(t, &0, Message::push(0, GSet::new()));
    assert_eq!(leaf.upstream(), Some(&0));
    let mut sent = leaf.take_outbox();
    while let Some(d) = leaf.next_deadline().filter(|&d| d < t + Duration::from_secs(1)) {
        leaf.on_tick(d);
        sent.extend(leaf.take_outbox());
    }
    let empty_up = sent
        .iter()
        .filter(|(to, m)| *to == 0 && matches!(m, Message::Push { delta, up: true, .. } if delta.is_empty()));
    assert_eq!(empty_up.count(), 0, "an empty push up is a goodbye to a parent that adopted this node: {sent:?}");
}
