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
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

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
    #[serde(default)]
    body: Option<Box<RawValue>>,
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<i64>,
}

/// A node's stdin pipe, written by the driver's own thread without blocking: whatever the pipe cannot take now
/// waits in `pending` and goes first on the next write, so order is kept and a node that stops reading never
/// stalls the harness (Maelstrom's per-node stdin thread would block instead; the node sees the same thing: a full
/// pipe).
#[derive(Debug)]
pub struct StdinPipe {
    file: Option<std::fs::File>,
    pending: Vec<u8>,
    /// Deadlines of the server messages waiting in `pending`, for the lag measurement.
    pending_deadlines: Vec<u64>,
}

impl StdinPipe {
    fn new(stdin: tokio::process::ChildStdin) -> std::io::Result<StdinPipe> {
        use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
        let file = std::fs::File::from(stdin.into_owned_fd()?);
        let flags = fcntl_getfl(&file)?;
        fcntl_setfl(&file, flags | OFlags::NONBLOCK)?;
        Ok(StdinPipe { file: Some(file), pending: Vec::new(), pending_deadlines: Vec::new() })
    }

    /// Is some output still waiting for the node to read?
    pub fn is_backed_up(&self) -> bool {
        !self.pending.is_empty() && self.file.is_some()
    }

    /// Writes `bytes` after anything pending. `deadlines` are those of the server messages in `bytes`; their lag
    /// (`now` − deadline) is recorded in `lags` once they are in the pipe.
    pub fn write(&mut self, bytes: &[u8], deadlines: &[u64], now: u64, lags: &mut LagHistogram) {
        if self.pending.is_empty() {
            let n = self.write_some(bytes);
            if n == bytes.len() {
                deadlines.iter().for_each(|d| lags.record(now.saturating_sub(*d)));
                return;
            }
            self.pending.extend_from_slice(&bytes[n..]);
        } else {
            self.pending.extend_from_slice(bytes);
        }
        self.pending_deadlines.extend_from_slice(deadlines);
        self.flush(now, lags);
    }

    /// Tries to move pending output into the pipe.
    pub fn flush(&mut self, now: u64, lags: &mut LagHistogram) {
        if self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        let n = self.write_some(&pending);
        // Only what was written is removed: a full pipe (n = 0) costs nothing, however long the backlog.
        pending.drain(..n);
        if pending.is_empty() {
            self.pending_deadlines.drain(..).for_each(|d| lags.record(now.saturating_sub(d)));
        }
        self.pending = pending;
    }

    /// Writes what the pipe takes without blocking; a broken pipe (the node is gone) drops everything.
    fn write_some(&mut self, mut bytes: &[u8]) -> usize {
        use std::io::{ErrorKind, Write};
        let total = bytes.len();
        while !bytes.is_empty() {
            let Some(file) = self.file.as_mut() else { return total };
            match file.write(bytes) {
                Ok(0) => break,
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.file = None;
                    self.pending_deadlines.clear();
                    return total;
                }
            }
        }
        total - bytes.len()
    }
}

