//! The tokio shell around [`Core`]: the UDP socket, the timer, the HTTP server, the log writer and snapshots.
//!
//! One [`App`] is shared by every task; the core sits behind a mutex held only for one input at a time (no await
//! while holding it). After each input the shell sends the core's datagrams and wakes the timer task, which
//! sleeps until the core's next deadline. Shutdown (SIGINT, SIGTERM or the future given to [`run`]) leaves the
//! cluster, stops the API, and writes a final snapshot.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::config::{Args, Settings};
use crate::core::{Core, OpError};
use crate::http::ApiError;
use crate::metrics::{Metrics, label};
use crate::mirror::Mirror;
use crate::objects::Objects;
use crate::storage::{self, Log};
use crate::wire::MAX_DATAGRAM;

/// The core's clock reads this at the daemon's start (any origin will do; a late one lets the replica date an
/// engine's start a little in the past, which is how a rebuilt engine runs its first round at once).
const CLOCK_ORIGIN: Duration = Duration::from_secs(86_400);

/// The UDP receive buffer asked for, in bytes.
const RECV_BUFFER: usize = 8 << 20;

/// Resolves once a write's log record is as durable as the fsync policy says (or says why it is not).
pub type Durable = oneshot::Receiver<Result<(), String>>;

/// What every task shares.
#[derive(Debug)]
pub struct App {
    core: Mutex<Core>,
    /// Every metric.
    pub metrics: Arc<Metrics>,
    /// The bearer token the API requires, if any.
    pub token: Option<String>,
    /// The largest request body.
    pub max_body_bytes: usize,
    log: Option<Log>,
    /// The snapshot's copy of the replica (with a data directory).
    mirror: Option<Mirror>,
    /// The segment the installed snapshot covers up to: a snapshot covering less is not installed over it (the
    /// shutdown's snapshot may race one that an aborted task is still writing).
    installed: Mutex<u64>,
    /// The UDP socket, for receiving (tokio's: the receive task awaits it).
    socket: Arc<UdpSocket>,
    /// The same socket, for sending: a plain non-blocking send refuses only when the kernel's send buffer is
    /// full, while tokio's `try_send_to` also refuses whenever its reactor has not yet seen the socket writable
    /// (the first datagrams after the start were dropped that way).
    sender: std::net::UdpSocket,
    wake: Notify,
    start: Instant,
}

impl App {
    fn lock(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock would be a bug in the core; its state is still a valid lattice value.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> Duration {
        CLOCK_ORIGIN + self.start.elapsed()
    }

    /// Runs a read on the core.
    pub fn read<T>(&self, f: impl FnOnce(&Core) -> T) -> T {
        f(&self.lock())
    }

    /// Runs a client write on the core: `f` applies it and returns its result and the record to log. The record
    /// is queued under the same lock (so snapshots order with it); the receiver resolves once it is durable.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut Core, Duration) -> Result<(T, Objects), OpError>,
    ) -> Result<(T, Option<Durable>), ApiError> {
        let mut core = self.lock();
        let before = core.next_deadline();
        let (out, record) = f(&mut core, self.now())?;
        let after = core.next_deadline();
        let ack = match &self.log {
            Some(log) if !record.is_empty() => Some(log.append(storage::record(&record))),
            _ => None,
        };
        let datagrams = core.take_outbox();
        drop(core);
        self.send(datagrams);
        // The timer task sleeps until the old deadline; wake it only if the write brought work forward.
        if after.is_some_and(|a| before.is_none_or(|b| a < b)) {
            self.wake.notify_one();
        }
        Ok((out, ack))
    }

    /// Sends datagrams without waiting: a full socket buffer drops the datagram (counted), as the network may.
    fn send(&self, datagrams: Vec<(SocketAddr, Vec<u8>)>) {
        for (to, d) in datagrams {
            if let Err(e) = self.sender.send_to(&d, to) {
                self.metrics.send_errors.get_or_create(&label("reason", "socket")).inc();
                tracing::debug!("send to {to}: {e}");
            }
        }
    }
}

