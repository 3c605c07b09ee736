//! `osmosis-netlab`: run Maelstrom's workloads against a cluster of `osmosisd` on namespaces or loopback.
#![allow(clippy::print_stdout)] // a command-line tool: its results go to stdout

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use osmosis_harness::checker::Validity;
use osmosis_harness::workload::Workload;
use osmosis_netlab::{DriveConfig, Fault, Lab, LabConfig, Mode, SUMMARY_HEADER, drive, hosts, summary_line};

#[derive(Debug, Parser)]
#[command(name = "osmosis-netlab", version, about = "Multi-host tests of osmosisd on one machine.")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    /// One network namespace per host (root; iproute2 and nftables).
    Netns,
    /// Ports on 127.0.0.1.
    Loopback,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
enum FaultArg {
    /// No faults.
    None,
    /// Maelstrom's partition nemesis.
    Partition,
    /// kill -9 of one daemon and a restart.
    Kill,
}

#[derive(Debug, clap::Args)]
struct LabArgs {
    /// Where the hosts live.
    #[arg(long, value_enum, default_value = "netns")]
    mode: ModeArg,
    /// Number of hosts.
    #[arg(long, default_value_t = 5)]
    hosts: usize,
    /// The daemon binary.
    #[arg(long, default_value = "target/release/osmosisd")]
    bin: PathBuf,
    /// Directory for keys, data and logs (default: a fresh one under the system's temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// First loopback port (UDP BASE+i, HTTP BASE+100+i).
    #[arg(long, default_value_t = 17000)]
    base_port: u16,
    /// Flags passed to every daemon (after `--`).
    #[arg(last = true)]
    daemon_args: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start a cluster, run one workload through the HTTP API, check it with the harness's checkers.
    Run {
        #[command(flatten)]
        lab: LabArgs,
        /// broadcast, g-set, g-counter or pn-counter.
        #[arg(short, long, default_value = "broadcast")]
        workload: String,
        /// Operations per second over all clients.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// Seconds of the main phase.
        #[arg(long, default_value_t = 20)]
        time_limit: u64,
        /// Client threads: K or Kn (K per host).
        #[arg(long, default_value = "1n")]
        concurrency: String,
        /// Seconds before the final reads.
        #[arg(long, default_value_t = 10.0)]
        recovery: f64,
        /// One-way delay on the daemons' UDP, in milliseconds (netns).
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// Fraction of the daemons' UDP datagrams lost, e.g. 0.05 (netns).
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// Faults: none, partition (netns) or kill.
        #[arg(long, value_enum, default_value = "none")]
        fault: FaultArg,
        /// Seconds between partition nemesis operations.
        #[arg(long, default_value_t = 10.0)]
        nemesis_interval: f64,
        /// kill: the host (0-based), seconds after the first op, seconds down.
        #[arg(long, num_args = 3, value_names = ["HOST", "AT", "DOWN"], default_values_t = [1u64, 6, 4])]
        kill: Vec<u64>,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Start a cluster and keep it up (until Ctrl-C, or for --secs), printing its addresses and token.
    Cluster {
        #[command(flatten)]
        lab: LabArgs,
        /// Stop after this many seconds.
        #[arg(long)]
        secs: Option<u64>,
    },
    /// Delete namespaces left behind by labs whose process is gone.
    Cleanup,
}

fn lab_config(a: &LabArgs) -> LabConfig {
    let dir =
        a.dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("osmosis-netlab-{}", std::process::id())));
    LabConfig {
        hosts: a.hosts,
        mode: match a.mode {
            ModeArg::Netns => Mode::Netns,
            ModeArg::Loopback => Mode::Loopback,
        },
        bin: a.bin.clone(),
        daemon_args: a.daemon_args.clone(),
        dir,
        base_port: a.base_port,
    }
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).with_env_filter(filter).try_init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("osmosis-netlab: {e:#}");
            ExitCode::from(254)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Cmd::Cleanup => {
            let n = hosts::cleanup_stale()?;
            println!("removed {n} stale namespaces");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Cluster { lab, secs } => {
            let config = lab_config(&lab);
            let lab = Lab::start(config)?;
            for h in &lab.hosts {
                println!(
                    "{} udp {} http http://{}{}",
                    h.name,
                    h.udp,
                    h.http,
                    h.netns.as_ref().map_or(String::new(), |n| format!(" netns {n}"))
                );
            }
            println!("token: {}  (curl -H 'Authorization: Bearer {}' …)", lab.token, lab.token);
            println!("files: {}", lab.dir().display());
            match secs {
                Some(s) => std::thread::sleep(Duration::from_secs(s)),
                None => {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                    rt.block_on(tokio::signal::ctrl_c())?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run {
            lab,
            workload,
            rate,
            time_limit,
            concurrency,
            recovery,
            delay_ms,
            loss,
            fault,
            nemesis_interval,
            kill,
            seed,
        } => {
            let workload: Workload = workload.parse().map_err(anyhow::Error::msg)?;
            if !matches!(workload, Workload::Broadcast | Workload::GSet | Workload::GCounter | Workload::PnCounter) {
                bail!("netlab runs broadcast, g-set, g-counter and pn-counter");
            }
            let concurrency =
                osmosis_harness::cli::parse_concurrency(&concurrency, lab.hosts).map_err(anyhow::Error::msg)?;
            let fault = match fault {
                FaultArg::None => Fault::None,
                FaultArg::Partition => Fault::Partition(Duration::from_secs_f64(nemesis_interval)),
                FaultArg::Kill => Fault::Kill {
                    host: kill[0] as usize,
                    at: Duration::from_secs(kill[1]),
                    down_for: Duration::from_secs(kill[2]),
                },
            };
            let config = lab_config(&lab);
            let (dir, hosts) = (config.dir.clone(), config.hosts);
            let mut lab = Lab::start(config)?;
            if delay_ms > 0 || loss > 0.0 {
                lab.set_netem(Duration::from_millis(delay_ms), loss)?;
            }
            let cfg = DriveConfig {
                workload,
                rate,
                time_limit: Duration::from_secs(time_limit),
                concurrency,
                recovery: Duration::from_secs_f64(recovery),
                seed,
                fault,
            };
            let outcome = drive(&mut lab, &cfg)?;
            drop(lab);
            osmosis_netlab::driver::store(&dir.join("results"), &outcome)?;
            println!("{}", osmosis_harness::results::summary(&outcome.results));
            println!("{SUMMARY_HEADER}");
            let label = format!("{workload} {hosts} hosts {delay_ms} ms {}% loss {:?}", loss * 100.0, cfg.fault);
            println!("{}", summary_line(&label, &outcome));
            println!("results and history in {}", dir.join("results").display());
            Ok(ExitCode::from(match outcome.results.valid() {
                Validity::True => 0,
                Validity::False => 1,
                Validity::Unknown => 2,
            }))
        }
    }
}
