//! The delay line between namespaced hosts: a UDP relay in the switch namespace.
//!
//! This machine's kernel has no `sch_netem` (nor `fq`, the other way to hold packets back), so delay is added in
//! user space: each host's nft NAT table sends its UDP for host `d` to the relay's port for the pair (sender,
//! receiver); the relay holds every datagram for the configured delay and sends it on to `d`, first in, first out.
//! A daemon never looks at a datagram's source address (the sender's identity is inside the authenticated
//! payload), so the relay's address as source changes nothing. Loss and partitions stay in the kernel (nft, in
//! each sender's namespace).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A running relay; dropping it stops it.
#[derive(Debug)]
pub struct Relay {
    delay_us: Arc<AtomicU64>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Relay {
    /// Starts one relay port per ordered pair of the `hosts` hosts, in namespace `ns`.
    pub fn start(ns: &str, hosts: usize) -> Result<Relay> {
        let ns_name = ns.to_string();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .on_thread_start(move || {
                if let Err(e) = crate::probe::enter_netns(&ns_name) {
                    eprintln!("netlab relay: {e:#}");
                }
            })
            .build()?;
        let delay_us = Arc::new(AtomicU64::new(0));
        for from in 0..hosts {
            for to in (0..hosts).filter(|t| *t != from) {
                let listen = SocketAddr::from(([198, 18, 0, 254], crate::hosts::relay_port(from, to)));
                let dest = SocketAddr::from(([198, 18, 0, to as u8 + 1], crate::hosts::DAEMON_PORT));
                // Bound on a runtime thread: those are in the switch namespace, the caller's is not.
                let socket = runtime
                    .block_on(runtime.spawn(async move { UdpSocket::bind(listen).await }))?
                    .with_context(|| format!("relay: binding {listen}"))?;
                let socket = Arc::new(socket);
                let (tx, rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
                runtime.spawn(receive(socket.clone(), tx, delay_us.clone()));
                runtime.spawn(forward(socket, rx, dest));
            }
        }
        Ok(Relay { delay_us, runtime: Some(runtime) })
    }

    /// Sets the one-way delay of every datagram from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_us.store(delay.as_micros() as u64, Ordering::Relaxed);
    }
}

async fn receive(socket: Arc<UdpSocket>, tx: mpsc::UnboundedSender<(Instant, Vec<u8>)>, delay_us: Arc<AtomicU64>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, _)) = socket.recv_from(&mut buf).await else { continue };
        let due = Instant::now() + Duration::from_micros(delay_us.load(Ordering::Relaxed));
        if tx.send((due, buf[..n].to_vec())).is_err() {
            return;
        }
    }
}

async fn forward(socket: Arc<UdpSocket>, mut rx: mpsc::UnboundedReceiver<(Instant, Vec<u8>)>, dest: SocketAddr) {
    while let Some((due, datagram)) = rx.recv().await {
        tokio::time::sleep_until(due).await;
        let _ = socket.send_to(&datagram, dest).await;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
