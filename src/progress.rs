//! Progress of long work on stderr, behind [`frontier_common::Progress`] (the libraries only
//! call it): a bar with an ETA when stderr is a terminal, a plain line every few seconds when
//! it is not (a log file, CI), nothing with `--quiet`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use frontier_common::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// Seconds between two progress lines off a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// How progress and notes reach the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing on stderr (`--quiet`).
    Quiet,
    /// A bar redrawn in place (stderr is a terminal).
    Bar,
    /// A line every few seconds (stderr is a file or a pipe).
    Lines,
}

impl Mode {
    /// Quiet when asked, else a bar on a terminal and lines elsewhere.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }

    /// Prints a note (one line on stderr) unless quiet.
    pub fn note(self, line: impl std::fmt::Display) {
        if self != Mode::Quiet {
            eprintln!("{line}");
        }
    }

    /// Prints a warning (one line on stderr, `warning: …`), even when quiet.
    pub fn warn(self, line: impl std::fmt::Display) {
        eprintln!("warning: {line}");
    }

    /// A reporter for one piece of work named `label` (e.g. "figure4 (4 of 7) · logistic
    /// snr=0.05").
    pub fn reporter(self, label: impl Into<String>) -> Reporter {
        Reporter {
            mode: self,
            label: label.into(),
            state: Mutex::new(State {
                total: 0,
                done: 0,
                stage: String::new(),
                started: Instant::now(),
                last_line: Instant::now(),
                bar: None,
            }),
        }
    }
}

/// Reports one piece of work (a grid, a figure's runs); the bar disappears when dropped.
pub struct Reporter {
    mode: Mode,
    label: String,
    state: Mutex<State>,
}

struct State {
    total: usize,
    done: usize,
    stage: String,
    started: Instant,
    last_line: Instant,
    bar: Option<ProgressBar>,
}

impl Progress for Reporter {
    fn start(&self, total: usize) {
        let mut s = self.state.lock().expect("not poisoned");
        s.total = total;
        s.done = 0;
        s.started = Instant::now();
        s.last_line = s.started;
        if self.mode == Mode::Bar {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} {msg} [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(self.label.clone());
            bar.set_message(s.stage.clone());
            s.bar = Some(bar);
        }
    }

    fn stage(&self, what: &str) {
        let mut s = self.state.lock().expect("not poisoned");
        s.stage = what.to_string();
        if let Some(bar) = &s.bar {
            bar.set_message(what.to_string());
        }
    }

    fn advance(&self, units: usize) {
        let mut s = self.state.lock().expect("not poisoned");
        s.done += units;
        if let Some(bar) = &s.bar {
            bar.inc(units as u64);
        }
        if self.mode == Mode::Lines && s.last_line.elapsed() >= LINE_EVERY {
            s.last_line = Instant::now();
            let elapsed = s.started.elapsed().as_secs_f64();
            let eta = elapsed / s.done as f64 * s.total.saturating_sub(s.done) as f64;
            let stage = if s.stage.is_empty() {
                String::new()
            } else {
                format!("{} ", s.stage)
            };
            eprintln!(
                "{}: {stage}{}/{} ({elapsed:.0} s, ETA {eta:.0} s)",
                self.label, s.done, s.total
            );
        }
    }

    fn warn(&self, line: &str) {
        let s = self.state.lock().expect("not poisoned");
        match &s.bar {
            Some(bar) => bar.suspend(|| self.mode.warn(line)),
            None => self.mode.warn(line),
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some(bar) = self.state.get_mut().ok().and_then(|s| s.bar.take()) {
            bar.finish_and_clear();
        }
    }
}
