//! From computed grids to files: the one grid-to-heatmap conversion every figure uses
//! ([`Panel::plot`]), the one table of predictor scores ([`scores_table`]), and the one way a
//! figure's outputs are written ([`Outputs`]): each PNG with its CSV, its scores CSV where it
//! has predictions, and the resolved config beside it, every file atomically.

use std::path::PathBuf;

use anyhow::Result;
use frontier_common::{Field, Record, Table};
use frontier_plot::{Axis as PlotAxis, Curve, Heatmap as Plot};
use frontier_stability::Rule;
use frontier_stability::score::Scores;
use frontier_stability::sweep::Boundary;
use frontier_unlearn::Axis;
use serde::Serialize;

use super::Context;
use super::spec::ConfigFile;
use crate::output::{clean_orphans, create_dir, write_atomic, write_table};

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
    /// Predicted boundaries to overlay, each with its scores.
    pub boundaries: &'a [Boundary],
    /// What the scores are measured against, e.g. "simulated majority".
    pub against: &'static str,
    /// Further caption parts.
    pub notes: Vec<String>,
}

impl Panel<'_> {
    /// The plot: the boundaries drawn as "predicted: `rule`", the cells where γ_∞ is
    /// undetermined hatched, the caption giving the base rate and each boundary's scores,
    /// then the notes.
    pub fn plot(self) -> Plot {
        let base_rate = self.boundaries.first().map(|b| {
            format!(
                "{:.0} % of cells escape by the {} (base rate)",
                100.0 * b.scores.base_rate,
                self.against
            )
        });
        let caption = base_rate
            .into_iter()
            .chain(self.boundaries.iter().map(describe_scores))
            .chain(self.notes)
            .collect::<Vec<_>>()
            .join("; ");
        let hatched = self
            .boundaries
            .iter()
            .find(|b| b.rule == Rule::Asymptotic)
            .map_or_else(Vec::new, |b| b.undetermined.clone());
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
            hatched,
            hatch_label: "γ_∞ undetermined".into(),
        }
    }
}

/// "γ_∞ = 0 (asymptotic): balanced accuracy 0.93, boundary 0.4 steps off, 3 cells
/// undetermined (hatched)".
fn describe_scores(b: &Boundary) -> String {
    let accuracy = b.scores.balanced_accuracy.map_or_else(
        || "undefined (one class)".to_string(),
        |a| format!("{a:.2}"),
    );
    let undetermined = if b.rule == Rule::Asymptotic && !b.undetermined.is_empty() {
        format!(", {} cells undetermined (hatched)", b.undetermined.len())
    } else {
        String::new()
    };
    format!(
        "{}: balanced accuracy {accuracy}, boundary {:.1} steps off{undetermined}",
        b.label, b.scores.boundary_distance
    )
}

/// The scores CSV of `panels` (label, boundaries): one row per panel and predictor with the
/// rule's column name and legend text, the cells, the base rate, the balanced accuracy
/// ("undefined" when the panel has one class), the plain accuracy, the boundary distance in
/// grid steps and the cells where the verdict is undetermined.
pub fn scores_table<'a>(
    panels: impl IntoIterator<Item = (&'a str, &'a [Boundary])>,
) -> Result<Table> {
    let mut records: Vec<Record> = Vec::new();
    for (panel, boundaries) in panels {
        for b in boundaries {
            let Scores {
                cells,
                base_rate,
                accuracy,
                balanced_accuracy,
                boundary_distance,
            } = b.scores;
            records.push(vec![
                ("panel".into(), Field::from(panel)),
                ("predictor".into(), Field::from(b.rule.name())),
                ("label".into(), Field::from(b.label.as_str())),
                ("cells".into(), Field::from(cells)),
                ("base_rate".into(), Field::from(base_rate)),
                (
                    "balanced_accuracy".into(),
                    balanced_accuracy.map_or_else(|| Field::from("undefined"), Field::from),
                ),
                ("accuracy".into(), Field::from(accuracy)),
                ("boundary_distance".into(), Field::from(boundary_distance)),
                (
                    "undetermined_cells".into(),
                    Field::from(b.undetermined.len()),
                ),
            ]);
        }
    }
    Ok(Table::from_records(records)?)
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

    /// Writes `<stem>.<suffix>.csv` (e.g. the scores), creating the output folder if needed.
    pub fn extra(&mut self, stem: &str, suffix: &str, table: &Table) -> Result<()> {
        create_dir(&self.ctx.out)?;
        let path = self.ctx.out.join(format!("{stem}.{suffix}.csv"));
        write_table(&path, table)?;
        self.written.push(path);
        Ok(())
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
        clean_orphans(&self.ctx.out)?;
        write_atomic(&path("png"), png)?;
        write_table(&path("csv"), table)?;
        write_atomic(&path("config.toml"), config.as_bytes())?;
        self.written.extend(["png", "csv", "config.toml"].map(path));
        Ok(())
    }
}
