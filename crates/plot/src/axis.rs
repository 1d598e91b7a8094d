//! Axis scales, validation, heatmap cell edges, tick choice and tick labels.
//!
//! Charts are drawn in *transformed* coordinates (log₂ or log₁₀ of the data for log axes,
//! the data itself otherwise), so every chart has plain `f64` ranges; tick labels map back.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

use crate::Axis;
use crate::error::{PlotError, Result};

/// A linear chart coordinate over `lo..hi` (chart units) with ticks exactly at `ticks`.
/// (plotters' `WithKeyPoints` over an `f64` range has no label formatter in 0.3.7.)
#[derive(Debug, Clone)]
pub(crate) struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ticked {
    pub(crate) fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> Self {
        Ticked { lo, hi, ticks }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        // Clamp so far-off values cannot overflow the pixel type; NaN maps to the start.
        let frac = ((v - self.lo) / (self.hi - self.lo)).clamp(-10.0, 10.0);
        let frac = if frac.is_nan() { 0.0 } else { frac };
        limit.0 + ((limit.1 - limit.0) as f64 * frac).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// How data values map to chart coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    Linear,
    Log2,
    Log10,
}

impl Scale {
    /// Data value → chart coordinate; NaN for a value a log scale cannot show (≤ 0).
    pub(crate) fn fwd(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log2 if v > 0.0 => v.log2(),
            Scale::Log10 if v > 0.0 => v.log10(),
            _ => f64::NAN,
        }
    }

    /// Chart coordinate → data value.
    pub(crate) fn inv(self, t: f64) -> f64 {
        match self {
            Scale::Linear => t,
            Scale::Log2 => t.exp2(),
            Scale::Log10 => 10f64.powf(t),
        }
    }
}

impl Axis {
    /// The scale this axis asks for (log₂ or linear).
    pub(crate) fn scale(&self) -> Scale {
        if self.log2 {
            Scale::Log2
        } else {
            Scale::Linear
        }
    }

    /// The label of the tick at chart coordinate `t`: the name of the grid value there on a
    /// categorical axis, else the number.
    pub(crate) fn tick_label(&self, t: f64) -> String {
        let v = self.scale().inv(t);
        let named = self
            .values
            .iter()
            .position(|&g| (g - v).abs() <= 1e-9 * g.abs().max(1.0));
        match named.and_then(|i| self.names.get(i)) {
            Some(name) => name.clone(),
            None => format_tick(v),
        }
    }

    /// Checks the grid values: finite, strictly ascending, positive on a log₂ axis, and
    /// (when `required`) at least one; names, when given, one per value.
    pub(crate) fn validate(&self, required: bool) -> Result<()> {
        let axis = || self.label.clone();
        if !self.names.is_empty() && self.names.len() != self.values.len() {
            return Err(PlotError::AxisNames {
                axis: axis(),
                names: self.names.len(),
                values: self.values.len(),
            });
        }
        if required && self.values.is_empty() {
            return Err(PlotError::EmptyAxis { axis: axis() });
        }
        for (index, &value) in self.values.iter().enumerate() {
            if !value.is_finite() {
                return Err(PlotError::NonFiniteAxis {
                    axis: axis(),
                    index,
                    value,
                });
            }
            if self.log2 && value <= 0.0 {
                return Err(PlotError::NonPositiveLog {
                    axis: axis(),
                    index,
                    value,
                });
            }
            if index > 0 && value <= self.values[index - 1] {
                let previous = self.values[index - 1];
                return Err(PlotError::NotAscending {
                    axis: axis(),
                    index,
                    value,
                    previous,
                });
            }
        }
        Ok(())
    }
}

/// Cell edges (n + 1 of them, in chart coordinates) for n ascending grid values: midpoints
/// between neighbours in chart coordinates — arithmetic on a linear axis, geometric on a log
/// axis — and the outer edges half a neighbouring gap beyond the first and last value.
/// A single value gets a cell of width 1 in chart coordinates (a factor of 2 on a log₂ axis).
pub(crate) fn cell_edges(values: &[f64], scale: Scale) -> Vec<f64> {
    let t: Vec<f64> = values.iter().map(|&v| scale.fwd(v)).collect();
    match t.len() {
        0 => vec![],
        1 => vec![t[0] - 0.5, t[0] + 0.5],
        n => {
            let mut edges = Vec::with_capacity(n + 1);
            edges.push(t[0] - (t[1] - t[0]) / 2.0);
            edges.extend(t.windows(2).map(|w| (w[0] + w[1]) / 2.0));
            edges.push(t[n - 1] + (t[n - 1] - t[n - 2]) / 2.0);
            edges
        }
    }
}

/// Up to this many grid values are all labelled; above it the labels are thinned.
const MAX_LABELS: usize = 12;

/// Tick positions (data values) for a grid axis: every grid value when there are at most
/// [`MAX_LABELS`]; otherwise powers of two on a log₂ axis, round numbers on a linear one
/// (both within the grid's range), falling back to every k-th grid value.
pub(crate) fn grid_ticks(values: &[f64], scale: Scale) -> Vec<f64> {
    if values.len() <= MAX_LABELS {
        return values.to_vec();
    }
    let (lo, hi) = (values[0], values[values.len() - 1]);
    let ticks = match scale {
        Scale::Linear => nice_ticks(lo, hi, 10),
        Scale::Log2 | Scale::Log10 => power_ticks(lo, hi, scale),
    };
    if ticks.len() >= 2 {
        return ticks;
    }
    let k = values.len().div_ceil(10);
    values.iter().copied().step_by(k).collect()
}

