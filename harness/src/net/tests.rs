use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;

use super::*;
use crate::latency::LatencyDist;

const MS: Nanos = 1_000_000;

fn constant(ms: u64) -> Network<u32> {
    Network::new(Latency::new(ms, LatencyDist::Constant).unwrap(), 1)
}

/// A network whose server latencies are taken, in order, from `delays` (in ns); 0 once they run out.
fn scripted(delays: &[Nanos]) -> Network<u32> {
    let mut delays: VecDeque<Nanos> = delays.iter().copied().collect();
    Network::with_sampler(move |_, _| delays.pop_front().unwrap_or(0))
}

/// Delivers everything due up to `until`, each at its own due time; returns `(time, delivery)` pairs.
fn run_until(net: &mut Network<u32>, until: Nanos) -> Vec<(Nanos, Delivery<u32>)> {
    let mut out = Vec::new();
    while let Some(t) = net.next_deadline().filter(|&t| t <= until) {
        let d = net.poll(t).expect("a message is due at next_deadline");
        out.push((t, d));
    }
    out
}

fn grudge(dest: &str, srcs: &[&str]) -> Grudge {
    Grudge::from([(dest.to_owned(), srcs.iter().map(|s| s.to_string()).collect())])
}

#[test]
fn constant_latency_delivers_fifo_per_receiver_at_send_time_plus_latency() {
    let mut net = constant(5);
    let [a, b, r] = ["n1", "n2", "n3"].map(|n| net.register(n, ()));
    for k in 0..10u32 {
        let src = if k % 2 == 0 { a } else { b };
        net.send(u64::from(k) * MS / 2, src, r, k).unwrap();
    }
    let got = run_until(&mut net, u64::MAX);
    assert_eq!(got.iter().map(|(_, d)| d.payload).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    for (t, d) in &got {
        assert_eq!(*t, d.deadline);
        assert_eq!(d.deadline, u64::from(d.payload) * MS / 2 + 5 * MS);
        assert_eq!(d.dest, r);
    }
}

#[test]
fn a_later_message_with_an_earlier_deadline_waits_behind_the_in_flight_one() {
    let mut net = scripted(&[100 * MS, 10 * MS]);
    let [a, r] = ["n1", "n2"].map(|n| net.register(n, ()));
    net.send(0, a, r, 1).unwrap(); // taken at once, due at 100 ms
    net.send(MS, a, r, 2).unwrap(); // deadline 11 ms, but queued behind the in-flight one
    assert_eq!(net.next_deadline(), Some(100 * MS));
    assert_eq!(net.poll(50 * MS), None, "nothing is due before 100 ms");
    let got = run_until(&mut net, u64::MAX);
    let seen: Vec<_> = got.iter().map(|(t, d)| (*t / MS, d.payload, d.deadline / MS)).collect();
    assert_eq!(seen, [(100, 1, 100), (100, 2, 11)]);
}

#[test]
fn receivers_deliver_independently_of_each_other() {
    let mut net = scripted(&[100 * MS, 10 * MS]);
    let [a, r1, r2] = ["n1", "n2", "n3"].map(|n| net.register(n, ()));
    net.send(0, a, r1, 1).unwrap();
    net.send(0, a, r2, 2).unwrap();
    let got = run_until(&mut net, u64::MAX);
    let seen: Vec<_> = got.iter().map(|(t, d)| (*t / MS, d.payload)).collect();
    assert_eq!(seen, [(10, 2), (100, 1)]);
}

#[test]
fn equal_delivery_times_are_broken_by_send_order() {
    let mut net = constant(0);
    let [a, b, c] = ["n1", "n2", "n3"].map(|n| net.register(n, ()));
    net.send(7, a, c, 0).unwrap();
    net.send(7, c, b, 1).unwrap();
    net.send(7, b, a, 2).unwrap();
    let ids: Vec<u64> = std::iter::from_fn(|| net.poll(7)).map(|d| d.id).collect();
    assert_eq!(ids, [0, 1, 2]);
}

#[test]
fn a_message_taken_before_a_partition_starts_is_delivered_and_one_still_queued_is_dropped() {
    let mut net = scripted(&[100 * MS, 10 * MS]);
    let [s, r] = ["n1", "n2"].map(|n| net.register(n, ()));
    net.send(0, s, r, 1).unwrap(); // in flight
    net.send(MS, s, r, 2).unwrap(); // queued
    net.partition(&grudge("n2", &["n1"]));
    let got = run_until(&mut net, u64::MAX);
    assert_eq!(got.iter().map(|(_, d)| d.payload).collect::<Vec<_>>(), [1]);
    assert_eq!(net.pending_for(r), 0, "the queued message was dropped when taken");
    assert_eq!((net.stats().all.send_count, net.stats().all.recv_count), (2, 1));
}

#[test]
fn a_message_still_queued_when_the_partition_heals_is_delivered() {
    let mut net = scripted(&[100 * MS, 10 * MS]);
    let [s, t, r] = ["n1", "n3", "n2"].map(|n| net.register(n, ()));
    net.send(0, t, r, 1).unwrap(); // from an unpartitioned sender, in flight until 100 ms
    net.partition(&grudge("n2", &["n1"]));
    net.send(MS, s, r, 2).unwrap(); // queued: the receiver is busy, so no partition check yet
    net.heal();
    let got = run_until(&mut net, u64::MAX);
    assert_eq!(got.iter().map(|(t, d)| (*t / MS, d.payload)).collect::<Vec<_>>(), [(100, 1), (100, 2)]);
}

#[test]
fn an_idle_receiver_drops_a_partitioned_message_at_send_time_but_the_send_is_counted() {
    let mut net = constant(10);
    let [s, r] = ["n1", "n2"].map(|n| net.register(n, ()));
    net.partition(&grudge("n2", &["n1"]));
    assert!(net.is_partitioned(s, r) && !net.is_partitioned(r, s), "grudges are one-way");
    assert_eq!(net.send(0, s, r, 1), Ok(0));
    assert_eq!(net.next_deadline(), None);
    assert_eq!(net.send(0, r, s, 2), Ok(1), "the other direction flows");
    net.heal();
    assert_eq!(net.send(5, s, r, 3), Ok(2));
    let got = run_until(&mut net, u64::MAX);
    assert_eq!(got.iter().map(|(_, d)| d.payload).collect::<Vec<_>>(), [2, 3]);
    assert_eq!((net.stats().servers.send_count, net.stats().servers.recv_count), (3, 2));
}

#[test]
fn partitions_add_up_until_healed_and_ignore_unknown_names_and_clients() {
    let mut net = constant(0);
    let [a, b, c, cl] = ["n1", "n2", "n3", "c1"].map(|n| net.register(n, ()));
    net.partition(&grudge("n1", &["n2", "ghost", "c1"]));
    net.partition(&grudge("n1", &["n3"]));
    net.partition(&grudge("c1", &["n1"]));
    net.partition(&grudge("ghost", &["n1"]));
    assert!(net.is_partitioned(b, a) && net.is_partitioned(c, a));
    assert!(!net.is_partitioned(cl, a) && !net.is_partitioned(a, cl));
    net.heal();
    assert!(!net.is_partitioned(b, a) && !net.is_partitioned(c, a));
}

#[test]
fn client_messages_get_no_latency_but_services_do() {
    let mut net = constant(50);
    let [n, c, kv] = ["n1", "c7", "lin-kv"].map(|x| net.register(x, ()));
    assert!(net.is_client(c) && !net.is_client(n) && !net.is_client(kv));
    net.send(3, c, n, 1).unwrap();
    net.send(3, n, c, 2).unwrap();
    net.send(3, n, kv, 3).unwrap();
    let got = run_until(&mut net, u64::MAX);
    let seen: Vec<_> = got.iter().map(|(t, d)| (*t, d.payload)).collect();
    assert_eq!(seen, [(3, 1), (3, 2), (3 + 50 * MS, 3)]);
}

#[test]
fn bytes_are_the_payloads_wire_size_counted_per_group_at_send() {
    let mut net: Network<String> = Network::new(Latency::zero(), 1);
    let [n1, n2, c] = ["n1", "n2", "c1"].map(|x| net.register(x, ()));
    net.send(0, n1, n2, r#"{"type":"gossip"}"#.to_owned()).unwrap();
    net.send(0, c, n1, r#"{"type":"read"}"#.to_owned()).unwrap();
    assert!(net.send(0, n1, Addr(99), "refused".to_owned()).is_err());
    let s = net.stats();
    assert_eq!((s.servers.bytes, s.clients.bytes, s.all.bytes), (17, 15, 32));
    assert_eq!(s.servers.recv_count, 0, "counted at send, before any delivery");
}

#[test]
fn message_ids_are_global_from_zero_and_refused_sends_consume_none() {
    let mut net = constant(0);
    let [a, b, c] = ["n1", "n2", "c1"].map(|n| net.register(n, ()));
    assert_eq!(net.send(0, a, b, 0), Ok(0));
    assert_eq!(net.send(0, c, a, 0), Ok(1));
    assert_eq!(net.send(0, a, Addr(99), 0), Err(NetError::InvalidDest("?99".into())));
    assert_eq!(net.send(0, Addr(98), a, 0), Err(NetError::InvalidSrc("?98".into())));
    assert_eq!(net.send(0, b, c, 0), Ok(2));
    assert_eq!(net.next_message_id(), 3);
    let ids: Vec<u64> = run_until(&mut net, 0).into_iter().map(|(_, d)| d.id).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 3);
}

#[test]
fn stats_split_client_traffic_from_server_traffic() {
    let mut net = constant(1);
    let [a, b, c, kv] = ["n1", "n2", "c1", "seq-kv"].map(|n| net.register(n, ()));
    net.send(0, c, a, 0).unwrap();
    net.send(0, a, c, 0).unwrap();
    net.send(0, a, b, 0).unwrap();
    net.send(0, a, kv, 0).unwrap();
    net.send(0, kv, a, 0).unwrap();
    run_until(&mut net, MS / 2);
    let s = *net.stats();
    assert_eq!(s.clients, GroupStats { send_count: 2, recv_count: 2, msg_count: 2, bytes: 8 });
    assert_eq!(s.servers, GroupStats { send_count: 3, recv_count: 0, msg_count: 3, bytes: 12 });
    run_until(&mut net, u64::MAX);
    let s = *net.stats();
    assert_eq!(s.servers.recv_count, 3);
    assert_eq!(s.all, GroupStats { send_count: 5, recv_count: 5, msg_count: 5, bytes: 20 });
}

#[test]
fn an_unregistered_receiver_loses_its_queue_and_refuses_later_sends() {
    let mut net = scripted(&[10 * MS, 10 * MS, 10 * MS]);
    let [a, b] = ["n1", "n2"].map(|n| net.register(n, ()));
    let c = net.register("c3", ());
    assert_eq!(net.register("c3", ()), c, "registering a registered name returns its address");
    net.send(0, a, b, 1).unwrap();
    net.send(0, a, b, 2).unwrap();
    net.send(0, a, c, 3).unwrap();
    net.send(0, b, a, 4).unwrap();
    assert_eq!(net.registered_count(), 3);
    net.unregister(b);
    net.unregister(b);
    assert_eq!(net.registered_count(), 2);
    assert_eq!(net.addr("n2"), None);
    assert_eq!(net.name(b), "n2");
    assert_eq!(net.send(1, a, b, 5), Err(NetError::InvalidDest("n2".into())));
    assert_eq!(net.send(1, b, a, 5), Err(NetError::InvalidSrc("n2".into())));
    let got = run_until(&mut net, u64::MAX);
    assert_eq!(got.iter().map(|(_, d)| d.payload).collect::<Vec<_>>(), [3, 4], "b's sent message still arrives");
    assert_eq!(net.stats().all.recv_count, 2);
    assert_eq!(net.register("n2", ()), b, "a name comes back at its old address");
    assert_eq!(net.pending_for(b), 0);
}

#[test]
fn a_paused_receiver_keeps_messages_queued_until_resumed() {
    let mut net = constant(0);
    let [n, c] = ["n1", "c1"].map(|x| net.register(x, ()));
    net.set_receiving(0, c, false);
    net.send(5, n, c, 1).unwrap();
    assert_eq!(net.next_deadline(), None);
    assert_eq!(net.pending_for(c), 1);
    net.set_receiving(9, c, true);
    let got = run_until(&mut net, u64::MAX);
    assert_eq!(got.iter().map(|(t, d)| (*t, d.payload)).collect::<Vec<_>>(), [(9, 1)]);
    net.set_receiving(10, c, false);
    net.send(11, n, c, 2).unwrap();
    net.unregister(c);
    assert_eq!(net.stats().clients.recv_count, 1, "a message queued to a closed client is never received");
}

#[test]
fn the_latency_model_is_sampled_from_the_seed() {
    let sample = |seed| {
        let mut net: Network<()> = Network::new(Latency::new(100, LatencyDist::Exponential).unwrap(), seed);
        let [a, b] = ["n1", "n2"].map(|n| net.register(n, ()));
        (0..20)
            .map(|_| {
                net.send(0, a, b, ()).unwrap();
                let t = net.next_deadline().unwrap();
                net.poll(t).unwrap().deadline
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(sample(4), sample(4));
    assert_ne!(sample(4), sample(5));
    assert!(sample(4).iter().all(|d| d % MS == 0), "whole milliseconds");
}

#[test]
fn the_sampler_sees_the_ends_of_each_server_message() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let mut net: Network<()> = Network::with_sampler(move |s, d| {
        log.lock().unwrap().push((s, d));
        0
    });
    let [a, b, c] = ["n1", "n2", "c1"].map(|n| net.register(n, ()));
    net.send(0, a, b, ()).unwrap();
    net.send(0, c, b, ()).unwrap();
    net.send(0, b, a, ()).unwrap();
    assert_eq!(*seen.lock().unwrap(), [(a, b), (b, a)]);
}

#[test]
fn every_server_message_is_lost_at_probability_one_and_the_sends_still_count() {
    let mut net = constant(1);
    let [a, b, c] = ["n1", "n2", "c1"].map(|n| net.register(n, ()));
    net.set_message_faults(MessageFaults { loss: 1.0, duplicate: 0.0 });
    assert_eq!(net.send(0, a, b, 1), Ok(0));
    assert_eq!(net.send(0, c, a, 2), Ok(1), "client messages are never lost");
    assert_eq!(net.send(0, a, c, 3), Ok(2));
    let got = run_until(&mut net, u64::MAX);
    assert_eq!(got.iter().map(|(_, d)| d.payload).collect::<Vec<_>>(), [2, 3]);
    assert_eq!((net.stats().servers.send_count, net.stats().servers.recv_count), (1, 0));
    assert_eq!(net.fault_counts(), (1, 0));
}

#[test]
fn a_duplicated_message_arrives_twice_under_one_id() {
    let mut net = constant(5);
    let [a, b] = ["n1", "n2"].map(|n| net.register(n, ()));
    net.set_message_faults(MessageFaults { loss: 0.0, duplicate: 1.0 });
    net.send(0, a, b, 7).unwrap();
    let got = run_until(&mut net, u64::MAX);
    assert_eq!(got.iter().map(|(t, d)| (*t, d.id, d.payload)).collect::<Vec<_>>(), [(5 * MS, 0, 7), (5 * MS, 0, 7)]);
    let s = net.stats().servers;
    assert_eq!((s.send_count, s.recv_count, s.msg_count), (1, 2, 1));
    assert_eq!(net.fault_counts(), (0, 1));
}

#[test]
fn message_faults_leave_the_latency_of_the_other_messages_unchanged() {
    let deadlines = |faults: MessageFaults| {
        let mut net: Network<u32> = Network::new(Latency::new(100, LatencyDist::Exponential).unwrap(), 9);
        let [a, b] = ["n1", "n2"].map(|n| net.register(n, ()));
        net.set_message_faults(faults);
        for k in 0..200 {
            net.send(0, a, b, k).unwrap();
        }
        let mut first: BTreeMap<u32, Nanos> = BTreeMap::new();
        for (_, d) in run_until(&mut net, u64::MAX) {
            first.entry(d.payload).or_insert(d.deadline);
        }
        first
    };
    let clean = deadlines(MessageFaults::default());
    let faulty = deadlines(MessageFaults { loss: 0.3, duplicate: 0.3 });
    assert!(faulty.len() < 180, "some were lost: {}", faulty.len());
    // A surviving message keeps its deadline; a copy has its own and may come first.
    assert!(faulty.iter().all(|(k, d)| *d <= clean[k]));
    let lossy = deadlines(MessageFaults { loss: 0.3, duplicate: 0.0 });
    assert!(lossy.iter().all(|(k, d)| clean[k] == *d));
}

#[test]
fn discarding_a_receivers_pending_messages_keeps_it_registered() {
    let mut net = constant(10);
    let [a, b] = ["n1", "n2"].map(|n| net.register(n, ()));
    net.send(0, a, b, 1).unwrap();
    net.send(0, a, b, 2).unwrap();
    net.discard_pending(b);
    assert_eq!((net.pending_for(b), net.next_deadline()), (0, None));
    net.send(1, a, b, 3).unwrap();
    assert_eq!(run_until(&mut net, u64::MAX).iter().map(|(_, d)| d.payload).collect::<Vec<_>>(), [3]);
}

#[test]
fn the_network_keeps_each_participants_role_while_registered() {
    let mut net: Network<u32, &str> = constant_with_roles();
    let a = net.register("n1", "node");
    let c = net.register("c1", "client");
    assert_eq!(net.role(a), Some(&"node"));
    *net.role_mut(c).unwrap() = "closing";
    assert_eq!(net.unregister(c), Some("closing"), "unregistering hands the role back");
    assert_eq!(net.role(c), None);
    assert_eq!(net.unregister(c), None);
    assert_eq!(net.register("c1", "again"), c);
    assert_eq!(net.role(c), Some(&"again"));
}

fn constant_with_roles() -> Network<u32, &'static str> {
    Network::new(Latency::new(1, LatencyDist::Constant).unwrap(), 1)
}

/// One scripted event: at `dt` after the previous one, `src` sends to `dest` (indices into the participants).
#[derive(Debug, Clone)]
struct Step {
    dt: Nanos,
    src: usize,
    dest: usize,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((0..3 * MS, 0usize..6, 0usize..6).prop_map(|(dt, src, dest)| Step { dt, src, dest }), 1..200)
}

/// Replays `steps` in virtual time, delivering each message at its due time; returns deliveries with their times.
fn simulate(net: &mut Network<u32>, steps: &[Step]) -> (Vec<Addr>, Vec<(Nanos, Delivery<u32>)>) {
    let addrs: Vec<Addr> = ["n1", "n2", "n3", "lin-kv", "c1", "c2"].iter().map(|n| net.register(n, ())).collect();
    let mut now = 0;
    let mut out = Vec::new();
    for (k, step) in steps.iter().enumerate() {
        now += step.dt;
        out.extend(run_until(net, now));
        net.send(now, addrs[step.src], addrs[step.dest], k as u32).unwrap();
    }
    out.extend(run_until(net, u64::MAX));
    (addrs, out)
}

proptest! {
    #[test]
    fn without_partitions_every_message_is_delivered_once_in_time_order_per_receiver(
        steps in steps(),
        seed: u64,
        dist in prop_oneof![Just(LatencyDist::Uniform), Just(LatencyDist::Exponential)],
    ) {
        let mut net = Network::new(Latency::new(5, dist).unwrap(), seed);
        let (_, got) = simulate(&mut net, &steps);
        let mut payloads: Vec<u32> = got.iter().map(|(_, d)| d.payload).collect();
        payloads.sort_unstable();
        prop_assert_eq!(payloads, (0..steps.len() as u32).collect::<Vec<_>>());
        let mut last: BTreeMap<Addr, Nanos> = BTreeMap::new();
        for (t, d) in &got {
            prop_assert!(*t >= d.deadline);
            prop_assert_eq!(d.id, u64::from(d.payload));
            let prev = last.insert(d.dest, *t).unwrap_or(0);
            prop_assert!(prev <= *t, "receiver {:?} went back in time", d.dest);
        }
        prop_assert_eq!(net.stats().all.recv_count, steps.len() as u64);
        prop_assert_eq!(net.stats().all.send_count, steps.len() as u64);
    }

    #[test]
    fn constant_latency_is_fifo_per_receiver_among_equally_delayed_messages(steps in steps(), ms in 0u64..10) {
        let mut net = constant(ms);
        let (_, got) = simulate(&mut net, &steps);
        // client messages have no latency, so they may overtake server messages to the same receiver
        let mut last: BTreeMap<(Addr, bool), u64> = BTreeMap::new();
        for (_, d) in &got {
            let zero_latency = net.is_client(d.src) || net.is_client(d.dest);
            if let Some(prev) = last.insert((d.dest, zero_latency), d.id) {
                prop_assert!(prev < d.id);
            }
        }
    }
}
