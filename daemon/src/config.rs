//! `osmosisd`'s configuration: command-line flags and an optional TOML file with the same keys (`--config`); a
//! flag wins over the file, the file over the default. `osmosisd --help` documents every option.
//!
//! The file uses the flags' long names with `_` for `-`, e.g.
//!
//! ```toml
//! name = "eu-1"
//! listen = "10.0.0.1:7946"
//! join = ["10.0.0.2:7946", "10.0.0.3:7946"]
//! cluster_key_file = "/etc/osmosis/cluster.key"
//! data_dir = "/var/lib/osmosis"
//! fsync = "always"
//! ```

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use osmosis_antientropy::{Config, Overlay};
use serde::Deserialize;

use crate::membership::SwimConfig;
use crate::wire::{ClusterKey, HEADER_LEN, MAC_LEN, MAX_DATAGRAM};

/// When the delta log is flushed to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Before a write is acknowledged (writes waiting together share one fsync).
    Always,
    /// Every so often in the background; a write is acknowledged once it is in the log file (it survives the
    /// daemon's crash, not the machine's).
    Interval(Duration),
    /// Never explicitly: the OS decides. Acknowledged writes survive the daemon's crash, not the machine's.
    Never,
}

impl FromStr for Fsync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(Fsync::Always),
            "never" => Ok(Fsync::Never),
            _ => match s.strip_prefix("interval:").map(str::parse::<u64>) {
                Some(Ok(ms)) if (1..=3_600_000).contains(&ms) => Ok(Fsync::Interval(Duration::from_millis(ms))),
                _ => Err(format!("bad fsync policy {s:?}: expected always, never or interval:MS (1..=3600000)")),
            },
        }
    }
}

/// Bounds on what a replica holds and what the daemon accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sets plus counters.
    pub max_objects: u64,
    /// Elements over all sets.
    pub max_elements: u64,
    /// Replica entries over all counters.
    pub max_counter_entries: u64,
    /// Bytes of an HTTP request body.
    pub max_body_bytes: usize,
    /// Bytes of an engine datagram's payload: deltas are split to fit.
    pub max_datagram_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_objects: 1024,
            max_elements: 1 << 23,
            max_counter_entries: 1 << 16,
            max_body_bytes: 1 << 20,
            max_datagram_bytes: 60_000,
        }
    }
}

/// Everything the daemon runs with, resolved and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This node's name (the engine's id for it; unique in the cluster, stable across restarts).
    pub name: String,
    /// The UDP address to bind.
    pub listen: SocketAddr,
    /// The UDP address other members send to.
    pub advertise: SocketAddr,
    /// Seed members to join through.
    pub join: Vec<SocketAddr>,
    /// The HTTP API's address.
    pub http: SocketAddr,
    /// The bearer token the API requires, if any.
    pub http_token: Option<String>,
    /// The key of every datagram's MAC.
    pub cluster_key: ClusterKey,
    /// Where the replica is kept; `None`: in memory only.
    pub data_dir: Option<PathBuf>,
    /// The log's fsync policy.
    pub fsync: Fsync,
    /// How often a snapshot is written when something changed.
    pub snapshot_every: Duration,
    /// A snapshot is also written once the log grows past this many bytes.
    pub snapshot_log_bytes: u64,
    /// The engine's knobs.
    pub engine: Config,
    /// SWIM's knobs.
    pub swim: SwimConfig,
    /// Caps.
    pub limits: Limits,
    /// Seed of every random choice (XORed with a hash of the name).
    pub seed: u64,
}

