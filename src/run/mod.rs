//! Orchestration: plugins x deployment -> results. Below it: the deployment, the remote
//! executors, the plugin host and the results model; above it: the renderers (`report`) and the
//! CLI.

pub mod debug;
pub mod merge;
pub mod pattern;
pub mod validate;

pub use crate::results::{baseline, shard};

use std::collections::HashSet;

use rayon::prelude::*;

use rolecall_plugin::{ClusterInfo, Fleet, HostInfo, Options, RoleInfo};

use crate::deployment::error::did_you_mean;
use crate::deployment::Deployment;
use crate::plugin::wire::Pieces;
use crate::plugin::{Plugin, PluginKind, Registry};
use crate::remote::settings::{HostSettings, Reach};
use crate::results::Results;

/// The deployment as plugins see it, effective SSH endpoints included: its host list is the
/// hosts of `settings` (their resolved settings, [`Reach::resolve`] once per run), in order.
pub fn fleet(d: &Deployment, settings: &[HostSettings]) -> Fleet {
    fleet_with(d, settings.iter().filter_map(|s| host_info(d, s)).collect())
}

/// A host as plugins see it: `s`'s endpoint and the deployment's vars.
pub fn host_info(d: &Deployment, s: &HostSettings) -> Option<HostInfo> {
    let vars = d.hosts.get(&s.name)?.vars.clone();
    let e = s.endpoint();
    Some(HostInfo {
        name: s.name.clone(),
        address: e.address,
        port: e.port,
        user: e.user,
        vars,
    })
}

/// Hosts one resolver resolves at a time in [`resolved_fleet_json`]: enough to be worth a
/// job, few enough to keep the threads' shares even.
const HOSTS_PER_JOB: usize = 1024;

/// [`fleet_json`] of [`fleet`] for [`Reach::resolve`] of every host, without either: hosts are
/// resolved in parallel (a [`Resolver::fork`](crate::remote::settings::Resolver::fork) per
/// thread) and written as JSON as they are, so no host's settings are kept (at 100,000 hosts,
/// all of them weighed 120 MB, a `HostInfo` each 22 MB). A test holds the two byte for byte
/// equal.
pub fn resolved_fleet_json(d: &Deployment, reach: &Reach) -> Pieces {
    let hosts: Vec<(&String, &crate::deployment::Host)> = d.hosts.iter().collect();
    let base = reach.resolver(d);
    let pieces: Vec<String> = hosts
        .par_chunks(HOSTS_PER_JOB)
        .map_init(
            || base.fork(),
            |r, chunk| {
                // About what a host takes without vars: the piece is not regrown (doubling left
                // a third of 10 MB unused).
                let mut out = Vec::with_capacity(chunk.len() * 96);
                for (name, h) in chunk {
                    let Some(s) = r.host(name) else { continue };
                    let view = HostView {
                        name,
                        address: &s.address.value,
                        port: s.port.value,
                        user: &s.user.value,
                        vars: &h.vars,
                    };
                    view.write(&mut out);
                }
                out.shrink_to_fit();
                // serde_json writes UTF-8.
                String::from_utf8(out).unwrap_or_default()
            },
        )
        .collect();
    write_fleet_json(d, pieces)
}

/// A [`HostInfo`] as it serializes, borrowed.
#[derive(serde::Serialize)]
struct HostView<'a> {
    name: &'a str,
    address: &'a str,
    port: u16,
    user: &'a str,
    vars: &'a serde_json::Map<String, serde_json::Value>,
}

impl HostView<'_> {
    /// Append this host's JSON to a list of hosts' (comma-separated).
    fn write(&self, out: &mut Vec<u8>) {
        if !out.is_empty() {
            out.push(b',');
        }
        // Into a Vec: cannot fail.
        let _ = serde_json::to_writer(out, self);
    }
}

