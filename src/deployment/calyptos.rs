//! The Calyptos/Eucalyptus profile: reads a Chef environment file as Calyptos wrote them and
//! builds the same roles its role builder did, in both topology schemas:
//!
//! - legacy: `topology.clc-1: <ip>`, `walrus: <ip>`, clusters with `cc-1`/`sc-1` scalars and
//!   `nodes` as a space-separated string;
//! - new: `clc: [..]`, `objectstorage: {providerclient: walrus, walrusbackend: [..]}`, clusters
//!   with `cc: [..]`, `sc: [..]`, `nodes: [..]`.
//!
//! plus the Ceph (`ceph.topology.mons/osds`), RiakCS (`riakcs_cluster.topology`), Midonet
//! (`midokura`, `midonet`) sections. Hosts are named by their address, as in Calyptos.
//!
//! Two upstream bugs are deliberately not reproduced: every cluster is kept (Calyptos reset its
//! map inside the loop and kept only the last), and `host:port` entries are split into the host
//! and a service port (Calyptos used them verbatim as hosts, so SSH went to the service port).

use indexmap::{IndexMap, IndexSet};
use serde::Deserialize;

use super::de::{OneOrMany, Str, UniqueMap};
use super::error::Diagnostic;
use super::locate::YamlPath;
use super::source::Source;
use super::{Deployment, Host, Profile, Role, SshSettings, ALL_ROLE};

/// Role names in the order Calyptos's deployer used them; output follows this order.
pub const ROLE_ORDER: &[&str] = rolecall_plugin::calyptos::ROLES;

#[derive(Debug, Deserialize)]
struct Env {
    name: Option<Str>,
    description: Option<Str>,
    default_attributes: Option<Attrs>,
}

#[derive(Debug, Default, Deserialize)]
struct Attrs {
    eucalyptus: Option<Euca>,
    ceph: Option<Ceph>,
    riakcs_cluster: Option<Riak>,
    midokura: Option<Midonet>,
    nginx: Option<Nginx>,
    /// New schema: `zookeeper.topology` and `cassandra.topology`, top level.
    zookeeper: Option<Service>,
    cassandra: Option<Service>,
}

#[derive(Debug, Default, Deserialize)]
struct Euca {
    topology: Option<Topology>,
    network: Option<Network>,
    /// New schema, VPCMIDO: `eucalyptus.midonet`.
    midonet: Option<EucaMidonet>,
}

/// A service cluster's `topology`: a list of hosts (or `host:port`), a mapping keyed by host,
/// or `host=DC:RACK` lines (the cassandra cookbook's form).
#[derive(Debug, Default, Deserialize)]
struct Service {
    topology: Option<serde_yaml::Value>,
}

