//! `osmosisd`: see `osmosisd --help`.

fn main() -> std::process::ExitCode {
    osmosis_daemon::server::main()
}
