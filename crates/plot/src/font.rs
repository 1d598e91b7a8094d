//! The embedded font: DejaVu Sans (licence in `assets/DejaVuSans-LICENSE.txt`), registered
//! with plotters as the "sans-serif" family so text renders without system font packages.

use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

use crate::error::{PlotError, Result};

static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The font family every text style in this crate uses.
pub(crate) const FAMILY: &str = "sans-serif";

/// Registers the embedded font once per process; later calls return the first outcome.
pub(crate) fn ensure_registered() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok =
        *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if ok { Ok(()) } else { Err(PlotError::Font) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn registers_twice_without_error() {
        super::ensure_registered().unwrap();
        super::ensure_registered().unwrap();
    }
}
