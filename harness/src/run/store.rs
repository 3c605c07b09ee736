//! The store directory (spec §10): `<store>/<workload>/<time>/` with `latest` links, per-node logs, and the
//! message journal as JSONL.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::macros::format_description;

/// Creates `<store>/<workload>/<UTC time>/node-logs/` and points `<store>/latest` and `<store>/<workload>/latest`
/// at the new run directory. Returns the run directory.
pub fn create_run_dir(store: &Path, workload: &str) -> std::io::Result<PathBuf> {
    let stamp = OffsetDateTime::now_utc()
        .format(format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"))
        .map_err(std::io::Error::other)?;
    let base = store.join(workload);
    std::fs::create_dir_all(&base)?;
    // Claim a fresh directory atomically: two runs sharing a store never share a run directory.
    let mut dir = base.join(&stamp);
    let mut n = 1;
    loop {
        match std::fs::create_dir(&dir) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                dir = base.join(format!("{stamp}-{n}"));
                n += 1;
            }
            Err(e) => return Err(e),
        }
    }
    std::fs::create_dir(dir.join("node-logs"))?;
    // The `latest` links are a convenience: a concurrent run may move them under us, which is no reason to fail.
    let leaf = dir.file_name().map(PathBuf::from).unwrap_or_default();
    for (link, target) in [(base.join("latest"), leaf.clone()), (store.join("latest"), Path::new(workload).join(&leaf))]
    {
        if let Err(e) = relink(&link, &target) {
            tracing::warn!("could not point {} at this run: {e}", link.display());
        }
    }
    Ok(dir)
}

#[cfg(unix)]
fn relink(link: &Path, target: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(link) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn relink(_link: &Path, _target: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The message journal (spec §4.4): one JSON object per send (with the body) and per delivery (without: the
/// id names the message), in event order.
pub struct Journal {
    out: BufWriter<Box<dyn Write + Send>>,
    failed: bool,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("failed", &self.failed).finish_non_exhaustive()
    }
}

/// Whether a journal event is a send or a delivery.
#[derive(Debug, Clone, Copy)]
pub enum EventKind {
    /// handed to the network
    Send,
    /// delivered to its receiver
    Recv,
}

impl Journal {
    /// Creates `net-journal.jsonl` in the run directory.
    pub fn create(dir: &Path) -> std::io::Result<Journal> {
        Ok(Journal::to_writer(File::create(dir.join("net-journal.jsonl"))?))
    }

    /// A journal that writes into `out` (buffered).
    pub fn to_writer(out: impl Write + Send + 'static) -> Journal {
        Journal { out: BufWriter::with_capacity(1 << 20, Box::new(out)), failed: false }
    }

    /// Appends one event; `src` and `dest` are JSON string literals (already escaped). Write errors are
    /// remembered, not fatal: the journal is a record, not the source of any figure (the `:net` counts are kept
    /// live).
    pub fn record(&mut self, kind: EventKind, time_ns: u64, id: u64, src: &str, dest: &str, body: Option<&str>) {
        if self.failed {
            return;
        }
        let kind = match kind {
            EventKind::Send => "send",
            EventKind::Recv => "recv",
        };
        let r = (|| {
            write!(self.out, "{{\"type\":\"{kind}\",\"time\":{time_ns},\"id\":{id},\"src\":{src},\"dest\":{dest}")?;
            match body {
                Some(body) => writeln!(self.out, ",\"body\":{body}}}"),
                None => writeln!(self.out, "}}"),
            }
        })();
        if let Err(e) = r {
            tracing::warn!("net journal write failed, journal stops here: {e}");
            self.failed = true;
        }
    }

    /// Flushes buffered events.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
