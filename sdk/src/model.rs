//! What a plugin sees: the run's input (the deployment, the plugin's configuration, the run's
//! options) and what it reports. This is the JSON that crosses the boundary, as Rust types.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The run's input, as the host sends it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Input {
    /// The name of the plugin being run.
    pub plugin: String,
    pub deployment: Fleet,
    /// The plugin's own section of the deployment (`plugins.<name>`), or `null`.
    #[serde(default)]
    pub config: Value,
    #[serde(default)]
    pub options: Options,
    /// The `expect` keys that the run's loaded plugins declare they read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_keys: Vec<ExpectKey>,
}

/// An `expect` key a loaded plugin reads (see [`crate::Expect`]), as the host tells plugins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectKey {
    pub key: String,
    /// `list`, `map`, `string`, `number`, `bool` or `any`.
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    /// The plugin that reads it.
    #[serde(default)]
    pub plugin: String,
}

/// The deployment: hosts with their effective SSH endpoints, roles, clusters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Fleet {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub profile: String,
    #[serde(default)]
    pub source: String,
    /// The hosts the run works on (all of them, unless `--limit`, `--roles` or `--shard`
    /// narrowed it): commands go to these only.
    pub hosts: Vec<HostInfo>,
    /// The other hosts of the deployment, outside the run's selection: never a command's
    /// target, but there to be looked at (a connectivity target, a peer). Their address, port
    /// and user are as the deployment writes them (rolecall reads no ssh_config for hosts it
    /// will not connect to). Empty when the run covers every host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<HostInfo>,
    pub roles: Vec<RoleInfo>,
    #[serde(default)]
    pub clusters: Vec<ClusterInfo>,
    /// The whole file as JSON for profile-specific sections (a Calyptos environment), or `null`
    /// (a native file: everything is in the fields above).
    #[serde(default)]
    pub document: Value,
    /// Every plugin's section of the deployment (`plugins.<name>`), for plugins that check
    /// another's configuration; a plugin's own is also its `config`.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub plugins: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostInfo {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    #[serde(default)]
    pub vars: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RoleInfo {
    pub name: String,
    /// The role's hosts the run works on.
    pub hosts: Vec<String>,
    /// Every host of the role, selected or not (see [`Fleet::others`]), when the selection
    /// leaves some out; empty when it is `hosts`. Read it through [`RoleInfo::members`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    #[serde(default)]
    pub min: Option<usize>,
    #[serde(default)]
    pub max: Option<usize>,
    /// Free-form expectations from the deployment (`roles.<name>.expect`), or `null`.
    #[serde(default)]
    pub expect: Value,
    /// Service ports given as `host:port` in the file, by host.
    #[serde(default)]
    pub service_ports: BTreeMap<String, u16>,
    /// Declarative checks (`roles.<name>.checks`), checked when the deployment was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<crate::checks::Check>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClusterInfo {
    pub name: String,
    /// The cluster's hosts the run works on.
    pub hosts: Vec<String>,
    /// Every host of the cluster, selected or not; empty when it is `hosts`. Read it through
    /// [`ClusterInfo::members`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

impl Fleet {
    /// Narrow the run to the hosts `keep` accepts, as `--limit` and `--shard` do: the others
    /// move to [`Fleet::others`], and each role and cluster keeps its whole membership in
    /// `members` while `hosts` keeps the selected ones.
    pub fn select(&mut self, keep: impl Fn(&str) -> bool) {
        let (hosts, others): (Vec<HostInfo>, Vec<HostInfo>) = std::mem::take(&mut self.hosts)
            .into_iter()
            .partition(|h| keep(&h.name));
        self.hosts = hosts;
        self.others.extend(others);
        let narrow = |hosts: &mut Vec<String>, members: &mut Vec<String>| {
            if hosts.iter().all(|h| keep(h)) {
                return;
            }
            if members.is_empty() {
                *members = hosts.clone();
            }
            hosts.retain(|h| keep(h));
        };
        for r in &mut self.roles {
            narrow(&mut r.hosts, &mut r.members);
        }
        for c in &mut self.clusters {
            narrow(&mut c.hosts, &mut c.members);
        }
    }
}

impl RoleInfo {
    /// Every host of the role, whether the run works on it or not: the targets and peers a
    /// check looks at, as opposed to `hosts`, where its commands run.
    pub fn members(&self) -> &[String] {
        if self.members.is_empty() {
            &self.hosts
        } else {
            &self.members
        }
    }
}

impl ClusterInfo {
    /// Every host of the cluster, whether the run works on it or not (see
    /// [`RoleInfo::members`]).
    pub fn members(&self) -> &[String] {
        if self.members.is_empty() {
            &self.hosts
        } else {
            &self.members
        }
    }
}

/// How the run was started.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Options {
    /// `validate --online`: checks may touch the network (only allowed targets).
    #[serde(default)]
    pub online: bool,
    /// Changes to hosts (installs, restarts) are allowed.
    #[serde(default)]
    pub allow_changes: bool,
    /// Commands are listed, not run.
    #[serde(default)]
    pub dry_run: bool,
    /// Networks the run may connect to (`127.0.0.0/8`, `::1/128`); empty = no restriction.
    #[serde(default)]
    pub allow_nets: Vec<String>,
}

/// The status of a reported check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Skip,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Warn => "warn",
            Self::Skip => "skip",
            Self::Error => "error",
        }
    }

    pub fn to_abi(self) -> crate::abi::Status {
        use crate::abi::Status as S;
        match self {
            Self::Pass => S::PASS,
            Self::Fail => S::FAIL,
            Self::Warn => S::WARN,
            Self::Skip => S::SKIP,
            Self::Error => S::ERROR,
        }
    }

    pub fn from_abi(s: crate::abi::Status) -> Option<Self> {
        use crate::abi::Status as S;
        Some(match s {
            S::PASS => Self::Pass,
            S::FAIL => Self::Fail,
            S::WARN => Self::Warn,
            S::SKIP => Self::Skip,
            S::ERROR => Self::Error,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reported result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub status: Status,
    pub check: String,
    pub host: Option<String>,
    pub message: String,
    /// YAML path in the deployment file (`roles.node-controller.min`).
    pub path: Option<String>,
}

/// The result of one command on one host, as the host's executor delivers it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    pub host: String,
    /// `ok` (the command ran; see `exit_code`), `signal`, `timeout`, `unreachable`,
    /// `handshake-timeout`, `auth-failed`, `host-key-unknown`, `host-key-changed`, `refused`,
    /// `cancelled`, `dry-run` (nothing was sent), `error`.
    pub outcome: String,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub signal: Option<String>,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub duration_ms: u64,
    /// Why the command did not run, when it did not.
    #[serde(default)]
    pub error: Option<String>,
    /// When the command was sent to the host (Unix time in microseconds), where the executor
    /// knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_us: Option<u64>,
    /// When its first output came back (Unix time in microseconds): with `sent_us`, one round
    /// trip that no other host's slowness is part of (clock checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_us: Option<u64>,
}

impl CommandResult {
    /// A command that ran and exited with `code`.
    pub fn exited(host: &str, code: i32, stdout: &str, stderr: &str) -> Self {
        Self {
            host: host.into(),
            outcome: "ok".into(),
            exit_code: Some(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
            ..Self::default()
        }
    }

    /// Ran and exited 0.
    pub fn success(&self) -> bool {
        self.outcome == "ok" && self.exit_code == Some(0)
    }
}

/// An error a plugin returns: reported as an `error` result of that plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self(e.to_string())
    }
}

/// `Result` with the SDK's [`Error`].
pub type Result<T = (), E = Error> = std::result::Result<T, E>;
