//! The body of a log record: one local write's delta, in binary (the framing around it, length and checksum, is
//! [`crate::storage`]'s).
//!
//! ```text
//! u8        1 (the binary form; the JSON bodies of earlier versions begin with '{')
//! varint    the number of sets with integers, then per set in name order:
//!             u8 name length, name (checked like any object name)
//!             varint count, then the integers ascending: the first, then each one's gap to the one before (≥ 1)
//! rest      what else the delta holds (the sets' other values, the counters) as the JSON of an `Objects`,
//!           or nothing
//! ```
//!
//! Varints are LEB128 (7 bits a byte, low first, at most 10 bytes for a u64). Why binary: the JSON records of
//! earlier versions cost little to parse, but each one decoded into a treemap of its own, which the replay then
//! walked, freed and rebuilt — for a million scattered integers in 100 records, 1.1–2.2 CPU-s of allocation
//! (a restart after `kill -9` took 9 s under load). Decoded here, a record's integers go straight into one sorted
//! run per set, and the replay builds each set's treemap once ([`crate::snapshot::Parts`]). The gap coding also
//! makes a sequential write one byte per integer; scattered 64-bit integers take 8–9 bytes, as in JSON.
//!
//! Decoding is for the daemon's own files, but still never panics or trusts a count for an allocation: counts
//! are bounded by the bytes left, gaps must be positive and must not overflow, names must be valid and ascend.

use std::collections::BTreeMap;

use osmosis_crdt::{GSet, JsonSet};
use serde::Serialize;

use crate::objects::{Counter, Objects, check_name};

/// The first byte of a binary body.
pub const BINARY: u8 = 1;

/// A decoded body: each set's integers (ascending, no duplicates) and everything else.
#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    /// Set name → its integers in this record.
    pub ints: Vec<(String, Vec<u64>)>,
    /// The rest of the delta (no integers).
    pub rest: Objects,
}

/// The rest's wire form, borrowed: `Objects`' own JSON (`{"sets": …, "counters": …}`).
#[derive(Serialize)]
struct Rest<'a> {
    sets: BTreeMap<&'a str, JsonSet>,
    counters: &'a BTreeMap<String, Counter>,
}

/// Encodes `delta` as a binary body.
pub fn encode(delta: &Objects) -> Vec<u8> {
    let with_ints: Vec<(&String, &JsonSet)> = delta.sets().iter().filter(|(_, s)| !s.ints().is_empty()).collect();
    let mut out = Vec::with_capacity(16 + with_ints.iter().map(|(_, s)| s.ints().len() as usize * 9).sum::<usize>());
    out.push(BINARY);
    put_varint(&mut out, with_ints.len() as u64);
    for (name, set) in with_ints {
        // Object names are at most 128 bytes (objects::MAX_NAME_LEN).
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        put_varint(&mut out, set.ints().len());
        let mut prev = None;
        for x in set.ints().iter() {
            put_varint(&mut out, prev.map_or(x, |p| x - p));
            prev = Some(x);
        }
    }
    let sets: BTreeMap<&str, JsonSet> = delta
        .sets()
        .iter()
        .filter(|(_, s)| !s.other().is_empty())
        .map(|(n, s)| (n.as_str(), JsonSet::from_parts(GSet::new(), s.other().clone())))
        .collect();
    if !sets.is_empty() || !delta.counters().is_empty() {
        let rest = Rest { sets, counters: delta.counters() };
        serde_json::to_writer(&mut out, &rest).expect("objects always encode");
    }
    out
}

/// Decodes a body: the binary form, or the JSON of an `Objects` written by earlier versions.
pub fn decode(body: &[u8]) -> Result<Decoded, String> {
    match body.first() {
        Some(&BINARY) => decode_binary(&body[1..]),
        Some(b'{') => {
            let delta: Objects = serde_json::from_slice(body).map_err(|e| format!("a JSON record: {e}"))?;
            let (rest, ints) = delta.take_ints();
            Ok(Decoded { ints: ints.into_iter().filter(|(_, xs)| !xs.is_empty()).collect(), rest })
        }
        Some(b) => Err(format!("unknown record form {b:#04x} (written by a newer version?)")),
        None => Err("an empty record".into()),
    }
}

fn decode_binary(mut r: &[u8]) -> Result<Decoded, String> {
    let sets = get_varint(&mut r)?;
    let mut ints: Vec<(String, Vec<u64>)> = Vec::new();
    for _ in 0..sets {
        let (&len, tail) = r.split_first().ok_or("the record ends in a set name")?;
        let len = usize::from(len);
        if tail.len() < len {
            return Err("the record ends in a set name".into());
        }
        let name = std::str::from_utf8(&tail[..len]).map_err(|_| "a set name is not UTF-8")?;
        check_name(name)?;
        if ints.last().is_some_and(|(last, _)| last.as_str() >= name) {
            return Err(format!("set {name:?} is out of order or repeated"));
        }
        r = &tail[len..];
        let count = get_varint(&mut r)?;
        // Every integer takes at least one byte.
        if count > r.len() as u64 {
            return Err(format!("set {name:?}: {count} integers in {} bytes", r.len()));
        }
        let mut xs = Vec::with_capacity(count as usize);
        let mut prev: Option<u64> = None;
        for _ in 0..count {
            let v = get_varint(&mut r)?;
            let x = match prev {
                None => v,
                Some(_) if v == 0 => return Err(format!("set {name:?}: the integers do not ascend")),
                Some(p) => p.checked_add(v).ok_or_else(|| format!("set {name:?}: an integer overflows"))?,
            };
            xs.push(x);
            prev = Some(x);
        }
        if xs.is_empty() {
            return Err(format!("set {name:?} has no integers"));
        }
        ints.push((name.to_string(), xs));
    }
    let rest = if r.is_empty() {
        Objects::new()
    } else {
        let rest: Objects = serde_json::from_slice(r).map_err(|e| format!("the record's rest: {e}"))?;
        if rest.sets().values().any(|s| !s.ints().is_empty()) {
            return Err("the record's rest holds integers".into());
        }
        rest
    };
    Ok(Decoded { ints, rest })
}

