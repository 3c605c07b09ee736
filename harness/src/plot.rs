//! Plots of a run, as SVG files in the store directory (Maelstrom draws PNGs with gnuplot; spec §9.6):
//!
//! * `latency-raw.svg` — one point per completed client operation: x = invocation time (s), y = latency (ms,
//!   log scale), colour by completion type (`ok` blue, `info` orange, `fail` pink, Jepsen's colours), marker
//!   shape by `:f`; partition periods shaded grey.
//! * `stable-latency.svg` — the cumulative distribution of set-full stable latencies (only when the workload is
//!   broadcast or g-set and some element is stable).
//!
//! Text needs no font: without plotters' `ttf`/`ab_glyph` features its SVG backend writes `<text>` elements
//! naming a generic family (`sans-serif`) and lays labels out with a fixed per-character width estimate; the
//! viewer picks the actual font. Nothing here reads system fonts, so it works on a fresh machine.
//!
//! Plotting must never fail a run: every error comes back as an `io::Error` for the caller to log.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::checker::Results;
use crate::history::{F, History, OpType};

const SIZE: (u32, u32) = (1000, 600);
const OK_COLOR: RGBColor = RGBColor(0x81, 0xBF, 0xFC);
const INFO_COLOR: RGBColor = RGBColor(0xFF, 0xA4, 0x00);
const FAIL_COLOR: RGBColor = RGBColor(0xFF, 0x1E, 0x90);
const PARTITION_COLOR: RGBColor = RGBColor(0x99, 0x99, 0x99);
/// Latencies below this (ms) are drawn at it, so the log scale has a floor (1 µs).
const MIN_LATENCY_MS: f64 = 0.001;

/// One completed client operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyPoint {
    /// `:f`
    pub f: F,
    /// How it completed: ok, fail or info.
    pub completion: OpType,
    /// Invocation time, seconds since the run's origin.
    pub invoked_s: f64,
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
                latency_ms: done.time.saturating_sub(inv.time) as f64 / 1e6,
            })
        })
        .collect()
}

/// Partition periods `(start, end)` in seconds: from the last `start-partition` entry (its completion) before a
/// heal to the last `stop-partition` entry (its completion) of that heal; a partition still in force at the end
/// of the history ends at the history's last entry.
pub fn partition_intervals(history: &History) -> Vec<(f64, f64)> {
    let secs = |t: u64| t as f64 / 1e9;
    let mut out = Vec::new();
    let mut start: Option<u64> = None;
    let mut end: Option<(u64, u64)> = None; // (start, end) awaiting a possible later stop entry
    for op in history.ops.iter().filter(|op| !op.is_client()) {
        match op.f {
            F::StartPartition => {
                if let Some((s, e)) = end.take() {
                    out.push((secs(s), secs(e)));
                }
                start = Some(op.time);
            }
            F::StopPartition => {
                if let Some(s) = start.take() {
                    end = Some((s, op.time));
                } else if let Some((_, e)) = end.as_mut() {
                    *e = op.time;
                }
            }
            _ => {}
        }
    }
    if let Some((s, e)) = end {
        out.push((secs(s), secs(e)));
    }
    if let Some(s) = start {
        let last = history.ops.last().map_or(s, |op| op.time.max(s));
        out.push((secs(s), secs(last)));
    }
    out
}

/// Writes the plots into `dir` (which must exist) and returns the paths written.
pub fn write_plots(dir: &Path, history: &History, results: &Results) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let raw = dir.join("latency-raw.svg");
    latency_raw(&raw, history)?;
    written.push(raw);
    if !results.stable_latencies().is_empty() {
        let stable = dir.join("stable-latency.svg");
        stable_latency(&stable, results.stable_latencies())?;
        written.push(stable);
    }
    Ok(written)
}

fn plot_err<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(format!("plot: {e}"))
}

fn completion_color(t: OpType) -> RGBColor {
    match t {
        OpType::Fail => FAIL_COLOR,
        OpType::Info => INFO_COLOR,
        OpType::Ok | OpType::Invoke => OK_COLOR,
    }
}

