//! `messages.svg`: the message timeline, a Lamport diagram of a short window of the network journal (Maelstrom's
//! `messages.svg`, which draws the first 10 000 events; a window this short stays readable).
//!
//! The window is the first [`WINDOW`] journal events after setup (`init`, `topology` and their replies are left
//! out, as Maelstrom leaves out `init`). Every participant that sends or receives in it gets a column (nodes in
//! natural order, then services, then clients) and every event a row, in journal order, so an arrow runs from the
//! row of its send to the row of its delivery. Time since the window's first event is written every
//! [`TIME_EVERY`] rows, so latencies can be read off. Arrows are blue when a client is involved, pink for error
//! replies, black between servers, labelled with the body's type and fields (cut to [`LABEL_CHARS`]) and carry
//! the whole body as a tooltip. The journal is read on past the window (at most [`LOOKAHEAD`] more events) to
//! tell a message sent in the window that arrives later (dashed, to the bottom) from one never delivered —
//! dropped by a partition, sent to a dead node, or still queued at the end (red, dashed, crossed out).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// Events drawn.
pub const WINDOW: usize = 400;
/// Events read past the window to learn the fate of messages sent in it.
pub const LOOKAHEAD: usize = 200_000;
/// A time label every this many rows.
pub const TIME_EVERY: usize = 25;
/// Labels are cut to this many characters.
pub const LABEL_CHARS: usize = 40;

const ROW: f64 = 18.0;
const TOP: f64 = 60.0;
const LEFT: f64 = 90.0;
const SETUP: [&str; 4] = ["init", "init_ok", "topology", "topology_ok"];
const SERVER_COLOR: &str = "#222222";
const CLIENT_COLOR: &str = "#3A8FE0";
const ERROR_COLOR: &str = "#FF1E90";
const NEVER_COLOR: &str = "#D62728";
const COLORS: [&str; 4] = [SERVER_COLOR, CLIENT_COLOR, ERROR_COLOR, NEVER_COLOR];

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    time: u64,
    id: u64,
    src: String,
    dest: String,
    #[serde(default)]
    body: Option<Value>,
}

/// A message sent in the window.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    step: usize,
    src: String,
    dest: String,
    body: Value,
}

/// What became of a message sent in the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Fate {
    /// Delivered in the window, at this row.
    Delivered(usize),
    /// Delivered after the window, this many ns after the window's first event.
    Later(u64),
    /// Not delivered by the end of the journal.
    Never,
    /// Not delivered within the lookahead.
    Unknown,
}

/// The window read from a journal.
#[derive(Debug, Default)]
pub(super) struct Window {
    /// Journal time of each row's event (ns).
    pub(super) times: Vec<u64>,
    /// Messages sent in the window, by id, with what became of them.
    pub(super) sent: BTreeMap<u64, (Sent, Fate)>,
    /// Second deliveries of duplicated messages in the window: `(id, row)`.
    pub(super) duplicates: Vec<(u64, usize)>,
    /// Events after the window (not drawn).
    pub(super) later_events: usize,
}

fn body_type(body: &Option<Value>) -> Option<&str> {
    body.as_ref()?.get("type")?.as_str()
}

/// Reads the first `window` events after setup, and up to `lookahead` more to learn the fate of their messages.
pub(super) fn read_window(journal: &Path, window: usize, lookahead: usize) -> io::Result<Window> {
    let mut w = Window::default();
    let mut setup: BTreeSet<u64> = BTreeSet::new();
    let mut pending = 0usize;
    let mut resolving = true;
    for line in BufReader::new(File::open(journal)?).lines() {
        let line = line?;
        if !resolving {
            // Only counted: every message sent in the window is accounted for.
            w.later_events += usize::from(!line.trim().is_empty());
            continue;
        }
        let Ok(ev) = serde_json::from_str::<Event>(&line) else { continue };
        let is_send = ev.kind == "send";
        if is_send && body_type(&ev.body).is_some_and(|t| SETUP.contains(&t)) {
            setup.insert(ev.id);
            continue;
        }
        if !is_send && setup.contains(&ev.id) {
            continue;
        }
        if w.times.len() < window {
            let step = w.times.len();
            w.times.push(ev.time);
            if is_send {
                let sent = Sent { step, src: ev.src, dest: ev.dest, body: ev.body.unwrap_or(Value::Null) };
                w.sent.insert(ev.id, (sent, Fate::Never));
                pending += 1;
            } else if let Some((_, fate)) = w.sent.get_mut(&ev.id) {
                if *fate == Fate::Never {
                    *fate = Fate::Delivered(step);
                    pending -= 1;
                } else {
                    w.duplicates.push((ev.id, step)); // a duplicated message's second delivery
                }
            }
            continue;
        }
        w.later_events += 1;
        if !is_send && let Some((_, fate @ Fate::Never)) = w.sent.get_mut(&ev.id) {
            *fate = Fate::Later(ev.time.saturating_sub(w.times[0]));
            pending -= 1;
        }
        if pending > 0 && w.later_events >= lookahead {
            for (_, fate) in w.sent.values_mut() {
                if *fate == Fate::Never {
                    *fate = Fate::Unknown;
                }
            }
            pending = 0;
        }
        resolving = pending > 0;
    }
    Ok(w)
}

