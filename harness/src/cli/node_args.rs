//! Telling node arguments from harness flags (`test`'s command line), and parsing a whole command line.

use clap::Parser;

use super::{Cli, Command};

/// How node arguments are told from harness flags, for `--help`.
pub(super) const NODE_ARGS_HELP: &str = "Node arguments go last: everything from the first argument that is not a harness \
flag (nor a flag's value) on goes to the node, provided no harness flag follows it; everything after `--` goes to \
the node whatever it looks like. An unknown flag followed by a harness flag, or one a letter or two away from a \
harness flag, is an error (exit 254): `--latecy 100` is not passed to the node silently.";

/// Splits the arguments of `test` (after the subcommand name) into the harness's and the node's (the rule that
/// `test --help` prints after the flags); an unknown flag among the harness's is an error, one line.
pub fn split_node_args(tokens: &[String]) -> Result<(Vec<String>, Vec<String>), String> {
    let known = harness_flags();
    // (takes a value) of a harness flag token, `None` if it is not one. `--flag=value` and `-wvalue` carry their value.
    let flag = |t: &str| -> Option<bool> {
        if t == "-h" || t == "--help" {
            return Some(false);
        }
        let (name, inline) = match t.strip_prefix("--") {
            Some(long) => long.split_once('=').map_or((long, false), |(n, _)| (n, true)),
            None => {
                let short = t.strip_prefix('-').filter(|s| !s.is_empty())?;
                let (c, rest) = short.split_at(short.char_indices().nth(1).map_or(short.len(), |(i, _)| i));
                (c, !rest.is_empty())
            }
        };
        known.iter().find(|(n, _)| *n == name).map(|(_, value)| *value && !inline)
    };
    let (before, after) = match tokens.iter().position(|t| t == "--") {
        Some(i) => (&tokens[..i], &tokens[i + 1..]),
        None => (tokens, &[][..]),
    };
    let mut i = 0;
    while i < before.len() {
        match flag(&before[i]) {
            Some(takes_value) => i += 1 + usize::from(takes_value),
            None => break,
        }
    }
    let (harness, node) = before.split_at(i.min(before.len()));
    if let Some(first) = node.first() {
        if let Some(late) = node.iter().find(|t| flag(t).is_some() && t.starts_with('-')) {
            let what = if first.starts_with('-') { "unknown flag" } else { "argument" };
            return Err(format!(
                "{what} {first:?} comes before the harness flag {late:?}: node arguments go last, after the \
                 harness's flags (or after `--`, also for a node flag that has a harness flag's name)"
            ));
        }
        for t in node.iter().filter(|t| t.starts_with("--") && t.len() > 2) {
            let name = t[2..].split('=').next().unwrap_or_default();
            // One slip in a short name, two in a long one: `--latecy`, `--nemesis-intervl`, not `--fast` (`--fault`).
            let close = |n: &str| edit_distance(name, n) <= if name.len() <= 6 { 1 } else { 2 };
            if let Some((near, _)) = known.iter().find(|(n, _)| name.len() >= 4 && close(n)) {
                return Err(format!(
                    "unknown flag {t:?}: did you mean --{near}? (if it is the node's flag, pass it after `--`)"
                ));
            }
        }
    }
    let mut node = node.to_vec();
    node.extend_from_slice(after);
    Ok((harness.to_vec(), node))
}

/// The long and short names of `test`'s flags, each with whether it takes a value.
fn harness_flags() -> Vec<(String, bool)> {
    use clap::CommandFactory;
    let cli = Cli::command();
    let Some(test) = cli.find_subcommand("test") else { return Vec::new() };
    let mut out = Vec::new();
    for arg in test.get_arguments().filter(|a| !a.is_positional()) {
        let takes = arg.get_action().takes_values();
        out.extend(arg.get_long_and_visible_aliases().into_iter().flatten().map(|l| (l.to_owned(), takes)));
        out.extend(arg.get_short().map(|c| (c.to_string(), takes)));
    }
    out
}

/// Levenshtein distance (for "did you mean").
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Parses a whole command line (program name first): clap for the flags, [`split_node_args`] for `test`'s node
/// arguments. Errors are clap's (help and version included) or the split's.
pub fn parse(argv: &[String]) -> Result<Cli, ParseError> {
    let at = 1;
    if argv.get(at).map(String::as_str) != Some("test") {
        return Cli::try_parse_from(argv).map_err(ParseError::Clap);
    }
    let (harness, node) = split_node_args(&argv[at + 1..]).map_err(ParseError::NodeArgs)?;
    let mut cli = Cli::try_parse_from(argv[..=at].iter().chain(&harness)).map_err(ParseError::Clap)?;
    if let Command::Test(t) = &mut cli.command {
        t.args = node;
    }
    Ok(cli)
}

/// Why a command line could not be parsed.
#[derive(Debug)]
pub enum ParseError {
    /// clap's error (or its help and version output).
    Clap(clap::Error),
    /// Node arguments mixed with harness flags (see [`split_node_args`]).
    NodeArgs(String),
}
