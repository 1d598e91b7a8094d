//! Memory budgets: every command estimates the memory it will need from its sizes (a config, the
//! shapes in a tensor file's header, its flags) before it allocates anything, and refuses with
//! the estimate when it exceeds the budget: `--max-memory`, else 3/4 of physical memory.
//!
//! The estimates are sums of named terms, each a count of the large arrays a command holds at
//! its peak (calibrated against measured peak resident memory; see `docs/memory.md`): they are
//! upper estimates of the peak, not exact accounts.

use std::path::Path;

use anyhow::{Result, bail};

/// The most memory a command may use, in bytes.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Bytes (`f64::INFINITY`: no limit).
    pub bytes: f64,
    /// Where the number comes from, for messages.
    pub source: String,
}

/// The fraction of physical memory a command may use when `--max-memory` is not given: the
/// rest is left to the system and to other programs.
pub const DEFAULT_FRACTION: f64 = 0.75;

impl Budget {
    /// The budget of `--max-memory` (e.g. `8GiB`, `512MB`, `1e9`, `unlimited`), else
    /// [`DEFAULT_FRACTION`] of the physical memory the OS reports (no limit where it reports
    /// none).
    pub fn new(flag: Option<&str>) -> Result<Budget> {
        if let Some(text) = flag {
            let bytes = parse_size(text).map_err(|why| {
                anyhow::anyhow!("--max-memory `{text}`: {why} (e.g. 8GiB, 512MB, unlimited)")
            })?;
            return Ok(Budget {
                bytes,
                source: format!("--max-memory {text}"),
            });
        }
        Ok(match physical_memory() {
            Some(total) => Budget {
                bytes: DEFAULT_FRACTION * total,
                source: format!(
                    "3/4 of the {} of physical memory; change it with --max-memory",
                    human(total)
                ),
            },
            None => Budget {
                bytes: f64::INFINITY,
                source: "no limit: the OS does not report its memory".into(),
            },
        })
    }
}

/// Total physical memory in bytes (`MemTotal` of /proc/meminfo), when the OS reports it.
fn physical_memory() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// A size in bytes: a positive number with an optional unit B, kB/KB/MB/GB/TB (powers of 1000)
/// or KiB/MiB/GiB/TiB (powers of 1024), case-insensitive; or `unlimited`.
pub fn parse_size(text: &str) -> std::result::Result<f64, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("unlimited") {
        return Ok(f64::INFINITY);
    }
    let split = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphabetic())
        .last()
        .map_or(text.len(), |(i, _)| i);
    let (number, unit) = text.split_at(split);
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown unit `{other}`")),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a number", number.trim()))?;
    if !(value.is_finite() && value > 0.0) {
        return Err("expected a size > 0".into());
    }
    Ok(value * scale)
}

/// `bytes` with a binary unit, e.g. "1.5 GiB".
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes;
    for unit in UNITS {
        if value < 1024.0 || unit == "EiB" {
            return if unit == "bytes" {
                format!("{value:.0} bytes")
            } else if value < 1e6 {
                format!("{value:.1} {unit}")
            } else {
                format!("{bytes:.2e} bytes")
            };
        }
        value /= 1024.0;
    }
    unreachable!("the last unit returns")
}

/// What one command will hold at its peak: named terms in bytes.
#[derive(Debug, Clone)]
pub struct Estimate {
    command: &'static str,
    terms: Vec<(String, f64)>,
}

impl Estimate {
    /// An empty estimate for `command` (e.g. "frontier train").
    pub fn new(command: &'static str) -> Self {
        Self {
            command,
            terms: Vec::new(),
        }
    }

    /// Adds `copies` arrays of `values` elements of `bytes_per` bytes each, described by `what`.
    pub fn arrays(
        mut self,
        what: impl Into<String>,
        copies: f64,
        values: f64,
        bytes_per: f64,
    ) -> Self {
        self.terms.push((what.into(), copies * values * bytes_per));
        self
    }

    /// The total, bytes.
    pub fn total(&self) -> f64 {
        self.terms.iter().map(|(_, b)| b).sum()
    }

