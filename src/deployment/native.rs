//! The native rolecall format: raw serde schema (mirrors the YAML, unknown keys refused) and its
//! conversion into the validated [`Deployment`]. See `deploy.example.yaml` for a commented example.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::de::{OneOrMany, Str, UniqueMap};
use super::error::{did_you_mean, Diagnostic};
use super::locate::{Segment, YamlPath};
use super::source::Source;
use super::{
    interp, range, Deployment, Hasher, Host, HostKeyChecking, HostMap, Profile, Role, SshSettings, ALL_ROLE,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeployment {
    name: Option<Str>,
    description: Option<Str>,
    #[serde(default)]
    ssh: RawSsh,
    hosts: UniqueMap<RawHost>,
    #[serde(default)]
    roles: UniqueMap<RawRole>,
    #[serde(default)]
    clusters: UniqueMap<OneOrMany<Str>>,
    #[serde(default)]
    plugins: UniqueMap<serde_yaml::Value>,
    #[serde(default)]
    waivers: Vec<crate::results::waiver::RawWaiver>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSsh {
    user: Option<Str>,
    port: Option<u16>,
    #[serde(default)]
    identity: OneOrMany<Str>,
    known_hosts: Option<Str>,
    host_key_checking: Option<HostKeyChecking>,
    connect_timeout: Option<Seconds>,
    command_timeout: Option<Seconds>,
    jump: Option<OneOrMany<Str>>,
    #[serde(rename = "become")]
    sudo: Option<bool>,
    #[serde(rename = "become_user")]
    sudo_user: Option<Str>,
}

/// A duration written in seconds (`5`, `2.5`).
#[derive(Debug, Clone, Copy)]
struct Seconds(Duration);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero())
            .map(Seconds)
            .ok_or_else(|| super::de::custom(format_args!("`{secs}` is not a positive number of seconds")))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHostSpec {
    address: Option<Str>,
    port: Option<u16>,
    user: Option<Str>,
    jump: Option<OneOrMany<Str>>,
    #[serde(default)]
    vars: UniqueMap<serde_yaml::Value>,
}

/// `name:` (address = name), `name: 10.0.0.1` (address only) or `name: {address: .., ..}`.
#[derive(Debug, Default)]
struct RawHost(RawHostSpec);

impl<'de> Deserialize<'de> for RawHost {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawHost;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address or a mapping with `address`, `port`, `user`, `jump`, `vars`")
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawHost, E> {
                Ok(RawHost::default())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawHost, E> {
                let address = Str::deserialize(de::value::StrDeserializer::new(v))?;
                Ok(RawHost(RawHostSpec {
                    address: Some(address),
                    ..RawHostSpec::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawHost, A::Error> {
                RawHostSpec::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawHost)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoleSpec {
    #[serde(default)]
    hosts: OneOrMany<Str>,
    description: Option<Str>,
    min: Option<usize>,
    max: Option<usize>,
    expect: Option<serde_yaml::Value>,
    jump: Option<OneOrMany<Str>>,
    #[serde(rename = "become")]
    sudo: Option<bool>,
    #[serde(rename = "become_user")]
    sudo_user: Option<Str>,
    checks: Option<Vec<rolecall_plugin::checks::Check>>,
}

/// `role: [hosts..]`, `role: host`, or `role: {hosts: [..], min: .., max: .., expect: ..}`.
#[derive(Debug)]
enum RawRole {
    Short(OneOrMany<Str>),
    Full(Box<RawRoleSpec>),
}

impl<'de> Deserialize<'de> for RawRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawRole;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of hosts or a mapping with `hosts`")
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawRole, E> {
                Ok(RawRole::Short(OneOrMany::default()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawRole, E> {
                let host = Str::deserialize(de::value::StrDeserializer::new(v))?;
                Ok(RawRole::Short(OneOrMany(vec![host])))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawRole, A::Error> {
                OneOrMany::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(RawRole::Short)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawRole, A::Error> {
                RawRoleSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|spec| RawRole::Full(Box::new(spec)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Build the validated deployment from a native-format file.
pub fn build(src: &Source) -> Result<Deployment, Diagnostic> {
    let raw: RawDeployment = src.deserialize()?;
    let root = YamlPath::root();
    let ssh = build_ssh(raw.ssh);
    let (hosts, origins) = build_hosts(src, raw.hosts)?;

    let mut roles: IndexMap<String, Role> = IndexMap::with_capacity(raw.roles.0.len() + 1);
    for (name, spec) in raw.roles.0 {
        let path = root.key("roles").key(&name);
        check_name(src, || path.clone(), "role", &name)?;
        if name == ALL_ROLE {
            return Err(src
                .error_at(
                    &path,
                    format!("`{ALL_ROLE}` is a derived role (every host) and cannot be defined"),
                )
                .hint("pick another name for this role"));
        }
        let role = match spec {
            RawRole::Short(list) => Role {
                name: name.clone(),
                hosts: resolve_hosts(src, &path, &name, "role", list, &hosts)?,
                ..Role::default()
            },
            RawRole::Full(spec) => {
                let spec = *spec;
                if let (Some(min), Some(max)) = (spec.min, spec.max) {
                    if min > max {
                        return Err(src.error_at(
                            &path.key("min"),
                            format!("`min` ({min}) is greater than `max` ({max})"),
                        ));
                    }
                }
                let expect = match spec.expect {
                    Some(v) => to_json(src, &path.key("expect"), v)?,
                    None => serde_json::Value::Null,
                };
                let checks = spec.checks.unwrap_or_default();
                check_checks(src, &path.key("checks"), &checks)?;
                Role {
                    name: name.clone(),
                    description: spec.description.map(|s| s.0),
                    hosts: resolve_hosts(src, &path.key("hosts"), &name, "role", spec.hosts, &hosts)?,
                    min: spec.min,
                    max: spec.max,
                    expect,
                    service_ports: IndexMap::new(),
                    jump: spec.jump.map(jump_list),
                    sudo: spec.sudo,
                    sudo_user: spec.sudo_user.map(|s| s.0),
                    checks,
                }
            }
        };
        roles.insert(name, role);
    }
    roles.insert(
        ALL_ROLE.to_string(),
        Role {
            name: ALL_ROLE.to_string(),
            description: Some("every host of the deployment".into()),
            hosts: hosts.keys().cloned().collect(),
            ..Role::default()
        },
    );

    let mut clusters = IndexMap::with_capacity(raw.clusters.0.len());
    for (name, list) in raw.clusters.0 {
        let path = root.key("clusters").key(&name);
        check_name(src, || path.clone(), "cluster", &name)?;
        let members = resolve_hosts(src, &path, &name, "cluster", list, &hosts)?;
        clusters.insert(name, members);
    }

    let mut plugins = IndexMap::with_capacity(raw.plugins.0.len());
    for (name, value) in raw.plugins.0 {
        let json = to_json(src, &root.key("plugins").key(&name), value)?;
        plugins.insert(name, json);
    }

    let waivers = waivers(src, &root, raw.waivers)?;

    Ok(Deployment {
        waivers,
        source: src.path.clone(),
        profile: Profile::Native,
        name: raw.name.map(|s| s.0),
        description: raw.description.map(|s| s.0),
        ssh,
        hosts,
        roles,
        clusters,
        plugins,
        document: serde_json::Value::Null,
        from_env: Vec::new(),
        warnings: Vec::new(),
        origins,
    })
}

fn build_ssh(raw: RawSsh) -> SshSettings {
    SshSettings {
        user: raw.user.map(|s| s.0),
        port: raw.port,
        identities: raw.identity.0.into_iter().map(|s| PathBuf::from(s.0)).collect(),
        known_hosts: raw.known_hosts.map(|s| PathBuf::from(s.0)),
        host_key_checking: raw.host_key_checking,
        connect_timeout: raw.connect_timeout.map(|s| s.0),
        command_timeout: raw.command_timeout.map(|s| s.0),
        jump: raw.jump.map(jump_list),
        sudo: raw.sudo,
        sudo_user: raw.sudo_user.map(|s| s.0),
    }
}

/// `jump: a`, `jump: [a, b]` or `jump: "a,b"`: the hops in order; `none` is no jump host.
fn jump_list(raw: OneOrMany<Str>) -> Vec<String> {
    super::jump_hops(raw.0.iter().map(|s| s.0.as_str()))
}

/// The hosts, and where each host defined by a range is written (the range's key).
type Origins = HashMap<String, YamlPath>;

fn build_hosts(src: &Source, raw: UniqueMap<RawHost>) -> Result<(HostMap, Origins), Diagnostic> {
    let base = YamlPath::root().key("hosts");
    if raw.0.is_empty() {
        return Err(src
            .error_at(&base, "no hosts defined")
            .hint("list at least one host, e.g. `hosts: {web01: {address: 127.0.0.2}}`"));
    }
    let mut hosts = HostMap::with_capacity_and_hasher(raw.0.len(), Hasher::default());
    // Hosts a range defined (not their own key): where each is written, and which pattern
    // defined it, to explain a duplicate.
    let mut origins: Origins = HashMap::new();
    for (pattern, RawHost(spec)) in raw.0 {
        // Where the entry is written: for messages, and for the hosts a range defines.
        let path = || base.key(&pattern);
        let names = range::expand(&pattern)
            .map_err(|e| src.error_at(&path(), format!("invalid host range `{pattern}`: {e}")))?;
        let limit = super::max_hosts();
        if hosts.len() + names.len() > limit {
            return Err(src
                .error_at(
                    &path(),
                    format!(
                        "the hosts defined so far and `{pattern}` make {}, more than the limit of {limit}",
                        hosts.len() + names.len()
                    ),
                )
                .hint(format!(
                    "raise the limit with `--max-hosts N` or {}, if the fleet is really that big",
                    super::MAX_HOSTS_ENV
                )));
        }
        for name in &names {
            check_name(src, path, "host", name)?;
        }
        let addresses = match &spec.address {
            None => names.clone(),
            Some(Str(a)) if a.trim().is_empty() => {
                return Err(src.error_at(&path().key("address"), "the address is empty"));
            }
            Some(Str(a)) if range::is_pattern(a) => {
                let addrs = range::expand(a).map_err(|e| {
                    src.error_at(
                        &path().key("address"),
                        format!("invalid address range `{a}`: {e}"),
                    )
                })?;
                if addrs.len() != names.len() {
                    return Err(src
                        .error_at(
                            &path().key("address"),
                            format!(
                                "address range `{a}` gives {} addresses for {} hosts",
                                addrs.len(),
                                names.len()
                            ),
                        )
                        .hint("make the address range as long as the name range"));
                }
                addrs
            }
            Some(Str(a)) if names.len() > 1 => {
                return Err(src
                    .error_at(
                        &path().key("address"),
                        format!("one address `{a}` for the {} hosts of `{pattern}`", names.len()),
                    )
                    .hint(format!(
                        "give the address a matching range (e.g. `10.0.0.[1:{}]`), or leave it \
                         out to connect to the host names",
                        names.len()
                    )));
            }
            Some(Str(a)) => vec![a.trim().to_string()],
        };
        let vars = if spec.vars.0.is_empty() {
            serde_json::Map::new()
        } else {
            match to_json(
                src,
                &path().key("vars"),
                serde_yaml::to_value(&spec.vars.0).unwrap_or_default(),
            )? {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            }
        };
        let ranged = names.len() != 1 || names[0] != pattern;
        let at = ranged.then(path);
        for (name, address) in names.into_iter().zip(addresses) {
            let entry = match hosts.entry(name) {
                indexmap::map::Entry::Vacant(e) => e,
                indexmap::map::Entry::Occupied(e) => {
                    let name = e.key();
                    let by = match origins.get(name) {
                        Some(YamlPath(segs)) => match segs.last() {
                            Some(Segment::Key(first)) => format!(" (by `{first}`)"),
                            _ => String::new(),
                        },
                        None => String::new(),
                    };
                    return Err(src
                        .error_at(
                            &path(),
                            format!("host `{name}` is defined twice; first{by} above"),
                        )
                        .hint("each host name may be defined once; remove or rename one"));
                }
            };
            let name = entry.key().clone();
            if let Some(at) = &at {
                origins.insert(name.clone(), at.clone());
            }
            entry.insert(Host {
                name,
                address,
                port: spec.port,
                user: spec.user.clone().map(|s| s.0),
                jump: spec.jump.clone().map(jump_list),
                vars: vars.clone(),
                unusable: None,
            });
        }
    }
    Ok((hosts, origins))
}

/// Expand a role's or cluster's host list, check every host exists, fold duplicates.
fn resolve_hosts(
    src: &Source,
    path: &YamlPath,
    owner: &str,
    kind: &str,
    list: OneOrMany<Str>,
    hosts: &HostMap,
) -> Result<Vec<String>, Diagnostic> {
    let mut out = Vec::with_capacity(list.0.len());
    // The hosts listed so far, by their index in `hosts`: each name is looked up once.
    let mut listed = HashSet::with_capacity_and_hasher(list.0.len(), Hasher::default());
    for (i, Str(pattern)) in list.0.into_iter().enumerate() {
        let names = range::expand(&pattern)
            .map_err(|e| src.error_at(&path.index(i), format!("invalid host range `{pattern}`: {e}")))?;
        for name in names {
            let Some(at) = hosts.get_index_of(&name) else {
                return Err(src
                    .error_at(
                        &path.index(i),
                        format!("{kind} `{owner}` lists host `{name}`, which is not defined under `hosts`"),
                    )
                    .maybe_hint(did_you_mean(&name, hosts.keys().map(String::as_str))));
            };
            if listed.insert(at) {
                out.push(name);
            }
        }
    }
    Ok(out)
}

/// A role's declarative checks: each has one kind and only that kind's keys, well-formed
/// matchers and regexes, and an id of its own within the role.
fn check_checks(
    src: &Source,
    path: &YamlPath,
    checks: &[rolecall_plugin::checks::Check],
) -> Result<(), Diagnostic> {
    let mut seen = std::collections::HashMap::new();
    for (i, c) in checks.iter().enumerate() {
        let at = path.index(i);
        if let Some((key, why)) = c.problem() {
            return Err(src.error_at(&at.key(key), why));
        }
        for (key, pattern) in c.patterns() {
            if let Err(e) = regex::Regex::new(pattern) {
                let first = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                return Err(src.error_at(
                    &at.key(key),
                    format!("`{pattern}` is not a regular expression: {first}"),
                ));
            }
        }
        if let Some(first) = seen.insert(c.id.as_str(), i) {
            return Err(src.error_at(
                &at.key("id"),
                format!(
                    "check id `{}` is used twice in this role (first at checks[{first}])",
                    c.id
                ),
            ));
        }
    }
    Ok(())
}

/// The `waivers:` list of `src` (a deployment, or a file of waivers of the same shape).
pub fn waivers(
    src: &Source,
    root: &YamlPath,
    raw: Vec<crate::results::waiver::RawWaiver>,
) -> Result<Vec<crate::results::waiver::Waiver>, Diagnostic> {
    raw.into_iter()
        .enumerate()
        .map(|(i, w)| {
            let path = root.key("waivers").index(i);
            let line = src.line_of(&path).unwrap_or(0);
            w.into_waiver(&src.path, line)
                .map_err(|why| src.error_at(&path, why))
        })
        .collect()
}

fn check_name(
    src: &Source,
    path: impl FnOnce() -> YamlPath,
    kind: &str,
    name: &str,
) -> Result<(), Diagnostic> {
    let bad = name
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, ',' | '/' | '*' | '?' | '[' | ']'));
    if name.is_empty() || bad.is_some() {
        let why = match bad {
            Some(c) => format!("contains `{}`", c.escape_default()),
            None => "is empty".into(),
        };
        return Err(src
            .error_at(&path(), format!("{kind} name `{name}` {why}"))
            .hint("names may not contain spaces, commas, slashes or glob characters"));
    }
    Ok(())
}

/// Convert a free-form YAML value to JSON, interpolating `${VAR}` in every string.
fn to_json(src: &Source, path: &YamlPath, value: serde_yaml::Value) -> Result<serde_json::Value, Diagnostic> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => serde_json::Value::Null,
        Y::Bool(b) => serde_json::Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap_or(serde_json::Value::Null),
        Y::String(s) => serde_json::Value::String(interp::interpolate(&s).map_err(|e| {
            let (m, h) = super::source::split_hint(&e.to_string());
            src.error_at(path, m).maybe_hint(h)
        })?),
        Y::Sequence(items) => serde_json::Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| to_json(src, &path.index(i), v))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    other => serde_yaml::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let json = to_json(src, &path.key(&key), v)?;
                out.insert(key, json);
            }
            serde_json::Value::Object(out)
        }
        Y::Tagged(t) => to_json(src, path, t.value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Deployment, String> {
        build(&Source::from_text("d.yaml", text)).map_err(|e| e.to_string())
    }

    #[test]
    fn ranges_in_names_addresses_and_roles() {
        let d = load(
            "hosts:\n  nc[01:03]:\n    address: 127.0.1.[1:3]\n  web: 127.0.0.2\n\
             roles:\n  node-controller:\n    - nc[01:03]\n    - nc02\n  web: web\n",
        )
        .unwrap();
        assert_eq!(
            d.hosts.keys().collect::<Vec<_>>(),
            ["nc01", "nc02", "nc03", "web"]
        );
        assert_eq!(d.hosts["nc02"].address, "127.0.1.2");
        assert_eq!(d.role_hosts("node-controller").unwrap(), ["nc01", "nc02", "nc03"]);
        assert_eq!(
            d.roles.keys().collect::<Vec<_>>(),
            ["node-controller", "web", "all"]
        );
        assert_eq!(d.role_hosts("all").unwrap().len(), 4);
    }

    #[test]
    fn unquoted_range_in_flow_list_gets_a_hint() {
        let e = load("hosts:\n  nc[1:2]:\nroles:\n  r: [nc[1:2], x]\n").unwrap_err();
        assert!(e.contains("hint: quote host ranges inside `[...]` lists"), "{e}");
    }

    #[test]
    fn unknown_host_in_role_names_both_and_suggests() {
        let e = load("hosts:\n  nc01: 127.0.0.2\nroles:\n  web:\n    hosts: [nc1]\n").unwrap_err();
        assert_eq!(
            e,
            "d.yaml:5:13: roles.web.hosts[0]: role `web` lists host `nc1`, which is not defined \
             under `hosts`\nhint: did you mean `nc01`?"
        );
    }

    #[test]
    fn duplicate_host_keys_are_refused() {
        let e = load("hosts:\n  a: 127.0.0.2\n  a: 127.0.0.3\n").unwrap_err();
        assert!(e.contains("duplicate key `a`"), "{e}");
        let e = load("hosts:\n  n[1:2]: 127.0.0.[2:3]\n  n2: 127.0.0.9\n").unwrap_err();
        assert!(
            e.contains("host `n2` is defined twice; first (by `n[1:2]`)"),
            "{e}"
        );
    }

    #[test]
    fn single_address_for_a_range_is_refused() {
        let e = load("hosts:\n  n[1:2]:\n    address: 127.0.0.2\n").unwrap_err();
        assert!(
            e.starts_with("d.yaml:3:14: hosts.n[1:2].address: one address"),
            "{e}"
        );
    }

    #[test]
    fn all_is_reserved_and_min_max_checked() {
        assert!(load("hosts: {a: }\nroles: {all: [a]}\n")
            .unwrap_err()
            .contains("derived role"));
        let e = load("hosts: {a: }\nroles:\n  r: {hosts: a, min: 3, max: 1}\n").unwrap_err();
        assert!(e.contains("`min` (3) is greater than `max` (1)"), "{e}");
    }

    #[test]
    fn interpolation_in_strings_and_vars() {
        std::env::set_var("ROLECALL_TEST_NATIVE_USER", "deploy");
        let d = load(
            "ssh: {user: '${ROLECALL_TEST_NATIVE_USER}'}\nhosts:\n  a:\n    vars: {x: '${ROLECALL_TEST_UNSET:-7}'}\n",
        )
        .unwrap();
        assert_eq!(d.ssh.user.as_deref(), Some("deploy"));
        assert_eq!(d.hosts["a"].vars["x"], "7");
        let e = load("hosts:\n  a:\n    vars:\n      x: '${ROLECALL_TEST_UNSET}'\n").unwrap_err();
        assert!(
            e.starts_with(
                "d.yaml:4:10: hosts.a.vars.x: environment variable `ROLECALL_TEST_UNSET` is not set"
            ),
            "{e}"
        );
        let e = load("hosts:\n  a:\n    address: ${ROLECALL_TEST_UNSET}\n").unwrap_err();
        assert!(
            e.starts_with("d.yaml:3:14: hosts.a.address: environment variable"),
            "{e}"
        );
    }
}
