//! The host side of the plugin boundary: where plugins are looked for ([`dirs`]), which
//! libraries are trusted ([`loader`]), and how a plugin is called ([`call`]): always in a
//! plugin-host process of its own ([`host`], [`process`], [`wire`]), so no plugin can take the
//! run down.
//!
//! Load order, which is also the order validators run in: plugin directories in order
//! (`--plugin-dir` flags, then `ROLECALL_PLUGIN_PATH`, then the defaults), files by name within
//! a directory, plugins in the order their library declares them. When two plugins share a name,
//! the first loaded wins and a warning names both files.

pub mod call;
pub mod dirs;
mod elf;
pub mod host;
mod library;
pub mod loader;
pub mod process;
pub(crate) mod reap;
pub mod wire;

use std::fmt;
use std::path::PathBuf;

/// Colon-separated plugin directories, searched after `--plugin-dir`.
pub const PLUGIN_PATH_ENV: &str = "ROLECALL_PLUGIN_PATH";

/// What a plugin does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PluginKind {
    Validator,
    Debugger,
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Validator => "validator",
            Self::Debugger => "debugger",
        })
    }
}

/// A plugin ready to run: its library is loaded by a plugin host for each call.
#[derive(Debug, Clone)]
pub struct Plugin {
    pub name: String,
    pub kind: PluginKind,
    pub description: String,
    pub module: String,
    pub version: String,
    pub library: PathBuf,
    /// The `expect` keys it declares it reads.
    pub expect: Vec<rolecall_plugin::ExpectKey>,
}

/// A library that could not be loaded, and why (one line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProblem {
    pub file: PathBuf,
    pub reason: String,
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.reason)
    }
}

/// Everything found in the plugin directories.
#[derive(Debug, Default)]
pub struct Registry {
    pub plugins: Vec<Plugin>,
    pub problems: Vec<LoadProblem>,
    pub warnings: Vec<String>,
    /// Directories searched, in order.
    pub searched: Vec<PathBuf>,
}

impl Registry {
    pub fn of_kind(&self, kind: PluginKind) -> impl Iterator<Item = &Plugin> {
        self.plugins.iter().filter(move |p| p.kind == kind)
    }
}