/// The deployment as plugins see it, with `hosts` as its host list.
pub fn fleet_with(d: &Deployment, hosts: Vec<HostInfo>) -> Fleet {
    Fleet {
        name: d.name.clone(),
        profile: d.profile.name().to_string(),
        source: d.source.display().to_string(),
        hosts,
        others: Vec::new(),
        roles: d
            .roles
            .values()
            .map(|r| RoleInfo {
                name: r.name.clone(),
                hosts: r.hosts.clone(),
                members: Vec::new(),
                min: r.min,
                max: r.max,
                expect: r.expect.clone(),
                service_ports: r.service_ports.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                checks: r.checks.clone(),
            })
            .collect(),
        clusters: d
            .clusters
            .iter()
            .map(|(n, h)| ClusterInfo {
                name: n.clone(),
                hosts: h.clone(),
                members: Vec::new(),
            })
            .collect(),
        document: d.document.clone(),
        plugins: d.plugins.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

/// The JSON of [`fleet_with`]`(d, hosts)`, written from the deployment as it is instead of
/// through a copy of it in an SDK `Fleet` (at 100,000 hosts the role and cluster lists alone
/// are 300,000 names). A test holds the two byte for byte equal.
pub fn fleet_json(d: &Deployment, hosts: &[HostInfo]) -> Pieces {
    let mut out = Vec::new();
    for h in hosts {
        let view = HostView {
            name: &h.name,
            address: &h.address,
            port: h.port,
            user: &h.user,
            vars: &h.vars,
        };
        view.write(&mut out);
    }
    // serde_json writes UTF-8.
    write_fleet_json(d, vec![String::from_utf8(out).unwrap_or_default()])
}

/// The fleet's JSON with `hosts` as its host list: pieces in order, each the comma-separated
/// JSON of consecutive hosts. The fields before and after the list are written by serde, the
/// list between them (the order of `Fleet`'s fields).
fn write_fleet_json(d: &Deployment, hosts: Vec<String>) -> Pieces {
    #[derive(serde::Serialize)]
    struct Head<'a> {
        name: &'a Option<String>,
        profile: &'static str,
        source: String,
    }
    #[derive(serde::Serialize)]
    struct Tail<'a> {
        roles: Vec<RoleView<'a>>,
        clusters: Vec<ClusterView<'a>>,
        document: &'a serde_json::Value,
        #[serde(skip_serializing_if = "indexmap::IndexMap::is_empty")]
        plugins: &'a indexmap::IndexMap<String, serde_json::Value>,
    }
    #[derive(serde::Serialize)]
    struct RoleView<'a> {
        name: &'a str,
        hosts: &'a [String],
        min: Option<usize>,
        max: Option<usize>,
        expect: &'a serde_json::Value,
        service_ports: std::collections::BTreeMap<&'a str, u16>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        checks: &'a [rolecall_plugin::checks::Check],
    }
    #[derive(serde::Serialize)]
    struct ClusterView<'a> {
        name: &'a str,
        hosts: &'a [String],
    }
    let head = Head {
        name: &d.name,
        profile: d.profile.name(),
        source: d.source.display().to_string(),
    };
    let tail = Tail {
        roles: d
            .roles
            .values()
            .map(|r| RoleView {
                name: &r.name,
                hosts: &r.hosts,
                min: r.min,
                max: r.max,
                expect: &r.expect,
                service_ports: r.service_ports.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
                checks: &r.checks,
            })
            .collect(),
        clusters: d
            .clusters
            .iter()
            .map(|(n, h)| ClusterView { name: n, hosts: h })
            .collect(),
        document: &d.document,
        plugins: &d.plugins,
    };
    // Plain structs of strings and JSON values: they serialize.
    let head = serde_json::to_string(&head).unwrap_or_default();
    let tail = serde_json::to_string(&tail).unwrap_or_default();
    // `{"name":..,"source":".."}` and `{"roles":..}`: both objects with fields.
    let mut text = Pieces::default();
    text.push(format!(
        r#"{},"hosts":["#,
        head.strip_suffix('}').unwrap_or(&head)
    ));
    for (i, piece) in hosts.into_iter().filter(|p| !p.is_empty()).enumerate() {
        if i > 0 {
            text.push(",");
        }
        text.push(piece);
    }
    text.push("],");
    text.push(tail.strip_prefix('{').unwrap_or(&tail).to_string());
    text
}

/// The hidden argument with which the SDK's testing kit asks the binary for a plugin's input.
pub const PLUGIN_INPUT_ARG: &str = "__plugin-input";