/// The command line (every option can also come from the `--config` file).
#[derive(Debug, Default, Parser, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[command(
    name = "osmosisd",
    version,
    about = "Replicates named grow-only sets and counters between hosts over UDP, with an HTTP/JSON API.",
    long_about = "Replicates named grow-only sets and counters between hosts over UDP (delta-state CRDTs and \
        push-pull anti-entropy), with SWIM membership, a MAC under a cluster key on every datagram, persistence \
        under a data directory and an HTTP/JSON API.\n\n\
        Every option may also be set in a TOML file given with --config (same names, `_` for `-`); flags win over \
        the file. Logs go to stderr, filtered by RUST_LOG (default: info).\n\n\
        Example: osmosisd --name a --listen 127.0.0.1:7001 --http 127.0.0.1:8001 --cluster-key-file key \
        --data-dir /tmp/a --join 127.0.0.1:7002"
)]
pub struct Args {
    /// A TOML file with any of these options.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// This node's name: unique in the cluster and the same across restarts (1-128 of A-Z a-z 0-9 _ - . :).
    /// Default: the advertised address.
    #[arg(long)]
    pub name: Option<String>,
    /// UDP address to bind for peer traffic. Default 127.0.0.1:7946.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// UDP address the other members send to, if not the listen address (required when listening on 0.0.0.0).
    #[arg(long, value_name = "ADDR")]
    pub advertise: Option<String>,
    /// A member to join through (host:port, repeatable). A node with none waits to be joined.
    #[arg(long, value_name = "ADDR")]
    pub join: Vec<String>,
    /// HTTP API address. Default 127.0.0.1:8080. Any address but loopback needs --http-token-file.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// A file holding the bearer token every API request but /health must carry (`Authorization: Bearer …`).
    #[arg(long, value_name = "FILE")]
    pub http_token_file: Option<PathBuf>,
    /// A file holding the cluster secret (at least 16 bytes; the same on every member). Required.
    #[arg(long, value_name = "FILE")]
    pub cluster_key_file: Option<PathBuf>,
    /// Directory for the snapshot and the delta log. Without it the replica lives in memory only.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// When the delta log reaches stable storage: `always` (before a write is acknowledged), `interval:MS`, or
    /// `never`. Default always.
    #[arg(long, value_name = "POLICY")]
    pub fsync: Option<String>,
    /// Seconds between snapshots when something changed. Default 30.
    #[arg(long, value_name = "S")]
    pub snapshot_secs: Option<u64>,
    /// Write a snapshot once the delta log passes this many bytes. Default 67108864 (64 MiB).
    #[arg(long, value_name = "BYTES")]
    pub snapshot_log_bytes: Option<u64>,
    /// Eager overlay: star (the first member by name relays), full, tree:K or none. Default star.
    #[arg(long, value_name = "OVERLAY")]
    pub overlay: Option<String>,
    /// Milliseconds a relaying node batches updates. Default 250.
    #[arg(long, value_name = "MS")]
    pub relay_window_ms: Option<u64>,
    /// Milliseconds a non-relaying node batches its own updates. Default 0.
    #[arg(long, value_name = "MS")]
    pub local_window_ms: Option<u64>,
    /// Milliseconds from the last news to the first anti-entropy round (doubling while quiet). Default 2000.
    #[arg(long, value_name = "MS")]
    pub round_min_ms: Option<u64>,
    /// Longest wait between two anti-entropy rounds, in milliseconds. Default 8000.
    #[arg(long, value_name = "MS")]
    pub round_max_ms: Option<u64>,
    /// Random peers per round besides the upstream node. Default 1.
    #[arg(long, value_name = "N")]
    pub fanout: Option<usize>,
    /// Milliseconds a missing push number may stay missing before a round with its sender. Default 1000.
    #[arg(long, value_name = "MS")]
    pub gap_timeout_ms: Option<u64>,
    /// SWIM: milliseconds between probes of a random member. Default 1500.
    #[arg(long, value_name = "MS")]
    pub probe_period_ms: Option<u64>,
    /// SWIM: milliseconds a probe waits for a direct answer. Default 500.
    #[arg(long, value_name = "MS")]
    pub probe_rtt_ms: Option<u64>,
    /// SWIM: milliseconds a suspect has to refute suspicion before it is declared down. Default 3000.
    #[arg(long, value_name = "MS")]
    pub suspect_timeout_ms: Option<u64>,
    /// SWIM: a probe of a member whose authentic engine datagram arrived within this many milliseconds is answered
    /// by that traffic instead of a ping (unless the ping carries membership updates); at most the probe period,
    /// 0 always pings. A failure is detected at most this much later. Default 500.
    #[arg(long, value_name = "MS")]
    pub traffic_liveness_ms: Option<u64>,
    /// Most named objects (sets plus counters) held. Default 1024.
    #[arg(long, value_name = "N")]
    pub max_objects: Option<u64>,
    /// Most elements over all sets. Default 8388608.
    #[arg(long, value_name = "N")]
    pub max_elements: Option<u64>,
    /// Most replica entries over all counters. Default 65536.
    #[arg(long, value_name = "N")]
    pub max_counter_entries: Option<u64>,
    /// Largest HTTP request body in bytes. Default 1048576.
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest engine datagram payload in bytes (8600-65000); larger deltas are split. Default 60000.
    #[arg(long, value_name = "BYTES")]
    pub max_datagram_bytes: Option<usize>,
    /// Seed of the random choices (rounds' partners and seeds, SWIM's probes). Default 0.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

fn resolve(addr: &str, what: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("{what} {addr:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{what} {addr:?} resolves to no address"))
}

fn read_secret(path: &PathBuf, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}

