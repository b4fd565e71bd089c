//! A progress line on stderr for long runs: shown only on a terminal, only once a run has taken
//! more than a second, and cleared when done. Nothing is drawn on pipes or with `-q`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run goes before the progress line appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// A progress line; cheap to clone and share across threads.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A line counting to `len` (or a spinner when `len` is `None`), prefixed with `label`.
    /// `enabled` is false for `-q`; a non-terminal stderr disables it too.
    pub fn new(enabled: bool, len: Option<u64>, label: &str) -> Self {
        let bar = match len {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::hidden()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
        };
        let template = if len.is_some() {
            "{prefix} [{elapsed}] {bar:30} {pos}/{len} {wide_msg}"
        } else {
            "{prefix} [{elapsed}] {spinner} {wide_msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_string());
        if enabled && std::io::stderr().is_terminal() {
            let later = bar.clone();
            std::thread::spawn(move || {
                std::thread::sleep(SHOW_AFTER);
                if !later.is_finished() {
                    later.set_draw_target(ProgressDrawTarget::stderr());
                    later.enable_steady_tick(Duration::from_millis(120));
                }
            });
        }
        Self { bar }
    }

    /// A progress line that never draws.
    pub fn hidden() -> Self {
        Self::new(false, None, "")
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    pub fn inc_length(&self, n: u64) {
        self.bar.inc_length(n);
    }

    pub fn message(&self, msg: String) {
        self.bar.set_message(msg);
    }

    /// Clear the line (the results follow on stdout).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
