//! The ideal-latency checker on hand-built histories: exact holding times and exact figures.

use serde_json::{Value, json};

use super::Hist;
use crate::checker::ideal::arrival::IdealNetwork;
use crate::checker::ideal::schedule::{FOREVER, FaultSchedule};
use crate::checker::ideal::{self, Cluster};
use crate::checker::set_full;
use crate::checker::{CheckConfig, check};
use crate::history::{F, History};
use crate::latency::{Latency, LatencyDist};
use crate::nemesis::FaultKind;
use crate::net::NetStats;
use crate::workload::Workload;

const MS: u64 = 1_000_000;

fn names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

fn cluster(n: usize, latency_ms: u64) -> Cluster {
    Cluster::new(names(n), n, Latency::new(latency_ms, LatencyDist::Constant).unwrap())
}

/// Earliest holding times (ms) per life of an element added on `origin` at `added_ms`.
fn holds(h: &History, c: &Cluster, origin: usize, added_ms: u64) -> Vec<Option<u64>> {
    let s = FaultSchedule::from_history(h, &c.nodes);
    let net = IdealNetwork::new(&s, c.floor());
    net.earliest(origin, added_ms * MS).into_iter().map(|t| t.map(|t| t / MS)).collect()
}

/// `[:isolated {…}]` cutting `loner` off from `others` both ways.
fn isolate(loner: &str, others: &[&str]) -> Value {
    let mut g = serde_json::Map::new();
    g.insert(loner.to_owned(), json!(others));
    for o in others {
        g.insert((*o).to_owned(), json!([loner]));
    }
    json!(["isolated", g])
}

#[test]
fn without_faults_every_other_node_holds_an_element_one_latency_after_its_add() {
    let c = cluster(3, 100);
    assert_eq!(holds(&History::default(), &c, 0, 1000), [Some(1000), Some(1100), Some(1100)]);
    // random latencies can draw 0 ms: the ideal network then has no latency at all
    let mut u = c.clone();
    u.latency = Latency::new(100, LatencyDist::Uniform).unwrap();
    assert_eq!(holds(&History::default(), &u, 2, 1000), [Some(1000); 3]);
    u.latency = Latency::new(100, LatencyDist::Exponential).unwrap();
    assert_eq!(u.floor(), Some(0));
    // every server message lost: only the origin ever holds it
    let mut lossy = c;
    lossy.loss = 1.0;
    assert_eq!(holds(&History::default(), &lossy, 1, 1000), [None, Some(1000), None]);
}

#[test]
fn a_cut_off_node_gets_the_element_when_the_partition_heals_and_a_copy_sent_before_it_began_still_lands() {
    let c = cluster(3, 100);
    let mut h = Hist::new();
    h.fault(F::StartPartition, 900, 905, isolate("n3", &["n1", "n2"]));
    h.fault(F::StopPartition, 1500, 1501, json!("network-healed"));
    // added during the partition: n3 takes the waiting copy when the grudge lifts (first entry of the heal)
    assert_eq!(holds(&h.h, &c, 0, 1000), [Some(1000), Some(1100), Some(1500)]);
    // added before it: the copy left at 850, was accepted then, and lands at 950 inside the partition
    assert_eq!(holds(&h.h, &c, 0, 850), [Some(850), Some(950), Some(950)]);
    // added 100 ms before the partition's start ends up in flight across its start: still accepted at the send
    assert_eq!(holds(&h.h, &c, 0, 904), [Some(904), Some(1004), Some(1004)]);
    // the grudge is in force strictly after the completion (905 ms), not from the invocation (900 ms)
    assert_eq!(holds(&h.h, &c, 0, 905), [Some(905), Some(1005), Some(1005)]);
    assert_eq!(holds(&h.h, &c, 0, 906), [Some(906), Some(1006), Some(1500)]);
}

