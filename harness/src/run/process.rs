//! Node processes and their I/O (spec §3.1): one OS process per node with piped stdio, served by tokio tasks that
//! hand parsed lines to the real-time shell's event loop. Nothing here decides anything: it reads, writes, signals
//! and reports.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::lag::LagHistogram;
use super::wire::NodeLine;

/// A node line longer than this is refused (a node printing without newlines must not exhaust memory).
pub const MAX_LINE_BYTES: u64 = 64 << 20;
/// How many of the last stdout and stderr lines are kept for crash reports (spec §3.1).
const TAIL_LINES: usize = 32;

/// What the I/O tasks report to the shell. `generation` tells a node's processes apart: a node restarted by the
/// nemesis runs as a new process, and whatever its killed predecessor still reports is stale.
#[derive(Debug)]
pub enum Event {
    /// A line the node printed, judged. After a bad line the reader stops reading (spec §3.1).
    Line {
        /// index of the node that printed it
        node: usize,
        /// which process of that node
        generation: u32,
        /// the line
        line: NodeLine,
    },
    /// The node process exited.
    Exited {
        /// index of the node
        node: usize,
        /// which process of that node
        generation: u32,
        /// how, in words
        status: String,
    },
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
    /// Bytes written into the pipe so far.
    written: u64,
}

impl StdinPipe {
    fn new(stdin: tokio::process::ChildStdin) -> std::io::Result<StdinPipe> {
        use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
        let file = std::fs::File::from(stdin.into_owned_fd()?);
        let flags = fcntl_getfl(&file)?;
        fcntl_setfl(&file, flags | OFlags::NONBLOCK)?;
        Ok(StdinPipe { file: Some(file), pending: Vec::new(), pending_deadlines: Vec::new(), written: 0 })
    }

