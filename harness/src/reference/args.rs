//! Command line of `osmosis-reference-node`: `<mode> [--workload W]` (or `<mode> W`).

use std::fmt;

/// How the node behaves: a forwarding policy, or a fault for the harness's failure-handling tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards each new value once to all neighbours: 2E server messages per broadcast (spec §12).
    Flood,
    /// Like `Flood` but skips the neighbour the value came from: 2E − (N − 1) per broadcast (spec §12).
    FloodSkipSender,
    /// Never forwards: each node only knows its own values (spec §9.1 worked example).
    Silent,
    /// Replies `init_ok`, then exits with status 3 (spec §2 step 7: node crash → exit 255).
    CrashAfterInit,
    /// Floods, but the reply to the first client `broadcast`/`add` is replaced by a non-JSON line (spec §3.1, §14.1).
    Garbage,
    /// Never replies to `init` (spec §3.3: 10 s init timeout → crash).
    HangInit,
    /// Floods, but replies to `broadcast`/`add` only after [`LATE_REPLY_DELAY`] (longer than the 5 s RPC timeout).
    LateReply,
    /// Floods, but every `read_ok` carries an extra key `"oops": 1` (spec §3.4 closed schemas, §14.3).
    ExtraKey,
    /// Answers every `broadcast`/`add` with error 11 `temporarily-unavailable` and does not apply it (spec §3.4).
    ErrorReply,
    /// Floods, but answers every `broadcast`/`add` with an `in_reply_to` 1000 past the request's `msg_id`.
    WrongReplyId,
    /// Answers `init` and `topology`, then never reads stdin again (the process stays alive).
    DeafAfterTopology,
}

/// How long [`Mode::LateReply`] waits before answering a `broadcast`/`add`.
pub const LATE_REPLY_DELAY: std::time::Duration = std::time::Duration::from_secs(6);

impl Mode {
    const ALL: [(&'static str, Mode); 11] = [
        ("flood", Mode::Flood),
        ("flood-skip-sender", Mode::FloodSkipSender),
        ("silent", Mode::Silent),
        ("crash-after-init", Mode::CrashAfterInit),
        ("garbage", Mode::Garbage),
        ("hang-init", Mode::HangInit),
        ("late-reply", Mode::LateReply),
        ("extra-key", Mode::ExtraKey),
        ("error-reply", Mode::ErrorReply),
        ("wrong-reply-id", Mode::WrongReplyId),
        ("deaf-after-topology", Mode::DeafAfterTopology),
    ];

    fn parse(name: &str) -> Option<Mode> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
    }

    /// Whether new values are forwarded at all (every mode but `Silent`; fault modes flood).
    pub fn forwards(self) -> bool {
        self != Mode::Silent
    }

    /// Whether forwarding skips the neighbour the value came from.
    pub fn skips_sender(self) -> bool {
        self == Mode::FloodSkipSender
    }
}

/// The Maelstrom workload the node serves (spec §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `broadcast` (default): `topology`, `broadcast`, `read` → `messages`.
    Broadcast,
    /// `g-set`: `add {element}`, `read` → `value: [..]`; neighbours = all other nodes.
    GSet,
    /// `g-counter` and `pn-counter`: `add {delta}`, `read` → `value: int`.
    Counter,
    /// `echo`.
    Echo,
    /// `unique-ids`: `generate` → `id`.
    UniqueIds,
}

impl Workload {
    fn parse(name: &str) -> Option<Workload> {
        Some(match name {
            "broadcast" => Workload::Broadcast,
            "g-set" => Workload::GSet,
            "g-counter" | "pn-counter" => Workload::Counter,
            "echo" => Workload::Echo,
            "unique-ids" => Workload::UniqueIds,
            _ => return None,
        })
    }
}

/// Parsed command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Behaviour.
    pub mode: Mode,
    /// Workload served.
    pub workload: Workload,
}

/// What was wrong with the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// `--help` was asked for: not an error, print [`USAGE`] and exit 0.
    Help,
    /// Something unusable, with the reason.
    Bad(String),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Help => f.write_str(USAGE),
            ArgsError::Bad(reason) => write!(f, "{reason}\n{USAGE}"),
        }
    }
}

/// Usage text.
pub const USAGE: &str = "usage: osmosis-reference-node <mode> [--workload W | W]
modes: flood, flood-skip-sender, silent, crash-after-init, garbage, hang-init, late-reply, extra-key, error-reply,
  wrong-reply-id, deaf-after-topology
workloads: broadcast (default), g-set, g-counter, pn-counter, echo, unique-ids";

/// Parses the arguments after the program name.
pub fn parse<I, S>(args: I) -> Result<Config, ArgsError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut mode = None;
    let mut workload = None;
    let mut args = args.into_iter().map(|a| a.as_ref().to_owned());
    let set_workload = |name: &str, workload: &mut Option<Workload>| -> Result<(), ArgsError> {
        let w = Workload::parse(name).ok_or_else(|| ArgsError::Bad(format!("unknown workload {name:?}")))?;
        if workload.replace(w).is_some() {
            return Err(ArgsError::Bad("workload given twice".into()));
        }
        Ok(())
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Err(ArgsError::Help),
            "--" => {}
            "-w" | "--workload" => {
                let name = args.next().ok_or_else(|| ArgsError::Bad(format!("{arg} needs a value")))?;
                set_workload(&name, &mut workload)?;
            }
            _ => {
                if let Some(name) = arg.strip_prefix("--workload=") {
                    set_workload(name, &mut workload)?;
                } else if arg.starts_with('-') {
                    return Err(ArgsError::Bad(format!("unknown option {arg:?}")));
                } else if mode.is_none() {
                    mode = Some(Mode::parse(&arg).ok_or_else(|| ArgsError::Bad(format!("unknown mode {arg:?}")))?);
                } else {
                    set_workload(&arg, &mut workload)?;
                }
            }
        }
    }
    let mode = mode.ok_or_else(|| ArgsError::Bad("missing <mode>".into()))?;
    Ok(Config { mode, workload: workload.unwrap_or(Workload::Broadcast) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_defaults_to_broadcast() {
        assert_eq!(parse(["flood"]), Ok(Config { mode: Mode::Flood, workload: Workload::Broadcast }));
    }

    #[test]
    fn workload_is_accepted_as_option_equals_form_or_positional() {
        let want = Ok(Config { mode: Mode::Silent, workload: Workload::GSet });
        assert_eq!(parse(["silent", "--workload", "g-set"]), want);
        assert_eq!(parse(["--workload=g-set", "silent"]), want);
        assert_eq!(parse(["--", "silent", "g-set"]), want);
        assert_eq!(parse(["silent", "-w", "g-set"]), want);
    }

    #[test]
    fn both_counters_share_one_behaviour() {
        assert_eq!(parse(["flood", "pn-counter"]).unwrap().workload, Workload::Counter);
        assert_eq!(parse(["flood", "g-counter"]).unwrap().workload, Workload::Counter);
    }

    #[test]
    fn bad_arguments_are_reported_not_panicked_on() {
        for bad in [
            &[][..],
            &["nope"],
            &["flood", "lin-kv"],
            &["flood", "--workload"],
            &["flood", "--x"],
            &["flood", "echo", "echo"],
        ] {
            assert!(matches!(parse(bad.iter()), Err(ArgsError::Bad(_))), "{bad:?}");
        }
        assert_eq!(parse(["--help"]), Err(ArgsError::Help));
    }
}
