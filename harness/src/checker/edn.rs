//! The results value tree: an EDN-shaped value that renders to pretty EDN (`results.edn`, the console) and to
//! JSON (`results.json`).
//!
//! Rendering rules (spec §10, §14 decisions 4–5):
//! * maps keep the order their entries were built in (each checker documents its key order);
//! * floats print in the shortest representation that reads back to the same value (`5.0125566`, `1.0`);
//! * keywords print as `:foo`, sets as `#{…}`, lists as `(…)`, vectors as `[…]`, `nil`, `true`, `false`;
//! * history operations print as plain EDN maps `{:index …, :time …, :type :ok, :process 0, :f :read, :value …}`
//!   (Jepsen prints them as `#jepsen.history.Op{…}` records; we leave the tag out so any EDN reader can read them).
//!
//! JSON rules: maps become objects whose keys are keyword names without the colon (other keys are rendered to
//! text: `0.5`, `"s"` → `s`); keywords become plain strings (so `:valid? :unknown` is `"valid?": "unknown"`);
//! vectors, lists and sets become arrays; history operations become their own JSON object (as in
//! `history.jsonl`); integers outside the 64-bit range become decimal strings; non-finite floats become `null`.
//! [`Edn`] implements [`serde::Serialize`] in this shape, keeping map order, which is how `results.json` is
//! written; [`Edn::to_json`] gives the same as a [`serde_json::Value`] (whose objects sort their keys).

use std::fmt::Write as _;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::history::{Op, OpError, Process};

/// Column width the pretty printer aims for.
const WIDTH: usize = 80;

/// An EDN value.
#[derive(Debug, Clone, PartialEq)]
pub enum Edn {
    /// `nil`
    Nil,
    /// `true` / `false`
    Bool(bool),
    /// An integer (wide enough for sums of many 64-bit deltas).
    Int(i128),
    /// A double.
    Float(f64),
    /// A 32-bit float (`:msgs-per-op`, `:ok-fraction`), printed in its own shortest form.
    Float32(f32),
    /// A string.
    Str(String),
    /// A keyword, stored without its colon.
    Keyword(String),
    /// `[…]`
    Vector(Vec<Edn>),
    /// `(…)`
    List(Vec<Edn>),
    /// `#{…}`, in the order given.
    Set(Vec<Edn>),
    /// `{…}` with ordered entries.
    Map(Vec<(Edn, Edn)>),
    /// A history operation.
    Op(Box<Op>),
}

impl Edn {
    /// A keyword from its name (`"valid?"` → `:valid?`).
    pub fn kw(name: &str) -> Edn {
        Edn::Keyword(name.to_owned())
    }

    /// A string.
    pub fn str(s: impl Into<String>) -> Edn {
        Edn::Str(s.into())
    }

