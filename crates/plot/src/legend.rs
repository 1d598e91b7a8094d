//! Legends and markers, drawn directly in pixels so every entry can have its own sample
//! (dashed stroke, line with marker, colour swatch).

use plotters::coord::{CoordTranslate, Shift};
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::error::Result;
use crate::frame::{LEGEND_PX, Px, style};

/// Length of a legend sample in pixels.
const SAMPLE_W: i32 = 40;
const PAD: i32 = 8;
const ROW_H: i32 = LEGEND_PX as i32 + 8;

/// A corner of the plotting area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Corner {
    UpperRight,
    UpperLeft,
    LowerRight,
    LowerLeft,
}

/// The corner whose outer 40 % × 40 % holds the fewest of `points` (plot-relative:
/// 0..1 left to right, bottom to top). Ties prefer upper right.
pub(crate) fn legend_corner(points: impl Iterator<Item = (f64, f64)>) -> Corner {
    let mut counts = [0usize; 4];
    for (x, y) in points {
        let (left, right, low, high) = (x < 0.4, x > 0.6, y < 0.4, y > 0.6);
        counts[0] += usize::from(right && high);
        counts[1] += usize::from(left && high);
        counts[2] += usize::from(right && low);
        counts[3] += usize::from(left && low);
    }
    let best = (0..4).min_by_key(|&i| counts[i]).unwrap_or(0);
    [
        Corner::UpperRight,
        Corner::UpperLeft,
        Corner::LowerRight,
        Corner::LowerLeft,
    ][best]
}

/// What a legend entry shows left of its label.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sample {
    /// A stroke with dash pattern (on, off) px, width px, over a dark halo.
    Stroke {
        colour: RGBColor,
        dash: (i32, i32),
        width: u32,
    },
    /// A 2 px line with the marker of `shape` in the middle.
    Line { colour: RGBColor, shape: usize },
    /// A filled box.
    Swatch(RGBColor),
    /// A grey box with diagonal hatching (hatched heatmap cells).
    Hatch,
}

/// Draws a legend box (white, 80 % opaque, black border) in `corner` of `area`.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, Sample)],
    corner: Corner,
) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let text = style(LEGEND_PX);
    let mut text_w = 0;
    for (label, _) in entries {
        text_w = text_w.max(area.estimate_text_size(label, &text)?.0 as i32);
    }
    let (w, h) = (
        PAD * 3 + SAMPLE_W + text_w,
        PAD * 2 + ROW_H * entries.len() as i32 - 6,
    );
    let (aw, ah) = area.dim_in_pixel();
    let x0 = match corner {
        Corner::UpperLeft | Corner::LowerLeft => 8,
        Corner::UpperRight | Corner::LowerRight => aw as i32 - w - 8,
    };
    let y0 = match corner {
        Corner::UpperLeft | Corner::UpperRight => 8,
        Corner::LowerLeft | Corner::LowerRight => ah as i32 - h - 8,
    };
    let frame = [(x0, y0), (x0 + w, y0 + h)];
    area.draw(&Rectangle::new(frame, WHITE.mix(0.8).filled()))?;
    area.draw(&Rectangle::new(frame, BLACK.stroke_width(1)))?;
    for (i, (label, sample)) in entries.iter().enumerate() {
        let top = y0 + PAD + ROW_H * i as i32;
        let mid = top + LEGEND_PX as i32 / 2 + 1;
        draw_sample(area, *sample, (x0 + PAD, mid))?;
        area.draw_text(label, &text, (x0 + 2 * PAD + SAMPLE_W, top))?;
    }
    Ok(())
}

fn draw_sample<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sample: Sample,
    (x, y): Px,
) -> Result<()> {
    let stretch = vec![(x, y), (x + SAMPLE_W, y)];
    match sample {
        Sample::Stroke {
            colour,
            dash: (on, off),
            width,
        } => {
            let halo = BLACK.mix(0.7).stroke_width(width + 3);
            area.draw(&DashedPathElement::new(stretch.clone(), on, off, halo))?;
            area.draw(&DashedPathElement::new(
                stretch,
                on,
                off,
                colour.stroke_width(width),
            ))?;
        }
        Sample::Line { colour, shape } => {
            area.draw(&PathElement::new(stretch, colour.stroke_width(2)))?;
            draw_marker(area, (x + SAMPLE_W / 2, y), shape, colour)?;
        }
        Sample::Swatch(colour) => {
            let rect = [(x, y - 7), (x + SAMPLE_W, y + 7)];
            area.draw(&Rectangle::new(rect, colour.filled()))?;
            area.draw(&Rectangle::new(rect, BLACK.mix(0.5).stroke_width(1)))?;
        }
        Sample::Hatch => {
            let (a, b) = ((x, y - 7), (x + SAMPLE_W, y + 7));
            area.draw(&Rectangle::new([a, b], RGBColor(150, 150, 150).filled()))?;
            for (from, to) in crate::heatmap::hatch_strokes(a, b) {
                area.draw(&PathElement::new(vec![from, to], BLACK.stroke_width(1)))?;
            }
            area.draw(&Rectangle::new([a, b], BLACK.mix(0.5).stroke_width(1)))?;
        }
    }
    Ok(())
}

/// Draws marker `shape` (cycling: filled circle, filled triangle, cross, ring) at `at`,
/// in whatever coordinates `area` uses.
pub(crate) fn draw_marker<DB, CT>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    shape: usize,
    colour: RGBColor,
) -> Result<()>
where
    DB: DrawingBackend,
    CT: CoordTranslate,
    CT::From: 'static,
{
    match shape % 4 {
        0 => area.draw(&Circle::new(at, 4, colour.filled()))?,
        1 => area.draw(&TriangleMarker::new(at, 6, colour.filled()))?,
        2 => area.draw(&Cross::new(at, 5, colour.stroke_width(2)))?,
        _ => area.draw(&Circle::new(at, 4, colour.stroke_width(2)))?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_goes_to_the_emptiest_corner() {
        let rising = (0..10).map(|i| (i as f64 / 9.0, i as f64 / 9.0));
        assert_eq!(legend_corner(rising), Corner::UpperLeft);
        assert_eq!(legend_corner(std::iter::empty()), Corner::UpperRight);
    }
}
