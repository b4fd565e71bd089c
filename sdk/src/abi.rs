//! The C ABI between rolecall and its plugins, version 1. See `ABI.md` for the contract in
//! C terms. Everything here is `#[repr(C)]` plain data, borrowed byte slices or `extern "C"`
//! function pointers: no Rust type with an unstable layout crosses.
//!
//! Rules both sides follow:
//! - a [`Str`] is borrowed for the duration of the call that carries it; copy it to keep it;
//! - nothing is freed across the boundary: results travel through callbacks the receiver copies;
//! - kinds and statuses are `u32` values, never Rust enums (an unknown value is an error, not UB);
//! - every `struct_size` lets a newer side tell how much of an older struct exists.

#![allow(unsafe_code)] // the boundary module: raw pointers by design

use std::ffi::c_void;
use std::marker::PhantomData;

/// The ABI major version this SDK speaks.
pub const ABI_VERSION: u32 = 1;

/// The exported symbol: `rolecall_plugin_v1`, returning `*const ModuleDescriptor`.
pub const ENTRY_SYMBOL: &str = "rolecall_plugin_v1";

/// Prefix of the entry symbol of every ABI version (`rolecall_plugin_v2`, ...), so a host can
/// tell "built for another version" from "not a plugin".
pub const ENTRY_SYMBOL_PREFIX: &str = "rolecall_plugin_v";

/// The type of the entry symbol.
pub type EntryFn = unsafe extern "C" fn() -> *const ModuleDescriptor;

/// A borrowed UTF-8 (or, for file contents, arbitrary) byte slice: pointer and length.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Str<'a> {
    pub ptr: *const u8,
    pub len: usize,
    _borrow: PhantomData<&'a [u8]>,
}

// SAFETY: a `Str` is a shared borrow of immutable bytes; sharing it between threads is as safe
// as sharing `&[u8]`. Statics of descriptors need this.
unsafe impl Sync for Str<'_> {}
// SAFETY: as above; it is only ever read.
unsafe impl Send for Str<'_> {}

impl<'a> Str<'a> {
    pub const EMPTY: Str<'static> = Str {
        ptr: std::ptr::null(),
        len: 0,
        _borrow: PhantomData,
    };

    /// Borrow a string for the lifetime of the reference.
    pub const fn new(s: &'a str) -> Self {
        Self {
            ptr: s.as_ptr(),
            len: s.len(),
            _borrow: PhantomData,
        }
    }

    /// Borrow bytes (file contents) for the lifetime of the reference.
    pub const fn bytes(b: &'a [u8]) -> Self {
        Self {
            ptr: b.as_ptr(),
            len: b.len(),
            _borrow: PhantomData,
        }
    }

    /// The bytes, or an empty slice for a NULL pointer.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that stay valid for `'a`.
    pub unsafe fn as_bytes(&self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 {
            return &[];
        }
        // SAFETY: the caller guarantees `ptr..ptr+len` is readable for `'a`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The text, if it is UTF-8.
    ///
    /// # Safety
    /// As for [`Str::as_bytes`].
    pub unsafe fn to_str(&self) -> Result<&'a str, std::str::Utf8Error> {
        // SAFETY: forwarded to the caller.
        std::str::from_utf8(unsafe { self.as_bytes() })
    }
}

/// What a plugin is.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind(pub u32);

impl Kind {
    pub const VALIDATOR: Kind = Kind(1);
    pub const DEBUGGER: Kind = Kind(2);
}

/// The status of one reported check.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub u32);

impl Status {
    pub const PASS: Status = Status(0);
    pub const FAIL: Status = Status(1);
    pub const WARN: Status = Status(2);
    pub const SKIP: Status = Status(3);
    pub const ERROR: Status = Status(4);
}

/// The outcome of a plugin's run function, or of a host callback.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code(pub u32);

impl Code {
    pub const OK: Code = Code(0);
    /// The plugin panicked; the panic was caught at the boundary.
    pub const PANICKED: Code = Code(1);
    /// Bad input (not UTF-8, not the JSON expected, NULL where a value is required).
    pub const INVALID: Code = Code(2);
    /// The callback is not available in this run (e.g. run-on-hosts during `validate`).
    pub const UNAVAILABLE: Code = Code(3);
    /// The run was cancelled.
    pub const CANCELLED: Code = Code(4);
    /// Any other failure; details were reported or logged.
    pub const FAILED: Code = Code(5);
}

