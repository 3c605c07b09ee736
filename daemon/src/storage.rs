//! Persistence under a data directory: a snapshot of the whole replica plus an append-only log of local deltas.
//!
//! ```text
//! DIR/snapshot.bin       the replica and the segment K it covers up to: every log segment below K is in it
//!                        (binary, checksummed: [`crate::snapshot`])
//! DIR/snapshot.bin.tmp   a snapshot being written (ignored and removed at start)
//! DIR/snapshot.json      the JSON snapshot of earlier versions, {"version":1,"covers":K,"state":<Objects>}: read
//!                        when there is no snapshot.bin, deleted once a binary snapshot replaces it
//! DIR/peers.json        the addresses of the last known members (seeds for the next start)
//! DIR/log.<N>            segment N: records [u32 LE length][8 bytes: BLAKE3 of the body, truncated][body]
//!                        whose body is one local write's delta, binary ([`crate::record`]; the JSON bodies of
//!                        earlier versions are still read)
//! ```
//!
//! **Writes.** A client's write is applied to the replica, appended to the current segment by one writer thread,
//! and acknowledged once the record is written (`--fsync never` or `interval:MS`) or once it is fsynced
//! (`--fsync always`, the default: the writer takes every record waiting and fsyncs them together, so concurrent
//! writers share one fsync). An acknowledged write therefore survives `kill -9` of the daemon under every policy,
//! and the loss of the machine under `always`.
//!
//! **Snapshots.** Periodically (and at shutdown) the daemon switches the writer to a new segment K and asks the
//! mirror ([`crate::mirror`]: the snapshot's own copy of the replica, fed every delta that changes the replica)
//! for a snapshot, both under the lock that orders writes, so the snapshot holds exactly the records of segments
//! below K (and what peers sent until then); the mirror encodes its copy on its own thread while writes go on.
//! Then, outside the lock, it fsyncs the old segment and the directory ([`Log::settle`]), writes
//! `snapshot.bin.tmp`, fsyncs it, renames it over `snapshot.bin`, fsyncs the directory, and
//! deletes the segments below K (and an old `snapshot.json`); a snapshot covering less than the installed one is
//! not installed. A crash at any point leaves either the old snapshot with all its segments or the
//! new one. What peers sent is not logged: the snapshot keeps it, and whatever a crash lost since the last
//! snapshot, anti-entropy brings back from the peers.
//!
//! **Recovery** ([`load`]): the snapshot, then every segment from `covers` on, in order. A record that is cut short
//! or fails its checksum ends its segment (a write torn by the crash; it was never acknowledged under `always`):
//! the segment is truncated there. A record whose checksum holds but whose body does not decode was not torn
//! (a newer version's format, or a bug): that is an error at start, and nothing is cut.
//!
//! The replay is one batch: every record's integers are gathered into one run per set, sorted, and built into a
//! treemap once, which is then moved into the snapshot's (no record is ever a treemap of its own, and nothing is
//! copied); the few other values and counters are joined as lattices.

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
use crate::snapshot::Parts;

const SNAPSHOT: &str = "snapshot.bin";
const SNAPSHOT_TMP: &str = "snapshot.bin.tmp";
/// The JSON snapshot written by earlier versions (read if there is no binary one).
const SNAPSHOT_JSON: &str = "snapshot.json";
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

/// Encodes one log record (framed: length, checksum, body).
pub fn record(delta: &Objects) -> Vec<u8> {
    frame(&crate::record::encode(delta))
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(body));
    out.extend_from_slice(body);
    out
}

/// What the replay gathered: every record's integers by set, and the rest of the records.
#[derive(Default)]
struct Gathered {
    ints: std::collections::BTreeMap<String, Vec<u64>>,
    rest: Vec<Objects>,
}

