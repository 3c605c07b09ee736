//! Diagnostics: one clear sentence for each thing a node did wrong (spec §14 decision 1), recorded in the results.

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
        write!(f, "{}: {}", self.node, self.reason)?;
        if let Some(line) = &self.line {
            write!(f, " (line: {line})")?;
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