    /// A map keyed by keywords, in the order given.
    pub fn kw_map<'a>(entries: impl IntoIterator<Item = (&'a str, Edn)>) -> Edn {
        Edn::Map(entries.into_iter().map(|(k, v)| (Edn::kw(k), v)).collect())
    }

    /// An unsigned count.
    pub fn count(n: usize) -> Edn {
        Edn::Int(n as i128)
    }

    /// A history operation.
    pub fn op(op: &Op) -> Edn {
        Edn::Op(Box::new(op.clone()))
    }

    /// The value under keyword `key` of a map (`None` for other values or a missing key).
    pub fn get(&self, key: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => {
                entries.iter().find(|(k, _)| matches!(k, Edn::Keyword(name) if name == key)).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// Follows a path of keywords through nested maps.
    pub fn get_in(&self, path: &[&str]) -> Option<&Edn> {
        path.iter().try_fold(self, |v, k| v.get(k))
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Edn::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// Converts a decoded JSON value (an op's `:value`): objects become maps with string keys, numbers stay
    /// integers when they are integers.
    pub fn from_json(value: &Value) -> Edn {
        match value {
            Value::Null => Edn::Nil,
            Value::Bool(b) => Edn::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Edn::Int(i128::from(i))
                } else if let Some(u) = n.as_u64() {
                    Edn::Int(i128::from(u))
                } else {
                    Edn::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => Edn::Str(s.clone()),
            Value::Array(items) => Edn::Vector(items.iter().map(Edn::from_json).collect()),
            Value::Object(map) => Edn::Map(map.iter().map(|(k, v)| (Edn::Str(k.clone()), Edn::from_json(v))).collect()),
        }
    }

    /// Renders as pretty-printed EDN (no trailing newline).
    pub fn to_edn(&self) -> String {
        let mut out = String::new();
        self.write_pretty(&mut out, 0);
        out
    }

    /// Renders as EDN on one line.
    pub fn to_edn_compact(&self) -> String {
        let mut out = String::new();
        self.write_compact(&mut out);
        out
    }

    /// Converts to JSON (see the module docs for the mapping).
    pub fn to_json(&self) -> Value {
        // Serialising an `Edn` into a `Value` cannot fail: every integer is range-checked first and every map key
        // is turned into a string.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    fn is_collection(&self) -> bool {
        matches!(self, Edn::Vector(_) | Edn::List(_) | Edn::Set(_) | Edn::Map(_) | Edn::Op(_))
    }

    fn write_compact(&self, out: &mut String) {
        match self {
            Edn::Nil => out.push_str("nil"),
            Edn::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Edn::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Edn::Float(x) => out.push_str(&float_edn(*x)),
            Edn::Float32(x) => out.push_str(&float32_edn(*x)),
            Edn::Str(s) => write_edn_string(out, s),
            Edn::Keyword(k) => {
                out.push(':');
                out.push_str(k);
            }
            Edn::Vector(items) => write_seq_compact(out, "[", "]", items),
            Edn::List(items) => write_seq_compact(out, "(", ")", items),
            Edn::Set(items) => write_seq_compact(out, "#{", "}", items),
            Edn::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.write_compact(out);
                    out.push(' ');
                    v.write_compact(out);
                }
                out.push('}');
            }
            Edn::Op(op) => op_to_edn(op).write_compact(out),
        }
    }

    /// Writes `self` starting at column `col` (the caller has already placed the cursor there).
    fn write_pretty(&self, out: &mut String, col: usize) {
        let compact = self.to_edn_compact();
        if !self.is_collection() || col + width(&compact) <= WIDTH {
            out.push_str(&compact);
            return;
        }
        match self {
            Edn::Vector(items) => write_seq_pretty(out, col, "[", "]", items),
            Edn::List(items) => write_seq_pretty(out, col, "(", ")", items),
            Edn::Set(items) => write_seq_pretty(out, col, "#{", "}", items),
            Edn::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",\n");
                        push_spaces(out, col + 1);
                    }
                    let key = k.to_edn_compact();
                    out.push_str(&key);
                    out.push(' ');
                    v.write_pretty(out, col + 1 + width(&key) + 1);
                }
                out.push('}');
            }
            Edn::Op(op) => op_to_edn(op).write_pretty(out, col),
            _ => out.push_str(&compact),
        }
    }
}

impl From<bool> for Edn {
    fn from(b: bool) -> Edn {
        Edn::Bool(b)
    }
}

impl From<&str> for Edn {
    fn from(s: &str) -> Edn {
        Edn::Str(s.to_owned())
    }
}

impl From<String> for Edn {
    fn from(s: String) -> Edn {
        Edn::Str(s)
    }
}

impl From<i64> for Edn {
    fn from(n: i64) -> Edn {
        Edn::Int(i128::from(n))
    }
}

impl From<u64> for Edn {
    fn from(n: u64) -> Edn {
        Edn::Int(i128::from(n))
    }
}

impl From<i128> for Edn {
    fn from(n: i128) -> Edn {
        Edn::Int(n)
    }
}

impl<T: Into<Edn>> From<Option<T>> for Edn {
    fn from(v: Option<T>) -> Edn {
        v.map_or(Edn::Nil, Into::into)
    }
}

impl Serialize for Edn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Edn::Nil => s.serialize_unit(),
            Edn::Bool(b) => s.serialize_bool(*b),
            Edn::Int(n) => {
                if let Ok(i) = i64::try_from(*n) {
                    s.serialize_i64(i)
                } else if let Ok(u) = u64::try_from(*n) {
                    s.serialize_u64(u)
                } else {
                    s.serialize_str(&n.to_string())
                }
            }
            Edn::Float(x) => {
                if x.is_finite() {
                    s.serialize_f64(*x)
                } else {
                    s.serialize_unit()
                }
            }
            // Go through the f32's shortest decimal form so JSON shows `5.0125566`, not `5.012556552886963`.
            Edn::Float32(x) => match format!("{x:?}").parse::<f64>() {
                Ok(wide) if x.is_finite() => s.serialize_f64(wide),
                _ => s.serialize_unit(),
            },
            Edn::Str(text) | Edn::Keyword(text) => s.serialize_str(text),
            Edn::Vector(items) | Edn::List(items) | Edn::Set(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Edn::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(&json_key(k), v)?;
                }
                map.end()
            }
            Edn::Op(op) => op.serialize(s),
        }
    }
}

