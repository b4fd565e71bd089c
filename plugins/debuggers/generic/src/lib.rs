//! Generic debuggers: what "healthy" means comes from each role's `expect` section in the
//! deployment, so a new fleet needs no code:
//!
//! ```yaml
//! roles:
//!   node-controller:
//!     hosts: [nc01, nc02]
//!     expect:
//!       services: [eucalyptus-nc, libvirtd]      # services
//!       ports: [8775/tcp, 53/udp]                # ports
//!       disk: {/var/lib/eucalyptus: {max_used_percent: 85, min_free_mb: 2048}}   # disk
//!       memory: {min_total_mb: 4096, min_available_mb: 512}                      # memory
//!       files: {/var/lib/eucalyptus: {owner: eucalyptus, group: eucalyptus, mode: '0700'}}  # files
//!       connect: ['clc:8773', 'storage-controller:8773/tcp']                    # connectivity
//!       arch: x86_64                             # facts
//!       min_cpus: 4
//!       virtualization: true
//! plugins:
//!   clock: {max_skew_seconds: 2}
//! ```
//!
//! Every check runs one command per host (all hosts at once) and turns each host's answer into
//! a result: a stopped service or a command that failed is a FAIL on that host, never an abort.

mod checks;
mod clock;

pub use checks::Checks;
pub use clock::Clock;
pub use rolecall_plugin_common::connectivity::Connectivity;
pub use rolecall_plugin_common::disk::Disk;
pub use rolecall_plugin_common::facts::Facts;
pub use rolecall_plugin_common::files::Files;
pub use rolecall_plugin_common::memory::Memory;
pub use rolecall_plugin_common::ports::Ports;
pub use rolecall_plugin_common::services::Services;
pub use rolecall_plugin_common::spec;

rolecall_plugin::export_plugins! {
    module: "generic-debuggers",
    version: env!("CARGO_PKG_VERSION"),
    validators: [],
    debuggers: [Facts, Services, Ports, Disk, Memory, Files, Connectivity, Clock, Checks],
}
