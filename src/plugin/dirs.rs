//! Where plugins are looked for.

use std::path::{Path, PathBuf};

/// Why a directory is searched (shown by `rolecall plugins -v`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginDir {
    pub path: PathBuf,
    /// In a build-output directory only `librolecall_*` libraries are plugins: the workspace's
    /// test fixtures and other crates' libraries sit there too.
    pub shipped_only: bool,
    /// Named by the user (flag or environment): a missing one is worth a warning.
    pub explicit: bool,
}

/// Plugin directories in search order: `flags`, then `env_path` (colon-separated), then the
/// defaults: `plugins/` beside the executable, the executable's own directory when it is a
/// cargo build output (`target/debug`, `target/release`), and the user data directory
/// (`$XDG_DATA_HOME/rolecall/plugins`, or `~/.local/share/rolecall/plugins`), and
/// `<prefix>/lib/rolecall/plugins` for an executable in `<prefix>/bin`. Paths are made absolute;
/// duplicates are dropped.
pub fn search_path(flags: &[PathBuf], env_path: Option<&str>, exe: Option<&Path>) -> Vec<PluginDir> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut out: Vec<PluginDir> = Vec::new();
    let mut push = |p: PathBuf, shipped_only: bool, explicit: bool| {
        let abs = if p.is_absolute() { p } else { cwd.join(p) };
        if !out.iter().any(|d| d.path == abs) {
            out.push(PluginDir {
                path: abs,
                shipped_only,
                explicit,
            });
        }
    };
    for f in flags {
        push(f.clone(), false, true);
    }
    for p in env_path.unwrap_or("").split(':').filter(|s| !s.is_empty()) {
        push(PathBuf::from(p), false, true);
    }
    if let Some(dir) = exe.and_then(Path::parent) {
        push(dir.join("plugins"), false, false);
        let is_build_output = dir.file_name().is_some_and(|n| n == "debug" || n == "release")
            && dir
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == "target");
        if is_build_output {
            push(dir.to_path_buf(), true, false);
        }
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    if let Some(data) = data {
        push(data.join("rolecall/plugins"), false, false);
    }
    // An installed rolecall (`<prefix>/bin/rolecall`) finds `<prefix>/lib/rolecall/plugins`.
    if let Some(prefix) = exe
        .and_then(Path::parent)
        .filter(|d| d.file_name().is_some_and(|n| n == "bin"))
        .and_then(Path::parent)
    {
        push(prefix.join("lib/rolecall/plugins"), false, false);
    }
    out
}

/// The file name suffix of shared libraries on this platform.
pub const LIB_SUFFIX: &str = std::env::consts::DLL_SUFFIX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_flags_env_then_defaults() {
        let exe = Path::new("/w/target/debug/rolecall");
        let dirs = search_path(&[PathBuf::from("/a")], Some("/b:/a:"), Some(exe));
        let paths: Vec<_> = dirs
            .iter()
            .map(|d| d.path.to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            &paths[..4],
            ["/a", "/b", "/w/target/debug/plugins", "/w/target/debug"]
        );
        assert!(dirs[3].shipped_only && !dirs[0].shipped_only);
        let dirs = search_path(&[], None, Some(Path::new("/usr/local/bin/rolecall")));
        assert_eq!(
            dirs.last().map(|d| d.path.clone()),
            Some(PathBuf::from("/usr/local/lib/rolecall/plugins"))
        );
    }
}
