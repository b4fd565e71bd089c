//! Reading a Calyptos/Eucalyptus environment (`default_attributes.eucalyptus...`) in either
//! topology schema: legacy (`clc-1`, `cc-1`, `sc-1`, space-separated `nodes`) and new (lists).

use rolecall_plugin::serde_json::Value;

pub const EUCA: &str = "default_attributes.eucalyptus";
pub const TOPOLOGY: &str = "default_attributes.eucalyptus.topology";

/// `default_attributes.eucalyptus`, when the document is a Eucalyptus environment.
pub fn eucalyptus(doc: &Value) -> Option<&Value> {
    doc.get("default_attributes")?.get("eucalyptus")
}

pub fn topology(doc: &Value) -> Option<&Value> {
    eucalyptus(doc)?.get("topology")
}

/// A scalar, a space-separated string or a list of scalars, as strings.
pub fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// One cluster of the topology.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub cc: Vec<String>,
    pub sc: Vec<String>,
    pub nodes: Vec<String>,
    pub backend: Option<String>,
    /// The cluster's keys for CC and SC in this schema (`cc-1`/`sc-1` or `cc`/`sc`).
    pub cc_key: &'static str,
    pub sc_key: &'static str,
}

/// The clusters in file order.
pub fn clusters(topology: &Value) -> Vec<Cluster> {
    let Some(map) = topology.get("clusters").and_then(Value::as_object) else {
        return Vec::new();
    };
    map.iter()
        .map(|(name, c)| {
            let legacy = c.get("cc-1").is_some() || c.get("sc-1").is_some();
            let (cc_key, sc_key) = if legacy { ("cc-1", "sc-1") } else { ("cc", "sc") };
            Cluster {
                name: name.clone(),
                cc: list(c.get(cc_key)),
                sc: list(c.get(sc_key)),
                nodes: list(c.get("nodes")),
                backend: c
                    .get("storage-backend")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                cc_key,
                sc_key,
            }
        })
        .collect()
}

/// The CLC hosts, from `clc-1` (legacy) or `clc` (new).
pub fn clc(topology: &Value) -> Vec<String> {
    let legacy = list(topology.get("clc-1"));
    if legacy.is_empty() {
        list(topology.get("clc"))
    } else {
        legacy
    }
}

/// Strip a `:port` from a `host:port` entry.
pub fn host_of(entry: &str) -> &str {
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => entry,
    }
}
