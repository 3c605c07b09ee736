//! `osmosis-reference-node`: Maelstrom nodes with exactly known message counts, for checking the harness.
//!
//! Usage: `osmosis-reference-node <mode> [--workload W]` (workload defaults to `broadcast`; `W` may also be given
//! positionally after the mode). It speaks the Maelstrom protocol (newline-delimited JSON on stdin/stdout, logs on
//! stderr; spec §3) and is synchronous: one thread reads stdin and handles each line in order.
//!
//! Modes (see [`args::Mode`]): `flood` (2E server messages per broadcast), `flood-skip-sender` (2E − (N − 1);
//! spec §12), `silent` (never forwards: lost elements, spec §9.1), and fault modes for the harness's failure
//! handling (spec §3.1, §3.3, §14): `crash-after-init`, `garbage`, `hang-init`, `late-reply`, `extra-key`,
//! `error-reply`. The fault modes otherwise behave like `flood`.
//!
//! Workloads: `broadcast`, `g-set` (neighbours = all other nodes), `g-counter`/`pn-counter` (each client add's
//! delta is forwarded once to every other node: N − 1 server messages per add), `echo`, `unique-ids`.

#[path = "reference_node/args.rs"]
mod args;
#[path = "reference_node/node.rs"]
mod node;

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use node::{Effect, Node};

fn main() -> ExitCode {
    let config = match args::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(args::ArgsError::Help) => {
            eprintln!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("osmosis-reference-node: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!("osmosis-reference-node: {config:?}");
    let mut node = Node::new(config);
    let mut stdin = io::stdin().lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match stdin.read_until(b'\n', &mut buf) {
            Ok(0) => return ExitCode::SUCCESS,
            Ok(_) => {}
            Err(e) => {
                eprintln!("stdin: {e}; stopping");
                return ExitCode::FAILURE;
            }
        }
        let effects = match std::str::from_utf8(&buf) {
            Ok(line) => node.on_line(line),
            Err(e) => vec![Effect::Log(format!("skipping a line that is not UTF-8: {e}"))],
        };
        for effect in effects {
            if let Err(e) = perform(effect) {
                eprintln!("stdout: {e}; stopping");
                return ExitCode::FAILURE;
            }
        }
    }
}

/// Carries out one effect. Delayed sends run on their own thread so later messages are not held up.
fn perform(effect: Effect) -> io::Result<()> {
    match effect {
        Effect::Send(msg) => emit(&msg.to_string()),
        Effect::Raw(line) => emit(&line),
        Effect::SendAfter(delay, msg) => {
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                if let Err(e) = emit(&msg.to_string()) {
                    eprintln!("stdout (delayed reply): {e}");
                }
            });
            Ok(())
        }
        Effect::Log(line) => {
            eprintln!("{line}");
            Ok(())
        }
        Effect::Exit(code) => {
            io::stdout().lock().flush()?;
            std::process::exit(code)
        }
    }
}

/// Writes one line to stdout atomically (the stdout lock is held for the whole line) and flushes it.
fn emit(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}
