//! Diagnostics: one clear sentence for each thing a node did wrong (spec §14 decision 1), recorded in the results.
//!
//! Text that came from a node (a line it printed, its stderr) is shown on the console through [`printable`]: its
//! control characters are escaped, so a node cannot move the cursor, rewrite the line (CR), or end a C string
//! (NUL) on the user's terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Something a node did that Maelstrom would punish, named plainly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The node (or client) concerned, e.g. `n3`.
    pub node: String,
    /// The offending line, cut to a sane length, if a line was at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// What was wrong and what the harness did about it.
    pub reason: String,
    /// How many times the same node did the same thing (identical diagnostics are recorded once).
    #[serde(default = "one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}

impl Diagnostic {
    /// A diagnostic seen once.
    pub fn new(node: impl Into<String>, line: Option<String>, reason: impl Into<String>) -> Self {
        Diagnostic { node: node.into(), line, reason: reason.into(), count: 1 }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", printable(&self.node), printable(&self.reason))?;
        if let Some(line) = &self.line {
            write!(f, " (line: {})", printable(line))?;
        }
        if self.count > 1 {
            write!(f, " [{} times; the first line is shown]", self.count)?;
        }
        Ok(())
    }
}

/// Cuts a line to at most `max` characters (on a char boundary), marking the cut.
pub fn clip(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        None => line.to_owned(),
        Some((at, _)) => format!("{}… ({} bytes in all)", &line[..at], line.len()),
    }
}

/// `s` with every control character escaped except newline and tab: CR as `\r`, NUL as `\0`, other C0 characters
/// and DEL as `\xNN` (ESC is `\x1b`, as the log formatter writes it), C1 characters as `\u{NN}`. Escaping twice
/// changes nothing more: the output has no control characters left.
pub fn printable(s: &str) -> Cow<'_, str> {
    let escaped = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.chars().any(escaped) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if escaped(c) && u32::from(c) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if escaped(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_cr_nul_esc_and_c1_but_keeps_text_newlines_and_tabs() {
        assert_eq!(printable("plain text\twith tab\nand newline"), "plain text\twith tab\nand newline");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(printable("a\rb\0c\x1b[2Jd\x07\x7f\u{9b}é"), r"a\rb\0c\x1b[2Jd\x07\x7f\u{9b}é");
        let once = printable("x\r\0\x1b");
        assert_eq!(printable(&once), once, "escaping is idempotent");
    }

    #[test]
    fn a_diagnostic_never_prints_a_nodes_raw_control_bytes() {
        let d = Diagnostic::new("n1", Some("{\"src\":\"n1\"\r\0\x1b]0;owned\x07".into()), "not JSON: \r");
        let shown = d.to_string();
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert_eq!(shown, r#"n1: not JSON: \r (line: {"src":"n1"\r\0\x1b]0;owned\x07)"#);
    }
}