/// `eucalyptus.midonet` (new schema): gateways (addresses, or mappings with `Ip`) and the
/// midolman host mapping (host name -> address).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct EucaMidonet {
    /// Calyptos's own role builder reads `Gateways` (Eucalyptus's `Mido.Gateways` spelling);
    /// the lowercase form is read too.
    #[serde(alias = "Gateways")]
    gateways: Option<Vec<serde_yaml::Value>>,
    midolman_host_mapping: Option<UniqueMap<Str>>,
    /// Keys rolecall does not read: each is a warning, never a silent drop.
    #[serde(flatten)]
    other: IndexMap<String, serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Topology {
    #[serde(rename = "clc-1")]
    clc_1: Option<Str>,
    clc: Option<OneOrMany<Str>>,
    walrus: Option<OneOrMany<Str>>,
    user_facing: Option<OneOrMany<Str>>,
    console: Option<OneOrMany<Str>>,
    objectstorage: Option<ObjectStorage>,
    clusters: Option<UniqueMap<Cluster>>,
    /// Keys rolecall does not read: each is a warning.
    #[serde(flatten)]
    other: IndexMap<String, serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct ObjectStorage {
    providerclient: Option<Str>,
    walrusbackend: Option<OneOrMany<Str>>,
}

#[derive(Debug, Default, Deserialize)]
struct Cluster {
    #[serde(rename = "cc-1")]
    cc_1: Option<Str>,
    cc: Option<OneOrMany<Str>>,
    #[serde(rename = "sc-1")]
    sc_1: Option<Str>,
    sc: Option<OneOrMany<Str>>,
    nodes: Option<OneOrMany<Str>>,
    /// Keys rolecall does not read: each is a warning.
    #[serde(flatten)]
    other: IndexMap<String, serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct Network {
    mode: Option<Str>,
    #[serde(rename = "config-json")]
    config_json: Option<ConfigJson>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigJson {
    #[serde(rename = "Mido")]
    mido: Option<Mido>,
}

/// `config-json.Mido`: the host running eucanetd (the midonet API host, legacy schema).
#[derive(Debug, Default, Deserialize)]
struct Mido {
    #[serde(rename = "EucanetdHost")]
    eucanetd_host: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
struct Ceph {
    topology: Option<CephTopology>,
}

#[derive(Debug, Default, Deserialize)]
struct CephTopology {
    /// Older Calyptos: the bootstrap monitor, `{ipaddr: .., hostname: ..}` or an address.
    mon_bootstrap: Option<serde_yaml::Value>,
    #[serde(default)]
    mons: Vec<CephNode>,
    #[serde(default)]
    osds: Vec<CephNode>,
}

#[derive(Debug, Deserialize)]
struct CephNode {
    ipaddr: Str,
    #[serde(default)]
    init: bool,
}

#[derive(Debug, Default, Deserialize)]
struct Riak {
    topology: Option<RiakTopology>,
}

#[derive(Debug, Default, Deserialize)]
struct RiakTopology {
    head: Option<RiakHead>,
    nodes: Option<OneOrMany<Str>>,
    load_balancer: Option<OneOrMany<Str>>,
}

#[derive(Debug, Deserialize)]
struct RiakHead {
    ipaddr: Str,
}

#[derive(Debug, Default, Deserialize)]
struct Nginx {
    hosts: Option<OneOrMany<Str>>,
}

/// `midokura` (legacy) or `midonet` (new): Midonet's own services.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Midonet {
    zookeepers: Option<OneOrMany<Str>>,
    cassandras: Option<OneOrMany<Str>>,
    midolman_host_mapping: Option<UniqueMap<Str>>,
    midonet_api_url: Option<Str>,
}

/// Which topology schema a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Legacy,
    New,
}

/// Collects roles in [`ROLE_ORDER`], hosts in order of first appearance.
struct Builder<'a> {
    src: &'a Source,
    /// Keys under a section rolecall reads that it does not know, with their place.
    warnings: Vec<String>,
    hosts: super::HostMap,
    roles: IndexMap<String, Role>,
    clusters: IndexMap<String, Vec<String>>,
    /// Where each host was first written.
    origin: std::collections::HashMap<String, YamlPath>,
}

/// Keys of the sections rolecall reads that hold settings, not hosts (seen in real files).
const KNOWN_SETTINGS: &[&str] = &["storage-backend", "das-device"];

impl Builder<'_> {
    /// A warning for each key of `other` (under `path`, the section named `what`): a key
    /// rolecall does not read may hold hosts it would otherwise silently leave out.
    fn unknown_keys(&mut self, other: &IndexMap<String, serde_yaml::Value>, path: &YamlPath, what: &str) {
        for key in other.keys() {
            if KNOWN_SETTINGS.contains(&key.as_str()) {
                continue;
            }
            let d = self.src.error_at(
                &path.key(key),
                format!(
                    "`{key}` in {what} is not a key rolecall reads: any hosts it lists are not in the roles"
                ),
            );
            self.warnings.push(d.to_string());
        }
    }

    /// Add `entry` (an address, or `address:port`) to `role`.
    fn add(&mut self, role: &str, entry: &str, path: &YamlPath) -> Result<String, Diagnostic> {
        let entry = entry.trim();
        let (host, port) = split_host_port(entry).ok_or_else(|| {
            self.src
                .error_at(path, format!("`{entry}` is not an address or `address:port`"))
        })?;
        if host.is_empty() {
            return Err(self.src.error_at(path, "empty address"));
        }
        self.origin
            .entry(host.to_string())
            .or_insert_with(|| path.clone());
        self.hosts.entry(host.to_string()).or_insert_with(|| Host {
            name: host.to_string(),
            address: host.to_string(),
            port: None,
            user: None,
            jump: None,
            vars: serde_json::Map::new(),
            unusable: None,
        });
        let r = self.roles.entry(role.to_string()).or_insert_with(|| Role {
            name: role.to_string(),
            ..Role::default()
        });
        if !r.hosts.iter().any(|h| h == host) {
            r.hosts.push(host.to_string());
        }
        if let Some(port) = port {
            r.service_ports.insert(host.to_string(), port);
        }
        Ok(host.to_string())
    }

    fn add_all(
        &mut self,
        role: &str,
        list: &Option<OneOrMany<Str>>,
        path: &YamlPath,
    ) -> Result<Vec<String>, Diagnostic> {
        let mut added = Vec::new();
        if let Some(list) = list {
            for (i, Str(entry)) in list.0.iter().enumerate() {
                let p = if list.0.len() == 1 {
                    path.clone()
                } else {
                    path.index(i)
                };
                // Legacy `nodes` is one space-separated string.
                for word in entry.split_whitespace() {
                    added.push(self.add(role, word, &p)?);
                }
            }
        }
        Ok(added)
    }
}

