use serde_json::json;

use crate::checker::Edn;
use crate::checker::edn::op_to_edn;
use crate::history::{F, Op, OpError, OpType, Process};

#[test]
fn atoms_render_as_clojure_prints_them() {
    assert_eq!(Edn::Nil.to_edn(), "nil");
    assert_eq!(Edn::kw("valid?").to_edn(), ":valid?");
    assert_eq!(Edn::Float(1.0).to_edn(), "1.0");
    assert_eq!(Edn::Float(0.95).to_edn(), "0.95");
    assert_eq!(Edn::Float32(0.1).to_edn(), "0.1");
    assert_eq!(Edn::Float(f64::NAN).to_edn(), "##NaN");
    assert_eq!(Edn::str("a\"b\\c\nd").to_edn(), r#""a\"b\\c\nd""#);
    assert_eq!(Edn::Int(-3).to_edn(), "-3");
    assert_eq!(Edn::Set(vec![Edn::Int(1), Edn::Int(2)]).to_edn(), "#{1 2}");
    assert_eq!(Edn::List(vec![]).to_edn(), "()");
}

#[test]
fn short_maps_stay_on_one_line_and_long_ones_break_per_entry() {
    let short = Edn::kw_map([("a", Edn::Int(1)), ("b", Edn::Bool(true))]);
    assert_eq!(short.to_edn(), "{:a 1, :b true}");
    let long = Edn::kw_map([
        ("first-rather-long-key", Edn::str("a fairly long string value")),
        ("second", Edn::kw_map([("nested", Edn::List((0..40).map(Edn::Int).collect()))])),
    ]);
    let text = long.to_edn();
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    assert!(text.starts_with("{:first-rather-long-key \"a fairly long string value\",\n :second {:nested (0 1 2"));
    // Packed atoms continue under the opening parenthesis.
    let second_line_of_list = text.lines().nth(2).unwrap();
    assert!(second_line_of_list.starts_with(&" ".repeat(19)), "{text}");
}

#[test]
fn json_uses_keyword_names_and_strings_for_unknown() {
    let v = Edn::kw_map([
        ("valid?", Edn::kw("unknown")),
        ("msgs-per-op", Edn::Float32(5.0125566)),
        ("stable-latencies", Edn::Map(vec![(Edn::Int(0), Edn::Int(1)), (Edn::Float(0.5), Edn::Int(2))])),
        ("lost", Edn::List(vec![Edn::Int(1)])),
        ("big", Edn::Int(i128::from(u64::MAX) + 1)),
    ]);
    assert_eq!(
        v.to_json(),
        json!({"valid?": "unknown", "msgs-per-op": 5.0125566, "stable-latencies": {"0": 1, "0.5": 2},
               "lost": [1], "big": "18446744073709551616"})
    );
    // serialising directly keeps the map order
    let text = serde_json::to_string(&v).unwrap();
    assert!(text.starts_with(r#"{"valid?":"unknown","msgs-per-op":5.0125566,"#), "{text}");
}

#[test]
fn ops_render_as_maps_in_edn_and_as_their_own_json() {
    let op = Op {
        index: 4,
        time: 12,
        op_type: OpType::Info,
        process: Process::Client(3),
        f: F::Broadcast,
        value: json!(1),
        final_read: false,
        error: Some(OpError::NetTimeout),
    };
    assert_eq!(
        op_to_edn(&op).to_edn_compact(),
        "{:index 4, :time 12, :type :info, :process 3, :f :broadcast, :value 1, :error :net-timeout}"
    );
    assert_eq!(Edn::op(&op).to_json(), serde_json::to_value(&op).unwrap());
}