/// The JSON object key for an EDN map key.
fn json_key(k: &Edn) -> String {
    match k {
        Edn::Keyword(name) | Edn::Str(name) => name.clone(),
        other => other.to_edn_compact(),
    }
}

/// A history operation as an EDN map, in jepsen.history's field order, extras last.
pub fn op_to_edn(op: &Op) -> Edn {
    let mut entries = vec![
        (Edn::kw("index"), Edn::from(op.index)),
        (Edn::kw("time"), Edn::from(op.time)),
        (Edn::kw("type"), Edn::kw(op.op_type.name())),
        (Edn::kw("process"), process_edn(op.process)),
        (Edn::kw("f"), Edn::kw(op.f.name())),
        (Edn::kw("value"), op_value_edn(&op.value)),
    ];
    if op.final_read {
        entries.push((Edn::kw("final?"), Edn::Bool(true)));
    }
    if let Some(error) = &op.error {
        entries.push((Edn::kw("error"), error_edn(error)));
    }
    Edn::Map(entries)
}

/// `:process`: the integer, or `:nemesis`.
pub fn process_edn(p: Process) -> Edn {
    match p {
        Process::Client(n) => Edn::from(n),
        Process::Nemesis => Edn::kw("nemesis"),
    }
}

/// An op's `:value`. Maelstrom keywordises the keys of a reply body (one level, spec §3.1), and the echo
/// workload stores the whole body as the value, so the top-level keys of an object value become keywords when
/// they read as keywords.
pub fn op_value_edn(value: &Value) -> Edn {
    match value {
        Value::Object(map) => Edn::Map(
            map.iter()
                .map(|(k, v)| {
                    let key = if is_keyword_name(k) { Edn::kw(k) } else { Edn::Str(k.clone()) };
                    (key, Edn::from_json(v))
                })
                .collect(),
        ),
        other => Edn::from_json(other),
    }
}

/// `:error` the way Maelstrom's history shows it (spec §5.3): `:net-timeout`, `[:temporarily-unavailable
/// "text"]`, `"indeterminate: message"`.
pub fn error_edn(e: &OpError) -> Edn {
    match e {
        OpError::NetTimeout => Edn::kw("net-timeout"),
        OpError::Rpc { name, text, .. } => {
            let name = if is_keyword_name(name) { name.as_str() } else { "unknown" };
            Edn::Vector(vec![Edn::kw(name), Edn::str(text.as_str())])
        }
        OpError::Indeterminate { message } => Edn::Str(format!("indeterminate: {message}")),
    }
}

/// Can `s` be printed as a keyword `:s` and read back?
fn is_keyword_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || "*+!-_?<>=".contains(c) => {}
        _ => return false,
    }
    s.chars().all(|c| c.is_alphanumeric() || "*+!-_?<>=.'".contains(c))
}

fn float_edn(x: f64) -> String {
    if x.is_nan() {
        "##NaN".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "##Inf" } else { "##-Inf" }.to_owned()
    } else {
        // `Debug` is the shortest round-trip form and keeps `.0` on whole numbers.
        format!("{x:?}")
    }
}

fn float32_edn(x: f32) -> String {
    if x.is_finite() { format!("{x:?}") } else { float_edn(f64::from(x)) }
}

fn write_edn_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_seq_compact(out: &mut String, open: &str, close: &str, items: &[Edn]) {
    out.push_str(open);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        item.write_compact(out);
    }
    out.push_str(close);
}

/// A sequence too long for one line: atoms are packed as many per line as fit; collections go one per line.
fn write_seq_pretty(out: &mut String, col: usize, open: &str, close: &str, items: &[Edn]) {
    out.push_str(open);
    let inner = col + width(open);
    let all_atoms = items.iter().all(|i| !i.is_collection());
    let mut cursor = inner;
    for (i, item) in items.iter().enumerate() {
        if all_atoms {
            let text = item.to_edn_compact();
            if i > 0 {
                if cursor + 1 + width(&text) > WIDTH {
                    out.push('\n');
                    push_spaces(out, inner);
                    cursor = inner;
                } else {
                    out.push(' ');
                    cursor += 1;
                }
            }
            out.push_str(&text);
            cursor += width(&text);
        } else {
            if i > 0 {
                out.push('\n');
                push_spaces(out, inner);
            }
            item.write_pretty(out, inner);
        }
    }
    out.push_str(close);
}

fn push_spaces(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn width(s: &str) -> usize {
    s.chars().count()
}