    /// How many bytes the node has read from its stdin so far, and how many wait for it (in the pipe and
    /// pending here). `None` once the pipe is closed, or where the system cannot tell.
    pub fn read_and_waiting(&self) -> Option<(u64, u64)> {
        let in_pipe = rustix::io::ioctl_fionread(self.file.as_ref()?).ok()?;
        Some((self.written.saturating_sub(in_pipe), in_pipe + self.pending.len() as u64))
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
                Ok(n) => {
                    bytes = &bytes[n..];
                    self.written += n as u64;
                }
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

/// The handles the shell keeps for one running node process.
#[derive(Debug)]
pub struct NodeProcess {
    /// The node's stdin.
    pub stdin: StdinPipe,
    /// Set to make the stdout reader stop reading (the pipe stays open, as in Maelstrom).
    pub stop_reading: Arc<AtomicBool>,
    /// The last stderr lines.
    pub stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// Which process of its node this is (0 for the first, +1 per restart).
    pub generation: u32,
    pid: Option<u32>,
    kill: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<Option<String>>>,
}

/// How to start a node.
#[derive(Debug, Clone)]
pub struct Spawn<'a> {
    /// index of the node in test order
    pub index: usize,
    /// which process of that node (0 for the first, +1 per restart)
    pub generation: u32,
    /// its id, e.g. `n0`
    pub name: &'a str,
    /// the binary
    pub bin: &'a Path,
    /// its arguments
    pub args: &'a [String],
    /// where its stderr goes (`node-logs/<name>.log`; a restarted node appends to its predecessor's)
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
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&spec.log_path)?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("child has no piped stdio"));
        };
        let stdin = StdinPipe::new(stdin)?;
        let (node, generation) = (spec.index, spec.generation);
        rt.spawn(read_stdout(node, generation, stdout, stop_reading.clone(), events.clone()));
        let stderr_done =
            rt.spawn(read_stderr(spec.name.to_owned(), stderr, log, stderr_tail.clone(), spec.log_stderr));
        let (kill_tx, kill_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        rt.spawn(watch_exit((node, generation), child, stderr_done, kill_rx, done_tx, events));
        Ok(NodeProcess { stdin, stop_reading, stderr_tail, generation, pid, kill: Some(kill_tx), done: Some(done_rx) })
    }

    /// The last stderr lines, oldest first.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr_tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default()
    }

    /// Stops the process (SIGSTOP), or lets it run again (SIGCONT).
    pub fn signal_pause(&self, pause: bool) -> std::io::Result<()> {
        use rustix::process::{Pid, Signal, kill_process};
        let pid = self.pid.and_then(|p| i32::try_from(p).ok()).and_then(Pid::from_raw);
        let pid = pid.ok_or_else(|| std::io::Error::other("the process has no pid (it has exited)"))?;
        kill_process(pid, if pause { Signal::STOP } else { Signal::CONT })?;
        Ok(())
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

async fn read_stdout(
    node: usize,
    generation: u32,
    stdout: tokio::process::ChildStdout,
    stop: Arc<AtomicBool>,
    events: Sender<Vec<Event>>,
) {
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut buf = Vec::with_capacity(1024);
    // Lines already buffered are parsed and handed over together: one wake-up of the shell per read, not per line.
    let mut batch = Vec::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let line = match next_line(&mut reader, &mut buf).await {
            Ok(false) => {
                let _ = events.send(batch);
                return;
            }
            Ok(true) => NodeLine::parse(&buf),
            Err(reason) => NodeLine::Bad { line: crate::diagnostic::clip(&String::from_utf8_lossy(&buf), 200), reason },
        };
        let bad = matches!(line, NodeLine::Bad { .. });
        batch.push(Event::Line { node, generation, line });
        if bad {
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

/// The most bytes of one stderr line read at a time: a longer line goes to the log in pieces, never whole into
/// memory.
const STDERR_CHUNK: u64 = 64 << 10;
/// The most characters of a stderr line kept for the crash report's tail and echoed with `--log-stderr`.
const STDERR_HEAD: usize = 500;

/// Copies the node's stderr into its log, line by line as it comes, however long a line is (a line is written in
/// pieces of [`STDERR_CHUNK`]); keeps the head of each of the last lines for crash reports.
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
    let mut chunk = Vec::new();
    // The start of the line being read (at most STDERR_HEAD characters) and its length in bytes so far.
    let (mut head, mut bytes) = (String::new(), 0usize);
    let end_line = |head: &mut String, bytes: &mut usize| {
        let shown = if *bytes > head.len() { format!("{head}… ({bytes} bytes in all)") } else { head.clone() };
        if echo {
            tracing::info!(target: "node", "{name} stderr: {}", crate::diagnostic::printable(&shown));
        }
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(shown);
        }
        head.clear();
        *bytes = 0;
    };
    loop {
        chunk.clear();
        match (&mut reader).take(STDERR_CHUNK).read_until(b'\n', &mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let _ = log.write_all(&chunk);
        let complete = chunk.last() == Some(&b'\n');
        let text = if complete { &chunk[..chunk.len() - 1] } else { &chunk[..] };
        if head.chars().count() < STDERR_HEAD {
            let more = String::from_utf8_lossy(text);
            head.extend(more.chars().take(STDERR_HEAD - head.chars().count()));
        }
        bytes += text.len();
        if complete {
            let _ = log.flush();
            end_line(&mut head, &mut bytes);
        }
    }
    if bytes > 0 {
        let _ = writeln!(log);
        end_line(&mut head, &mut bytes);
    }
    let _ = log.flush();
}

async fn watch_exit(
    (node, generation): (usize, u32),
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
            let _ = events.send(vec![Event::Exited { node, generation, status }]);
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

    /// The state letter of a process in `/proc/<pid>/stat` (`T` when stopped).
    fn state(pid: u32) -> char {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        stat.rsplit(") ").next().unwrap().chars().next().unwrap()
    }

    #[test]
    fn a_paused_process_is_stopped_until_resumed_and_a_long_stderr_line_is_logged_whole() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let dir = std::env::temp_dir().join(format!("osmosis-process-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log_path = dir.join("n0.log");
        let _ = std::fs::remove_file(&log_path);
        // A line of 200 000 bytes on stderr (more than one read chunk), then a short one; then it waits on stdin.
        let script = "head -c 200000 /dev/zero | tr '\\0' x >&2; echo >&2; echo after >&2; cat";
        let args = vec!["-c".to_owned(), script.to_owned()];
        let (tx, _rx) = std::sync::mpsc::channel();
        let spec = Spawn {
            index: 0,
            generation: 0,
            name: "n0",
            bin: Path::new("/bin/sh"),
            args: &args,
            log_path: log_path.clone(),
            log_stderr: false,
        };
        let mut p = NodeProcess::spawn(rt.handle(), spec, tx).unwrap();
        let pid = p.pid.unwrap();
        let start = std::time::Instant::now();
        while p.stderr_tail().len() < 2 && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let tail = p.stderr_tail();
        assert_eq!(tail.len(), 2, "{tail:?}");
        assert!(tail[0].ends_with("… (200000 bytes in all)"), "the tail keeps the head of a long line");
        assert_eq!(tail[1], "after", "the log goes on after a long line");
        let log = std::fs::read_to_string(&log_path).unwrap();
        assert_eq!(log.len(), 200_000 + 1 + 6, "the long line is in the log whole");
        p.signal_pause(true).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(state(pid), 'T', "SIGSTOP stops it");
        p.signal_pause(false).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_ne!(state(pid), 'T', "SIGCONT lets it run");
        p.kill();
        assert_eq!(rt.block_on(p.wait_killed()), None, "killed, not exited on its own");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
