//! Heatmaps: viridis cells centred on the grid values, a colourbar, overlaid boundary curves
//! with a legend.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::Heatmap;
use crate::axis::{Scale, Ticked, cell_edges, format_tick, grid_ticks};
use crate::error::{PlotError, Result};
use crate::frame::{AXIS_LABEL_PX, TICK_PX, frame, style};
use crate::legend::{Sample, draw_legend, legend_corner};

/// Colour of a missing (NaN) cell.
pub(crate) const MISSING: RGBColor = RGBColor(211, 211, 211);
/// Width of the colourbar strip at the right of each panel, in pixels.
const COLORBAR_W: u32 = 150;
const MARGIN: u32 = 12;
const X_LABEL_AREA: u32 = 58;
const Y_LABEL_AREA: u32 = 78;

/// Checks axes, the shape of `values` (`values[iy][ix]`) and the colour range.
pub(crate) fn validate(h: &Heatmap) -> Result<()> {
    h.x.validate(true)?;
    h.y.validate(true)?;
    if h.values.len() != h.y.values.len() {
        return Err(PlotError::RowCount {
            title: h.title.clone(),
            axis: h.y.label.clone(),
            rows: h.values.len(),
            expected: h.y.values.len(),
        });
    }
    for (row, r) in h.values.iter().enumerate() {
        if r.len() != h.x.values.len() {
            return Err(PlotError::RowLength {
                title: h.title.clone(),
                axis: h.x.label.clone(),
                row,
                len: r.len(),
                expected: h.x.values.len(),
            });
        }
    }
    if let Some(&(ix, iy)) = h
        .hatched
        .iter()
        .find(|&&(ix, iy)| ix >= h.x.values.len() || iy >= h.y.values.len())
    {
        return Err(PlotError::Panels(format!(
            "{}: hatched cell ({ix}, {iy}) is outside the {} × {} grid",
            h.title,
            h.x.values.len(),
            h.y.values.len()
        )));
    }
    if let Some((lo, hi)) = h.range
        && !(lo.is_finite() && hi.is_finite() && lo < hi)
    {
        return Err(PlotError::BadRange {
            title: h.title.clone(),
            lo,
            hi,
        });
    }
    Ok(())
}

/// The colour range: `h.range`, else the finite data's min and max (widened when they are
/// equal, (0, 1) when there is no finite value).
pub(crate) fn colour_range(h: &Heatmap) -> (f64, f64) {
    if let Some(r) = h.range {
        return r;
    }
    let finite = h.values.iter().flatten().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        let pad = if lo == 0.0 { 0.5 } else { lo.abs() * 0.05 };
        (lo - pad, hi + pad)
    } else {
        (lo, hi)
    }
}

/// Viridis colour of `v` within `[lo, hi]` (clamped); [`MISSING`] for NaN.
pub(crate) fn cell_colour(v: f64, lo: f64, hi: f64) -> RGBColor {
    if v.is_nan() {
        return MISSING;
    }
    ViridisRGB::get_color(((v - lo) / (hi - lo)).clamp(0.0, 1.0))
}

/// Draws one heatmap panel (title, plot, colourbar, caption) filling `area`.
pub(crate) fn draw_heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    h: &Heatmap,
) -> Result<()> {
    validate(h)?;
    let body = frame(area, &h.title, &h.caption)?;
    let (w, _) = body.dim_in_pixel();
    let (main, bar) = body.split_horizontally(w.saturating_sub(COLORBAR_W));
    let (lo, hi) = colour_range(h);
    draw_main(&main, h, lo, hi)?;
    draw_colorbar(&bar, &h.colorbar_label, lo, hi)
}