/// The `osmosisd` binary.
pub fn main() -> ExitCode {
    let settings = match Args::try_parse() {
        Ok(args) => match args.settings() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("osmosisd: {e}");
                return ExitCode::from(2);
            }
        },
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).with_env_filter(filter).try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("osmosisd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(settings, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Runs a daemon until `shutdown` resolves.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let started = std::time::Instant::now();
    let (mut state, log, mirror) = match &settings.data_dir {
        Some(dir) => {
            let d = dir.clone();
            let loaded = tokio::task::spawn_blocking(move || storage::load(&d)).await??;
            tracing::info!(
                "loaded {} objects and {} log records from {} in {:?}",
                loaded.state.sizes().objects,
                loaded.records,
                dir.display(),
                started.elapsed()
            );
            let log = Log::start(dir, loaded.next_segment, settings.fsync, metrics.clone())?;
            // The snapshot's copy reads the directory back on its own thread while the daemon serves.
            let (d, below) = (dir.clone(), loaded.next_segment);
            let mirror = Mirror::start(move || storage::reload(&d, below).map_err(|e| e.to_string()))?;
            (loaded.state, Some(log), Some(mirror))
        }
        None => {
            tracing::warn!("no --data-dir: the replica lives in memory only");
            (Objects::new(), None, None)
        }
    };
    if let Some(m) = &mirror {
        state.set_tap(m.tap());
    }
    let bump = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let start = Instant::now();
    let mut settings = settings;
    if let Some(dir) = &settings.data_dir {
        // Members seen in an earlier run are seeds too: a restarted node finds its cluster even if it is the
        // only seed the others were given.
        for addr in storage::load_peers(dir) {
            if !settings.join.contains(&addr) {
                settings.join.push(addr);
            }
        }
    }
    let core = Core::new(&settings, state, bump, metrics.clone(), CLOCK_ORIGIN).map_err(anyhow::Error::msg)?;
    let socket = std::net::UdpSocket::bind(settings.listen)?;
    socket.set_nonblocking(true)?;
    let sender = socket.try_clone()?;
    let socket = UdpSocket::from_std(socket)?;
    // A split delta arrives as a burst of datagrams: ask for a receive buffer that holds a few hundred of them
    // (the kernel caps it at net.core.rmem_max).
    if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER) {
        tracing::warn!("could not enlarge the UDP receive buffer: {e}");
    }
    let socket = Arc::new(socket);
    let app = Arc::new(App {
        core: Mutex::new(core),
        metrics,
        token: settings.http_token.clone(),
        max_body_bytes: settings.limits.max_body_bytes,
        log,
        mirror,
        installed: Mutex::new(0),
        socket,
        sender,
        wake: Notify::new(),
        start,
    });
    // The core's first datagrams (the announce to the seeds) go out now: the timer task would send them only at
    // the core's next deadline, a second later.
    let first = app.lock().take_outbox();
    app.send(first);
    let listener = tokio::net::TcpListener::bind(settings.http).await?;
    tracing::info!(
        "{} serving: peers on udp {} (advertised {}), api on http://{}",
        settings.name,
        settings.listen,
        settings.advertise,
        settings.http
    );
    let tasks = [
        tokio::spawn(receive(app.clone())),
        tokio::spawn(tick(app.clone())),
        tokio::spawn(snapshots(
            app.clone(),
            settings.data_dir.clone(),
            settings.snapshot_every,
            settings.snapshot_log_bytes,
        )),
    ];
    axum::serve(listener, crate::http::router(app.clone())).with_graceful_shutdown(shutdown).await?;
    tracing::info!("shutting down");
    {
        let mut core = app.lock();
        core.leave(app.now());
        let datagrams = core.take_outbox();
        drop(core);
        app.send(datagrams);
    }
    for t in &tasks {
        t.abort();
    }
    if let Some(dir) = &settings.data_dir {
        snapshot(&app, dir).await?;
    }
    Ok(())
}

/// Feeds every datagram to the core.
async fn receive(app: Arc<App>) {
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let (n, from) = match app.socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors (a peer's port closed) surface here on some systems; they end nothing.
                tracing::debug!("udp receive: {e}");
                continue;
            }
        };
        let datagrams = {
            let mut core = app.lock();
            core.on_datagram(app.now(), from, &buf[..n]);
            core.take_outbox()
        };
        app.send(datagrams);
        app.wake.notify_one();
    }
}

