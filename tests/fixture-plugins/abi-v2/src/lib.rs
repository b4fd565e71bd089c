//! Test fixture: a library built for a future ABI v2 (its entry symbol and descriptor say so).
#![allow(unsafe_code)]

use rolecall_plugin::abi::{ModuleDescriptor, Str};

static MODULE: ModuleDescriptor = ModuleDescriptor {
    abi_version: 2,
    struct_size: size_of::<ModuleDescriptor>() as u32,
    name: Str::new("fixture-abi-v2"),
    version: Str::new("2.0.0"),
    plugins: std::ptr::null(),
    plugin_count: 0,
    expect_keys: None,
};

/// The v2 entry point: a v1 host must refuse this library with a clear message.
#[no_mangle]
pub extern "C" fn rolecall_plugin_v2() -> *const ModuleDescriptor {
    &MODULE
}