    /// Errors when the total exceeds `budget`, with the total and the largest terms.
    pub fn check(&self, budget: &Budget) -> Result<()> {
        let total = self.total();
        if total <= budget.bytes {
            return Ok(());
        }
        let mut terms = self.terms.clone();
        terms.sort_by(|a, b| b.1.total_cmp(&a.1));
        let largest: Vec<String> = terms
            .iter()
            .take(3)
            .filter(|(_, b)| *b > 0.0)
            .map(|(what, b)| format!("{what}: {}", human(*b)))
            .collect();
        bail!(
            "{} would need about {} of memory, more than the budget of {} ({}); the largest \
             parts: {}",
            self.command,
            human(total),
            human(budget.bytes),
            budget.source,
            largest.join("; ")
        )
    }
}

/// Peak resident memory of each figure at full scale, bytes, measured with `/usr/bin/time -f
/// %M frontier heatmap --only NAME` on this project's 2-core CPU (CNN; figure 6 as figure 4,
/// whose grids it reuses). Their sizes are fixed in the code, so the estimate of
/// `frontier heatmap` is the largest of the selected figures, doubled for headroom.
const FIGURE_PEAKS: [(&str, f64); 7] = [
    ("figure1", 42e6),
    ("figure2", 54e6),
    ("figure3", 368e6),
    ("figure4", 102e6),
    ("figure5", 190e6),
    ("figure6", 102e6),
    ("figure7", 117e6),
];

/// The names of the committed figures.
pub fn figure_names() -> Vec<&'static str> {
    FIGURE_PEAKS.iter().map(|(name, _)| *name).collect()
}

/// The estimate of running the figures `names` one after the other under `command`.
pub fn figures(command: &'static str, names: &[&str]) -> Estimate {
    let largest = FIGURE_PEAKS
        .iter()
        .filter(|(name, _)| names.contains(name))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let mut e = Estimate::new(command);
    if let Some((name, peak)) = largest {
        e = e.arrays(format!("{name} (measured peak, doubled)"), 2.0, *peak, 1.0);
    }
    e
}

/// What a safetensors file's header says, read and checked without its data.
pub use frontier_model::TensorHeader as Header;

/// Reads and checks the header of the safetensors file `path`, not its data, through the
/// project's one safetensors reader (the same checks as reading the whole file).
pub fn read_header(path: &Path) -> Result<Header> {
    Ok(Header::read(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_decimal_and_binary_units() {
        for (text, bytes) in [
            ("8GiB", 8.0 * 1024f64.powi(3)),
            ("8 gib", 8.0 * 1024f64.powi(3)),
            ("512MB", 512e6),
            ("1e9", 1e9),
            ("1.5KiB", 1536.0),
            ("100b", 100.0),
        ] {
            let got = parse_size(text).unwrap();
            assert_eq!(got, bytes, "{text}: rust={got}, reference={bytes}");
        }
        assert_eq!(parse_size("unlimited").unwrap(), f64::INFINITY);
        for bad in ["", "GiB", "-1GiB", "0", "8 parsecs", "nan", "inf"] {
            assert!(parse_size(bad).is_err(), "`{bad}` was accepted");
        }
    }

    #[test]
    fn an_estimate_over_budget_names_its_largest_parts() {
        let budget = Budget {
            bytes: 1e6,
            source: "test".into(),
        };
        let small = Estimate::new("frontier x").arrays("a", 1.0, 1000.0, 8.0);
        assert!(small.check(&budget).is_ok());
        let big = small.arrays("Gram n×n", 1.0, 1e6, 8.0);
        let message = big.check(&budget).unwrap_err().to_string();
        assert!(
            message.contains("frontier x") && message.contains("Gram n×n: 7.6 MiB"),
            "{message}"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512.0), "512 bytes");
        assert_eq!(human(1536.0), "1.5 KiB");
        assert_eq!(human(20e9), "18.6 GiB");
        assert_eq!(human(1e30), "1.00e30 bytes");
    }
}
