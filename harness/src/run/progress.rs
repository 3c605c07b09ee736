//! The progress line on stderr (phase, time into the phase, ops ok/fail/info), drawn only when stderr is a
//! terminal: indicatif hides its bar otherwise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::core::Progress;

/// The progress line.
#[derive(Debug)]
pub(crate) struct ProgressLine {
    bar: ProgressBar,
    last: std::cell::Cell<Option<std::time::Instant>>,
}

impl ProgressLine {
    pub(crate) fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5));
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
            bar.set_style(style);
        }
        ProgressLine { bar, last: std::cell::Cell::new(None) }
    }

    pub(crate) fn update(&self, p: &Progress) {
        // The bar draws at 5 Hz; the loop turns thousands of times a second, so format the line no more often.
        if self.bar.is_hidden() || self.last.get().is_some_and(|t| t.elapsed().as_millis() < 200) {
            return;
        }
        self.last.set(Some(std::time::Instant::now()));
        self.bar.set_message(line(p));
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

/// The text of the line: the phase, seconds into it of its length for the timed phases (the main phase's time
/// limit, the recovery sleep), and the completions so far.
pub(crate) fn line(p: &Progress) -> String {
    let clock = match p.clock {
        Some((at, len)) => format!("{at:6.1}/{len:.0} s"),
        None => " ".repeat(10),
    };
    let c = p.counts;
    format!("{:<8} {clock}   ok {}  fail {}  info {}", p.phase, c.ok, c.fail, c.info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::core::Counts;

    #[test]
    fn each_timed_phase_counts_against_its_own_length() {
        let counts = Counts { ok: 3, fail: 1, info: 0 };
        let main = Progress { phase: "main", clock: Some((4.25, 20.0)), counts };
        assert_eq!(line(&main), "main        4.2/20 s   ok 3  fail 1  info 0");
        let recovery = Progress { phase: "recovery", clock: Some((7.7, 10.0)), counts };
        assert!(line(&recovery).starts_with("recovery    7.7/10 s"), "{}", line(&recovery));
        let heal = Progress { phase: "heal", clock: None, counts };
        assert!(!line(&heal).contains('/'), "{}", line(&heal));
    }
}