/// Column order: nodes by name with numbers compared as numbers (`n2` before `n10`), then services, then clients.
fn column_key(name: &str) -> (u8, String, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (prefix, number) = name.split_at(name.len() - digits);
    let number = number.parse::<u64>().unwrap_or(u64::MAX);
    let class = if name.starts_with('c') {
        2
    } else if digits > 0 {
        0
    } else {
        1
    };
    (class, prefix.to_owned(), number)
}

/// XML text or attribute value.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// `type {fields…}` without `msg_id` / `in_reply_to`, cut to [`LABEL_CHARS`]; errors show their text.
fn label(body: &Value) -> String {
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("?");
    let rest = match body {
        Value::Object(map) if kind == "error" => map.get("text").map(|t| t.to_string()).unwrap_or_default(),
        Value::Object(map) => {
            let mut m = map.clone();
            for k in ["type", "msg_id", "in_reply_to"] {
                m.remove(k);
            }
            if m.is_empty() { String::new() } else { Value::Object(m).to_string() }
        }
        _ => String::new(),
    };
    let text = if rest.is_empty() { kind.to_owned() } else { format!("{kind} {rest}") };
    match text.char_indices().nth(LABEL_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

fn color(s: &Sent) -> &'static str {
    if s.body.get("type").and_then(Value::as_str) == Some("error") {
        ERROR_COLOR
    } else if s.src.starts_with('c') || s.dest.starts_with('c') {
        CLIENT_COLOR
    } else {
        SERVER_COLOR
    }
}

/// Writes the diagram of `journal`'s first window after setup to `out`.
pub fn write(journal: &Path, out: &Path) -> io::Result<()> {
    let w = read_window(journal, WINDOW, LOOKAHEAD)?;
    std::fs::write(out, render(&w))
}

pub(super) fn render(w: &Window) -> String {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (s, _) in w.sent.values() {
        names.insert(&s.src);
        names.insert(&s.dest);
    }
    let mut cols: Vec<&str> = names.into_iter().collect();
    cols.sort_by_key(|n| column_key(n));
    let col_w = (1100.0 / cols.len().max(1) as f64).clamp(36.0, 140.0);
    let x = |name: &str| LEFT + col_w * (cols.iter().position(|c| *c == name).unwrap_or(0) as f64 + 0.5);
    let y = |step: usize| TOP + ROW * (step as f64 + 1.0);
    let rows = w.times.len().max(1);
    let bottom = y(rows) + ROW;
    let width = LEFT + col_w * cols.len() as f64 + 20.0;
    let height = bottom + 90.0;
    let t0 = w.times.first().copied().unwrap_or(0);

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
"##
    );
    svg.push_str("<defs>\n");
    for c in COLORS {
        let _ = writeln!(
            svg,
            r##"<marker id="head{}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>"##,
            &c[1..]
        );
    }
    svg.push_str("</defs>\n");
    let caption = format!(
        "Messages: the first {} network events after setup, from {:.3} s (journal clock)",
        w.times.len(),
        t0 as f64 / 1e9
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.0}" y="24" font-size="16" text-anchor="middle">{}</text>"#,
        width / 2.0,
        xml(&caption)
    );
    // Columns: a grey line each, names on top and every 50 rows.
    for c in &cols {
        let cx = x(c);
        let _ = writeln!(
            svg,
            r##"<line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{bottom:.1}" stroke="#cccccc"/>"##,
            y(0) - ROW
        );
        for step in (0..rows).step_by(50) {
            let fill = if step == 0 { "#000000" } else { "#aaaaaa" };
            let _ = writeln!(
                svg,
                r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" fill="{fill}">{}</text>"#,
                y(step) - ROW * 0.6,
                xml(c)
            );
        }
    }
    for (step, &t) in w.times.iter().enumerate().step_by(TIME_EVERY) {
        let _ = writeln!(
            svg,
            r##"<text x="{:.0}" y="{:.1}" text-anchor="end" fill="#666666">+{:.1} ms</text>"##,
            LEFT - 8.0,
            y(step) + 4.0,
            t.saturating_sub(t0) as f64 / 1e6
        );
    }
    let (mut later, mut never) = (0, 0);
    let duplicates =
        w.duplicates.iter().filter_map(|(id, step)| Some((&w.sent.get(id)?.0, Fate::Delivered(*step), true)));
    let arrows = w.sent.values().map(|(s, fate)| (s, *fate, false)).chain(duplicates);
    for (s, fate, duplicate) in arrows {
        let (x0, y0) = (x(&s.src), y(s.step));
        let tip = xml(&format!("{} → {} {}", s.src, s.dest, s.body));
        let text = label(&s.body);
        let (x1, y1, stroke, dash, note) = match fate {
            Fate::Delivered(step) => {
                let note = if duplicate { " (duplicate)".to_owned() } else { String::new() };
                (x(&s.dest), y(step), color(s), "", note)
            }
            Fate::Later(dt) => {
                later += 1;
                (
                    x(&s.dest),
                    bottom,
                    color(s),
                    r#" stroke-dasharray="6 4""#,
                    format!(" (arrives +{:.1} ms)", dt as f64 / 1e6),
                )
            }
            Fate::Unknown => {
                later += 1;
                (x(&s.dest), bottom, color(s), r#" stroke-dasharray="6 4""#, " (arrives later)".to_owned())
            }
            Fate::Never => {
                never += 1;
                // A short stub towards the receiver, crossed out; the label names the receiver instead.
                let dx = (x(&s.dest) - x0).clamp(-col_w * 0.6, col_w * 0.6);
                (x0 + dx, y0 + ROW * 0.8, NEVER_COLOR, r#" stroke-dasharray="3 3""#, String::new())
            }
        };
        let _ = writeln!(
            svg,
            r#"<g><title>{tip}</title><line x1="{x0:.1}" y1="{y0:.1}" x2="{x1:.1}" y2="{y1:.1}" stroke="{stroke}" stroke-width="1.5"{dash} marker-end="url(#head{})"/>"#,
            &stroke[1..]
        );
        if matches!(fate, Fate::Never) {
            let _ = writeln!(
                svg,
                r#"<path d="M{:.1},{:.1} l8,8 m0,-8 l-8,8" stroke="{stroke}" stroke-width="2"/>"#,
                x1 - 4.0,
                y1 - 4.0
            );
        }
        if let Fate::Never = fate {
            let kind = s.body.get("type").and_then(Value::as_str).unwrap_or("?");
            let (anchor, tx) = if x1 < x0 { ("end", x1 - 8.0) } else { ("start", x1 + 8.0) };
            let _ = writeln!(
                svg,
                r#"<text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}" font-size="10" fill="{stroke}" stroke="white" stroke-width="3" paint-order="stroke">{}</text></g>"#,
                y1 + 4.0,
                xml(&format!("{kind} → {}: never delivered", s.dest))
            );
            continue;
        }
        let (mx, my) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let mut angle = (y1 - y0).atan2(x1 - x0).to_degrees();
        if !(-90.0..=90.0).contains(&angle) {
            angle -= 180.0;
        }
        let _ = writeln!(
            svg,
            r#"<text x="{mx:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="{stroke}" stroke="white" stroke-width="3" paint-order="stroke" transform="rotate({angle:.1} {mx:.1} {my:.1})">{}</text></g>"#,
            my - 3.0,
            xml(&format!("{text}{note}"))
        );
    }
    let mut notes = Vec::new();
    if later > 0 {
        notes.push(format!("{later} messages sent in this window are delivered after it (dashed)"));
    }
    if never > 0 {
        notes.push(format!(
            "{never} are never delivered: dropped by a partition, sent to a dead node, or still queued at the end (red)"
        ));
    }
    if w.later_events > 0 {
        notes.push(format!("{} later network events are not shown", w.later_events));
    }
    for (i, n) in notes.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<text x="{:.0}" y="{:.1}" text-anchor="middle" fill="#D96918">{}</text>"##,
            width / 2.0,
            bottom + 24.0 + 18.0 * i as f64,
            xml(n)
        );
    }
    svg.push_str("</svg>\n");
    svg
}
