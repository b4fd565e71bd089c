//! The deployment model and the role builder.
//!
//! A deployment file is read by a *profile*: the native rolecall format ([`native`]), a
//! Calyptos/Eucalyptus environment ([`calyptos`]) or an Ansible inventory ([`ansible`]: INI,
//! YAML or a directory of them). Each profile deserializes a raw schema that
//! mirrors its YAML, then builds the same validated [`Deployment`]: hosts in file order, roles
//! mapping to hosts (plus the derived role `all`), named clusters, SSH defaults and free-form
//! plugin sections. Nothing in the model depends on hash order.

pub mod ansible;
pub mod calyptos;
mod de;
pub mod error;
pub mod interp;
pub mod locate;
pub mod native;
pub mod range;
pub mod source;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

pub use error::{Diagnostic, LoadError};
pub use locate::YamlPath;
use source::Source;

/// The derived role that holds every host.
pub const ALL_ROLE: &str = "all";

/// How a deployment file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// rolecall's own format: `hosts`, `roles`, `clusters`, `ssh`, `plugins`.
    Native,
    /// A Calyptos/Eucalyptus (Chef) environment file, legacy or new topology schema.
    Eucalyptus,
    /// An Ansible inventory (INI or YAML file, or a directory), with its group_vars/host_vars.
    Ansible,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Eucalyptus => "eucalyptus",
            Self::Ansible => "ansible",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the SSH client treats host keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum HostKeyChecking {
    /// Unknown or changed keys are refused.
    #[default]
    Strict,
    /// Unknown keys are recorded in known_hosts; changed keys are refused.
    AcceptNew,
    /// No checking at all (a loud warning is printed).
    Off,
}

impl HostKeyChecking {
    pub fn name(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::AcceptNew => "accept-new",
            Self::Off => "off",
        }
    }
}

/// SSH connection settings as one layer (file, or command line). Every field is optional so
/// that layers stack: command-line flags over the host's own entry over the file's `ssh`
/// section over built-in defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SshSettings {
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identities: Vec<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub host_key_checking: Option<HostKeyChecking>,
    pub connect_timeout: Option<Duration>,
    pub command_timeout: Option<Duration>,
    /// Jump hosts, in order (`[user@]host[:port]` each); `Some(empty)` means "no jump host"
    /// (`none`), overriding lower layers.
    pub jump: Option<Vec<String>>,
    /// Run commands through `sudo` (`become:`).
    pub sudo: Option<bool>,
    /// The user `sudo` runs commands as (`become_user:`, default root).
    pub sudo_user: Option<String>,
}

impl SshSettings {
    /// `self` with every field that `over` sets replaced by `over`'s value.
    pub fn overlay(mut self, over: &SshSettings) -> Self {
        if over.user.is_some() {
            self.user.clone_from(&over.user);
        }
        self.port = over.port.or(self.port);
        if !over.identities.is_empty() {
            self.identities.clone_from(&over.identities);
        }
        if over.known_hosts.is_some() {
            self.known_hosts.clone_from(&over.known_hosts);
        }
        self.host_key_checking = over.host_key_checking.or(self.host_key_checking);
        self.connect_timeout = over.connect_timeout.or(self.connect_timeout);
        self.command_timeout = over.command_timeout.or(self.command_timeout);
        if over.jump.is_some() {
            self.jump.clone_from(&over.jump);
        }
        self.sudo = over.sudo.or(self.sudo);
        if over.sudo_user.is_some() {
            self.sudo_user.clone_from(&over.sudo_user);
        }
        self
    }
}

/// Jump hosts as written (`jump: [a, b]`, `jump: "a,b"`, `-J a,b`, `ProxyJump a,b`): the hops
/// in order; `none` alone means no jump host.
pub fn jump_hops<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let hops: Vec<String> = items
        .into_iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    if hops.len() == 1 && hops[0].eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    hops
}

