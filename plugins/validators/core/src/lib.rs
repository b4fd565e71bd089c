//! rolecall's core validators, built against the public SDK only:
//!
//! - `cardinality`: each role's host count within its `min`/`max`;
//! - `clusters`: every host in at most one cluster;
//! - `addresses`: addresses parse (IPv4, IPv6, DNS name), no address shared by two host names,
//!   no `host:port` written as an address;
//! - `reachability` (only with `--online`): a TCP connection to each host's SSH port, in
//!   parallel, with a timeout (`plugins.reachability.timeout_seconds`, default 3), to allowed
//!   networks only.

mod addresses;
mod cardinality;
mod clusters;
mod reachability;

pub use addresses::Addresses;
pub use cardinality::Cardinality;
pub use clusters::Clusters;
pub use reachability::Reachability;

rolecall_plugin::export_plugins! {
    module: "core-validators",
    version: env!("CARGO_PKG_VERSION"),
    validators: [Cardinality, Clusters, Addresses, Reachability],
    debuggers: [],
}