/// Split `10.0.0.1:9160` into host and port; `[::1]:22` too. A bare IPv6 address has no port.
pub fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        return match tail.strip_prefix(':') {
            Some(p) => Some((host, Some(p.parse().ok()?))),
            None if tail.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.matches(':').count() {
        0 => Some((s, None)),
        1 => {
            let (h, p) = s.split_once(':')?;
            Some((h, Some(p.parse().ok()?)))
        }
        _ => Some((s, None)),
    }
}

/// Host part of a URL such as `http://10.111.1.41:8080/midonet-api`.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    split_host_port(authority)
        .map(|(h, _)| h)
        .filter(|h| !h.is_empty())
}

/// Build the validated deployment from a Calyptos environment file.
pub fn build(src: &Source) -> Result<Deployment, Diagnostic> {
    let env: Env = src.deserialize()?;
    let root = YamlPath::root();
    let attrs_path = root.key("default_attributes");
    let Some(attrs) = env.default_attributes else {
        return Err(src
            .error_at(
                &root,
                "this is not a Calyptos environment: it has no `default_attributes`",
            )
            .hint(
                "a Calyptos environment keeps its topology under `default_attributes.eucalyptus.topology`",
            ));
    };
    let mut b = Builder {
        src,
        hosts: super::HostMap::default(),
        roles: IndexMap::new(),
        clusters: IndexMap::new(),
        origin: std::collections::HashMap::new(),
        warnings: Vec::new(),
    };

    if let Some(topo) = attrs.eucalyptus.as_ref().and_then(|e| e.topology.as_ref()) {
        let tp = attrs_path.key("eucalyptus").key("topology");
        eucalyptus_roles(&mut b, topo, &tp)?;
    }
    let schema = attrs
        .eucalyptus
        .as_ref()
        .and_then(|e| e.topology.as_ref())
        .map_or(Schema::Legacy, |t| {
            if t.clc.is_some() || t.objectstorage.is_some() {
                Schema::New
            } else {
                Schema::Legacy
            }
        });

    if let Some(ceph) = &attrs.ceph {
        let cp = attrs_path.key("ceph").key("topology");
        let Some(topo) = &ceph.topology else {
            return Err(src
                .error_at(
                    &attrs_path.key("ceph"),
                    "the `ceph` section has no `topology`: no monitors or OSDs to check",
                )
                .hint("add `topology: {mons: [..], osds: [..]}`, or remove the section"));
        };
        // The bootstrap monitor: `mon_bootstrap` (older Calyptos), else the first `init` mon.
        let declared = match &topo.mon_bootstrap {
            None | Some(serde_yaml::Value::Null) => None,
            Some(serde_yaml::Value::String(s)) => Some((s.clone(), cp.key("mon_bootstrap"))),
            Some(serde_yaml::Value::Mapping(m)) => match m.get("ipaddr") {
                Some(serde_yaml::Value::String(s)) => {
                    Some((s.clone(), cp.key("mon_bootstrap").key("ipaddr")))
                }
                _ => {
                    return Err(src
                        .error_at(&cp.key("mon_bootstrap"), "`mon_bootstrap` has no `ipaddr`")
                        .hint("write `mon_bootstrap: {ipaddr: 10.0.0.5, hostname: mon1}`"))
                }
            },
            Some(_) => {
                return Err(src.error_at(
                    &cp.key("mon_bootstrap"),
                    "`mon_bootstrap` must be an address or a mapping with `ipaddr`",
                ))
            }
        };
        if let Some((addr, p)) = &declared {
            b.add("mon-bootstrap", addr, p)?;
        }
        for (i, mon) in topo.mons.iter().enumerate() {
            let p = cp.key("mons").index(i).key("ipaddr");
            b.add("ceph-mons", &mon.ipaddr.0, &p)?;
        }
        for (i, osd) in topo.osds.iter().enumerate() {
            b.add("ceph-osds", &osd.ipaddr.0, &cp.key("osds").index(i).key("ipaddr"))?;
        }
        if declared.is_none() && !topo.mons.is_empty() {
            let Some(i) = topo.mons.iter().position(|m| m.init) else {
                return Err(src
                    .error_at(&cp.key("mons"), "no bootstrap monitor: no mon is marked `init: true`")
                    .hint("mark the monitor that bootstraps the cluster with `init: true` (as Calyptos requires)"));
            };
            b.add(
                "mon-bootstrap",
                &topo.mons[i].ipaddr.0,
                &cp.key("mons").index(i).key("ipaddr"),
            )?;
        }
    }

    if let Some(topo) = attrs.riakcs_cluster.as_ref().and_then(|r| r.topology.as_ref()) {
        let rp = attrs_path.key("riakcs_cluster").key("topology");
        if let Some(head) = &topo.head {
            b.add("riak-head", &head.ipaddr.0, &rp.key("head").key("ipaddr"))?;
        }
        b.add_all("riak-node", &topo.nodes, &rp.key("nodes"))?;
        b.add_all("haproxy", &topo.load_balancer, &rp.key("load_balancer"))?;
    }
    if let Some(nginx) = &attrs.nginx {
        b.add_all("nginx", &nginx.hosts, &attrs_path.key("nginx").key("hosts"))?;
    }

    let mode = attrs
        .eucalyptus
        .as_ref()
        .and_then(|e| e.network.as_ref())
        .and_then(|n| n.mode.as_ref())
        .map(|m| m.0.trim().to_ascii_uppercase());
    let vpcmido = mode.as_deref() == Some("VPCMIDO");
    if let Some(mido) = &attrs.midokura {
        legacy_midokura(&mut b, &attrs, mido, vpcmido, &attrs_path)?;
    }
    if schema == Schema::New && vpcmido {
        new_vpcmido(&mut b, &attrs, &attrs_path)?;
    }
    for (key, section, role) in [
        ("zookeeper", &attrs.zookeeper, "zookeeper"),
        ("cassandra", &attrs.cassandra, "cassandra"),
    ] {
        let Some(section) = section else { continue };
        let p = attrs_path.key(key).key("topology");
        for (entry, path) in service_hosts(src, section.topology.as_ref(), &p)? {
            b.add(role, &entry, &path)?;
        }
    }

    let Builder {
        hosts,
        roles,
        clusters,
        origin: origins,
        warnings,
        ..
    } = b;
    if hosts.is_empty() {
        return Err(src
            .error_at(&attrs_path, "no hosts found in this environment")
            .hint("expected hosts under `eucalyptus.topology`, `ceph.topology`, `riakcs_cluster.topology` or `midokura`"));
    }
    let mut ordered: IndexMap<String, Role> = IndexMap::with_capacity(roles.len() + 1);
    for name in ROLE_ORDER {
        if let Some(r) = roles.get(*name) {
            ordered.insert((*name).to_string(), r.clone());
        }
    }
    ordered.insert(
        ALL_ROLE.to_string(),
        Role {
            name: ALL_ROLE.into(),
            description: Some("every host of the deployment".into()),
            hosts: hosts.keys().cloned().collect(),
            ..Role::default()
        },
    );
    let document = src
        .value()
        .ok()
        .and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or_default();
    Ok(Deployment {
        waivers: Vec::new(),
        source: src.path.clone(),
        profile: Profile::Eucalyptus,
        name: env.name.map(|s| s.0),
        description: env.description.map(|s| s.0),
        // Calyptos deployed as root over SSH; keep that default, flags still override it.
        ssh: SshSettings {
            user: Some("root".into()),
            ..SshSettings::default()
        },
        hosts,
        roles: ordered,
        clusters,
        plugins: IndexMap::new(),
        document,
        from_env: Vec::new(),
        warnings,
        origins,
    })
}

