use serde_json::{Value, json};

use super::Hist;
use crate::checker::{CheckConfig, Edn, Validity, check};
use crate::diagnostic::Diagnostic;
use crate::history::F;
use crate::net::NetStats;
use crate::results::{exit_code, summary};
use crate::workload::Workload;

fn config(workload: Workload) -> CheckConfig {
    CheckConfig { workload, availability: None, cluster: None }
}

fn good_broadcast() -> Hist {
    let mut h = Hist::new();
    h.invoke(0, F::Broadcast, json!(0), 0);
    h.ok(0, F::Broadcast, json!(0), 1);
    h.invoke(1, F::Read, Value::Null, 2);
    let i = h.ok(1, F::Read, json!([0]), 3);
    h.final_read(i);
    h
}

#[test]
fn results_keys_come_in_the_documented_order() {
    let mut r = check(&config(Workload::Broadcast), &good_broadcast().h, &NetStats::default(), &[]);
    r.insert_extra("harness", Edn::kw_map([("seed", Edn::Int(42))]));
    let Edn::Map(entries) = r.edn() else { panic!("results are a map") };
    let keys: Vec<String> = entries.iter().map(|(k, _)| k.to_edn()).collect();
    assert_eq!(
        keys,
        [":perf", ":timeline", ":exceptions", ":stats", ":availability", ":net", ":workload", ":harness", ":valid?"]
    );
    assert_eq!(r.valid(), Validity::True);
    assert_eq!(exit_code(r.valid()), 0);
    assert!(summary(&r).ends_with("\n\nEverything looks good! ヽ(‘ー`)ノ\n"));
}

#[test]
fn json_results_nest_checker_maps_under_plain_names() {
    let r = check(&config(Workload::Broadcast), &good_broadcast().h, &NetStats::default(), &[]);
    let j = r.to_json();
    assert_eq!(j["valid?"], json!(true));
    assert_eq!(j["workload"]["lost-count"], json!(0));
    assert_eq!(j["workload"]["stable-count"], json!(1));
    assert_eq!(j["perf"], json!({"latency-graph": {"valid?": true}, "rate-graph": {"valid?": true}, "valid?": true}));
    assert_eq!(j["net"]["servers"]["msg-count"], json!(0));
    assert_eq!(j["stats"]["by-f"]["read"]["ok-count"], json!(1));
    assert_eq!(r.stable_latencies(), &[0]);
}

#[test]
fn overall_verdict_is_the_worst_and_diagnostics_do_not_change_it() {
    // every echo timed out: the echo checker passes, :stats fails
    let mut h = Hist::new();
    h.invoke(0, F::Echo, json!("x"), 0);
    h.info(0, F::Echo, json!("x"), 1);
    let diag = Diagnostic::new("n1", Some("garbage".into()), "not JSON");
    let r = check(&config(Workload::Echo), &h.h, &NetStats::default(), &[diag]);
    assert_eq!(r.section_valid("workload"), Some(Validity::True));
    assert_eq!(r.section_valid("stats"), Some(Validity::False));
    assert_eq!(r.valid(), Validity::False);
    assert_eq!(r.diagnostics(), ["n1: not JSON (line: garbage)"]);
    assert_eq!(r.to_json()["diagnostics"], json!(["n1: not JSON (line: garbage)"]));
    assert_eq!(exit_code(r.valid()), 1);

    let good = check(&config(Workload::Broadcast), &good_broadcast().h, &NetStats::default(), &[]);
    assert_eq!(good.valid(), Validity::True);
}

#[test]
fn a_checker_that_cannot_finish_is_unknown_with_an_error() {
    let mut h = Hist::new();
    h.invoke(0, F::Generate, Value::Null, 0);
    h.ok(0, F::Generate, json!(1), 1);
    h.invoke(1, F::Generate, Value::Null, 0);
    h.ok(1, F::Generate, json!("x"), 1);
    let r = check(&config(Workload::UniqueIds), &h.h, &NetStats::default(), &[]);
    assert_eq!(r.valid(), Validity::Unknown);
    assert_eq!(r.to_json()["valid?"], json!("unknown"));
    assert!(r.workload_edn().get("error").is_some());
    assert!(summary(&r).ends_with("Errors occurred during analysis, but no anomalies found. ಠ~ಠ\n"));
    assert_eq!(exit_code(r.valid()), 2);
}

#[test]
fn counters_use_the_counter_checker_and_broadcast_with_nothing_stable_is_unknown() {
    let r = check(&config(Workload::PnCounter), &Hist::new().h, &NetStats::default(), &[]);
    assert_eq!(r.workload_edn().to_edn(), "{:valid? true, :errors nil, :final-reads (), :acceptable ([0 0])}");
    let r = check(&config(Workload::GSet), &Hist::new().h, &NetStats::default(), &[]);
    assert_eq!(r.valid(), Validity::Unknown);
}

#[test]
#[should_panic(expected = "reserved")]
fn extras_cannot_shadow_checker_keys() {
    let mut r = check(&config(Workload::Echo), &Hist::new().h, &NetStats::default(), &[]);
    r.insert_extra("net", Edn::Nil);
}