/// Calls the core's `on_tick` at its deadlines.
async fn tick(app: Arc<App>) {
    loop {
        let deadline = app.read(|c| c.next_deadline());
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(app.start + d.saturating_sub(CLOCK_ORIGIN)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = app.wake.notified() => continue,
        }
        let datagrams = {
            let mut core = app.lock();
            let now = app.now();
            if core.next_deadline().is_some_and(|d| d <= now) {
                core.on_tick(now);
            }
            core.take_outbox()
        };
        app.send(datagrams);
    }
}

/// Writes a snapshot every `every` when the replica changed, or sooner once the log passes `log_bytes`.
async fn snapshots(app: Arc<App>, dir: Option<PathBuf>, every: Duration, log_bytes: u64) {
    let Some(dir) = dir else { return };
    let mut last = app.read(Core::generation);
    let mut since = Instant::now();
    let mut peers = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now_peers = app.read(|c| c.peer_addrs());
        if now_peers != peers && !now_peers.is_empty() {
            let (d, p) = (dir.clone(), now_peers.clone());
            match tokio::task::spawn_blocking(move || storage::save_peers(&d, &p)).await {
                Ok(Ok(())) => peers = now_peers,
                Ok(Err(e)) => tracing::warn!("could not save the member list: {e}"),
                Err(e) => tracing::warn!("could not save the member list: {e}"),
            }
        }
        let big = app.log.as_ref().is_some_and(|l| l.bytes() >= log_bytes);
        if !big && since.elapsed() < every {
            continue;
        }
        since = Instant::now();
        let changed = app.read(Core::generation) != last;
        if !changed && !big {
            continue;
        }
        match snapshot(&app, &dir).await {
            Ok(generation) => last = generation,
            Err(e) => tracing::error!("snapshot: {e:#}"),
        }
    }
}

/// Writes a snapshot now; returns the generation ([`Core::generation`]) of the replica it holds.
///
/// Under the replica's lock only the log is rotated and the mirror asked for a snapshot as of that rotation; the
/// mirror encodes its copy of the replica while writes go on ([`crate::mirror`]), and the file is written outside
/// the lock. If the mirror has no copy, the replica is encoded under the lock and the mirror seeded with it.
async fn snapshot(app: &Arc<App>, dir: &std::path::Path) -> anyhow::Result<u64> {
    let t = std::time::Instant::now();
    let (covers, generation, asked) = {
        let core = app.lock();
        let covers = app.log.as_ref().map_or(Ok(0), Log::rotate)?;
        (covers, core.generation(), app.mirror.as_ref().map(|m| m.snapshot(covers)))
    };
    let held = t.elapsed();
    let mirrored = match asked {
        Some(rx) => rx.await.unwrap_or_else(|_| Err("the mirror's thread has stopped".into())),
        None => Err("no mirror".into()),
    };
    let (bytes, covers, generation) = match mirrored {
        Ok(bytes) => (Arc::new(bytes), covers, generation),
        Err(why) => {
            tracing::warn!("snapshot encoded under the replica's lock: {why}");
            let core = app.lock();
            let covers = app.log.as_ref().map_or(Ok(0), Log::rotate)?;
            let mut bytes = Vec::new();
            crate::snapshot::write(&mut bytes, covers, core.state())?;
            let bytes = Arc::new(bytes);
            if let Some(m) = &app.mirror {
                m.seed(bytes.clone());
            }
            (bytes, covers, core.generation())
        }
    };
    let (d, a) = (dir.to_path_buf(), app.clone());
    tokio::task::spawn_blocking(move || {
        // The segments the rotation left are fsynced here, outside the replica's lock, and before any is deleted.
        if let Some(log) = &a.log {
            log.settle()?;
        }
        let mut installed = a.installed.lock().unwrap_or_else(|e| e.into_inner());
        if covers < *installed {
            return Ok(());
        }
        storage::install_snapshot(&d, covers, &bytes)?;
        *installed = covers;
        Ok::<_, std::io::Error>(())
    })
    .await??;
    app.metrics.snapshots.inc();
    tracing::debug!("snapshot: the lock held {held:?}, encoded and written in {:?}", t.elapsed());
    Ok(generation)
}
