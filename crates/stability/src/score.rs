//! Scoring a predicted frontier against the empirical one on a heatmap grid: the one
//! function ([`score`]) every figure uses.
//!
//! Plain accuracy is dominated by the base rate (a panel where nothing escapes gives a
//! predictor that never fires accuracy 1), so a prediction is reported with:
//!
//! - the **base rate**: the fraction of cells whose empirical label is "escapes";
//! - the **balanced accuracy** (TPR + TNR)/2, TPR the fraction of escaping cells predicted to
//!   escape and TNR the fraction of stable cells predicted stable: 0.5 for any constant
//!   predictor, 1 for a perfect one; undefined (`None`) when the panel has one class only;
//! - the **boundary distance**: per column of the grid, the distance in grid steps between
//!   the predicted and the empirical frontier along the y axis, averaged over columns.
//!
//! **The frontier of a column** \[choice\]: escape is expected at one end of the y axis
//! ([`Region`]). Number the column's `rows` cells from the stable end; a frontier position
//! p ∈ {0, …, rows} labels the first p cells stable and the rest escaping (p = rows: nothing
//! escapes, p = 0: everything does). The column's frontier is the p that disagrees with the
//! fewest of its labels, the mean of all such p when several tie. For a monotone column this
//! is exactly where the labels switch; an isolated outlier moves it by at most half a step.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::sweep::Region;

/// How well a predicted escape/stable labelling of a grid matches the empirical one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    /// Number of cells.
    pub cells: usize,
    /// Fraction of cells that escape empirically (the positive class), in [0, 1].
    pub base_rate: f64,
    /// Fraction of cells where prediction and empirical label agree, in [0, 1].
    pub accuracy: f64,
    /// (TPR + TNR)/2 in [0, 1]; `None` when every empirical label is the same.
    pub balanced_accuracy: Option<f64>,
    /// Mean over columns of |predicted − empirical frontier|, in grid steps (≥ 0).
    pub boundary_distance: f64,
}

/// Scores `predicted` against `empirical` (true = escapes) on a grid of `columns` columns,
/// both row-major with the row as the y index: cell (ix, iy) at `iy·columns + ix`, y
/// increasing with iy. `escape` says at which end of the y axis escape is expected. Errors
/// if the lengths differ, the grid is empty or `columns` does not divide the length.
pub fn score(
    predicted: &[bool],
    empirical: &[bool],
    columns: usize,
    escape: Region,
) -> Result<Scores> {
    let cells = empirical.len();
    if predicted.len() != cells {
        return Err(Error::Shape {
            what: "predicted labels".into(),
            expected: format!("{cells} cells (as the empirical labels)"),
            got: predicted.len().to_string(),
        });
    }
    if cells == 0 || columns == 0 || !cells.is_multiple_of(columns) {
        return Err(Error::Shape {
            what: "grid".into(),
            expected: "a non-empty grid whose cell count is a multiple of `columns`".into(),
            got: format!("{cells} cells in {columns} columns"),
        });
    }
    let count = |f: &dyn Fn(bool, bool) -> bool| {
        predicted
            .iter()
            .zip(empirical)
            .filter(|(p, e)| f(**p, **e))
            .count() as f64
    };
    let positives = empirical.iter().filter(|&&e| e).count() as f64;
    let negatives = cells as f64 - positives;
    let balanced_accuracy = (positives > 0.0 && negatives > 0.0).then(|| {
        let tpr = count(&|p, e| p && e) / positives;
        let tnr = count(&|p, e| !p && !e) / negatives;
        0.5 * (tpr + tnr)
    });
    let rows = cells / columns;
    let distance: f64 = (0..columns)
        .map(|ix| {
            let column = |labels: &[bool]| -> Vec<bool> {
                let from_stable_end: Box<dyn Iterator<Item = usize>> = match escape {
                    Region::HighY => Box::new(0..rows),
                    Region::LowY => Box::new((0..rows).rev()),
                };
                from_stable_end
                    .map(|iy| labels[iy * columns + ix])
                    .collect()
            };
            (frontier(&column(predicted)) - frontier(&column(empirical))).abs()
        })
        .sum();
    Ok(Scores {
        cells,
        base_rate: positives / cells as f64,
        accuracy: count(&|p, e| p == e) / cells as f64,
        balanced_accuracy,
        boundary_distance: distance / columns as f64,
    })
}