fn draw_main<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    h: &Heatmap,
    lo: f64,
    hi: f64,
) -> Result<()> {
    let (xs, ys) = (h.x.scale(), h.y.scale());
    let (xe, ye) = (cell_edges(&h.x.values, xs), cell_edges(&h.y.values, ys));
    let ticks = |values: &[f64], s: Scale| -> Vec<f64> {
        grid_ticks(values, s)
            .into_iter()
            .map(|v| s.fwd(v))
            .collect()
    };
    let (x0, x1) = (xe[0], xe[xe.len() - 1]);
    let (y0, y1) = (ye[0], ye[ye.len() - 1]);
    let mut chart = ChartBuilder::on(area)
        .margin_top(MARGIN)
        .margin_left(MARGIN)
        .margin_right(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(
            Ticked::new(x0, x1, ticks(&h.x.values, xs)),
            Ticked::new(y0, y1, ticks(&h.y.values, ys)),
        )?;
    let fx = |t: &f64| h.x.tick_label(*t);
    let fy = |t: &f64| h.y.tick_label(*t);
    chart
        .configure_mesh()
        .disable_mesh()
        .set_all_tick_mark_size(5)
        .x_desc(h.x.label.as_str())
        .y_desc(h.y.label.as_str())
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .label_style(style(TICK_PX))
        .axis_desc_style(style(AXIS_LABEL_PX))
        .draw()?;

    let (xe, ye) = (&xe, &ye);
    chart.draw_series(h.values.iter().enumerate().flat_map(|(iy, row)| {
        row.iter().enumerate().map(move |(ix, &v)| {
            let corners = [(xe[ix], ye[iy]), (xe[ix + 1], ye[iy + 1])];
            Rectangle::new(corners, cell_colour(v, lo, hi).filled())
        })
    }))?;

    draw_hatching(&chart, h, (xe, ye))?;
    let bounds = (x0, x1, y0, y1);
    let mut legend = Vec::new();
    if !h.hatched.is_empty() {
        legend.push((h.hatch_label.clone(), Sample::Hatch));
    }
    for (i, curve) in h.curves.iter().enumerate() {
        let st = CurveStyle::nth(i);
        let pts: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|&(x, y)| (xs.fwd(x), ys.fwd(y)))
            .collect();
        for line in clip_polyline(&pts, bounds) {
            if line.len() == 1 {
                let area = chart.plotting_area();
                area.draw(&Circle::new(line[0], st.width + 4, BLACK.mix(0.7).filled()))?;
                area.draw(&Circle::new(line[0], st.width + 2, st.colour.filled()))?;
                continue;
            }
            let (on, off) = st.dash;
            let halo = BLACK.mix(0.7).stroke_width(st.width + 3);
            chart.draw_series([DashedPathElement::new(line.clone(), on, off, halo)])?;
            let pen = st.colour.stroke_width(st.width);
            chart.draw_series([DashedPathElement::new(line, on, off, pen)])?;
        }
        let sample = Sample::Stroke {
            colour: st.colour,
            dash: st.dash,
            width: st.width,
        };
        legend.push((curve.label.clone(), sample));
    }
    if h.values.iter().flatten().any(|v| v.is_nan()) {
        legend.push(("no data".to_string(), Sample::Swatch(MISSING)));
    }
    let curve_points = h
        .curves
        .iter()
        .flat_map(|c| &c.points)
        .map(|&(x, y)| ((xs.fwd(x) - x0) / (x1 - x0), (ys.fwd(y) - y0) / (y1 - y0)));
    let corner = legend_corner(curve_points);
    draw_legend(&chart.plotting_area().strip_coord_spec(), &legend, corner)
}

/// Hatches the cells of `h.hatched`: three diagonal strokes per cell, dark over a light
/// halo so that they show on every colour of the map.
fn draw_hatching<DB: DrawingBackend>(
    chart: &ChartContext<'_, DB, Cartesian2d<Ticked, Ticked>>,
    h: &Heatmap,
    (xe, ye): (&[f64], &[f64]),
) -> Result<()> {
    let area = chart.plotting_area();
    for &(ix, iy) in &h.hatched {
        let (a, b) = (
            area.map_coordinate(&(xe[ix], ye[iy])),
            area.map_coordinate(&(xe[ix + 1], ye[iy + 1])),
        );
        let pixels = area.strip_coord_spec();
        for (from, to) in hatch_strokes(a, b) {
            pixels.draw(&PathElement::new(
                vec![from, to],
                WHITE.mix(0.6).stroke_width(3),
            ))?;
            pixels.draw(&PathElement::new(vec![from, to], BLACK.stroke_width(1)))?;
        }
    }
    Ok(())
}

