//! `frontier-plot`: PNG figures from plain data — heatmaps with a viridis colour map, a
//! colourbar and overlaid boundary curves, and line plots with ±sd bands.
//!
//! The crate knows nothing of models: callers pass grid values, axis values and curves.
//! Text uses an embedded DejaVu Sans, so rendering needs no system fonts.
//!
//! ```no_run
//! use frontier_plot::{Axis, Curve, Heatmap, heatmap_png};
//! let b = Axis::new("batch size B", vec![1.0, 2.0, 4.0, 8.0]).with_log2();
//! let sigma = Axis::new("coherence σ", vec![1.0, 2.0, 3.0]);
//! let values = vec![vec![0.0, 0.5, 1.0, 1.0]; 3]; // values[iy][ix]: 3 rows of σ × 4 B
//! let mut h = Heatmap::new("fraction diverged", b, sigma, values, "fraction diverged");
//! h.curves.push(Curve::new("ρ(T) = 1", vec![(1.0, 2.5), (8.0, 1.5)]));
//! let png: Vec<u8> = heatmap_png(&h)?; // the caller writes it where it wants
//! # Ok::<(), frontier_plot::PlotError>(())
//! ```
//!
//! Every function returns the PNG's bytes: the crate never writes files, so the caller
//! decides where and how (`frontier` writes them atomically, never leaving a truncated PNG
//! under the final name).

mod axis;
mod error;
mod font;
mod frame;
mod heatmap;
mod legend;
mod lines;

use image::ImageEncoder;
use plotters::coord::Shift;
use plotters::prelude::*;

pub use error::{PlotError, Result};
pub use frame::PANEL_SIZE;

/// One axis of a plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Axis title, including units, e.g. "learning rate η (1/step)".
    pub label: String,
    /// Grid values along the axis (data units), finite and strictly ascending; positive when
    /// `log2`. Heatmap cells are centred on them and ticks sit on them.
    pub values: Vec<f64>,
    /// Use a log₂ scale (e.g. for batch size).
    pub log2: bool,
    /// Names shown at the grid values instead of numbers (a categorical axis, e.g. the loss
    /// at positions 0, 1); empty for numbers, else one per value.
    pub names: Vec<String>,
}

/// A curve overlaid on a heatmap, e.g. a predicted stability boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Legend entry.
    pub label: String,
    /// Points (x, y) in data coordinates; a point with a NaN coordinate breaks the line.
    /// Parts outside the plotted range are clipped.
    pub points: Vec<(f64, f64)>,
}

/// A heatmap over a grid of x × y values.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// Title line(s) on top (wrapped when long).
    pub title: String,
    /// Text under the plot, e.g. agreement scores; "; "-separated parts wrap when long.
    pub caption: String,
    /// Horizontal axis: `x.values.len()` columns.
    pub x: Axis,
    /// Vertical axis: `y.values.len()` rows.
    pub y: Axis,
    /// Cell values, `values[iy][ix]`, shape `[y.values.len()][x.values.len()]`;
    /// NaN = missing, drawn light grey.
    pub values: Vec<Vec<f64>>,
    /// Colourbar title, including units.
    pub colorbar_label: String,
    /// Colour range (lo, hi) with lo < hi; values outside are clamped. `None` = data
    /// min/max, ignoring NaN.
    pub range: Option<(f64, f64)>,
    /// Curves overlaid in contrasting colours and dash patterns, named in a legend.
    pub curves: Vec<Curve>,
    /// Cells drawn hatched (diagonal lines over their colour), as (ix, iy); empty for none.
    pub hatched: Vec<(usize, usize)>,
    /// Legend entry of the hatching (e.g. "γ_∞ undetermined"); used when `hatched` is not
    /// empty.
    pub hatch_label: String,
}

/// One line of a [`LinePlot`]: mean ± sd at each x.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub label: String,
    /// x positions (data units).
    pub x: Vec<f64>,
    /// Mean at each x; same length as `x`. NaN breaks the line.
    pub mean: Vec<f64>,
    /// Standard deviation at each x for the shaded band; same length as `x`, or empty for
    /// no band.
    pub sd: Vec<f64>,
}

/// A line plot with one line and ±sd band per series.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    /// Title line(s) on top.
    pub title: String,
    /// Text under the plot.
    pub caption: String,
    /// x axis: its label, `log2` for a log₂ x scale, and `values` (may be empty) as tick
    /// positions.
    pub x: Axis,
    /// y axis title, including units.
    pub y_label: String,
    /// Use a log₁₀ y scale (values ≤ 0 are not drawn).
    pub log_y: bool,
    /// The lines, at least one.
    pub series: Vec<Series>,
}

impl Axis {
    /// A linear axis.
    pub fn new(label: impl Into<String>, values: Vec<f64>) -> Self {
        Axis {
            label: label.into(),
            values,
            log2: false,
            names: Vec::new(),
        }
    }

    /// The same axis on a log₂ scale.
    pub fn with_log2(mut self) -> Self {
        self.log2 = true;
        self
    }

