use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, ReadBuf};

use super::*;

fn settings(args: &[&str]) -> Result<Settings, clap::Error> {
    settings_from_args(std::iter::once("osmosis").chain(args.iter().copied()))
}

#[test]
fn the_default_workload_is_broadcast_with_the_set_defaults_and_answers_updates_once_sent() {
    let s = settings(&[]).unwrap();
    let config = Config { backup: false, ..Config::default() };
    assert_eq!(s, Settings { workload: Workload::Broadcast, config, seed: 0, incarnation: 0, acks: Acks::Sent });
}

#[test]
fn counters_batch_for_1500_ms_on_the_auto_overlay_and_route_around_their_hub_late() {
    for w in ["g-counter", "pn-counter"] {
        let c = settings(&[w]).unwrap().config;
        assert_eq!(c.overlay, Overlay::Auto);
        assert_eq!(c.ack_slack, Duration::from_secs(8));
        let confirmed = settings(&[w, "--acks", "confirmed"]).unwrap().config;
        assert_eq!(confirmed.ack_slack, Config::default().ack_slack, "a client waits for a peer's acknowledgement");
        let chosen = settings(&[w, "--acks", "confirmed", "--ack-slack-ms", "2000"]).unwrap().config;
        assert_eq!(chosen.ack_slack, Duration::from_secs(2));
        assert_eq!((c.relay_window, c.local_window), (Duration::from_millis(1500), Duration::from_millis(1500)));
        assert_eq!((c.round_min, c.round_max, c.fanout), (Duration::from_secs(4), Config::default().round_max, 1));
    }
    assert_eq!(default_config(Workload::GSet), Config { backup: false, ..Config::default() });
}

#[test]
fn each_flag_overrides_one_field_of_the_workloads_defaults() {
    let s = settings(&[
        "pn-counter",
        "--overlay",
        "tree:3",
        "--relay-window-ms",
        "7",
        "--round-min-ms",
        "50",
        "--round-max-ms",
        "60",
        "--fanout",
        "2",
        "--gap-timeout-ms",
        "9",
        "--star-limit",
        "3",
        "--ack-slack-ms",
        "40",
        "--suspicion-ttl-ms",
        "700",
        "--max-message-bytes",
        "9000",
        "--backup",
        "true",
        "--acks",
        "applied",
        "--seed",
        "11",
    ])
    .unwrap();
    let expected = Config {
        overlay: Overlay::Tree(3),
        relay_window: Duration::from_millis(7),
        round_min: Duration::from_millis(50),
        round_max: Duration::from_millis(60),
        fanout: 2,
        gap_timeout: Duration::from_millis(9),
        star_limit: 3,
        ack_slack: Duration::from_millis(40),
        suspicion_ttl: Duration::from_millis(700),
        max_message_bytes: 9000,
        backup: true,
        ..default_config(Workload::PnCounter)
    };
    assert_eq!(
        s,
        Settings { workload: Workload::PnCounter, config: expected, seed: 11, incarnation: 0, acks: Acks::Applied }
    );
    let c = settings(&["g-set", "--local-window-ms", "5"]).unwrap().config;
    assert_eq!(c, Config { local_window: Duration::from_millis(5), ..default_config(Workload::GSet) });
}

#[test]
fn bad_flags_and_bad_configs_exit_with_code_2() {
    let bad: [&[&str]; 11] = [
        &["--max-message-bytes", "100"],
        &["--max-message-bytes", "8000000"],
        &["--star-limit", "0"],
        &["--ack-slack-ms", "0"],
        &["lin-kv"],
        &["--overlay", "ring"],
        &["--fanout", "-1"],
        &["--relay-window-ms", "soon"],
        &["--fanout", "0"],
        &["--round-min-ms", "5000", "--round-max-ms", "10"],
        &["--gap-timeout-ms", "99999999"],
    ];
    for args in bad {
        let e = settings(args).expect_err(&format!("{args:?}"));
        assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
    }
    assert_eq!(settings(&["--help"]).unwrap_err().exit_code(), 0);
}

#[test]
fn help_lists_every_workloads_defaults() {
    let help = command().render_long_help().to_string();
    for w in Workload::ALL {
        assert!(help.contains(w.name()), "{w}");
    }
    assert!(help.contains("--relay-window-ms 1500"));
    assert!(help.contains(&format!("--relay-window-ms {}", Config::default().relay_window.as_millis())));
}

async fn lines_of(input: &'static [u8], max: usize) -> Vec<String> {
    lines_within(input, max, QUEUE_BYTES).await
}

