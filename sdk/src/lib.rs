//! `rolecall-plugin`: the SDK for rolecall validator and debugger plugins.
//!
//! A plugin is a Rust `cdylib` that implements [`Validator`] (checks the deployment before it
//! is deployed) or [`Debugger`] (runs commands on the hosts of a running fleet), and exports
//! itself with [`export_plugins!`]. rolecall loads it at run time through a small, versioned C
//! ABI ([`abi`], documented in `ABI.md`); this crate hides that ABI behind safe types, catches
//! panics at the boundary, and ships a `testing` kit (feature `testing`) so that plugins are
//! unit-tested without SSH or a loader.
//!
//! A complete plugin (`Cargo.toml`: `crate-type = ["cdylib", "rlib"]`, depend on
//! `rolecall-plugin`):
//!
//! ```
//! use rolecall_plugin::{export_plugins, Context, Result, Validator};
//!
//! /// Every role must have at least one host.
//! #[derive(Default)]
//! pub struct NoEmptyRoles;
//!
//! impl Validator for NoEmptyRoles {
//!     const NAME: &'static str = "no-empty-roles";
//!     const DESCRIPTION: &'static str = "every role has at least one host";
//!
//!     fn validate(&self, ctx: &mut Context<'_>) -> Result {
//!         let roles: Vec<_> = ctx.roles().iter().map(|r| (r.name.clone(), r.hosts.len())).collect();
//!         for (role, count) in roles {
//!             if count == 0 {
//!                 ctx.fail("non-empty", format!("role `{role}` has no hosts")).path(format!("roles.{role}"));
//!             } else {
//!                 ctx.pass("non-empty", format!("role `{role}` has {count} hosts"));
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! export_plugins! {
//!     module: "example",
//!     version: "0.1.0",
//!     validators: [NoEmptyRoles],
//!     debuggers: [],
//! }
//! # fn main() {}
//! ```

pub mod abi;
pub mod calyptos;
pub mod checks;
mod context;
#[doc(hidden)]
pub mod ffi;
mod model;
#[cfg(feature = "testing")]
pub mod testing;

#[doc(hidden)]
pub use context::Backend;
pub use context::{allowed, cidr_contains, probe_tcp, resolve, Context, Emit, Level, Run};
pub use model::ExpectKey;
pub use model::{
    ClusterInfo, CommandResult, Error, Finding, Fleet, HostInfo, Input, Options, Result, RoleInfo, Status,
};
pub use serde_json;

/// One key of a role's `expect` section that a plugin reads, as it declares it: the shipped
/// `expectations` validator then knows the key (and its type), and `rolecall plugins --expect`
/// lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    pub key: &'static str,
    /// `list`, `map`, `string`, `number`, `bool` or `any`.
    pub kind: &'static str,
    pub description: &'static str,
}

/// A plugin that checks the deployment itself, offline unless the run is `--online`.
pub trait Validator: Default + 'static {
    /// Unique plugin name (`cardinality`); used by `--only`/`--skip` and in results.
    const NAME: &'static str;
    /// One line for `rolecall plugins`.
    const DESCRIPTION: &'static str;
    /// The `expect` keys this plugin reads (none by default).
    const EXPECT: &'static [Expect] = &[];
    /// Check the deployment, reporting through `ctx`. An `Err` becomes an `error` result.
    fn validate(&self, ctx: &mut Context<'_>) -> Result;
}

/// A plugin that runs commands on hosts (through `ctx.run`) and reports per-host results.
pub trait Debugger: Default + 'static {
    const NAME: &'static str;
    const DESCRIPTION: &'static str;
    /// The `expect` keys this plugin reads (none by default).
    const EXPECT: &'static [Expect] = &[];
    fn debug(&self, ctx: &mut Context<'_>) -> Result;
}

/// Export a library's plugins: defines the `rolecall_plugin_v1` entry symbol.
///
/// ```ignore
/// export_plugins! { module: "my-pack", version: env!("CARGO_PKG_VERSION"),
///                   validators: [A, B], debuggers: [C] }
/// ```
#[macro_export]
macro_rules! export_plugins {
    (
        module: $module:expr,
        version: $version:expr,
        validators: [$($v:ty),* $(,)?],
        debuggers: [$($d:ty),* $(,)?] $(,)?
    ) => {
        #[doc(hidden)]
        #[allow(unsafe_code)]
        pub mod __rolecall_plugin_export {
            #[allow(unused_imports)]
            use super::*;
            static PLUGINS: &[$crate::abi::PluginDescriptor] = &[
                $($crate::ffi::validator::<$v>(),)*
                $($crate::ffi::debugger::<$d>(),)*
            ];
            /// The plugins' `expect` keys as JSON, built on first use.
            unsafe extern "C" fn expect_keys() -> $crate::abi::Str<'static> {
                static JSON: ::std::sync::OnceLock<::std::string::String> = ::std::sync::OnceLock::new();
                let json = JSON.get_or_init(|| {
                    $crate::ffi::expect_json(&[
                        $((<$v as $crate::Validator>::NAME, <$v as $crate::Validator>::EXPECT),)*
                        $((<$d as $crate::Debugger>::NAME, <$d as $crate::Debugger>::EXPECT),)*
                    ])
                });
                $crate::abi::Str::new(json.as_str())
            }
            static MODULE: $crate::abi::ModuleDescriptor =
                $crate::ffi::module($module, $version, PLUGINS, Some(expect_keys));

            /// The entry symbol rolecall looks up; its name carries the ABI major version.
            #[no_mangle]
            pub extern "C" fn rolecall_plugin_v1() -> *const $crate::abi::ModuleDescriptor {
                &MODULE
            }
        }
    };
}