/// Powers of 2 (log₂) or 10 (log₁₀) in `[lo, hi]`, every m-th one if there are many.
/// On a log₁₀ axis spanning less than three decades, 2× and 5× multiples are added.
pub(crate) fn power_ticks(lo: f64, hi: f64, scale: Scale) -> Vec<f64> {
    let base: f64 = if scale == Scale::Log10 { 10.0 } else { 2.0 };
    let (a, b) = (scale.fwd(lo), scale.fwd(hi));
    if !(a.is_finite() && b.is_finite()) {
        return vec![];
    }
    let eps = 1e-9;
    let (k0, k1) = ((a - eps).ceil() as i32, (b + eps).floor() as i32);
    let count = (k1 - k0 + 1).max(0) as usize;
    let step = count.div_ceil(10).max(1);
    let mut ticks: Vec<f64> = (k0..=k1).step_by(step).map(|k| base.powi(k)).collect();
    if scale == Scale::Log10 && count < 3 {
        let (k0, k1) = (a.floor() as i32, b.ceil() as i32);
        ticks = (k0..=k1)
            .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * base.powi(k)))
            .filter(|&v| v >= lo * (1.0 - eps) && v <= hi * (1.0 + eps))
            .collect();
    }
    ticks
}

/// Round-number ticks (steps of 1, 2, 2.5 or 5 × 10^k) in `[lo, hi]`, at most `max_n`.
pub(crate) fn nice_ticks(lo: f64, hi: f64, max_n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || max_n == 0 {
        return vec![];
    }
    let raw = (hi - lo) / max_n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        // floor(span / step) + 1 ticks must not exceed max_n.
        .find(|&s| (((hi - lo) / s).floor() as usize) < max_n)
        .unwrap_or(10.0 * mag);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// A short tick label: integers plainly, up to 4 significant digits otherwise, and
/// scientific notation outside [1e-3, 1e5).
pub(crate) fn format_tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return format!("{v}");
    }
    if (1e-3..1e5).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        trim_zeros(&format!("{v:.decimals$}"))
    } else {
        let s = format!("{v:.2e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => format!("{}e{exp}", trim_zeros(mantissa)),
            None => s,
        }
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(values: &[f64], log2: bool) -> Axis {
        Axis {
            label: "B".into(),
            values: values.to_vec(),
            log2,
            names: Vec::new(),
        }
    }

    #[test]
    fn linear_edges_are_arithmetic_midpoints_with_uneven_spacing() {
        let e = cell_edges(&[0.0, 1.0, 3.0], Scale::Linear);
        assert_eq!(e, vec![-0.5, 0.5, 2.0, 4.0]);
    }

    #[test]
    fn log2_edges_are_geometric_midpoints() {
        let e = cell_edges(&[1.0, 2.0, 8.0], Scale::Log2);
        let data: Vec<f64> = e.iter().map(|&t| Scale::Log2.inv(t)).collect();
        let want = [0.5f64.sqrt(), 2f64.sqrt(), 4.0, 16.0];
        for (d, w) in data.iter().zip(want) {
            assert!((d - w).abs() < 1e-12, "edge {d} vs {w}");
        }
        assert_eq!(cell_edges(&[4.0], Scale::Log2), vec![1.5, 2.5]);
    }

    #[test]
    fn validation_rejects_bad_axes() {
        assert!(matches!(
            axis(&[], false).validate(true),
            Err(PlotError::EmptyAxis { .. })
        ));
        assert!(axis(&[], false).validate(false).is_ok());
        let e = axis(&[1.0, 3.0, 2.0], false).validate(true).unwrap_err();
        assert!(matches!(e, PlotError::NotAscending { index: 2, .. }), "{e}");
        assert!(e.to_string().contains("strictly ascending"));
        let e = axis(&[0.0, 1.0], true).validate(true).unwrap_err();
        assert!(matches!(e, PlotError::NonPositiveLog { index: 0, .. }));
        let e = axis(&[1.0, f64::NAN], false).validate(true).unwrap_err();
        assert!(matches!(e, PlotError::NonFiniteAxis { index: 1, .. }));
    }

    #[test]
    fn ticks_are_all_grid_values_when_few_and_thinned_when_many() {
        let few = [1.0, 2.0, 5.0, 10.0];
        assert_eq!(grid_ticks(&few, Scale::Log2), few.to_vec());
        let b: Vec<f64> = (1..=49).map(f64::from).collect();
        assert_eq!(
            grid_ticks(&b, Scale::Log2),
            vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
        );
        let s: Vec<f64> = (1..=50).map(f64::from).collect();
        let t = grid_ticks(&s, Scale::Linear);
        assert!(t.len() <= 10 && t.len() >= 5, "{t:?}");
        assert!(t.iter().all(|v| s.contains(v)), "{t:?}");
    }

    #[test]
    fn nice_and_power_ticks() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(
            nice_ticks(1.0, 50.0, 10),
            vec![5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0]
        );
        assert_eq!(
            power_ticks(0.01, 1000.0, Scale::Log10),
            vec![0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
        );
        assert_eq!(power_ticks(0.3, 4.0, Scale::Log10), vec![0.5, 1.0, 2.0]);
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(format_tick(16.0), "16");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(0.1 + 0.2), "0.3");
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(1e-4), "1e-4");
        assert_eq!(format_tick(2.5e6), "2.5e6");
        assert_eq!(format_tick(-3.0), "-3");
    }
}