    /// A categorical axis: `names` at positions 0, 1, 2, …
    pub fn categorical(label: impl Into<String>, names: Vec<String>) -> Self {
        Axis {
            values: (0..names.len()).map(|i| i as f64).collect(),
            names,
            ..Axis::new(label, Vec::new())
        }
    }
}

impl Curve {
    /// A curve from (x, y) points in data coordinates.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Curve {
            label: label.into(),
            points,
        }
    }
}

impl Heatmap {
    /// A heatmap with no caption, automatic colour range and no curves;
    /// `values[iy][ix]` as for the field.
    pub fn new(
        title: impl Into<String>,
        x: Axis,
        y: Axis,
        values: Vec<Vec<f64>>,
        colorbar_label: impl Into<String>,
    ) -> Self {
        Heatmap {
            title: title.into(),
            caption: String::new(),
            x,
            y,
            values,
            colorbar_label: colorbar_label.into(),
            range: None,
            curves: Vec::new(),
            hatched: Vec::new(),
            hatch_label: String::new(),
        }
    }
}

impl Series {
    /// A series; `sd` may be empty for no band.
    pub fn new(label: impl Into<String>, x: Vec<f64>, mean: Vec<f64>, sd: Vec<f64>) -> Self {
        Series {
            label: label.into(),
            x,
            mean,
            sd,
        }
    }
}

/// `h` as a [`PANEL_SIZE`] PNG. Bad input (shape, axes, range) is reported before anything
/// is drawn.
pub fn heatmap_png(h: &Heatmap) -> Result<Vec<u8>> {
    heatmap::validate(h)?;
    render(PANEL_SIZE, |area| heatmap::draw_heatmap(area, h))
}

/// `p` as a [`PANEL_SIZE`] PNG.
pub fn lines_png(p: &LinePlot) -> Result<Vec<u8>> {
    lines::validate(p)?;
    render(PANEL_SIZE, |area| lines::draw_lines(area, p))
}

/// Several heatmaps in one PNG, `columns` per row (row-major), each a full panel of
/// [`PANEL_SIZE`] with its own title, colourbar, legend and caption.
pub fn panels_png(panels: &[Heatmap], columns: usize) -> Result<Vec<u8>> {
    panels.iter().try_for_each(heatmap::validate)?;
    grid_of_panels(panels, columns)
}

/// Several line plots in one PNG, `columns` per row (row-major), each a full panel of
/// [`PANEL_SIZE`].
pub fn line_panels_png(plots: &[LinePlot], columns: usize) -> Result<Vec<u8>> {
    plots.iter().try_for_each(lines::validate)?;
    grid_of_panels(plots, columns)
}

/// One panel of a figure that mixes heatmaps and line plots ([`plots_png`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Plot {
    /// A heatmap panel.
    Heatmap(Heatmap),
    /// A line-plot panel.
    Lines(LinePlot),
}

/// Several panels of either kind in one PNG, `columns` per row (row-major), each a full
/// panel of [`PANEL_SIZE`].
pub fn plots_png(panels: &[Plot], columns: usize) -> Result<Vec<u8>> {
    panels.iter().try_for_each(|p| match p {
        Plot::Heatmap(h) => heatmap::validate(h),
        Plot::Lines(l) => lines::validate(l),
    })?;
    grid_of_panels(panels, columns)
}

/// A plot that fills one panel.
trait Draw {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>;
}

impl Draw for Heatmap {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        heatmap::draw_heatmap(area, self)
    }
}

impl Draw for LinePlot {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        lines::draw_lines(area, self)
    }
}

impl Draw for Plot {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        match self {
            Plot::Heatmap(h) => h.draw(area),
            Plot::Lines(l) => l.draw(area),
        }
    }
}

/// Draws each of `panels` into its own [`PANEL_SIZE`] cell of a grid with `columns` per row.
fn grid_of_panels<T: Draw>(panels: &[T], columns: usize) -> Result<Vec<u8>> {
    if panels.is_empty() {
        return Err(PlotError::Panels("no panels given".into()));
    }
    if columns == 0 {
        return Err(PlotError::Panels("columns must be at least 1".into()));
    }
    let columns = columns.min(panels.len());
    let rows = panels.len().div_ceil(columns);
    let size = (PANEL_SIZE.0 * columns as u32, PANEL_SIZE.1 * rows as u32);
    render(size, |root| {
        root.fill(&WHITE)?;
        let areas = root.split_evenly((rows, columns));
        panels
            .iter()
            .zip(&areas)
            .try_for_each(|(panel, area)| panel.draw(area))
    })
}

/// Draws with `draw` on an in-memory bitmap of `size` pixels and encodes it as PNG (the
/// encoder and settings plotters uses when it saves a file itself).
fn render(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    font::ensure_registered()?;
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, size.0, size.1, image::ColorType::Rgb8)
        .map_err(|e| PlotError::Encode(e.to_string()))?;
    Ok(png)
}

#[cfg(test)]
mod tests;
