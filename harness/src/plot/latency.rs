//! `latency-raw.svg` and `latency-quantiles.svg`.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use plotters::prelude::*;

use super::{
    LatencyPoint, Shape, canvas, draw_legend, fs, markers, op_color, plot_err, shade_faults, time_chart, time_extent,
    window,
};
use crate::checker::set_full::quantiles as quantiles_of;
use crate::history::{F, OpType};
use crate::nemesis::FaultKind;

/// Latencies below this (ms) are drawn at it, so the log scale has a floor (1 µs).
const MIN_LATENCY_MS: f64 = 0.001;

/// The quantiles of `latency-quantiles.svg` and their colours (Jepsen's: 1 red, 0.99 orange, 0.95 purple, 0.5
/// blue).
const QUANTILES: [(f64, RGBColor); 4] = [
    (0.5, RGBColor(0x1F, 0x77, 0xB4)),
    (0.95, RGBColor(0x94, 0x67, 0xBD)),
    (0.99, RGBColor(0xFF, 0x7F, 0x0E)),
    (1.0, RGBColor(0xD6, 0x27, 0x28)),
];

fn y(latency_ms: f64) -> f64 {
    latency_ms.max(MIN_LATENCY_MS)
}

/// A log-scale latency range covering `values`, with a decade of headroom above for the legend.
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi == 0.0 { (0.1, 1000.0) } else { (lo / 2.0, hi * 10.0) }
}

/// One point per completed client operation: shape by `:f`, successes coloured by `:f`, the rest by type.
pub(super) fn raw(path: &Path, points: &[LatencyPoint], faults: &[(FaultKind, f64, f64)]) -> io::Result<()> {
    let (y_lo, y_hi) = y_range(points.iter().map(|p| y(p.latency_ms)));
    let root = canvas(path)?;
    let caption = format!("Raw latency ({} ops)", points.len());
    let y_desc = "Latency (ms, log scale; 0 drawn at 0.001)";
    let mut chart = time_chart(&root, &caption, time_extent(points, faults), (y_lo..y_hi).log_scale(), y_desc)?;
    shade_faults(&mut chart, faults)?;
    let fs = fs(points);
    let mut series: BTreeMap<(F, OpType), Vec<(f64, f64)>> = BTreeMap::new();
    for p in points {
        series.entry((p.f, p.completion)).or_default().push((p.invoked_s, y(p.latency_ms)));
    }
    for ((f, t), pts) in &series {
        let i = fs.iter().position(|x| x == f).unwrap_or(0);
        markers(&mut chart, pts, Shape::of(i), op_color(i, *t), false, format!("{} {}", f.name(), t.name()))?;
    }
    draw_legend(&mut chart)?;
    root.present().map_err(plot_err)
}

/// One window's latency quantiles (ms) at [`QUANTILES`]' points, at the window's midpoint (s).
pub(super) type QuantilePoint = (f64, [f64; 4]);

/// For each `:f`, its latency quantiles per window of invocation time.
pub(super) fn quantile_series(points: &[LatencyPoint], w: f64) -> Vec<(F, Vec<QuantilePoint>)> {
    let mut by_f: BTreeMap<F, BTreeMap<u64, Vec<u64>>> = BTreeMap::new();
    for p in points {
        let bucket = (p.invoked_s / w).floor() as u64;
        // Latencies in ns as integers, so that Jepsen's quantile rule (sort, take floor(n·q)) applies exactly.
        by_f.entry(p.f).or_default().entry(bucket).or_default().push((p.latency_ms * 1e6).round() as u64);
    }
    by_f.into_iter()
        .map(|(f, buckets)| {
            let series = buckets
                .into_iter()
                .filter_map(|(b, lat)| {
                    let q = quantiles_of(&lat, &QUANTILES.map(|(q, _)| q))?;
                    Some(((b as f64 + 0.5) * w, [0, 1, 2, 3].map(|i| q[i].1 as f64 / 1e6)))
                })
                .collect();
            (f, series)
        })
        .collect()
}

/// Jepsen's latency-quantiles view: per `:f` and quantile, one line over the windows.
pub(super) fn quantiles(path: &Path, points: &[LatencyPoint], faults: &[(FaultKind, f64, f64)]) -> io::Result<()> {
    let x_hi = time_extent(points, faults);
    let w = window(x_hi);
    let series = quantile_series(points, w);
    let (y_lo, y_hi) = y_range(series.iter().flat_map(|(_, s)| s.iter().flat_map(|(_, q)| q.map(y))));
    let root = canvas(path)?;
    let caption = format!("Latency quantiles ({} s windows)", super::tick(&w));
    let y_desc = "Latency (ms, log scale; 0 drawn at 0.001)";
    let mut chart = time_chart(&root, &caption, x_hi, (y_lo..y_hi).log_scale(), y_desc)?;
    shade_faults(&mut chart, faults)?;
    for (i, (f, s)) in series.iter().enumerate() {
        // Lowest quantile first, so that the maximum is drawn on top where they coincide.
        for (k, (q, color)) in QUANTILES.iter().enumerate() {
            let pts: Vec<(f64, f64)> = s.iter().map(|(t, qs)| (*t, y(qs[k]))).collect();
            markers(&mut chart, &pts, Shape::of(i), *color, true, format!("{} {}", f.name(), super::tick(q)))?;
        }
    }
    draw_legend(&mut chart)?;
    root.present().map_err(plot_err)
}
