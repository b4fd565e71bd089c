//! One typed settings value per host, resolved in one place, each value with where it came
//! from. Precedence, highest first:
//!
//! 1. the command line (`--user`, `-J`, `--become`, ...);
//! 2. the deployment's host entry (`hosts.NAME`), then its roles (`roles.NAME.jump`, `become`);
//! 3. the deployment's `ssh:` defaults;
//! 4. the OpenSSH client configuration ([`super::ssh_config`]);
//! 5. built-in defaults.
//!
//! `HostName` from ssh_config is not a competing value but a mapping, as in `ssh`: the address
//! the deployment gives (the host's name when it gives none) is looked up in ssh_config, and a
//! `HostName` there says what that name really is.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::ssh_config::{self, home, HostConfig, Origin, Query, SshConfig, Tokens};
use super::{default_user, Endpoint, DEFAULT_CONNECT_TIMEOUT, DEFAULT_SSH_PORT};
use crate::deployment::{Deployment, HostKeyChecking, SshSettings};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag (its name).
    Flag(&'static str),
    /// The deployment's entry for this host.
    HostEntry,
    /// The deployment's entry for this role.
    Role(String),
    /// The deployment's `ssh:` section.
    Defaults,
    /// A line of an ssh_config file.
    SshConfig(Origin),
    /// The jump host specification (`user@host:port`) itself.
    JumpSpec,
    /// Built in.
    Builtin,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(flag) => write!(f, "{flag}"),
            Self::HostEntry => f.write_str("host entry"),
            Self::Role(r) => write!(f, "role {r}"),
            Self::Defaults => f.write_str("ssh: defaults"),
            Self::SshConfig(o) => write!(f, "{o}"),
            Self::JumpSpec => f.write_str("jump spec"),
            Self::Builtin => f.write_str("default"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub from: Source,
}

fn sourced<T>(value: T, from: Source) -> Sourced<T> {
    Sourced { value, from }
}

impl Source {
    /// Its place in the one priority order every setting follows: the command line, the
    /// host's entry (or a jump host's specification), its role, the deployment's `ssh:`
    /// defaults, ssh_config, the built-in default.
    fn rank(&self) -> u8 {
        match self {
            Self::Flag(_) => 0,
            Self::HostEntry | Self::JumpSpec => 1,
            Self::Role(_) => ROLE_RANK,
            Self::Defaults => 3,
            Self::SshConfig(_) => CONFIG_RANK,
            Self::Builtin => 5,
        }
    }
}

/// [`Source::rank`] of a role, and of ssh_config.
const ROLE_RANK: u8 = 2;
const CONFIG_RANK: u8 = 4;

/// One setting, taken from the first source that gives it, offered in the priority order of
/// [`Source::rank`] (a source offered out of order is a bug, caught in debug builds). Later
/// offers are not looked at once a value is taken, so an ssh_config value is only read (and
/// only warned about) when nothing above it decided.
#[derive(Debug)]
struct Pick<T> {
    taken: Option<Sourced<T>>,
    rank: u8,
}

impl<T> Pick<T> {
    fn new() -> Self {
        Self { taken: None, rank: 0 }
    }

    fn ranked(&mut self, from: &Source) {
        debug_assert!(from.rank() >= self.rank, "{from} offered out of priority order");
        self.rank = from.rank();
    }

    /// `value`, when there is one, from `from`.
    fn offer(mut self, value: Option<T>, from: Source) -> Self {
        self.ranked(&from);
        if self.taken.is_none() {
            self.taken = value.map(|v| sourced(v, from));
        }
        self
    }

    /// What `lookup` finds, asked only when nothing above decided (ssh_config).
    fn offer_with(self, lookup: impl FnOnce() -> Option<Sourced<T>>) -> Self {
        self.offer_lazily(CONFIG_RANK, lookup)
    }

    /// What `lookup` finds (a value of rank `rank`), asked only when nothing above decided.
    fn offer_lazily(mut self, rank: u8, lookup: impl FnOnce() -> Option<Sourced<T>>) -> Self {
        debug_assert!(self.rank <= rank, "rank {rank} offered out of priority order");
        self.rank = rank;
        if self.taken.is_none() {
            self.taken = lookup();
        }
        self
    }

    /// Whether a value is taken yet.
    fn decided(&self) -> bool {
        self.taken.is_some()
    }

    /// The value taken, else `builtin`.
    fn or(self, builtin: T) -> Sourced<T> {
        self.or_else(|| builtin)
    }

    /// The value taken, else the built-in default `builtin` makes (only then).
    fn or_else(self, builtin: impl FnOnce() -> T) -> Sourced<T> {
        self.taken.unwrap_or_else(|| sourced(builtin(), Source::Builtin))
    }
}

/// How `sudo` is used for a host's commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Become {
    /// The user commands run as (`root` unless told).
    pub user: String,
}

