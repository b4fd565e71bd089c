//! Loading one plugin library, inside a plugin-host process: `RTLD_NOW | RTLD_LOCAL` by absolute
//! path, never unloaded, the ABI version and every `struct_size` read through raw pointers
//! before any reference into a descriptor is formed, NULL function pointers refused.
#![allow(unsafe_code)] // the boundary: dlopen and reading C descriptors

use std::ffi::c_void;
use std::path::Path;

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use rolecall_plugin::abi::{self, EntryFn, Kind, ModuleDescriptor, PluginDescriptor, RunFn, Str};

use super::wire::Described;

/// A library declaring more plugins than this is treated as corrupt.
const MAX_PLUGINS_PER_LIBRARY: usize = 1024;

/// One plugin of a loaded library.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub described: Described,
    pub run: RunFn,
}

/// A loaded library's module name, version and plugins.
#[derive(Debug)]
pub struct Module {
    pub name: String,
    pub version: String,
    pub plugins: Vec<Loaded>,
}

/// `PluginDescriptor` with its function pointer as a plain pointer, to read a C library's
/// descriptor (where `run` may be NULL) without forming an invalid `fn` value.
#[repr(C)]
struct RawPluginDescriptor {
    struct_size: u32,
    kind: Kind,
    name: Str<'static>,
    description: Str<'static>,
    run: *const c_void,
}

// The mirror must stay the ABI struct's twin.
const _: () = assert!(size_of::<RawPluginDescriptor>() == size_of::<PluginDescriptor>());

/// Why a library could not be read as a plugin module (in the plugin host process; the message
/// crosses to rolecall as the load problem's reason).
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("cannot resolve path: {0}")]
    Path(#[source] std::io::Error),
    #[error("cannot load: {0}")]
    Open(String),
    #[error("not a rolecall plugin: no `{}` symbol", abi::ENTRY_SYMBOL)]
    NoEntryPoint,
    #[error(
        "built against plugin ABI v{0}; this rolecall speaks v{ours}: rebuild the plugin against \
         rolecall-plugin {sdk}",
        ours = abi::ABI_VERSION,
        sdk = env!("CARGO_PKG_VERSION")
    )]
    AbiMismatch(u32),
    #[error("the entry point returned NULL")]
    NullEntry,
    #[error("module descriptor is {0} bytes, expected at least {min}", min = abi::MODULE_DESCRIPTOR_V1_SIZE)]
    DescriptorTooSmall(u32),
    #[error("{what} is not UTF-8 ({source})")]
    NotUtf8 {
        what: String,
        #[source]
        source: std::str::Utf8Error,
    },
    #[error("corrupt descriptor: {count} plugins at {at}")]
    Corrupt { count: usize, at: String },
    #[error("plugin #{0}: descriptor is too small ({1} bytes)")]
    PluginTooSmall(usize, u32),
    #[error("plugin #{0}: invalid name `{1}`")]
    InvalidName(usize, String),
    #[error("plugin `{0}`: unknown kind {1}")]
    UnknownKind(String, u32),
    #[error("plugin `{0}`: its run function is NULL")]
    NullRun(String),
    #[error("its expect keys are not the JSON the ABI says: {0}")]
    ExpectKeys(#[source] serde_json::Error),
    #[error("no plugin `{0}` in this library any more")]
    Gone(String),
}

