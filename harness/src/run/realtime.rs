//! The real-time shell: runs the [`Cluster`] core with one OS process per node and the wall clock.
//!
//! One event loop on the calling thread owns the core and writes delivered messages into each node's stdin
//! itself, through a non-blocking pipe ([`super::process::StdinPipe`]). Tokio tasks (see [`super::process`]) only parse node
//! stdout lines, log stderr and watch for exits. The loop sleeps with `recv_timeout` until the next node output or
//! the core's next wake-up, so a delivery is late by the OS's wake-up delay rather than by a timer wheel's tick
//! (the lag is measured and reported under `:harness` in the results). The shell owns what the core must not:
//! processes, pipes, signals and the clock.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::core::{Cluster, Effect, Finished};
use super::lag::LagHistogram;
use super::process::{Event, NodeProcess, Spawn};
use super::progress::ProgressLine;
use super::store::Journal;
use super::{RunError, sanitize};
use crate::cli::TestConfig;
use crate::diagnostic::Diagnostic;
use crate::history::Nanos;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// A node whose stdin has bytes waiting and has read nothing for this long is reported as not reading.
const STUCK_AFTER: Nanos = 5 * SEC;

/// What the real-time shell measured besides the core's records.
#[derive(Debug)]
pub(super) struct Measured {
    pub(super) lags: LagHistogram,
    pub(super) wall_s: f64,
}

#[derive(Debug, Default)]
struct Outbox {
    bytes: Vec<u8>,
    deadlines: Vec<u64>,
}

/// How much of its stdin a node had read when last looked at, and since when that has not changed.
#[derive(Debug, Default, Clone, Copy)]
struct StdinWatch {
    read: u64,
    since: Nanos,
    reported: bool,
}

/// One node: its current process (none while killed) and how many it has had.
struct Slot {
    proc: Option<NodeProcess>,
    generation: u32,
    outbox: Outbox,
    watch: StdinWatch,
}

struct Shell<'c> {
    cfg: &'c TestConfig,
    rt: &'c tokio::runtime::Runtime,
    dir: PathBuf,
    t0: Instant,
    events: Receiver<Vec<Event>>,
    events_tx: Sender<Vec<Event>>,
    slots: Vec<Slot>,
    /// Killed processes, reaped at teardown.
    killed: Vec<NodeProcess>,
    dirty: Vec<usize>,
    backed_up: Vec<usize>,
    lags: LagHistogram,
    progress: ProgressLine,
    last_watch: Nanos,
}

/// Runs the test with node processes; the core's records and the shell's measurements.
pub(super) fn run(cfg: &TestConfig, dir: &Path) -> Result<(Finished, Measured), RunError> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut core = Cluster::new(cfg, Some(Journal::create(dir)?));
    let mut shell = Shell::new(cfg, &rt, dir)?;
    core.start(shell.now());
    shell.event_loop(&mut core);
    shell.teardown(&mut core);
    let wall_s = shell.t0.elapsed().as_secs_f64();
    let crash = core.crash().cloned();
    let mut finished = core.finish();
    if let Some(crash) = crash {
        let mut message = crash.message;
        if let Some(node) = crash.node {
            let tail = shell.stderr_tail(node);
            if !tail.is_empty() {
                let name = &cfg.nodes[node];
                message.push_str(&format!("\nlast stderr lines of {name}:\n  {}", tail.join("\n  ")));
            }
        }
        finished.crash = Some(super::core::Crash { node: crash.node, message });
    }
    Ok((finished, Measured { lags: shell.lags, wall_s }))
}

impl<'c> Shell<'c> {
    fn new(cfg: &'c TestConfig, rt: &'c tokio::runtime::Runtime, dir: &Path) -> Result<Self, RunError> {
        let (events_tx, events) = channel();
        let mut shell = Shell {
            cfg,
            rt,
            dir: dir.to_owned(),
            t0: Instant::now(),
            events,
            events_tx,
            slots: Vec::with_capacity(cfg.nodes.len()),
            killed: Vec::new(),
            dirty: Vec::new(),
            backed_up: Vec::new(),
            lags: LagHistogram::default(),
            progress: ProgressLine::new(),
            last_watch: 0,
        };
        for node in 0..cfg.nodes.len() {
            let proc = shell.spawn(node, 0).map_err(RunError::Crash)?;
            shell.slots.push(Slot {
                proc: Some(proc),
                generation: 0,
                outbox: Outbox::default(),
                watch: StdinWatch::default(),
            });
        }
        Ok(shell)
    }

    fn now(&self) -> Nanos {
        self.t0.elapsed().as_nanos() as Nanos
    }