/// `rolecall __plugin-input FILE [PLUGIN]`: the input `validate` would give PLUGIN (default
/// `plugin`) for the deployment at FILE, any profile, read by the same code as a real run. No
/// ssh_config is read (the kit's answer does not depend on the machine's), no plugin is loaded
/// (no declared `expect` keys); the allow-list comes from `ROLECALL_ALLOW_NETS`.
pub fn plugin_input(args: &[std::ffi::OsString]) -> Result<String, String> {
    let Some(path) = args.first() else {
        return Err(format!("usage: rolecall {PLUGIN_INPUT_ARG} FILE [PLUGIN]"));
    };
    let plugin = args
        .get(1)
        .map_or_else(|| "plugin".to_string(), |p| p.to_string_lossy().into_owned());
    let d = crate::deployment::load(std::path::Path::new(path), None).map_err(|e| e.to_string())?;
    let all: Vec<String> = d.hosts.keys().cloned().collect();
    let (settings, _) = Reach::default().resolve(&d, &all);
    let fleet = serde_json::to_string(&fleet(&d, &settings)).map_err(|e| e.to_string())?;
    let options = Options {
        allow_nets: allow_nets_from_env(),
        ..Options::default()
    };
    let run = crate::plugin::wire::PluginRun {
        config: d.plugins.get(&plugin).cloned().unwrap_or_default(),
        plugin,
    };
    Ok(crate::plugin::wire::plugin_input(
        &run,
        &options,
        &[],
        None,
        &fleet,
    ))
}

/// The networks of `ROLECALL_ALLOW_NETS`, as given (comma-separated).
pub fn allow_nets_from_env() -> Vec<String> {
    std::env::var(crate::remote::ALLOW_NETS_ENV)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The `expect` keys every loaded plugin declares, as plugins receive them.
pub fn expect_keys(registry: &Registry) -> Vec<rolecall_plugin::ExpectKey> {
    registry
        .plugins
        .iter()
        .flat_map(|p| p.expect.iter().cloned())
        .collect()
}

/// `plugins` grouped by library (each group runs in one plugin host), groups in the order of
/// their first plugin, plugins in load order within each.
pub fn by_library<'r>(plugins: &[&'r Plugin]) -> Vec<Vec<&'r Plugin>> {
    let mut groups: Vec<Vec<&Plugin>> = Vec::new();
    for &p in plugins {
        match groups.iter_mut().find(|g| g[0].library == p.library) {
            Some(g) => g.push(p),
            None => groups.push(vec![p]),
        }
    }
    groups
}

/// The hosts a remote run works on: those of `roles` (all when empty), narrowed to the host
/// patterns of `limit` ([`pattern`]; none when empty), in file order. Unknown roles and patterns
/// that match nothing are errors, so a typo never silently means "nothing" or "everything".
pub fn select(d: &Deployment, roles: &[String], limit: &[String]) -> Result<Vec<String>, String> {
    select_with_warnings(d, roles, limit).map(|s| s.hosts)
}

/// The hosts `roles` and `limit` select: with `limit`, in the order its patterns select them
/// (Ansible's), else in file order; with the pattern warnings (terms skipped) and the terms a
/// rolecall extension answered.
pub fn select_with_warnings(
    d: &Deployment,
    roles: &[String],
    limit: &[String],
) -> Result<pattern::Selected, String> {
    let mut wanted: HashSet<&str> = HashSet::new();
    for role in roles {
        let Some(hosts) = d.role_hosts(role) else {
            let hint = did_you_mean(role, d.roles.keys().map(String::as_str))
                .map(|h| format!("\nhint: {h}"))
                .unwrap_or_default();
            return Err(format!("no role `{role}` in {}{hint}", d.source.display()));
        };
        if hosts.is_empty() && roles.len() == 1 {
            return Err(format!("role `{role}` has no hosts in {}", d.source.display()));
        }
        wanted.extend(hosts.iter().map(String::as_str));
    }
    let mut sel = if limit.is_empty() {
        pattern::Selected {
            hosts: d.hosts.keys().cloned().collect(),
            ..pattern::Selected::default()
        }
    } else {
        pattern::select_pattern(d, limit)?
    };
    sel.hosts
        .retain(|h| roles.is_empty() || wanted.contains(h.as_str()));
    if sel.hosts.is_empty() {
        return Err("the --roles and --limit given select no host".into());
    }
    Ok(sel)
}

