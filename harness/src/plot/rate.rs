//! `rate.svg`: completions per second, per `:f` and completion type, over windows of completion time.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use super::{
    LatencyPoint, Shape, canvas, draw_legend, fs, markers, op_color, plot_err, shade_faults, time_chart, time_extent,
    window,
};
use crate::history::{F, OpType};
use crate::nemesis::FaultKind;

/// A rate series: an `:f` and a completion type.
pub(super) type Series = (F, OpType);

/// For each `(f, completion type)` that occurs: its rate (ops/s) in every window `0..⌈x_hi / w⌉`, at the window's
/// midpoint, zeros included (Jepsen's rate graph draws them).
pub(super) fn rate_series(points: &[LatencyPoint], w: f64, x_hi: f64) -> Vec<(Series, Vec<(f64, f64)>)> {
    let windows = (x_hi / w).ceil().max(1.0) as usize;
    let mut counts: BTreeMap<(F, OpType), Vec<u64>> = BTreeMap::new();
    for p in points {
        let b = ((p.completed_s / w).floor() as usize).min(windows - 1);
        counts.entry((p.f, p.completion)).or_insert_with(|| vec![0; windows])[b] += 1;
    }
    counts
        .into_iter()
        .map(|(key, c)| (key, c.into_iter().enumerate().map(|(b, n)| ((b as f64 + 0.5) * w, n as f64 / w)).collect()))
        .collect()
}

pub(super) fn rate(path: &Path, points: &[LatencyPoint], faults: &[(FaultKind, f64, f64)]) -> io::Result<()> {
    let x_hi = time_extent(points, faults);
    let w = window(x_hi);
    let series = rate_series(points, w, x_hi);
    let top = series.iter().flat_map(|(_, s)| s.iter().map(|p| p.1)).fold(1.0_f64, f64::max);
    let root = canvas(path)?;
    let caption = format!("Rate ({} s windows)", super::tick(&w));
    // Headroom above the highest rate keeps the legend clear of the lines.
    let mut chart = time_chart(&root, &caption, x_hi, 0.0..top * 1.6, "Throughput (ops/s)")?;
    shade_faults(&mut chart, faults)?;
    let fs = fs(points);
    for ((f, t), pts) in &series {
        let i = fs.iter().position(|x| x == f).unwrap_or(0);
        markers(&mut chart, pts, Shape::of(i), op_color(i, *t), true, format!("{} {}", f.name(), t.name()))?;
    }
    draw_legend(&mut chart)?;
    root.present().map_err(plot_err)
}
