//! Line plots: one line per series with markers and a shaded ±sd band, optional log axes.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::LinePlot;
use crate::axis::{Scale, Ticked, format_tick, grid_ticks, nice_ticks, power_ticks};
use crate::error::{PlotError, Result};
use crate::frame::{AXIS_LABEL_PX, TICK_PX, frame, style};
use crate::legend::{Sample, draw_legend, draw_marker, legend_corner};

const MARGIN: u32 = 12;
const X_LABEL_AREA: u32 = 58;
const Y_LABEL_AREA: u32 = 78;

/// Tableau-10: distinct, colour-blind-friendlier line colours.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Checks the x axis (may be empty) and that every series' vectors have equal lengths.
pub(crate) fn validate(p: &LinePlot) -> Result<()> {
    p.x.validate(false)?;
    if p.series.is_empty() {
        return Err(PlotError::NoSeries {
            title: p.title.clone(),
        });
    }
    for s in &p.series {
        let n = s.x.len();
        if s.mean.len() != n || !(s.sd.is_empty() || s.sd.len() == n) {
            return Err(PlotError::SeriesLength {
                label: s.label.clone(),
                x: n,
                mean: s.mean.len(),
                sd: s.sd.len(),
            });
        }
    }
    Ok(())
}

/// One visible point of a series in chart coordinates: x, mean, mean + sd, mean − sd
/// (NaN where the scale cannot show it, e.g. ≤ 0 on a log axis).
type Pt = (f64, f64, f64, f64);

