//! Plots of a run, as SVG files in the store directory (Maelstrom draws PNGs with gnuplot; spec §9.6):
//!
//! * `latency-raw.svg` — one point per completed client operation: x = invocation time (s), y = latency (ms, log
//!   scale); marker shape by `:f`, colour by `:f` for successes (blue, green, purple) and by completion type for
//!   the rest (`info` orange, `fail` pink, Jepsen's colours);
//! * `latency-quantiles.svg` — per `:f`, the 0.5, 0.95, 0.99 and 1 quantiles of latency in fixed windows of
//!   invocation time (Jepsen's view; its 30 s window is shortened to fit the run, see [`window`]);
//! * `rate.svg` — completions per second per `:f` and completion type, in the same windows (Jepsen's
//!   `rate.png`);
//! * `stable-latency.svg` — (broadcast and g-set) the cumulative distribution of set-full's stable latencies over
//!   every stable or lost element, so that lost elements show as the part the curve never reaches (counted in the
//!   title), with the ideal stable latency (an osmosis extension, [`crate::checker::ideal`]) beside it;
//! * `messages.svg` — the message timeline: a Lamport diagram of the first [`messages::WINDOW`] network events
//!   after setup, from the journal ([`messages`]).
//!
//! Every time plot shades the stretches in which a fault was in force: partitions grey, killed nodes red, paused
//! nodes purple.
//!
//! Text needs no font: without plotters' `ttf`/`ab_glyph` features its SVG backend writes `<text>` elements
//! naming a generic family (`sans-serif`) and lays labels out with a fixed per-character width estimate; the
//! viewer picks the actual font. Nothing here reads system fonts, so it works on a fresh machine.
//!
//! Plotting must never fail a run: every error comes back as an `io::Error` for the caller to log.

mod latency;
pub mod messages;
mod rate;
mod stable;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use serde_json::Value;

use crate::checker::Results;
use crate::checker::ideal::schedule::{FOREVER, FaultSchedule};
use crate::history::{F, History, OpType, Process};
use crate::nemesis::FaultKind;

const SIZE: (u32, u32) = (1000, 600);
/// Jepsen's colour for `:ok`, used for the first `:f`.
const OK_COLOR: RGBColor = RGBColor(0x81, 0xBF, 0xFC);
/// Successes of the second and third `:f`.
const OK_COLORS: [RGBColor; 3] = [OK_COLOR, RGBColor(0x2C, 0xA0, 0x2C), RGBColor(0x94, 0x67, 0xBD)];
const INFO_COLOR: RGBColor = RGBColor(0xFF, 0xA4, 0x00);
const FAIL_COLOR: RGBColor = RGBColor(0xFF, 0x1E, 0x90);
const LOST_COLOR: RGBColor = RGBColor(0xD6, 0x27, 0x28);
const PARTITION_COLOR: RGBColor = RGBColor(0x99, 0x99, 0x99);
const KILL_COLOR: RGBColor = RGBColor(0xD6, 0x27, 0x28);
const PAUSE_COLOR: RGBColor = RGBColor(0x94, 0x67, 0xBD);

/// One completed client operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyPoint {
    /// `:f`
    pub f: F,
    /// How it completed: ok, fail or info.
    pub completion: OpType,
    /// Invocation time, seconds since the run's origin.
    pub invoked_s: f64,
    /// Completion time, seconds since the run's origin.
    pub completed_s: f64,
    /// Completion time − invocation time, milliseconds.
    pub latency_ms: f64,
}

/// Every completed client operation, in invocation order.
pub fn latency_points(history: &History) -> Vec<LatencyPoint> {
    let pairs = history.pairs();
    history
        .ops
        .iter()
        .enumerate()
        .filter(|(_, op)| op.is_client() && op.op_type == OpType::Invoke)
        .filter_map(|(i, inv)| {
            let done = &history.ops[pairs[i]?];
            Some(LatencyPoint {
                f: inv.f,
                completion: done.op_type,
                invoked_s: inv.time as f64 / 1e9,
                completed_s: done.time as f64 / 1e9,
                latency_ms: done.time.saturating_sub(inv.time) as f64 / 1e6,
            })
        })
        .collect()
}

/// Every node name the nemesis mentions (grudges, kill/pause targets), sorted: enough to read the faults back for
/// shading without the run's configuration.
fn nemesis_nodes(history: &History) -> Vec<String> {
    fn collect(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::String(s) => {
                out.insert(s.clone());
            }
            Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                out.insert(k.clone());
                collect(v, out);
            }),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    for op in history.ops.iter().filter(|op| op.process == Process::Nemesis) {
        collect(&op.value, &mut names);
    }
    names.into_iter().collect()
}

