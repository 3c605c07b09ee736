//! Strict JSON for stdin lines: numbers kept as written or refused, duplicate keys noticed.
//!
//! serde_json reads an integer beyond the 64-bit range as the nearest double (`18446744073709551616` becomes
//! `1.8446744073709552e19`), `-0` as the double `-0.0`, a number beyond the double range as an error for the whole
//! line, and an object with a repeated key as its last value. A node that acknowledged such a value would give back
//! something else. So before parsing, [`scan_numbers`] walks the line's number tokens (outside strings): `-0`
//! becomes `0` (Maelstrom's Clojure reads it as the integer 0), and an integer outside `i64`/`u64` or a number
//! outside the double range becomes `0` and is reported, so that the envelope still parses and a request can be
//! answered with an error naming it. [`parse`] then builds the `Value` and reports the first repeated key.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// `line` with `-0` written `0` and every number osmosis cannot keep exactly written `0`, and those numbers' texts
/// (at most a few, for error messages).
pub(crate) fn scan_numbers(line: &str) -> (Cow<'_, str>, Vec<String>) {
    let bytes = line.as_bytes();
    let mut out: Option<String> = None;
    let mut bad = Vec::new();
    let (mut i, mut copied) = (0, 0);
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b != b'-' && !b.is_ascii_digit() {
            i += 1;
            continue;
        }
        let end = token_end(bytes, i);
        let token = &line[i..end];
        if let Some(replacement) = replacement(token) {
            if replacement.is_bad && bad.len() < 4 {
                bad.push(token.chars().take(40).collect());
            }
            let text = out.get_or_insert_with(|| String::with_capacity(line.len()));
            text.push_str(&line[copied..i]);
            text.push('0');
            copied = end;
        }
        i = end;
    }
    match out {
        None => (Cow::Borrowed(line), bad),
        Some(mut text) => {
            text.push_str(&line[copied..]);
            (Cow::Owned(text), bad)
        }
    }
}

/// Where the run of number characters starting at `start` ends.
fn token_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start + 1;
    while end < bytes.len() && matches!(bytes[end], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
        end += 1;
    }
    end
}

/// Why a number token is rewritten.
struct Replacement {
    /// The number cannot be kept exactly (not just `-0`).
    is_bad: bool,
}

/// Whether `token` must be written `0`: `-0`, or a well-formed JSON number that is an integer outside the 64-bit
/// range or a number outside the double range. Malformed tokens are left for the parser to refuse.
fn replacement(token: &str) -> Option<Replacement> {
    let (int, frac, exp) = split_number(token)?;
    if frac.is_none() && exp.is_none() {
        if int == "-0" {
            return Some(Replacement { is_bad: false });
        }
        let fits = if int.starts_with('-') { int.parse::<i64>().is_ok() } else { int.parse::<u64>().is_ok() };
        return (!fits).then_some(Replacement { is_bad: true });
    }
    let finite = token.parse::<f64>().is_ok_and(f64::is_finite);
    (!finite).then_some(Replacement { is_bad: true })
}

/// A well-formed JSON number's integer part (sign included), fraction digits and exponent, or `None`.
fn split_number(token: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let (mantissa, exp) = match token.find(['e', 'E']) {
        Some(at) => (&token[..at], Some(&token[at + 1..])),
        None => (token, None),
    };
    let (int, frac) = match mantissa.find('.') {
        Some(at) => (&mantissa[..at], Some(&mantissa[at + 1..])),
        None => (mantissa, None),
    };
    let digits = int.strip_prefix('-').unwrap_or(int);
    let digits_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let int_ok = digits_ok(digits) && (digits == "0" || !digits.starts_with('0'));
    let exp_ok = exp.is_none_or(|e| digits_ok(e.strip_prefix(['+', '-']).unwrap_or(e)));
    (int_ok && frac.is_none_or(digits_ok) && exp_ok).then_some((int, frac, exp))
}

/// Parses `text` into a `Value`; also returns the first key found twice in one object (the value keeps the last).
pub(crate) fn parse(text: &str) -> Result<(Value, Option<String>), serde_json::Error> {
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict { dup: &dup }.deserialize(&mut de)?;
    de.end()?;
    Ok((value, dup.into_inner()))
}

/// A `Value` seed that records the first repeated key.
#[derive(Clone, Copy)]
struct Strict<'a> {
    dup: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            if m.contains_key(&key) {
                self.dup.borrow_mut().get_or_insert_with(|| key.chars().take(40).collect());
            }
            m.insert(key, value);
        }
        Ok(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scanned(line: &str) -> (String, Vec<String>) {
        let (text, bad) = scan_numbers(line);
        (text.into_owned(), bad)
    }

    #[test]
    fn numbers_that_fit_are_left_alone_and_nothing_is_copied() {
        let line =
            r#"{"a":[0,-1,18446744073709551615,-9223372036854775808,1.5,-0.0,1e300],"s":"-0 99999999999999999999"}"#;
        assert!(matches!(scan_numbers(line), (Cow::Borrowed(_), ref bad) if bad.is_empty()));
    }

    #[test]
    fn minus_zero_is_the_integer_zero() {
        assert_eq!(scanned(r#"{"msg_id":-0,"delta":[-0]}"#), (r#"{"msg_id":0,"delta":[0]}"#.into(), vec![]));
    }

    #[test]
    fn integers_beyond_64_bits_and_infinite_numbers_are_reported_and_zeroed() {
        let (text, bad) = scanned(r#"{"m":18446744073709551616,"n":-9223372036854775809,"f":1e400,"ok":7}"#);
        assert_eq!(text, r#"{"m":0,"n":0,"f":0,"ok":7}"#);
        assert_eq!(bad, ["18446744073709551616", "-9223372036854775809", "1e400"]);
    }

    #[test]
    fn strings_with_escaped_quotes_hide_their_digits() {
        let line = r#"{"s":"a\"-0\\","n":-0}"#;
        assert_eq!(scanned(line).0, r#"{"s":"a\"-0\\","n":0}"#);
    }

    #[test]
    fn malformed_numbers_are_left_for_the_parser() {
        for line in ["[-]", "[01]", "[1.]", "[1e]", "[--1]"] {
            let (text, bad) = scanned(line);
            assert_eq!((text.as_str(), bad.len()), (line, 0));
            assert!(parse(line).is_err(), "{line}");
        }
    }

    #[test]
    fn a_repeated_key_is_reported_and_the_value_is_still_built() {
        let (value, dup) = parse(r#"{"a":{"n2":1,"n2":2},"b":[{"x":1}]}"#).unwrap();
        assert_eq!(dup.as_deref(), Some("n2"));
        assert_eq!(value, json!({"a": {"n2": 2}, "b": [{"x": 1}]}));
        assert_eq!(parse(r#"{"a":1,"b":2}"#).unwrap().1, None);
        assert!(parse(r#"{"a":1} x"#).is_err(), "trailing characters");
    }
}
