//! Ordering and identity of JSON values the way the Clojure checkers see them.
//!
//! * [`clojure_compare`] is `clojure.core/compare` on decoded JSON: numbers compare numerically (a long and a
//!   double compare as doubles), strings by UTF-16 code units, booleans `false < true`, arrays (vectors) by length
//!   then element-wise, `nil` below everything. Anything else (a number against a string, any JSON object)
//!   throws `ClassCastException` in Clojure; here it is an `Err`, which the checkers turn into `:valid? :unknown`.
//! * [`ValueKey`] is value *equality* (Clojure `=`, where `1` and `1.0` differ), with an arbitrary but fixed total
//!   order so values can key a `BTreeMap`.

use std::cmp::Ordering;

use serde_json::Value;

/// `clojure.core/compare` on two decoded JSON values; `Err` where Clojure would throw.
pub fn clojure_compare(a: &Value, b: &Value) -> Result<Ordering, String> {
    match (a, b) {
        (Value::Null, Value::Null) => Ok(Ordering::Equal),
        (Value::Null, _) => Ok(Ordering::Less),
        (_, Value::Null) => Ok(Ordering::Greater),
        (Value::Number(x), Value::Number(y)) => Ok(compare_numbers(x, y)),
        (Value::String(x), Value::String(y)) => Ok(x.encode_utf16().cmp(y.encode_utf16())),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Ok(x.len().cmp(&y.len()));
            }
            for (p, q) in x.iter().zip(y) {
                let o = clojure_compare(p, q)?;
                if o != Ordering::Equal {
                    return Ok(o);
                }
            }
            Ok(Ordering::Equal)
        }
        _ => Err(format!("cannot compare {a} with {b} (Clojure would throw ClassCastException)")),
    }
}

fn compare_numbers(x: &serde_json::Number, y: &serde_json::Number) -> Ordering {
    match (as_integer(x), as_integer(y)) {
        (Some(p), Some(q)) => p.cmp(&q),
        _ => {
            let p = x.as_f64().unwrap_or(f64::NAN);
            let q = y.as_f64().unwrap_or(f64::NAN);
            // Clojure: -1 if p < q, 1 if q < p, else 0 (so NaN compares equal to everything).
            p.partial_cmp(&q).unwrap_or(Ordering::Equal)
        }
    }
}

/// The number as an integer, if it is one (JSON integers only; `1.0` is a double).
pub fn as_integer(n: &serde_json::Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

/// Sorts values with [`clojure_compare`] (stable), failing like Clojure's `sort` on incomparable values.
pub fn clojure_sort(values: &mut [Value]) -> Result<(), String> {
    let mut err = None;
    values.sort_by(|a, b| {
        clojure_compare(a, b).unwrap_or_else(|e| {
            err.get_or_insert(e);
            Ordering::Equal
        })
    });
    err.map_or(Ok(()), Err)
}

/// A JSON value as a map key: equal keys ⇔ equal values (Clojure `=`: `1` ≠ `1.0`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ValueKey {
    /// An integer (the common case: broadcast and g-set elements, unique ids).
    Int(i128),
    /// Anything else, as its canonical JSON text (objects print with sorted keys).
    Other(String),
}

impl ValueKey {
    /// The key of a value.
    pub fn of(v: &Value) -> ValueKey {
        match v {
            Value::Number(n) => match as_integer(n) {
                Some(i) => ValueKey::Int(i),
                None => ValueKey::Other(v.to_string()),
            },
            _ => ValueKey::Other(v.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_numerically_across_long_and_double() {
        assert_eq!(clojure_compare(&json!(1), &json!(1.5)), Ok(Ordering::Less));
        assert_eq!(clojure_compare(&json!(2), &json!(2.0)), Ok(Ordering::Equal));
        assert_eq!(clojure_compare(&json!(u64::MAX), &json!(-1)), Ok(Ordering::Greater));
    }

    #[test]
    fn vectors_compare_by_length_first() {
        assert_eq!(clojure_compare(&json!([9]), &json!([1, 2])), Ok(Ordering::Less));
        assert_eq!(clojure_compare(&json!([1, 3]), &json!([1, 2])), Ok(Ordering::Greater));
    }

    #[test]
    fn nil_sorts_first_and_mixed_types_fail() {
        assert_eq!(clojure_compare(&Value::Null, &json!("a")), Ok(Ordering::Less));
        assert!(clojure_compare(&json!(1), &json!("1")).is_err());
        assert!(clojure_compare(&json!({}), &json!({})).is_err());
        let mut v = vec![json!(2), json!("x")];
        assert!(clojure_sort(&mut v).is_err());
    }

    #[test]
    fn strings_compare_by_utf16_code_units() {
        // U+FF5E (one UTF-16 unit 0xFF5E) sorts after U+1F600 (surrogates 0xD83D…) in Java, before it by code point.
        assert_eq!(clojure_compare(&json!("\u{FF5E}"), &json!("\u{1F600}")), Ok(Ordering::Greater));
    }

    #[test]
    fn value_keys_distinguish_long_from_double() {
        assert_ne!(ValueKey::of(&json!(1)), ValueKey::of(&json!(1.0)));
        assert_eq!(ValueKey::of(&json!({"a": 1, "b": 2})), ValueKey::of(&json!({"b": 2, "a": 1})));
    }
}
