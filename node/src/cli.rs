//! The `osmosis` command line and its tokio driver.
//!
//! `osmosis [WORKLOAD] [--overlay …] [--relay-window-ms …] …`: the flags override single fields of the
//! workload's defaults ([`default_config`]). Bad flags and out-of-range configs are refused by clap with a plain
//! message and exit code 2; `--help` prints every knob with its unit and each workload's defaults.
//!
//! The driver ([`run`]) is a current-thread tokio runtime: one task reads stdin into a channel, line by line (a
//! line longer than [`MAX_LINE`] bytes is logged and skipped without being kept, a line that is not UTF-8 is logged
//! and skipped); the main loop waits for the next line or the handler's next deadline, feeds the
//! [`Node`] with `now` = time since start, then writes every output line to one buffered stdout and flushes once
//! per iteration. Memory held by input is bounded: the reader keeps at most one partial line ([`MAX_LINE`] bytes)
//! and the lines read but not yet handled total at most [`QUEUE_BYTES`] bytes (the reader stops reading until the
//! main loop catches up). EOF on stdin flushes and exits 0; a failed write to stdout exits 1 at once, without
//! waiting for stdin. Logs go to stderr (`tracing`, filter from `RUST_LOG`, default `warn`): nothing but protocol
//! lines reaches stdout.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};
use osmosis_antientropy::{Config, Overlay};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::runtime::Runtime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;

use crate::handler::{Acks, Node, Settings};
use crate::protocol::Workload;

/// The longest stdin line the node accepts, in bytes (8 MiB); longer lines are skipped. The longest legitimate
/// line is an engine message carrying a whole chunk of a set, a few hundred KB; parsing a line can take ~16 times
/// its size in memory (`[0,0,…]` is 2 bytes per `serde_json::Value` of 32), so the limit also bounds that.
pub const MAX_LINE: usize = 8 << 20;

/// The most bytes of stdin lines read but not yet handled (32 MiB): past it, the reader waits for the main loop.
pub const QUEUE_BYTES: usize = 32 << 20;

/// Lines handled between two flushes at most, when lines arrive faster than they are handled.
const BATCH: usize = 256;

