//! `stable-latency.svg`: the cumulative distribution of set-full's stable latencies, lost elements included as
//! the share the curve never reaches, with the ideal stable latency beside it.

use std::io;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{LOST_COLOR, OK_COLOR, canvas, plot_err};
use crate::checker::Results;

const IDEAL_COLOR: RGBColor = RGBColor(0x55, 0x55, 0x55);

/// The step function of a cumulative distribution over `total` elements of which `latencies` are stable:
/// `(ms, fraction of all elements stable within ms)`, starting at `(0, 0)`. It ends at `latencies / total`.
pub(super) fn cdf_steps(latencies: &[u64], total: usize) -> Vec<(u64, f64)> {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let n = total.max(1) as f64;
    let mut steps = vec![(0, 0.0)];
    for (i, &v) in sorted.iter().enumerate() {
        steps.push((v, i as f64 / n));
        steps.push((v, (i + 1) as f64 / n));
    }
    steps
}

pub(super) fn stable_latency(path: &Path, results: &Results) -> io::Result<()> {
    let stable = results.stable_latencies();
    let lost = results.lost().len();
    let total = stable.len() + lost;
    let ideal = results.ideal().filter(|i| !i.stable_latencies.is_empty());
    let ideal_latencies = ideal.map(|i| &i.stable_latencies[..]).unwrap_or_default();
    let max = stable.iter().chain(ideal_latencies).copied().max().unwrap_or(0).max(1);
    let x_hi = max + max / 20 + 1;

    let root = canvas(path)?;
    let caption = format!("Stable latency, cumulative ({} stable, {lost} lost of {total} elements)", stable.len());
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0..x_hi, 0.0..1.02)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("Stable latency (ms)")
        .y_desc("Fraction of stable and lost elements")
        .y_label_formatter(&|v| format!("{:.0} %", v * 100.0))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(plot_err)?;
    let mut steps = cdf_steps(stable, total);
    let reached = steps.last().map_or(0.0, |s| s.1);
    steps.push((x_hi, reached));
    chart
        .draw_series(LineSeries::new(steps, OK_COLOR.stroke_width(2)))
        .map_err(plot_err)?
        .label(format!("stable elements ({})", stable.len()))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], OK_COLOR.stroke_width(2)));
    if lost > 0 {
        // The lost elements never become stable: the band from where the curve ends up to 100 %, across the
        // whole axis, with its count written under it.
        let band = Rectangle::new([(0, reached), (x_hi, 1.0)], LOST_COLOR.mix(0.3).filled());
        chart
            .draw_series(std::iter::once(band))
            .map_err(plot_err)?
            .label(format!("lost elements ({lost}): never stable"))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], LOST_COLOR.mix(0.5).filled()));
        let note = format!("{lost} lost ({:.1} %)", 100.0 * lost as f64 / total as f64);
        let style = TextStyle::from(("sans-serif", 14)).color(&LOST_COLOR).pos(Pos::new(HPos::Right, VPos::Top));
        chart.draw_series(std::iter::once(Text::new(note, (x_hi, reached - 0.01), style))).map_err(plot_err)?;
    }
    if let Some(ideal) = ideal {
        // Over the ideal replay's own stable and lost elements.
        let mut steps = cdf_steps(&ideal.stable_latencies, ideal.stable_latencies.len() + ideal.lost.len());
        let reached = steps.last().map_or(0.0, |s| s.1);
        steps.push((x_hi, reached));
        chart
            .draw_series(DashedLineSeries::new(steps, 6, 4, IDEAL_COLOR.stroke_width(2)))
            .map_err(plot_err)?
            .label("ideal (osmosis extension)")
            .legend(|(x, y)| {
                let s = IDEAL_COLOR.stroke_width(2);
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (6, 0)], s)
                    + PathElement::new(vec![(10, 0), (15, 0)], s)
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)
}
