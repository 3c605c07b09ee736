//! The daemon binary on loopback: bad HTTP input gets clear JSON errors, bad datagrams are counted drops, the
//! token is enforced, and an acknowledged write survives `kill -9`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A daemon process, killed when dropped.
struct Daemon {
    child: Child,
    http: SocketAddr,
    udp: SocketAddr,
    dir: PathBuf,
    token: Option<String>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("osmosisd-api-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("key"), "the secret of the api tests, 32 bytes").unwrap();
    d
}

fn start(dir: &Path, token: Option<&str>, extra: &[&str]) -> Daemon {
    let (http, udp) = (free_port(), free_port());
    let http: SocketAddr = format!("127.0.0.1:{http}").parse().unwrap();
    let udp: SocketAddr = format!("127.0.0.1:{udp}").parse().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_osmosisd"));
    cmd.args(["--name", "solo", "--listen", &udp.to_string(), "--http", &http.to_string()])
        .arg("--cluster-key-file")
        .arg(dir.join("key"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(t) = token {
        std::fs::write(dir.join("token"), t).unwrap();
        cmd.arg("--http-token-file").arg(dir.join("token"));
    }
    let child = cmd.spawn().unwrap();
    let d = Daemon { child, http, udp, dir: dir.to_path_buf(), token: token.map(str::to_string) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_req(&d, "GET", "/health", b"").0 != 200 {
        assert!(Instant::now() < deadline, "the daemon did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    d
}

/// One HTTP/1.1 request with the daemon's token (if any); (status, body). Status 0: no answer.
fn http_req(d: &Daemon, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let auth = d.token.as_ref().map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    raw(
        d.http,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ),
        body,
    )
}

fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else { return (0, String::new()) };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn json_error(status_body: (u16, String), status: u16, code: &str) {
    assert_eq!(status_body.0, status, "{}", status_body.1);
    let v: Value = serde_json::from_str(&status_body.1).unwrap_or_else(|e| panic!("not JSON ({e}): {}", status_body.1));
    assert_eq!(v["error"], code, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

fn metric(d: &Daemon, line_start: &str) -> u64 {
    let (_, text) = http_req(d, "GET", "/metrics", b"");
    text.lines().find(|l| l.starts_with(line_start)).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0)
}

#[test]
fn bad_requests_get_json_errors_with_the_right_status_and_the_daemon_keeps_serving() {
    let dir = tmp("bad");
    let d = start(&dir, None, &["--max-body-bytes", "4096"]);
    json_error(http_req(&d, "POST", "/v1/sets/s", b"{\"elements\": [1, 2"), 400, "bad_request");
    json_error(http_req(&d, "POST", "/v1/sets/s", b"{\"element\": 1, \"elements\": [2]}"), 400, "bad_request");
    json_error(http_req(&d, "POST", "/v1/sets/s", b"{\"elemnts\": [2]}"), 400, "bad_request");
    json_error(http_req(&d, "POST", "/v1/sets/s", b"\xff\xfe"), 400, "bad_request");
    json_error(http_req(&d, "POST", "/v1/sets/bad%20name", b"{\"element\": 1}"), 400, "bad_request");
    json_error(http_req(&d, "POST", "/v1/counters/c", b"{\"delta\": 1.5}"), 400, "bad_request");
    json_error(http_req(&d, "POST", "/v1/counters/c", b"{\"delta\": 18446744073709551616}"), 400, "bad_request");
    let big = format!("{{\"elements\": [{}]}}", vec!["1"; 5000].join(","));
    json_error(http_req(&d, "POST", "/v1/sets/s", big.as_bytes()), 413, "body_too_large");
    json_error(http_req(&d, "GET", "/v2/anything", b""), 404, "not_found");
    json_error(http_req(&d, "DELETE", "/v1/sets/s", b""), 405, "method_not_allowed");
    let (status, _) = raw(d.http, "NONSENSE\r\n\r\n", b"");
    assert!(status == 400 || status == 0, "a request that is not HTTP gets 400 or a closed connection: {status}");
    // Nothing was written, and the daemon still serves.
    let (status, body) = http_req(&d, "GET", "/v1/sets/s", b"");
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()["len"].as_u64()), (200, Some(0)));
    let (status, body) = http_req(&d, "POST", "/v1/sets/s", b"{\"elements\": [1, \"two\", {\"b\": 1, \"a\": [2]}]}");
    assert_eq!(status, 200, "{body}");
    let (_, body) = http_req(&d, "GET", "/v1/sets/s", b"");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["elements"], serde_json::json!([1, "two", {"a": [2], "b": 1}]));
    assert!(metric(&d, "osmosis_http_requests_total{route=\"/v1/sets/{name}\",status=\"400\"}") >= 4);
}

#[test]
fn garbage_datagrams_and_wrong_macs_are_counted_and_never_merged() {
    let dir = tmp("udp");
    let d = start(&dir, None, &[]);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..200u32 {
        let junk: Vec<u8> = (0..(i % 97) * 13).map(|j| (j * 31 + i) as u8).collect();
        s.send_to(&junk, d.udp).unwrap();
        if i % 20 == 0 {
            std::thread::sleep(Duration::from_millis(2)); // this test counts drops, not socket buffer overflows
        }
    }
    // Well-formed framing, another cluster's MAC.
    let mut forged = vec![1u8, 1];
    forged.extend_from_slice(
        br#"{"from":"x","msg":{"type":"ae_delta","delta":{"sets":{"s":{"ints":[666],"other":[]}}}}}"#,
    );
    forged.extend_from_slice(&[0u8; 32]);
    for _ in 0..10 {
        s.send_to(&forged, d.udp).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let dropped: u64 = ["too_short", "bad_version", "bad_kind", "bad_mac"]
        .iter()
        .map(|r| metric(&d, &format!("osmosis_datagrams_dropped_total{{reason=\"{r}\"}}")))
        .sum();
    assert_eq!(dropped, 210, "every datagram is counted once");
    assert!(metric(&d, "osmosis_datagrams_dropped_total{reason=\"bad_mac\"}") >= 10);
    let (status, body) = http_req(&d, "GET", "/v1/sets/s", b"");
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["len"], 0, "nothing forged was merged");
}

#[test]
fn the_token_is_required_everywhere_but_health() {
    let dir = tmp("token");
    let mut d = start(&dir, Some("a-token-of-thirty-two-characters"), &[]);
    assert_eq!(http_req(&d, "GET", "/v1/sets", b"").0, 200);
    d.token = None;
    json_error(http_req(&d, "GET", "/v1/sets", b""), 401, "unauthorized");
    json_error(http_req(&d, "GET", "/metrics", b""), 401, "unauthorized");
    assert_eq!(http_req(&d, "GET", "/health", b"").0, 200);
    d.token = Some("a-token-of-thirty-two-characterX".into());
    json_error(http_req(&d, "POST", "/v1/counters/c", b"{\"delta\": 1}"), 401, "unauthorized");
}

#[test]
fn acknowledged_writes_survive_kill_9_and_a_restart() {
    let dir = tmp("kill");
    let mut d = start(&dir, None, &["--fsync", "always"]);
    for i in 0..100 {
        let (status, body) = http_req(&d, "POST", "/v1/sets/s", format!("{{\"element\": {i}}}").as_bytes());
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(http_req(&d, "POST", "/v1/counters/c", b"{\"delta\": -7}").0, 200);
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let dir2 = d.dir.clone();
    drop(d);
    let d = start(&dir2, None, &[]);
    let (_, body) = http_req(&d, "GET", "/v1/sets/s", b"");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["len"], 100);
    let (_, body) = http_req(&d, "GET", "/v1/counters/c", b"");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["value"], -7);
}
