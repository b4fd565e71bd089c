//! Orchestration: plugins x deployment -> results.

pub mod validate;

use rolecall_plugin::{ClusterInfo, Fleet, HostInfo, Options, RoleInfo};

use crate::deployment::{Deployment, SshSettings};
use crate::remote::endpoint;

/// The deployment as plugins see it (effective SSH endpoints included).
pub fn fleet(d: &Deployment, flags: &SshSettings) -> Fleet {
    Fleet {
        name: d.name.clone(),
        profile: d.profile.name().to_string(),
        source: d.source.display().to_string(),
        hosts: d
            .hosts
            .values()
            .map(|h| {
                let e = endpoint(h, &d.ssh, flags);
                HostInfo {
                    name: h.name.clone(),
                    address: e.address,
                    port: e.port,
                    user: e.user,
                    vars: h.vars.clone(),
                }
            })
            .collect(),
        roles: d
            .roles
            .values()
            .map(|r| RoleInfo {
                name: r.name.clone(),
                hosts: r.hosts.clone(),
                min: r.min,
                max: r.max,
                expect: r.expect.clone(),
                service_ports: r.service_ports.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            })
            .collect(),
        clusters: d
            .clusters
            .iter()
            .map(|(n, h)| ClusterInfo {
                name: n.clone(),
                hosts: h.clone(),
            })
            .collect(),
        document: d.document.clone(),
    }
}

/// The run's input for one plugin. The fleet is serialized once per run and spliced in, so a
/// 10,000-host deployment is not re-serialized for every plugin.
pub fn input_json(plugin: &str, fleet_json: &str, config: &serde_json::Value, options: &Options) -> String {
    let plugin = serde_json::to_string(plugin).unwrap_or_else(|_| "\"\"".into());
    let config = serde_json::to_string(config).unwrap_or_else(|_| "null".into());
    let options = serde_json::to_string(options).unwrap_or_else(|_| "{}".into());
    format!(r#"{{"plugin":{plugin},"config":{config},"options":{options},"deployment":{fleet_json}}}"#)
}