/// Everything about reaching one host (or one jump host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSettings {
    /// The deployment's name for the host (a jump host's specification, for hops).
    pub name: String,
    /// What is connected to: an address or a DNS name (after ssh_config's `HostName`).
    pub address: Sourced<String>,
    pub port: Sourced<u16>,
    pub user: Sourced<String>,
    /// Identity files, tried in order after the agent (unless `identities_only`).
    pub identities: Sourced<Vec<PathBuf>>,
    /// `IdentitiesOnly yes`: the agent is not asked.
    pub identities_only: Sourced<bool>,
    /// known_hosts files checked, the first one written to (accept-new).
    pub known_hosts: Sourced<Vec<PathBuf>>,
    /// System-wide known_hosts files, only read.
    pub global_known_hosts: Sourced<Vec<PathBuf>>,
    pub host_key_checking: Sourced<HostKeyChecking>,
    pub connect_timeout: Sourced<Duration>,
    /// Jump hosts, first hop first; empty = direct.
    pub jump: Sourced<Vec<HostSettings>>,
    /// `sudo` for every command on this host (`None`: commands run as the login user).
    pub sudo: Sourced<Option<Become>>,
    /// Why the host must not be contacted (see [`crate::deployment::Host::unusable`]).
    pub unusable: Option<String>,
    /// ssh_config's `ProxyCommand`, tokens not yet expanded (`None`: connect directly or
    /// through `jump`).
    pub proxy_command: Option<Sourced<String>>,
}

impl HostSettings {
    /// Settings for `name` at `ep` with every other value built in (no ssh_config, no
    /// deployment): for tests and tools that know only an endpoint.
    pub fn direct(name: &str, ep: Endpoint) -> Self {
        let b = |v| sourced(v, Source::Builtin);
        Self {
            name: name.to_string(),
            address: sourced(ep.address, Source::HostEntry),
            port: sourced(ep.port, Source::HostEntry),
            user: sourced(ep.user, Source::HostEntry),
            identities: sourced(default_identities(), Source::Builtin),
            identities_only: b(false),
            known_hosts: sourced(vec![user_known_hosts()], Source::Builtin),
            global_known_hosts: sourced(vec![PathBuf::from("/etc/ssh/ssh_known_hosts")], Source::Builtin),
            host_key_checking: sourced(HostKeyChecking::Strict, Source::Builtin),
            connect_timeout: sourced(DEFAULT_CONNECT_TIMEOUT, Source::Builtin),
            jump: sourced(Vec::new(), Source::Builtin),
            sudo: sourced(None, Source::Builtin),
            unusable: None,
            proxy_command: None,
        }
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            address: self.address.value.clone(),
            port: self.port.value,
            user: self.user.value.clone(),
        }
    }

    /// Every known_hosts file read for this host, the one written to first.
    pub fn known_hosts_files(&self) -> Vec<PathBuf> {
        let mut v = self.known_hosts.value.clone();
        v.extend(self.global_known_hosts.value.iter().cloned());
        v
    }

    /// `user@address:port`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}@{}",
            self.user.value,
            super::known_hosts::host_name(&self.address.value, self.port.value)
                .trim_start_matches('[')
                .replace("]:", ":")
        )
    }
}

/// What resolving host settings needs besides the deployment: the command line's connection
/// layer and the ssh_config files.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    pub flags: SshSettings,
    pub ssh_config: SshConfig,
}

impl Reach {
    /// The settings of `hosts`, and the warnings met on the way.
    pub fn resolve(&self, d: &Deployment, hosts: &[String]) -> (Vec<HostSettings>, Vec<String>) {
        resolve_all(d, &self.flags, &self.ssh_config, hosts)
    }

    /// A resolver for `d` under these flags and ssh_config: hosts resolved one at a time (for
    /// runs that keep only part of each host's settings).
    pub fn resolver<'a>(&'a self, d: &'a Deployment) -> Resolver<'a> {
        Resolver::new(d, &self.flags, &self.ssh_config)
    }

    /// [`Self::resolve`], with what each `Match exec` command did (for `-vv`).
    pub fn resolve_noting(
        &self,
        d: &Deployment,
        hosts: &[String],
    ) -> (Vec<HostSettings>, Vec<String>, Vec<String>) {
        let mut r = self.resolver(d);
        let v = hosts.iter().filter_map(|h| r.host(h)).collect();
        (v, r.warnings(), r.notes().to_vec())
    }
}

