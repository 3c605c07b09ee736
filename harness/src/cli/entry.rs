//! The binaries' entry point: parse, run the subcommand, map the outcome to Maelstrom's exit codes.

use super::{Command, EXIT_BAD_ARGS, EXIT_CRASH, ParseError, parse};
use crate::run::sim::SimNodes;

/// The whole command line of `osmosis-harness` (and of any binary that adds in-process nodes, such as
/// `osmosis-sim`): parses the arguments, runs the subcommand, returns Maelstrom's exit code (spec §1.3): 0 valid,
/// 1 invalid, 2 unknown, 254 bad arguments, 255 crash. `sim_nodes` are the nodes `--sim` can run in process.
pub fn main(sim_nodes: SimNodes) -> std::process::ExitCode {
    use std::process::ExitCode;
    let argv: Vec<String> = std::env::args().collect();
    let cli = match parse(&argv) {
        Ok(cli) => cli,
        Err(ParseError::Clap(e)) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(EXIT_BAD_ARGS as u8),
            };
        }
        Err(ParseError::NodeArgs(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_ARGS as u8);
        }
    };
    // The harness logs what it does at info; in-process nodes log through the same subscriber, as quietly as the
    // node binaries do by default; a sweep of thousands of runs logs only errors (its summary says the rest).
    let default = if matches!(cli.command, Command::Sweep(_)) { "error" } else { "warn,osmosis_harness=info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = match cli.command {
        Command::Test(args) => args,
        Command::Bench(args) => return ExitCode::from(crate::bench::bench(&args, &argv, &sim_nodes) as u8),
        Command::Sweep(args) => {
            let program = argv.first().map(std::path::Path::new).and_then(|p| p.file_name()).and_then(|n| n.to_str());
            return ExitCode::from(crate::sweep::sweep(&args, &sim_nodes, program.unwrap_or("osmosis-harness")) as u8);
        }
    };
    let config = match args.validate_with(rand::random(), &sim_nodes) {
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
        let code = match crate::test(&run) {
            Ok(code) => code,
            Err(crate::run::RunError::Crash(msg)) => {
                // The message quotes the node's last stderr lines: its control characters stay off the terminal.
                let msg = crate::diagnostic::printable(&msg);
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
