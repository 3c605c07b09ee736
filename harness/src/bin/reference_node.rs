//! `osmosis-reference-node`: Maelstrom nodes with exactly known message counts, for checking the harness (see
//! `osmosis_harness::reference` for the modes and workloads). This is the process driver: it reads stdin
//! synchronously, one line at a time, and performs each line's effects in order.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use osmosis_harness::reference::args;
use osmosis_harness::reference::node::{Effect, Node};

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
        Effect::StopReading => loop {
            // Alive, and never reading stdin again: the harness sees its pipe fill.
            std::thread::park();
        },
    }
}

/// Writes one line to stdout atomically (the stdout lock is held for the whole line) and flushes it.
fn emit(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}
