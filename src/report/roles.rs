//! `rolecall roles`: the resolved roles, clusters and hosts as a table or JSON.

use super::safe::{cell, MAX_CELL};
use comfy_table::{Cell, CellAlignment, Color};
use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::deployment::{Deployment, ALL_ROLE};

use super::checks::new_table;
use super::printer::Printer;

/// Roles, then clusters, as tables; long host lists are folded (`nc[01-16]`).
pub fn table(d: &Deployment, printer: &Printer) -> String {
    let mut out = String::new();
    let mut roles = new_table(printer, &["Role", "Hosts", "Members"]);
    for role in d.roles.values() {
        let members = crate::deployment::range::fold(role.hosts.iter().map(String::as_str)).join(", ");
        let name = Cell::new(cell(&role.name, MAX_CELL));
        let name = if role.name == ALL_ROLE {
            name
        } else {
            name.fg(Color::Cyan)
        };
        roles.add_row(vec![
            name,
            Cell::new(role.hosts.len()).set_alignment(CellAlignment::Right),
            Cell::new(cell(&members, MAX_CELL)),
        ]);
    }
    out.push_str(&roles.to_string());
    out.push('\n');
    if !d.clusters.is_empty() {
        let mut clusters = new_table(printer, &["Cluster", "Hosts", "Members"]);
        for (name, hosts) in &d.clusters {
            let members = crate::deployment::range::fold(hosts.iter().map(String::as_str)).join(", ");
            clusters.add_row(vec![
                Cell::new(cell(name, MAX_CELL)).fg(Color::Cyan),
                Cell::new(hosts.len()).set_alignment(CellAlignment::Right),
                Cell::new(cell(&members, MAX_CELL)),
            ]);
        }
        out.push('\n');
        out.push_str(&clusters.to_string());
        out.push('\n');
    }
    out
}

/// One-line summary for stderr.
pub fn summary(d: &Deployment) -> String {
    let roles = d.roles.len().saturating_sub(1);
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}, {} ({} profile, {})",
        plural(d.hosts.len(), "host"),
        plural(roles, "role"),
        plural(d.clusters.len(), "cluster"),
        d.profile,
        d.source.display()
    )
}

/// `{"roles": {..}, "clusters": {..}, "hosts": {..}, ...}` with effective SSH endpoints.
pub fn json(d: &Deployment, reach: &crate::remote::settings::Reach) -> String {
    /// One host's entry, serialized straight from the model (a `Value` per host weighed ~1 KB).
    #[derive(serde::Serialize)]
    struct HostOut<'a> {
        address: String,
        port: u16,
        user: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        jump: Vec<String>,
        #[serde(skip_serializing_if = "Map::is_empty")]
        vars: &'a Map<String, Value>,
    }
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        schema_version: u32,
        source: String,
        profile: &'static str,
        name: &'a Option<String>,
        roles: IndexMap<&'a str, &'a [String]>,
        clusters: &'a IndexMap<String, Vec<String>>,
        hosts: IndexMap<&'a str, HostOut<'a>>,
        #[serde(skip_serializing_if = "IndexMap::is_empty")]
        service_ports: IndexMap<&'a str, &'a IndexMap<String, u16>>,
    }
    // Each host resolved in turn and dropped once its entry is made (at 100,000 hosts, all
    // hosts' settings at once weigh more than the document).
    let mut resolver = reach.resolver(d);
    let doc = Doc {
        schema_version: crate::results::SCHEMA_VERSION,
        source: d.source.display().to_string(),
        profile: d.profile.name(),
        name: &d.name,
        roles: d
            .roles
            .values()
            .map(|r| (r.name.as_str(), r.hosts.as_slice()))
            .collect(),
        clusters: &d.clusters,
        hosts: d
            .hosts
            .values()
            .filter_map(|h| Some((h, resolver.host(&h.name)?)))
            .map(|(h, s)| {
                let out = HostOut {
                    jump: s.jump.value.iter().map(|j| j.describe()).collect(),
                    address: s.address.value,
                    port: s.port.value,
                    user: s.user.value,
                    vars: &h.vars,
                };
                (h.name.as_str(), out)
            })
            .collect(),
        service_ports: d
            .roles
            .values()
            .filter(|r| !r.service_ports.is_empty())
            .map(|r| (r.name.as_str(), &r.service_ports))
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
