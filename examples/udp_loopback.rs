//! The anti-entropy engine over a real network: three replicas of a grow-only set and a PN-counter, each a tokio
//! task with its own UDP socket on 127.0.0.1, converging although every fourth datagram is thrown away.
//!
//! ```sh
//! cargo run --example udp_loopback
//! ```
//!
//! The engine is sans-IO: it never reads a clock and never touches a socket. A driver gives it the time
//! (`now`, counted from the replica's start), the messages that arrived (`on_message`) and its timer
//! (`next_deadline` / `on_tick`), and sends whatever it put in its outbox (`take_outbox`) — that is all this file
//! does. One engine per CRDT; a datagram carries one engine message as JSON, tagged with its sender and its CRDT.
//! Nothing is acknowledged or resent: the engine's digest rounds repair what the network loses. `osmosisd`
//! (`daemon/`) is the full version: one engine over many named objects, membership, a MAC, persistence.
//!
//! The run is bounded: it exits with an error if the replicas have not converged within 30 s.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use osmosis_sync::antientropy::{Config, Engine, Message};
use osmosis_sync::crdt::{GSet, PNCounter};
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;

type Counter = PNCounter<String>;

/// One datagram: who sent it and a message of one of the two engines.
#[derive(Serialize, Deserialize)]
struct Datagram {
    from: String,
    body: Body,
}

#[derive(Serialize, Deserialize)]
enum Body {
    Set(Message<GSet>),
    Counter(Message<Counter>),
}

/// What a replica holds, published after every step so that `main` can watch it converge.
#[derive(Clone, Debug, Default, PartialEq)]
struct View {
    elements: Vec<u64>,
    total: i128,
}

/// One replica: its two engines, its socket, the peers' addresses, and a count of datagrams sent (for the loss).
struct Replica {
    name: String,
    set: Engine<GSet>,
    counter: Engine<Counter>,
    socket: UdpSocket,
    peers: Arc<BTreeMap<String, SocketAddr>>,
    sent: u64,
}

impl Replica {
    /// Sends both engines' outboxes, dropping every fourth datagram on purpose.
    async fn flush(&mut self) -> std::io::Result<()> {
        let set = self.set.take_outbox().into_iter().map(|(to, m)| (to, Body::Set(m)));
        let counter = self.counter.take_outbox().into_iter().map(|(to, m)| (to, Body::Counter(m)));
        for (to, body) in set.chain(counter).collect::<Vec<_>>() {
            self.sent += 1;
            if self.sent.is_multiple_of(4) {
                continue; // lost on the way
            }
            let bytes = serde_json::to_vec(&Datagram { from: self.name.clone(), body })?;
            self.socket.send_to(&bytes, self.peers[&to]).await?;
        }
        Ok(())
    }

    fn view(&self) -> View {
        View { elements: self.set.state().iter().collect(), total: self.counter.state().read() }
    }

    /// The driver: writes once at start, then waits for a datagram or the engines' next deadline, forever.
    async fn run(mut self, start: Instant, index: u64, view: watch::Sender<View>) -> std::io::Result<()> {
        let now = start.elapsed();
        for k in 0..3 {
            self.set.update(now, |s| s.insert(index * 10 + k));
        }
        let me = self.name.clone();
        let delta = 5 - 3 * index as i64;
        self.counter.try_update(now, |c| c.add(me, delta)).map_err(std::io::Error::other)?;
        self.flush().await?;
        let mut buf = vec![0u8; 65_536];
        loop {
            let deadline = self.set.next_deadline().into_iter().chain(self.counter.next_deadline()).min();
            let wake = deadline.map_or(start + Duration::from_secs(3600), |d| start + d);
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    let (len, _) = received?;
                    let now = start.elapsed();
                    // A datagram is untrusted input: one that does not decode is dropped, never a panic.
                    match serde_json::from_slice::<Datagram>(&buf[..len]) {
                        Ok(Datagram { from, body: Body::Set(m) }) => self.set.on_message(now, &from, m),
                        Ok(Datagram { from, body: Body::Counter(m) }) => self.counter.on_message(now, &from, m),
                        Err(e) => eprintln!("{}: dropped a datagram: {e}", self.name),
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    let now = start.elapsed();
                    self.set.on_tick(now);
                    self.counter.on_tick(now);
                }
            }
            self.flush().await?;
            view.send_replace(self.view());
        }
    }
}

#[tokio::main(flavor = "current_thread")]
#[allow(clippy::print_stdout)] // an example prints its outcome
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let mut sockets = Vec::new();
    for _ in &names {
        sockets.push(UdpSocket::bind("127.0.0.1:0").await?); // a free port on loopback
    }
    let peers: BTreeMap<String, SocketAddr> =
        names.iter().cloned().zip(sockets.iter().map(|s| s.local_addr().expect("bound"))).collect();
    let peers = Arc::new(peers);

    let start = Instant::now();
    let mut views = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (name, socket)) in names.iter().zip(sockets).enumerate() {
        let config = Config::default(); // star overlay ("a" relays), rounds every 2–8 s
        let members = names.clone();
        let set = Engine::new(name.as_str(), members.clone(), config.clone(), index as u64, start.elapsed())?;
        let counter = Engine::new(name.as_str(), members, config, 100 + index as u64, start.elapsed())?;
        let replica = Replica { name: name.clone(), set, counter, socket, peers: Arc::clone(&peers), sent: 0 };
        let (tx, rx) = watch::channel(View::default());
        views.push(rx);
        tasks.spawn(replica.run(start, index as u64, tx));
    }

    // Converged: every replica holds the nine elements and the counter's 5 + 2 − 1 = 6.
    let expected = View { elements: vec![0, 1, 2, 10, 11, 12, 20, 21, 22], total: 6 };
    let converged = async {
        for view in &mut views {
            view.wait_for(|v| *v == expected).await?;
        }
        Ok::<(), watch::error::RecvError>(())
    };
    tokio::select! {
        Ok(()) = converged => {}
        Some(ended) = tasks.join_next() => return Err(format!("a replica stopped: {ended:?}").into()),
        () = tokio::time::sleep(Duration::from_secs(30)) => return Err("no convergence within 30 s".into()),
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "converged after {seconds:.2} s: every replica holds {:?} and counts {}",
        expected.elements, expected.total
    );
    tasks.abort_all();
    Ok(())
}
