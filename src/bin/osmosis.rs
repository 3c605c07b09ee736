//! The `osmosis` Maelstrom node binary: `osmosis [WORKLOAD] [OPTIONS]` (see `osmosis --help`).

fn main() -> std::process::ExitCode {
    osmosis_node::cli::main()
}