/// One machine of the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    /// What to connect to: an IP address or a DNS name, exactly as written.
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// The host's own jump hosts (see [`SshSettings::jump`]).
    pub jump: Option<Vec<String>>,
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// Why this host cannot be contacted, found while loading (an Ansible connection variable
    /// that is a template rolecall cannot render): its commands fail with this, the rest of the
    /// fleet works.
    pub unusable: Option<String>,
}

/// A role: a named set of hosts, in file order without duplicates, with the expectations that
/// parameterise plugins.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Role {
    pub name: String,
    pub description: Option<String>,
    pub hosts: Vec<String>,
    /// Cardinality rules checked by the validators.
    pub min: Option<usize>,
    pub max: Option<usize>,
    /// Free-form per-role expectations (`services`, `ports`, thresholds...) read by plugins.
    pub expect: serde_json::Value,
    /// Where the file gave `host:port` for this role: the service port, kept apart from the SSH
    /// port so that connecting still uses SSH.
    pub service_ports: IndexMap<String, u16>,
    /// Jump hosts for the role's hosts (see [`SshSettings::jump`]).
    pub jump: Option<Vec<String>>,
    /// Run the role's commands through `sudo` (`become:`), as `sudo_user` (default root).
    pub sudo: Option<bool>,
    pub sudo_user: Option<String>,
    /// Declarative checks (`checks:`), run by the `checks` debugger.
    pub checks: Vec<rolecall_plugin::checks::Check>,
}

/// Positions of YAML paths in a deployment's file, each path looked up once: finding a path
/// walks the whole file, and a plugin names the same path for every host it reports on.
#[derive(Debug)]
pub struct Locator<'a> {
    deployment: &'a Deployment,
    text: Option<String>,
    memo: std::collections::HashMap<String, Option<locate::Position>>,
}

impl Locator<'_> {
    /// Where `path` (`roles.web.checks[0]`) is written, as [`Deployment::position_of`].
    pub fn at(&mut self, path: &str) -> Option<locate::Position> {
        let text = self.text.as_deref()?;
        if let Some(p) = self.memo.get(path) {
            return *p;
        }
        let p = self
            .deployment
            .position_with(path, &mut |p| locate::locate(text, p));
        self.memo.insert(path.to_string(), p);
        p
    }

    /// Look up all of `paths` at once: one walk of the file for them all (and every place
    /// [`Deployment::position_of`] may fall back to), instead of one walk per path. Later
    /// [`Self::at`] calls for them answer from memory.
    pub fn prepare<'p>(&mut self, paths: impl IntoIterator<Item = &'p str>) {
        let Some(text) = self.text.as_deref() else { return };
        let mut wanted: Vec<&str> = paths
            .into_iter()
            .filter(|p| !self.memo.contains_key(*p))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return;
        }
        // Every path the answer may need: asked with nothing found, `position_with` tries
        // each fallback in turn.
        let mut asked: Vec<YamlPath> = Vec::new();
        for path in &wanted {
            self.deployment.position_with(path, &mut |p| {
                asked.push(p.clone());
                None
            });
        }
        let found: std::collections::HashMap<YamlPath, Option<locate::Position>> = asked
            .iter()
            .cloned()
            .zip(locate::locate_many(text, &asked))
            .collect();
        for path in wanted {
            let p = self
                .deployment
                .position_with(path, &mut |p| found.get(p).copied().flatten());
            self.memo.insert(path.to_string(), p);
        }
    }
}

/// The hasher of the maps and sets of host names: foldhash's, seeded per process. A deployment
/// is the operator's own file, and SipHash's hashing was a quarter of loading 100,000 hosts.
pub type Hasher = foldhash::fast::RandomState;

/// Hosts by name, in file order.
pub type HostMap = IndexMap<String, Host, Hasher>;