/// Legacy `midokura` (Calyptos 5f09e6e): in VPCMIDO mode, `midonet-api` is the host that
/// `config-json.Mido.EucanetdHost` names in `midolman-host-mapping` (else the host of
/// `midonet-api-url`); `midolman` is every mapped host and every NC; ZooKeeper and Cassandra
/// hosts come from `zookeepers` and `cassandras` (`host:port`: the port is a service port).
fn legacy_midokura(
    b: &mut Builder<'_>,
    attrs: &Attrs,
    mido: &Midonet,
    vpcmido: bool,
    attrs_path: &YamlPath,
) -> Result<(), Diagnostic> {
    let mp = attrs_path.key("midokura");
    let mapping = mido.midolman_host_mapping.as_ref();
    let eucanetd = attrs
        .eucalyptus
        .as_ref()
        .and_then(|e| e.network.as_ref())
        .and_then(|n| n.config_json.as_ref())
        .and_then(|c| c.mido.as_ref())
        .and_then(|m| m.eucanetd_host.as_ref());
    let api = match (eucanetd, mapping) {
        (Some(Str(name)), Some(map)) => match map.0.get(name) {
            Some(Str(addr)) => Some((addr.clone(), mp.key("midolman-host-mapping").key(name))),
            None => {
                let p = attrs_path
                    .key("eucalyptus")
                    .key("network")
                    .key("config-json")
                    .key("Mido")
                    .key("EucanetdHost");
                return Err(b
                    .src
                    .error_at(
                        &p,
                        format!("the midonet-api host `{name}` is not in `midokura.midolman-host-mapping`"),
                    )
                    .hint("map it to its address there (Calyptos requires it too)"));
            }
        },
        _ => None,
    };
    let api = match api {
        Some(a) => Some(a),
        None => match &mido.midonet_api_url {
            Some(Str(url)) => {
                let p = mp.key("midonet-api-url");
                let host = url_host(url)
                    .ok_or_else(|| b.src.error_at(&p, format!("`{url}` is not a URL with a host")))?;
                Some((host.to_string(), p))
            }
            None => None,
        },
    };
    if let Some((addr, p)) = api {
        b.add("midonet-api", &addr, &p)?;
    }
    if let Some(map) = mapping {
        for (name, Str(addr)) in &map.0 {
            b.add("midolman", addr, &mp.key("midolman-host-mapping").key(name))?;
        }
    }
    if vpcmido {
        let ncs: Vec<String> = b
            .roles
            .get("node-controller")
            .map(|r| r.hosts.clone())
            .unwrap_or_default();
        for nc in ncs {
            let p = b.origin.get(&nc).cloned().unwrap_or_else(|| mp.clone());
            b.add("midolman", &nc, &p)?;
        }
    }
    b.add_all("mido-zookeeper", &mido.zookeepers, &mp.key("zookeepers"))?;
    b.add_all("mido-cassandra", &mido.cassandras, &mp.key("cassandras"))?;
    Ok(())
}