/// The command line. Durations are whole milliseconds; each knob left out keeps the workload's default.
#[derive(Debug, Parser)]
#[command(
    name = "osmosis",
    version,
    about = "A Jepsen Maelstrom node on delta-state CRDTs with push-pull anti-entropy.",
    long_about = "A Jepsen Maelstrom node on delta-state CRDTs with push-pull anti-entropy.\n\n\
        Speaks Maelstrom's protocol on stdin/stdout (one JSON message per line); logs go to stderr, filtered by \
        RUST_LOG (default: warn). echo and generate (unique ids) are served under every workload.\n\n\
        Example: maelstrom test -w g-set --bin target/release/osmosis --node-count 5 --time-limit 20 --rate 100 g-set"
)]
struct Args {
    /// The Maelstrom workload to serve (`maelstrom test -w <WORKLOAD>`).
    #[arg(value_enum, default_value_t = Workload::Broadcast)]
    workload: Workload,
    /// The eager overlay fresh updates travel along: `auto` (a star up to --star-limit nodes, a tree of arity
    /// ⌈√N⌉ above), `star` (the first live node by name relays for all), `tree:K` (a K-ary tree over the nodes by
    /// name, K in 1..=1024), `full` (every node pushes to every other) or `none` (anti-entropy rounds only). The
    /// star and the trees route around a node that stops acknowledging pushes.
    #[arg(long, value_name = "OVERLAY")]
    overlay: Option<Overlay>,
    /// Milliseconds a relaying node (the star's hub, a tree's inner nodes) batches updates per peer before sending.
    #[arg(long, value_name = "MS")]
    relay_window_ms: Option<u64>,
    /// Milliseconds a non-relaying node batches its own updates per peer before sending (0: send at once).
    #[arg(long, value_name = "MS")]
    local_window_ms: Option<u64>,
    /// Milliseconds from the last news from a peer to the first anti-entropy round; the wait doubles while nothing
    /// changes.
    #[arg(long, value_name = "MS")]
    round_min_ms: Option<u64>,
    /// Longest wait between two anti-entropy rounds, in milliseconds.
    #[arg(long, value_name = "MS")]
    round_max_ms: Option<u64>,
    /// Random peers contacted per anti-entropy round, besides the hub (star) or parent (tree), which every round
    /// includes.
    #[arg(long, value_name = "N")]
    fanout: Option<usize>,
    /// Milliseconds a gap in a peer's push numbers (a lost push) may last before a round with that peer starts.
    #[arg(long, value_name = "MS")]
    gap_timeout_ms: Option<u64>,
    /// With `--overlay auto`: the most nodes served by a star; larger clusters get a tree.
    #[arg(long, value_name = "N")]
    star_limit: Option<usize>,
    /// Milliseconds past its parent's relay window a node waits for a push to be acknowledged before it routes
    /// around the parent (two network trips plus a margin).
    #[arg(long, value_name = "MS")]
    ack_slack_ms: Option<u64>,
    /// Milliseconds a suspicion of an unreachable node lasts without new evidence (doubled for each new suspicion
    /// of the same node, up to 16 times); hearing from the node ends it at once.
    #[arg(long, value_name = "MS")]
    suspicion_ttl_ms: Option<u64>,
    /// The most bytes of JSON in one message body to a peer; larger deltas are cut into several messages, and a
    /// client's element larger than fits is refused (error 14).
    #[arg(long, value_name = "BYTES")]
    max_message_bytes: Option<usize>,
    /// Whether a node whose own updates wait for a batching window (the hub) also sends each at once to one peer,
    /// so that a crash within the window loses no acknowledged update (`true` or `false`).
    #[arg(long, value_name = "BOOL")]
    backup: Option<bool>,
    /// When a client's update (broadcast, add) is answered: `sent`, once it has left this node in a push to a peer
    /// (a node that batches its own updates holds the answer until its batch leaves), so that a crash of this node
    /// loses no answered update; `confirmed`, once a peer has acknowledged it, so that not even a lost push or a
    /// dead receiver loses it; or `applied`, as soon as this node holds it. Default: `sent` for broadcast and
    /// g-set, `applied` for the counters (whose nodes batch their own adds for 1.5 s).
    #[arg(long, value_enum, value_name = "WHEN")]
    acks: Option<Acks>,
    /// Base seed of the engine's randomness (each node XORs in a hash of its id).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
}

/// The engine's defaults for `workload`; each flag given overrides one field.
///
/// - broadcast, g-set (and echo, unique-ids, which run no engine): [`Config::default`]: `auto` overlay (a star up to
///   128 nodes), relay window 250 ms, local window 0 (a client's update leaves at once, the hub batches), a push
///   unacknowledged for 250 + 300 ms makes a node route around its hub, suspicions last 5 s, messages to peers at
///   most 60 000 bytes; but no backup pushes: the node holds a client's answer until its update has left
///   (`--acks sent`), which protects the same updates against a crash without a message per update of the hub's
///   own clients (ALGORITHM.md §4, "Crashes").
/// - g-counter, pn-counter: `auto` overlay, relay and local windows 1500 ms, no backup pushes (every node
///   batches its own updates: a backup per update would cost more than the batching saves), first round 4 s after the last news,
///   the rest as [`Config::default`]. Counters are judged only by the final reads after the recovery pause
///   (spec §9.2), so long batching windows cost nothing there and save messages. `round_min` must stay well above
///   the time between two pushes of a busy hub (its window), or leaves take the gaps for silence and start rounds:
///   with 2 s windows and the sets' 2 s `round_min`, a 25-node g-counter run with partitions sent 0.62 msgs/op,
///   against 0.33 with a 5 s `round_min`. And a node routes around its hub only once a push has gone
///   unacknowledged for 1.5 + 8 s (sets: 0.25 + 0.3 s): re-forming the star around a cut costs hand-offs,
///   catch-up rounds and a stand-in's relays and rounds, which only pay for latency, and Maelstrom's partitions
///   (several seconds each) made them cost more than they saved: the 25-node counter runs with partitions sent
///   0.48–0.50 msgs/op (median of seeds 1–3, g-counter and pn-counter) with the sets' 300 ms slack, 0.41–0.42
///   with 5 s, 0.37 with 8 s. A hub that stays unreachable longer is still routed around. With `--acks confirmed`
///   the counters keep the sets' 300 ms: there a client's answer waits for a peer to acknowledge its update, and
///   a dead hub unrouted-around for 9.5 s left a client's read of a restarted hub empty after the recovery (1 of
///   100 runs of `kill-5-gcount-confirmed`, benches/no-spof.txt).
pub fn default_config(workload: Workload) -> Config {
    match workload {
        Workload::GCounter | Workload::PnCounter => Config {
            overlay: Overlay::Auto,
            relay_window: Duration::from_millis(1500),
            local_window: Duration::from_millis(1500),
            round_min: Duration::from_secs(4),
            ack_slack: Duration::from_secs(8),
            backup: false,
            ..Config::default()
        },
        // The node holds a client's answer until its update has left (`--acks sent`), which protects what the
        // backup pushes protect, without their message per update of the hub's own clients.
        Workload::Broadcast | Workload::GSet | Workload::Echo | Workload::UniqueIds => {
            Config { backup: false, ..Config::default() }
        }
    }
}