/// Log levels for [`HostApi::log`].
pub mod level {
    pub const ERROR: u32 = 1;
    pub const WARN: u32 = 2;
    pub const INFO: u32 = 3;
    pub const DEBUG: u32 = 4;
}

/// The static description of a plugin library, returned by the entry symbol.
#[repr(C)]
#[derive(Debug)]
pub struct ModuleDescriptor {
    /// Must be first: [`ABI_VERSION`] of the SDK the library was built with.
    pub abi_version: u32,
    /// Must be second: `size_of::<ModuleDescriptor>()` as built.
    pub struct_size: u32,
    pub name: Str<'static>,
    pub version: Str<'static>,
    pub plugins: *const PluginDescriptor,
    pub plugin_count: usize,
    /// Appended (rolecall 0.3): NULL, or a function returning the `expect` keys the library's
    /// plugins read, as JSON `{"PLUGIN": [{"key": .., "type": .., "description": ..}, ..], ..}`
    /// (static bytes). Hosts read it only when `struct_size` covers it.
    pub expect_keys: Option<ExpectKeysFn>,
}

/// Returns a library's `expect` key declarations (see [`ModuleDescriptor::expect_keys`]).
pub type ExpectKeysFn = unsafe extern "C" fn() -> Str<'static>;

/// The size of a v1 module descriptor before any appended field: the least a host accepts.
pub const MODULE_DESCRIPTOR_V1_SIZE: usize = std::mem::offset_of!(ModuleDescriptor, expect_keys);

// SAFETY: descriptors are immutable statics; the raw pointer refers to another immutable static.
unsafe impl Sync for ModuleDescriptor {}

/// Runs one plugin: `input` is the run's JSON (see `ABI.md`), borrowed for the call.
pub type RunFn = unsafe extern "C" fn(host: *const HostApi, input: Str<'_>) -> Code;

/// One plugin of a library.
#[repr(C)]
#[derive(Debug)]
pub struct PluginDescriptor {
    pub struct_size: u32,
    pub kind: Kind,
    pub name: Str<'static>,
    pub description: Str<'static>,
    pub run: RunFn,
}

// SAFETY: as for `ModuleDescriptor`.
unsafe impl Sync for PluginDescriptor {}

/// One result reported by a plugin.
#[repr(C)]
#[derive(Debug)]
pub struct Report<'a> {
    pub struct_size: u32,
    pub status: Status,
    /// Check id within the plugin, e.g. `role-cardinality`.
    pub check: Str<'a>,
    /// Host name, or empty when the result is not about one host.
    pub host: Str<'a>,
    pub message: Str<'a>,
    /// YAML path such as `roles.node-controller`, or empty.
    pub yaml_path: Str<'a>,
}