/// New schema, VPCMIDO (Calyptos HEAD): every CLC runs the midonet cluster (the first one
/// configures VPC); `eucalyptus.midonet.gateways` are the gateways; `midolman` is every host of
/// `eucalyptus.midonet.midolman-host-mapping`.
fn new_vpcmido(b: &mut Builder<'_>, attrs: &Attrs, attrs_path: &YamlPath) -> Result<(), Diagnostic> {
    let clcs: Vec<String> = b.roles.get("clc").map(|r| r.hosts.clone()).unwrap_or_default();
    for (i, clc) in clcs.iter().enumerate() {
        let p = b.origin.get(clc).cloned().unwrap_or_else(|| attrs_path.clone());
        b.add("midonet-cluster", clc, &p)?;
        if i == 0 {
            b.add("configure-vpc", clc, &p)?;
        }
    }
    let ep = attrs_path.key("eucalyptus");
    let Some(midonet) = attrs.eucalyptus.as_ref().and_then(|e| e.midonet.as_ref()) else {
        return Err(b
            .src
            .error_at(
                &ep.key("network").key("mode"),
                "VPCMIDO mode, but no `eucalyptus.midonet` section",
            )
            .hint("add `eucalyptus.midonet` with `gateways` and `midolman-host-mapping`"));
    };
    let mp = ep.key("midonet");
    b.unknown_keys(&midonet.other, &mp, "eucalyptus.midonet");
    let gateways_key = if b.src.text.contains("Gateways:") {
        "Gateways"
    } else {
        "gateways"
    };
    for (i, gw) in midonet.gateways.iter().flatten().enumerate() {
        let p = mp.key(gateways_key).index(i);
        let addr = match gw {
            serde_yaml::Value::String(s) => (s.clone(), p),
            serde_yaml::Value::Mapping(m) => {
                let found = ["Ip", "IP", "ip"].iter().find_map(|k| {
                    m.get(*k)
                        .and_then(serde_yaml::Value::as_str)
                        .map(|s| (s.to_string(), p.key(*k)))
                });
                found.ok_or_else(|| b.src.error_at(&p, "a gateway without `Ip`"))?
            }
            _ => {
                return Err(b
                    .src
                    .error_at(&p, "a gateway must be an address or a mapping with `Ip`"))
            }
        };
        b.add("midonet-gateway", &addr.0, &addr.1)?;
    }
    if let Some(map) = &midonet.midolman_host_mapping {
        for (name, Str(addr)) in &map.0 {
            b.add("midolman", addr, &mp.key("midolman-host-mapping").key(name))?;
        }
    }
    Ok(())
}

