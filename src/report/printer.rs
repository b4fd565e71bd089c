//! The one printer: data to stdout, diagnostics to stderr, colour decided once.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    Always,
    Never,
}

/// `NO_COLOR` (<https://no-color.org>): any non-empty value disables colour.
pub const NO_COLOR_ENV: &str = "NO_COLOR";

/// Owns the process's output streams.
#[derive(Debug, Clone)]
pub struct Printer {
    color: bool,
    err_color: bool,
    quiet: bool,
    verbose: u8,
    /// Text never printed as is: (what, shown instead), see [`Printer::hide`].
    hidden: Arc<Mutex<Vec<(String, String)>>>,
}

/// Values shorter than this are not hidden (a `${PORT}` of `22` would mangle every number).
const MIN_HIDDEN: usize = 4;

impl Printer {
    /// From now on, print `${NAME}` wherever one of these `(NAME, value)` pairs' value would
    /// appear, in data and diagnostics alike (values the deployment took from the environment:
    /// passwords, tokens). JSON output is covered in its escaped form too.
    pub fn hide(&self, from_env: &[(String, String)]) {
        let mut hidden = self.hidden.lock().unwrap_or_else(|p| p.into_inner());
        for (name, value) in from_env.iter().filter(|(_, v)| v.len() >= MIN_HIDDEN) {
            let shown = format!("${{{name}}}");
            let escaped = serde_json::to_string(value).unwrap_or_default();
            let escaped = escaped.trim_matches('"');
            if escaped != value {
                hidden.push((escaped.to_string(), shown.clone()));
            }
            hidden.push((value.clone(), shown));
        }
        // Longest first, so a value containing another is replaced whole.
        hidden.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    }

    fn redact<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let hidden = self.hidden.lock().unwrap_or_else(|p| p.into_inner());
        let mut text = std::borrow::Cow::Borrowed(text);
        for (value, shown) in hidden.iter() {
            if text.contains(value.as_str()) {
                text = std::borrow::Cow::Owned(text.replace(value.as_str(), shown));
            }
        }
        text
    }

    pub fn new(choice: ColorChoice, quiet: bool, verbose: u8) -> Self {
        let no_color = std::env::var_os(NO_COLOR_ENV).is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        let color = decide(io::stdout().is_terminal());
        let err_color = decide(io::stderr().is_terminal());
        colored::control::set_override(color);
        Self {
            color,
            err_color,
            quiet,
            verbose,
            hidden: Arc::default(),
        }
    }

    /// A printer that never colours (tests).
    pub fn plain() -> Self {
        Self {
            color: false,
            err_color: false,
            quiet: false,
            verbose: 0,
            hidden: Arc::default(),
        }
    }

    /// Whether data on stdout is coloured.
    pub fn color(&self) -> bool {
        self.color
    }

    /// `-q`: only errors, warnings and the essentials.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// `text` as written to a file: hidden values replaced, colour codes removed.
    pub fn plain_text(&self, text: &str) -> String {
        strip_ansi(&self.redact(text))
    }

    pub fn verbose(&self) -> u8 {
        self.verbose
    }

    /// A progress line on stderr (see [`super::progress`]); never with `-q`.
    pub fn progress(&self, len: Option<u64>, label: &str) -> super::progress::Progress {
        super::progress::Progress::new(!self.quiet, len, label)
    }

    /// Write data to stdout, whole. A closed pipe (`rolecall roles | head`) is not an error.
    pub fn out(&self, text: &str) -> io::Result<()> {
        let text = self.redact(text);
        let mut out = io::stdout().lock();
        let r = out.write_all(text.as_bytes()).and_then(|()| {
            if !text.ends_with('\n') && !text.is_empty() {
                out.write_all(b"\n")?;
            }
            out.flush()
        });
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }

    /// `error: ...` on stderr; the first line of `message` is the error, the rest (hints,
    /// causes) follows as written.
    pub fn error(&self, message: &str) {
        self.diag("error", colored::Color::Red, message);
    }

    /// `text` on stderr as it is (escaped for the terminal): a usage error already rendered.
    pub fn err_raw(&self, text: &str) -> io::Result<()> {
        let mut err = io::stderr().lock();
        err.write_all(super::safe::escape(&self.redact(text)).as_bytes())?;
        err.flush()
    }

    /// `warning: ...` on stderr (shown even with `-q`: warnings are about safety).
    pub fn warn(&self, message: &str) {
        self.diag("warning", colored::Color::Yellow, message);
    }

    /// A progress or summary note on stderr; silenced by `-q`.
    pub fn note(&self, message: &str) {
        if !self.quiet {
            let _ = writeln!(
                io::stderr().lock(),
                "{}",
                super::safe::escape(&self.redact(message))
            );
        }
    }

    fn diag(&self, label: &str, color: colored::Color, message: &str) {
        let label = if self.err_color {
            format!("\x1b[1;{}m{label}\x1b[0m", color.to_fg_str())
        } else {
            label.to_string()
        };
        let _ = writeln!(
            io::stderr().lock(),
            "{label}: {}",
            super::safe::escape(&self.redact(message))
        );
    }
}

/// `text` without ANSI escape sequences (CSI `ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}