/// `fleet` for a run that works on the hosts of `settings` only (the selected hosts' resolved
/// settings; [`Fleet::select`]): commands go to them; the rest of the deployment stays there to
/// be looked at (targets, peers, whole roles), so a check that crosses the selection (a
/// `connect:` towards another role, NC to CC) gives on a part of the fleet what it gives on the
/// whole. The others carry the deployment's own address, port and user: no ssh_config (whose
/// `Match exec` runs commands) is read for hosts rolecall will not connect to.
pub fn fleet_of(d: &Deployment, settings: &[HostSettings]) -> Fleet {
    let keep: HashSet<&str> = settings.iter().map(|s| s.name.as_str()).collect();
    let mut f = fleet(d, settings);
    f.select(|h| keep.contains(h));
    f.others = d
        .hosts
        .values()
        .filter(|h| !keep.contains(h.name.as_str()))
        .map(|h| HostInfo {
            name: h.name.clone(),
            address: h.address.clone(),
            port: h.port.unwrap_or(22),
            user: h.user.clone().unwrap_or_default(),
            vars: h.vars.clone(),
        })
        .collect();
    f
}

/// The plugins of `kind` a run selects with `only` (empty = all) and `skip`, in load order. Load
/// problems and names that match no plugin of that kind go to `results`.
pub fn select_plugins<'r>(
    registry: &'r Registry,
    kind: PluginKind,
    only: &[String],
    skip: &[String],
    results: &mut Results,
) -> Vec<&'r Plugin> {
    results.load_problems.extend(registry.problems.iter().cloned());
    for name in only.iter().chain(skip) {
        if !registry.of_kind(kind).any(|p| &p.name == name) {
            results.unknown_plugins.push(name.clone());
        }
    }
    registry
        .of_kind(kind)
        .filter(|p| (only.is_empty() || only.contains(&p.name)) && !skip.contains(&p.name))
        .collect()
}