/// The hosts of a `topology` value, each with the path of where it is written.
fn service_hosts(
    src: &Source,
    topology: Option<&serde_yaml::Value>,
    p: &YamlPath,
) -> Result<Vec<(String, YamlPath)>, Diagnostic> {
    Ok(match topology {
        None | Some(serde_yaml::Value::Null) => Vec::new(),
        Some(serde_yaml::Value::Sequence(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                serde_yaml::Value::String(s) => Ok((s.clone(), p.index(i))),
                _ => Err(src.error_at(&p.index(i), "expected an address")),
            })
            .collect::<Result<_, _>>()?,
        Some(serde_yaml::Value::Mapping(m)) => m
            .keys()
            .filter_map(|k| k.as_str().map(|s| (s.to_string(), p.key(s))))
            .collect(),
        Some(serde_yaml::Value::String(text)) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| (l.split('=').next().unwrap_or(l).trim().to_string(), p.clone()))
            .collect(),
        Some(_) => return Err(src.error_at(p, "expected a list of addresses")),
    })
}

fn eucalyptus_roles(b: &mut Builder<'_>, topo: &Topology, tp: &YamlPath) -> Result<(), Diagnostic> {
    if topo.clc_1.is_some() && topo.clc.is_some() {
        return Err(b
            .src
            .error_at(
                &tp.key("clc"),
                "both `clc-1` (legacy schema) and `clc` (new schema) are set",
            )
            .hint("use one topology schema: `clc-1: <ip>` or `clc: [<ip>, ..]`"));
    }
    if let Some(Str(clc)) = &topo.clc_1 {
        b.add("clc", clc, &tp.key("clc-1"))?;
    }
    let clcs = b.add_all("clc", &topo.clc, &tp.key("clc"))?;
    b.add_all("user-facing", &topo.user_facing, &tp.key("user-facing"))?;
    b.add_all("console", &topo.console, &tp.key("console"))?;
    b.add_all("walrus", &topo.walrus, &tp.key("walrus"))?;
    if let Some(os) = &topo.objectstorage {
        let is_walrus = os.providerclient.as_ref().is_none_or(|p| p.0 == "walrus");
        if is_walrus {
            b.add_all(
                "walrus",
                &os.walrusbackend,
                &tp.key("objectstorage").key("walrusbackend"),
            )?;
        }
    }
    b.unknown_keys(&topo.other, tp, "eucalyptus.topology");
    if let Some(clusters) = &topo.clusters {
        for (name, c) in &clusters.0 {
            let cp = tp.key("clusters").key(name);
            b.unknown_keys(&c.other, &cp, &format!("cluster `{name}`"));
            let mut members: IndexSet<String> = IndexSet::new();
            if let Some(Str(cc)) = &c.cc_1 {
                members.insert(b.add("cluster-controller", cc, &cp.key("cc-1"))?);
            }
            members.extend(b.add_all("cluster-controller", &c.cc, &cp.key("cc"))?);
            if let Some(Str(sc)) = &c.sc_1 {
                members.insert(b.add("storage-controller", sc, &cp.key("sc-1"))?);
            }
            members.extend(b.add_all("storage-controller", &c.sc, &cp.key("sc"))?);
            members.extend(b.add_all("node-controller", &c.nodes, &cp.key("nodes"))?);
            b.clusters.insert(name.clone(), members.into_iter().collect());
        }
    }
    // The new schema's deployer configures the cloud and the admin credentials on the first CLC.
    if let Some(first) = clcs.first() {
        b.add("configure-eucalyptus", first, &tp.key("clc").index(0))?;
        b.add("setup-admin-creds", first, &tp.key("clc").index(0))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_split() {
        assert_eq!(split_host_port("10.1.1.1:9160"), Some(("10.1.1.1", Some(9160))));
        assert_eq!(split_host_port("10.1.1.1"), Some(("10.1.1.1", None)));
        assert_eq!(split_host_port("fe80::1"), Some(("fe80::1", None)));
        assert_eq!(split_host_port("[::1]:22"), Some(("::1", Some(22))));
        assert_eq!(split_host_port("a:b"), None);
        assert_eq!(
            url_host("http://10.111.1.41:8080/midonet-api"),
            Some("10.111.1.41")
        );
    }
}