/// Resolves [`HostSettings`] for the hosts of one deployment.
#[derive(Debug)]
pub struct Resolver<'a> {
    d: &'a Deployment,
    flags: &'a SshSettings,
    config: &'a SshConfig,
    /// The deployment file's directory (relative paths in it).
    base: PathBuf,
    /// Host -> the roles it is in, in file order (shared by [`Self::fork`]s).
    roles_of: Arc<RolesOf>,
    /// Warnings, each once: (text, where) sorted by where.
    warnings: BTreeMap<String, String>,
    /// What `Match exec` commands ran and how they ended, in order (for `-vv`).
    notes: Vec<String>,
    /// [`Self::default_identities`], once looked up.
    default_identities: Option<Vec<PathBuf>>,
    /// The local user ([`default_user`]) and `~/.ssh/known_hosts`, each looked up once (the
    /// environment is locked to read).
    default_user: Option<String>,
    user_known_hosts: Option<PathBuf>,
}

impl<'a> Resolver<'a> {
    pub fn new(d: &'a Deployment, flags: &'a SshSettings, config: &'a SshConfig) -> Self {
        let mut warnings = BTreeMap::new();
        for p in &config.problems {
            warnings.insert(p.clone(), String::new());
        }
        Self {
            d,
            flags,
            config,
            base: d.source.parent().unwrap_or(Path::new(".")).to_path_buf(),
            roles_of: Arc::new(RolesOf::new(d)),
            warnings,
            notes: Vec::new(),
            default_identities: None,
            default_user: None,
            user_known_hosts: None,
        }
    }

    /// A resolver of the same deployment, flags and ssh_config with nothing gathered yet: one
    /// per thread when hosts are resolved in parallel.
    pub fn fork(&self) -> Self {
        Self {
            d: self.d,
            flags: self.flags,
            config: self.config,
            base: self.base.clone(),
            roles_of: Arc::clone(&self.roles_of),
            warnings: BTreeMap::new(),
            notes: Vec::new(),
            default_identities: self.default_identities.clone(),
            default_user: self.default_user.clone(),
            user_known_hosts: self.user_known_hosts.clone(),
        }
    }

    /// `~/.ssh/id_*` that exist, looked up once per resolver (not once per host: three `stat`
    /// calls per host were a fifth of `validate`'s time at 100,000 hosts).
    fn default_identities(&mut self) -> &[PathBuf] {
        self.default_identities.get_or_insert_with(default_identities)
    }

