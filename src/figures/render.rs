//! From computed grids to files: the one grid-to-heatmap conversion every figure uses
//! ([`Panel::plot`]), and the one way a figure's outputs are written ([`Outputs`]): each PNG
//! with its CSV and the resolved config beside it, every file atomically.

use std::path::PathBuf;

use anyhow::Result;
use frontier_common::Table;
use frontier_plot::{Axis as PlotAxis, Curve, Heatmap as Plot};
use frontier_stability::sweep::Boundary;
use frontier_unlearn::Axis;
use serde::Serialize;

use super::Context;
use super::spec::ConfigFile;
use crate::output::{create_dir, write_atomic, write_table};

/// One heatmap panel, whatever computed it (the linear Hessian test or real unlearning runs).
pub struct Panel<'a> {
    /// Title (wrapped when long).
    pub title: String,
    /// Horizontal axis.
    pub x: PlotAxis,
    /// Vertical axis.
    pub y: PlotAxis,
    /// Colour per cell, `[iy][ix]` (NaN = missing).
    pub values: Vec<Vec<f64>>,
    /// Colourbar title with units.
    pub colorbar: String,
    /// Colour range (`None`: the values' range).
    pub range: Option<(f64, f64)>,
    /// Predicted boundaries to overlay, each with its agreement score.
    pub boundaries: &'a [Boundary],
    /// What the agreement is measured against, e.g. "simulated majority".
    pub against: &'static str,
    /// Further caption parts.
    pub notes: Vec<String>,
}

impl Panel<'_> {
    /// The plot: the boundaries drawn as "predicted: `rule`", the caption listing each
    /// one's agreement score, then the notes.
    pub fn plot(self) -> Plot {
        let caption = self
            .boundaries
            .iter()
            .map(|b| {
                format!(
                    "agreement of {} with the {}: {:.2}",
                    b.label, self.against, b.agreement
                )
            })
            .chain(self.notes)
            .collect::<Vec<_>>()
            .join("; ");
        Plot {
            title: self.title,
            caption,
            x: self.x,
            y: self.y,
            values: self.values,
            colorbar_label: self.colorbar,
            range: self.range,
            curves: self
                .boundaries
                .iter()
                .map(|b| Curve::new(format!("predicted: {}", b.label), b.points.clone()))
                .collect(),
        }
    }
}

/// The plot axis of a grid axis: its parameter's label, its positions (names for a
/// categorical parameter), log₂ when the parameter calls for it.
pub fn plot_axis(axis: &Axis) -> PlotAxis {
    let names = if axis.param.categorical() {
        axis.values.iter().map(ToString::to_string).collect()
    } else {
        Vec::new()
    };
    PlotAxis {
        label: axis.param.label().into(),
        values: axis.positions(),
        log2: axis.param.log2(),
        names,
    }
}

/// Where one config file's outputs go.
pub struct Outputs<'a> {
    ctx: &'a Context,
    file: &'a ConfigFile,
    /// Files written so far.
    pub written: Vec<PathBuf>,
}

impl<'a> Outputs<'a> {
    /// The outputs of `file` in `ctx.out`.
    pub fn new(ctx: &'a Context, file: &'a ConfigFile) -> Self {
        Outputs {
            ctx,
            file,
            written: Vec::new(),
        }
    }

    /// Writes `<stem>.png`, `<stem>.csv` and `<stem>.config.toml` (the resolved config of
    /// kind `kind`), creating the output folder if needed.
    pub fn write(
        &mut self,
        stem: &str,
        png: &[u8],
        table: &Table,
        kind: &str,
        resolved: &impl Serialize,
    ) -> Result<()> {
        let path = |ext: &str| self.ctx.out.join(format!("{stem}.{ext}"));
        let config = self.file.resolved(kind, resolved)?;
        create_dir(&self.ctx.out)?;
        write_atomic(&path("png"), png)?;
        write_table(&path("csv"), table)?;
        write_atomic(&path("config.toml"), config.as_bytes())?;
        self.written.extend(["png", "csv", "config.toml"].map(path));
        Ok(())
    }
}