/// Reads one segment's records into `into`; returns (records, the length of its valid prefix if it must be cut).
fn replay(path: &Path, into: &mut Gathered) -> io::Result<(u64, Option<u64>)> {
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
        let decoded = crate::record::decode(&body).map_err(|e| {
            let at = format!("{}, the record at byte {offset}", path.display());
            io::Error::new(io::ErrorKind::InvalidData, format!("{at} has a valid checksum but does not decode: {e}"))
        })?;
        for (name, xs) in decoded.ints {
            into.ints.entry(name).or_default().extend(xs);
        }
        if !decoded.rest.is_empty() {
            into.rest.push(decoded.rest);
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
    read_back(dir, None)
}

/// The replica [`load`] read from `dir`, read again without changing anything: the snapshot and the segments
/// below `below` (the `next_segment` that [`load`] returned; [`load`] already cut their torn records). The
/// snapshot's copy of the replica starts from it ([`crate::mirror`]); no snapshot may be installed before.
pub fn reload(dir: &Path, below: u64) -> io::Result<Objects> {
    read_back(dir, Some(below)).map(|l| l.state)
}

/// [`load`] (`below` = `None`: deletes covered segments, cuts torn records) or [`reload`].
fn read_back(dir: &Path, below: Option<u64>) -> io::Result<Loaded> {
    let (mut parts, covers) = read_snapshot(dir)?;
    let (mut records, mut truncated, mut last) = (0, false, covers);
    let mut gathered = Gathered::default();
    for n in segments(dir)? {
        if below.is_some_and(|b| n >= b) {
            continue;
        }
        if n < covers {
            if below.is_none() {
                let _ = fs::remove_file(segment_path(dir, n));
            }
            continue;
        }
        let (r, cut) = replay(&segment_path(dir, n), &mut gathered)?;
        records += r;
        if let Some(len) = cut
            && below.is_none()
        {
            tracing::warn!("log.{n}: a torn record after {r} records; cutting the segment at byte {len}");
            OpenOptions::new().write(true).open(segment_path(dir, n))?.set_len(len)?;
            truncated = true;
        }
        last = last.max(n);
    }
    let state = apply(&mut parts, gathered).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    // New records go to a fresh segment, so a segment once cut is never appended to.
    Ok(Loaded { state, next_segment: last + 1, records, truncated })
}

/// The newest snapshot in `dir`: the binary one, else the JSON one of earlier versions, else none. A snapshot that
/// exists but does not decode is an error, never an empty replica.
fn read_snapshot(dir: &Path) -> io::Result<(Parts, u64)> {
    let context = |path: PathBuf| move |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    match fs::read(dir.join(SNAPSHOT)) {
        Ok(bytes) => {
            let (covers, parts) = crate::snapshot::read_parts(&bytes).map_err(context(dir.join(SNAPSHOT)))?;
            return Ok((parts, covers));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let path = dir.join(SNAPSHOT_JSON);
    match fs::read(&path) {
        Ok(bytes) => {
            let s: Snapshot = serde_json::from_slice(&bytes)
                .map_err(|e| context(path.clone())(io::Error::new(io::ErrorKind::InvalidData, e)))?;
            if s.version != 1 {
                let msg = format!("snapshot version {} is not supported", s.version);
                return Err(context(path)(io::Error::new(io::ErrorKind::InvalidData, msg)));
            }
            Ok((Parts::from_objects(s.state), s.covers))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((Parts::default(), 0)),
        Err(e) => Err(e),
    }
}

/// The snapshot's parts with the replay applied, as one replica: each set's gathered integers sorted and added at
/// once, the rest joined pairwise (a balanced tree of joins) and then into the snapshot's rest.
fn apply(parts: &mut Parts, gathered: Gathered) -> Result<Objects, String> {
    for (name, mut xs) in gathered.ints {
        // Stable sort: it merges the records' ascending runs rather than sorting from scratch.
        xs.sort();
        xs.dedup();
        parts.add_sorted(name, &xs);
    }
    parts.rest.join(&join_pairwise(gathered.rest));
    std::mem::take(parts).into_objects()
}

/// The join of `deltas`, pairwise (a balanced tree of joins: O(total × log records)).
fn join_pairwise(mut deltas: Vec<Objects>) -> Objects {
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

/// Writes a snapshot of `state` covering every segment below `covers`, atomically, then deletes those segments.
pub fn write_snapshot(dir: &Path, covers: u64, state: &Objects) -> io::Result<()> {
    let mut bytes = Vec::new();
    crate::snapshot::write(&mut bytes, covers, state)?;
    install_snapshot(dir, covers, &bytes)
}

/// Writes `bytes` (a snapshot encoded by [`crate::snapshot::write()`] covering every segment below `covers`) as
/// the snapshot, atomically, then deletes those segments. The daemon calls it outside the replica's lock.
pub fn install_snapshot(dir: &Path, covers: u64, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(SNAPSHOT_TMP);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(SNAPSHOT))?;
    File::open(dir)?.sync_all()?;
    match fs::remove_file(dir.join(SNAPSHOT_JSON)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
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

enum Cmd {
    Append(Vec<u8>, oneshot::Sender<Result<(), String>>),
    Rotate(u64),
}

/// The log (see the module docs). Cloning shares it.
///
/// Under `--fsync always` one writer thread takes every record waiting, writes them with one system call and
/// fsyncs them together. Under `never` and `interval:MS` a record is written by the caller itself, at once (one
/// `write` to the page cache: as safe against the daemon's crash as the writer's, and without the two thread
/// wake-ups per write that cost a third of the daemon's CPU at 12 000 writes/s); under `interval` a thread
/// fsyncs the segment every MS when something was written.
#[derive(Debug, Clone)]
pub struct Log {
    way: Way,
    segment: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Clone)]
enum Way {
    /// The writer thread (`always`).
    Writer(mpsc::Sender<Cmd>),
    /// The caller writes (`never`, `interval`).
    Direct(Arc<Direct>),
}

#[derive(Debug)]
struct Direct {
    dir: PathBuf,
    file: std::sync::Mutex<File>,
    dirty: std::sync::atomic::AtomicBool,
    /// Segments left by [`Log::rotate`], and whether something was written to them since their last fsync: to be
    /// fsynced by [`Log::settle`], outside the lock that orders writes.
    retired: std::sync::Mutex<Vec<(File, bool)>>,
}

impl Direct {
    /// See [`Log::settle`].
    fn settle(&self, metrics: &Metrics) -> io::Result<()> {
        let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        if retired.is_empty() {
            return Ok(());
        }
        for (file, dirty) in retired.iter_mut() {
            if *dirty {
                metrics.log_fsyncs.inc();
                file.sync_data()?;
                *dirty = false;
            }
        }
        File::open(&self.dir)?.sync_all()?;
        retired.clear();
        Ok(())
    }

    fn file(&self) -> std::sync::MutexGuard<'_, File> {
        self.file.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fsyncs the current segment if something was written since the last time (outside the file's lock: the
    /// handle is cloned, and an fsync through any handle covers the file).
    fn sync(&self, metrics: &Metrics) -> io::Result<()> {
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let file = self.file().try_clone()?;
        metrics.log_fsyncs.inc();
        file.sync_data()
    }
}

impl Log {
    /// Starts the log on segment `segment` of `dir`.
    pub fn start(dir: &Path, segment: u64, policy: Fsync, metrics: Arc<Metrics>) -> io::Result<Log> {
        let file = open_segment(dir, segment)?;
        let bytes = Arc::new(AtomicU64::new(0));
        let way = if policy == Fsync::Always {
            let (tx, rx) = mpsc::channel();
            let writer = Writer {
                dir: dir.to_path_buf(),
                file,
                policy,
                metrics: metrics.clone(),
                bytes: bytes.clone(),
                unopened: None,
            };
            std::thread::Builder::new().name("osmosis-log".into()).spawn(move || writer.run(rx))?;
            Way::Writer(tx)
        } else {
            let direct = Arc::new(Direct {
                dir: dir.to_path_buf(),
                file: std::sync::Mutex::new(file),
                dirty: false.into(),
                retired: std::sync::Mutex::default(),
            });
            if let Fsync::Interval(every) = policy {
                let (d, m) = (Arc::downgrade(&direct), metrics.clone());
                std::thread::Builder::new().name("osmosis-log-sync".into()).spawn(move || {
                    // Ends once the log is dropped.
                    loop {
                        std::thread::sleep(every);
                        let Some(direct) = d.upgrade() else { break };
                        // A segment a rotation left is fsynced here too if no snapshot settled it since.
                        if let Err(e) = direct.sync(&m).and_then(|()| direct.settle(&m)) {
                            tracing::error!("the delta log could not be fsynced: {e}");
                        }
                    }
                })?;
            }
            Way::Direct(direct)
        };
        Ok(Log { way, segment: Arc::new(AtomicU64::new(segment)), bytes, metrics })
    }

    /// Appends a record; the receiver resolves once it is as durable as the policy says. Call it under the lock
    /// that orders writes with [`Log::rotate`].
    pub fn append(&self, record: Vec<u8>) -> oneshot::Receiver<Result<(), String>> {
        let (ack, done) = oneshot::channel();
        match &self.way {
            Way::Writer(tx) => {
                if let Err(mpsc::SendError(Cmd::Append(_, ack))) = tx.send(Cmd::Append(record, ack)) {
                    let _ = ack.send(Err("the log writer has stopped".into()));
                }
            }
            Way::Direct(direct) => {
                let written = direct.file().write_all(&record);
                direct.dirty.store(true, Ordering::SeqCst);
                self.metrics.log_appends.inc();
                self.bytes.fetch_add(record.len() as u64, Ordering::Relaxed);
                let outcome = written.map_err(|e| format!("the delta log could not be written: {e}"));
                if let Err(e) = &outcome {
                    tracing::error!("{e}");
                }
                let _ = ack.send(outcome);
            }
        }
        done
    }

    /// Switches to the next segment and returns its number: every record appended before is in a lower one.
    /// Under `never` and `interval` the old segment's fsync and the directory's (which lists the new segment) are
    /// left to [`Log::settle`], so that the lock this is called under is not held for them.
    ///
    /// # Errors
    /// The next segment could not be created (direct writes only: the writer thread refuses every record after
    /// the rotation, on its acknowledgement, until it can open the segment, so that the segment a snapshot covers
    /// takes nothing written after it). The log stays on its segment, and no snapshot may cover it.
    pub fn rotate(&self) -> io::Result<u64> {
        let next = self.segment.load(Ordering::SeqCst) + 1;
        match &self.way {
            Way::Writer(tx) => {
                let _ = tx.send(Cmd::Rotate(next));
            }
            Way::Direct(direct) => {
                let file = OpenOptions::new().create(true).append(true).open(segment_path(&direct.dir, next))?;
                let old = std::mem::replace(&mut *direct.file(), file);
                let dirty = direct.dirty.swap(false, Ordering::SeqCst);
                direct.retired.lock().unwrap_or_else(|e| e.into_inner()).push((old, dirty));
            }
        }
        self.segment.store(next, Ordering::SeqCst);
        self.bytes.store(0, Ordering::Relaxed);
        Ok(next)
    }

    /// Fsyncs the segments [`Log::rotate`] left (what was written to them) and the directory: call it outside the
    /// lock that orders writes, before installing a snapshot that covers them. Under `always` the writer thread
    /// does this itself, in order, and this does nothing.
    ///
    /// # Errors
    /// An fsync failed; the segments not yet fsynced stay to be settled again.
    pub fn settle(&self) -> io::Result<()> {
        match &self.way {
            Way::Direct(direct) => direct.settle(&self.metrics),
            Way::Writer(_) => Ok(()),
        }
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
    /// A segment a rotation could not open: until it opens, no record is written (each is refused), because the
    /// snapshot that asked for the rotation covers the segments below it and deletes them once installed, the
    /// current one included, whatever was written to it after the rotation.
    unopened: Option<u64>,
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
            let mut result = match self.unopened {
                Some(n) => self.open(n),
                None => Ok(()),
            };
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
                        // Even after a failed write: the records before the rotation must not share a segment
                        // with those after it.
                        batch.clear();
                        result = result.and(self.open(n));
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

    /// Fsyncs the current segment and moves to segment `n`; on failure the writer refuses records until it can.
    fn open(&mut self, n: u64) -> io::Result<()> {
        let opened = self.sync().and_then(|()| open_segment(&self.dir, n));
        match opened {
            Ok(f) => {
                self.file = f;
                self.unopened = None;
                Ok(())
            }
            Err(e) => {
                self.unopened = Some(n);
                Err(e)
            }
        }
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
        let covers = log.rotate().unwrap();
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
    fn under_always_a_rotation_that_cannot_open_its_segment_refuses_records_until_it_can() {
        let d = dir("unopened");
        let log = Log::start(&d, load(&d).unwrap().next_segment, Fsync::Always, Arc::new(Metrics::new())).unwrap();
        block(log.append(record(&set("s", 1)))).unwrap();
        let old = segments(&d).unwrap().into_iter().max().unwrap();
        let old_len = segment_path(&d, old).metadata().unwrap().len();
        // A directory where the next segment's file should go: the writer cannot open it.
        let next = old + 1;
        fs::create_dir(segment_path(&d, next)).unwrap();
        assert_eq!(log.rotate().unwrap(), next);
        assert!(block(log.append(record(&set("s", 2)))).is_err(), "refused: it would land in the covered segment");
        assert!(block(log.append(record(&set("s", 3)))).is_err(), "and so is the next one");
        assert_eq!(segment_path(&d, old).metadata().unwrap().len(), old_len, "the covered segment took nothing more");
        fs::remove_dir(segment_path(&d, next)).unwrap();
        block(log.append(record(&set("s", 4)))).unwrap();
        assert!(segment_path(&d, next).metadata().unwrap().len() > 0, "once it opens, records go to the new segment");
        assert_eq!(segment_path(&d, old).metadata().unwrap().len(), old_len);
    }

    #[test]
    fn under_interval_writes_are_on_file_at_once_and_fsynced_by_the_timer() {
        let d = dir("interval");
        let loaded = load(&d).unwrap();
        let metrics = Arc::new(Metrics::new());
        let log = Log::start(&d, loaded.next_segment, Fsync::Interval(Duration::from_millis(20)), metrics.clone());
        let log = log.unwrap();
        block(log.append(record(&set("s", 1)))).unwrap();
        assert_eq!(load(&d).unwrap().state, set("s", 1), "on file when acknowledged");
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.log_fsyncs.get() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(metrics.log_fsyncs.get(), 1, "one fsync for the one write, none while nothing changed");
        let next = log.rotate().unwrap();
        block(log.append(record(&set("s", 2)))).unwrap();
        assert!(segment_path(&d, next).metadata().unwrap().len() > 0, "records after a rotation go to the new segment");
    }

    #[test]
    fn a_rotation_leaves_the_old_segments_fsync_to_settle() {
        let d = dir("settle");
        let metrics = Arc::new(Metrics::new());
        let log = Log::start(&d, load(&d).unwrap().next_segment, Fsync::Never, metrics.clone()).unwrap();
        block(log.append(record(&set("s", 1)))).unwrap();
        let next = log.rotate().unwrap();
        assert_eq!(metrics.log_fsyncs.get(), 0, "no fsync under the lock");
        block(log.append(record(&set("s", 2)))).unwrap();
        log.settle().unwrap();
        assert_eq!(metrics.log_fsyncs.get(), 1, "the old segment, once");
        log.settle().unwrap();
        assert_eq!(metrics.log_fsyncs.get(), 1);
        assert!(segment_path(&d, next).metadata().unwrap().len() > 0, "records after a rotation go to the new segment");
        let mut want = set("s", 1);
        want.join(&set("s", 2));
        assert_eq!(load(&d).unwrap().state, want);
    }

    #[test]
    fn replaying_records_as_one_batch_equals_joining_them_one_by_one() {
        let mut deltas = Vec::new();
        for i in 0..40u64 {
            let mut d = set(if i % 3 == 0 { "a" } else { "b" }, i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            d.join(&set("a", i % 7));
            let mut s = osmosis_crdt::JsonSet::new();
            s.insert(&json!(format!("v{}", i % 5)));
            d.join(&Objects::with_set(if i % 2 == 0 { "b" } else { "d" }, s));
            let mut c = crate::objects::Counter::new();
            c.add(format!("n{}", i % 3), i as i64 - 20).unwrap();
            d.join(&Objects::with_counter("c", c));
            deltas.push(d);
        }
        // A snapshot sharing some sets, integers and values with the records, and holding one of its own.
        let mut snap = set("a", 3);
        snap.join(&set("a", 1 << 50));
        snap.join(&set("e", 9));
        let mut s = osmosis_crdt::JsonSet::new();
        s.insert(&json!("v1"));
        snap.join(&Objects::with_set("b", s));
        let mut one_by_one = snap.clone();
        let mut gathered = Gathered::default();
        for (i, d) in deltas.iter().enumerate() {
            one_by_one.join(d);
            // Old JSON records and binary ones, mixed.
            let body = if i % 4 == 0 { serde_json::to_vec(d).unwrap() } else { crate::record::encode(d) };
            let decoded = crate::record::decode(&body).unwrap();
            for (name, xs) in decoded.ints {
                gathered.ints.entry(name).or_default().extend(xs);
            }
            gathered.rest.push(decoded.rest);
        }
        let mut parts = Parts::from_objects(snap);
        assert_eq!(apply(&mut parts, gathered).unwrap(), one_by_one);
        assert_eq!(apply(&mut Parts::default(), Gathered::default()).unwrap(), Objects::new());
    }

    #[test]
    fn a_log_of_json_records_from_an_earlier_version_is_replayed() {
        let d = dir("json-log");
        fs::create_dir_all(&d).unwrap();
        let mut want = Objects::new();
        let mut file = Vec::new();
        for i in 0..3 {
            let mut delta = set("s", i * 1_000_003);
            let mut c = crate::objects::Counter::new();
            c.add("n1".into(), 2).unwrap();
            delta.join(&Objects::with_counter("c", c));
            file.extend(frame(&serde_json::to_vec(&delta).unwrap()));
            want.join(&delta);
        }
        fs::write(segment_path(&d, 0), file).unwrap();
        let back = load(&d).unwrap();
        assert_eq!((back.state, back.records, back.truncated), (want, 3, false));
    }

    #[test]
    fn a_record_with_a_good_checksum_that_does_not_decode_stops_the_start_and_cuts_nothing() {
        let d = dir("undecodable");
        fs::create_dir_all(&d).unwrap();
        let file = [record(&set("s", 1)), frame(&[9, 1, 2, 3]), record(&set("s", 2))].concat();
        fs::write(segment_path(&d, 0), &file).unwrap();
        let err = load(&d).unwrap_err().to_string();
        assert!(err.contains("does not decode") && err.contains("unknown record form"), "{err}");
        assert_eq!(fs::read(segment_path(&d, 0)).unwrap(), file, "nothing was cut");
    }

    #[test]
    fn a_record_failing_its_checksum_ends_the_segment() {
        let d = dir("checksum");
        fs::create_dir_all(&d).unwrap();
        let first = record(&set("s", 1));
        let mut second = record(&set("s", 1 << 40));
        let last = second.len() - 1;
        second[last] ^= 0x01;
        fs::write(segment_path(&d, 0), [first.clone(), second].concat()).unwrap();
        let back = load(&d).unwrap();
        assert!(back.truncated);
        assert_eq!((back.state, back.records), (set("s", 1), 1));
        assert_eq!(fs::metadata(segment_path(&d, 0)).unwrap().len(), first.len() as u64);
        assert_eq!(back.next_segment, 1, "new records go to a fresh segment");
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
        fs::write(d.join(SNAPSHOT_JSON), b"{\"version\":1,\"covers\":0,\"state\":{\"sets\":{\"a b\":").unwrap();
        assert!(load(&d).is_err());
        write_snapshot(&d, 0, &set("s", 1)).unwrap();
        let mut bytes = fs::read(d.join(SNAPSHOT)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(d.join(SNAPSHOT), bytes).unwrap();
        assert!(load(&d).unwrap_err().to_string().contains("checksum"));
    }

    #[test]
    fn a_json_snapshot_of_an_earlier_version_is_read_then_replaced_by_a_binary_one() {
        let d = dir("json");
        fs::create_dir_all(&d).unwrap();
        let old = Snapshot { version: 1, covers: 2, state: set("s", 5) };
        fs::write(d.join(SNAPSHOT_JSON), serde_json::to_vec(&old).unwrap()).unwrap();
        let log = Log::start(&d, 2, Fsync::Always, Arc::new(Metrics::new())).unwrap();
        block(log.append(record(&set("s", 6)))).unwrap();
        drop(log);
        let mut want = set("s", 5);
        want.join(&set("s", 6));
        let back = load(&d).unwrap();
        assert_eq!((back.state.clone(), back.records), (want.clone(), 1));
        write_snapshot(&d, back.next_segment, &back.state).unwrap();
        assert!(!d.join(SNAPSHOT_JSON).exists() && d.join(SNAPSHOT).exists());
        assert_eq!(load(&d).unwrap().state, want);
    }
}
