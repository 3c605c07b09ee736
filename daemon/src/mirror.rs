//! The snapshot's own copy of the replica, so that a periodic snapshot is encoded without holding the replica's
//! lock.
//!
//! The replica's [`Objects::set_tap`] hands every delta that changes it to [`Mirror::tap`], under the lock that
//! orders the replica's changes with the log; the mirror's thread joins them, in that order, into its copy. A
//! snapshot request ([`Mirror::snapshot`]) is queued under the same lock, right after the log is rotated: when the
//! thread reaches it, its copy holds exactly the deltas queued before it — the replica as of that rotation, the
//! records of every segment below it and what peers sent until then, nothing after — and it encodes that copy
//! while writes go on. The lock is held only to rotate the log and queue the request.
//!
//! The copy starts as the replica did: the mirror's thread reads the data directory back itself (the snapshot and
//! the segments that were replayed at start: [`crate::storage::reload`]) while the daemon already serves, and joins
//! the deltas queued meanwhile. What it costs: the replica's memory a second time, and every delta cloned once and
//! joined twice. Deltas are handed over in batches (the thread is woken once per [`BATCH`] deltas or
//! [`BATCH_ITEMS`] items, or by a snapshot request), not one wake-up per write.
//!
//! If the copy cannot be built, a request is answered with an error; the caller then encodes the replica under
//! its lock (the way without a mirror) and hands that snapshot to [`Mirror::seed`], which makes it the copy. If
//! the thread panics, the queue is closed: the requests waiting and every later one resolve with an error (the
//! caller falls back the same way, for good), and no delta is kept for it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use osmosis_crdt::Lattice;
use tokio::sync::oneshot;

use crate::objects::Objects;

/// The thread is woken once this many deltas wait.
pub const BATCH: usize = 1024;
/// … or once the deltas waiting hold this many elements and counter entries.
pub const BATCH_ITEMS: u64 = 1 << 16;

/// An encoded snapshot, or why the mirror could not make one.
pub type Encoded = Result<Vec<u8>, String>;

enum Entry {
    Delta(Objects),
    Snapshot { covers: u64, reply: oneshot::Sender<Encoded> },
    Seed(Arc<Vec<u8>>),
}

#[derive(Default)]
struct Queue {
    entries: Vec<Entry>,
    items: u64,
    /// A snapshot or a seed waits: wake the thread at once.
    urgent: bool,
    closed: bool,
}

impl Queue {
    fn due(&self) -> bool {
        self.closed || self.urgent || self.entries.len() >= BATCH || self.items >= BATCH_ITEMS
    }
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding it; the queue is valid whatever happened.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, entry: Entry, items: u64, urgent: bool) {
        let mut q = self.queue();
        if q.closed {
            return;
        }
        let was_due = q.due();
        q.entries.push(entry);
        q.items += items;
        q.urgent |= urgent;
        if q.due() && !was_due {
            self.wake.notify_one();
        }
    }
}

/// The snapshot's copy of the replica and the thread that keeps it (see the module docs). Dropping it stops the
/// thread.
#[derive(Debug)]
pub struct Mirror {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

impl Mirror {
    /// Starts the mirror's thread, which builds the copy with `seed` (the replica as it was when its tap was set)
    /// and then follows the deltas.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn start(seed: impl FnOnce() -> Result<Objects, String> + Send + 'static) -> std::io::Result<Mirror> {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        std::thread::Builder::new().name("osmosis-mirror".into()).spawn(move || run(&s, seed))?;
        Ok(Mirror { shared })
    }

    /// The function to give the replica's [`Objects::set_tap`].
    pub fn tap(&self) -> impl Fn(&Objects) + Send + Sync + 'static {
        let shared = self.shared.clone();
        move |delta: &Objects| {
            if shared.queue().closed {
                return;
            }
            let s = delta.sizes();
            shared.push(Entry::Delta(delta.clone()), s.elements + s.counter_entries, false);
        }
    }

    /// Asks for a snapshot covering the log segments below `covers`, of the replica as of now: call it under the
    /// lock that orders the replica's changes, right after rotating the log to `covers`. The receiver resolves
    /// with the encoded snapshot ([`crate::snapshot::write()`]).
    pub fn snapshot(&self, covers: u64) -> oneshot::Receiver<Encoded> {
        let (reply, rx) = oneshot::channel();
        self.shared.push(Entry::Snapshot { covers, reply }, 0, true);
        rx
    }

    /// Makes the copy the replica in `snapshot` (one encoded under the replica's lock, queued under it).
    pub fn seed(&self, snapshot: Arc<Vec<u8>>) {
        self.shared.push(Entry::Seed(snapshot), 0, true);
    }
}

