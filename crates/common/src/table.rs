//! The one CSV writer: a table of named columns and typed fields. Numbers are written in
//! Rust's shortest round-trip form (`0.1`, `1e-7`, `NaN`, `inf`), so a value read back equals
//! the one written and equal tables give byte-identical files; a missing value is an empty
//! field.

use std::fmt;

/// One field of a CSV row.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// Text (quoted by the writer when needed).
    Text(String),
    /// A real number; `NaN` and `±inf` are written as such.
    Number(f64),
    /// A count or index.
    Count(u64),
    /// A yes/no value, written `true`/`false`.
    Flag(bool),
    /// No value (e.g. "never diverged"): an empty field.
    Missing,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Text(s) => f.write_str(s),
            Field::Number(v) => write!(f, "{v:?}"),
            Field::Count(n) => write!(f, "{n}"),
            Field::Flag(b) => write!(f, "{b}"),
            Field::Missing => Ok(()),
        }
    }
}

impl From<f64> for Field {
    fn from(v: f64) -> Field {
        Field::Number(v)
    }
}

impl From<usize> for Field {
    fn from(n: usize) -> Field {
        Field::Count(n as u64)
    }
}

impl From<u64> for Field {
    fn from(n: u64) -> Field {
        Field::Count(n)
    }
}

impl From<bool> for Field {
    fn from(b: bool) -> Field {
        Field::Flag(b)
    }
}

impl From<&str> for Field {
    fn from(s: &str) -> Field {
        Field::Text(s.to_string())
    }
}

impl From<String> for Field {
    fn from(s: String) -> Field {
        Field::Text(s)
    }
}

impl<T: Into<Field>> From<Option<T>> for Field {
    fn from(v: Option<T>) -> Field {
        v.map_or(Field::Missing, Into::into)
    }
}

/// One row as (column name, field) pairs, in column order.
pub type Record = Vec<(String, Field)>;

/// What can go wrong building or writing a table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A row's columns differ from the table's.
    #[error("CSV row {row} has the columns [{found}], expected [{expected}]")]
    Columns {
        /// The row (0-based, header excluded).
        row: usize,
        /// Its column names, comma-separated.
        found: String,
        /// The table's, comma-separated.
        expected: String,
    },
    /// A column asked for is not in the table.
    #[error("no CSV column `{0}`")]
    UnknownColumn(String),
    /// A value cannot be a CSV row or field (see [`crate::record_of`]).
    #[error("cannot write a CSV row: {0}")]
    Row(String),
    /// The CSV encoder failed.
    #[error("cannot encode CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// A CSV table: a header and rows of fields, one per column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Field>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: Vec<String>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    /// The table of serialisable rows (structs of plain fields, see [`crate::record_of`]):
    /// one column per field, in declaration order, so a new field is a new column.
    pub fn from_rows<T: serde::Serialize>(
        rows: impl IntoIterator<Item = T>,
    ) -> Result<Table, TableError> {
        let records = rows
            .into_iter()
            .map(|row| crate::record_of(&row))
            .collect::<Result<Vec<_>, _>>()?;
        Table::from_records(records)
    }

    /// The table of `records`: the first one names the columns, every other must have the
    /// same names in the same order. No records: no columns.
    pub fn from_records(records: impl IntoIterator<Item = Record>) -> Result<Table, TableError> {
        let mut records = records.into_iter().peekable();
        let columns = records
            .peek()
            .map(|r| r.iter().map(|(name, _)| name.clone()).collect())
            .unwrap_or_default();
        let mut table = Table::new(columns);
        for record in records {
            table.push(record)?;
        }
        Ok(table)
    }

    /// Appends a row; its names must equal the table's columns.
    pub fn push(&mut self, record: Record) -> Result<(), TableError> {
        let same = record.len() == self.columns.len()
            && record.iter().zip(&self.columns).all(|((n, _), c)| n == c);
        if !same {
            return Err(TableError::Columns {
                row: self.rows.len(),
                found: record
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                expected: self.columns.join(","),
            });
        }
        self.rows.push(record.into_iter().map(|(_, f)| f).collect());
        Ok(())
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows, each one field per column.
    pub fn rows(&self) -> &[Vec<Field>] {
        &self.rows
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table of the named columns only, in the order given.
    pub fn select(&self, columns: &[&str]) -> Result<Table, TableError> {
        let index = columns
            .iter()
            .map(|c| {
                self.columns
                    .iter()
                    .position(|name| name == c)
                    .ok_or_else(|| TableError::UnknownColumn(c.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: self
                .rows
                .iter()
                .map(|row| index.iter().map(|&i| row[i].clone()).collect())
                .collect(),
        })
    }

    /// The CSV text: the header, then one line per row.
    pub fn to_csv(&self) -> Result<Vec<u8>, TableError> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        if !self.columns.is_empty() {
            writer.write_record(&self.columns)?;
        }
        for row in &self.rows {
            writer.write_record(row.iter().map(Field::to_string))?;
        }
        writer
            .into_inner()
            .map_err(|e| TableError::Csv(e.into_error().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pairs: &[(&str, Field)]) -> Record {
        pairs
            .iter()
            .map(|(n, f)| (n.to_string(), f.clone()))
            .collect()
    }

    #[test]
    fn writes_every_kind_of_field_and_round_trips_numbers() {
        let table = Table::from_records([
            record(&[
                ("panel", "logistic snr=0.05".into()),
                ("x", 0.1.into()),
                ("n", 3usize.into()),
                ("ok", true.into()),
                ("at", Field::Missing),
            ]),
            record(&[
                ("panel", "a,b".into()),
                ("x", f64::NAN.into()),
                ("n", 0usize.into()),
                ("ok", false.into()),
                ("at", Some(1e-7).into()),
            ]),
        ])
        .unwrap();
        let text = String::from_utf8(table.to_csv().unwrap()).unwrap();
        assert_eq!(
            text,
            "panel,x,n,ok,at\nlogistic snr=0.05,0.1,3,true,\n\"a,b\",NaN,0,false,1e-7\n"
        );
        for v in [1.0 / 3.0, 2e-300, 1e16, -0.5, f64::INFINITY] {
            let back: f64 = Field::Number(v).to_string().parse().unwrap();
            assert_eq!(back, v);
        }
    }

    #[test]
    fn rows_must_match_the_header_and_select_keeps_the_named_columns() {
        let mut table =
            Table::from_records([record(&[("a", 1.0.into()), ("b", 2.0.into())])]).unwrap();
        let err = table
            .push(record(&[("a", 1.0.into()), ("c", 2.0.into())]))
            .unwrap_err();
        assert!(
            err.to_string().contains("a,c") && err.to_string().contains("a,b"),
            "{err}"
        );
        let b = table.select(&["b"]).unwrap();
        assert_eq!(String::from_utf8(b.to_csv().unwrap()).unwrap(), "b\n2.0\n");
        assert!(
            table
                .select(&["z"])
                .unwrap_err()
                .to_string()
                .contains("`z`")
        );
        assert!(
            Table::from_records([])
                .unwrap()
                .to_csv()
                .unwrap()
                .is_empty()
        );
    }
}
