//! Eucalyptus debuggers: what Calyptos's debugger plugins checked, as results per host instead
//! of an abort at the first failing command, with exact port matching, a real free-memory
//! figure, and nothing that changes a host unless `--allow-changes` is given.
//!
//! The command builders and parsers are the generic pack's (`plugins/debuggers/generic`),
//! compiled into this library from the same source files: one implementation, and still no
//! dependency between packs.

#[path = "../../generic/src/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "../../generic/src/connectivity.rs"]
#[allow(dead_code)]
mod connectivity;
#[path = "../../generic/src/disk.rs"]
#[allow(dead_code)]
mod disk;
#[path = "../../generic/src/facts.rs"]
#[allow(dead_code)]
mod facts;
#[path = "../../generic/src/files.rs"]
#[allow(dead_code)]
mod files;
#[path = "../../generic/src/memory.rs"]
#[allow(dead_code)]
mod memory;
#[path = "../../generic/src/ports.rs"]
#[allow(dead_code)]
mod ports;
#[path = "../../generic/src/services.rs"]
#[allow(dead_code)]
mod services;
#[path = "../../generic/src/spec.rs"]
#[allow(dead_code)]
mod spec;

mod cloud;
mod component;
mod compute;
mod networking;
mod ownership;
mod sosreport;

pub use cloud::CloudController;
pub use component::{Cc, Clc, Nc, Sc, Ufs, Walrus};
pub use compute::Compute;
pub use networking::Networking;
pub use ownership::Ownership;
pub use sosreport::SosReport;

/// Roles that run Eucalyptus components (not Ceph, RiakCS or Midonet hosts).
pub const EUCA_ROLES: &[&str] = &[
    "clc",
    "user-facing",
    "console",
    "walrus",
    "cluster-controller",
    "storage-controller",
    "node-controller",
];

/// Every host of the Eucalyptus roles, in role order, without repeats.
pub fn euca_hosts(ctx: &rolecall_plugin::Context<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for role in EUCA_ROLES {
        for h in ctx.hosts(role) {
            if !out.contains(&h.name) {
                out.push(h.name.clone());
            }
        }
    }
    out
}

rolecall_plugin::export_plugins! {
    module: "eucalyptus-debuggers",
    version: env!("CARGO_PKG_VERSION"),
    validators: [],
    debuggers: [Clc, Ufs, Walrus, Cc, Sc, Nc, CloudController, Ownership, Compute, Networking, SosReport],
}
