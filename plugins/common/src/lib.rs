//! What rolecall's shipped plugin packs share, as one library crate (not exported as plugins):
//! the reader of each role's `expect` section ([`spec`]), command helpers ([`common`]), and the
//! generic debuggers with their command builders and parsers, which the generic pack exports
//! and the Eucalyptus pack reuses.

pub mod common;
pub mod connectivity;
pub mod disk;
pub mod facts;
pub mod files;
pub mod memory;
pub mod ports;
pub mod services;
pub mod spec;

/// Roles that run Eucalyptus components (not Ceph, RiakCS or Midonet hosts): what the
/// Eucalyptus packs work on (defined once, in the SDK).
pub use rolecall_plugin::calyptos::EUCALYPTUS_ROLES as EUCA_ROLES;
