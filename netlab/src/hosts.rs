//! Hosts for daemons: network namespaces joined by a bridge (as root), or ports on loopback (anyone).
//!
//! **Namespaces.** A lab with prefix `P` (`ol<pid>x<k>`) creates a switch namespace `P-sw` holding a bridge `br0`
//! (address 198.18.0.254/24, the driver's side) and one namespace `P-hI` per host, each joined to the bridge by a
//! veth pair (`eth0` inside the host, address 198.18.0.I+1/24). 198.18.0.0/15 is the range set aside for network
//! benchmarks (RFC 2544); nothing here touches the machine's own namespace, so labs can run side by side and none
//! can reach another network. Between the hosts:
//! - **delay** is added by a user-space relay in the switch namespace ([`crate::relay`]: this machine's kernel has
//!   no `sch_netem`); each host's nft NAT table sends the daemons' UDP through it, so only the daemons' traffic is
//!   delayed — HTTP between the driver and the daemons (TCP) is not, as Maelstrom keeps clients next to their node;
//! - **loss** is an nft rule in each sender (`numgen random`), on UDP only;
//! - **partitions** are nft drops in each sender of what it sends to the hosts that do not hear it (Maelstrom's
//!   grudge: receiver → the senders it does not hear).
//!
//! The daemons run with `ip netns exec`, which becomes the daemon process: `kill -9` of the child is the daemon's.
//! [`Lab`]'s `Drop` kills every daemon it started and deletes every namespace it created (deleting a namespace
//! deletes its interfaces), also when a test panics; [`cleanup_stale`] removes what a killed run left behind.
//!
//! **Loopback.** Hosts are ports on 127.0.0.1; no delay, loss or partitions (those need root and namespaces).

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use osmosis_harness::nemesis::Grudge;

use crate::relay::Relay;

static LABS: AtomicU32 = AtomicU32::new(0);

/// Where the hosts live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One network namespace per host (needs root, `ip`, `tc`, `nft`).
    Netns,
    /// Ports on 127.0.0.1.
    Loopback,
}

/// How to start the daemons.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Number of hosts.
    pub hosts: usize,
    /// Netns or loopback.
    pub mode: Mode,
    /// The `osmosisd` binary.
    pub bin: PathBuf,
    /// Extra flags for every daemon.
    pub daemon_args: Vec<String>,
    /// Where data directories, keys and logs go (created; kept after the lab for inspection).
    pub dir: PathBuf,
    /// First port on loopback (UDP `base + i`, HTTP `base + 100 + i`).
    pub base_port: u16,
}

/// One host and its daemon.
#[derive(Debug)]
pub struct Host {
    /// The daemon's node name (`n1`, `n2`, …).
    pub name: String,
    /// Its namespace, in netns mode.
    pub netns: Option<String>,
    /// Its UDP address.
    pub udp: SocketAddr,
    /// Its HTTP API.
    pub http: SocketAddr,
    child: Option<Child>,
    /// Daemon runs started on this host.
    pub starts: u32,
}

/// A set of hosts with a daemon on each (see the module docs).
#[derive(Debug)]
pub struct Lab {
    config: LabConfig,
    prefix: String,
    /// The hosts, in name order.
    pub hosts: Vec<Host>,
    /// The bearer token of every daemon's API.
    pub token: String,
    netns_made: Vec<String>,
    relay: Option<Relay>,
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn ip_in(ns: &str, args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(["-n", ns]).args(args))
}

fn in_ns(ns: &str, program: &str, args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(["netns", "exec", ns, program]).args(args))
}

/// Whether this process can build namespace labs: root, with `ip`, `tc` and `nft` on the path.
pub fn netns_available() -> Result<(), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("not root".into());
    }
    for tool in ["ip", "tc", "nft"] {
        let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
        if !found {
            return Err(format!("{tool} is not installed (apt-get install iproute2 nftables)"));
        }
    }
    Ok(())
}

/// Deletes namespaces left by labs of processes that no longer run.
pub fn cleanup_stale() -> Result<usize> {
    let out = Command::new("ip").args(["netns", "list"]).output().context("ip netns list")?;
    let mut removed = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(pid) = name.strip_prefix("ol").and_then(|r| r.split('x').next()).and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run(Command::new("ip").args(["netns", "del", name]));
            removed += 1;
        }
    }
    Ok(removed)
}

const SUBNET: &str = "198.18.0";
/// Every daemon's UDP port in netns mode.
pub(crate) const DAEMON_PORT: u16 = 7946;

/// The relay port that carries datagrams from host `from` to host `to`.
pub(crate) fn relay_port(from: usize, to: usize) -> u16 {
    20_000 + (from as u16) * 256 + to as u16
}

