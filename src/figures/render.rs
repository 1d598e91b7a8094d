//! Turns the stability engine's grids into PNGs (through `frontier-plot`) and CSVs.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use frontier_plot::{Axis, Curve, Heatmap as Plot};
use frontier_stability::sweep::Heatmap;
use serde::Serialize;

use crate::output::write_atomic;

/// The plot of a stability grid: colour = fraction of diverging runs, every boundary overlaid,
/// the agreement score of each in the caption.
pub fn plot(grid: &Heatmap) -> Plot {
    let nx = grid.x.len();
    let values = (0..grid.y.len())
        .map(|iy| {
            (0..nx)
                .map(|ix| grid.cell(ix, iy).diverged_fraction)
                .collect()
        })
        .collect();
    let caption = grid
        .boundaries
        .iter()
        .map(|b| {
            format!(
                "agreement with simulated majority, {}: {:.3}",
                b.label, b.agreement
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Plot {
        title: grid.title.clone(),
        caption,
        x: Axis {
            label: grid.x_label.clone(),
            values: grid.x.clone(),
            log2: grid.x_log2,
        },
        y: Axis {
            label: grid.y_label.clone(),
            values: grid.y.clone(),
            log2: false,
        },
        values,
        colorbar_label: "fraction of runs diverged".into(),
        range: Some((0.0, 1.0)),
        curves: grid
            .boundaries
            .iter()
            .map(|b| Curve {
                label: b.label.clone(),
                points: b.points.clone(),
            })
            .collect(),
    }
}

/// Writes `rows` as CSV to `path`, atomically. Each row is serialised as a JSON object (so
/// `#[serde(flatten)]` works); the header is the first row's keys, in field order; `null`
/// becomes an empty field.
pub fn write_csv<R: Serialize>(path: &Path, rows: impl IntoIterator<Item = R>) -> Result<PathBuf> {
    let mut writer = csv::Writer::from_writer(vec![]);
    let mut header: Option<Vec<String>> = None;
    for row in rows {
        let serde_json::Value::Object(map) = serde_json::to_value(row)? else {
            anyhow::bail!("a CSV row must serialise as an object");
        };
        if header.is_none() {
            let keys: Vec<String> = map.keys().cloned().collect();
            writer.write_record(&keys)?;
            header = Some(keys);
        }
        writer.write_record(map.values().map(|v| match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }))?;
    }
    let bytes = writer.into_inner().context("cannot finish the CSV")?;
    write_atomic(path, &bytes)?;
    Ok(path.to_path_buf())
}
