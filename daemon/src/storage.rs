//! Persistence under a data directory: a snapshot of the whole replica plus an append-only log of local deltas.
//!
//! ```text
//! DIR/snapshot.json      {"version":1,"covers":K,"state":<Objects>}: every log segment below K is in it
//! DIR/snapshot.json.tmp  a snapshot being written (ignored and removed at start)
//! DIR/peers.json        the addresses of the last known members (seeds for the next start)
//! DIR/log.<N>            segment N: records [u32 LE length][8 bytes: BLAKE3 of the body, truncated][body]
//!                        whose body is the JSON of one local write's delta
//! ```
//!
//! **Writes.** A client's write is applied to the replica, appended to the current segment by one writer thread,
//! and acknowledged once the record is written (`--fsync never` or `interval:MS`) or once it is fsynced
//! (`--fsync always`, the default: the writer takes every record waiting and fsyncs them together, so concurrent
//! writers share one fsync). An acknowledged write therefore survives `kill -9` of the daemon under every policy,
//! and the loss of the machine under `always`.
//!
//! **Snapshots.** Periodically (and at shutdown) the daemon clones its replica and switches the writer to a new
//! segment K under the same lock that orders writes, so the clone holds exactly the records of segments below K;
//! then it writes `snapshot.json.tmp`, fsyncs it, renames it over `snapshot.json`, fsyncs the directory, and
//! deletes the segments below K. A crash at any point leaves either the old snapshot with all its segments or the
//! new one. What peers sent is not logged: the snapshot keeps it, and whatever a crash lost since the last
//! snapshot, anti-entropy brings back from the peers.
//!
//! **Recovery** ([`load`]): the snapshot, then every segment from `covers` on, in order. A record that is cut short
//! or fails its checksum ends its segment (a write torn by the crash; it was never acknowledged under `always`):
//! the segment is truncated there.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use osmosis_crdt::Lattice;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::config::Fsync;
use crate::metrics::Metrics;
use crate::objects::Objects;

const SNAPSHOT: &str = "snapshot.json";
const SNAPSHOT_TMP: &str = "snapshot.json.tmp";
/// The largest log record accepted when reading back (a write is bounded by the HTTP body limit, far below).
const MAX_RECORD: u32 = 256 << 20;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    version: u32,
    covers: u64,
    state: Objects,
}

/// What [`load`] found.
#[derive(Debug)]
pub struct Loaded {
    /// The replica: the snapshot joined with every record after it.
    pub state: Objects,
    /// The segment new records go to.
    pub next_segment: u64,
    /// Log records replayed.
    pub records: u64,
    /// Whether a torn record was cut off.
    pub truncated: bool,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("log.{n}"))
}

/// The log segments in `dir`, ascending.
fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(n) = name.to_str().and_then(|s| s.strip_prefix("log.")).and_then(|n| n.parse::<u64>().ok()) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn checksum(body: &[u8]) -> [u8; 8] {
    let h = blake3::hash(body);
    let mut out = [0; 8];
    out.copy_from_slice(&h.as_bytes()[..8]);
    out
}

/// Encodes one log record.
pub fn record(delta: &Objects) -> Vec<u8> {
    let body = serde_json::to_vec(delta).expect("objects always encode");
    let mut out = Vec::with_capacity(12 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(&body));
    out.extend_from_slice(&body);
    out
}

/// Reads one segment's records into `deltas`; returns (records, the length of its valid prefix if it must be cut).
fn replay(path: &Path, deltas: &mut Vec<Objects>) -> io::Result<(u64, Option<u64>)> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    let (mut records, mut offset) = (0u64, 0u64);
    loop {
        let mut head = [0u8; 12];
        match read_full(&mut reader, &mut head)? {
            0 => return Ok((records, None)),
            12 => {}
            _ => return Ok((records, Some(offset))),
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if len > MAX_RECORD {
            return Ok((records, Some(offset)));
        }
        let mut body = vec![0u8; len as usize];
        if read_full(&mut reader, &mut body)? != body.len() || checksum(&body) != head[4..12] {
            return Ok((records, Some(offset)));
        }
        match serde_json::from_slice::<Objects>(&body) {
            Ok(delta) => deltas.push(delta),
            Err(_) => return Ok((records, Some(offset))),
        }
        records += 1;
        offset += 12 + u64::from(len);
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Reads the replica back from `dir` (created if missing): see the module docs.
pub fn load(dir: &Path) -> io::Result<Loaded> {
    fs::create_dir_all(dir)?;
    let _ = fs::remove_file(dir.join(SNAPSHOT_TMP));
    let (mut state, covers) = match fs::read(dir.join(SNAPSHOT)) {
        Ok(bytes) => {
            let s: Snapshot = serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", dir.join(SNAPSHOT).display()))
            })?;
            if s.version != 1 {
                let msg = format!("snapshot version {} is not supported", s.version);
                return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
            }
            (s.state, s.covers)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Objects::new(), 0),
        Err(e) => return Err(e),
    };
    let (mut records, mut truncated, mut last) = (0, false, covers);
    let mut deltas = Vec::new();
    for n in segments(dir)? {
        if n < covers {
            let _ = fs::remove_file(segment_path(dir, n));
            continue;
        }
        let (r, cut) = replay(&segment_path(dir, n), &mut deltas)?;
        records += r;
        if let Some(len) = cut {
            tracing::warn!("log.{n}: a torn record after {r} records; cutting the segment at byte {len}");
            OpenOptions::new().write(true).open(segment_path(dir, n))?.set_len(len)?;
            truncated = true;
        }
        last = last.max(n);
    }
    state.join(&join_all(deltas));
    // New records go to a fresh segment, so a segment once cut is never appended to.
    Ok(Loaded { state, next_segment: last + 1, records, truncated })
}