    fn spawn(&self, node: usize, generation: u32) -> Result<NodeProcess, String> {
        let name = &self.cfg.nodes[node];
        let spec = Spawn {
            index: node,
            generation,
            name,
            bin: &self.cfg.bin,
            args: &self.cfg.bin_args,
            log_path: self.dir.join("node-logs").join(format!("{}.log", sanitize(name))),
            log_stderr: self.cfg.log_stderr,
        };
        NodeProcess::spawn(self.rt.handle(), spec, self.events_tx.clone())
            .map_err(|e| format!("could not start node {name} ({}): {e}", self.cfg.bin.display()))
    }

    /// Turns of the loop until the run is over: do what is due, then wait for node output or the next wake-up.
    fn event_loop(&mut self, core: &mut Cluster<'_>) {
        while !core.is_over() {
            let now = self.now();
            self.advance(core, now);
            if core.is_over() {
                break;
            }
            self.flush_backed_up(now);
            self.watch_stdin(core, now);
            // A node with output waiting in a full pipe is retried every millisecond.
            let retry = (!self.backed_up.is_empty()).then_some(now + MS);
            let next = [core.next_wake(), retry].into_iter().flatten().min();
            let wait = next.map_or(200 * MS, |n| n.saturating_sub(self.now())).min(200 * MS);
            if wait > 0 {
                match self.events.recv_timeout(Duration::from_nanos(wait)) {
                    Ok(batch) => self.on_events(core, batch),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
                }
            }
            // Drain what else arrived, but deliver as soon as something falls due: a surge of node output must not
            // hold up deliveries.
            for _ in 0..10_000 {
                match self.events.try_recv() {
                    Ok(batch) => self.on_events(core, batch),
                    Err(_) => break,
                }
                let now = self.now();
                if core.next_wake().is_some_and(|d| d <= now) {
                    self.advance(core, now);
                }
            }
            let progress = core.progress(self.now());
            self.progress.update(&progress);
        }
        self.progress.finish();
    }

    /// Lets the core do what is due at `now`, carries out its effects and writes the nodes' stdin.
    fn advance(&mut self, core: &mut Cluster<'_>, now: Nanos) {
        core.on_timeout(now);
        self.perform(core);
    }

    fn on_events(&mut self, core: &mut Cluster<'_>, batch: Vec<Event>) {
        let now = self.now();
        for ev in batch {
            match ev {
                Event::Line { node, generation, line } => {
                    if self.is_current(node, generation) {
                        core.on_node_line(now, node, line);
                    }
                }
                Event::Exited { node, generation, status } => {
                    if self.is_current(node, generation) {
                        core.on_node_exit(node, &status);
                    }
                }
            }
        }
        self.perform(core);
    }

    /// Is this the node's running process (not one the nemesis killed)?
    fn is_current(&self, node: usize, generation: u32) -> bool {
        self.slots.get(node).is_some_and(|s| s.proc.is_some() && s.generation == generation)
    }

    /// Carries out the core's effects, then hands each node its lines in one write.
    fn perform(&mut self, core: &mut Cluster<'_>) {
        while let Some(effect) = core.pop_effect() {
            match effect {
                Effect::Deliver { node, line, deadline } => {
                    let out = &mut self.slots[node].outbox;
                    if out.bytes.is_empty() {
                        self.dirty.push(node);
                    }
                    out.bytes.extend_from_slice(line.as_bytes());
                    out.bytes.push(b'\n');
                    out.deadlines.extend(deadline);
                }
                Effect::StopReading { node } => {
                    if let Some(p) = &self.slots[node].proc {
                        p.stop_reading.store(true, Ordering::Relaxed);
                    }
                }
                Effect::Kill { node } => self.kill(node),
                Effect::Restart { node } => {
                    let generation = self.slots[node].generation + 1;
                    match self.spawn(node, generation) {
                        Ok(p) => {
                            self.slots[node].proc = Some(p);
                            self.slots[node].generation = generation;
                            self.slots[node].watch = StdinWatch { since: self.now(), ..StdinWatch::default() };
                        }
                        Err(e) => core.crash_with(Some(node), e),
                    }
                }
                Effect::Pause { node } | Effect::Resume { node } => {
                    let pause = matches!(effect, Effect::Pause { .. });
                    // A stopped node reads nothing, rightly: its reading is timed again from the resume.
                    self.slots[node].watch.since = self.now();
                    if let Some(Err(e)) = self.slots[node].proc.as_ref().map(|p| p.signal_pause(pause)) {
                        let what = if pause { "pause (SIGSTOP)" } else { "resume (SIGCONT)" };
                        warn!("could not {what} {}: {e}", self.cfg.nodes[node]);
                    }
                }
                Effect::Log { warn: true, text } => self.progress.suspend(|| warn!("{text}")),
                Effect::Log { warn: false, text } => self.progress.suspend(|| info!("{text}")),
            }
        }
        self.write_outboxes();
    }