/// A validated deployment: what every command and plugin works from.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub source: PathBuf,
    pub profile: Profile,
    pub name: Option<String>,
    pub description: Option<String>,
    pub ssh: SshSettings,
    pub hosts: HostMap,
    /// Roles in file order, then the derived `all`.
    pub roles: IndexMap<String, Role>,
    pub clusters: IndexMap<String, Vec<String>>,
    /// Known failures (`waivers:` in the native format; `--waivers FILE` for every format).
    pub waivers: Vec<crate::results::waiver::Waiver>,
    /// Per-plugin configuration sections (`plugins.<name>` in the native format).
    pub plugins: IndexMap<String, serde_json::Value>,
    /// The whole document as JSON, for plugins that read profile-specific sections (a Calyptos
    /// environment's `default_attributes`, say).
    pub document: serde_json::Value,
    /// `(NAME, value)` of every `${NAME}` the file took from the environment: output shows
    /// `${NAME}` instead (see [`crate::report::Printer::hide`]).
    pub from_env: Vec<(String, String)>,
    /// Things worth a warning that do not stop the load (look-alike names, say).
    pub warnings: Vec<String>,
    /// Where each host is written in the file, when that is not `hosts.<name>` (a range such
    /// as `hosts.nc[01:04]`, a Calyptos topology entry): findings about a host point there.
    pub origins: std::collections::HashMap<String, YamlPath>,
}

impl Deployment {
    /// Where `path` (a finding's YAML path) is written in `text`: the path itself when it is
    /// there; for `hosts.<name>...` of a host written elsewhere, that place (with the rest of
    /// the path when it exists there); else the nearest written ancestor.
    ///
    /// Host names may hold dots (`hosts.10.0.0.5.address` names host `10.0.0.5`): the longest
    /// host name that fits is taken.
    /// A [`Locator`] for this deployment's file (read now; `None` positions if it cannot be).
    pub fn locator(&self) -> Locator<'_> {
        Locator {
            deployment: self,
            text: std::fs::read_to_string(&self.source).ok(),
            memo: std::collections::HashMap::new(),
        }
    }

    pub fn position_of(&self, text: &str, path: &str) -> Option<locate::Position> {
        self.position_with(path, &mut |p| locate::locate(text, p))
    }

    /// [`Self::position_of`], with `find` answering where a YAML path is written.
    fn position_with(
        &self,
        path: &str,
        find: &mut dyn FnMut(&YamlPath) -> Option<locate::Position>,
    ) -> Option<locate::Position> {
        let parsed = YamlPath::parse(path);
        if let Some(p) = find(&parsed) {
            return Some(p);
        }
        if let Some(after) = path.strip_prefix("hosts.") {
            let host = self
                .hosts
                .keys()
                .filter(|h| {
                    after == h.as_str() || after.strip_prefix(h.as_str()).is_some_and(|r| r.starts_with('.'))
                })
                .max_by_key(|h| h.len());
            if let Some(name) = host {
                let rest = YamlPath::parse(&after[name.len()..]);
                let origin = self
                    .origins
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| YamlPath::root().key("hosts").key(name.clone()));
                let mut full = origin.clone();
                full.0.extend(rest.0);
                return find(&full).or_else(|| locate::nearest(&origin, find));
            }
        }
        locate::nearest(&parsed, find)
    }
}

/// Hosts a deployment may define, all ranges together, unless raised ([`set_max_hosts`]).
pub const DEFAULT_MAX_HOSTS: usize = 100_000;
/// Environment variable raising [`DEFAULT_MAX_HOSTS`] (also `--max-hosts`).
pub const MAX_HOSTS_ENV: &str = "ROLECALL_MAX_HOSTS";

static MAX_HOSTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(DEFAULT_MAX_HOSTS);

/// Raise (or lower) the host limit for every later load.
pub fn set_max_hosts(n: usize) {
    MAX_HOSTS.store(n, std::sync::atomic::Ordering::Relaxed);
}

/// The host limit in force.
pub fn max_hosts() -> usize {
    MAX_HOSTS.load(std::sync::atomic::Ordering::Relaxed)
}

impl Deployment {
    /// Hosts of `role`, or `None` when there is no such role.
    pub fn role_hosts(&self, role: &str) -> Option<&[String]> {
        self.roles.get(role).map(|r| r.hosts.as_slice())
    }
}

