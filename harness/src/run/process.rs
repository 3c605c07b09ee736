//! Node processes and their I/O (spec §3.1): one OS process per node with piped stdio, served by tokio tasks that
//! hand parsed lines to the driver's event loop. Nothing here decides anything: it reads, writes and reports.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use super::lag::LagHistogram;

/// A node line longer than this is refused (a node printing without newlines must not exhaust memory).
pub const MAX_LINE_BYTES: u64 = 64 << 20;
/// How many of the last stdout and stderr lines are kept for crash reports (spec §3.1).
const TAIL_LINES: usize = 32;

/// What the I/O tasks report to the driver.
#[derive(Debug)]
pub enum Event {
    /// A well-formed message printed by a node.
    Msg {
        /// index of the node that printed it
        node: usize,
        /// `src` as printed
        src: String,
        /// `dest` as printed
        dest: String,
        /// `body`, unparsed
        body: Box<RawValue>,
    },
    /// A line that is not a valid Maelstrom message; the reader has stopped reading that node (spec §3.1).
    BadLine {
        /// index of the node
        node: usize,
        /// the line, clipped
        line: String,
        /// why it was refused
        reason: String,
    },
    /// The node process exited.
    Exited {
        /// index of the node
        node: usize,
        /// how, in words
        status: String,
    },
}

/// A message envelope as a node must print it: `src`, `dest`, `body`, optionally an integer `id`, nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    src: String,
    dest: String,
    body: Box<RawValue>,
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<i64>,
}

/// Lines for one node's stdin, handed over together.
#[derive(Debug, Default)]
pub struct Batch {
    /// The lines, each ending in `\n`.
    pub bytes: Vec<u8>,
    /// Deadlines (ns on the driver's clock) of the server messages among them, to measure delivery lag.
    pub deadlines: Vec<u64>,
}

/// Where the stdin writers report delivery lag: the driver's clock origin and the histogram.
#[derive(Debug, Clone)]
pub struct LagProbe {
    /// The driver's clock origin.
    pub t0: std::time::Instant,
    /// Lags of server messages.
    pub lags: Arc<LagHistogram>,
}

/// The handles the driver keeps for one running node.
#[derive(Debug)]
pub struct NodeProcess {
    /// Batches of lines to write to the node's stdin, in order.
    pub stdin: mpsc::UnboundedSender<Batch>,
    /// Set to make the stdout reader stop reading (the pipe stays open, as in Maelstrom).
    pub stop_reading: Arc<AtomicBool>,
    /// The last stderr lines.
    pub stderr_tail: Arc<Mutex<VecDeque<String>>>,
    kill: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
}

/// How to start a node.
#[derive(Debug, Clone)]
pub struct Spawn<'a> {
    /// index of the node in test order
    pub index: usize,
    /// its id, e.g. `n0`
    pub name: &'a str,
    /// the binary
    pub bin: &'a Path,
    /// its arguments
    pub args: &'a [String],
    /// where its stderr goes (`node-logs/<name>.log`)
    pub log_path: PathBuf,
    /// echo its stderr into the harness log
    pub log_stderr: bool,
    /// where the stdin writer reports delivery lag
    pub probe: LagProbe,
}

impl NodeProcess {
    /// Starts the process and its I/O tasks on `rt`. The working directory is the system temp dir (spec §3.1).
    pub fn spawn(rt: &Handle, spec: Spawn<'_>, events: Sender<Vec<Event>>) -> std::io::Result<NodeProcess> {
        let _guard = rt.enter();
        let mut child = Command::new(spec.bin)
            .args(spec.args)
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let (stdin_tx, stdin_rx) = mpsc::unbounded_channel();
        let stop_reading = Arc::new(AtomicBool::new(false));
        let stderr_tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let log = std::fs::File::create(&spec.log_path)?;

        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("child has no piped stdio"));
        };
        rt.spawn(write_stdin(stdin, stdin_rx, spec.probe.clone()));
        rt.spawn(read_stdout(spec.index, stdout, stop_reading.clone(), events.clone()));
        rt.spawn(read_stderr(spec.name.to_owned(), stderr, log, stderr_tail.clone(), spec.log_stderr));
        let (kill_tx, kill_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        rt.spawn(watch_exit(spec.index, child, kill_rx, done_tx, events));
        Ok(NodeProcess { stdin: stdin_tx, stop_reading, stderr_tail, kill: Some(kill_tx), done: Some(done_rx) })
    }

    /// The last stderr lines, oldest first.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr_tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default()
    }

    /// Sends SIGKILL (spec §3.7); [`NodeProcess::wait_killed`] waits for it.
    pub fn kill(&mut self) {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
    }

    /// Waits (up to 5 s, spec §2 step 7) for the process to be gone after [`NodeProcess::kill`].
    pub async fn wait_killed(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
        }
    }
}

async fn write_stdin(
    mut stdin: tokio::process::ChildStdin,
    mut batches: mpsc::UnboundedReceiver<Batch>,
    probe: LagProbe,
) {
    while let Some(batch) = batches.recv().await {
        if stdin.write_all(&batch.bytes).await.is_err() || stdin.flush().await.is_err() {
            return;
        }
        if !batch.deadlines.is_empty() {
            let now = probe.t0.elapsed().as_nanos() as u64;
            for d in batch.deadlines {
                probe.lags.record(now.saturating_sub(d));
            }
        }
    }
}

