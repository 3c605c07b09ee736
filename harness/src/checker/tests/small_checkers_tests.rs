use serde_json::{Value, json};

use super::Hist;
use crate::checker::{AvailabilityReq, Edn, Validity, availability, echo, exceptions, net, stats, unique_ids};
use crate::history::F;
use crate::net::NetStats;
use crate::net::stats::GroupStats;

#[test]
fn stats_are_invalid_when_some_f_never_succeeded() {
    let mut h = Hist::new();
    h.invoke(0, F::Echo, json!("a"), 0);
    h.info(0, F::Echo, json!("a"), 1);
    let r = stats::check(&h.h);
    assert_eq!(r.valid(), Validity::False);
    assert_eq!(
        r.to_edn().to_edn(),
        "{:valid? false,\n :count 1,\n :ok-count 0,\n :fail-count 0,\n :info-count 1,\n \
         :by-f {:echo {:valid? false,\n               :count 1,\n               :ok-count 0,\n               \
         :fail-count 0,\n               :info-count 1}}}"
    );
}

#[test]
fn stats_count_client_completions_by_f_and_skip_nemesis_and_invocations() {
    let mut h = Hist::new();
    h.nemesis(F::StartPartition, 0);
    h.nemesis(F::StartPartition, 0);
    h.invoke(0, F::Read, Value::Null, 1);
    h.fail(0, F::Read, Value::Null, 2);
    h.invoke(0, F::Read, Value::Null, 3);
    h.ok(0, F::Read, json!([]), 4);
    h.invoke(1, F::Broadcast, json!(1), 1);
    h.ok(1, F::Broadcast, json!(1), 2);
    let r = stats::check(&h.h);
    assert_eq!(r.valid(), Validity::True);
    assert_eq!((r.all.count(), r.all.ok, r.all.fail, r.all.info), (3, 2, 1, 0));
    assert_eq!(r.by_f.keys().copied().collect::<Vec<_>>(), vec!["broadcast", "read"]);
    assert_eq!(stats::check(&Hist::new().h).valid(), Validity::True);
}

#[test]
fn availability_is_the_ok_fraction_of_invocations_against_the_requirement() {
    let mut h = Hist::new();
    for p in 0..4 {
        h.invoke(p, F::Generate, Value::Null, 0);
        if p < 3 {
            h.ok(p, F::Generate, json!(p), 1);
        } else {
            h.info(p, F::Generate, Value::Null, 1);
        }
    }
    h.nemesis(F::StartPartition, 2);
    let none = availability::check(&h.h, None);
    assert_eq!(none.ok_fraction, Some(0.75));
    assert!(none.valid);
    assert!(!availability::check(&h.h, Some(AvailabilityReq::Total)).valid);
    assert!(availability::check(&h.h, Some(AvailabilityReq::AtLeast(0.75))).valid);
    assert!(!availability::check(&h.h, Some(AvailabilityReq::AtLeast(0.76))).valid);
    assert_eq!(none.to_edn().to_edn(), "{:valid? true, :ok-fraction 0.75}");
}

#[test]
fn availability_without_invocations_is_the_integer_one_and_total_holds() {
    let r = availability::check(&Hist::new().h, Some(AvailabilityReq::Total));
    assert!(r.valid);
    assert_eq!(r.to_edn().to_edn(), "{:valid? true, :ok-fraction 1}");
}

fn stats_of(all: u64, clients: u64) -> NetStats {
    let g = |n| GroupStats { send_count: n, recv_count: n, msg_count: n, bytes: 10 * n };
    NetStats { all: g(all), clients: g(clients), servers: g(all - clients) }
}

#[test]
fn msgs_per_op_is_msg_count_over_client_invocations_as_f32() {
    let mut h = Hist::new();
    for i in 0..1991 {
        h.invoke(i % 5, F::Read, Value::Null, i);
        h.ok(i % 5, F::Read, json!([]), i);
    }
    h.nemesis(F::StartPartition, 0); // not an op
    assert_eq!(net::op_count(&h.h), 1991);
    let edn = net::to_edn(&stats_of(13982, 4002), &h.h);
    // the figures of spec §10's skeleton (docs): 13982 / 1991 and 9980 / 1991 as 32-bit floats
    assert_eq!(edn.get_in(&["all", "msgs-per-op"]), Some(&Edn::Float32(13982.0 / 1991.0)));
    assert_eq!(edn.get_in(&["all", "msgs-per-op"]).unwrap().to_edn(), "7.0226016");
    assert_eq!(edn.get_in(&["servers", "msgs-per-op"]).unwrap().to_edn(), "5.0125566");
    assert!(edn.get_in(&["clients", "msgs-per-op"]).is_none());
    assert_eq!(edn.get("valid?"), Some(&Edn::Bool(true)));
    // the extension: bytes for every group, per op where msgs-per-op is
    assert_eq!(edn.get_in(&["servers", "bytes"]).and_then(Edn::as_int), Some(99800));
    assert_eq!(edn.get_in(&["servers", "bytes-per-op"]), Some(&Edn::Float32((99800.0 / 1991.0) as f32)));
    assert_eq!(edn.get_in(&["clients", "bytes"]).and_then(Edn::as_int), Some(40020));
    assert!(edn.get_in(&["clients", "bytes-per-op"]).is_none());
    let text = edn.get("servers").unwrap().to_edn().replace("\n", "");
    assert!(text.starts_with("{:send-count 9980, :recv-count 9980, :msg-count 9980, :msgs-per-op"), "{text}");
    assert!(text.ends_with(":bytes 99800, :bytes-per-op 50.125565}"), "{text}");
}