/// Load a deployment from `path`, with `profile` or the one detected from the file's shape.
pub fn load(path: &Path, profile: Option<Profile>) -> Result<Deployment, LoadError> {
    if profile == Some(Profile::Ansible) || (profile.is_none() && path.is_dir()) {
        let mut d = ansible::load(path)?;
        name_warnings(&mut d);
        return Ok(d);
    }
    let src = Source::read(path)?;
    if profile.is_none() && ansible::looks_like(path, Some(&src.text)) {
        let mut d = ansible::load(path)?;
        name_warnings(&mut d);
        return Ok(d);
    }
    Ok(build(&src, profile)?)
}

/// Load from text in memory (tests, benchmarks).
pub fn load_str(
    name: impl Into<PathBuf>,
    text: &str,
    profile: Option<Profile>,
) -> Result<Deployment, LoadError> {
    let src = Source::from_text(name, text);
    src.check_not_blank()?;
    src.check_bounds()?;
    Ok(build(&src, profile)?)
}

/// Check the JSON form, pick the profile, and build the model.
fn build(src: &Source, profile: Option<Profile>) -> Result<Deployment, Diagnostic> {
    check_json(src)?;
    let finish = |mut d: Deployment| {
        d.from_env = interp::from_env(&src.text, |name| std::env::var(name).ok());
        name_warnings(&mut d);
        d
    };
    // A top-level `hosts:` line: read it as rolecall's format straight away, without a first
    // pass for the top-level keys (a tenth of the load of 100,000 hosts). Only a success counts:
    // it has a `hosts` mapping, which is what detection would have looked for; anything else
    // takes the long way, and its diagnostics.
    if profile.is_none() && (src.text.starts_with("hosts:") || src.text.contains("\nhosts:")) {
        if let Ok(d) = native::build(src) {
            return Ok(finish(d));
        }
    }
    let profile = match profile {
        Some(p) => p,
        None => detect(src)?,
    };
    let d = match profile {
        Profile::Native => native::build(src),
        Profile::Eucalyptus => calyptos::build(src),
        Profile::Ansible => {
            return Err(
                Diagnostic::new(&src.path, "an Ansible inventory is read from a file or directory")
                    .hint("use `rolecall::deployment::load` with the inventory's path"),
            )
        }
    }?;
    Ok(finish(d))
}

/// Warnings for host, role and cluster names that could fool a reader.
fn name_warnings(d: &mut Deployment) {
    let names = d
        .hosts
        .keys()
        .map(|h| ("host", h))
        .chain(d.roles.keys().map(|r| ("role", r)))
        .chain(d.clusters.keys().map(|c| ("cluster", c)));
    for (kind, name) in names {
        if let Some(why) = crate::text::suspicious_name(name) {
            let shown = crate::text::safe::escape(name);
            d.warnings.push(format!("{kind} name `{shown}` {why}"));
        }
    }
}

/// A `.json` file must be JSON: YAML would accept a template's bare placeholders as strings
/// and hide that the file was never filled in.
fn check_json(src: &Source) -> Result<(), Diagnostic> {
    let is_json = src
        .path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if !is_json {
        return Ok(());
    }
    match serde_json::from_str::<IgnoredAny>(&src.text) {
        Ok(_) => Ok(()),
        Err(e) => {
            let token: String = src
                .text
                .lines()
                .nth(e.line().saturating_sub(1))
                .map(|l| {
                    l.chars()
                        .skip(e.column().saturating_sub(1))
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect()
                })
                .unwrap_or_default();
            let mut d =
                Diagnostic::new(&src.path, format!("not valid JSON: {e}")).at(Some(locate::Position {
                    line: e.line(),
                    column: e.column(),
                }));
            d.message = d
                .message
                .replace(&format!(" at line {} column {}", e.line(), e.column()), "");
            if !token.is_empty() {
                d = d.hint(format!(
                    "`{token}` is not a JSON value: if this is a template, fill in its placeholders first"
                ));
            }
            Err(d)
        }
    }
}

/// Top-level keys of the document, values skipped.
struct TopKeys(Vec<String>);