/// The join of `deltas`, pairwise (a balanced tree of joins): a join of large sparse sets copies their containers,
/// so joining a hundred records one after another into a growing replica is quadratic — 33 s for a million
/// sparse integers in 100 records, measured — while pairs cost O(total × log records).
fn join_all(mut deltas: Vec<Objects>) -> Objects {
    while deltas.len() > 1 {
        let mut next = Vec::with_capacity(deltas.len().div_ceil(2));
        let mut it = deltas.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                a.join(&b);
            }
            next.push(a);
        }
        deltas = next;
    }
    deltas.pop().unwrap_or_default()
}

/// Writes a snapshot covering every segment below `covers`, atomically, then deletes those segments.
pub fn write_snapshot(dir: &Path, covers: u64, state: &Objects) -> io::Result<()> {
    let tmp = dir.join(SNAPSHOT_TMP);
    {
        let mut f = io::BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        serde_json::to_writer(&mut f, &SnapshotRef { version: 1, covers, state })?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(SNAPSHOT))?;
    File::open(dir)?.sync_all()?;
    for n in segments(dir)? {
        if n < covers {
            fs::remove_file(segment_path(dir, n))?;
        }
    }
    Ok(())
}

const PEERS: &str = "peers.json";

/// The member addresses saved by an earlier run (none if there is no readable file).
pub fn load_peers(dir: &Path) -> Vec<std::net::SocketAddr> {
    fs::read(dir.join(PEERS)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Saves the current members' addresses (atomically: a temporary file renamed over the old one).
pub fn save_peers(dir: &Path, peers: &[std::net::SocketAddr]) -> io::Result<()> {
    let tmp = dir.join("peers.json.tmp");
    fs::write(&tmp, serde_json::to_vec(peers)?)?;
    fs::rename(&tmp, dir.join(PEERS))
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    covers: u64,
    state: &'a Objects,
}

enum Cmd {
    Append(Vec<u8>, oneshot::Sender<Result<(), String>>),
    Rotate(u64),
}

/// The handle of the log writer thread (see the module docs). Cloning shares the writer.
#[derive(Debug, Clone)]
pub struct Log {
    tx: mpsc::Sender<Cmd>,
    segment: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Log {
    /// Starts the writer on segment `segment` of `dir`.
    pub fn start(dir: &Path, segment: u64, policy: Fsync, metrics: Arc<Metrics>) -> io::Result<Log> {
        let (tx, rx) = mpsc::channel();
        let file = open_segment(dir, segment)?;
        let bytes = Arc::new(AtomicU64::new(0));
        let writer = Writer { dir: dir.to_path_buf(), file, policy, metrics, bytes: bytes.clone() };
        std::thread::Builder::new().name("osmosis-log".into()).spawn(move || writer.run(rx))?;
        Ok(Log { tx, segment: Arc::new(AtomicU64::new(segment)), bytes })
    }

    /// Queues a record; the receiver resolves once it is as durable as the policy says. Call it under the lock
    /// that orders writes with [`Log::rotate`].
    pub fn append(&self, record: Vec<u8>) -> oneshot::Receiver<Result<(), String>> {
        let (ack, done) = oneshot::channel();
        if let Err(mpsc::SendError(Cmd::Append(_, ack))) = self.tx.send(Cmd::Append(record, ack)) {
            let _ = ack.send(Err("the log writer has stopped".into()));
        }
        done
    }

    /// Switches to the next segment and returns its number: every record appended before is in a lower one.
    pub fn rotate(&self) -> u64 {
        let next = self.segment.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.tx.send(Cmd::Rotate(next));
        self.bytes.store(0, Ordering::Relaxed);
        next
    }

    /// Bytes appended to the current segment.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

fn open_segment(dir: &Path, n: u64) -> io::Result<File> {
    let f = OpenOptions::new().create(true).append(true).open(segment_path(dir, n))?;
    File::open(dir)?.sync_all()?;
    Ok(f)
}

struct Writer {
    dir: PathBuf,
    file: File,
    policy: Fsync,
    metrics: Arc<Metrics>,
    bytes: Arc<AtomicU64>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Cmd>) {
        let mut last_sync = Instant::now();
        let mut dirty = false;
        loop {
            let first = match self.policy {
                Fsync::Interval(every) if dirty => {
                    match rx.recv_timeout(every.saturating_sub(last_sync.elapsed()).max(Duration::from_millis(1))) {
                        Ok(cmd) => Some(cmd),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
                _ => match rx.recv() {
                    Ok(cmd) => Some(cmd),
                    Err(_) => break,
                },
            };
            let mut acks = Vec::new();
            let mut result = Ok(());
            // Every record waiting is written with one system call.
            let mut batch: Vec<u8> = Vec::new();
            for cmd in first.into_iter().chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                match cmd {
                    Cmd::Append(bytes, ack) => {
                        batch.extend_from_slice(&bytes);
                        self.metrics.log_appends.inc();
                        acks.push(ack);
                        dirty = true;
                    }
                    Cmd::Rotate(n) => {
                        result = result.and_then(|()| self.write(&mut batch));
                        if result.is_ok() {
                            result = self.sync().and_then(|()| open_segment(&self.dir, n).map(|f| self.file = f));
                        }
                        dirty = false;
                    }
                }
            }
            result = result.and_then(|()| self.write(&mut batch));
            let due = match self.policy {
                Fsync::Always => dirty,
                Fsync::Interval(every) => dirty && last_sync.elapsed() >= every,
                Fsync::Never => false,
            };
            if due && result.is_ok() {
                result = self.sync();
                last_sync = Instant::now();
                dirty = false;
            }
            let outcome = result.map_err(|e| format!("the delta log could not be written: {e}"));
            if let Err(e) = &outcome {
                tracing::error!("{e}");
            }
            for ack in acks {
                let _ = ack.send(outcome.clone());
            }
        }
        let _ = self.sync();
    }

    fn write(&mut self, batch: &mut Vec<u8>) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.file.write_all(batch)?;
        self.bytes.fetch_add(batch.len() as u64, Ordering::Relaxed);
        batch.clear();
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.metrics.log_fsyncs.inc();
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("osmosisd-storage-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn set(name: &str, v: u64) -> Objects {
        let mut s = osmosis_crdt::JsonSet::new();
        s.insert(&json!(v));
        Objects::with_set(name, s)
    }

    fn block<T>(rx: oneshot::Receiver<T>) -> T {
        rx.blocking_recv().expect("the writer answers")
    }

    #[test]
    fn acknowledged_records_and_snapshots_come_back_after_a_restart() {
        let d = dir("restart");
        let loaded = load(&d).unwrap();
        assert!(loaded.state.is_empty());
        let log = Log::start(&d, loaded.next_segment, Fsync::Always, Arc::new(Metrics::new())).unwrap();
        let mut state = Objects::new();
        for i in 0..5 {
            state.join(&set("s", i));
            block(log.append(record(&set("s", i)))).unwrap();
        }
        let covers = log.rotate();
        write_snapshot(&d, covers, &state).unwrap();
        block(log.append(record(&set("t", 9)))).unwrap();
        drop(log);
        let back = load(&d).unwrap();
        assert_eq!(back.records, 1, "only the record after the snapshot is replayed");
        state.join(&set("t", 9));
        assert_eq!(back.state, state);
        assert!(segments(&d).unwrap().iter().all(|n| *n >= covers), "covered segments are deleted");
    }

    #[test]
    fn a_torn_record_is_cut_off_and_the_rest_is_kept() {
        let d = dir("torn");
        let loaded = load(&d).unwrap();
        let log = Log::start(&d, loaded.next_segment, Fsync::Never, Arc::new(Metrics::new())).unwrap();
        block(log.append(record(&set("s", 1)))).unwrap();
        block(log.append(record(&set("s", 2)))).unwrap();
        drop(log);
        std::thread::sleep(Duration::from_millis(50));
        let path = segment_path(&d, loaded.next_segment);
        let full = fs::metadata(&path).unwrap().len();
        OpenOptions::new().write(true).open(&path).unwrap().set_len(full - 3).unwrap();
        let back = load(&d).unwrap();
        assert!(back.truncated);
        assert_eq!(back.state, set("s", 1));
        assert!(fs::metadata(&path).unwrap().len() < full - 3);
        let again = load(&d).unwrap();
        assert!(!again.truncated && again.state == set("s", 1));
    }

    #[test]
    fn a_corrupt_snapshot_is_an_error_not_an_empty_replica() {
        let d = dir("corrupt");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(SNAPSHOT), b"{\"version\":1,\"covers\":0,\"state\":{\"sets\":{\"a b\":").unwrap();
        assert!(load(&d).is_err());
    }
}