#[test]
fn msgs_per_op_is_omitted_without_client_invocations() {
    let edn = net::to_edn(&stats_of(20, 20), &Hist::new().h);
    assert!(edn.get_in(&["all", "msgs-per-op"]).is_none());
    assert!(edn.get_in(&["servers", "msgs-per-op"]).is_none());
    assert_eq!(edn.get_in(&["all", "msg-count"]).and_then(Edn::as_int), Some(20));
}

#[test]
fn echo_checks_ok_and_fail_completions_and_ignores_timeouts() {
    let mut h = Hist::new();
    h.invoke(0, F::Echo, json!("Please echo 1"), 0);
    h.ok(0, F::Echo, json!({"type": "echo_ok", "echo": "Please echo 1", "in_reply_to": 1}), 1);
    h.invoke(1, F::Echo, json!("Please echo 2"), 0);
    h.info(1, F::Echo, json!("Please echo 2"), 1); // timed out: not paired
    h.invoke(6, F::Echo, json!("Please echo 3"), 2);
    h.ok(6, F::Echo, json!({"type": "echo_ok", "echo": "Please echo 4", "in_reply_to": 1}), 3);
    h.invoke(2, F::Echo, json!("Please echo 5"), 2);
    h.fail(2, F::Echo, json!("Please echo 5"), 3); // a :fail never carries :echo
    let r = echo::check(&h.h);
    assert_eq!(r.errors.len(), 2);
    assert_eq!(r.errors[0].sent, json!("Please echo 3"));
    assert_eq!(
        r.to_edn().get("errors").unwrap().to_edn_compact(),
        "([\"Expected a message with :echo\" \"Please echo 3\" \"But received\" \
         {:echo \"Please echo 4\", :in_reply_to 1, :type \"echo_ok\"}] \
         [\"Expected a message with :echo\" \"Please echo 5\" \"But received\" \"Please echo 5\"])"
    );
    let mut good = Hist::new();
    good.invoke(0, F::Echo, json!("x"), 0);
    good.info(0, F::Echo, json!("x"), 1);
    assert!(echo::check(&good.h).valid());
}

#[test]
fn unique_ids_counts_duplicates_and_reports_the_range() {
    let mut h = Hist::new();
    for (p, id) in [(0, 5), (1, 3), (2, 5), (3, 9), (4, 5), (5, 3)] {
        h.invoke(p, F::Generate, Value::Null, 0);
        h.ok(p, F::Generate, json!(id), 1);
    }
    h.invoke(6, F::Generate, Value::Null, 0);
    h.info(6, F::Generate, Value::Null, 1);
    let r = unique_ids::check(&h.h).unwrap();
    assert_eq!((r.attempted_count, r.acknowledged_count, r.duplicated_count), (7, 6, 2));
    assert!(!r.valid());
    assert_eq!(
        r.to_edn().to_edn(),
        "{:valid? false,\n :attempted-count 7,\n :acknowledged-count 6,\n :duplicated-count 2,\n \
         :duplicated {3 2, 5 3},\n :range [3 9]}"
    );
}

#[test]
fn unique_ids_shows_only_the_48_most_frequent_duplicates() {
    let mut h = Hist::new();
    // ids 0..60 each acknowledged twice, id 100 three times
    let ids = (0..60u64).flat_map(|i| [i, i]).chain([100, 100, 100]);
    for (p, id) in ids.enumerate() {
        h.invoke(p as u64, F::Generate, Value::Null, 0);
        h.ok(p as u64, F::Generate, json!(id), 1);
    }
    let r = unique_ids::check(&h.h).unwrap();
    assert_eq!(r.duplicated_count, 61);
    assert_eq!(r.duplicated.len(), 48);
    // 100 (3 times) first, then ties broken towards the larger ids (sort-by val, reverse)
    assert_eq!(r.duplicated.last(), Some(&(json!(100), 3)));
    assert_eq!(r.duplicated.first(), Some(&(json!(13), 2)));
}

#[test]
fn unique_ids_with_nothing_acknowledged_has_a_nil_range_and_mixed_types_fail() {
    let r = unique_ids::check(&Hist::new().h).unwrap();
    assert_eq!(r.to_edn().get("range").unwrap().to_edn(), "[nil nil]");
    assert!(r.valid());
    let mut h = Hist::new();
    for (p, id) in [(0, json!(1)), (1, json!("n1-1"))] {
        h.invoke(p, F::Generate, Value::Null, 0);
        h.ok(p, F::Generate, id, 1);
    }
    assert!(unique_ids::check(&h.h).is_err());
}

#[test]
fn exceptions_group_indeterminate_infos_by_message_head() {
    let mut h = Hist::new();
    h.invoke(0, F::Add, json!(1), 0);
    h.crash(0, F::Add, json!(1), 1, "Client read timeout");
    h.invoke(5, F::Add, json!(2), 0);
    h.crash(5, F::Add, json!(2), 1, "Malformed RPC response: extra key foo");
    h.invoke(10, F::Add, json!(3), 0);
    h.crash(10, F::Add, json!(3), 1, "Malformed RPC response: missing key type");
    h.invoke(1, F::Add, json!(4), 0);
    h.info(1, F::Add, json!(4), 1); // a :net-timeout is not an exception
    let groups = exceptions::check(&h.h);
    assert_eq!(
        groups.iter().map(|g| (g.class.as_str(), g.count)).collect::<Vec<_>>(),
        vec![("Malformed RPC response", 2), ("Client read timeout", 1)]
    );
    assert_eq!(groups[0].example.index, 3);
    assert_eq!(exceptions::to_edn(&[]).to_edn(), "{:valid? true}");
}
