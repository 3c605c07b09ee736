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