impl Args {
    /// Fills every option the command line left out from `file`.
    fn merge(mut self, file: Args) -> Args {
        macro_rules! fill {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = file.$f; } )* };
        }
        fill!(
            name,
            listen,
            advertise,
            http,
            http_token_file,
            cluster_key_file,
            data_dir,
            fsync,
            snapshot_secs,
            snapshot_log_bytes,
            overlay,
            relay_window_ms,
            local_window_ms,
            round_min_ms,
            round_max_ms,
            fanout,
            gap_timeout_ms,
            probe_period_ms,
            probe_rtt_ms,
            suspect_timeout_ms,
            traffic_liveness_ms,
            max_objects,
            max_elements,
            max_counter_entries,
            max_body_bytes,
            max_datagram_bytes,
            seed
        );
        if self.join.is_empty() {
            self.join = file.join;
        }
        self
    }

    /// Resolves and checks everything.
    pub fn settings(self) -> Result<Settings, String> {
        let args = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
                let file: Args = toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))?;
                self.merge(file)
            }
            None => self,
        };
        let listen = resolve(args.listen.as_deref().unwrap_or("127.0.0.1:7946"), "--listen")?;
        let advertise = match &args.advertise {
            Some(a) => resolve(a, "--advertise")?,
            None if listen.ip().is_unspecified() => {
                return Err(format!("--listen {listen} is a wildcard address: give --advertise"));
            }
            None => listen,
        };
        let name = args.name.clone().unwrap_or_else(|| advertise.to_string());
        crate::objects::check_name(&name).map_err(|e| format!("--name: {e}"))?;
        let join = args.join.iter().map(|a| resolve(a, "--join")).collect::<Result<Vec<_>, _>>()?;
        let http = resolve(args.http.as_deref().unwrap_or("127.0.0.1:8080"), "--http")?;
        let http_token = match &args.http_token_file {
            Some(p) => {
                let t = String::from_utf8(read_secret(p, "HTTP token file")?)
                    .map_err(|_| "the HTTP token file is not UTF-8".to_string())?;
                let t = t.trim().to_string();
                if t.len() < 16 {
                    return Err("the HTTP token must have at least 16 characters".into());
                }
                Some(t)
            }
            None if !http.ip().is_loopback() => {
                return Err(format!("--http {http} is not a loopback address: give --http-token-file"));
            }
            None => None,
        };
        let key_file = args.cluster_key_file.as_ref().ok_or("--cluster-key-file is required")?;
        let cluster_key = ClusterKey::from_secret(&read_secret(key_file, "cluster key file")?)?;
        let fsync = args.fsync.as_deref().unwrap_or("always").parse::<Fsync>()?;
        let ms = Duration::from_millis;
        let d = Config::default();
        let engine = Config {
            overlay: match &args.overlay {
                Some(o) => o.parse::<Overlay>().map_err(|e| e.to_string())?,
                None => d.overlay,
            },
            relay_window: args.relay_window_ms.map_or(d.relay_window, ms),
            local_window: args.local_window_ms.map_or(d.local_window, ms),
            round_min: args.round_min_ms.map_or(d.round_min, ms),
            round_max: args.round_max_ms.map_or(d.round_max, ms),
            fanout: args.fanout.unwrap_or(d.fanout),
            gap_timeout: args.gap_timeout_ms.map_or(d.gap_timeout, ms),
            ..Config::default()
        };
        engine.validate().map_err(|e| format!("engine: {e}"))?;
        let s = SwimConfig::default();
        let swim = SwimConfig {
            probe_period: args.probe_period_ms.map_or(s.probe_period, ms),
            probe_rtt: args.probe_rtt_ms.map_or(s.probe_rtt, ms),
            suspect_to_down: args.suspect_timeout_ms.map_or(s.suspect_to_down, ms),
            announce_every: s.announce_every,
            traffic_window: args.traffic_liveness_ms.map_or(s.traffic_window, ms),
        };
        swim.validate().map_err(|e| format!("swim: {e}"))?;
        let l = Limits::default();
        let limits = Limits {
            max_objects: args.max_objects.unwrap_or(l.max_objects),
            max_elements: args.max_elements.unwrap_or(l.max_elements),
            max_counter_entries: args.max_counter_entries.unwrap_or(l.max_counter_entries),
            max_body_bytes: args.max_body_bytes.unwrap_or(l.max_body_bytes),
            max_datagram_bytes: args.max_datagram_bytes.unwrap_or(l.max_datagram_bytes),
        };
        if !(8600..=MAX_DATAGRAM - HEADER_LEN - MAC_LEN).contains(&limits.max_datagram_bytes) {
            return Err(format!("--max-datagram-bytes {} is outside 8600..=65000", limits.max_datagram_bytes));
        }
        // The engine cuts its messages to the budget, less room for the envelope around them.
        let mut engine = engine;
        engine.max_message_bytes = limits.max_datagram_bytes - crate::core::ENVELOPE_ROOM;
        engine.validate().map_err(|e| format!("engine: {e}"))?;
        if limits.max_body_bytes < 64 {
            return Err("--max-body-bytes must be at least 64".into());
        }
        let snapshot_secs = args.snapshot_secs.unwrap_or(30);
        if !(1..=86_400).contains(&snapshot_secs) {
            return Err(format!("--snapshot-secs {snapshot_secs} is outside 1..=86400"));
        }
        Ok(Settings {
            name,
            listen,
            advertise,
            join,
            http,
            http_token,
            cluster_key,
            data_dir: args.data_dir,
            fsync,
            snapshot_every: Duration::from_secs(snapshot_secs),
            snapshot_log_bytes: args.snapshot_log_bytes.unwrap_or(64 << 20),
            engine,
            swim,
            limits,
            seed: args.seed.unwrap_or(0),
        })
    }
}