    /// Warnings gathered so far (unsupported ssh_config directives that applied, conflicting
    /// role settings), each once.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.keys().cloned().collect()
    }

    /// Each `Match exec` run so far and how it ended.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The settings of deployment host `name`; `None` when there is no such host.
    pub fn host(&mut self, name: &str) -> Option<HostSettings> {
        let (at, _, h) = self.d.hosts.get_full(name)?;
        let file = &self.d.ssh;
        let flags = self.flags;
        let roles: Vec<&crate::deployment::Role> = self
            .roles_of
            .of(at)
            .iter()
            .filter_map(|&r| self.d.roles.get_index(r).map(|(_, role)| role))
            .collect();

        // The deployment's and the command line's word on jump hosts; ssh_config's comes below,
        // after ProxyCommand's turn.
        let jump = Pick::new()
            .offer(flags.jump.clone(), Source::Flag("--jump"))
            .offer(h.jump.clone(), Source::HostEntry)
            .offer_lazily(ROLE_RANK, || self.role_jump(name, &roles))
            .offer(file.jump.clone(), Source::Defaults);
        let sudo = self.sudo(&roles);
        let mut s = self.resolve(
            name,
            &h.address,
            Layer {
                flag_user: flags.user.clone(),
                entry_user: h.user.clone(),
                flag_port: flags.port,
                entry_port: h.port,
            },
        );
        // Whichever of ProxyJump and ProxyCommand ssh_config gives first is the one ssh uses.
        let command_first = s.1.position("proxycommand") < s.1.position("proxyjump");
        if jump.decided() || !command_first {
            s.0.proxy_command = None;
        }
        let proxy_command = s.0.proxy_command.is_some();
        let jump = jump
            .offer_with(|| {
                if proxy_command {
                    // A ProxyCommand reaches the host: no jump hosts.
                    return Some(sourced(Vec::new(), Source::Builtin));
                }
                s.1.first("proxyjump").map(|(args, origin)| {
                    let list = crate::deployment::jump_hops(args.iter().map(String::as_str));
                    sourced(list, Source::SshConfig(origin.clone()))
                })
            })
            .or(Vec::new());
        let hops = self.chain(name, &jump.value);
        s.0.jump = sourced(hops, jump.from);
        s.0.sudo = sudo;
        s.0.unusable = h.unusable.clone();
        Some(s.0)
    }

    fn role_jump(&mut self, host: &str, roles: &[&crate::deployment::Role]) -> Option<Sourced<Vec<String>>> {
        let mut with: Vec<&crate::deployment::Role> =
            roles.iter().copied().filter(|r| r.jump.is_some()).collect();
        let first = with.first()?;
        if let Some(other) = with.iter().find(|r| r.jump != first.jump) {
            self.warnings.insert(
                format!(
                    "host `{host}` is in roles `{}` and `{}`, which name different jump hosts; \
                     `{}` (first in the file) is used",
                    first.name, other.name, first.name
                ),
                String::new(),
            );
        }
        let first = with.remove(0);
        Some(sourced(
            first.jump.clone().unwrap_or_default(),
            Source::Role(first.name.clone()),
        ))
    }

    fn sudo(&self, roles: &[&crate::deployment::Role]) -> Sourced<Option<Become>> {
        let flags = self.flags;
        let file = &self.d.ssh;
        let user_for = |role_user: Option<&String>| {
            flags
                .sudo_user
                .clone()
                .or_else(|| role_user.cloned())
                .or_else(|| file.sudo_user.clone())
                .unwrap_or_else(|| "root".to_string())
        };
        Pick::new()
            .offer(
                flags.sudo.map(|on| on.then(|| Become { user: user_for(None) })),
                Source::Flag("--become"),
            )
            .offer_lazily(ROLE_RANK, || {
                let r = roles.iter().find(|r| r.sudo == Some(true))?;
                let v = Become {
                    user: user_for(r.sudo_user.as_ref()),
                };
                Some(sourced(Some(v), Source::Role(r.name.clone())))
            })
            .offer(
                file.sudo.map(|on| on.then(|| Become { user: user_for(None) })),
                Source::Defaults,
            )
            .or(None)
    }

    /// A jump host from its specification: `[user@]host[:port]` or `ssh://[user@]host[:port]`,
    /// where host may name a deployment host.
    /// The hops of `specs` (first hop first), as OpenSSH builds the chain: `ssh -J a,b T`
    /// reaches `b` with `-J a`, so only the first hop's own ssh_config `ProxyJump` (or
    /// `ProxyCommand`) applies, and it is followed to any depth; a loop stops with a warning.
    fn chain(&mut self, host: &str, specs: &[String]) -> Vec<HostSettings> {
        let mut hops: Vec<(HostSettings, Vec<String>)> = specs.iter().map(|spec| self.hop(spec)).collect();
        for (h, own) in hops.iter_mut().skip(1) {
            h.proxy_command = None;
            own.clear();
        }
        let mut seen: Vec<String> = specs.to_vec();
        while let Some(own) = hops.first_mut().map(|(_, own)| std::mem::take(own)) {
            if own.is_empty() {
                break;
            }
            if own.iter().any(|o| seen.contains(o)) || seen.len() > MAX_CHAIN {
                self.warnings.insert(
                    format!(
                        "host `{host}`: the jump hosts' own ProxyJump settings loop or nest too deep ({} -> {}); \
                         the chain stops at `{}`",
                        own.join(","),
                        seen.join(","),
                        seen.first().cloned().unwrap_or_default()
                    ),
                    String::new(),
                );
                break;
            }
            seen.splice(0..0, own.iter().cloned());
            let mut more: Vec<(HostSettings, Vec<String>)> = own.iter().map(|spec| self.hop(spec)).collect();
            for (h, later) in more.iter_mut().skip(1) {
                h.proxy_command = None;
                later.clear();
            }
            // The hop that had its own ProxyJump is now reached through it, not by its command.
            if let Some((h, _)) = hops.first_mut() {
                h.proxy_command = None;
            }
            more.append(&mut hops);
            hops = more;
        }
        hops.into_iter().map(|(h, _)| h).collect()
    }

    /// One hop's settings, and its own ssh_config `ProxyJump` hops (when that, not a
    /// `ProxyCommand`, comes first for it).
    fn hop(&mut self, spec: &str) -> (HostSettings, Vec<String>) {
        let (user, host, port) = parse_hop(spec);
        let entry = self.d.hosts.get(&host);
        let address = entry.map_or_else(|| host.clone(), |h| h.address.clone());
        let layer = Layer {
            flag_user: None,
            entry_user: user.or_else(|| entry.and_then(|h| h.user.clone())),
            flag_port: None,
            entry_port: port.or_else(|| entry.and_then(|h| h.port)),
        };
        let (mut s, cfg) = self.resolve(spec, &address, layer);
        for v in [&mut s.address.from, &mut s.user.from, &mut s.port.from] {
            if *v == Source::HostEntry && entry.is_none() {
                *v = Source::JumpSpec;
            }
        }
        let mut own = Vec::new();
        if cfg.position("proxyjump") < cfg.position("proxycommand") {
            s.proxy_command = None;
            if let Some((args, _)) = cfg.first("proxyjump") {
                own = crate::deployment::jump_hops(args.iter().map(String::as_str));
            }
        }
        (s, own)
    }

    fn resolve(&mut self, name: &str, address: &str, layer: Layer) -> (HostSettings, HostConfig) {
        let file = &self.d.ssh;
        let flags = self.flags;
        let pre_user = layer
            .flag_user
            .clone()
            .or_else(|| layer.entry_user.clone())
            .or_else(|| file.user.clone());
        let pre_port = layer.flag_port.or(layer.entry_port).or(file.port);
        let cfg = self.config.query(&Query {
            host: address,
            user: pre_user.as_deref(),
            port: pre_port,
        });
        self.notes.extend(cfg.execs.iter().cloned());
        for (what, why, origin) in &cfg.unsupported {
            self.warnings.insert(
                format!(
                    "{origin}: `{what}` in the ssh configuration is not supported and was ignored ({why})"
                ),
                origin.to_string(),
            );
        }
        let from_cfg = |key: &str| {
            cfg.first(key)
                .map(|(a, o)| (a.to_vec(), Source::SshConfig(o.clone())))
        };
        let one = |key: &str| from_cfg(key).and_then(|(a, o)| a.first().cloned().map(|v| (v, o)));

        let address = match one("hostname") {
            Some((h, from)) => sourced(ssh_config::expand_hostname(&h, address), from),
            // As ssh connects to it: lower case, numeric shorthand written out.
            None => sourced(ssh_config::canonical_hostname(address), Source::HostEntry),
        };
        let port = Pick::new()
            .offer(layer.flag_port, Source::Flag("--port"))
            .offer(layer.entry_port, Source::HostEntry)
            .offer(file.port, Source::Defaults)
            .offer_with(|| self.config_value("Port", one("port"), |p| p.parse().ok()))
            .or(DEFAULT_SSH_PORT);
        let user = Pick::new()
            .offer(layer.flag_user, Source::Flag("--user"))
            .offer(layer.entry_user, Source::HostEntry)
            .offer(file.user.clone(), Source::Defaults)
            .offer_with(|| one("user").map(|(u, from)| sourced(u, from)))
            .or_else(|| self.default_user.get_or_insert_with(default_user).clone());
        let tokens = Tokens {
            host: &address.value,
            original: name,
            port: port.value,
            user: &user.value,
        };
        // ssh_config paths: tokens and `~` expanded; `none` is no file.
        let paths = |args: Vec<String>| -> Vec<PathBuf> {
            args.iter()
                .filter(|a| !a.eq_ignore_ascii_case("none"))
                .map(|a| ssh_config::expand_home(&ssh_config::expand_tokens(a, &tokens)))
                .collect()
        };
        let given = |v: &Vec<PathBuf>| (!v.is_empty()).then(|| v.clone());
        let identities = Pick::new()
            .offer(given(&flags.identities), Source::Flag("--identity"))
            .offer(
                given(&file.identities).map(|v| v.iter().map(|p| self.file_path(p)).collect()),
                Source::Defaults,
            )
            .offer_with(|| {
                let mut from = None;
                let mut v = Vec::new();
                for (args, origin) in cfg.all("identityfile") {
                    from.get_or_insert_with(|| Source::SshConfig(origin.clone()));
                    // ssh keeps a file once however it is written (`~/.ssh/id`, `/home/u/.ssh/id`).
                    for p in paths(args.to_vec()) {
                        if !v.contains(&p) {
                            v.push(p);
                        }
                    }
                }
                from.map(|from| sourced(v, from))
            })
            .or_else(|| self.default_identities().to_vec());
        let identities_only = Pick::new()
            .offer_with(|| {
                one("identitiesonly").map(|(v, from)| sourced(v.eq_ignore_ascii_case("yes"), from))
            })
            .or(false);
        let known_hosts = Pick::new()
            .offer(
                flags.known_hosts.clone().map(|k| vec![k]),
                Source::Flag("--known-hosts"),
            )
            .offer(
                file.known_hosts.as_ref().map(|k| vec![self.file_path(k)]),
                Source::Defaults,
            )
            .offer_with(|| from_cfg("userknownhostsfile").map(|(args, from)| sourced(paths(args), from)))
            .or_else(|| vec![self.user_known_hosts.get_or_insert_with(user_known_hosts).clone()]);
        let global_known_hosts = Pick::new()
            .offer_with(|| from_cfg("globalknownhostsfile").map(|(args, from)| sourced(paths(args), from)))
            .or_else(|| vec![PathBuf::from("/etc/ssh/ssh_known_hosts")]);
        let host_key_checking = Pick::new()
            .offer(flags.host_key_checking, Source::Flag("--host-key-checking"))
            .offer(file.host_key_checking, Source::Defaults)
            .offer_with(|| {
                self.config_value("StrictHostKeyChecking", one("stricthostkeychecking"), |v| {
                    match v.to_ascii_lowercase().as_str() {
                        // `ask` cannot ask here: unknown keys are refused, as with `yes`.
                        "yes" | "ask" => Some(HostKeyChecking::Strict),
                        "accept-new" => Some(HostKeyChecking::AcceptNew),
                        "no" | "off" => Some(HostKeyChecking::Off),
                        _ => None,
                    }
                })
            })
            .or(HostKeyChecking::Strict);
        let connect_timeout = Pick::new()
            .offer(flags.connect_timeout, Source::Flag("--connect-timeout"))
            .offer(file.connect_timeout, Source::Defaults)
            .offer_with(|| {
                self.config_value("ConnectTimeout", one("connecttimeout"), |v| {
                    v.parse::<u64>().ok().filter(|s| *s > 0).map(Duration::from_secs)
                })
            })
            .or(DEFAULT_CONNECT_TIMEOUT);
        let s = HostSettings {
            name: name.to_string(),
            address,
            port,
            user,
            identities,
            identities_only,
            known_hosts,
            global_known_hosts,
            host_key_checking,
            connect_timeout,
            jump: sourced(Vec::new(), Source::Builtin),
            sudo: sourced(None, Source::Builtin),
            unusable: None,
            proxy_command: cfg.first("proxycommand").and_then(|(a, o)| {
                let command = a.join(" ");
                (!command.eq_ignore_ascii_case("none"))
                    .then(|| sourced(command, Source::SshConfig(o.clone())))
            }),
        };
        (s, cfg)
    }

    /// An ssh_config value `found` for `key`, as `parse` reads it; a value it refuses is warned
    /// about (key, value, file:line) and not taken, so the next source decides.
    fn config_value<T>(
        &mut self,
        key: &str,
        found: Option<(String, Source)>,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<Sourced<T>> {
        let (value, from) = found?;
        match parse(&value) {
            Some(v) => Some(sourced(v, from)),
            None => {
                self.bad_value(key, &value, &from);
                None
            }
        }
    }

    fn bad_value(&mut self, key: &str, value: &str, from: &Source) {
        self.warnings.insert(
            format!("{from}: `{key} {value}` is not a valid value; the default is used"),
            from.to_string(),
        );
    }

    /// A path from the deployment file: `~/` is the home directory, relative paths are relative
    /// to the file's directory.
    fn file_path(&self, p: &Path) -> PathBuf {
        let expanded = ssh_config::expand_home(&p.to_string_lossy());
        if expanded.is_relative() {
            self.base.join(expanded)
        } else {
            expanded
        }
    }
}