fn latency_raw(path: &Path, history: &History) -> io::Result<()> {
    let points = latency_points(history);
    let partitions = partition_intervals(history);
    let y = |p: &LatencyPoint| p.latency_ms.max(MIN_LATENCY_MS);
    let (lo, hi) = points.iter().map(y).fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // A decade of headroom above the slowest op keeps the legend clear of the points.
    let (y_lo, y_hi) = if points.is_empty() { (0.1, 1000.0) } else { (lo / 2.0, hi * 10.0) };
    let x_hi = points.iter().map(|p| p.invoked_s).chain(partitions.iter().map(|p| p.1)).fold(1.0_f64, f64::max) * 1.02;

    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Raw latency ({} ops)", points.len()), ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_hi, (y_lo..y_hi).log_scale())
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("Time (s)")
        .y_desc("Latency (ms, log scale; 0 drawn at 0.001)")
        .y_label_formatter(&|v| format!("{v}"))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(plot_err)?;

    if !partitions.is_empty() {
        chart
            .draw_series(
                partitions
                    .iter()
                    .map(|&(s, e)| Rectangle::new([(s, y_lo), (e, y_hi)], PARTITION_COLOR.mix(0.2).filled())),
            )
            .map_err(plot_err)?
            .label("partition")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], PARTITION_COLOR.mix(0.4).filled()));
    }

    // One series per (f, completion type), in a fixed order; shape by f, colour by completion.
    let mut series: BTreeMap<(F, OpType), Vec<(f64, f64)>> = BTreeMap::new();
    for p in &points {
        series.entry((p.f, p.completion)).or_default().push((p.invoked_s, y(p)));
    }
    let shapes: Vec<F> = {
        let mut fs: Vec<F> = series.keys().map(|(f, _)| *f).collect();
        fs.dedup();
        fs
    };
    for ((f, t), pts) in &series {
        let style = completion_color(*t).mix(0.8).filled();
        let label = format!("{} {}", f.name(), t.name());
        let shape = shapes.iter().position(|s| s == f).unwrap_or(0) % 3;
        let drawn = match shape {
            0 => chart.draw_series(pts.iter().map(|&c| Circle::new(c, 2, style))),
            1 => chart.draw_series(pts.iter().map(|&c| TriangleMarker::new(c, 3, style))),
            _ => chart.draw_series(pts.iter().map(|&c| Cross::new(c, 3, style.stroke_width(1)))),
        }
        .map_err(plot_err)?;
        let legend_style = completion_color(*t).filled();
        match shape {
            0 => drawn.label(label).legend(move |c| Circle::new(c, 4, legend_style)),
            1 => drawn.label(label).legend(move |c| TriangleMarker::new(c, 5, legend_style)),
            _ => drawn.label(label).legend(move |c| Cross::new(c, 4, legend_style.stroke_width(2))),
        };
    }
    draw_legend(&mut chart)?;
    root.present().map_err(plot_err)
}

fn draw_legend<'a, X, Y>(chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>) -> io::Result<()>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
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