/// Three parallel diagonal strokes (lower left to upper right) inside the pixel rectangle
/// with corners `a` and `b`, at a quarter, half and three quarters of its diagonal band.
pub(crate) fn hatch_strokes(a: (i32, i32), b: (i32, i32)) -> Vec<((i32, i32), (i32, i32))> {
    let (x0, x1) = (a.0.min(b.0), a.0.max(b.0));
    let (y0, y1) = (a.1.min(b.1), a.1.max(b.1));
    let (w, h) = (x1 - x0, y1 - y0);
    [1, 2, 3]
        .into_iter()
        .map(|k| {
            // The stroke (x − x0) + (y − y0) = t through the rectangle (pixel y grows
            // downwards), t = k/4 of w + h: from the left or bottom edge to the top or right.
            let t = (w + h) * k / 4;
            let start = if t <= h {
                (x0, y0 + t)
            } else {
                (x0 + t - h, y1)
            };
            let end = if t <= w {
                (x0 + t, y0)
            } else {
                (x1, y0 + t - w)
            };
            (start, end)
        })
        .collect()
}

fn draw_colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    label: &str,
    lo: f64,
    hi: f64,
) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(MARGIN)
        .margin_left(MARGIN)
        .margin_right(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .right_y_label_area_size(COLORBAR_W - 2 * MARGIN - 36)
        .build_cartesian_2d(0f64..1f64, lo..hi)?;
    const STEPS: usize = 256;
    let band = |k: usize| lo + (hi - lo) * k as f64 / STEPS as f64;
    chart.draw_series((0..STEPS).map(|k| {
        let colour = ViridisRGB::get_color((k as f64 + 0.5) / STEPS as f64);
        Rectangle::new([(0.0, band(k)), (1.0, band(k + 1))], colour.filled())
    }))?;
    chart.draw_series([Rectangle::new(
        [(0.0, lo), (1.0, hi)],
        BLACK.stroke_width(1),
    )])?;
    let fy = |v: &f64| format_tick(*v);
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .x_labels(0)
        .y_labels(8)
        .set_all_tick_mark_size(5)
        .y_desc(label)
        .y_label_formatter(&fy)
        .label_style(style(TICK_PX))
        .axis_desc_style(style(AXIS_LABEL_PX))
        .draw()?;
    Ok(())
}

/// Pen for the i-th overlaid curve: a colour that stands out on viridis, a dash pattern
/// (on, off in pixels), drawn over a dark halo.
#[derive(Debug, Clone, Copy)]
struct CurveStyle {
    colour: RGBColor,
    dash: (i32, i32),
    width: u32,
}

const CURVE_COLOURS: [RGBColor; 5] = [
    RGBColor(230, 25, 25),   // red
    RGBColor(255, 255, 255), // white
    RGBColor(255, 0, 255),   // magenta
    RGBColor(255, 150, 0),   // orange
    RGBColor(0, 230, 255),   // cyan
];
/// Solid, dashed, dotted, long-dashed.
const DASHES: [(i32, i32); 4] = [(100_000, 0), (14, 7), (4, 5), (26, 8)];

impl CurveStyle {
    fn nth(i: usize) -> Self {
        let colour = CURVE_COLOURS[i % CURVE_COLOURS.len()];
        // 5 colours × 4 dashes, coprime: the first 20 curves all differ.
        let dash = DASHES[i % DASHES.len()];
        CurveStyle {
            colour,
            dash,
            width: 3,
        }
    }
}

/// A point in chart coordinates.
type Pt = (f64, f64);

/// Splits a polyline at non-finite points and clips it to the rectangle
/// `(x0, x1, y0, y1)`; returns the visible pieces (a piece of one point is an isolated
/// visible point).
pub(crate) fn clip_polyline(points: &[Pt], bounds: (f64, f64, f64, f64)) -> Vec<Vec<Pt>> {
    let (x0, x1, y0, y1) = bounds;
    let finite = |p: &Pt| p.0.is_finite() && p.1.is_finite();
    let inside = |p: &Pt| finite(p) && (x0..=x1).contains(&p.0) && (y0..=y1).contains(&p.1);
    let mut pieces = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let isolated =
            (i == 0 || !finite(&points[i - 1])) && points.get(i + 1).is_none_or(|q| !finite(q));
        if isolated && inside(p) {
            pieces.push(vec![*p]);
        }
    }
    let mut current: Vec<Pt> = Vec::new();
    for w in points.windows(2) {
        let seg = if finite(&w[0]) && finite(&w[1]) {
            clip_segment(w[0], w[1], bounds)
        } else {
            None
        };
        let Some(seg) = seg else {
            pieces.extend((!current.is_empty()).then(|| std::mem::take(&mut current)));
            continue;
        };
        if seg.cut_start || current.is_empty() {
            pieces.extend((!current.is_empty()).then(|| std::mem::take(&mut current)));
            current.push(seg.start);
        }
        current.push(seg.end);
        if seg.cut_end {
            pieces.push(std::mem::take(&mut current));
        }
    }
    pieces.extend((!current.is_empty()).then_some(current));
    pieces
}

