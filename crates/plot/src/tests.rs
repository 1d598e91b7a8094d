//! Rendering tests: files decode as PNGs of the right size, hold many colours, text, the
//! missing-cell grey and the overlay colours; bad input gives clear errors.

use std::collections::HashSet;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::*;
use crate::heatmap::MISSING;

/// A B × σ heatmap like Figure 1: log₂ B, two boundary curves (one leaving the plot),
/// a few NaN cells.
fn sample_heatmap() -> Heatmap {
    let b = vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 48.0];
    let sigma: Vec<f64> = (1..=20).map(f64::from).collect();
    let values = sigma
        .iter()
        .map(|&s| {
            b.iter()
                .map(|&bb| {
                    if s == 7.0 && bb == 4.0 {
                        f64::NAN
                    } else {
                        1.0 / (1.0 + (s - 40.0 / bb).exp())
                    }
                })
                .collect()
        })
        .collect();
    let mut h = Heatmap::new(
        "Hessian test, SGD: fraction diverged (η = 0.5, n = 100, 10 reps)",
        Axis::new("batch size B", b).with_log2(),
        Axis::new("coherence σ", sigma),
        values,
        "fraction of runs diverged",
    );
    h.caption = "agreement with simulation: ρ(T) = 1: 0.97; coherence bound: 0.88".into();
    h.range = Some((0.0, 1.0));
    h.curves = vec![
        Curve::new(
            "ρ(T) = 1",
            (0..=30)
                .map(|k| {
                    let bb = 2f64.powf(k as f64 / 5.0);
                    (bb, 40.0 / bb)
                })
                .collect(),
        ),
        Curve::new(
            "coherence bound",
            vec![
                (0.1, 50.0),
                (2.0, 8.0),
                (f64::NAN, 0.0),
                (8.0, 3.0),
                (100.0, 0.5),
            ],
        ),
    ];
    h
}

fn sample_lines() -> LinePlot {
    let snr = vec![0.5, 1.0, 2.0, 4.0, 8.0];
    let series = ["σ", "σ_R", "σ_F"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mean: Vec<f64> = snr.iter().map(|s| (i as f64 + 1.0) * 10.0 / s).collect();
            let sd = mean.iter().map(|m| 0.2 * m).collect();
            Series::new(*name, snr.clone(), mean, sd)
        })
        .collect();
    LinePlot {
        title: "CNN coherence versus SNR (mean ± sd over 5 seeds)".into(),
        caption: "n = 100; η = 0.5".into(),
        x: Axis::new("signal-to-noise ratio", snr).with_log2(),
        y_label: "coherence".into(),
        log_y: true,
        series,
    }
}

/// Renders with `draw` into an in-memory RGB buffer of `size` pixels.
fn render_in_memory(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<()>,
) -> Vec<u8> {
    font::ensure_registered().unwrap();
    let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        draw(&root).unwrap();
        root.present().unwrap();
    }
    buf
}

fn colours(rgb: &[u8]) -> HashSet<[u8; 3]> {
    rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect()
}

/// Dark (text-like) pixels in rows `rows` of an image `width` wide.
fn dark_pixels(rgb: &[u8], width: u32, rows: std::ops::Range<u32>) -> usize {
    let row = width as usize * 3;
    rgb[rows.start as usize * row..rows.end as usize * row]
        .chunks_exact(3)
        .filter(|p| p.iter().all(|&c| c < 90))
        .count()
}

fn decode(bytes: &[u8]) -> image::RgbImage {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    image::load_from_memory(bytes).unwrap().to_rgb8()
}

#[test]
fn heatmap_png_has_cells_text_missing_grey_and_curves() {
    let img = decode(&heatmap_png(&sample_heatmap()).unwrap());
    assert_eq!(img.dimensions(), PANEL_SIZE);
    let rgb = img.as_raw();
    let cs = colours(rgb);
    assert!(cs.len() > 20, "only {} colours", cs.len());
    assert!(
        cs.contains(&[MISSING.0, MISSING.1, MISSING.2]),
        "no missing-cell grey"
    );
    assert!(cs.contains(&[230, 25, 25]), "no red curve");
    assert!(cs.contains(&[255, 255, 255]), "no white");
    let (w, h) = PANEL_SIZE;
    assert!(dark_pixels(rgb, w, 0..40) > 100, "no title text");
    assert!(dark_pixels(rgb, w, h - 30..h) > 100, "no caption text");
}

#[test]
fn in_memory_heatmap_renders_text_and_many_colours() {
    let h = sample_heatmap();
    let rgb = render_in_memory(PANEL_SIZE, |area| heatmap::draw_heatmap(area, &h));
    assert!(colours(&rgb).len() > 20);
    assert!(dark_pixels(&rgb, PANEL_SIZE.0, 0..40) > 100);
}

#[test]
fn line_plot_png_renders() {
    let img = decode(&lines_png(&sample_lines()).unwrap());
    assert_eq!(img.dimensions(), PANEL_SIZE);
    let cs = colours(img.as_raw());
    assert!(cs.len() > 20, "only {} colours", cs.len());
    assert!(cs.contains(&[31, 119, 180]), "first series colour missing");
    assert!(
        dark_pixels(img.as_raw(), PANEL_SIZE.0, 0..40) > 100,
        "no title text"
    );

    let mut linear = sample_lines();
    linear.log_y = false;
    linear.x = Axis::new("SNR", vec![]);
    linear.series[0].sd.clear();
    linear.series[1].mean[2] = f64::NAN;
    lines_png(&linear).unwrap();
}

