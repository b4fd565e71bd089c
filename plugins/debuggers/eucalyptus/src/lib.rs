//! Eucalyptus debuggers: what Calyptos's debugger plugins checked, as results per host instead
//! of an abort at the first failing command, with exact port matching, a real free-memory
//! figure, and nothing that changes a host unless `--allow-changes` is given.
//!
//! The command builders and parsers are the generic pack's, from the shared library crate
//! `rolecall-plugin-common` (`plugins/common`): one implementation, and no dependency between
//! packs.

use rolecall_plugin_common::{common, connectivity, disk, facts, files, memory, ports, services};

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

pub use rolecall_plugin_common::EUCA_ROLES;

/// Whether the deployment has Eucalyptus hosts at all, in the run's selection or not.
pub fn euca_deployment(ctx: &rolecall_plugin::Context<'_>) -> bool {
    EUCA_ROLES.iter().any(|role| !ctx.members(role).is_empty())
}

/// Skip `check` when the deployment has no Eucalyptus hosts. When it has some, but none in
/// this run's selection (`--limit`, `--shard`), there is nothing to say: the run that holds
/// them reports them, and `merge` finds the same results as one whole run.
pub fn nothing_to_do(ctx: &mut rolecall_plugin::Context<'_>, check: &str) {
    if !euca_deployment(ctx) {
        ctx.skip(check, "no Eucalyptus hosts");
    }
}

/// Every selected host of the Eucalyptus roles, in role order, without repeats.
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