/// The roles each host is in (not `all`), in file order, by the hosts' and the roles' places
/// in the deployment: host `i`'s are `roles[starts[i]..starts[i + 1]]`. Two arrays, where a
/// map of a list per host cost 100,000 allocations to build and as many to free.
#[derive(Debug)]
struct RolesOf {
    starts: Vec<usize>,
    roles: Vec<usize>,
}

impl RolesOf {
    fn new(d: &Deployment) -> Self {
        // (host, role) for every membership, in role order; then grouped by host, keeping
        // that order (a counting sort).
        let mut pairs = Vec::new();
        for (r, role) in d.roles.values().enumerate() {
            if role.name == crate::deployment::ALL_ROLE {
                continue;
            }
            pairs.extend(
                role.hosts
                    .iter()
                    .filter_map(|h| d.hosts.get_index_of(h.as_str()))
                    .map(|h| (h, r)),
            );
        }
        let mut starts = vec![0; d.hosts.len() + 1];
        for &(h, _) in &pairs {
            starts[h + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut roles = vec![0; pairs.len()];
        for (h, r) in pairs {
            roles[next[h]] = r;
            next[h] += 1;
        }
        Self { starts, roles }
    }

    /// The roles of the host at `host`.
    fn of(&self, host: usize) -> &[usize] {
        match (self.starts.get(host), self.starts.get(host + 1)) {
            (Some(&from), Some(&to)) => &self.roles[from..to],
            _ => &[],
        }
    }
}

/// Jump hosts a chain may hold, all hops' own ProxyJump settings followed.
const MAX_CHAIN: usize = 16;

/// The host-specific layer of a resolution.
struct Layer {
    flag_user: Option<String>,
    entry_user: Option<String>,
    flag_port: Option<u16>,
    entry_port: Option<u16>,
}

fn user_known_hosts() -> PathBuf {
    home().map_or_else(
        || PathBuf::from(".ssh/known_hosts"),
        |h| h.join(".ssh/known_hosts"),
    )
}

/// `~/.ssh/id_{ed25519,ecdsa,rsa}`, those that exist.
fn default_identities() -> Vec<PathBuf> {
    let Some(home) = home() else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|f| home.join(".ssh").join(f))
        .filter(|p| p.is_file())
        .collect()
}

/// `[user@]host[:port]`, `ssh://[user@]host[:port]`, `[v6addr]:port`.
pub fn parse_hop(spec: &str) -> (Option<String>, String, Option<u16>) {
    let s = spec.trim();
    let s = s.strip_prefix("ssh://").unwrap_or(s);
    let (user, rest) = match s.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, s),
    };
    if let Some(inner) = rest.strip_prefix('[') {
        if let Some((addr, tail)) = inner.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (user, addr.to_string(), port);
        }
    }
    // More than one `:` is a bare IPv6 address, without a port.
    match rest.split_once(':') {
        Some((h, p)) if !p.contains(':') => match p.parse() {
            Ok(port) => (user, h.to_string(), Some(port)),
            Err(_) => (user, rest.to_string(), None),
        },
        _ => (user, rest.to_string(), None),
    }
}

