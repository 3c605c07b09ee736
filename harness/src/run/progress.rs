//! The progress line on stderr (phase, elapsed of the time limit, ops ok/fail/info), drawn only when stderr is a
//! terminal: indicatif hides its bar otherwise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Completions so far.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) ok: u64,
    pub(crate) fail: u64,
    pub(crate) info: u64,
}

/// The progress line.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    time_limit_s: u64,
    last: std::cell::Cell<Option<std::time::Instant>>,
}

impl Progress {
    pub(crate) fn new(time_limit_s: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(time_limit_s.max(1)), ProgressDrawTarget::stderr_with_hz(5));
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
            bar.set_style(style);
        }
        Progress { bar, time_limit_s, last: std::cell::Cell::new(None) }
    }

    pub(crate) fn update(&self, phase: &str, elapsed_s: f64, c: &Counts) {
        // The bar draws at 5 Hz; the loop turns thousands of times a second, so format the line no more often.
        if self.bar.is_hidden() || self.last.get().is_some_and(|t| t.elapsed().as_millis() < 200) {
            return;
        }
        self.last.set(Some(std::time::Instant::now()));
        self.bar.set_message(format!(
            "{phase:<8} {elapsed_s:6.1}/{} s   ok {}  fail {}  info {}",
            self.time_limit_s, c.ok, c.fail, c.info
        ));
        self.bar.tick();
    }

    /// Runs `f` (which logs) with the bar cleared, so lines do not tear.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