#[cfg(test)]
impl Mirror {
    /// Deltas and requests queued for the thread.
    fn waiting(&self) -> usize {
        self.shared.queue().entries.len()
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let mut q = self.shared.queue();
        q.closed = true;
        q.entries.clear();
        self.shared.wake.notify_one();
    }
}

/// Closes the queue when the mirror's thread ends, by a panic too: the requests waiting are dropped (their
/// receivers then resolve with an error, and the caller encodes under the lock) and nothing more is kept.
struct Stopped<'a>(&'a Shared);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                "the snapshot's copy of the replica is gone (its thread panicked); snapshots will hold the lock"
            );
        }
        let mut q = self.0.queue();
        q.closed = true;
        q.entries.clear();
    }
}

fn run(shared: &Shared, seed: impl FnOnce() -> Result<Objects, String>) {
    let _stopped = Stopped(shared);
    let mut copy = seed();
    if let Err(e) = &copy {
        tracing::error!("the snapshot's copy of the replica could not be built ({e}); snapshots will hold the lock");
    }
    loop {
        let batch = {
            let mut q = shared.queue();
            while !q.due() {
                q = shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            if q.closed {
                return;
            }
            (q.items, q.urgent) = (0, false);
            std::mem::take(&mut q.entries)
        };
        for entry in batch {
            match entry {
                Entry::Delta(d) => {
                    if let Ok(c) = &mut copy {
                        c.join(&d);
                    }
                }
                Entry::Snapshot { covers, reply } => {
                    let encoded = copy.as_ref().map_err(Clone::clone).and_then(|c| {
                        let mut bytes = Vec::new();
                        crate::snapshot::write(&mut bytes, covers, c).map_err(|e| e.to_string())?;
                        Ok(bytes)
                    });
                    let _ = reply.send(encoded);
                }
                Entry::Seed(bytes) => {
                    copy = crate::snapshot::read(&bytes).map(|(_, o)| o).map_err(|e| e.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use osmosis_crdt::{JsonSet, Lattice};
    use serde_json::json;

    use super::*;
    use crate::config::Fsync;
    use crate::metrics::Metrics;
    use crate::objects::Counter;
    use crate::storage::{self, Log};

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("osmosisd-mirror-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Write `i`: two integers (one scattered) in set "s", and every fifth a counter step.
    fn local(i: u64) -> Objects {
        let mut s = JsonSet::new();
        s.insert(&json!(i));
        s.insert(&json!(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1));
        let mut o = Objects::with_set("s", s);
        if i.is_multiple_of(5) {
            let mut c = Counter::new();
            c.add("me".into(), i as i64 - 100).unwrap();
            o.join(&Objects::with_counter("c", c));
        }
        o
    }

    /// What a peer sends (not logged).
    fn remote(i: u64) -> Objects {
        let mut s = JsonSet::new();
        s.insert(&json!(format!("peer {i}")));
        Objects::with_set("p", s)
    }

    fn block<T>(rx: oneshot::Receiver<T>) -> T {
        rx.blocking_recv().expect("answered")
    }

    #[test]
    fn a_snapshot_holds_exactly_the_replica_as_of_its_request_and_a_restart_gets_every_write() {
        let d = dir("race");
        // An earlier run left a snapshot and a segment after it: the mirror starts from what the start read.
        let loaded = storage::load(&d).unwrap();
        let log = Log::start(&d, loaded.next_segment, Fsync::Never, Arc::new(Metrics::new())).unwrap();
        let mut earlier = Objects::new();
        for i in 0..20 {
            earlier.join(&local(1_000_000 + i));
            block(log.append(storage::record(&local(1_000_000 + i)))).unwrap();
            if i == 9 {
                let covers = log.rotate().unwrap();
                storage::write_snapshot(&d, covers, &earlier).unwrap();
            }
        }
        drop(log);

        let loaded = storage::load(&d).unwrap();
        assert_eq!(loaded.state, earlier);
        let below = loaded.next_segment;
        let (dd, metrics) = (d.clone(), Arc::new(Metrics::new()));
        let mirror = Mirror::start(move || storage::reload(&dd, below).map_err(|e| e.to_string())).unwrap();
        let mut replica = loaded.state;
        replica.set_tap(mirror.tap());
        let log = Log::start(&d, below, Fsync::Never, metrics).unwrap();
        // The replica's changes and the log's appends in one order, as under the daemon's lock; a snapshot asked
        // for after write 1 500, while 3 500 more writes (and unlogged peer deltas) race its encoding.
        let mut asked = None;
        let mut expected = None;
        for i in 0..5_000 {
            let delta = local(i);
            assert!(replica.join(&delta));
            block(log.append(storage::record(&delta))).unwrap();
            if i.is_multiple_of(7) {
                replica.join(&remote(i));
            }
            // Joining what the replica holds changes nothing, and tells the tap nothing.
            assert!(!replica.join(&delta));
            if i == 1_500 {
                let covers = log.rotate().unwrap();
                asked = Some((covers, mirror.snapshot(covers)));
                expected = Some(replica.clone());
            }
        }
        let (covers, rx) = asked.unwrap();
        let bytes = block(rx).unwrap();
        let (read_covers, snap) = crate::snapshot::read(&bytes).unwrap();
        assert_eq!((read_covers, &snap), (covers, expected.as_ref().unwrap()), "exactly the replica at the request");
        log.settle().unwrap();
        storage::install_snapshot(&d, covers, &bytes).unwrap();
        // A second snapshot, asked for with nothing after it: the whole replica.
        let covers = log.rotate().unwrap();
        let (_, whole) = crate::snapshot::read(&block(mirror.snapshot(covers)).unwrap()).unwrap();
        assert_eq!(whole, replica);
        drop(log);

        // Restart from the first snapshot and the segments after it: every write, and what peers sent before it.
        let back = storage::load(&d).unwrap();
        let mut want = earlier.clone();
        for i in 0..5_000 {
            want.join(&local(i));
            if i.is_multiple_of(7) && i <= 1_500 {
                want.join(&remote(i));
            }
        }
        assert_eq!(back.state, want);
        assert_ne!(back.state, replica, "peer deltas after the snapshot are not logged");
    }

    /// The answer to `rx`, or a failure if none comes (a request lost with the mirror's thread would leave the
    /// snapshot, and the daemon's shutdown, waiting for ever).
    fn answer(rx: oneshot::Receiver<Encoded>) -> Result<Encoded, oneshot::error::RecvError> {
        let (tx, got) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(rx.blocking_recv()));
        got.recv_timeout(std::time::Duration::from_secs(60)).expect("the request was never answered nor dropped")
    }

    #[test]
    fn a_mirror_whose_thread_panicked_drops_every_request_and_keeps_no_deltas() {
        let mirror = Mirror::start(|| panic!("building the copy panicked")).unwrap();
        let mut replica = local(1);
        replica.set_tap(mirror.tap());
        // Asked for while the thread dies or after: the receiver resolves with an error (the caller then encodes
        // under the lock), never waits for ever.
        assert!(answer(mirror.snapshot(1)).is_err());
        for i in 2..3_000 {
            assert!(replica.join(&local(i)));
        }
        assert!(answer(mirror.snapshot(2)).is_err());
        mirror.seed(Arc::new(Vec::new()));
        assert_eq!(mirror.waiting(), 0, "nothing queued for a thread that is gone");
    }

    #[test]
    fn a_mirror_without_a_copy_answers_with_an_error_until_seeded() {
        let mirror = Mirror::start(|| Err("no disk".into())).unwrap();
        let mut replica = local(1);
        replica.set_tap(mirror.tap());
        assert!(block(mirror.snapshot(1)).unwrap_err().contains("no disk"));
        let mut seed = Vec::new();
        crate::snapshot::write(&mut seed, 1, &replica).unwrap();
        mirror.seed(Arc::new(seed));
        replica.join(&local(2));
        let copy = replica.clone();
        // A clone has no tap: its changes are not the replica's.
        let mut other = copy.clone();
        other.join(&local(3));
        let (covers, snap) = crate::snapshot::read(&block(mirror.snapshot(2)).unwrap()).unwrap();
        assert_eq!((covers, snap), (2, copy));
    }
}
