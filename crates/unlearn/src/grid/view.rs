//! A computed grid and what is read off it: per-cell values for a heatmap, cell edges, the
//! predicted boundaries with their scores, and per column the first y value that escapes.

use std::path::PathBuf;

use frontier_model::CnnConfig;
use frontier_stability::sweep::{Boundary, Region, edges};
use frontier_stability::{Rule, Verdict};

use super::config::GridConfig;
use super::records::CellRecord;
use super::summary::{CellSummary, Criterion};

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

    /// The predicted boundaries of every rule with a verdict in every cell (a cell's verdict:
    /// [`CellSummary::verdict`]) as step lines, each with its scores against the empirical
    /// majority of `criterion` (more than half of the runs meet it). Empty without a y axis or
    /// for an incomplete grid.
    pub fn boundaries(&self, criterion: Criterion) -> Vec<Boundary> {
        let summaries = self.summaries();
        let (Some((x_edges, y_edges)), Some(y)) = (self.edges(), &self.config.y) else {
            return Vec::new();
        };
        if !self.is_complete() {
            return Vec::new();
        }
        let nx = self.config.nx();
        let region = y.param.escape_region();
        Rule::ALL
            .iter()
            .filter(|&&rule| summaries.iter().all(|s| s.verdict(rule).is_some()))
            .map(|&rule| {
                Boundary::of(rule, &x_edges, &y_edges, region, |ix, iy| {
                    let s = &summaries[iy * nx + ix];
                    let verdict = s.verdict(rule).expect("filtered above");
                    (verdict, criterion.fraction(s) > 0.5)
                })
            })
            .collect()
    }

    /// Per column, the first y value, counted from the stable end of the y axis, whose cell
    /// `escapes` (e.g. the first α with a majority escaping); NaN for a column where none
    /// does or a cell is missing. Empty without a y axis.
    pub fn first_escaping(&self, escapes: impl Fn(&CellSummary) -> bool) -> Vec<f64> {
        let Some(y) = &self.config.y else {
            return Vec::new();
        };
        let (nx, ny) = (self.config.nx(), self.config.ny());
        let positions = y.positions();
        let rows: Vec<usize> = match y.param.escape_region() {
            Region::HighY => (0..ny).collect(),
            Region::LowY => (0..ny).rev().collect(),
        };
        (0..nx)
            .map(|ix| {
                for &iy in &rows {
                    match &self.cells[iy * nx + ix] {
                        None => return f64::NAN,
                        Some(cell) if escapes(&cell.summary()) => return positions[iy],
                        Some(_) => {}
                    }
                }
                f64::NAN
            })
            .collect()
    }

    /// The first y value per column at which `rule`'s cell verdict is escape (see
    /// [`Grid::first_escaping`]).
    pub fn first_predicted(&self, rule: Rule) -> Vec<f64> {
        self.first_escaping(|s| s.verdict(rule) == Some(Verdict::Escape))
    }
}
