//! A node restarted within `round_min`: its peers still hold its earlier life's rounds, and must not take its new
//! rounds for duplicates of them.

use std::time::Duration;

use osmosis_antientropy::{Config, Engine, Message};
use osmosis_crdt::GSet;

const T0: Duration = Duration::ZERO;

/// Node 1 joins node 0 (a round at once, as a node that was alone and is given members), in life `incarnation`
/// (or the default numbering), at `now`; its summary is delivered to `peer`. Returns the round's number.
fn join(peer: &mut Engine<GSet, u8>, incarnation: Option<u64>, now: Duration) -> u64 {
    let node = Engine::new(1, [1], Config::default(), 2, now).unwrap();
    let mut node = match incarnation {
        Some(i) => node.with_incarnation(i),
        None => node,
    };
    node.set_members(now, [0, 1]);
    let mut round = None;
    for (to, msg) in node.take_outbox() {
        if let Message::Summary { round: r, .. } = msg {
            round = Some(r);
        }
        peer.on_message(now, &1, msg);
        assert_eq!(to, 0);
    }
    round.expect("a node given members runs a round at once")
}

#[test]
fn a_node_restarted_within_round_min_has_its_first_rounds_answered_not_dropped_as_duplicates() {
    let restart = T0 + Config::default().round_min / 4;
    // Before: both lives number their rounds from 0, and the peer drops the second life's first summary.
    let mut peer = Engine::<GSet, u8>::new(0, [0, 1], Config::default(), 1, T0).unwrap();
    assert_eq!((join(&mut peer, None, T0), join(&mut peer, None, restart)), (0, 0));
    assert_eq!((peer.stats().agreements, peer.stats().stale), (1, 1), "the second life's round taken for a duplicate");
    // Lives numbered from their incarnations (microseconds since the epoch at start): both rounds are answered.
    let mut peer = Engine::<GSet, u8>::new(0, [0, 1], Config::default(), 1, T0).unwrap();
    let first = join(&mut peer, Some(1_764_640_000_000_000), T0);
    let second = join(&mut peer, Some(1_764_640_000_500_000), restart);
    assert_eq!((first, second), (1_764_640_000_000_000, 1_764_640_000_500_000));
    assert_eq!((peer.stats().agreements, peer.stats().stale), (2, 0), "both lives' rounds answered");
}