/// The handles the driver keeps for one running node.
#[derive(Debug)]
pub struct NodeProcess {
    /// The node's stdin.
    pub stdin: StdinPipe,
    /// Set to make the stdout reader stop reading (the pipe stays open, as in Maelstrom).
    pub stop_reading: Arc<AtomicBool>,
    /// The last stderr lines.
    pub stderr_tail: Arc<Mutex<VecDeque<String>>>,
    kill: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<Option<String>>>,
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
        let stop_reading = Arc::new(AtomicBool::new(false));
        let stderr_tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let log = std::fs::File::create(&spec.log_path)?;

        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("child has no piped stdio"));
        };
        let stdin = StdinPipe::new(stdin)?;
        rt.spawn(read_stdout(spec.index, stdout, stop_reading.clone(), events.clone()));
        let stderr_done =
            rt.spawn(read_stderr(spec.name.to_owned(), stderr, log, stderr_tail.clone(), spec.log_stderr));
        let (kill_tx, kill_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        rt.spawn(watch_exit(spec.index, child, stderr_done, kill_rx, done_tx, events));
        Ok(NodeProcess { stdin, stop_reading, stderr_tail, kill: Some(kill_tx), done: Some(done_rx) })
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

    /// Waits (up to 5 s, spec §2 step 7) for the process to be gone after [`NodeProcess::kill`]. Returns how it
    /// had exited if it was already gone when the kill came (a crash, spec §2 step 7).
    pub async fn wait_killed(&mut self) -> Option<String> {
        let done = self.done.take()?;
        tokio::time::timeout(Duration::from_secs(5), done).await.ok()?.ok()?
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

/// Maelstrom's `parse-msg` keywordizes the body's keys before validating: a missing or `null` body (and an empty
/// array) becomes `{}`, anything else that is not an object throws, which stops reading the node (spec §3.1; the
/// spec's "body (any)" misses this).
fn normalise_body(body: Option<Box<RawValue>>) -> Result<Box<RawValue>, String> {
    let empty = || RawValue::from_string("{}".to_owned()).map_err(|e| e.to_string());
    let Some(body) = body else { return empty() };
    let text = body.get().trim();
    if text.starts_with('{') {
        Ok(body)
    } else if text == "null" || (text.starts_with('[') && text[1..text.len() - 1].trim().is_empty()) {
        empty()
    } else {
        Err(format!("body is not a JSON object: {}", crate::diagnostic::clip(text, 80)))
    }
}

/// Parses a node's stdout line as a Maelstrom message envelope (spec §3.1).
pub fn parse_line(line: &[u8]) -> Result<(String, String, Box<RawValue>), String> {
    let text = std::str::from_utf8(line).map_err(|_| "line is not valid UTF-8".to_owned())?;
    match serde_json::from_str::<Envelope>(text) {
        Ok(e) => Ok((e.src, e.dest, normalise_body(e.body)?)),
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
    stderr_done: tokio::task::JoinHandle<()>,
    kill: oneshot::Receiver<()>,
    done: oneshot::Sender<Option<String>>,
    events: Sender<Vec<Event>>,
) {
    let describe = |status: std::io::Result<std::process::ExitStatus>| match status {
        Ok(s) => match s.code() {
            Some(c) => format!("exit status {c}"),
            None => format!("{s}"),
        },
        Err(e) => format!("unknown status ({e})"),
    };
    let mut exited_before_kill = None;
    tokio::select! {
        status = child.wait() => {
            let status = describe(status);
            // The crash report quotes the node's last stderr lines (often its panic message): let the stderr
            // reader reach the end of the pipe first, within reason.
            let _ = tokio::time::timeout(Duration::from_millis(500), stderr_done).await;
            exited_before_kill = Some(status.clone());
            let _ = events.send(vec![Event::Exited { node, status }]);
        }
        _ = kill => {
            if let Ok(Some(status)) = child.try_wait() {
                exited_before_kill = Some(describe(Ok(status)));
            } else {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }
    let _ = done.send(exited_before_kill);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pipe_keeps_output_pending_in_order_without_blocking() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let _guard = rt.enter();
        // The reader sleeps first, so the pipe fills; then it copies everything to stdout.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 1; cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = StdinPipe::new(child.stdin.take().unwrap()).unwrap();
        let mut lags = LagHistogram::default();
        let lines: Vec<Vec<u8>> = (0..20_000).map(|i| format!("{i:064}\n").into_bytes()).collect();
        for (i, line) in lines.iter().enumerate() {
            pipe.write(line, &[i as u64], i as u64, &mut lags);
        }
        assert!(pipe.is_backed_up(), "1.3 MB cannot fit in a pipe nobody reads yet");
        assert!(lags.count() < 20_000);
        let out = child.stdout.take().unwrap();
        let reader = rt.spawn(async move {
            let mut all = Vec::new();
            BufReader::new(out).read_to_end(&mut all).await.unwrap();
            all
        });
        let start = std::time::Instant::now();
        while pipe.is_backed_up() && start.elapsed() < Duration::from_secs(20) {
            pipe.flush(30_000, &mut lags);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!pipe.is_backed_up());
        assert_eq!(lags.count(), 20_000, "every line's lag is recorded once");
        drop(pipe);
        let all = rt.block_on(reader).unwrap();
        assert_eq!(all, lines.concat(), "everything arrives, in order");
    }

    #[test]
    fn envelopes_need_src_dest_body_and_nothing_else() {
        let (src, dest, body) = parse_line(br#"{"src":"n1","dest":"c3","body":{"type":"x"},"id":4}"#).unwrap();
        assert_eq!((src.as_str(), dest.as_str(), body.get()), ("n1", "c3", r#"{"type":"x"}"#));
        let (_, _, body) = parse_line(br#"{"src":"n1","dest":"c3"}"#).unwrap();
        assert_eq!(body.get(), "{}", "a missing body is an empty one, as in Maelstrom's parse-msg");
        let (_, _, body) = parse_line(br#"{"src":"n1","dest":"c3","body":null}"#).unwrap();
        assert_eq!(body.get(), "{}");
        let (_, _, body) = parse_line(br#"{"src":"n1","dest":"c3","body":[ ]}"#).unwrap();
        assert_eq!(body.get(), "{}");
        for bad in [r#""x""#, "3", "true", "[1]"] {
            let line = format!(r#"{{"src":"n1","dest":"c3","body":{bad}}}"#);
            assert!(parse_line(line.as_bytes()).unwrap_err().contains("not a JSON object"), "{bad}");
        }
        assert!(parse_line(br#"{"src":"n1","dest":"c3","body":{},"extra":1}"#).unwrap_err().contains("extra"));
        assert!(parse_line(br#"{"src":"n1","dest":"c3","body":{},"id":"x"}"#).is_err());
        assert!(parse_line(b"hello").unwrap_err().starts_with("not JSON"));
        assert!(parse_line(b"").unwrap_err().starts_with("not JSON"));
        assert!(parse_line(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }
}