/// The frontier position of one column, its labels ordered from the stable end (see the
/// module docs): the mean of the p ∈ {0, …, len} with the fewest disagreements with "the
/// first p stable, the rest escaping".
fn frontier(labels: &[bool]) -> f64 {
    // errors(p) = escaping cells before p + stable cells from p on.
    let mut errors = labels.iter().filter(|&&l| !l).count();
    let (mut best, mut sum, mut ties) = (errors, 0usize, 1usize);
    for (p, &label) in labels.iter().enumerate() {
        // Moving the frontier past cell p labels it stable.
        if label {
            errors += 1;
        } else {
            errors -= 1;
        }
        match errors.cmp(&best) {
            std::cmp::Ordering::Less => (best, sum, ties) = (errors, p + 1, 1),
            std::cmp::Ordering::Equal => (sum, ties) = (sum + p + 1, ties + 1),
            std::cmp::Ordering::Greater => {}
        }
    }
    sum as f64 / ties as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3-column, 4-row panel escaping at high y: column 0 escapes from row 2 on, column
    /// 1 from row 1 on, column 2 never.
    fn panel() -> Vec<bool> {
        let frontier = [2, 1, 4];
        (0..4)
            .flat_map(|iy| (0..3).map(move |ix| iy >= frontier[ix]))
            .collect()
    }

    #[test]
    fn all_stable_on_an_all_stable_panel_is_undefined_not_perfect() {
        let stable = vec![false; 12];
        let s = score(&stable, &stable, 3, Region::HighY).unwrap();
        assert_eq!(s.balanced_accuracy, None, "{s:?}");
        assert_eq!(
            (s.accuracy, s.base_rate, s.boundary_distance),
            (1.0, 0.0, 0.0)
        );
    }

    #[test]
    fn a_perfect_predictor_scores_one_and_a_constant_one_half() {
        let empirical = panel();
        let perfect = score(&empirical, &empirical, 3, Region::HighY).unwrap();
        assert_eq!(perfect.balanced_accuracy, Some(1.0), "{perfect:?}");
        assert_eq!(perfect.boundary_distance, 0.0);
        assert_eq!(perfect.base_rate, 5.0 / 12.0);
        for constant in [true, false] {
            let s = score(&[constant; 12], &empirical, 3, Region::HighY).unwrap();
            assert_eq!(s.balanced_accuracy, Some(0.5), "constant {constant}: {s:?}");
        }
    }

    /// Frontiers by hand. Predicted labels, rows 0 to 3 (columns 0, 1, 2): FFF, FTF, FFF,
    /// TTT; empirical (escape at high y): column frontiers 2, 1, 4.
    /// - Escape at high y (read from row 0): predicted column 0 FFFT → 3; column 1 FTFT:
    ///   p = 1 and p = 3 each disagree once (rows 2 and 1), so 2; column 2 FFFT → 3.
    ///   Distance (|3−2| + |2−1| + |3−4|)/3 = 1.
    /// - Escape at low y (read from row 3): empirical column 0 TTFF: p = 0 and p = 4 each
    ///   disagree twice → 2; column 1 TTTF → 0; column 2 FFFF → 4. Predicted column 0 TFFF
    ///   → 4 (one disagreement); column 1 TFTF: p = 0, 2, 4 disagree twice → 2; column 2
    ///   TFFF → 4. Distance (2 + 2 + 0)/3 = 4/3.
    ///
    /// Accuracy: one miss per column (rows 2, 2, 3): 9/12. Balanced: TPR 3/5 (escaping cells
    /// (0,2), (0,3), (1,1), (1,2), (1,3); predicted (0,3), (1,1), (1,3)), TNR 6/7 (cell (2,3)
    /// falsely predicted to escape).
    #[test]
    fn boundary_distance_by_hand() {
        let predicted_rows = [
            [false, false, false],
            [false, true, false],
            [false, false, false],
            [true, true, true],
        ];
        let predicted: Vec<bool> = predicted_rows.iter().flatten().copied().collect();
        let high = score(&predicted, &panel(), 3, Region::HighY).unwrap();
        assert_eq!(high.boundary_distance, 1.0, "{high:?}");
        let low = score(&predicted, &panel(), 3, Region::LowY).unwrap();
        assert!(
            (low.boundary_distance - 4.0 / 3.0).abs() < 1e-15,
            "rust={}, reference=4/3",
            low.boundary_distance
        );
        assert_eq!(high.accuracy, 9.0 / 12.0);
        let expected = 0.5 * (3.0 / 5.0 + 6.0 / 7.0);
        let got = high.balanced_accuracy.unwrap();
        assert!(
            (got - expected).abs() < 1e-15,
            "rust={got}, reference={expected}"
        );
        assert_eq!(low.balanced_accuracy, high.balanced_accuracy);
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(score(&[true; 3], &[true; 4], 2, Region::HighY).is_err());
        assert!(score(&[true; 6], &[true; 6], 4, Region::HighY).is_err());
        assert!(score(&[], &[], 1, Region::HighY).is_err());
    }
}