/// A plugin's finding about a host the run does not cover becomes that plugin's error: a
/// result for a host outside the deployment (or, with `selected`, outside the run's selection)
/// would stand for a host nobody checked.
pub(crate) fn refuse_foreign(
    plugin: &str,
    f: rolecall_plugin::Finding,
    d: &Deployment,
    selected: Option<&HashSet<String>>,
) -> rolecall_plugin::Finding {
    let Some(host) = f.host.as_deref() else {
        return f;
    };
    let why = if !d.hosts.contains_key(host) {
        "which is not a host of the deployment"
    } else if selected.is_some_and(|s| !s.contains(host)) {
        "which is not among the selected hosts (see --roles, --limit)"
    } else {
        return f;
    };
    rolecall_plugin::Finding {
        status: rolecall_plugin::Status::Error,
        check: "plugin".into(),
        message: format!(
            "plugin `{plugin}` reported a result for `{host}`, {why} (check `{}`: {})",
            f.check, f.message
        ),
        host: None,
        path: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(host: &str) -> rolecall_plugin::Finding {
        rolecall_plugin::Finding {
            status: rolecall_plugin::Status::Pass,
            check: "c".into(),
            host: Some(host.into()),
            message: "fine".into(),
            path: None,
        }
    }

    /// The hosts `validate` streams (each resolved and dropped in turn) are those of the fleet
    /// built from every host's settings resolved at once.
    #[test]
    fn hosts_resolved_in_parallel_are_the_fleets_hosts() {
        let d = crate::deployment::load_str(
            "d.yaml",
            "ssh: {user: ops, port: 2200}\nhosts:\n  a: 127.0.0.2\n  b: {address: 127.0.0.3, port: 22, user: me}\n  \
             c: {address: 127.0.0.4, vars: {x: 1}, jump: a}\nroles:\n  web: [a, b, c]\n",
            None,
        )
        .expect("loads");
        let reach = Reach {
            flags: crate::deployment::SshSettings {
                port: Some(2222),
                ..Default::default()
            },
            ..Reach::default()
        };
        let all: Vec<String> = d.hosts.keys().cloned().collect();
        let whole = serde_json::to_string(&fleet(&d, &reach.resolve(&d, &all).0)).expect("json");
        let json = resolved_fleet_json(&d, &reach).concat();
        assert_eq!(json, whole);
        let streamed: Fleet = serde_json::from_str(&json).expect("json");
        assert_eq!(streamed.hosts.len(), 3);
        assert_eq!(
            (streamed.hosts[1].port, streamed.hosts[1].user.as_str()),
            (2222, "me")
        );
    }

    /// Hosts resolved by several resolvers at once keep the deployment's order, each with its
    /// own settings, over many jobs (more hosts than [`HOSTS_PER_JOB`], in uneven pieces).
    #[test]
    fn many_hosts_resolved_in_parallel_keep_their_order() {
        let n = HOSTS_PER_JOB * 3 + 17;
        let mut yaml = String::from("hosts:\n");
        for i in 0..n {
            yaml.push_str(&format!(
                "  h{i}: {{address: 127.0.{}.{}, port: {}}}\n",
                i / 250,
                i % 250 + 1,
                1000 + i
            ));
        }
        yaml.push_str("roles:\n  web: [h0]\n");
        let d = crate::deployment::load_str("d.yaml", &yaml, None).expect("loads");
        let all: Vec<String> = d.hosts.keys().cloned().collect();
        let reach = Reach::default();
        let one_by_one = serde_json::to_string(&fleet(&d, &reach.resolve(&d, &all).0)).expect("json");
        assert_eq!(resolved_fleet_json(&d, &reach).concat(), one_by_one);
    }

    /// The fleet's JSON written from the deployment is the SDK `Fleet`'s, byte for byte, on
    /// every input kind, with roles that carry limits, expectations, service ports and checks.
    #[test]
    fn the_fleets_json_is_the_sdk_fleets() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for file in [
            "deploy.example.yaml",
            "examples/demo.yaml",
            "tests/fixtures/calyptos/new-schema-vpcmido.yaml",
            "tests/fixtures/calyptos/examples-environment.vpc.yaml",
            "tests/fixtures/ansible/kubespray-inventory-local-hosts.ini",
        ] {
            let d = crate::deployment::load(&root.join(file), None).expect("loads");
            same_json(&d, file);
        }
        let checks = crate::deployment::load_str(
            "d.yaml",
            "hosts:\n  web01: {address: 127.0.0.2, vars: {x: [1]}}\nroles:\n  web:\n    hosts: [web01]\n    \
             checks:\n      - {id: ok, command: \"echo hi\", stdout: {contains: hi}}\n",
            None,
        )
        .expect("loads");
        assert!(checks.roles.values().any(|r| !r.checks.is_empty()));
        same_json(&checks, "checks");
    }

    fn same_json(d: &Deployment, what: &str) {
        let all: Vec<String> = d.hosts.keys().cloned().collect();
        let settings = Reach::default().resolve(d, &all).0;
        let hosts: Vec<HostInfo> = settings.iter().filter_map(|s| host_info(d, s)).collect();
        assert!(!hosts.is_empty(), "{what}");
        let sdk = serde_json::to_string(&fleet_with(d, hosts.clone())).expect("json");
        assert_eq!(fleet_json(d, &hosts).concat(), sdk, "{what}");
        assert_eq!(resolved_fleet_json(d, &Reach::default()).concat(), sdk, "{what}");
    }

    /// Regression: results for hosts outside the deployment or the selection were accepted.
    #[test]
    fn results_for_hosts_the_run_does_not_cover_are_the_plugins_error() {
        let d = crate::deployment::load_str(
            "d.yaml",
            "hosts:\n  a: 127.0.0.2\n  b: 127.0.0.3\nroles:\n  web: [a, b]\n",
            None,
        )
        .expect("loads");
        let selected: HashSet<String> = ["a".to_string()].into();
        let kept = refuse_foreign("p", finding("a"), &d, Some(&selected));
        assert_eq!(kept.status, rolecall_plugin::Status::Pass);
        let outside = refuse_foreign("p", finding("b"), &d, Some(&selected));
        assert_eq!(outside.status, rolecall_plugin::Status::Error);
        assert_eq!(
            outside.message,
            "plugin `p` reported a result for `b`, which is not among the selected hosts \
             (see --roles, --limit) (check `c`: fine)"
        );
        let stranger = refuse_foreign("p", finding("z"), &d, None);
        assert!(stranger.message.contains("which is not a host of the deployment"));
        assert_eq!(
            refuse_foreign("p", finding("b"), &d, None).status,
            rolecall_plugin::Status::Pass
        );
    }
}