/// Fault stretches `(kind, start s, end s)`: partitions, killed and paused nodes as the ideal checker reads them
/// ([`FaultSchedule::shading`]); a fault still in force when the history ends stops at its last entry.
pub fn fault_intervals(history: &History) -> Vec<(FaultKind, f64, f64)> {
    let schedule = FaultSchedule::from_history(history, &nemesis_nodes(history));
    let last = history.ops.last().map_or(0, |op| op.time);
    let secs = |t: u64| t as f64 / 1e9;
    schedule
        .shading()
        .into_iter()
        .map(|(kind, a, b)| (kind, secs(a), secs(if b == FOREVER { last.max(a) } else { b })))
        .collect()
}

/// Writes the plots into `dir` (which must exist) and returns the paths written. `messages.svg` needs the journal
/// (`net-journal.jsonl`) in `dir` and is skipped without it.
pub fn write_plots(dir: &Path, history: &History, results: &Results) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let faults = fault_intervals(history);
    let points = latency_points(history);
    let raw = dir.join("latency-raw.svg");
    latency::raw(&raw, &points, &faults)?;
    written.push(raw);
    let quantiles = dir.join("latency-quantiles.svg");
    latency::quantiles(&quantiles, &points, &faults)?;
    written.push(quantiles);
    let rate = dir.join("rate.svg");
    rate::rate(&rate, &points, &faults)?;
    written.push(rate);
    if !results.stable_latencies().is_empty() || !results.lost().is_empty() {
        let path = dir.join("stable-latency.svg");
        stable::stable_latency(&path, results)?;
        written.push(path);
    }
    let journal = dir.join("net-journal.jsonl");
    if journal.exists() {
        let path = dir.join("messages.svg");
        messages::write(&journal, &path)?;
        written.push(path);
    }
    Ok(written)
}

fn plot_err<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(format!("plot: {e}"))
}

/// A tick label: whole numbers without a decimal point, others with at most three decimals.
fn tick(v: &f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
}

/// The colour of an operation's point: successes by `:f` (its index among the run's `:f`s), the rest by type.
fn op_color(f_index: usize, t: OpType) -> RGBColor {
    match t {
        OpType::Fail => FAIL_COLOR,
        OpType::Info => INFO_COLOR,
        OpType::Ok | OpType::Invoke => OK_COLORS[f_index % OK_COLORS.len()],
    }
}

fn fault_color(kind: FaultKind) -> RGBColor {
    match kind {
        FaultKind::Partition => PARTITION_COLOR,
        FaultKind::Kill => KILL_COLOR,
        FaultKind::Pause => PAUSE_COLOR,
    }
}

/// The distinct `:f`s of the points, in `F`'s order.
fn fs(points: &[LatencyPoint]) -> Vec<F> {
    let set: BTreeSet<F> = points.iter().map(|p| p.f).collect();
    set.into_iter().collect()
}

/// A white drawing area of [`SIZE`].
fn canvas(path: &Path) -> io::Result<DrawingArea<SVGBackend<'_>, Shift>> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    Ok(root)
}

type Chart<'a, 'b, X, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, Y>>;

/// Shades fault stretches over the whole height of a time chart, one legend entry per kind.
fn shade_faults<'a, 'b: 'a, Y>(
    chart: &mut Chart<'a, 'b, RangedCoordf64, Y>,
    faults: &[(FaultKind, f64, f64)],
) -> io::Result<()>
where
    Y: Ranged,
    Y::ValueType: Clone + 'static,
{
    let (y_lo, y_hi) = {
        let r = chart.y_range();
        (r.start, r.end)
    };
    for kind in [FaultKind::Partition, FaultKind::Kill, FaultKind::Pause] {
        let spans: Vec<(f64, f64)> = faults.iter().filter(|f| f.0 == kind).map(|f| (f.1, f.2)).collect();
        if spans.is_empty() {
            continue;
        }
        let color = fault_color(kind);
        let fill = color.mix(0.15).filled();
        chart
            .draw_series(spans.into_iter().map(|(a, b)| Rectangle::new([(a, y_lo.clone()), (b, y_hi.clone())], fill)))
            .map_err(plot_err)?
            .label(kind.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.mix(0.35).filled()));
    }
    Ok(())
}