    fn kill(&mut self, node: usize) {
        let slot = &mut self.slots[node];
        slot.outbox = Outbox::default();
        self.dirty.retain(|&n| n != node);
        self.backed_up.retain(|&n| n != node);
        if let Some(mut p) = slot.proc.take() {
            p.kill();
            self.killed.push(p);
        }
    }

    /// Writes each node's gathered lines into its stdin pipe.
    fn write_outboxes(&mut self) {
        for node in std::mem::take(&mut self.dirty) {
            let slot = &mut self.slots[node];
            let Some(proc) = slot.proc.as_mut() else { continue };
            // Read the clock per node: the lag must include the time spent on the nodes written before this one.
            let now = self.t0.elapsed().as_nanos() as Nanos;
            proc.stdin.write(&slot.outbox.bytes, &slot.outbox.deadlines, now, &mut self.lags);
            slot.outbox.bytes.clear();
            slot.outbox.deadlines.clear();
            if proc.stdin.is_backed_up() && !self.backed_up.contains(&node) {
                self.backed_up.push(node);
            }
        }
    }

    /// Retries output that a node's full pipe could not take.
    fn flush_backed_up(&mut self, now: Nanos) {
        let (slots, lags) = (&mut self.slots, &mut self.lags);
        self.backed_up.retain(|&i| match slots[i].proc.as_mut() {
            Some(p) => {
                p.stdin.flush(now, lags);
                p.stdin.is_backed_up()
            }
            None => false,
        });
    }

    /// Once a second: a node whose stdin has had bytes waiting, and that has read none of them, for
    /// [`STUCK_AFTER`] has stopped reading; its requests can only time out, so say so (once per process).
    fn watch_stdin(&mut self, core: &mut Cluster<'_>, now: Nanos) {
        if now < self.last_watch + SEC {
            return;
        }
        self.last_watch = now;
        for (node, slot) in self.slots.iter_mut().enumerate() {
            let Some((read, waiting)) = slot.proc.as_ref().and_then(|p| p.stdin.read_and_waiting()) else { continue };
            let w = &mut slot.watch;
            if read != w.read || waiting == 0 {
                *w = StdinWatch { read, since: now, reported: w.reported };
                continue;
            }
            if !w.reported && now.saturating_sub(w.since) >= STUCK_AFTER && !core.is_paused(node) {
                w.reported = true;
                let reason = format!(
                    "stopped reading its stdin: {waiting} bytes have waited for it for {} s while it read \
                     nothing (it read {read} bytes in all); every message to it, requests included, is stuck, \
                     and a Maelstrom node must keep reading stdin",
                    now.saturating_sub(w.since) / SEC
                );
                core.diagnose(Diagnostic::new(self.cfg.nodes[node].clone(), None, reason));
            }
        }
        self.perform(core);
    }

    fn stderr_tail(&self, node: usize) -> Vec<String> {
        match &self.slots[node].proc {
            Some(p) => p.stderr_tail(),
            None => self
                .killed
                .iter()
                .rev()
                .find(|p| p.generation == self.slots[node].generation)
                .map_or_else(Vec::new, |p| p.stderr_tail()),
        }
    }

    /// spec §2 step 7: every node is force-killed; one that had already exited is a crash.
    fn teardown(&mut self, core: &mut Cluster<'_>) {
        while let Ok(batch) = self.events.try_recv() {
            self.on_events(core, batch);
        }
        let mut running: Vec<(usize, NodeProcess)> =
            self.slots.iter_mut().enumerate().filter_map(|(i, s)| s.proc.take().map(|p| (i, p))).collect();
        for (_, p) in &mut running {
            p.kill();
        }
        let killed = &mut self.killed;
        let early = self.rt.block_on(async {
            let mut early = None;
            for (i, p) in running.iter_mut() {
                if let Some(status) = p.wait_killed().await {
                    early = early.or(Some((*i, status)));
                }
            }
            for p in killed.iter_mut() {
                p.wait_killed().await;
            }
            early
        });
        // Keep the processes' stderr tails for the crash report.
        for (i, p) in running {
            self.slots[i].proc = Some(p);
        }
        if let Some((node, status)) = early {
            core.on_node_exit(node, &status);
        }
    }
}