/// Receives one JSON document (a command result per host) or a chunk of bytes (file contents).
pub type DeliverFn = unsafe extern "C" fn(user: *mut c_void, data: Str<'_>);

/// What the host offers a running plugin. `ctx` is the host's, passed back on every call.
#[repr(C)]
#[derive(Debug)]
pub struct HostApi {
    pub struct_size: u32,
    pub abi_version: u32,
    pub ctx: *mut c_void,
    /// Report one result.
    pub report: unsafe extern "C" fn(ctx: *mut c_void, report: *const Report<'_>) -> Code,
    /// Log a message at a [`level`].
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: u32, message: Str<'_>) -> Code,
    /// Run `command` on `hosts` (a JSON array of host names); `deliver` is called once per
    /// host with a JSON result, before this returns.
    pub run_command: unsafe extern "C" fn(
        ctx: *mut c_void,
        command: Str<'_>,
        hosts: Str<'_>,
        deliver: DeliverFn,
        user: *mut c_void,
    ) -> Code,
    /// Fetch the file at `path` from `host`; `deliver` receives its bytes (possibly in chunks).
    pub fetch_file: unsafe extern "C" fn(
        ctx: *mut c_void,
        host: Str<'_>,
        path: Str<'_>,
        deliver: DeliverFn,
        user: *mut c_void,
    ) -> Code,
    /// Non-zero once the run is cancelled (deadline, Ctrl-C): stop early.
    pub is_cancelled: unsafe extern "C" fn(ctx: *mut c_void) -> u32,
}

/// The ABI's layout as a C compiler must see it: every type's size and every field's offset, by
/// the names `sdk/include/rolecall_plugin.h` gives them. The header asserts the same figures
/// (`_Static_assert`), and a test compiles a C program against the header and compares what it
/// prints with this list, so neither side can drift from the other.
pub fn layout() -> Vec<(&'static str, usize)> {
    use std::mem::{offset_of, size_of};
    vec![
        ("RcStr", size_of::<Str<'_>>()),
        ("RcStr.ptr", offset_of!(Str<'_>, ptr)),
        ("RcStr.len", offset_of!(Str<'_>, len)),
        ("RcReport", size_of::<Report<'_>>()),
        ("RcReport.struct_size", offset_of!(Report<'_>, struct_size)),
        ("RcReport.status", offset_of!(Report<'_>, status)),
        ("RcReport.check", offset_of!(Report<'_>, check)),
        ("RcReport.host", offset_of!(Report<'_>, host)),
        ("RcReport.message", offset_of!(Report<'_>, message)),
        ("RcReport.yaml_path", offset_of!(Report<'_>, yaml_path)),
        ("RcHostApi", size_of::<HostApi>()),
        ("RcHostApi.struct_size", offset_of!(HostApi, struct_size)),
        ("RcHostApi.abi_version", offset_of!(HostApi, abi_version)),
        ("RcHostApi.ctx", offset_of!(HostApi, ctx)),
        ("RcHostApi.report", offset_of!(HostApi, report)),
        ("RcHostApi.log", offset_of!(HostApi, log)),
        ("RcHostApi.run_command", offset_of!(HostApi, run_command)),
        ("RcHostApi.fetch_file", offset_of!(HostApi, fetch_file)),
        ("RcHostApi.is_cancelled", offset_of!(HostApi, is_cancelled)),
        ("RcPluginDescriptor", size_of::<PluginDescriptor>()),
        (
            "RcPluginDescriptor.struct_size",
            offset_of!(PluginDescriptor, struct_size),
        ),
        ("RcPluginDescriptor.kind", offset_of!(PluginDescriptor, kind)),
        ("RcPluginDescriptor.name", offset_of!(PluginDescriptor, name)),
        (
            "RcPluginDescriptor.description",
            offset_of!(PluginDescriptor, description),
        ),
        ("RcPluginDescriptor.run", offset_of!(PluginDescriptor, run)),
        ("RcModuleDescriptor", size_of::<ModuleDescriptor>()),
        (
            "RcModuleDescriptor.abi_version",
            offset_of!(ModuleDescriptor, abi_version),
        ),
        (
            "RcModuleDescriptor.struct_size",
            offset_of!(ModuleDescriptor, struct_size),
        ),
        ("RcModuleDescriptor.name", offset_of!(ModuleDescriptor, name)),
        (
            "RcModuleDescriptor.version",
            offset_of!(ModuleDescriptor, version),
        ),
        (
            "RcModuleDescriptor.plugins",
            offset_of!(ModuleDescriptor, plugins),
        ),
        (
            "RcModuleDescriptor.plugin_count",
            offset_of!(ModuleDescriptor, plugin_count),
        ),
        (
            "RcModuleDescriptor.expect_keys",
            offset_of!(ModuleDescriptor, expect_keys),
        ),
    ]
}

// The same figures the header asserts, in terms of the pointer size P, checked when the SDK
// builds: RcStr is 2P; every struct starts with two 32-bit fields (8 bytes), then pointer-sized
// members and RcStrs.
const P: usize = size_of::<*const u8>();
const _: () = {
    use std::mem::offset_of;
    assert!(size_of::<Str<'_>>() == 2 * P && offset_of!(Str<'_>, len) == P);
    assert!(size_of::<Report<'_>>() == 8 + 8 * P && offset_of!(Report<'_>, yaml_path) == 8 + 6 * P);
    assert!(size_of::<HostApi>() == 8 + 6 * P && offset_of!(HostApi, is_cancelled) == 8 + 5 * P);
    assert!(size_of::<PluginDescriptor>() == 8 + 5 * P && offset_of!(PluginDescriptor, run) == 8 + 4 * P);
    assert!(
        size_of::<ModuleDescriptor>() == 8 + 7 * P && offset_of!(ModuleDescriptor, plugin_count) == 8 + 5 * P
    );
    assert!(offset_of!(ModuleDescriptor, expect_keys) == 8 + 6 * P);
};