/// The lines the reader sends with a budget of `budget` bytes, each handled (its permit dropped) on arrival.
async fn lines_within(input: &'static [u8], max: usize, budget: usize) -> Vec<String> {
    let (tx, mut rx) = mpsc::channel(16);
    let reader = tokio::spawn(read_lines(input, max, Budget::new(budget), tx));
    let mut out = Vec::new();
    while let Some((line, _permit)) = rx.recv().await {
        out.push(line);
    }
    reader.await.unwrap();
    out
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
fn stdin_lines_over_the_limit_or_not_utf8_are_skipped_and_the_rest_kept() {
    let input: &'static [u8] = b"short\n0123456789abcdef\n\nok\n\xff\xfe\nlast-without-newline";
    let lines = block_on(lines_of(input, 10));
    assert_eq!(lines, ["short", "ok"], "the last line is 20 bytes: over the limit too");
}

#[test]
fn a_final_line_without_newline_is_kept_if_short_enough() {
    assert_eq!(block_on(lines_of(b"a\nbc", 10)), ["a", "bc"]);
    assert_eq!(block_on(lines_of(b"a\nbcdefghijkl", 10)), ["a"]);
}

#[test]
fn an_over_long_line_split_across_reads_is_skipped_whole() {
    // A 1-byte buffer makes every byte a separate read.
    let input = tokio::io::BufReader::with_capacity(1, &b"abcdefghijklmnop\nxy\n"[..]);
    let (tx, mut rx) = mpsc::channel(16);
    block_on(async move {
        tokio::spawn(read_lines(input, 4, Budget::new(QUEUE_BYTES), tx));
        let mut out = Vec::new();
        while let Some((line, _permit)) = rx.recv().await {
            out.push(line);
        }
        assert_eq!(out, ["xy"]);
    });
}

#[test]
fn the_driver_answers_each_line_and_stops_at_eof() {
    let input = concat!(
        r#"{"src":"c1","dest":"n1","body":{"type":"init","node_id":"n1","node_ids":["n1"],"msg_id":1}}"#,
        "\n",
        "garbage\n",
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","echo":"hi","msg_id":2}}"#,
        "\n",
    );
    let node = Node::new(settings(&["echo"]).unwrap()).unwrap();
    let mut out = Vec::new();
    block_on(run(node, input.as_bytes(), &mut out, MAX_LINE)).unwrap();
    let lines: Vec<Value> = String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        lines,
        [
            json!({"src": "n1", "dest": "c1", "body": {"type": "init_ok", "msg_id": 0, "in_reply_to": 1}}),
            json!({"src": "n1", "dest": "c1", "body": {"type": "echo_ok", "echo": "hi", "msg_id": 1, "in_reply_to": 2}}),
        ]
    );
}

/// Yields to the runtime until `done()` holds; panics after 10 000 yields (the reader task needs a few).
async fn settle(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never settled");
}

#[test]
fn the_reader_reads_no_further_while_the_queued_lines_fill_the_byte_budget() {
    // Ten lines of 8 bytes; a budget of 20 bytes holds two of them, not three.
    let input: Vec<u8> = (0..10).flat_map(|i| format!("line-{i:03}\n").into_bytes()).collect();
    block_on(async move {
        let (tx, mut rx) = mpsc::channel(64);
        let reader = tokio::spawn(read_lines(std::io::Cursor::new(input), MAX_LINE, Budget::new(20), tx));
        settle(|| rx.len() == 2).await;
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(rx.len(), 2, "the third line waits for budget");
        assert!(!reader.is_finished());
        // A line taken but not yet handled still holds its bytes.
        let (first, permit) = rx.recv().await.unwrap();
        assert_eq!(first, "line-000");
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(rx.len(), 1);
        drop(permit);
        settle(|| rx.len() == 2).await;
        let mut rest = Vec::new();
        while let Some((line, _permit)) = rx.recv().await {
            rest.push(line);
        }
        assert_eq!(rest, (1..10).map(|i| format!("line-{i:03}")).collect::<Vec<_>>());
        reader.await.unwrap();
    });
}

#[test]
fn a_line_larger_than_the_whole_budget_still_passes_alone() {
    assert_eq!(block_on(lines_within(b"abcdefgh\nijklmnop\n", 10, 3)), ["abcdefgh", "ijklmnop"]);
}

/// An output the test can read while the driver writes to it.
#[derive(Clone, Default)]
struct SharedOutput(Arc<Mutex<Vec<u8>>>);

