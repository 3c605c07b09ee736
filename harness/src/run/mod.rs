//! Running a test (spec §2): the [`core`] decides everything, a shell carries it out.
//!
//! - [`core`]: the sans-IO cluster core — participants, network, clients' RPCs, scheduler, faults, history and
//!   journal; time passed in, effects out. Its rules are unit-tested with fake node output.
//! - `realtime`: the shell that runs the core with one process per node and the wall clock.
//! - [`process`]: node processes and their pipes; [`wire`]: parsing what nodes print, formatting what they read.
//! - [`store`]: the run directory and the message journal.

pub mod core;
mod lag;
pub mod process;
mod progress;
mod realtime;
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
    /// The run directory in the store.
    pub dir: PathBuf,
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
    /// CPU seconds the harness process itself used (all its threads; not the nodes).
    pub cpu_s: f64,
}

/// CPU time used so far by this process, all threads.
fn process_cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// Runs the test and returns what it recorded. The caller scores it.
pub fn run(cfg: &TestConfig) -> Result<Recording, RunError> {
    let cpu_start = process_cpu_seconds();
    let dir = store::create_run_dir(&cfg.store, cfg.workload.name())?;
    info!(
        "{} on {} nodes ({}), seed {}, store {}",
        cfg.workload,
        cfg.nodes.len(),
        cfg.bin.display(),
        cfg.seed,
        dir.display()
    );
    let (finished, measured) = realtime::run(cfg, &dir)?;
    let mut journal = finished.journal;
    if let Some(j) = journal.as_mut() {
        j.finish()?;
    }
    write_history(&dir, &finished.history)?;
    if let Some(c) = finished.crash {
        return Err(RunError::Crash(c.message));
    }
    let lags = &measured.lags;
    let mut harness = HarnessStats {
        wall_s: measured.wall_s,
        cpu_s: process_cpu_seconds() - cpu_start,
        deliveries: lags.count(),
        peak_msgs_per_sec: finished.sends_per_sec.iter().copied().max().unwrap_or(0),
        ..HarnessStats::default()
    };
    if let (Some(a), Some(b), Some(c)) = (lags.quantile(0.5), lags.quantile(0.99), lags.quantile(1.0)) {
        harness.delivery_lag_us = Some([a, b, c]);
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