/// Load `path` and read its descriptors. The library stays loaded for the life of the process,
/// on error paths too: its initialisers have run, and nothing of it may be unmapped under them.
pub fn load(path: &Path) -> Result<Module, LibraryError> {
    let abs = std::fs::canonicalize(path).map_err(LibraryError::Path)?;
    // SAFETY: loading a library runs its initialisers; this is what a plugin host is for, and it
    // runs in its own process. Only configured, permission-checked files are loaded, by
    // absolute path so the dynamic linker does no search of its own.
    let lib = unsafe { Library::open(Some(&abs), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| LibraryError::Open(one_line(&e.to_string(), &abs)))?;
    let lib: &'static Library = Box::leak(Box::new(lib));
    let symbol = format!("{}\0", abi::ENTRY_SYMBOL);
    // SAFETY: the symbol, if present, has the type the ABI defines for it.
    let entry: EntryFn = match unsafe { lib.get::<EntryFn>(symbol.as_bytes()) } {
        Ok(f) => *f,
        Err(_) => return Err(wrong_or_no_abi(lib)),
    };
    // SAFETY: `entry` is the library's entry point, taking no arguments. (A panic cannot cross
    // an `extern "C"` function: it aborts this process, which rolecall reports.)
    let descriptor = unsafe { entry() };
    if descriptor.is_null() {
        return Err(LibraryError::NullEntry);
    }
    // Every version's descriptor starts with `abi_version: u32, struct_size: u32`.
    // SAFETY: non-NULL, and these two fields are part of every version's layout.
    let (version, size) = unsafe {
        let p = descriptor.cast::<u32>();
        (p.read_unaligned(), p.add(1).read_unaligned())
    };
    if version != abi::ABI_VERSION {
        return Err(LibraryError::AbiMismatch(version));
    }
    if (size as usize) < abi::MODULE_DESCRIPTOR_V1_SIZE {
        return Err(LibraryError::DescriptorTooSmall(size));
    }
    // A library built before fields were appended has a shorter descriptor: copy what it has
    // over a zeroed one (NULL, None and 0 for the rest).
    let mut copy = std::mem::MaybeUninit::<ModuleDescriptor>::zeroed();
    // SAFETY: `size` bytes (at most our struct's) of a checked, static descriptor are copied
    // into a zeroed descriptor; all-zero bytes are valid for every field (integers, raw
    // pointers, an `Option` of a function pointer), so the result is a valid value.
    let module: ModuleDescriptor = unsafe {
        std::ptr::copy_nonoverlapping(
            descriptor.cast::<u8>(),
            copy.as_mut_ptr().cast::<u8>(),
            (size as usize).min(size_of::<ModuleDescriptor>()),
        );
        copy.assume_init()
    };
    let name = text(&module.name, "module name")?;
    let version = text(&module.version, "module version")?;
    if module.plugin_count > MAX_PLUGINS_PER_LIBRARY || (module.plugin_count > 0 && module.plugins.is_null())
    {
        return Err(LibraryError::Corrupt {
            count: module.plugin_count,
            at: format!("{:p}", module.plugins),
        });
    }
    let mut plugins = Vec::with_capacity(module.plugin_count);
    for i in 0..module.plugin_count {
        // SAFETY: `i` is within the declared, bounded count of a non-NULL array.
        let at = unsafe { module.plugins.add(i) }.cast::<RawPluginDescriptor>();
        // SAFETY: `struct_size` is the first field of every element; read it alone first.
        let size = unsafe { at.cast::<u32>().read_unaligned() };
        if (size as usize) < size_of::<PluginDescriptor>() {
            return Err(LibraryError::PluginTooSmall(i, size));
        }
        // SAFETY: the element is at least as large as the struct read, and a static.
        let d = unsafe { at.read_unaligned() };
        let name = text(&d.name, &format!("plugin #{i} name"))?;
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains(',') {
            return Err(LibraryError::InvalidName(i, name));
        }
        let kind = match d.kind {
            Kind::VALIDATOR => "validator",
            Kind::DEBUGGER => "debugger",
            Kind(other) => return Err(LibraryError::UnknownKind(name, other)),
        };
        if d.run.is_null() {
            return Err(LibraryError::NullRun(name));
        }
        // SAFETY: non-NULL, and the ABI gives this field the `RunFn` type.
        let run = unsafe { std::mem::transmute::<*const c_void, RunFn>(d.run) };
        plugins.push(Loaded {
            described: Described {
                name,
                kind: kind.to_string(),
                description: text(&d.description, &format!("plugin #{i} description"))?,
                expect: Vec::new(),
            },
            run,
        });
    }
    if let Some(f) = module.expect_keys {
        // SAFETY: the ABI gives this field this type; the function returns static bytes.
        let json = unsafe { f() };
        let json = text(&json, "expect keys")?;
        let by_plugin: std::collections::HashMap<String, Vec<rolecall_plugin::ExpectKey>> =
            serde_json::from_str(&json).map_err(LibraryError::ExpectKeys)?;
        for p in &mut plugins {
            if let Some(keys) = by_plugin.get(&p.described.name) {
                p.described.expect = keys
                    .iter()
                    .map(|k| rolecall_plugin::ExpectKey {
                        plugin: p.described.name.clone(),
                        ..k.clone()
                    })
                    .collect();
            }
        }
    }
    Ok(Module {
        name,
        version,
        plugins,
    })
}

fn text(s: &Str<'static>, what: &str) -> Result<String, LibraryError> {
    // SAFETY: descriptor strings are statics of the (never unloaded) library.
    unsafe { s.to_str() }
        .map(str::to_string)
        .map_err(|source| LibraryError::NotUtf8 {
            what: what.to_string(),
            source,
        })
}

/// No v1 entry point: another version's, or not a plugin at all.
fn wrong_or_no_abi(lib: &Library) -> LibraryError {
    for v in (0..=16u32).filter(|v| *v != abi::ABI_VERSION) {
        let symbol = format!("{}{v}\0", abi::ENTRY_SYMBOL_PREFIX);
        // SAFETY: only checking for presence; the symbol is never called.
        if unsafe { lib.get::<*const ()>(symbol.as_bytes()) }.is_ok() {
            return LibraryError::AbiMismatch(v);
        }
    }
    LibraryError::NoEntryPoint
}

/// dlerror messages repeat the path; keep the reason.
fn one_line(msg: &str, path: &Path) -> String {
    let p = path.display().to_string();
    msg.replace(&format!("{p}: "), "").replace('\n', " ")
}