fn put_varint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

fn get_varint(r: &mut &[u8]) -> Result<u64, String> {
    let mut x = 0u64;
    for i in 0..10 {
        let (&b, tail) = r.split_first().ok_or("the record ends in a number")?;
        *r = tail;
        let bits = u64::from(b & 0x7f);
        if i == 9 && bits > 1 {
            return Err("a number over 64 bits".into());
        }
        x |= bits << (7 * i);
        if b & 0x80 == 0 {
            return Ok(x);
        }
    }
    Err("a number over 64 bits".into())
}

#[cfg(test)]
mod tests {
    use osmosis_crdt::Lattice;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn objects(ints: &[(&str, Vec<u64>)], strings: &[(&str, &str)], counts: &[(&str, i64)]) -> Objects {
        let mut o = Objects::new();
        for (name, xs) in ints {
            let mut s = JsonSet::new();
            for x in xs {
                s.insert(&json!(x));
            }
            o.join(&Objects::with_set(name, s));
        }
        for (name, v) in strings {
            let mut s = JsonSet::new();
            s.insert(&json!(v));
            o.join(&Objects::with_set(name, s));
        }
        for (name, n) in counts {
            let mut c = Counter::new();
            c.add("n1".to_string(), *n).unwrap();
            o.join(&Objects::with_counter(name, c));
        }
        o
    }

    /// What decoding gives back, joined into one `Objects`.
    fn joined(d: Decoded) -> Objects {
        let mut o = d.rest;
        for (name, xs) in d.ints {
            let mut s = JsonSet::new();
            for x in xs {
                s.insert(&json!(x));
            }
            o.join(&Objects::with_set(&name, s));
        }
        o
    }

    proptest! {
        #[test]
        fn a_record_decodes_to_the_delta_it_was_encoded_from(
            a in proptest::collection::vec(any::<u64>(), 0..40),
            b in proptest::collection::vec(0u64..1000, 0..40),
            strings in proptest::collection::vec("[a-z]{0,6}", 0..4),
            count in any::<i32>(),
        ) {
            let strings: Vec<(&str, &str)> = strings.iter().map(|s| ("b", s.as_str())).collect();
            let counts = if count == 0 { vec![] } else { vec![("c", i64::from(count))] };
            let delta = objects(&[("a", a), ("b", b)], &strings, &counts);
            let body = encode(&delta);
            prop_assert_eq!(body[0], BINARY);
            let back = decode(&body).unwrap();
            prop_assert!(back.ints.iter().all(|(_, xs)| xs.windows(2).all(|w| w[0] < w[1])));
            prop_assert!(back.rest.sets().values().all(|s| s.ints().is_empty()));
            prop_assert_eq!(joined(back), delta);
        }
    }

    #[test]
    fn a_json_record_of_an_earlier_version_still_decodes() {
        let delta = objects(&[("s", vec![3, 1 << 60])], &[("s", "x")], &[("c", -4)]);
        let body = serde_json::to_vec(&delta).unwrap();
        assert_eq!(joined(decode(&body).unwrap()), delta);
    }

    #[test]
    fn sequential_integers_take_a_byte_each() {
        let delta = objects(&[("s", (1000..11_000).collect())], &[], &[]);
        let body = encode(&delta);
        assert!(body.len() < 10_000 + 16, "{} bytes", body.len());
    }

    #[test]
    fn damaged_bodies_are_errors_never_panics() {
        let delta = objects(&[("a", vec![1, 5, u64::MAX]), ("b", vec![7])], &[("b", "x")], &[("c", 2)]);
        let body = encode(&delta);
        for cut in 0..body.len() {
            // A cut inside the JSON rest, or one that drops only the rest, may still decode: to something else.
            if let Ok(d) = decode(&body[..cut]) {
                assert_ne!(joined(d), delta, "cut at {cut}");
            }
        }
        for bad in [
            vec![],
            vec![9],
            vec![BINARY, 1, 3, b'a', b' ', b'b', 1, 1],    // a bad name
            vec![BINARY, 2, 1, b'b', 1, 1, 1, b'a', 1, 1], // names out of order
            vec![BINARY, 1, 1, b'a', 2, 5, 0],             // a zero gap
            vec![BINARY, 1, 1, b'a', 0],                   // no integers
            vec![BINARY, 1, 1, b'a', 200, 1, 1],           // a count over the bytes left
            [vec![BINARY, 1, 1, b'a', 2], vec![0xff; 9], vec![1], vec![1]].concat(), // u64::MAX + 1
            [vec![BINARY, 1, 1, b'a', 1], vec![0xff; 10], vec![1]].concat(), // an 11-byte varint
            [vec![BINARY, 0], br#"{"sets":{"a":{"ints":[1],"other":[]}}}"#.to_vec()].concat(),
        ] {
            assert!(decode(&bad).is_err(), "{bad:?}");
        }
    }
}
