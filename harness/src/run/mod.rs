//! Running a test (spec §2): the [`core`] decides everything, a shell carries it out.
//!
//! - [`core`]: the sans-IO cluster core — participants, network, clients' RPCs, scheduler, faults, history and
//!   journal; time passed in, effects out. Its rules are unit-tested with fake node output.
//! - `realtime`: the shell that runs the core with one process per node and the wall clock.
//! - [`sim`]: the shell that runs the core in virtual time with in-process nodes ([`sim::SimNode`]).
//! - [`process`]: node processes and their pipes; [`wire`]: parsing what nodes print, formatting what they read.
//! - [`store`]: the run directory and the message journal.

pub mod core;
mod lag;
pub mod process;
mod progress;
mod realtime;
pub mod sim;
pub mod store;
pub mod wire;

use std::path::PathBuf;

use tracing::info;

use crate::cli::TestConfig;
use crate::diagnostic::Diagnostic;
use crate::history::History;

/// Why a run could not be analysed: Maelstrom's "crash" outcome (exit 255).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A node crashed, failed init or topology, or could not be started.
    #[error("{0}")]
    Crash(String),
    /// The harness could not write its store.
    #[error("store: {0}")]
    Io(#[from] std::io::Error),
}

/// Everything the driver recorded, ready for the checkers.
#[derive(Debug)]
pub struct Recording {
    /// The run directory in the store (`None` for a virtual-time run kept in memory).
    pub dir: Option<PathBuf>,
    /// The history.
    pub history: History,
    /// `:net` counts.
    pub net: crate::net::NetStats,
    /// What nodes did wrong.
    pub diagnostics: Vec<Diagnostic>,
    /// Measurements of the harness itself.
    pub harness: HarnessStats,
    /// Server messages lost and duplicated by the message faults: `(lost, duplicated)`.
    pub message_faults: (u64, u64),
}

/// How well the harness kept up: the figures behind "the harness must never be what limits a run".
#[derive(Debug, Clone, Default)]
pub struct HarnessStats {
    /// Delivery lag of server messages: µs from the deadline until the message was written into the node's stdin
    /// pipe, at quantiles 0.5, 0.99 and 1 (10 µs resolution below 2 ms).
    pub delivery_lag_us: Option<[u64; 3]>,
    /// Server-bound deliveries measured.
    pub deliveries: u64,
    /// The most messages sent in any one second of the run.
    pub peak_msgs_per_sec: u64,
    /// Wall-clock seconds from spawning the nodes until they were torn down.
    pub wall_s: f64,
    /// CPU seconds of the run: with processes, the harness process itself (all its threads; not the nodes); in
    /// virtual time, the run's thread, in-process nodes included.
    pub cpu_s: f64,
}

/// CPU time used so far by this process (all threads), or by this thread alone.
fn cpu_seconds(thread: bool) -> f64 {
    use rustix::time::ClockId;
    let t = rustix::time::clock_gettime(if thread { ClockId::ThreadCPUTime } else { ClockId::ProcessCPUTime });
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// Runs the test and returns what it recorded, with its run directory in the store. The caller scores it.
pub fn run(cfg: &TestConfig) -> Result<Recording, RunError> {
    run_in(cfg, true)
}

/// Runs the test, in the store (`stored`) or, for a virtual-time run, in memory only (no directory, no files:
/// what a sweep of thousands of runs wants). A process run is always stored: its nodes' logs need a place.
pub fn run_in(cfg: &TestConfig, stored: bool) -> Result<Recording, RunError> {
    // A virtual-time run is one thread's work (sweeps run several at once); a process run's harness uses several.
    let thread_cpu = cfg.sim.is_some();
    let cpu_start = cpu_seconds(thread_cpu);
    let dir = match stored || cfg.sim.is_none() {
        true => Some(store::create_run_dir(&cfg.store, cfg.workload.name())?),
        false => None,
    };
    let mode = if cfg.sim.is_some() { "in process, virtual time" } else { "processes" };
    let store = dir.as_ref().map_or_else(|| "none".to_owned(), |d| d.display().to_string());
    info!(
        "{} on {} nodes ({}, {mode}), seed {}, store {store}",
        cfg.workload,
        cfg.nodes.len(),
        cfg.bin.display(),
        cfg.seed,
    );
    let start = std::time::Instant::now();
    let (finished, measured) = match (&cfg.sim, &dir) {
        (Some(sim), dir) => {
            let journal = dir.as_deref().map(store::Journal::create).transpose()?;
            (sim::run(cfg, sim.0.as_ref(), journal), None)
        }
        (None, dir) => {
            let dir = dir.as_deref().ok_or_else(|| std::io::Error::other("a process run needs a run directory"))?;
            let (f, m) = realtime::run(cfg, dir)?;
            (f, Some(m))
        }
    };
    let mut journal = finished.journal;
    if let Some(j) = journal.as_mut() {
        j.finish()?;
    }
    if let Some(dir) = &dir {
        write_history(dir, &finished.history)?;
    }
    if let Some(c) = finished.crash {
        return Err(RunError::Crash(c.message));
    }
    let mut harness = HarnessStats {
        wall_s: measured.as_ref().map_or_else(|| start.elapsed().as_secs_f64(), |m| m.wall_s),
        cpu_s: cpu_seconds(thread_cpu) - cpu_start,
        peak_msgs_per_sec: finished.sends_per_sec.iter().copied().max().unwrap_or(0),
        ..HarnessStats::default()
    };
    if let Some(lags) = measured.as_ref().map(|m| &m.lags) {
        harness.deliveries = lags.count();
        if let (Some(a), Some(b), Some(c)) = (lags.quantile(0.5), lags.quantile(0.99), lags.quantile(1.0)) {
            harness.delivery_lag_us = Some([a, b, c]);
        }
    }
    Ok(Recording {
        net: finished.net,
        history: finished.history,
        diagnostics: finished.diagnostics,
        harness,
        message_faults: finished.message_faults,
        dir,
    })
}

/// Writes the history as `history.jsonl`, `history.edn` and `history.txt`.
fn write_history(dir: &std::path::Path, history: &History) -> std::io::Result<()> {
    crate::results::write_history_jsonl(&dir.join("history.jsonl"), history)?;
    crate::results::write_history_edn(&dir.join("history.edn"), history)?;
    crate::results::write_history_txt(&dir.join("history.txt"), history)
}

fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_log_names_are_safe_file_names() {
        assert_eq!(sanitize("n1"), "n1");
        assert_eq!(sanitize("../x"), "___x");
    }
}