/// Parses a command line (program name first): clap's error for bad flags, a message for bad values.
pub fn parse<I, T>(args: I) -> Result<Result<Settings, String>, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    Ok(Args::try_parse_from(args)?.settings())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_file(dir: &std::path::Path) -> String {
        let p = dir.join("key");
        std::fs::write(&p, "0123456789abcdef0123456789abcdef\n").unwrap();
        p.display().to_string()
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("osmosisd-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn defaults_are_loopback_and_durable() {
        let d = tmp("defaults");
        let s = parse(["osmosisd", "--cluster-key-file", &key_file(&d)]).unwrap().unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:7946");
        assert_eq!(s.http.to_string(), "127.0.0.1:8080");
        assert_eq!(s.name, "127.0.0.1:7946");
        assert_eq!(s.fsync, Fsync::Always);
        let budget = Limits::default().max_datagram_bytes - crate::core::ENVELOPE_ROOM;
        assert_eq!(s.engine, Config { max_message_bytes: budget, ..Config::default() });
        assert!(s.http_token.is_none());
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let d = tmp("file");
        let file = d.join("osmosisd.toml");
        let key = key_file(&d);
        std::fs::write(
            &file,
            format!(
                "name = \"from-file\"\nrelay_window_ms = 100\ncluster_key_file = {key:?}\njoin = [\"127.0.0.1:9\"]\n"
            ),
        )
        .unwrap();
        let s = parse(["osmosisd", "--config", file.to_str().unwrap(), "--name", "from-flag"]).unwrap().unwrap();
        assert_eq!(s.name, "from-flag");
        assert_eq!(s.engine.relay_window, Duration::from_millis(100));
        assert_eq!(s.join.len(), 1);
        std::fs::write(&file, "nmae = \"typo\"\n").unwrap();
        let e = parse(["osmosisd", "--config", file.to_str().unwrap()]).unwrap().unwrap_err();
        assert!(e.contains("nmae"), "{e}");
    }

    #[test]
    fn unsafe_or_incomplete_settings_are_refused_with_a_reason() {
        let d = tmp("refused");
        let key = key_file(&d);
        let err = |args: &[&str]| {
            let mut all = vec!["osmosisd", "--cluster-key-file", key.as_str()];
            all.extend_from_slice(args);
            parse(all).unwrap().unwrap_err()
        };
        assert!(parse(["osmosisd"]).unwrap().unwrap_err().contains("--cluster-key-file"));
        assert!(err(&["--http", "0.0.0.0:8080"]).contains("--http-token-file"));
        assert!(err(&["--listen", "0.0.0.0:7946"]).contains("--advertise"));
        assert!(err(&["--fsync", "sometimes"]).contains("fsync"));
        assert!(err(&["--round-min-ms", "0"]).contains("engine"));
        assert!(err(&["--probe-rtt-ms", "5000"]).contains("swim"));
        assert!(err(&["--max-datagram-bytes", "70000"]).contains("65000"));
        assert!(err(&["--name", "a b"]).contains("--name"));
        assert!(parse(["osmosisd", "--no-such-flag"]).is_err());
    }

    #[test]
    fn fsync_policies_parse() {
        assert_eq!("interval:50".parse::<Fsync>(), Ok(Fsync::Interval(Duration::from_millis(50))));
        assert!("interval:0".parse::<Fsync>().is_err());
        assert_eq!("never".parse::<Fsync>(), Ok(Fsync::Never));
    }
}
