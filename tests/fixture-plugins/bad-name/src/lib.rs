//! Test fixture: a v1 library whose plugin name is not UTF-8.
#![allow(unsafe_code)]

use rolecall_plugin::abi::{Code, HostApi, Kind, ModuleDescriptor, PluginDescriptor, Str};

static BAD_NAME: [u8; 4] = [b'b', 0xff, 0xfe, b'd'];

unsafe extern "C" fn run(_host: *const HostApi, _input: Str<'_>) -> Code {
    Code::OK
}

static PLUGINS: [PluginDescriptor; 1] = [PluginDescriptor {
    struct_size: size_of::<PluginDescriptor>() as u32,
    kind: Kind::VALIDATOR,
    name: Str::bytes(&BAD_NAME),
    description: Str::new("a plugin whose name is not UTF-8"),
    run,
}];

// Written as a library built before `expect_keys` was appended: the host must still read it
// (and then refuse the plugin's name).
static MODULE: ModuleDescriptor = ModuleDescriptor {
    abi_version: 1,
    struct_size: rolecall_plugin::abi::MODULE_DESCRIPTOR_V1_SIZE as u32,
    name: Str::new("fixture-bad-name"),
    version: Str::new("0.0.1"),
    plugins: PLUGINS.as_ptr(),
    plugin_count: 1,
    expect_keys: None,
};

#[no_mangle]
pub extern "C" fn rolecall_plugin_v1() -> *const ModuleDescriptor {
    &MODULE
}
