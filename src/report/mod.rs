//! Output: one [`Printer`] owns stdout and stderr; renderers turn models into text for it.

pub mod checks;
pub mod debug;
pub mod fanout;
pub mod printer;
pub mod progress;
pub mod roles;
pub mod safe;

pub use printer::{ColorChoice, Printer};

/// The output formats a command can render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Format {
    #[default]
    Table,
    Json,
    Junit,
}