/// Reads one `\n`-terminated line of at most [`MAX_LINE_BYTES`] into `buf` (without the newline). Returns
/// `Ok(false)` at end of stream, `Err(reason)` for an over-long line or a read error.
async fn next_line<R: AsyncRead + Unpin>(reader: &mut BufReader<R>, buf: &mut Vec<u8>) -> Result<bool, String> {
    buf.clear();
    let n = (&mut *reader).take(MAX_LINE_BYTES).read_until(b'\n', buf).await.map_err(|e| format!("read error: {e}"))?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if n as u64 >= MAX_LINE_BYTES {
        return Err(format!("line longer than {MAX_LINE_BYTES} bytes"));
    }
    Ok(true)
}

/// Parses a node's stdout line as a Maelstrom message envelope (spec §3.1).
pub fn parse_line(line: &[u8]) -> Result<(String, String, Box<RawValue>), String> {
    let text = std::str::from_utf8(line).map_err(|_| "line is not valid UTF-8".to_owned())?;
    match serde_json::from_str::<Envelope>(text) {
        Ok(e) => Ok((e.src, e.dest, e.body)),
        Err(err) => {
            let reason = if serde_json::from_str::<serde_json::Value>(text).is_ok() {
                format!("not a valid Maelstrom message (needs src, dest, body, optional integer id): {err}")
            } else {
                format!("not JSON: {err}")
            };
            Err(reason)
        }
    }
}

async fn read_stdout(
    node: usize,
    stdout: tokio::process::ChildStdout,
    stop: Arc<AtomicBool>,
    events: Sender<Vec<Event>>,
) {
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut buf = Vec::with_capacity(1024);
    // Lines already buffered are parsed and handed over together: one wake-up of the driver per read, not per line.
    let mut batch = Vec::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let bad = match next_line(&mut reader, &mut buf).await {
            Ok(false) => {
                let _ = events.send(batch);
                return;
            }
            Ok(true) => match parse_line(&buf) {
                Ok((src, dest, body)) => {
                    batch.push(Event::Msg { node, src, dest, body });
                    None
                }
                Err(reason) => Some(reason),
            },
            Err(reason) => Some(reason),
        };
        if let Some(reason) = bad {
            let line = crate::diagnostic::clip(&String::from_utf8_lossy(&buf), 200);
            batch.push(Event::BadLine { node, line, reason });
            let _ = events.send(std::mem::take(&mut batch));
            break;
        }
        if reader.buffer().is_empty() && events.send(std::mem::take(&mut batch)).is_err() {
            return;
        }
    }
    // Maelstrom stops reading this node's stdout for the rest of the test but keeps the pipe open (spec §3.1):
    // hold the reader so the node sees a full pipe, not a closed one.
    std::future::pending::<()>().await;
    drop(reader);
}

async fn read_stderr(
    name: String,
    stderr: tokio::process::ChildStderr,
    log: std::fs::File,
    tail: Arc<Mutex<VecDeque<String>>>,
    echo: bool,
) {
    use std::io::Write;
    let mut log = std::io::BufWriter::new(log);
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    while let Ok(true) = next_line(&mut reader, &mut buf).await {
        let line = String::from_utf8_lossy(&buf);
        let _ = writeln!(log, "{line}");
        let _ = log.flush();
        if echo {
            tracing::info!(target: "node", "{name} stderr: {line}");
        }
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(crate::diagnostic::clip(&line, 500));
        }
    }
}

async fn watch_exit(
    node: usize,
    mut child: Child,
    kill: oneshot::Receiver<()>,
    done: oneshot::Sender<()>,
    events: Sender<Vec<Event>>,
) {
    tokio::select! {
        status = child.wait() => {
            let status = match status {
                Ok(s) => match s.code() {
                    Some(c) => format!("exit status {c}"),
                    None => format!("{s}"),
                },
                Err(e) => format!("unknown status ({e})"),
            };
            let _ = events.send(vec![Event::Exited { node, status }]);
        }
        _ = kill => {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
    let _ = done.send(());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_need_src_dest_body_and_nothing_else() {
        let (src, dest, body) = parse_line(br#"{"src":"n1","dest":"c3","body":{"type":"x"},"id":4}"#).unwrap();
        assert_eq!((src.as_str(), dest.as_str(), body.get()), ("n1", "c3", r#"{"type":"x"}"#));
        assert!(parse_line(br#"{"src":"n1","dest":"c3"}"#).unwrap_err().contains("body"));
        assert!(parse_line(br#"{"src":"n1","dest":"c3","body":{},"extra":1}"#).unwrap_err().contains("extra"));
        assert!(parse_line(br#"{"src":"n1","dest":"c3","body":{},"id":"x"}"#).is_err());
        assert!(parse_line(b"hello").unwrap_err().starts_with("not JSON"));
        assert!(parse_line(b"").unwrap_err().starts_with("not JSON"));
        assert!(parse_line(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }
}