/// Settings of `hosts` (deployment names, in order), and the warnings met on the way.
pub fn resolve_all(
    d: &Deployment,
    flags: &SshSettings,
    config: &SshConfig,
    hosts: &[String],
) -> (Vec<HostSettings>, Vec<String>) {
    let mut r = Resolver::new(d, flags, config);
    let v = hosts.iter().filter_map(|h| r.host(h)).collect();
    (v, r.warnings())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(yaml: &str) -> Deployment {
        crate::deployment::load_str("/etc/rc/deploy.yaml", yaml, None).unwrap()
    }

    #[test]
    fn hop_specs() {
        assert_eq!(parse_hop("bastion"), (None, "bastion".into(), None));
        assert_eq!(
            parse_hop("ops@10.0.0.1:2222"),
            (Some("ops".into()), "10.0.0.1".into(), Some(2222))
        );
        assert_eq!(parse_hop("ssh://b:22"), (None, "b".into(), Some(22)));
        assert_eq!(parse_hop("[::1]:2200"), (None, "::1".into(), Some(2200)));
        assert_eq!(parse_hop("::1"), (None, "::1".into(), None));
    }

    #[test]
    fn precedence_and_sources() {
        let d = deployment(
            "ssh:\n  user: deploy\n  identity: keys/id\nhosts:\n  web01:\n    port: 2201\n  db01:\n    address: 127.0.0.9\n    user: pg\n\
             roles:\n  web:\n    hosts: [web01]\n    jump: ops@bastion:2222\n    become: true\n",
        );
        let cfg = SshConfig::from_text(
            "/home/u/.ssh/config",
            "Host web*\n  HostName 127.0.0.5\n  Port 9\n  User nobody\nHost bastion\n  HostName 127.0.0.100\n\
             Host *\n  IdentitiesOnly yes\n  ConnectTimeout 3\n  ControlMaster auto\n",
            Path::new("/nonexistent"),
        );
        let flags = SshSettings::default();
        let (s, warnings) = resolve_all(&d, &flags, &cfg, &["web01".into(), "db01".into()]);
        let web = &s[0];
        assert_eq!(web.address.value, "127.0.0.5");
        assert_eq!(web.address.from.to_string(), "/home/u/.ssh/config:2");
        assert_eq!((web.port.value, &web.port.from), (2201, &Source::HostEntry));
        assert_eq!(
            (web.user.value.as_str(), &web.user.from),
            ("deploy", &Source::Defaults)
        );
        assert_eq!(web.identities.value, [PathBuf::from("/etc/rc/keys/id")]);
        assert!(web.identities_only.value);
        assert_eq!(web.connect_timeout.value, Duration::from_secs(3));
        assert_eq!(web.jump.from, Source::Role("web".into()));
        let hop = &web.jump.value[0];
        assert_eq!(
            (
                hop.address.value.as_str(),
                hop.port.value,
                hop.user.value.as_str()
            ),
            ("127.0.0.100", 2222, "ops")
        );
        assert_eq!(hop.user.from, Source::JumpSpec);
        assert_eq!(web.sudo.value, Some(Become { user: "root".into() }));
        let db = &s[1];
        assert_eq!(db.address.value, "127.0.0.9");
        assert_eq!(db.user.value, "pg");
        assert_eq!(db.port.value, 22);
        assert!(db.jump.value.is_empty());
        assert_eq!(db.sudo.value, None);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("ControlMaster"), "{warnings:?}");
        assert!(warnings[0].starts_with("/home/u/.ssh/config:10"), "{warnings:?}");

        let flags = SshSettings {
            user: Some("cli".into()),
            port: Some(3000),
            jump: Some(Vec::new()),
            sudo: Some(false),
            ..SshSettings::default()
        };
        let (s, _) = resolve_all(&d, &flags, &cfg, &["web01".into()]);
        assert_eq!((s[0].user.value.as_str(), s[0].port.value), ("cli", 3000));
        assert_eq!(s[0].user.from, Source::Flag("--user"));
        assert!(s[0].jump.value.is_empty());
        assert_eq!(s[0].sudo.value, None);
    }

    /// A host's roles decide in file order: the first role naming a jump host (a warning when
    /// a later one names another), the first with `become`; a host in no role has neither.
    #[test]
    fn roles_decide_in_file_order() {
        let d = deployment(
            "hosts: {a: 127.0.0.2, b: 127.0.0.3, c: 127.0.0.4}\nroles:\n  plain: [c, a]\n  \
             web:\n    hosts: [b, a]\n    jump: j1\n  ops:\n    hosts: [a]\n    jump: j2\n    become: true\n    \
             become_user: admin\n",
        );
        let cfg = SshConfig::from_text("/x/config", "", Path::new("/nonexistent"));
        let all: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let (s, warnings) = resolve_all(&d, &SshSettings::default(), &cfg, &all);
        let jumps = |i: usize| -> Vec<String> { s[i].jump.value.iter().map(|h| h.name.clone()).collect() };
        assert_eq!(jumps(0), ["j1"]);
        assert_eq!(s[0].jump.from, Source::Role("web".into()));
        assert_eq!(s[0].sudo.value, Some(Become { user: "admin".into() }));
        assert_eq!(s[0].sudo.from, Source::Role("ops".into()));
        assert_eq!(jumps(1), ["j1"]);
        assert_eq!(s[1].sudo.value, None);
        assert!(jumps(2).is_empty());
        assert_eq!(s[2].sudo.value, None);
        assert_eq!(
            warnings,
            ["host `a` is in roles `web` and `ops`, which name different jump hosts; `web` (first in the file) is used"]
        );
    }

    #[test]
    fn proxyjump_none_and_chains() {
        let d = deployment("hosts:\n  a:\n  b:\n  bastion:\n    address: 127.0.0.50\n    port: 2250\n");
        let cfg = SshConfig::from_text(
            "cfg",
            "Host a\n  ProxyJump bastion,u@127.0.0.51:2251\nHost b\n  ProxyJump none\nHost *\n  ProxyJump x\n",
            Path::new("/x"),
        );
        let (s, warnings) = resolve_all(&d, &SshSettings::default(), &cfg, &["a".into(), "b".into()]);
        let hops: Vec<String> = s[0].jump.value.iter().map(HostSettings::describe).collect();
        let me = default_user();
        // As OpenSSH: the first hop (`bastion`) is reached with its own ssh_config, whose
        // `Host *` says ProxyJump x; x's own `ProxyJump x` is a loop, which stops the chain.
        assert_eq!(
            hops,
            [
                format!("{me}@x"),
                format!("{me}@127.0.0.50:2250"),
                "u@127.0.0.51:2251".to_string()
            ]
        );
        assert!(warnings.iter().any(|w| w.contains("loop")), "{warnings:?}");
        assert!(s[1].jump.value.is_empty());
        assert_eq!(s[1].jump.from.to_string(), "cfg:4");
    }
}
