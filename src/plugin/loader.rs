//! Loading plugin libraries: by absolute path, `RTLD_NOW | RTLD_LOCAL`, the ABI version checked
//! before anything else is read, never unloaded, and refused when other users could have
//! written them (loading a library runs its code).
#![allow(unsafe_code)] // the boundary: dlopen and reading C descriptors

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use rolecall_plugin::abi::{self, EntryFn, Kind, ModuleDescriptor, PluginDescriptor, Str};

use super::dirs::{PluginDir, LIB_SUFFIX};
use super::{LoadProblem, Plugin, PluginKind, Registry};

/// A library declaring more plugins than this is treated as corrupt.
const MAX_PLUGINS_PER_LIBRARY: usize = 1024;

/// Load every plugin library found in `dirs`.
pub fn load(dirs: &[PluginDir], allow_insecure: bool) -> Registry {
    let mut reg = Registry::default();
    let mut by_name: HashMap<String, PathBuf> = HashMap::new();
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
                        "refused: {why}, so anyone could plant a plugin (fix with `chmod go-w`, or pass \
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
                        reason: format!(
                            "refused: {why} (fix with `chmod go-w`, or pass `--allow-insecure-plugins`)"
                        ),
                    });
                    continue;
                }
            }
            match load_library(&file) {
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
                Err(reason) => reg.problems.push(LoadProblem { file, reason }),
            }
        }
    }
    reg
}

/// Why `path` could be written by users other than its owner, if it can.
fn insecure(path: &Path) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    if mode & 0o002 != 0 {
        Some("it is writable by every user".into())
    } else if mode & 0o020 != 0 {
        Some("it is writable by its group".into())
    } else {
        None
    }
}

/// Load one library and read its descriptors.
pub fn load_library(path: &Path) -> Result<Vec<Plugin>, String> {
    let abs = std::fs::canonicalize(path).map_err(|e| format!("cannot resolve path: {e}"))?;
    super::elf::check(&abs)?;
    // SAFETY: loading a library runs its initialisers; this is the one thing a plugin host
    // cannot avoid. We only load from the configured directories, after the permission checks,
    // and by absolute path so the dynamic linker does no search of its own.
    let lib = unsafe { Library::open(Some(&abs), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| format!("cannot load: {}", one_line(&e.to_string(), &abs)))?;
    let symbol = format!("{}\0", abi::ENTRY_SYMBOL);
    // SAFETY: the symbol, if present, has the type the ABI defines for it.
    let entry: EntryFn = match unsafe { lib.get::<EntryFn>(symbol.as_bytes()) } {
        Ok(f) => *f,
        Err(_) => return Err(wrong_or_no_abi(&lib)),
    };
    let descriptor = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `entry` is the library's entry point, taking no arguments.
        unsafe { entry() }
    }))
    .map_err(|_| "the entry point panicked".to_string())?;
    if descriptor.is_null() {
        return Err("the entry point returned NULL".into());
    }
    // Read the version before anything else: a future layout may differ after it.
    // SAFETY: non-NULL; the first field of every version's descriptor is a `u32` version.
    let version = unsafe { descriptor.cast::<u32>().read() };
    if version != abi::ABI_VERSION {
        return Err(mismatch(version));
    }
    // SAFETY: same version, so the layout is ours; the descriptor is a static of the library,
    // which is never unloaded.
    let module: &ModuleDescriptor = unsafe { &*descriptor };
    if (module.struct_size as usize) < size_of::<ModuleDescriptor>() {
        return Err(format!(
            "module descriptor is {} bytes, expected at least {}",
            module.struct_size,
            size_of::<ModuleDescriptor>()
        ));
    }
    let module_name = text(&module.name, "module name")?;
    let module_version = text(&module.version, "module version")?;
    if module.plugin_count > MAX_PLUGINS_PER_LIBRARY || (module.plugin_count > 0 && module.plugins.is_null())
    {
        return Err(format!(
            "corrupt descriptor: {} plugins at {:p}",
            module.plugin_count, module.plugins
        ));
    }
    let descriptors: &[PluginDescriptor] = if module.plugin_count == 0 {
        &[]
    } else {
        // SAFETY: non-NULL, count bounded, and the array is a static of a never-unloaded library.
        unsafe { std::slice::from_raw_parts(module.plugins, module.plugin_count) }
    };
    let mut plugins = Vec::with_capacity(descriptors.len());
    for (i, d) in descriptors.iter().enumerate() {
        if (d.struct_size as usize) < size_of::<PluginDescriptor>() {
            return Err(format!(
                "plugin #{i}: descriptor is too small ({} bytes)",
                d.struct_size
            ));
        }
        let name = text(&d.name, &format!("plugin #{i} name"))?;
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains(',') {
            return Err(format!("plugin #{i}: invalid name `{name}`"));
        }
        let kind = match d.kind {
            Kind::VALIDATOR => PluginKind::Validator,
            Kind::DEBUGGER => PluginKind::Debugger,
            Kind(other) => return Err(format!("plugin `{name}`: unknown kind {other}")),
        };
        plugins.push(Plugin {
            name,
            kind,
            description: text(&d.description, &format!("plugin #{i} description"))?,
            module: module_name.clone(),
            version: module_version.clone(),
            library: abs.clone(),
            run: d.run,
        });
    }
    // Never unloaded: plugin code and statics must outlive every call and every pointer we keep.
    std::mem::forget(lib);
    Ok(plugins)
}

fn text(s: &Str<'static>, what: &str) -> Result<String, String> {
    // SAFETY: descriptor strings are statics of the (never unloaded) library.
    unsafe { s.to_str() }
        .map(str::to_string)
        .map_err(|e| format!("{what} is not UTF-8 ({e})"))
}

fn mismatch(version: u32) -> String {
    format!(
        "built against plugin ABI v{version}; this rolecall speaks v{}: rebuild the plugin against \
         rolecall-plugin {}",
        abi::ABI_VERSION,
        env!("CARGO_PKG_VERSION")
    )
}

/// No v1 entry point: another version's, or not a plugin at all.
fn wrong_or_no_abi(lib: &Library) -> String {
    for v in (0..=16u32).filter(|v| *v != abi::ABI_VERSION) {
        let symbol = format!("{}{v}\0", abi::ENTRY_SYMBOL_PREFIX);
        // SAFETY: only checking for presence; the symbol is never called.
        if unsafe { lib.get::<*const ()>(symbol.as_bytes()) }.is_ok() {
            return mismatch(v);
        }
    }
    format!("not a rolecall plugin: no `{}` symbol", abi::ENTRY_SYMBOL)
}

/// dlerror messages repeat the path; keep the reason.
fn one_line(msg: &str, path: &Path) -> String {
    let p = path.display().to_string();
    msg.replace(&format!("{p}: "), "").replace('\n', " ")
}
