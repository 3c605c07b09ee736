use serde_json::{Value, json};

use super::*;

fn settings(args: &[&str]) -> Result<Settings, clap::Error> {
    settings_from_args(std::iter::once("osmosis").chain(args.iter().copied()))
}

#[test]
fn the_default_workload_is_broadcast_with_the_set_defaults() {
    let s = settings(&[]).unwrap();
    assert_eq!(s, Settings { workload: Workload::Broadcast, config: Config::default(), seed: 0 });
}

#[test]
fn counters_batch_for_1500_ms_on_a_star() {
    for w in ["g-counter", "pn-counter"] {
        let c = settings(&[w]).unwrap().config;
        assert_eq!(c.overlay, Overlay::Star);
        assert_eq!((c.relay_window, c.local_window), (Duration::from_millis(1500), Duration::from_millis(1500)));
        assert_eq!((c.round_min, c.round_max, c.fanout), (Config::default().round_min, Config::default().round_max, 1));
    }
    assert_eq!(default_config(Workload::GSet), Config::default());
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
        ..default_config(Workload::PnCounter)
    };
    assert_eq!(s, Settings { workload: Workload::PnCounter, config: expected, seed: 11 });
    let c = settings(&["g-set", "--local-window-ms", "5"]).unwrap().config;
    assert_eq!(c, Config { local_window: Duration::from_millis(5), ..Config::default() });
}

#[test]
fn bad_flags_and_bad_configs_exit_with_code_2() {
    let bad: [&[&str]; 7] = [
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
    let (tx, mut rx) = mpsc::channel(16);
    let reader = tokio::spawn(read_lines(input, max, tx));
    let mut out = Vec::new();
    while let Some(line) = rx.recv().await {
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
        tokio::spawn(read_lines(input, 4, tx));
        let mut out = Vec::new();
        while let Some(line) = rx.recv().await {
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
