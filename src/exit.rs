//! Exit codes: the contract scripts and CI rely on. Documented in `--help` and the README.

/// What a run's exit code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Every check passed.
    Ok = 0,
    /// At least one check failed.
    ChecksFailed = 1,
    /// Usage, configuration or plugin-load error.
    Error = 2,
    /// Some hosts were unreachable, timed out or refused: the results are incomplete.
    Incomplete = 3,
    /// Interrupted (Ctrl-C, SIGTERM): the results are partial; 128 + SIGINT, as shells say.
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The exit-code table as shown by `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  every check passed
  1  at least one check failed
  2  usage, configuration or plugin-load error
  3  some hosts were unreachable, timed out or refused (results incomplete)
130  interrupted (Ctrl-C or SIGTERM): partial results, marked `interrupted`";