fn draw_legend<'a, 'b: 'a, X, Y>(chart: &mut Chart<'a, 'b, X, Y>) -> io::Result<()>
where
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(plot_err)
}

/// A time chart's frame: x = seconds `0..x_hi`, captioned, with integer-looking tick labels.
fn time_chart<'a, 'b, Y>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: &str,
    x_hi: f64,
    y: Y,
    y_desc: &str,
) -> io::Result<Chart<'a, 'b, RangedCoordf64, Y::CoordDescType>>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_hi, y)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("Time (s)")
        .y_desc(y_desc)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// The right end of a time axis: the last invocation or fault, with a little room, at least a second.
fn time_extent(points: &[LatencyPoint], faults: &[(FaultKind, f64, f64)]) -> f64 {
    let last = points.iter().map(|p| p.completed_s).chain(faults.iter().map(|f| f.2)).fold(1.0_f64, f64::max);
    last * 1.02
}

/// Marker shapes by `:f` index: circle, triangle, cross.
#[derive(Clone, Copy)]
enum Shape {
    Circle,
    Triangle,
    Cross,
}

impl Shape {
    fn of(f_index: usize) -> Shape {
        [Shape::Circle, Shape::Triangle, Shape::Cross][f_index % 3]
    }
}

/// Draws one series of markers (and optionally the line through them: solid, dashed or dotted by shape, so that
/// lines of different `:f`s stay apart where they overlap) with a legend entry.
fn markers<'a, 'b: 'a, Y>(
    chart: &mut Chart<'a, 'b, RangedCoordf64, Y>,
    points: &[(f64, Y::ValueType)],
    shape: Shape,
    color: RGBColor,
    line: bool,
    label: String,
) -> io::Result<()>
where
    Y: Ranged,
    Y::ValueType: Clone + 'static,
{
    let stroke = color.stroke_width(2);
    if line {
        let pts = points.iter().cloned();
        match shape {
            Shape::Circle => chart.draw_series(LineSeries::new(pts, stroke)),
            Shape::Triangle => chart.draw_series(DashedLineSeries::new(pts, 8, 5, stroke)),
            Shape::Cross => chart.draw_series(DashedLineSeries::new(pts, 2, 4, stroke)),
        }
        .map_err(plot_err)?;
    }
    let style = color.mix(if line { 1.0 } else { 0.8 }).filled();
    let (size, legend_size) = if line { (3, 5) } else { (2, 4) };
    let drawn = match shape {
        Shape::Circle => chart.draw_series(points.iter().map(|c| Circle::new(c.clone(), size, style))),
        Shape::Triangle => chart.draw_series(points.iter().map(|c| TriangleMarker::new(c.clone(), size + 1, style))),
        Shape::Cross => {
            chart.draw_series(points.iter().map(|c| Cross::new(c.clone(), size + 1, style.stroke_width(1))))
        }
    }
    .map_err(plot_err)?;
    // The legend's line: two segments around the marker, apart by the dash's gap.
    let gap = match (line, shape) {
        (false, _) => 16,
        (true, Shape::Circle) => 0,
        (true, Shape::Triangle) => 4,
        (true, Shape::Cross) => 8,
    };
    let fill = color.filled();
    let segments = move |(x, y): (i32, i32)| {
        EmptyElement::at((x, y))
            + PathElement::new(vec![(-8, 0), (-gap / 2, 0)], stroke)
            + PathElement::new(vec![(gap / 2, 0), (8, 0)], stroke)
    };
    match shape {
        Shape::Circle => drawn.label(label).legend(move |c| segments(c) + Circle::new((0, 0), legend_size, fill)),
        Shape::Triangle => {
            drawn.label(label).legend(move |c| segments(c) + TriangleMarker::new((0, 0), legend_size + 1, fill))
        }
        Shape::Cross => {
            drawn.label(label).legend(move |c| segments(c) + Cross::new((0, 0), legend_size, fill.stroke_width(2)))
        }
    };
    Ok(())
}

/// The window (s) that latency-quantiles and rate group operations by: Jepsen's are 30 s and 10 s, too long
/// for runs of tens of seconds, so the window is the smallest of 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300 s
/// that cuts the run into at most 40 windows.
pub fn window(run_s: f64) -> f64 {
    const STEPS: [f64; 11] = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
    STEPS.into_iter().find(|&w| run_s / w <= 40.0).unwrap_or(600.0)
}
