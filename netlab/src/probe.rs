//! Entering the switch namespace, and a plain health probe that needs no runtime.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result};

/// Moves the calling thread into network namespace `name` (sockets it opens from then on live there).
pub fn enter_netns(name: &str) -> Result<()> {
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
    use std::os::fd::AsFd;
    rustix::thread::move_into_link_name_space(file.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))
        .with_context(|| format!("entering network namespace {name}"))?;
    Ok(())
}

/// Whether `GET url` (`http://ADDR/PATH`) answers 200 within a second, asked from namespace `ns` if given.
pub fn http_ok(ns: Option<&str>, url: &str) -> bool {
    http_get(ns, url).is_ok()
}

/// The body of `GET url` (`http://ADDR/PATH`) if it answers 200 within a second, asked from namespace `ns` if
/// given (on a thread of its own, which enters the namespace).
pub fn http_get(ns: Option<&str>, url: &str) -> Result<String> {
    let (ns, url) = (ns.map(str::to_string), url.to_string());
    let probe = std::thread::spawn(move || -> Result<String> {
        if let Some(ns) = &ns {
            enter_netns(ns)?;
        }
        let rest = url.strip_prefix("http://").context("not an http url")?;
        let (addr, path) = rest.split_once('/').context("no path")?;
        let addr: SocketAddr = addr.parse()?;
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        write!(s, "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        anyhow::ensure!(text.starts_with("HTTP/1.1 200"), "{}", text.lines().next().unwrap_or_default());
        Ok(text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
    });
    probe.join().map_err(|_| anyhow::anyhow!("the probe thread panicked"))?
}