/// When a client's update is answered by default: once it has left this node for broadcast and g-set (a star leaf
/// answers at once, the hub when its batch leaves); at once for the counters. A counter's node batches its own adds
/// for its 1.5 s local window, and Maelstrom's one client per node would then wait for each add's window: in the
/// 25-node g-counter scenario with partitions, `sent` halved the operations (3006 to 1432 in 30 s, seed 2) and
/// doubled the messages per operation (0.57 to 1.01).
pub fn default_acks(workload: Workload) -> Acks {
    match workload {
        Workload::GCounter | Workload::PnCounter => Acks::Applied,
        Workload::Broadcast | Workload::GSet | Workload::Echo | Workload::UniqueIds => Acks::Sent,
    }
}

/// [`Config::validate`], and a message budget that leaves room for the envelope within [`MAX_LINE`] (a peer must be
/// able to read every message this node sends).
pub fn check_config(config: &Config) -> Result<(), crate::handler::NodeError> {
    config.validate()?;
    if config.max_message_bytes > MAX_MESSAGE_BYTES {
        return Err(crate::handler::NodeError::BudgetAboveLineLimit { bytes: config.max_message_bytes });
    }
    Ok(())
}

/// The largest message budget a node accepts: a stdin line ([`MAX_LINE`]) less 1 MiB for the envelope.
pub const MAX_MESSAGE_BYTES: usize = MAX_LINE - (1 << 20);

/// The defaults of every workload, for `--help`.
fn defaults_help() -> String {
    let ms = |d: Duration| d.as_millis();
    let mut text = String::from("Defaults by workload (milliseconds):\n");
    for w in Workload::ALL {
        let c = default_config(w);
        text.push_str(&format!(
            "  {:<11} --overlay {} --relay-window-ms {} --local-window-ms {} --round-min-ms {} --round-max-ms {} \
             --fanout {} --gap-timeout-ms {} --star-limit {} --ack-slack-ms {} --suspicion-ttl-ms {} \
             --max-message-bytes {} --backup {}\n",
            w.name(),
            c.overlay,
            ms(c.relay_window),
            ms(c.local_window),
            ms(c.round_min),
            ms(c.round_max),
            c.fanout,
            ms(c.gap_timeout),
            c.star_limit,
            ms(c.ack_slack),
            ms(c.suspicion_ttl),
            c.max_message_bytes,
            c.backup,
        ));
    }
    text.push_str("(echo and unique-ids run no engine: their knobs are checked but unused.)");
    text
}

fn command() -> clap::Command {
    Args::command().after_help(defaults_help())
}