/// Splits a series into runs of consecutive visible points (NaN means break the line).
fn runs(s: &crate::Series, xs: Scale, ys: Scale) -> Vec<Vec<Pt>> {
    let mut out: Vec<Vec<Pt>> = vec![vec![]];
    for i in 0..s.x.len() {
        let (x, m) = (xs.fwd(s.x[i]), ys.fwd(s.mean[i]));
        if x.is_finite() && m.is_finite() {
            let sd =
                s.sd.get(i)
                    .copied()
                    .filter(|v| v.is_finite())
                    .unwrap_or(0.0)
                    .abs();
            let (hi, lo) = (ys.fwd(s.mean[i] + sd), ys.fwd(s.mean[i] - sd));
            out.last_mut().expect("never empty").push((x, m, hi, lo));
        } else if !out.last().expect("never empty").is_empty() {
            out.push(vec![]);
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

/// min and max of the finite values, padded by `frac` of the span (±0.5 when the span is 0,
/// (0, 1) when there is nothing).
fn padded_range(values: impl Iterator<Item = f64>, frac: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo > hi {
        (0.0, 1.0)
    } else if hi - lo < 1e-12 * (1.0 + lo.abs()) {
        (lo - 0.5, hi + 0.5)
    } else {
        let pad = (hi - lo) * frac;
        (lo - pad, hi + pad)
    }
}

/// Draws one line-plot panel (title, plot, legend, caption) filling `area`.
pub(crate) fn draw_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &LinePlot,
) -> Result<()> {
    validate(p)?;
    let body = frame(area, &p.title, &p.caption)?;
    let xs = p.x.scale();
    let ys = if p.log_y { Scale::Log10 } else { Scale::Linear };
    let all: Vec<Vec<Vec<Pt>>> = p.series.iter().map(|s| runs(s, xs, ys)).collect();
    let pts = || all.iter().flatten().flatten();

    let axis_x = p.x.values.iter().map(|&v| xs.fwd(v));
    let (x0, x1) = padded_range(pts().map(|q| q.0).chain(axis_x), 0.03);
    let (y0, y1) = padded_range(pts().flat_map(|q| [q.1, q.2, q.3]), 0.05);

    let (dx0, dx1) = (xs.inv(x0), xs.inv(x1));
    let x_ticks = if !p.x.values.is_empty() {
        grid_ticks(&p.x.values, xs)
    } else if xs == Scale::Log2 {
        power_ticks(dx0, dx1, xs)
    } else {
        nice_ticks(dx0, dx1, 10)
    };
    let y_ticks = match ys {
        Scale::Log10 => power_ticks(ys.inv(y0), ys.inv(y1), ys),
        _ => nice_ticks(y0, y1, 8),
    };
    let within = |t: &f64, a: f64, b: f64| (a - 1e-9..=b + 1e-9).contains(t);
    let x_keys: Vec<f64> = x_ticks
        .iter()
        .map(|&v| xs.fwd(v))
        .filter(|t| within(t, x0, x1))
        .collect();
    let y_keys: Vec<f64> = y_ticks
        .iter()
        .map(|&v| ys.fwd(v))
        .filter(|t| within(t, y0, y1))
        .collect();

    let mut chart = ChartBuilder::on(&body)
        .margin_top(MARGIN)
        .margin_left(MARGIN)
        .margin_right(MARGIN * 2)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(Ticked::new(x0, x1, x_keys), Ticked::new(y0, y1, y_keys))?;
    let fx = |t: &f64| p.x.tick_label(*t);
    let fy = |t: &f64| format_tick(ys.inv(*t));
    chart
        .configure_mesh()
        .bold_line_style(BLACK.mix(0.12))
        .x_desc(p.x.label.as_str())
        .y_desc(p.y_label.as_str())
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .label_style(style(TICK_PX))
        .axis_desc_style(style(AXIS_LABEL_PX))
        .draw()?;

    // Bands first, so no band hides another series' line.
    for (i, series_runs) in all.iter().enumerate() {
        let band = PALETTE[i % PALETTE.len()].mix(0.2).filled();
        for run in series_runs.iter().filter(|_| !p.series[i].sd.is_empty()) {
            let upper = run.iter().map(|q| (q.0, q.2));
            let lower = run
                .iter()
                .rev()
                .map(|q| (q.0, if q.3.is_finite() { q.3 } else { y0 }));
            chart.draw_series([Polygon::new(upper.chain(lower).collect::<Vec<_>>(), band)])?;
        }
    }
    let mut legend = Vec::new();
    for (i, (series, series_runs)) in p.series.iter().zip(&all).enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        for run in series_runs {
            let line: Vec<(f64, f64)> = run.iter().map(|q| (q.0, q.1)).collect();
            chart.draw_series([PathElement::new(line.clone(), colour.stroke_width(2))])?;
            for at in line {
                draw_marker(chart.plotting_area(), at, i, colour)?;
            }
        }
        legend.push((series.label.clone(), Sample::Line { colour, shape: i }));
    }
    let normalised = pts().map(|q| ((q.0 - x0) / (x1 - x0), (q.1 - y0) / (y1 - y0)));
    let area = chart.plotting_area().strip_coord_spec();
    draw_legend(&area, &legend, legend_corner(normalised))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Series;

    #[test]
    fn runs_break_at_nan_and_at_non_positive_log_values() {
        let s = Series {
            label: "s".into(),
            x: vec![1.0, 2.0, 3.0, 4.0, 5.0],
            mean: vec![1.0, f64::NAN, 3.0, -1.0, 5.0],
            sd: vec![0.5; 5],
        };
        assert_eq!(runs(&s, Scale::Linear, Scale::Linear).len(), 2);
        let r = runs(&s, Scale::Linear, Scale::Log10);
        assert_eq!(r.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 1]);
        assert!((r[0][0].2 - 1.5f64.log10()).abs() < 1e-12);
    }

    #[test]
    fn ranges_pad_and_handle_degenerate_input() {
        assert_eq!(padded_range([0.0, 10.0].into_iter(), 0.1), (-1.0, 11.0));
        assert_eq!(padded_range([2.0, 2.0].into_iter(), 0.1), (1.5, 2.5));
        assert_eq!(padded_range([f64::NAN].into_iter(), 0.1), (0.0, 1.0));
    }
}
