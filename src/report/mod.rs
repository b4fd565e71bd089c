//! Output: one [`Printer`] owns stdout and stderr; renderers turn models into text for it. The
//! top layer below the CLI: it reads the results model, and nothing below imports it.

pub mod checks;
pub mod debug;
pub mod fanout;
pub mod fold;
pub mod html;
pub mod printer;
pub mod roles;

pub use crate::progress;
pub use crate::text::safe;

pub use printer::{ColorChoice, Printer};

/// Which results the tables show in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Show {
    /// Errors, failures and warnings in full (folded across hosts); each plugin's passes and
    /// skips as one line.
    #[default]
    Problems,
    /// Errors and failures only; nothing for plugins without them.
    Failed,
    /// Every result, folded across hosts.
    All,
}