impl Lab {
    /// Builds the hosts and starts a daemon on each; returns once every API answers `/health`.
    pub fn start(config: LabConfig) -> Result<Lab> {
        let prefix = format!("ol{}x{}", std::process::id(), LABS.fetch_add(1, Ordering::Relaxed));
        fs::create_dir_all(&config.dir)?;
        let token = format!("netlab-token-{prefix}-0123456789");
        fs::write(config.dir.join("key"), format!("netlab cluster secret {prefix} 0123456789\n"))?;
        fs::write(config.dir.join("token"), &token)?;
        let mut lab = Lab { config, prefix, hosts: Vec::new(), token, netns_made: Vec::new(), relay: None };
        if lab.config.mode == Mode::Netns {
            lab.build_netns()?;
        }
        for i in 0..lab.config.hosts {
            let (netns, udp, http) = match lab.config.mode {
                Mode::Netns => {
                    let ip = format!("{SUBNET}.{}", i + 1);
                    (Some(lab.host_ns(i)), format!("{ip}:{DAEMON_PORT}").parse()?, format!("{ip}:8080").parse()?)
                }
                Mode::Loopback => {
                    let p = lab.config.base_port + i as u16;
                    (None, SocketAddr::from(([127, 0, 0, 1], p)), SocketAddr::from(([127, 0, 0, 1], p + 100)))
                }
            };
            let name = format!("n{}", i + 1);
            // Every lab starts from empty replicas; only a restart within the lab finds its data again.
            let data = lab.config.dir.join(&name);
            if data.exists() {
                fs::remove_dir_all(&data).with_context(|| format!("clearing {}", data.display()))?;
            }
            lab.hosts.push(Host { name, netns, udp, http, child: None, starts: 0 });
        }
        for i in 0..lab.hosts.len() {
            lab.spawn(i)?;
        }
        for i in 0..lab.hosts.len() {
            lab.wait_healthy(i, Duration::from_secs(20))?;
        }
        lab.wait_members(Duration::from_secs(20))?;
        Ok(lab)
    }

    /// The switch namespace (the driver's), in netns mode.
    pub fn switch_ns(&self) -> Option<String> {
        (self.config.mode == Mode::Netns).then(|| format!("{}-sw", self.prefix))
    }

    fn host_ns(&self, i: usize) -> String {
        format!("{}-h{}", self.prefix, i + 1)
    }

    fn add_ns(&mut self, name: &str) -> Result<()> {
        run(Command::new("ip").args(["netns", "add", name]))?;
        self.netns_made.push(name.to_string());
        ip_in(name, &["link", "set", "lo", "up"])
    }

    fn build_netns(&mut self) -> Result<()> {
        let sw = format!("{}-sw", self.prefix);
        self.add_ns(&sw)?;
        ip_in(&sw, &["link", "add", "br0", "type", "bridge"])?;
        ip_in(&sw, &["addr", "add", &format!("{SUBNET}.254/24"), "dev", "br0"])?;
        ip_in(&sw, &["link", "set", "br0", "up"])?;
        for i in 0..self.config.hosts {
            let ns = self.host_ns(i);
            self.add_ns(&ns)?;
            let (inside, outside) = (format!("{}h{}", self.prefix, i + 1), format!("{}s{}", self.prefix, i + 1));
            ip_in(&sw, &["link", "add", &outside, "type", "veth", "peer", "name", &inside, "netns", &ns])?;
            ip_in(&sw, &["link", "set", &outside, "master", "br0", "up"])?;
            ip_in(&ns, &["link", "set", &inside, "name", "eth0"])?;
            ip_in(&ns, &["addr", "add", &format!("{SUBNET}.{}/24", i + 1), "dev", "eth0"])?;
            ip_in(&ns, &["link", "set", "eth0", "up"])?;
            let mut nat = String::from("table ip osmosis_nat {\n chain out {\n type nat hook output priority -100\n");
            for d in 0..self.config.hosts {
                if d != i {
                    let port = relay_port(i, d);
                    nat.push_str(&format!(
                        "ip daddr {SUBNET}.{} udp dport {DAEMON_PORT} dnat to {SUBNET}.254:{port}\n",
                        d + 1
                    ));
                }
            }
            nat.push_str("}\n}\n");
            in_ns(&ns, "nft", &[&nat])?;
            let filter = "table inet osmosis {\n set blocked { type ipv4_addr; }\n \
                          chain out {\n type filter hook output priority -200\n meta l4proto udp ip daddr @blocked drop\n }\n}\n";
            in_ns(&ns, "nft", &[filter])?;
        }
        self.relay = Some(Relay::start(&sw, self.config.hosts)?);
        Ok(())
    }

