//! `osmosis-harness`: runs a Maelstrom node binary the way `maelstrom test` does and scores it the same way.
//! Exit codes follow Maelstrom (spec §1.3): 0 valid, 1 invalid, 2 unknown, 254 bad arguments, 255 crash.
//! `bench` runs a file of named scenarios the same way and prints one table (see `osmosis_harness::bench`).

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use osmosis_harness::cli::{Cli, Command, EXIT_BAD_ARGS, EXIT_CRASH};
use osmosis_harness::run::RunError;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(EXIT_BAD_ARGS as u8),
            };
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = match cli.command {
        Command::Test(args) => args,
        Command::Bench(args) => {
            let argv: Vec<String> = std::env::args().collect();
            return ExitCode::from(osmosis_harness::bench::bench(&args, &argv) as u8);
        }
    };
    let config = match args.validate(rand::random()) {
        Ok(c) => c,
        Err(e) => {
            for line in &e.0 {
                eprintln!("{line}");
            }
            return ExitCode::from(EXIT_BAD_ARGS as u8);
        }
    };
    // spec §1.3: the exit code says the worst of all the tests run: a crash, else any invalid test (1), else any
    // unknown (2), else 0.
    let mut worst = 0;
    for i in 0..config.test_count {
        let mut run = config.clone();
        run.seed = config.seed.wrapping_add(u64::from(i));
        let code = match osmosis_harness::test(&run) {
            Ok(code) => code,
            Err(RunError::Crash(msg)) => {
                // The message quotes the node's last stderr lines: its control characters stay off the terminal.
                let msg = osmosis_harness::diagnostic::printable(&msg);
                eprintln!("The test crashed (Maelstrom's outcome: exit {EXIT_CRASH}, no analysis):\n{msg}");
                EXIT_CRASH
            }
            Err(e) => {
                eprintln!("{e}");
                EXIT_CRASH
            }
        };
        worst = worst.max(severity(code));
    }
    ExitCode::from([0, 2, 1, EXIT_CRASH as u8][worst])
}

/// Orders exit codes by how bad they are: valid, unknown, invalid, crash.
fn severity(code: i32) -> usize {
    match code {
        0 => 0,
        2 => 1,
        1 => 2,
        _ => 3,
    }
}
