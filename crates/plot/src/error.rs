//! The crate's one error type.

use plotters::drawing::DrawingAreaErrorKind;

/// Everything that can go wrong while validating input or drawing a figure.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// An axis has no grid values where some are required.
    #[error("axis `{axis}`: no values (expected at least one grid value)")]
    EmptyAxis { axis: String },
    /// An axis value is NaN or infinite.
    #[error("axis `{axis}`: value {value} at index {index} is not finite")]
    NonFiniteAxis {
        axis: String,
        index: usize,
        value: f64,
    },
    /// Axis values must be strictly ascending.
    #[error(
        "axis `{axis}`: values must be strictly ascending, but value {value} at index {index} \
         is not greater than the previous value {previous}"
    )]
    NotAscending {
        axis: String,
        index: usize,
        value: f64,
        previous: f64,
    },
    /// A log₂ axis holds a value ≤ 0.
    #[error("axis `{axis}` is log2 but value {value} at index {index} is not positive")]
    NonPositiveLog {
        axis: String,
        index: usize,
        value: f64,
    },
    /// `values.len()` differs from the number of y grid values.
    #[error(
        "heatmap `{title}`: values has {rows} rows but the y axis `{axis}` has {expected} values \
         (values is indexed values[iy][ix])"
    )]
    RowCount {
        title: String,
        axis: String,
        rows: usize,
        expected: usize,
    },
    /// A row of `values` differs in length from the number of x grid values.
    #[error(
        "heatmap `{title}`: row {row} of values has {len} entries but the x axis `{axis}` has \
         {expected} values (values is indexed values[iy][ix])"
    )]
    RowLength {
        title: String,
        axis: String,
        row: usize,
        len: usize,
        expected: usize,
    },
    /// The colour range is not finite or not increasing.
    #[error("heatmap `{title}`: colour range ({lo}, {hi}) must be finite with lo < hi")]
    BadRange { title: String, lo: f64, hi: f64 },
    /// A series' vectors have different lengths.
    #[error(
        "series `{label}`: x, mean and sd must have the same length (sd may be empty), \
         got x={x}, mean={mean}, sd={sd}"
    )]
    SeriesLength {
        label: String,
        x: usize,
        mean: usize,
        sd: usize,
    },
    /// A line plot without any series.
    #[error("line plot `{title}`: no series to draw")]
    NoSeries { title: String },
    /// A multi-panel figure was given no panels or zero columns.
    #[error("panels: {0}")]
    Panels(String),
    /// A categorical axis has a different number of names than values.
    #[error("axis `{axis}`: {names} names for {values} values")]
    AxisNames {
        axis: String,
        names: usize,
        values: usize,
    },
    /// The embedded font could not be registered with plotters.
    #[error("could not register the embedded DejaVuSans font with plotters")]
    Font,
    /// plotters failed while drawing.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// The drawing could not be encoded as PNG.
    #[error("could not encode the PNG: {0}")]
    Encode(String),
}

/// `Result` with [`PlotError`].
pub type Result<T, E = PlotError> = std::result::Result<T, E>;

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        PlotError::Draw(e.to_string())
    }
}