    /// Sets the one-way `delay` of every UDP datagram between daemons (the relay's) and the fraction `loss` of
    /// them dropped (nft, at the sender).
    pub fn set_netem(&self, delay: Duration, loss: f64) -> Result<()> {
        let Some(relay) = &self.relay else { bail!("delay and loss need namespaces (run as root with --mode netns)") };
        relay.set_delay(delay);
        let per_10k = (loss.clamp(0.0, 1.0) * 10_000.0).round() as u32;
        for h in &self.hosts {
            let Some(ns) = &h.netns else { continue };
            in_ns(ns, "nft", &["flush", "chain", "inet", "osmosis", "out"])?;
            let mut rule = vec![
                "add", "rule", "inet", "osmosis", "out", "meta", "l4proto", "udp", "ip", "daddr", "@blocked", "drop",
            ];
            in_ns(ns, "nft", &rule)?;
            if per_10k > 0 {
                let n = per_10k.to_string();
                rule = vec![
                    "add", "rule", "inet", "osmosis", "out", "meta", "l4proto", "udp", "numgen", "random", "mod",
                    "10000", "<", &n, "drop",
                ];
                in_ns(ns, "nft", &rule)?;
            }
        }
        Ok(())
    }

    /// Imposes a grudge (node name → names it does not hear), replacing the previous one. Each sender drops what
    /// it sends to the hosts that do not hear it (before the relay: datagrams already in flight still arrive).
    pub fn partition(&self, grudge: &Grudge) -> Result<()> {
        self.heal()?;
        for h in &self.hosts {
            let Some(ns) = &h.netns else { bail!("partitions need namespaces (run as root with --mode netns)") };
            let blocked: Vec<String> = self
                .hosts
                .iter()
                .filter(|receiver| grudge.get(&receiver.name).is_some_and(|deaf| deaf.contains(&h.name)))
                .map(|receiver| receiver.udp.ip().to_string())
                .collect();
            if !blocked.is_empty() {
                let elements = format!("{{ {} }}", blocked.join(", "));
                in_ns(ns, "nft", &["add", "element", "inet", "osmosis", "blocked", &elements])?;
            }
        }
        Ok(())
    }

    /// Heals every partition.
    pub fn heal(&self) -> Result<()> {
        for h in &self.hosts {
            if let Some(ns) = &h.netns {
                in_ns(ns, "nft", &["flush", "set", "inet", "osmosis", "blocked"])?;
            }
        }
        Ok(())
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let dir = self.config.dir.clone();
        let seeds: Vec<String> =
            self.hosts.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, x)| x.udp.to_string()).collect();
        let h = &mut self.hosts[i];
        let log = fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("{}.log", h.name)))?;
        let mut cmd = match &h.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.config.bin);
                c
            }
            None => Command::new(&self.config.bin),
        };
        cmd.args(["--name", &h.name, "--listen", &h.udp.to_string(), "--http", &h.http.to_string()])
            .args(seeds.iter().flat_map(|s| ["--join", s.as_str()]))
            .arg("--cluster-key-file")
            .arg(dir.join("key"))
            .arg("--http-token-file")
            .arg(dir.join("token"))
            .arg("--data-dir")
            .arg(dir.join(&h.name))
            .args(&self.config.daemon_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        h.child = Some(cmd.spawn().with_context(|| format!("starting {}", self.config.bin.display()))?);
        h.starts += 1;
        Ok(())
    }

    /// Waits until host `i` answers `GET /health`.
    pub fn wait_healthy(&mut self, i: usize, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        let ns = self.switch_ns();
        let url = format!("http://{}/health", self.hosts[i].http);
        loop {
            if let Some(child) = &mut self.hosts[i].child
                && let Some(status) = child.try_wait()?
            {
                bail!("{} exited with {status}; see {}", self.hosts[i].name, self.config.dir.display());
            }
            if crate::probe::http_ok(ns.as_deref(), &url) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not answer {url} within {within:?}", self.hosts[i].name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every daemon's engine has every host as a member (as the harness waits for `init`).
    pub fn wait_members(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        let ns = self.switch_ns();
        let want = self.hosts.len();
        loop {
            let full = self.hosts.iter().all(|h| {
                let url = format!("http://{}/health", h.http);
                crate::probe::http_get(ns.as_deref(), &url)
                    .ok()
                    .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
                    .and_then(|v| v["members"].as_array().map(Vec::len))
                    == Some(want)
            });
            if full {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the daemons did not all see {want} members within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `kill -9` of host `i`'s daemon.
    pub fn kill(&mut self, i: usize) -> Result<()> {
        if let Some(mut child) = self.hosts[i].child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts host `i`'s daemon again (same name, address and data directory) and waits for its API.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.spawn(i)?;
        self.wait_healthy(i, Duration::from_secs(20))
    }

    /// Where the lab keeps its files.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.relay.take();
        for h in &mut self.hosts {
            if let Some(mut child) = h.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        for ns in self.netns_made.drain(..).rev() {
            if let Err(e) = run(Command::new("ip").args(["netns", "del", &ns])) {
                eprintln!("netlab: could not delete namespace {ns}: {e}");
            }
        }
    }
}