#[test]
fn two_panels_side_by_side() {
    let left = sample_heatmap();
    let mut right = sample_heatmap();
    right.title = "squared loss".into();
    right.range = None;
    right.curves.truncate(1);
    let img = decode(&panels_png(&[left, right], 2).unwrap());
    assert_eq!(img.dimensions(), (2 * PANEL_SIZE.0, PANEL_SIZE.1));
    let rgb = img.as_raw();
    // Both halves carry a title.
    let row = 2 * PANEL_SIZE.0 as usize * 3;
    let half = |right: bool| {
        (0..40)
            .flat_map(|y| {
                let start = y * row + if right { row / 2 } else { 0 };
                rgb[start..start + row / 2].chunks_exact(3)
            })
            .filter(|p| p.iter().all(|&c| c < 90))
            .count()
    };
    assert!(half(false) > 100 && half(true) > 100);
    assert!(matches!(panels_png(&[], 2), Err(PlotError::Panels(_))));
    assert!(matches!(
        panels_png(&[sample_heatmap()], 0),
        Err(PlotError::Panels(_))
    ));
}

#[test]
fn shape_mismatches_are_clear_errors() {
    let mut h = sample_heatmap();
    h.values.pop();
    let e = heatmap_png(&h).unwrap_err();
    assert!(
        matches!(
            e,
            PlotError::RowCount {
                rows: 19,
                expected: 20,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("values[iy][ix]"), "{e}");

    let mut h = sample_heatmap();
    h.values[3].push(0.0);
    let e = heatmap_png(&h).unwrap_err();
    assert!(
        matches!(
            e,
            PlotError::RowLength {
                row: 3,
                len: 8,
                expected: 7,
                ..
            }
        ),
        "{e}"
    );

    let mut h = sample_heatmap();
    h.x.values[2] = 1.5;
    let e = heatmap_png(&h).unwrap_err();
    assert!(matches!(e, PlotError::NotAscending { index: 2, .. }), "{e}");

    let mut h = sample_heatmap();
    h.y.values.clear();
    h.values.clear();
    assert!(matches!(heatmap_png(&h), Err(PlotError::EmptyAxis { .. })));

    let mut h = sample_heatmap();
    h.range = Some((1.0, 1.0));
    assert!(matches!(heatmap_png(&h), Err(PlotError::BadRange { .. })));

    let mut p = sample_lines();
    p.series[1].sd.pop();
    let e = lines_png(&p).unwrap_err();
    assert!(matches!(e, PlotError::SeriesLength { sd: 4, .. }), "{e}");
    p.series.clear();
    assert!(matches!(lines_png(&p), Err(PlotError::NoSeries { .. })));
}

/// A categorical axis shows its names at the grid values; names of the wrong count are
/// refused.
#[test]
fn categorical_axes_show_names() {
    let loss = Axis::categorical("loss", vec!["logistic".into(), "squared".into()]);
    assert_eq!(loss.values, vec![0.0, 1.0]);
    assert_eq!(loss.tick_label(1.0), "squared");
    assert_eq!(loss.tick_label(0.5), "0.5");
    let b = Axis::new("B", vec![1.0, 2.0, 4.0]).with_log2();
    assert_eq!(b.tick_label(2.0), "4");
    let mut h = Heatmap::new("by loss", loss, b, vec![vec![0.0, 1.0]; 3], "v");
    let img = decode(&heatmap_png(&h).unwrap());
    assert_eq!(img.dimensions(), PANEL_SIZE);
    h.x.names.pop();
    assert!(matches!(
        heatmap_png(&h),
        Err(PlotError::AxisNames {
            names: 1,
            values: 2,
            ..
        })
    ));
}

/// Line plots side by side: one PNG two panels wide.
#[test]
fn line_panels_side_by_side() {
    let img = decode(&line_panels_png(&[sample_lines(), sample_lines()], 2).unwrap());
    assert_eq!(img.dimensions(), (2 * PANEL_SIZE.0, PANEL_SIZE.1));
    assert!(matches!(line_panels_png(&[], 1), Err(PlotError::Panels(_))));
}

#[test]
fn edge_cases_render() {
    // One cell, all NaN, curves entirely outside or degenerate.
    let mut h = Heatmap::new(
        "single",
        Axis::new("x", vec![3.0]),
        Axis::new("y", vec![5.0]),
        vec![vec![f64::NAN]],
        "v",
    );
    h.curves = vec![
        Curve::new("far away", vec![(1e9, 1e9), (2e9, -1e9)]),
        Curve::new("empty", vec![]),
        Curve::new("one point", vec![(3.0, 5.0)]),
    ];
    decode(&heatmap_png(&h).unwrap());
    // Constant values, many grid values on both axes.
    let x: Vec<f64> = (1..=64).map(f64::from).collect();
    let y: Vec<f64> = (0..40).map(|k| k as f64 * 0.025).collect();
    let h = Heatmap::new(
        "flat",
        Axis::new("x", x.clone()).with_log2(),
        Axis::new("y", y.clone()),
        vec![vec![2.0; 64]; 40],
        "v",
    );
    heatmap_png(&h).unwrap();
}