/// The visible part of a segment, and whether its start or end was cut off.
struct Clipped {
    start: Pt,
    end: Pt,
    cut_start: bool,
    cut_end: bool,
}

/// Liang–Barsky clipping of segment a→b to the rectangle `(x0, x1, y0, y1)`.
fn clip_segment(a: Pt, b: Pt, (x0, x1, y0, y1): (f64, f64, f64, f64)) -> Option<Clipped> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else if p < 0.0 {
            t0 = t0.max(q / p);
        } else {
            t1 = t1.min(q / p);
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    Some(Clipped {
        start: if t0 > 0.0 { at(t0) } else { a },
        end: if t1 < 1.0 { at(t1) } else { b },
        cut_start: t0 > 0.0,
        cut_end: t1 < 1.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: (f64, f64, f64, f64) = (0.0, 1.0, 0.0, 1.0);

    #[test]
    fn clipping_keeps_inside_cuts_crossings_and_breaks_at_nan() {
        let inside = [(0.1, 0.1), (0.5, 0.5), (0.9, 0.2)];
        assert_eq!(clip_polyline(&inside, UNIT), vec![inside.to_vec()]);

        let crossing = [(-1.0, 0.5), (0.5, 0.5), (2.0, 0.5)];
        assert_eq!(
            clip_polyline(&crossing, UNIT),
            vec![vec![(0.0, 0.5), (0.5, 0.5), (1.0, 0.5)]]
        );

        let out_and_back = [(0.5, 0.5), (0.5, 3.0), (0.2, 3.0), (0.2, 0.5)];
        let pieces = clip_polyline(&out_and_back, UNIT);
        assert_eq!(
            pieces,
            vec![vec![(0.5, 0.5), (0.5, 1.0)], vec![(0.2, 1.0), (0.2, 0.5)]]
        );

        let broken = [
            (0.1, 0.1),
            (0.2, 0.2),
            (f64::NAN, 0.5),
            (0.3, 0.3),
            (0.4, 0.4),
        ];
        assert_eq!(clip_polyline(&broken, UNIT).len(), 2);

        let far = [(5.0, 5.0), (6.0, 7.0), (f64::INFINITY, 1.0)];
        assert!(clip_polyline(&far, UNIT).is_empty());

        let lonely = [(f64::NAN, 0.0), (0.5, 0.5), (f64::NAN, 0.0)];
        assert_eq!(clip_polyline(&lonely, UNIT), vec![vec![(0.5, 0.5)]]);
    }

    #[test]
    fn hatch_strokes_stay_inside_their_cell() {
        for (a, b) in [((10, 50), (40, 20)), ((0, 0), (100, 8)), ((5, 5), (6, 90))] {
            let strokes = hatch_strokes(a, b);
            assert_eq!(strokes.len(), 3);
            let (x0, x1) = (a.0.min(b.0), a.0.max(b.0));
            let (y0, y1) = (a.1.min(b.1), a.1.max(b.1));
            for (p, q) in strokes {
                for (x, y) in [p, q] {
                    assert!(
                        (x0..=x1).contains(&x) && (y0..=y1).contains(&y),
                        "{p:?}–{q:?} outside {a:?}, {b:?}"
                    );
                }
                assert_eq!(q.0 - p.0, p.1 - q.1, "a 45° stroke: {p:?}–{q:?}");
            }
        }
    }

    #[test]
    fn colours_clamp_and_mark_missing() {
        assert_eq!(cell_colour(f64::NAN, 0.0, 1.0), MISSING);
        assert_eq!(cell_colour(-5.0, 0.0, 1.0), cell_colour(0.0, 0.0, 1.0));
        assert_eq!(cell_colour(9.0, 0.0, 1.0), RGBColor(254, 232, 37));
    }

    #[test]
    fn curve_styles_are_distinct() {
        let styles: Vec<_> = (0..20)
            .map(|i| {
                let s = CurveStyle::nth(i);
                (s.colour, s.dash)
            })
            .collect();
        for i in 0..styles.len() {
            for j in 0..i {
                assert_ne!(styles[i], styles[j], "curves {i} and {j}");
            }
        }
    }
}