/// Parses the command line (program name first) into the node's settings. Errors are clap's (exit code 2 for bad
/// flags and for a config [`Config::validate`] refuses; 0 for `--help` and `--version`).
pub fn settings_from_args<I, T>(args: I) -> Result<Settings, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut command = command();
    let matches = command.try_get_matches_from_mut(args)?;
    let args = Args::from_arg_matches(&matches)?;
    let acks = args.acks.unwrap_or(default_acks(args.workload));
    let mut config = default_config(args.workload);
    if acks == Acks::Confirmed {
        // A client's answer waits for a peer's acknowledgement: a node whose hub died must route around it soon.
        config.ack_slack = Config::default().ack_slack;
    }
    let ms = Duration::from_millis;
    if let Some(o) = args.overlay {
        config.overlay = o;
    }
    if let Some(v) = args.relay_window_ms {
        config.relay_window = ms(v);
    }
    if let Some(v) = args.local_window_ms {
        config.local_window = ms(v);
    }
    if let Some(v) = args.round_min_ms {
        config.round_min = ms(v);
    }
    if let Some(v) = args.round_max_ms {
        config.round_max = ms(v);
    }
    if let Some(v) = args.fanout {
        config.fanout = v;
    }
    if let Some(v) = args.gap_timeout_ms {
        config.gap_timeout = ms(v);
    }
    if let Some(v) = args.star_limit {
        config.star_limit = v;
    }
    if let Some(v) = args.ack_slack_ms {
        config.ack_slack = ms(v);
    }
    if let Some(v) = args.suspicion_ttl_ms {
        config.suspicion_ttl = ms(v);
    }
    if let Some(v) = args.max_message_bytes {
        config.max_message_bytes = v;
    }
    if let Some(v) = args.backup {
        config.backup = v;
    }
    check_config(&config)
        .map_err(|e| command.error(clap::error::ErrorKind::ValueValidation, format!("bad config: {e}")))?;
    Ok(Settings { workload: args.workload, config, seed: args.seed, incarnation: 0, acks })
}

/// A [`Settings::incarnation`] for a process starting now: microseconds since the Unix epoch, and strictly greater
/// than any this process returned before (two nodes started in the same microsecond in one process differ). A
/// restart takes far longer than a microsecond, so a node id's later process never repeats an earlier one's,
/// unless the wall clock is set back by more than the time between them.
pub fn incarnation() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let previous = LAST.fetch_max(now, Ordering::Relaxed);
    if previous >= now { LAST.fetch_add(1, Ordering::Relaxed) + 1 } else { now }
}

