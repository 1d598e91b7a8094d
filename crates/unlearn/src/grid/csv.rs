//! The CSV of one or more grids, as a [`Table`] for the one CSV writer.

use frontier_common::{Field, Record, Table};

use super::config::AxisValue;
use super::view::Grid;
use crate::error::{Result, invalid};

/// The table of `panels` (label, grid), which must share their axes' parameters: a `panel`
/// column with each grid's label, one column per axis named after its parameter (e.g.
/// `batch`, `alpha`; numbers, or names for a categorical axis), then one row per present
/// cell with every column of [`super::CellSummary::columns`].
pub fn table<C>(panels: &[(&str, &Grid<C>)]) -> Result<Table> {
    let params = |g: &Grid<C>| -> Vec<_> { g.config.axes().map(|a| a.param).collect() };
    if let Some((_, first)) = panels.first()
        && let Some((label, _)) = panels.iter().find(|(_, g)| params(g) != params(first))
    {
        return Err(invalid(
            "panels",
            format!("panel `{label}` has other axes than the first panel; one CSV needs the same"),
        ));
    }
    let mut records: Vec<Record> = Vec::new();
    for (label, grid) in panels {
        for s in grid.summaries() {
            let mut record: Record = vec![("panel".into(), Field::from(*label))];
            let values = std::iter::once(&s.x).chain(&s.y);
            for (axis, value) in grid.config.axes().zip(values) {
                record.push((axis.param.name().into(), field(value)));
            }
            record.extend(s.columns());
            records.push(record);
        }
    }
    Ok(Table::from_records(records)?)
}

/// An axis value as a CSV field.
fn field(value: &AxisValue) -> Field {
    match value {
        AxisValue::Number(v) => Field::Number(*v),
        AxisValue::Name(name) => Field::Text(name.clone()),
    }
}