impl Write for SharedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl SharedOutput {
    fn messages(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

#[test]
fn the_driver_sends_a_hubs_batch_when_its_relay_window_ends() {
    let settings = settings(&["broadcast", "--relay-window-ms", "20", "--backup", "false"]).unwrap();
    let init = r#"{"src":"c0","dest":"n0","body":{"type":"init","node_id":"n0","node_ids":["n0","n1"],"msg_id":1}}"#;
    let broadcast = r#"{"src":"c1","dest":"n0","body":{"type":"broadcast","message":42,"msg_id":2}}"#;
    // n0 is the star's hub: without backup pushes, the lines answering the broadcast hold no push (nor the answer,
    // which waits for the push), only the relay window's deadline can.
    let mut node = Node::new(settings.clone()).unwrap();
    node.handle_line(Duration::ZERO, init);
    node.handle_line(Duration::ZERO, broadcast);
    assert!(!node.take_output().iter().any(|l| l.contains("ae_push")));
    assert!(node.next_deadline().is_some());

    let pushed = |out: &SharedOutput| {
        out.messages()
            .iter()
            .any(|m| m["dest"] == "n1" && m["body"]["type"] == "ae_push" && m["body"]["delta"]["ints"] == json!([42]))
    };
    block_on(async move {
        let (mut input, stdin) = tokio::io::duplex(1 << 16);
        let out = SharedOutput::default();
        let driver =
            tokio::spawn(run(Node::new(settings).unwrap(), tokio::io::BufReader::new(stdin), out.clone(), MAX_LINE));
        input.write_all(format!("{init}\n{broadcast}\n").as_bytes()).await.unwrap();
        let watchdog = Duration::from_secs(60);
        tokio::time::timeout(watchdog, async {
            while !pushed(&out) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the push to n1 goes out once the relay window ends");
        let kinds: Vec<Value> = out.messages()[1..].iter().map(|m| m["body"]["type"].clone()).collect();
        assert_eq!(kinds, [json!("ae_push"), json!("broadcast_ok")], "the answer waits for the batch (--acks sent)");
        drop(input);
        tokio::time::timeout(watchdog, driver).await.expect("the driver stops at EOF").unwrap().unwrap();
    });
}

/// An input like tokio's stdin: each read waits for a chunk (a `Vec` sent on `chunks`; EOF once every sender is
/// gone) on tokio's blocking pool, where no task abort reaches it. Each read, once running, says so on `started`.
struct BlockingInput {
    chunks: Arc<Mutex<std::sync::mpsc::Receiver<Vec<u8>>>>,
    started: std::sync::mpsc::Sender<()>,
    read: Option<tokio::task::JoinHandle<Option<Vec<u8>>>>,
}

impl tokio::io::AsyncRead for BlockingInput {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let (chunks, started) = (Arc::clone(&self.chunks), self.started.clone());
        let read = self.read.get_or_insert_with(|| {
            tokio::task::spawn_blocking(move || {
                let _ = started.send(());
                chunks.lock().unwrap().recv().ok()
            })
        });
        let chunk = std::task::ready!(Pin::new(read).poll(cx));
        self.read = None;
        if let Some(chunk) = chunk.map_err(io::Error::other)? {
            buf.put_slice(&chunk);
        }
        Poll::Ready(Ok(()))
    }
}

/// Runs [`serve`] on an echo node in a thread, its stdin fed by the returned sender, its output made by `output`
/// from the input's `started` signals; the exit code arrives on the returned receiver.
fn serve_in_thread<W: Write + Send + 'static>(
    output: impl FnOnce(std::sync::mpsc::Receiver<()>) -> W,
) -> (std::sync::mpsc::Sender<Vec<u8>>, std::sync::mpsc::Receiver<ExitCode>) {
    let (stdin, chunks) = std::sync::mpsc::channel();
    let (started, reads) = std::sync::mpsc::channel();
    let input = BlockingInput { chunks: Arc::new(Mutex::new(chunks)), started, read: None };
    let output = output(reads);
    let node = Node::new(settings(&["echo"]).unwrap()).unwrap();
    let (exit, code) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _ = exit.send(serve(runtime, node, tokio::io::BufReader::new(input), output));
    });
    (stdin, code)
}

const ECHO_INIT: &str =
    r#"{"src":"c1","dest":"n1","body":{"type":"init","node_id":"n1","node_ids":["n1"],"msg_id":1}}"#;

/// Fails every write, as stdout does once Maelstrom has gone. The first write first waits (at most a minute) until
/// the input's second read, the one after the first line, is running, as a read of stdin would be: tokio cancels a
/// blocking read still queued when the runtime drops, and only a running one shows the hang.
struct BrokenPipe(std::sync::mpsc::Receiver<()>);

impl Write for BrokenPipe {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        for _ in 0..2 {
            let _ = self.0.recv_timeout(Duration::from_secs(60));
        }
        Err(io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> io::Result<()> {
        Err(io::ErrorKind::BrokenPipe.into())
    }
}

#[test]
fn a_failed_stdout_exits_1_without_waiting_for_stdin_to_close() {
    let (stdin, code) = serve_in_thread(BrokenPipe);
    stdin.send(format!("{ECHO_INIT}\n").into_bytes()).unwrap();
    // stdin stays open while we wait: a read of it is in progress on the blocking pool.
    let exit = code.recv_timeout(Duration::from_secs(60));
    drop(stdin);
    assert_eq!(exit, Ok(ExitCode::FAILURE));
}

#[test]
fn eof_on_stdin_exits_0_after_answering_every_line() {
    let out = SharedOutput::default();
    let (stdin, code) = serve_in_thread(|_| out.clone());
    stdin.send(format!("{ECHO_INIT}\n").into_bytes()).unwrap();
    drop(stdin);
    assert_eq!(code.recv_timeout(Duration::from_secs(60)), Ok(ExitCode::SUCCESS));
    assert_eq!(out.messages().len(), 1);
    assert_eq!(out.messages()[0]["body"]["type"], "init_ok");
}
