use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::config::{Fsync, Limits, Settings};
use crate::membership::SwimConfig;

const SECRET: &[u8] = b"a cluster secret for the tests";

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn settings(name: &str, port: u16, join: &[u16]) -> Settings {
    Settings {
        name: name.to_string(),
        listen: addr(port),
        advertise: addr(port),
        join: join.iter().map(|p| addr(*p)).collect(),
        http: addr(8080),
        http_token: None,
        cluster_key: ClusterKey::from_secret(SECRET).unwrap(),
        data_dir: None,
        fsync: Fsync::Never,
        snapshot_every: Duration::from_secs(30),
        snapshot_log_bytes: 1 << 20,
        engine: osmosis_antientropy::Config::default(),
        swim: SwimConfig::default(),
        limits: Limits::default(),
        seed: 7,
    }
}

/// Cores on a perfect in-memory network, with a virtual clock.
struct Net {
    cores: Vec<(SocketAddr, Core)>,
    metrics: Vec<Arc<Metrics>>,
    now: Duration,
    /// Datagrams delivered so far.
    delivered: u64,
}

impl Net {
    fn new(all: Vec<Settings>) -> Net {
        let metrics: Vec<Arc<Metrics>> = all.iter().map(|_| Arc::new(Metrics::new())).collect();
        let cores = all
            .iter()
            .zip(&metrics)
            .map(|(s, m)| (s.advertise, Core::new(s, Objects::new(), 1, m.clone(), Duration::ZERO).unwrap()))
            .collect();
        Net { cores, metrics, now: Duration::ZERO, delivered: 0 }
    }

    /// Runs the cluster for `d` of virtual time in 10 ms steps, delivering each datagram at the next step.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(10);
            let now = self.now;
            let mut sent = Vec::new();
            for (from, core) in &mut self.cores {
                if core.next_deadline().is_some_and(|t| t <= now) {
                    core.on_tick(now);
                }
                sent.extend(core.take_outbox().into_iter().map(|(to, d)| (*from, to, d)));
            }
            for (from, to, d) in sent {
                if let Some((_, core)) = self.cores.iter_mut().find(|(a, _)| *a == to) {
                    core.on_datagram(now, from, &d);
                    self.delivered += 1;
                }
            }
        }
    }

    fn core(&mut self, i: usize) -> &mut Core {
        &mut self.cores[i].1
    }
}

fn three() -> Net {
    let mut net = Net::new(vec![settings("a", 1, &[]), settings("b", 2, &[1]), settings("c", 3, &[1])]);
    net.run(Duration::from_secs(3));
    net
}

#[test]
fn three_cores_join_through_a_seed_and_converge_on_sets_and_counters() {
    let mut net = three();
    for i in 0..3 {
        assert_eq!(net.core(i).members(), ["a", "b", "c"], "core {i}");
    }
    let now = net.now;
    net.core(1).add_elements(now, "s", &[json!(1), json!("two")]).unwrap();
    net.core(2).add_elements(now, "s", &[json!(3)]).unwrap();
    net.core(0).add_to_counter(now, "hits", 5).unwrap();
    net.core(2).add_to_counter(now, "hits", -2).unwrap();
    net.run(Duration::from_secs(1));
    for i in 0..3 {
        let state = net.core(i).state();
        assert_eq!(state.set("s").unwrap().to_values(), vec![json!(1), json!(3), json!("two")], "core {i}");
        assert_eq!(state.counter("hits").unwrap().read(), 3, "core {i}");
        let (kept, walked) = (net.core(i).sizes, net.core(i).state().sizes());
        assert_eq!(kept, walked, "core {i}: the sizes kept through merges are the replica's");
    }
    let pushes = Metrics::count(&net.metrics[1].sent, "kind", "ae_push");
    assert!(pushes >= 1, "b pushed its update");
}

