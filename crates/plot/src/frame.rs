//! The frame around every panel: a title on top, a caption under the plot, both wrapped to
//! the panel width, and the shared text styles.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::Result;
use crate::font::FAMILY;

/// A pixel position (x right, y down), plotters' `BackendCoord`.
pub(crate) type Px = (i32, i32);

/// Default size of one panel in pixels (width, height).
pub const PANEL_SIZE: (u32, u32) = (900, 700);

pub(crate) const TITLE_PX: u32 = 22;
pub(crate) const CAPTION_PX: u32 = 15;
pub(crate) const AXIS_LABEL_PX: u32 = 17;
pub(crate) const TICK_PX: u32 = 15;
pub(crate) const LEGEND_PX: u32 = 15;

pub(crate) fn style(px: u32) -> TextStyle<'static> {
    (FAMILY, px).into_font().color(&BLACK)
}

/// Fills `area` white, draws `title` (centred) and `caption` (left-aligned, under the plot)
/// and returns the area left between them for the plot itself.
pub(crate) fn frame<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    caption: &str,
) -> Result<DrawingArea<DB, Shift>> {
    area.fill(&WHITE)?;
    let (w, h) = area.dim_in_pixel();
    let max_w = w.saturating_sub(40);
    let (title_style, caption_style) = (style(TITLE_PX), style(CAPTION_PX));
    let measure = |s: &str, st: &TextStyle| area.estimate_text_size(s, st).map(|d| d.0);
    let title_lines = wrap(title, max_w, |s| measure(s, &title_style))?;
    let caption_lines = wrap(caption, max_w, |s| measure(s, &caption_style))?;
    let title_line_h = TITLE_PX as i32 + 6;
    let caption_line_h = CAPTION_PX as i32 + 5;
    let top = 10 + title_line_h * title_lines.len() as i32;
    let bottom = 16 + caption_line_h * caption_lines.len() as i32;

    for (i, line) in title_lines.iter().enumerate() {
        let lw = measure(line, &title_style)? as i32;
        area.draw_text(
            line,
            &title_style,
            ((w as i32 - lw) / 2, 8 + title_line_h * i as i32),
        )?;
    }
    let y0 = h as i32 - bottom + 12;
    for (i, line) in caption_lines.iter().enumerate() {
        area.draw_text(line, &caption_style, (20, y0 + caption_line_h * i as i32))?;
    }
    let body = area.clone().margin(top, bottom, 0, 0);
    Ok(body)
}

/// Splits `text` into lines no wider than `max_w` pixels as measured by `measure`.
/// Explicit newlines are kept; lines break preferably after "; " separators, otherwise
/// between words; a single word wider than `max_w` stays on its own line.
pub(crate) fn wrap<E>(
    text: &str,
    max_w: u32,
    mut measure: impl FnMut(&str) -> Result<u32, E>,
) -> Result<Vec<String>, E> {
    let mut lines = Vec::new();
    for paragraph in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut current = String::new();
        for part in paragraph.split("; ").filter(|p| !p.trim().is_empty()) {
            // Re-attach the separator that `split` removed to the previous part.
            if !current.is_empty() {
                current.push(';');
            }
            let candidate = join(&current, part);
            if measure(&candidate)? <= max_w {
                current = candidate;
                continue;
            }
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            // The part alone may still be too wide: wrap it by words.
            for word in part.split_whitespace() {
                let candidate = join(&current, word);
                if current.is_empty() || measure(&candidate)? <= max_w {
                    current = candidate;
                } else {
                    lines.push(std::mem::replace(&mut current, word.to_string()));
                }
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
    }
    Ok(lines)
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a} {b}")
    }
}

#[cfg(test)]
mod tests {
    use super::wrap;

    fn chars(s: &str) -> Result<u32, ()> {
        Ok(s.chars().count() as u32)
    }

    #[test]
    fn wraps_at_semicolons_then_words() {
        let text = "agreement: coherence 0.91; rho(T)=1 0.97; gamma=0 0.88";
        assert_eq!(wrap(text, 100, chars).unwrap(), vec![text.to_string()]);
        assert_eq!(
            wrap(text, 30, chars).unwrap(),
            vec!["agreement: coherence 0.91;", "rho(T)=1 0.97; gamma=0 0.88"]
        );
        let lines = wrap("one two three four five", 9, chars).unwrap();
        assert_eq!(lines, vec!["one two", "three", "four five"]);
        assert_eq!(wrap("", 10, chars).unwrap(), Vec::<String>::new());
        assert_eq!(wrap("a\nb", 10, chars).unwrap(), vec!["a", "b"]);
    }
}