/// The `osmosis` binary: parses flags, sets up logging, runs the node on stdin/stdout until EOF.
pub fn main() -> ExitCode {
    let settings = match settings_from_args(std::env::args_os()) {
        Ok(s) => Settings { incarnation: incarnation(), ..s },
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    init_tracing();
    tracing::info!("starting: {settings:?}");
    let node = match Node::new(settings) {
        Ok(node) => node,
        Err(e) => {
            tracing::error!("bad settings: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = tokio::io::BufReader::with_capacity(1 << 16, tokio::io::stdin());
    let stdout = io::BufWriter::with_capacity(1 << 16, io::stdout());
    serve(runtime, node, stdin, stdout)
}

/// Runs the driver on `runtime` until [`run`] ends, then shuts the runtime down without waiting for its blocking
/// tasks: a read of stdin in progress runs on tokio's blocking pool, and no abort cancels it, so waiting for it
/// would hang a node whose stdout failed until stdin closes. 0 on EOF, 1 when writing `output` fails.
fn serve<R, W>(runtime: Runtime, node: Node, input: R, output: W) -> ExitCode
where
    R: AsyncBufRead + Unpin + Send + 'static,
    W: Write,
{
    let result = runtime.block_on(run(node, input, output, MAX_LINE));
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("stdout: {e}; stopping");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_writer(io::stderr).with_ansi(false).with_env_filter(filter).try_init();
}

/// Runs `node` on `input` lines (at most `max_line` bytes each, at most [`QUEUE_BYTES`] of them queued) until EOF,
/// writing its lines to `output` (one `flush` per loop iteration). Fails only when writing fails; the reader task
/// is then aborted, which cannot interrupt a read in progress on tokio's blocking pool (so the binary shuts its
/// runtime down without waiting for it).
pub async fn run<R, W>(mut node: Node, input: R, mut output: W, max_line: usize) -> io::Result<()>
where
    R: AsyncBufRead + Unpin + Send + 'static,
    W: Write,
{
    let start = Instant::now();
    let (tx, mut rx) = mpsc::channel::<Queued>(1024);
    let budget = Budget::new(QUEUE_BYTES);
    let reader = tokio::spawn(read_lines(input, max_line, budget, tx));
    loop {
        let deadline = node.next_deadline().and_then(|d| start.checked_add(d));
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let mut open = true;
        tokio::select! {
            biased;
            line = rx.recv() => match line {
                // Each line's bytes return to the budget once handled (the permit drops).
                Some((line, _permit)) => {
                    node.handle_line(start.elapsed(), &line);
                    for _ in 1..BATCH {
                        let Ok((line, _permit)) = rx.try_recv() else { break };
                        node.handle_line(start.elapsed(), &line);
                    }
                }
                None => open = false,
            },
            () = timer => {}
        }
        let now = start.elapsed();
        if node.next_deadline().is_some_and(|d| d <= now) {
            node.on_tick(now);
        }
        for line in node.take_output() {
            output.write_all(line.as_bytes())?;
            output.write_all(b"\n")?;
        }
        output.flush()?;
        if !open {
            break;
        }
    }
    reader.abort();
    Ok(())
}

/// A line read from stdin and its share of the [`Budget`], returned when the permit drops.
type Queued = (String, OwnedSemaphorePermit);

/// The bytes the lines queued between the reader and the main loop may total.
#[derive(Debug, Clone)]
struct Budget {
    permits: Arc<Semaphore>,
    bytes: usize,
}

impl Budget {
    /// A budget of `bytes`, at least 1 and at most `u32::MAX` (the most permits one acquire can take).
    fn new(bytes: usize) -> Budget {
        let most = usize::try_from(u32::MAX).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
        let bytes = bytes.clamp(1, most);
        Budget { permits: Arc::new(Semaphore::new(bytes)), bytes }
    }

    /// Waits until `len` bytes are free and takes them; a line larger than the whole budget takes all of it. `None`
    /// only if the semaphore was closed (it never is).
    async fn take(&self, len: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(len.clamp(1, self.bytes)).unwrap_or(u32::MAX);
        self.permits.clone().acquire_many_owned(n).await.ok()
    }
}

/// Sends each line of `input` (without its newline) to `tx`, skipping lines over `max_line` bytes and lines that
/// are not UTF-8. Holds at most one partial line of `max_line` bytes, and sends a line only once its length in
/// bytes is free in `budget`: the lines sent but not yet handled (their permits not yet dropped) never total more
/// than the budget. Stops at EOF, at a read error, or when `tx` closes.
async fn read_lines<R: AsyncBufRead + Unpin>(mut input: R, max_line: usize, budget: Budget, tx: mpsc::Sender<Queued>) {
    let mut line: Vec<u8> = Vec::new();
    let mut skipped: Option<usize> = None; // bytes of an over-long line seen so far
    loop {
        let chunk = match input.fill_buf().await {
            Ok(chunk) => chunk,
            Err(e) => {
                tracing::error!("stdin: {e}; treating it as EOF");
                return;
            }
        };
        let eof = chunk.is_empty();
        let newline = chunk.iter().position(|&b| b == b'\n');
        let part = &chunk[..newline.unwrap_or(chunk.len())];
        match &mut skipped {
            Some(n) => *n += part.len(),
            None if line.len() + part.len() > max_line => {
                skipped = Some(line.len() + part.len());
                line = Vec::new();
            }
            None => line.extend_from_slice(part),
        }
        let used = part.len() + usize::from(newline.is_some());
        input.consume(used);
        if newline.is_none() && !eof {
            continue;
        }
        if let Some(n) = skipped.take() {
            tracing::warn!("skipping a stdin line of {n} bytes: longer than the limit of {max_line}");
        } else if !line.is_empty() {
            match String::from_utf8(std::mem::take(&mut line)) {
                Ok(text) => {
                    let Some(permit) = budget.take(text.len()).await else { return };
                    if tx.send((text, permit)).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!("skipping a stdin line that is not UTF-8: {}", e.utf8_error()),
            }
        }
        if eof {
            return;
        }
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
