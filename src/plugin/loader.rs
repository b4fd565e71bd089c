//! Finding plugin libraries: every library of the configured directories, refused when someone
//! other than root or the invoking user owns it or could have written it (loading a library runs
//! its code), then described by a plugin host (`library.rs` does the loading itself).
//! Libraries are described in parallel, one plugin host each.
#![allow(unsafe_code)] // one geteuid(2)

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::call;
use super::dirs::{PluginDir, LIB_SUFFIX};
use super::{LoadProblem, Plugin, PluginKind, Registry};

/// Load every plugin library found in `dirs`.
pub fn load(dirs: &[PluginDir], allow_insecure: bool) -> Registry {
    let mut reg = Registry::default();
    let mut by_name: HashMap<String, PathBuf> = HashMap::new();
    let mut trusted: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        reg.searched.push(dir.path.clone());
        let entries = match std::fs::read_dir(&dir.path) {
            Ok(e) => e,
            Err(e) => {
                if dir.explicit {
                    reg.warnings.push(format!(
                        "plugin directory `{}` cannot be read: {e}",
                        dir.path.display()
                    ));
                }
                continue;
            }
        };
        if let Some(why) = insecure(&dir.path) {
            if allow_insecure {
                reg.warnings.push(format!(
                    "loading plugins from `{}` although {why}",
                    dir.path.display()
                ));
            } else {
                reg.problems.push(LoadProblem {
                    file: dir.path.clone(),
                    reason: format!(
                        "refused: {why}, so someone else could plant a plugin (or pass \
                         `--allow-insecure-plugins`)"
                    ),
                });
                continue;
            }
        }
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(LIB_SUFFIX))
            })
            .filter(|p| {
                !dir.shipped_only
                    || p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("librolecall_"))
            })
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            if let Some(why) = insecure(&file) {
                if allow_insecure {
                    reg.warnings
                        .push(format!("loading `{}` although {why}", file.display()));
                } else {
                    reg.problems.push(LoadProblem {
                        file,
                        reason: format!("refused: {why} (or pass `--allow-insecure-plugins`)"),
                    });
                    continue;
                }
            }
            trusted.push(file);
        }
    }
    // One plugin host per library, all at once; results kept in search order.
    let described: Vec<Result<Vec<Plugin>, LoadError>> = std::thread::scope(|s| {
        let handles: Vec<_> = trusted.iter().map(|f| s.spawn(move || load_library(f))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(LoadError::Internal)))
            .collect()
    });
    for (file, result) in trusted.into_iter().zip(described) {
        match result {
            Ok(plugins) => {
                for p in plugins {
                    if let Some(first) = by_name.get(&p.name) {
                        reg.warnings.push(format!(
                            "plugin `{}` from `{}` is ignored: `{}` already provides it",
                            p.name,
                            file.display(),
                            first.display()
                        ));
                        continue;
                    }
                    by_name.insert(p.name.clone(), file.clone());
                    reg.plugins.push(p);
                }
            }
            Err(e) => reg.problems.push(LoadProblem {
                file,
                reason: e.to_string(),
            }),
        }
    }
    reg
}

/// Why `path` cannot be trusted, if it cannot: owned by someone other than root or the user
/// running rolecall, or writable by its group or by everyone (OpenSSH's `StrictModes`).
fn insecure(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let owner = meta.uid();
    let mode = meta.permissions().mode();
    if owner != 0 && owner != me {
        Some(format!(
            "it is owned by uid {owner}, neither root nor you (fix with `chown`)"
        ))
    } else if mode & 0o002 != 0 {
        Some("it is writable by every user (fix with `chmod go-w`)".into())
    } else if mode & 0o020 != 0 {
        Some("it is writable by its group (fix with `chmod go-w`)".into())
    } else {
        None
    }
}

/// Why a plugin library was not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("cannot resolve path: {0}")]
    Resolve(String),
    #[error(transparent)]
    Elf(#[from] super::elf::ElfError),
    #[error(transparent)]
    Describe(#[from] call::DescribeError),
    #[error("plugin `{plugin}`: unknown kind `{kind}`")]
    UnknownKind { plugin: String, kind: String },
    #[error("internal error while loading")]
    Internal,
}

/// Read one library's plugins, loading it in a plugin host (its initialisers run there, not
/// here). A file that is not even an ELF shared object for this machine is refused before that.
pub fn load_library(path: &Path) -> Result<Vec<Plugin>, LoadError> {
    let abs = std::fs::canonicalize(path).map_err(|e| LoadError::Resolve(e.to_string()))?;
    super::elf::check(&abs)?;
    let d = call::describe(&abs)?;
    d.plugins
        .into_iter()
        .map(|p| {
            let kind = match p.kind.as_str() {
                "validator" => PluginKind::Validator,
                "debugger" => PluginKind::Debugger,
                other => {
                    return Err(LoadError::UnknownKind {
                        plugin: p.name,
                        kind: other.to_string(),
                    })
                }
            };
            Ok(Plugin {
                name: p.name,
                kind,
                description: p.description,
                module: d.module.clone(),
                version: d.version.clone(),
                library: abs.clone(),
                expect: p.expect,
            })
        })
        .collect()
}