#[test]
fn a_node_that_drops_the_origin_but_hears_a_third_gets_it_in_two_hops() {
    let c = cluster(3, 100);
    let mut h = Hist::new();
    h.fault(F::StartPartition, 0, 0, json!(["isolated", {"n3": ["n1"], "n1": ["n3"], "n2": []}]));
    assert_eq!(holds(&h.h, &c, 0, 1000), [Some(1000), Some(1100), Some(1200)]);
    // never healed: a node cut off from everyone never gets it
    let mut h = Hist::new();
    h.fault(F::StartPartition, 0, 0, isolate("n3", &["n1", "n2"]));
    assert_eq!(holds(&h.h, &c, 0, 1000), [Some(1000), Some(1100), None]);
}

#[test]
fn a_paused_node_takes_its_copy_when_it_resumes_and_a_paused_origin_takes_the_add_then() {
    let c = cluster(3, 100);
    let mut h = Hist::new();
    h.fault(F::Pause, 1000, 1001, json!(["n2"]));
    h.fault(F::Resume, 1300, 1302, json!(["n2"]));
    assert_eq!(holds(&h.h, &c, 0, 1050), [Some(1050), Some(1300), Some(1150)]);
    // the add reaches n2 while paused: it holds it from its resume, the others 100 ms later
    assert_eq!(holds(&h.h, &c, 1, 1100), [Some(1400), Some(1300), Some(1400)]);
    let s = FaultSchedule::from_history(&h.h, &c.nodes);
    assert_eq!(s.lives()[1].pauses, [(1001 * MS, 1300 * MS)], "from the completion to the resume's invocation");
}

#[test]
fn a_killed_node_loses_what_it_held_and_its_restart_is_a_new_empty_life() {
    let c = cluster(3, 100);
    let mut h = Hist::new();
    h.fault(F::Kill, 1040, 1050, json!(["n2"]));
    h.fault(F::Start, 2000, 2003, json!({"n2": "started"}));
    let s = FaultSchedule::from_history(&h.h, &c.nodes);
    assert_eq!(s.lives().len(), 4);
    assert_eq!((s.lives()[1].start, s.lives()[1].end), (0, 1050 * MS));
    assert_eq!((s.lives()[3].node, s.lives()[3].start, s.lives()[3].end), (1, 2000 * MS, FOREVER));
    assert_eq!(s.lives_of(1), [1, 3]);
    assert_eq!((s.life_at(1, 1049 * MS), s.life_at(1, 1500 * MS), s.life_at(1, 2000 * MS)), (1, 1, 3));
    // lives n1, n2 (until 1050), n3, n2 again (from 2000): the copy to n2 would land at 1100, after its death
    assert_eq!(holds(&h.h, &c, 0, 1000), [Some(1000), None, Some(1100), Some(2000)]);
    // added on n2 before its death: copies leave at once and outlive their sender
    assert_eq!(holds(&h.h, &c, 1, 1000), [Some(1100), Some(1000), Some(1100), Some(2000)]);
    // added on n2 while it is down: taken by its next life, which restarts empty at 2000
    assert_eq!(holds(&h.h, &c, 1, 1500), [Some(2100), None, Some(2100), Some(2000)]);
    let shading = s.shading();
    assert_eq!(shading, [(FaultKind::Kill, 1050 * MS, 2000 * MS)]);
}

#[test]
fn nemesis_values_may_name_nodes_as_a_string_a_list_or_a_map_and_unknown_names_are_ignored() {
    let c = cluster(3, 0);
    let mut h = Hist::new();
    h.fault(F::Kill, 10, 10, json!("n1"));
    h.fault(F::Kill, 20, 20, json!({"n2": "killed", "n9": "killed"}));
    h.fault(F::Pause, 30, 30, json!(["n3", "zz"]));
    let s = FaultSchedule::from_history(&h.h, &c.nodes);
    assert_eq!(s.lives().iter().map(|l| l.end / MS).collect::<Vec<_>>(), [10, 20, FOREVER / MS]);
    assert_eq!(s.lives()[2].pauses, [(30 * MS, FOREVER)]);
    assert_eq!(s.first_run(2, 30 * MS), Some(30 * MS), "a node still runs at the instant it is paused");
    assert_eq!(s.first_run(2, 31 * MS), None, "paused to the end");
    assert_eq!(s.first_run(0, 10 * MS), Some(10 * MS), "and is alive at the instant it is killed");
    assert_eq!(s.first_run(0, 10 * MS + 1), None);
}

