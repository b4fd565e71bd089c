//! Eucalyptus validators: everything Calyptos's validator plugins checked, on either topology
//! schema, with their bugs fixed. Each one skips deployments that are not Eucalyptus
//! environments (`default_attributes.eucalyptus`).

mod env;
mod network;
mod storage;
mod structure;
mod topology;
mod vpc;

pub use network::{Reachability, Repositories};
pub use storage::Storage;
pub use structure::Structure;
pub use topology::Topology;
pub use vpc::Vpc;

use rolecall_plugin::serde_json::Value;
use rolecall_plugin::Context;

/// The environment document, or a `skip` result (and `None`) when this is not one.
fn environment(ctx: &mut Context<'_>, check: &str) -> Option<Value> {
    let doc = ctx.document().clone();
    if env::eucalyptus(&doc).is_none() {
        ctx.skip(
            check,
            "not a Eucalyptus environment (no default_attributes.eucalyptus)",
        );
        return None;
    }
    Some(doc)
}

rolecall_plugin::export_plugins! {
    module: "eucalyptus-validators",
    version: env!("CARGO_PKG_VERSION"),
    validators: [Structure, Topology, Storage, Vpc, Repositories, Reachability],
    debuggers: [],
}