#[test]
fn a_datagram_with_a_wrong_mac_is_counted_and_never_merged() {
    let mut net = three();
    let forger = ClusterKey::from_secret(b"not the cluster's secret at all").unwrap();
    let delta = Objects::with_set("s", {
        let mut s = JsonSet::new();
        s.insert(&json!(666));
        s
    });
    let msg = Envelope { from: "b".into(), msg: Message::push(0, delta) };
    let forged = forger.seal(Kind::Engine, &serde_json::to_vec(&msg).unwrap());
    let now = net.now;
    net.core(0).on_datagram(now, addr(2), &forged);
    assert!(net.core(0).state().set("s").is_none());
    assert_eq!(Metrics::count(&net.metrics[0].dropped, "reason", "bad_mac"), 1);
    // The same message under the right key is merged.
    let genuine = ClusterKey::from_secret(SECRET).unwrap().seal(Kind::Engine, &serde_json::to_vec(&msg).unwrap());
    net.core(0).on_datagram(now, addr(2), &genuine);
    assert!(net.core(0).state().set("s").unwrap().contains(&json!(666)));
}

#[test]
fn garbage_and_foreign_datagrams_are_counted_drops() {
    let mut net = three();
    let key = ClusterKey::from_secret(SECRET).unwrap();
    let now = net.now;
    let core = net.core(0);
    for garbage in [&b""[..], b"\x01", &[0xAB; 100], &[0; 70_000]] {
        core.on_datagram(now, addr(9), garbage);
    }
    for payload in [&b"not json"[..], br#"{"from":"b","msg":{"type":"ae_push"}}"#, br#"{"from":"b"}"#] {
        core.on_datagram(now, addr(2), &key.seal(Kind::Engine, payload));
    }
    core.on_datagram(now, addr(2), &key.seal(Kind::Membership, b"\xff\xff\xff"));
    let delta = Objects::with_set("s", {
        let mut s = JsonSet::new();
        s.insert(&json!(1));
        s
    });
    let stranger = Envelope { from: "zed".into(), msg: Message::push(0, delta) };
    core.on_datagram(now, addr(9), &key.seal(Kind::Engine, &serde_json::to_vec(&stranger).unwrap()));
    assert!(core.state().is_empty());
    let m = &net.metrics[0];
    assert_eq!(Metrics::count(&m.dropped, "reason", "too_short"), 2);
    assert_eq!(
        Metrics::count(&m.dropped, "reason", "bad_mac") + Metrics::count(&m.dropped, "reason", "bad_version"),
        2
    );
    assert_eq!(Metrics::count(&m.dropped, "reason", "malformed"), 4);
    assert_eq!(Metrics::count(&m.dropped, "reason", "foreign"), 1);
}

#[test]
fn a_delta_over_the_datagram_budget_is_split_and_still_converges() {
    let mut all = vec![settings("a", 1, &[]), settings("b", 2, &[1])];
    for s in &mut all {
        s.limits.max_datagram_bytes = 8600;
        s.engine.max_message_bytes = 8600 - ENVELOPE_ROOM;
    }
    let mut net = Net::new(all);
    net.run(Duration::from_secs(3));
    let values: Vec<serde_json::Value> = (0..3000u64).map(|i| json!(i * 7_919_993)).collect();
    let now = net.now;
    net.core(1).add_elements(now, "big", &values).unwrap();
    net.run(Duration::from_secs(1));
    assert_eq!(net.core(0).state().set("big").map(JsonSet::len), Some(3000));
    let pushes = Metrics::count(&net.metrics[1].sent, "kind", "ae_push");
    assert!(pushes > 3, "the push went out in parts: {pushes}");
}

