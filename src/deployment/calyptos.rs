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
pub const ROLE_ORDER: &[&str] = &[
    "clc",
    "user-facing",
    "console",
    "walrus",
    "cluster-controller",
    "storage-controller",
    "node-controller",
    "configure-eucalyptus",
    "setup-admin-creds",
    "ceph-mons",
    "ceph-osds",
    "mon-bootstrap",
    "riak-head",
    "riak-node",
    "haproxy",
    "nginx",
    "midonet-api",
    "midolman",
    "mido-zookeeper",
    "mido-cassandra",
    "midonet-cluster",
    "midonet-gateway",
    "zookeeper",
    "cassandra",
];

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
    midonet: Option<Midonet>,
    nginx: Option<Nginx>,
}

#[derive(Debug, Default, Deserialize)]
struct Euca {
    topology: Option<Topology>,
    network: Option<Network>,
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
}

#[derive(Debug, Default, Deserialize)]
struct Network {
    #[serde(rename = "config-json")]
    config_json: Option<ConfigJson>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigJson {
    #[serde(rename = "Mido")]
    mido: Option<Mido>,
}

/// `config-json.Mido`: the gateways of a VPCMIDO cloud (new schema), by host name or IP.
#[derive(Debug, Default, Deserialize)]
struct Mido {
    #[serde(rename = "EucanetdHost")]
    eucanetd_host: Option<Str>,
    #[serde(rename = "Gateways", default)]
    gateways: Vec<MidoGateway>,
}

#[derive(Debug, Default, Deserialize)]
struct MidoGateway {
    #[serde(rename = "GatewayHost")]
    gateway_host: Option<Str>,
}

#[derive(Debug, Default, Deserialize)]
struct Ceph {
    topology: Option<CephTopology>,
}

#[derive(Debug, Default, Deserialize)]
struct CephTopology {
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
    hosts: IndexMap<String, Host>,
    roles: IndexMap<String, Role>,
    clusters: IndexMap<String, Vec<String>>,
}

impl Builder<'_> {
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
        self.hosts.entry(host.to_string()).or_insert_with(|| Host {
            name: host.to_string(),
            address: host.to_string(),
            port: None,
            user: None,
            jump: None,
            vars: serde_json::Map::new(),
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
        hosts: IndexMap::new(),
        roles: IndexMap::new(),
        clusters: IndexMap::new(),
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

    if let Some(topo) = attrs.ceph.as_ref().and_then(|c| c.topology.as_ref()) {
        let cp = attrs_path.key("ceph").key("topology");
        for (i, mon) in topo.mons.iter().enumerate() {
            let p = cp.key("mons").index(i).key("ipaddr");
            b.add("ceph-mons", &mon.ipaddr.0, &p)?;
        }
        for (i, osd) in topo.osds.iter().enumerate() {
            b.add("ceph-osds", &osd.ipaddr.0, &cp.key("osds").index(i).key("ipaddr"))?;
        }
        // The bootstrap monitor is the one marked `init`, else the first.
        let boot =
            topo.mons
                .iter()
                .position(|m| m.init)
                .or(if topo.mons.is_empty() { None } else { Some(0) });
        if let Some(i) = boot {
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

    for (key, mido) in [("midokura", &attrs.midokura), ("midonet", &attrs.midonet)] {
        let Some(mido) = mido else { continue };
        let mp = attrs_path.key(key);
        let (zk, cass) = match schema {
            Schema::Legacy => ("mido-zookeeper", "mido-cassandra"),
            Schema::New => ("zookeeper", "cassandra"),
        };
        if schema == Schema::Legacy {
            if let Some(Str(url)) = &mido.midonet_api_url {
                let p = mp.key("midonet-api-url");
                let host = url_host(url)
                    .ok_or_else(|| src.error_at(&p, format!("`{url}` is not a URL with a host")))?;
                b.add("midonet-api", host, &p)?;
            }
        }
        if let Some(map) = &mido.midolman_host_mapping {
            for (name, Str(addr)) in &map.0 {
                b.add("midolman", addr, &mp.key("midolman-host-mapping").key(name))?;
            }
        }
        b.add_all(zk, &mido.zookeepers, &mp.key("zookeepers"))?;
        b.add_all(cass, &mido.cassandras, &mp.key("cassandras"))?;
    }

    if schema == Schema::New {
        if let Some(mido) = attrs
            .eucalyptus
            .as_ref()
            .and_then(|e| e.network.as_ref())
            .and_then(|n| n.config_json.as_ref())
            .and_then(|c| c.mido.as_ref())
        {
            let mp = attrs_path
                .key("eucalyptus")
                .key("network")
                .key("config-json")
                .key("Mido");
            // Mido names hosts by DNS name; the host mapping turns them into addresses.
            let resolve = |name: &str| -> String {
                [&attrs.midonet, &attrs.midokura]
                    .into_iter()
                    .flatten()
                    .find_map(|m| m.midolman_host_mapping.as_ref()?.0.get(name).map(|s| s.0.clone()))
                    .unwrap_or_else(|| name.to_string())
            };
            if let Some(Str(h)) = &mido.eucanetd_host {
                b.add("midonet-cluster", &resolve(h), &mp.key("EucanetdHost"))?;
            }
            for (i, gw) in mido.gateways.iter().enumerate() {
                if let Some(Str(h)) = &gw.gateway_host {
                    b.add(
                        "midonet-gateway",
                        &resolve(h),
                        &mp.key("Gateways").index(i).key("GatewayHost"),
                    )?;
                }
            }
        }
    }

    let Builder {
        hosts,
        roles,
        clusters,
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
        warnings: Vec::new(),
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
    if let Some(clusters) = &topo.clusters {
        for (name, c) in &clusters.0 {
            let cp = tp.key("clusters").key(name);
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
