//! A computed grid and what is read off it: per-cell values for a heatmap, cell edges, and
//! the predicted boundaries with their agreement scores.

use std::path::PathBuf;

use frontier_model::CnnConfig;
use frontier_stability::sweep::{Boundary, Rule, edges};

use super::config::GridConfig;
use super::records::CellRecord;
use super::summary::{CellSummary, Criterion};
use crate::predict::RULES;

/// A computed (possibly incomplete) grid.
#[derive(Debug, Clone)]
pub struct Grid<C = CnnConfig> {
    /// The config.
    pub config: GridConfig<C>,
    /// Cells in row-major order (`iy * nx + ix`); `None` for cells not computed yet.
    pub cells: Vec<Option<CellRecord>>,
    /// How many cells this call computed (the others came from the cache).
    pub computed: usize,
    /// Why the grid has no predictions although they are enabled (the model cannot give its
    /// per-sample Hessians, see [`HessianMethod::choose`](crate::HessianMethod::choose));
    /// `None` otherwise.
    pub predictions_skipped: Option<String>,
    /// Wall seconds this call spent preparing setups (pre-training, retrain reference,
    /// linearisation at w*).
    pub setup_seconds: f64,
    /// Wall seconds this call spent on the cells (unlearning runs and predictions).
    pub cells_seconds: f64,
    /// The run folder.
    pub dir: PathBuf,
}

impl<C> Grid<C> {
    /// Whether every cell is present.
    pub fn is_complete(&self) -> bool {
        self.cells.iter().all(Option::is_some)
    }

    /// Summaries of the present cells, in row-major order.
    pub fn summaries(&self) -> Vec<CellSummary> {
        self.cells
            .iter()
            .flatten()
            .map(CellRecord::summary)
            .collect()
    }

    /// `f` of each cell's summary as `[iy][ix]` (NaN for missing cells; one row without a y
    /// axis).
    pub fn values(&self, f: impl Fn(&CellSummary) -> f64) -> Vec<Vec<f64>> {
        let nx = self.config.nx();
        self.cells
            .chunks(nx)
            .map(|row| {
                row.iter()
                    .map(|c| c.as_ref().map_or(f64::NAN, |c| f(&c.summary())))
                    .collect()
            })
            .collect()
    }

    /// Cell edges along x and y (midpoints of the axis positions; in log₂ for log₂ axes);
    /// `None` without a y axis.
    pub fn edges(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        let (x, y) = (&self.config.x, self.config.y.as_ref()?);
        Some((
            edges(&x.positions(), x.param.log2()),
            edges(&y.positions(), y.param.log2()),
        ))
    }

    /// The predicted boundaries (a rule's label per cell: the majority of the repetitions'
    /// verdicts) as step lines, each with its agreement score: the fraction of cells where
    /// the predicted label equals the empirical majority of `criterion`. Empty without
    /// predictions, without a y axis or for an incomplete grid.
    pub fn boundaries(&self, criterion: Criterion) -> Vec<Boundary> {
        let summaries = self.summaries();
        let (Some((x_edges, y_edges)), Some(y)) = (self.edges(), &self.config.y) else {
            return Vec::new();
        };
        if !self.is_complete()
            || summaries
                .iter()
                .any(|s| s.predicted(Rule::MeanSquare).is_nan())
        {
            return Vec::new();
        }
        let nx = self.config.nx();
        let region = y.param.escape_region();
        RULES
            .iter()
            .map(|&rule| {
                Boundary::of(rule, &x_edges, &y_edges, region, |ix, iy| {
                    let s = &summaries[iy * nx + ix];
                    (s.predicted(rule) > 0.5, criterion.fraction(s) > 0.5)
                })
            })
            .collect()
    }
}