#[test]
fn writes_and_peer_deltas_past_a_cap_are_refused() {
    let mut all = vec![settings("a", 1, &[]), settings("b", 2, &[1])];
    all[0].limits.max_elements = 10;
    let mut net = Net::new(all);
    net.run(Duration::from_secs(3));
    let now = net.now;
    let many: Vec<serde_json::Value> = (0..11).map(|i| json!(i)).collect();
    let e = net.core(0).add_elements(now, "s", &many).unwrap_err();
    assert!(matches!(e, OpError::OverLimit(_)), "{e}");
    assert!(net.core(0).state().is_empty(), "a refused write changes nothing");
    net.core(1).add_elements(now, "s", &many).unwrap();
    net.run(Duration::from_secs(1));
    assert!(net.core(0).state().is_empty());
    assert!(Metrics::count(&net.metrics[0].dropped, "reason", "over_cap") >= 1);
    let e = net.core(0).add_elements(now, "a b", &many[..1]).unwrap_err();
    assert!(matches!(e, OpError::BadName(_)));
    let deep = (0..150).fold(json!(1), |v, _| json!([v]));
    assert!(matches!(net.core(0).add_elements(now, "s", &[deep]), Err(OpError::BadValue(_))));
}

#[test]
fn a_silent_member_leaves_the_engine_and_the_hub_moves_on() {
    let mut net = three();
    // "a" (the star's hub) disappears; the others declare it down and keep replicating through the next hub.
    net.cores.remove(0);
    net.metrics.remove(0);
    net.run(Duration::from_secs(15));
    for i in 0..2 {
        assert_eq!(net.core(i).members(), ["b", "c"], "core {i}");
    }
    let now = net.now;
    net.core(1).add_elements(now, "s", &[json!(42)]).unwrap();
    net.run(Duration::from_secs(1));
    assert!(net.core(0).state().set("s").unwrap().contains(&json!(42)));
}

#[test]
fn a_clean_leave_is_seen_at_once() {
    let mut net = three();
    let now = net.now;
    net.core(2).leave(now);
    net.run(Duration::from_millis(500));
    assert_eq!(net.core(0).members(), ["a", "b"]);
    assert!(net.delivered > 0);
}

#[test]
fn engine_traffic_answers_swim_probes_along_the_star_and_a_dead_leaf_is_still_removed() {
    let mut swim_sent = Vec::new();
    for window in [Duration::ZERO, SwimConfig::default().traffic_window] {
        let mut all = vec![settings("a", 1, &[]), settings("b", 2, &[1]), settings("c", 3, &[1])];
        for s in &mut all {
            s.swim.traffic_window = window;
        }
        let mut net = Net::new(all);
        net.run(Duration::from_secs(3));
        // Every node takes a write every 100 ms (pushes to the hub, relays back) for 25 s, of which the last 15 s
        // count: by then the joins' membership updates have been piggybacked as often as SWIM sends them, so
        // pings carry nothing else (the steady state).
        let mut before = 0;
        for step in 0..250u64 {
            if step == 100 {
                before = net.metrics.iter().map(|m| Metrics::count(&m.sent, "kind", "swim")).sum();
            }
            let now = net.now;
            for i in 0..3 {
                net.core(i).add_elements(now, "s", &[json!(step * 3 + i as u64)]).unwrap();
            }
            net.run(Duration::from_millis(100));
        }
        let after: u64 = net.metrics.iter().map(|m| Metrics::count(&m.sent, "kind", "swim")).sum();
        let answered: u64 = net.metrics.iter().map(|m| m.probes_by_traffic.get()).sum();
        assert_eq!(answered == 0, window.is_zero(), "window {window:?}: {answered} probes answered by traffic");
        swim_sent.push(after - before);
        // "c" dies: the others still declare it down.
        net.cores.pop();
        net.metrics.pop();
        for _ in 0..100 {
            let now = net.now;
            net.core(0).add_elements(now, "s", &[json!("x")]).unwrap();
            net.run(Duration::from_millis(100));
        }
        for i in 0..2 {
            assert_eq!(net.core(i).members(), ["a", "b"], "window {window:?}, core {i}");
        }
    }
    // On a star of three every probe is along an edge but the leaves' probes of each other: a third remain (60 and 20
    // datagrams, measured).
    assert!(swim_sent[1] * 5 <= swim_sent[0] * 2, "SWIM datagrams without and with the window: {swim_sent:?}");
}