fn stable_latency(path: &Path, latencies: &[u64]) -> io::Result<()> {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let n = sorted.len() as f64;
    let max = sorted.last().copied().unwrap_or(0).max(1) as f64;
    // A step function: at each latency the fraction of elements stable within it jumps up.
    let mut steps = vec![(0.0, 0.0)];
    for (i, &v) in sorted.iter().enumerate() {
        let v = v as f64;
        steps.push((v, i as f64 / n));
        steps.push((v, (i + 1) as f64 / n));
    }
    steps.push((max * 1.05, 1.0));

    let root: DrawingArea<SVGBackend<'_>, Shift> = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Stable latency, cumulative ({} stable elements)", sorted.len()), ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..max * 1.05, 0.0..1.02)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("Stable latency (ms)")
        .y_desc("Fraction of elements")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(plot_err)?;
    chart
        .draw_series(LineSeries::new(steps, OK_COLOR.stroke_width(2)))
        .map_err(plot_err)?
        .label("stable elements")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], OK_COLOR.stroke_width(2)));
    draw_legend(&mut chart)?;
    root.present().map_err(plot_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{CheckConfig, check};
    use crate::history::{Op, Process};
    use crate::net::NetStats;
    use crate::workload::Workload;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use serde_json::{Value, json};

    fn push(h: &mut History, process: Process, op_type: OpType, f: F, value: Value, ms: u64) {
        let time = ms * 1_000_000;
        h.push(Op { index: 0, time, op_type, process, f, value, final_read: false, error: None });
    }

    /// A broadcast-like run: 10 s, a partition from 2 s to 5 s, some timeouts.
    fn sample_history() -> History {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut h = History::default();
        let mut seen = Vec::new();
        for i in 0..400u64 {
            let t = i * 25;
            if i == 80 || i == 200 {
                let f = if i == 80 { F::StartPartition } else { F::StopPartition };
                push(&mut h, Process::Nemesis, OpType::Info, f, Value::Null, t);
                push(&mut h, Process::Nemesis, OpType::Info, f, Value::Null, t + 1);
            }
            let p = i % 5;
            let lat = rng.random_range(0..40u64) + if (80..200).contains(&i) { 60 } else { 0 };
            if i % 2 == 0 {
                push(&mut h, Process::Client(p), OpType::Invoke, F::Broadcast, json!(i), t);
                let done = if i % 37 == 0 { OpType::Info } else { OpType::Ok };
                push(&mut h, Process::Client(p), done, F::Broadcast, json!(i), t + lat);
                seen.push((i, t + lat + rng.random_range(0..150u64)));
            } else {
                push(&mut h, Process::Client(p), OpType::Invoke, F::Read, Value::Null, t);
                let done = if i % 41 == 0 { OpType::Fail } else { OpType::Ok };
                let visible: Vec<u64> = seen.iter().filter(|(_, at)| *at <= t).map(|(e, _)| *e).collect();
                push(&mut h, Process::Client(p), done, F::Read, json!(visible), t + lat);
            }
        }
        h
    }

    #[test]
    fn latency_points_pair_invocations_with_completions() {
        let h = sample_history();
        let pts = latency_points(&h);
        assert_eq!(pts.len(), 400);
        assert_eq!(pts[0].f, F::Broadcast);
        assert!(pts.iter().any(|p| p.completion == OpType::Info));
        assert!(pts.iter().all(|p| p.latency_ms >= 0.0 && p.latency_ms < 100.0));
    }

    #[test]
    fn partition_intervals_run_from_start_completion_to_heal_completion() {
        let h = sample_history();
        assert_eq!(partition_intervals(&h), vec![(2.001, 5.001)]);
        let mut open = History::default();
        push(&mut open, Process::Nemesis, OpType::Info, F::StartPartition, Value::Null, 1000);
        push(&mut open, Process::Client(0), OpType::Invoke, F::Read, Value::Null, 3000);
        assert_eq!(partition_intervals(&open), vec![(1.0, 3.0)]);
    }

    #[test]
    fn plots_are_written_as_svg_with_text_labels() {
        let h = sample_history();
        let config = CheckConfig { workload: Workload::Broadcast, availability: None, cluster: None };
        let results = check(&config, &h, &NetStats::default(), &[]);
        let dir = std::env::temp_dir().join(format!("osmosis-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let written = write_plots(&dir, &h, &results).unwrap();
        if std::env::var_os("OSMOSIS_KEEP_PLOTS").is_some() {
            eprintln!("{}", crate::results::summary(&results));
            crate::results::write_results(&dir, &results).unwrap();
        }
        assert_eq!(written, vec![dir.join("latency-raw.svg"), dir.join("stable-latency.svg")]);
        let raw = std::fs::read_to_string(&written[0]).unwrap();
        assert!(raw.starts_with("<svg"));
        for label in ["Latency (ms, log scale", "Time (s)", "broadcast ok", "read fail", "partition"] {
            assert!(raw.contains(label), "missing {label}");
        }
        let stable = std::fs::read_to_string(&written[1]).unwrap();
        assert!(stable.contains("Stable latency (ms)"));
        if std::env::var_os("OSMOSIS_KEEP_PLOTS").is_none() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn plots_of_an_empty_history_still_render_and_skip_stable_latency() {
        let h = History::default();
        let config = CheckConfig { workload: Workload::Echo, availability: None, cluster: None };
        let results = check(&config, &h, &NetStats::default(), &[]);
        let dir = std::env::temp_dir().join(format!("osmosis-plot-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let written = write_plots(&dir, &h, &results).unwrap();
        assert_eq!(written, vec![dir.join("latency-raw.svg")]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(write_plots(&dir.join("missing/dir"), &h, &results).is_err());
    }
}
