//! The node side of the wire (spec §3.1): parsing the lines a node prints, and writing the lines it reads. Shared
//! by both shells: a process's stdout reader and the in-process nodes of the virtual-time shell parse the same way.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::diagnostic::clip;

/// One line a node printed, judged (spec §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeLine {
    /// A well-formed message.
    Msg {
        /// `src` as printed
        src: String,
        /// `dest` as printed
        dest: String,
        /// `body`, as JSON text (an object; see [`parse_line`])
        body: Arc<str>,
    },
    /// A line that is not a valid Maelstrom message: Maelstrom stops reading the node there.
    Bad {
        /// the line, clipped
        line: String,
        /// why it was refused
        reason: String,
    },
}

impl NodeLine {
    /// Parses a line (without its newline) into a message, or says why it is not one.
    pub fn parse(line: &[u8]) -> NodeLine {
        match parse_line(line) {
            Ok((src, dest, body)) => NodeLine::Msg { src, dest, body },
            Err(reason) => NodeLine::Bad { line: clip(&String::from_utf8_lossy(line), 200), reason },
        }
    }
}

/// A message envelope as a node must print it: `src`, `dest`, `body`, optionally an integer `id`, nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    src: String,
    dest: String,
    #[serde(default, borrow)]
    body: Option<&'a RawValue>,
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<i64>,
}

/// Maelstrom's `parse-msg` keywordizes the body's keys before validating: a missing or `null` body (and an empty
/// array) becomes `{}`, anything else that is not an object throws, which stops reading the node (spec §3.1; the
/// spec's "body (any)" misses this).
fn normalise_body(body: Option<&RawValue>) -> Result<Arc<str>, String> {
    let Some(body) = body else { return Ok(Arc::from("{}")) };
    let text = body.get().trim();
    if text.starts_with('{') {
        Ok(Arc::from(text))
    } else if text == "null" || (text.starts_with('[') && text[1..text.len() - 1].trim().is_empty()) {
        Ok(Arc::from("{}"))
    } else {
        Err(format!("body is not a JSON object: {}", clip(text, 80)))
    }
}

/// Parses a node's stdout line as a Maelstrom message envelope (spec §3.1): `(src, dest, body)`.
pub fn parse_line(line: &[u8]) -> Result<(String, String, Arc<str>), String> {
    let text = std::str::from_utf8(line).map_err(|_| "line is not valid UTF-8".to_owned())?;
    match serde_json::from_str::<Envelope<'_>>(text) {
        Ok(e) => Ok((e.src, e.dest, normalise_body(e.body)?)),
        Err(err) => {
            let reason = if serde_json::from_str::<serde_json::Value>(text).is_ok() {
                format!("not a valid Maelstrom message (needs src, dest, body, optional integer id): {err}")
            } else {
                format!("not JSON: {err}")
            };
            Err(reason)
        }
    }
}

/// The line a node reads for a delivered message: `{"id":…,"src":…,"dest":…,"body":…}` (spec §3.1's internal
/// record, with the network-wide id), without the newline. `src` and `dest` are JSON string literals.
pub fn delivery_line(id: u64, src: &str, dest: &str, body: &str) -> String {
    let mut line = String::with_capacity(40 + src.len() + dest.len() + body.len());
    line.push_str("{\"id\":");
    line.push_str(&id.to_string());
    line.push_str(",\"src\":");
    line.push_str(src);
    line.push_str(",\"dest\":");
    line.push_str(dest);
    line.push_str(",\"body\":");
    line.push_str(body);
    line.push('}');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_need_src_dest_body_and_nothing_else() {
        let (src, dest, body) = parse_line(br#"{"src":"n1","dest":"c3","body":{"type":"x"},"id":4}"#).unwrap();
        assert_eq!((src.as_str(), dest.as_str(), &*body), ("n1", "c3", r#"{"type":"x"}"#));
        let (_, _, body) = parse_line(br#"{"src":"n1","dest":"c3"}"#).unwrap();
        assert_eq!(&*body, "{}", "a missing body is an empty one, as in Maelstrom's parse-msg");
        let (_, _, body) = parse_line(br#"{"src":"n1","dest":"c3","body":null}"#).unwrap();
        assert_eq!(&*body, "{}");
        let (_, _, body) = parse_line(br#"{"src":"n1","dest":"c3","body":[ ]}"#).unwrap();
        assert_eq!(&*body, "{}");
        for bad in [r#""x""#, "3", "true", "[1]"] {
            let line = format!(r#"{{"src":"n1","dest":"c3","body":{bad}}}"#);
            assert!(parse_line(line.as_bytes()).unwrap_err().contains("not a JSON object"), "{bad}");
        }
        assert!(parse_line(br#"{"src":"n1","dest":"c3","body":{},"extra":1}"#).unwrap_err().contains("extra"));
        assert!(parse_line(br#"{"src":"n1","dest":"c3","body":{},"id":"x"}"#).is_err());
        assert!(parse_line(b"hello").unwrap_err().starts_with("not JSON"));
        assert!(parse_line(b"").unwrap_err().starts_with("not JSON"));
        assert!(parse_line(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn a_bad_line_keeps_a_clipped_copy_and_the_reason() {
        let long = "x".repeat(500);
        let NodeLine::Bad { line, reason } = NodeLine::parse(long.as_bytes()) else { panic!("not a message") };
        assert!(line.len() < 300 && line.contains("500 bytes in all"), "{line}");
        assert!(reason.starts_with("not JSON"));
    }

    #[test]
    fn delivery_lines_carry_the_network_id_and_the_body_verbatim() {
        let line = delivery_line(7, "\"n1\"", "\"c2\"", r#"{"type":"x","msg_id":1}"#);
        assert_eq!(line, r#"{"id":7,"src":"n1","dest":"c2","body":{"type":"x","msg_id":1}}"#);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["body"]["type"], "x");
    }
}