/// Two nodes, one client thread each (process 0 → n1, 1 → n2), 100 ms apart.
fn two_node_run() -> Hist {
    let mut h = Hist::new();
    h.invoke(0, F::Broadcast, json!(1), 0);
    h.ok(0, F::Broadcast, json!(1), 1); // known at 1 ms
    h.invoke(1, F::Read, Value::Null, 50); // before any copy could land: ideally absent too
    h.ok(1, F::Read, json!([]), 51);
    h.invoke(1, F::Read, Value::Null, 150); // n2 could have held it since 100 ms: 50 ms stale
    h.ok(1, F::Read, json!([]), 151);
    h.invoke(1, F::Read, Value::Null, 300);
    h.ok(1, F::Read, json!([1]), 301);
    h
}

#[test]
fn replay_measures_ideal_stable_latency_excess_and_staleness_exactly() {
    let h = two_node_run();
    let observed = set_full::check(&h.h).unwrap();
    assert_eq!(observed.elements[0].stable_latency, Some(149)); // trunc(150 ms + 1 ns − 1 ms)
    let r = ideal::check(&h.h, &observed, &cluster(2, 100));
    assert_eq!(r.floor_ms, Some(100));
    assert_eq!(r.stable_latencies, [49]); // the last ideally-absent read is the one invoked at 50 ms
    assert_eq!(r.excess.len(), 1);
    assert_eq!((r.excess[0].observed, r.excess[0].ideal, r.excess[0].excess()), (149, 49, 100));
    assert_eq!(r.staleness_ms, [50], "only n2 was read");
    assert_eq!((r.worst_staleness[0].node.as_str(), r.worst_staleness[0].ms), ("n2", 50));
    assert_eq!((r.early_read_count, r.lost.len(), r.lacking.len()), (0, 0, 0));
    assert_eq!((r.worst_excess_ms(), r.worst_staleness_ms()), (Some(100), Some(50)));
    let edn = r.to_edn();
    assert_eq!(edn.get("excess").unwrap().to_edn(), "{0 100, 0.5 100, 0.95 100, 0.99 100, 1 100}");
    assert_eq!(edn.get("staleness").unwrap().to_edn(), "{0 50, 0.5 50, 0.95 50, 0.99 50, 1 50}");
    assert_eq!(edn.get("worst-staleness").unwrap().to_edn(), r#"[{:element 1, :node "n2", :staleness 50}]"#);
    assert_eq!(edn.get("early-read-count").and_then(|e| e.as_int()), Some(0));
    assert!(edn.get("early-reads").is_none());
}

#[test]
fn with_zero_latency_and_no_faults_the_ideal_stable_latency_is_zero() {
    let h = two_node_run();
    let observed = set_full::check(&h.h).unwrap();
    let r = ideal::check(&h.h, &observed, &cluster(2, 0));
    assert_eq!(r.stable_latencies, [0]);
    assert_eq!(r.excess[0].excess(), 149);
    assert_eq!(r.staleness_ms, [150], "n2 could have held it from 0 ms; its read invoked at 150 ms lacked it");
}

#[test]
fn a_read_that_returns_an_element_before_it_could_arrive_is_an_early_read() {
    let mut h = Hist::new();
    h.invoke(0, F::Add, json!(7), 0);
    h.ok(0, F::Add, json!(7), 1);
    h.invoke(1, F::Read, Value::Null, 60);
    h.ok(1, F::Read, json!([7]), 61); // 100 ms latency: n2 cannot have it before 100 ms
    let observed = set_full::check(&h.h).unwrap();
    let r = ideal::check(&h.h, &observed, &cluster(2, 100));
    assert_eq!(r.early_read_count, 1);
    assert_eq!(r.early_reads[0].node, "n2");
    assert_eq!(r.early_reads[0].read, 3);
    // with the right latency it is explained
    assert_eq!(ideal::check(&h.h, &observed, &cluster(2, 50)).early_read_count, 0);
}

#[test]
fn an_element_no_copy_could_carry_is_lost_even_ideally_and_the_lacking_nodes_are_named() {
    // n2 drops n1 from the start, for good; n1 is killed right after acknowledging the add.
    let mut h = Hist::new();
    h.fault(F::StartPartition, 0, 0, isolate("n2", &["n1"]));
    h.invoke(0, F::Add, json!(3), 10);
    h.ok(0, F::Add, json!(3), 11);
    h.invoke(0, F::Read, Value::Null, 12);
    h.ok(0, F::Read, json!([3]), 13);
    h.fault(F::Kill, 20, 20, json!(["n1"]));
    h.invoke(1, F::Read, Value::Null, 500);
    h.ok(1, F::Read, json!([]), 501);
    let observed = set_full::check(&h.h).unwrap();
    assert_eq!(observed.count(set_full::Outcome::Lost), 1);
    let r = ideal::check(&h.h, &observed, &cluster(2, 100));
    assert_eq!(r.lost, [json!(3)]);
    assert!(r.stable_latencies.is_empty() && r.excess.is_empty());
    assert_eq!(r.lacking, [(json!(3), vec!["n2".to_owned()])], "n1's last read had it");
    assert_eq!(r.staleness_ms, [0, 0], "n2 never could have held it");
    assert!(r.worst_staleness.is_empty());
}

#[test]
fn results_carry_the_ideal_map_after_the_workload_and_expose_the_worst_figures() {
    let h = two_node_run();
    let mut config = CheckConfig { workload: Workload::Broadcast, availability: None, cluster: None };
    let without = check(&config, &h.h, &NetStats::default(), &[]);
    assert!(without.ideal().is_none() && without.edn().get("ideal").is_none());
    config.cluster = Some(cluster(2, 100));
    let r = check(&config, &h.h, &NetStats::default(), &[]);
    assert_eq!((r.worst_excess_ms(), r.worst_staleness_ms()), (Some(100), Some(50)));
    let edn = r.edn();
    let crate::checker::Edn::Map(entries) = &edn else { panic!("the results are a map") };
    let keys: Vec<String> = entries.iter().map(|(k, _)| k.to_edn()).collect();
    let at = |k: &str| keys.iter().position(|x| x == k).unwrap();
    assert_eq!(at(":ideal"), at(":workload") + 1);
    assert!(edn.get_in(&["ideal", "about"]).unwrap().to_edn().contains("osmosis extension"));
    assert_eq!(r.valid(), without.valid(), "the extension never changes the verdict");
    // counters have no ideal
    config.workload = Workload::GCounter;
    assert!(check(&config, &h.h, &NetStats::default(), &[]).ideal().is_none());
}

#[test]
fn staleness_is_listed_per_element_and_node_and_the_worst_come_largest_first() {
    let mut h = Hist::new();
    h.invoke(0, F::Broadcast, json!(1), 0);
    h.ok(0, F::Broadcast, json!(1), 1);
    h.invoke(1, F::Read, Value::Null, 150); // n2 lacks 1, 50 ms after it could have had it
    h.ok(1, F::Read, json!([]), 151);
    h.invoke(2, F::Read, Value::Null, 250); // n3 lacks 1: 150 ms
    h.ok(2, F::Read, json!([]), 251);
    h.invoke(0, F::Broadcast, json!(2), 300);
    h.ok(0, F::Broadcast, json!(2), 301);
    h.invoke(1, F::Read, Value::Null, 500); // n2 lacks 2: 100 ms
    h.ok(1, F::Read, json!([1]), 501);
    for p in 0..3 {
        h.invoke(p, F::Read, Value::Null, 600);
        h.ok(p, F::Read, json!([1, 2]), 601);
    }
    let observed = set_full::check(&h.h).unwrap();
    let r = ideal::check(&h.h, &observed, &cluster(3, 100));
    // element 1 on n1, n2, n3, then element 2 on n1, n2, n3 (n3's read at 250 ms came before 2 existed, its last one
    // had it)
    assert_eq!(r.staleness_ms, [0, 50, 150, 0, 100, 0]);
    let worst: Vec<(Value, &str, u64)> =
        r.worst_staleness.iter().map(|s| (s.element.clone(), s.node.as_str(), s.ms)).collect();
    assert_eq!(worst, [(json!(1), "n3", 150), (json!(2), "n2", 100), (json!(1), "n2", 50)]);
}

#[test]
fn a_partition_still_in_force_when_another_ends_never_lapses() {
    // A random partition (n1 | n2 n3) from 100 ms to 300 ms overlaps a targeted cut of n3 from 200 ms to 500 ms.
    // When the random one ends, the harness records a stop and, at the same instant, a start of what remains.
    let c = cluster(3, 100);
    let mut h = Hist::new();
    h.fault(F::StartPartition, 100, 101, json!(["isolated", {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}]));
    h.fault(F::StartPartition, 200, 200, isolate("n3", &["n1", "n2"]));
    h.fault(F::StopPartition, 300, 300, json!("network-healed"));
    h.fault(F::StartPartition, 300, 300, isolate("n3", &["n1", "n2"]));
    h.fault(F::StopPartition, 500, 500, json!("network-healed"));
    let s = FaultSchedule::from_history(&h.h, &c.nodes);
    let (n1, n2, n3) = (0, 1, 2);
    assert_eq!(s.first_accept(n2, n1, 250 * MS), 300 * MS, "the random partition's grudge lifts at its stop");
    assert_eq!(s.first_accept(n2, n1, 300 * MS), 300 * MS);
    assert_eq!(s.first_accept(n3, n1, 250 * MS), 500 * MS, "the cut's does not, though a stop was recorded");
    assert_eq!(s.first_accept(n3, n2, 300 * MS), 500 * MS);
    assert_eq!(s.first_accept(n3, n2, 150 * MS), 150 * MS, "n3 heard n2 before the cut");
    assert_eq!(holds(&h.h, &c, n1, 250), [Some(250), Some(350), Some(500)]);
    assert_eq!(s.shading(), [(FaultKind::Partition, 101 * MS, 500 * MS)]);
    // A stop and a start at different instants are two partitions, with the gap between them.
    let mut h = Hist::new();
    h.fault(F::StartPartition, 100, 100, isolate("n3", &["n1", "n2"]));
    h.fault(F::StopPartition, 300, 300, json!("network-healed"));
    h.fault(F::StartPartition, 301, 301, isolate("n3", &["n1", "n2"]));
    let s = FaultSchedule::from_history(&h.h, &c.nodes);
    assert_eq!(s.first_accept(n3, n1, 250 * MS), 300 * MS);
    assert_eq!(s.first_accept(n3, n1, 302 * MS), FOREVER);
}

#[test]
fn a_fault_applies_to_the_nodes_its_completion_names() {
    let c = cluster(3, 0);
    let mut h = Hist::new();
    // asked to pause n1 and n2; n1 was still starting, so only n2 was paused
    h.push_fault(F::Pause, 10, json!(["n1", "n2"]), json!(["n2"]));
    // asked to kill n3, which the completion says changed nothing
    h.push_fault(F::Kill, 20, json!(["n3"]), json!([]));
    let s = FaultSchedule::from_history(&h.h, &c.nodes);
    assert!(s.lives()[0].pauses.is_empty());
    assert_eq!(s.lives()[1].pauses, [(10 * MS, FOREVER)]);
    assert_eq!(s.lives()[2].end, FOREVER);
}