impl<'de> Deserialize<'de> for TopKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping at the top level")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = map.next_key::<serde_yaml::Value>()? {
                    keys.push(match k {
                        serde_yaml::Value::String(s) => s,
                        other => serde_yaml::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    });
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(TopKeys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

/// Guess the profile from the top-level keys.
fn detect(src: &Source) -> Result<Profile, Diagnostic> {
    let TopKeys(keys) = src.deserialize()?;
    let has = |k: &str| keys.iter().any(|x| x == k);
    if has("hosts") {
        return Ok(Profile::Native);
    }
    if has("default_attributes") || has("override_attributes") || has("chef_type") {
        return Ok(Profile::Eucalyptus);
    }
    let not_a_deployment = |what: &str| format!("this is not a deployment: {what}");
    let d = if has("deployer") {
        Diagnostic::new(
            &src.path,
            not_a_deployment(
                "it looks like a Calyptos deployer configuration (`deployer.chef.roles` maps roles \
                 to Chef recipes), not an environment",
            ),
        )
        .hint("pass the Calyptos environment file (the one with `default_attributes`) instead")
    } else if has("eucalyptus") || has("topology") {
        Diagnostic::new(
            &src.path,
            not_a_deployment("it holds bare Eucalyptus cookbook attributes, not a Chef environment"),
        )
        .hint("put them under `default_attributes:` to read them as a Calyptos environment")
    } else {
        let found = if keys.is_empty() {
            "an empty mapping".to_string()
        } else {
            let names: Vec<&str> = keys.iter().map(String::as_str).take(6).collect();
            format!("top-level keys {}", error::one_of(&names).replace(" or ", ", "))
        };
        let mut d = Diagnostic::new(
            &src.path,
            not_a_deployment(&format!(
                "found {found}; expected `hosts` (rolecall format) or `default_attributes` \
                 (Calyptos environment)"
            )),
        );
        if let Some(h) = keys
            .iter()
            .find_map(|k| error::did_you_mean(k, ["hosts", "default_attributes"]))
        {
            d = d.hint(h);
        } else {
            d = d.hint("force a profile with `--profile native` or `--profile eucalyptus`");
        }
        d
    };
    Err(d.at(Some(locate::Position { line: 1, column: 1 })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prepared locator (one walk for every path) answers what a walk per path answers: for
    /// paths that are written, ancestors of unwritten ones, hosts defined by a range or by a
    /// Calyptos topology entry, and host names with dots.
    #[test]
    fn a_prepared_locator_answers_as_an_unprepared_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let native = "hosts:\n  nc[01:03]: {address: \"127.0.0.[2:4]\"}\n  10.0.0.5: {}\n  web01:\n    \
                      address: 127.0.0.9\n    port: 2222\nroles:\n  web:\n    hosts: [web01, 10.0.0.5]\n    \
                      min: 1\n  node-controller: [\"nc[01:03]\"]\nclusters:\n  one: [nc01]\n";
        let calyptos = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/calyptos/new-schema-vpcmido.yaml"),
        )
        .expect("fixture");
        for (name, text) in [("native.yaml", native), ("calyptos.yaml", calyptos.as_str())] {
            let file = dir.path().join(name);
            std::fs::write(&file, text).expect("write");
            let d = load(&file, None).expect("loads");
            let mut paths: Vec<String> = [
                "roles.web.min",
                "roles.web.max",
                "roles.web.hosts[1]",
                "roles.node-controller",
                "clusters.one[0]",
                "clusters.two",
                "nowhere.at.all",
                "hosts.10.0.0.5",
                "hosts.10.0.0.5.port",
                "hosts.web01.port",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            for h in d.hosts.keys() {
                paths.push(format!("hosts.{h}"));
                paths.push(format!("hosts.{h}.address"));
            }
            let mut one = d.locator();
            let each: Vec<_> = paths.iter().map(|p| one.at(p)).collect();
            let mut all = d.locator();
            all.prepare(paths.iter().map(String::as_str));
            let prepared: Vec<_> = paths.iter().map(|p| all.at(p)).collect();
            assert_eq!(prepared, each, "{name}");
            assert!(
                each.iter().filter(|p| p.is_some()).count() > paths.len() / 2,
                "{name}: {each:?}"
            );
        }
    }
}
