//! The context a plugin works through: the deployment, its configuration, and the host's
//! services (report, log, run commands, fetch files).

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

use crate::model::{ClusterInfo, CommandResult, Finding, Fleet, HostInfo, Input, Options, RoleInfo, Status};
use crate::Result;

/// Log levels a plugin can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

/// The host's services, behind a trait so the testing kit can stand in for the real host.
#[doc(hidden)]
pub trait Backend {
    fn report(&mut self, finding: &Finding);
    fn log(&mut self, level: Level, message: &str);
    fn run(&mut self, command: &str, hosts: &[&str]) -> Result<Vec<CommandResult>>;
    /// [`Backend::run`] through sudo as `user`.
    fn run_as(&mut self, user: &str, command: &str, hosts: &[&str]) -> Result<Vec<CommandResult>>;
    /// Every run of `runs` at once (see [`Context::run_many`]); by default one after another.
    fn run_many(&mut self, runs: &[Run<'_>]) -> Result<Vec<Vec<CommandResult>>> {
        one_by_one(self, runs)
    }
    fn fetch(&mut self, host: &str, path: &str) -> Result<Vec<u8>>;
    fn cancelled(&self) -> bool;
}

/// [`Backend::run_many`] one run after another, each through `run` or `run_as`.
pub(crate) fn one_by_one<B: Backend + ?Sized>(
    b: &mut B,
    runs: &[Run<'_>],
) -> Result<Vec<Vec<CommandResult>>> {
    runs.iter()
        .map(|r| match r.become_user {
            Some(user) => b.run_as(user, r.command, r.hosts),
            None => b.run(r.command, r.hosts),
        })
        .collect()
}

/// One command of [`Context::run_many`]: the command, its hosts, and the user to run it as
/// through sudo (`None`: as the deployment says for each host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run<'a> {
    pub command: &'a str,
    pub hosts: &'a [&'a str],
    pub become_user: Option<&'a str>,
}

/// What a plugin's `validate` / `debug` receives.
pub struct Context<'a> {
    input: &'a Input,
    backend: &'a mut dyn Backend,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("plugin", &self.input.plugin)
            .finish_non_exhaustive()
    }
}

impl<'a> Context<'a> {
    #[doc(hidden)]
    pub fn new(input: &'a Input, backend: &'a mut dyn Backend) -> Self {
        Self { input, backend }
    }

    /// The `expect` keys the run's loaded plugins declare they read (see [`crate::Expect`]).
    pub fn expect_keys(&self) -> &[crate::ExpectKey] {
        &self.input.expect_keys
    }

    /// The plugin's name as the host knows it.
    pub fn plugin(&self) -> &str {
        &self.input.plugin
    }

    pub fn deployment(&self) -> &Fleet {
        &self.input.deployment
    }

    /// Every role, in file order, ending with the derived `all`.
    pub fn roles(&self) -> &[RoleInfo] {
        &self.input.deployment.roles
    }

    pub fn role(&self, name: &str) -> Option<&RoleInfo> {
        self.input.deployment.roles.iter().find(|r| r.name == name)
    }

    /// The hosts of `role`, in order; empty when there is no such role.
    pub fn hosts(&self, role: &str) -> Vec<&HostInfo> {
        self.role(role)
            .map(|r| r.hosts.iter().filter_map(|h| self.host(h)).collect())
            .unwrap_or_default()
    }

    /// Every host the run works on, in file order.
    pub fn all_hosts(&self) -> &[HostInfo] {
        &self.input.deployment.hosts
    }

    /// A host the run works on (`None` for a host outside the selection: see [`Self::target`]).
    pub fn host(&self, name: &str) -> Option<&HostInfo> {
        self.input.deployment.hosts.iter().find(|h| h.name == name)
    }

    /// Any host of the deployment, selected or not: for what a check looks at (the target of a
    /// connection, a peer), never for where it runs commands.
    pub fn target(&self, name: &str) -> Option<&HostInfo> {
        self.host(name)
            .or_else(|| self.input.deployment.others.iter().find(|h| h.name == name))
    }

    /// Every host of `role`, selected or not (see [`Self::target`]); empty when there is no
    /// such role. `--limit` or `--shard` narrow where a check runs, not what it looks at.
    pub fn members(&self, role: &str) -> Vec<&HostInfo> {
        self.role(role)
            .map(|r| r.members().iter().filter_map(|h| self.target(h)).collect())
            .unwrap_or_default()
    }

    pub fn clusters(&self) -> &[ClusterInfo] {
        &self.input.deployment.clusters
    }

    /// The whole deployment document as JSON, for sections beyond hosts and roles (a Calyptos
    /// environment's `default_attributes`, another plugin's settings), or `null`.
    pub fn document(&self) -> &Value {
        &self.input.deployment.document
    }

    /// The plugin's own section of the deployment (`plugins.<name>`), or `null`.
    pub fn config(&self) -> &Value {
        &self.input.config
    }

    pub fn options(&self) -> &Options {
        &self.input.options
    }

    /// Report a passing check. Chain `.host(..)` and `.path(..)`; it is sent when dropped.
    pub fn pass(&mut self, check: &str, message: impl Into<String>) -> Emit<'_, 'a> {
        self.emit(Status::Pass, check, message.into())
    }

    pub fn fail(&mut self, check: &str, message: impl Into<String>) -> Emit<'_, 'a> {
        self.emit(Status::Fail, check, message.into())
    }

    pub fn warn(&mut self, check: &str, message: impl Into<String>) -> Emit<'_, 'a> {
        self.emit(Status::Warn, check, message.into())
    }

    pub fn skip(&mut self, check: &str, message: impl Into<String>) -> Emit<'_, 'a> {
        self.emit(Status::Skip, check, message.into())
    }

    pub fn error(&mut self, check: &str, message: impl Into<String>) -> Emit<'_, 'a> {
        self.emit(Status::Error, check, message.into())
    }

    fn emit(&mut self, status: Status, check: &str, message: String) -> Emit<'_, 'a> {
        Emit {
            ctx: self,
            finding: Some(Finding {
                status,
                check: check.to_string(),
                host: None,
                message,
                path: None,
            }),
        }
    }

    /// Report a finished [`Finding`].
    pub fn report(&mut self, finding: Finding) {
        self.backend.report(&finding);
    }

    pub fn log(&mut self, level: Level, message: &str) {
        self.backend.log(level, message);
    }

    /// Run `command` on `hosts` through the host's executor (parallel SSH, shared sessions);
    /// one result per host, in the order given. A non-zero exit is a result, not an error.
    pub fn run(&mut self, command: &str, hosts: &[&str]) -> Result<Vec<CommandResult>> {
        self.backend.run(command, hosts)
    }

    /// [`Context::run`] through `sudo` as `user` (`"root"` to read what only root may), whatever
    /// the deployment says for these hosts. When sudo itself refuses (it needs a password, the
    /// login user is not in sudoers, sudo is missing), the host's result has the outcome
    /// `become-failed` and says why in `error`.
    pub fn run_as(&mut self, user: &str, command: &str, hosts: &[&str]) -> Result<Vec<CommandResult>> {
        self.backend.run_as(user, command, hosts)
    }

    /// Several commands at once, each on its own hosts: the results of each, in order, one per
    /// host as [`Context::run`] gives them. rolecall sends the commands that meet on one host
    /// together, in one SSH round trip to it, where separate [`Context::run`] calls cost one
    /// each. A host that cannot take them at once (rolecall before 0.3) gets them one by one.
    pub fn run_many(&mut self, runs: &[Run<'_>]) -> Result<Vec<Vec<CommandResult>>> {
        self.backend.run_many(runs)
    }

    /// Fetch a file's contents from a host.
    pub fn fetch(&mut self, host: &str, path: &str) -> Result<Vec<u8>> {
        self.backend.fetch(host, path)
    }

    /// Stop early when this turns true.
    pub fn cancelled(&self) -> bool {
        self.backend.cancelled()
    }

    /// Whether the run's allow-list permits connecting to `ip`.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        allowed(&self.input.options.allow_nets, ip)
    }

    /// [`probe_tcp`] with this run's allow-list.
    pub fn probe_tcp(&self, address: &str, port: u16, timeout: Duration) -> std::result::Result<(), String> {
        probe_tcp(&self.input.options.allow_nets, address, port, timeout)
    }
}

/// Whether `allow_nets` (empty = no restriction) permits connecting to `ip`.
pub fn allowed(allow_nets: &[String], ip: IpAddr) -> bool {
    allow_nets.is_empty() || allow_nets.iter().any(|n| cidr_contains(n, ip))
}

/// Whether `/etc/hosts` names `name` (so resolving it reads a file, not a DNS server).
fn in_etc_hosts(name: &str) -> bool {
    std::fs::read_to_string("/etc/hosts").is_ok_and(|t| {
        t.lines()
            .map(|l| l.split('#').next().unwrap_or_default())
            .any(|l| l.split_whitespace().skip(1).any(|n| n.eq_ignore_ascii_case(name)))
    })
}

/// The socket addresses of `address:port`. With an allow-list set, only IP addresses and names
/// in `/etc/hosts` are resolved: a DNS query could itself leave the allowed networks.
pub fn resolve(
    allow_nets: &[String],
    address: &str,
    port: u16,
) -> std::result::Result<Vec<SocketAddr>, String> {
    let literal = address.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if !allow_nets.is_empty() && !in_etc_hosts(address) {
        return Err(format!(
            "`{address}` is a name outside /etc/hosts; not resolved while an allow-list is set \
             (a DNS query could leave the allowed networks)"
        ));
    }
    Ok((address, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{address}`: {e}"))?
        .collect())
}

/// Try a TCP connection to `address:port` within `timeout`, refusing targets outside
/// `allow_nets` before any packet is sent (see [`resolve`] for names). Every resolved address
/// is tried.
pub fn probe_tcp(
    allow_nets: &[String],
    address: &str,
    port: u16,
    timeout: Duration,
) -> std::result::Result<(), String> {
    let addrs = resolve(allow_nets, address, port)?;
    let mut last = format!("`{address}` resolves to no address");
    for addr in addrs {
        if !allowed(allow_nets, addr.ip()) {
            last = format!("{} is outside the allowed networks", addr.ip());
            continue;
        }
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!("{addr}: no answer within {:.1}s", timeout.as_secs_f64())
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

/// A result being reported; sent to the host when dropped.
pub struct Emit<'c, 'a> {
    ctx: &'c mut Context<'a>,
    finding: Option<Finding>,
}

impl std::fmt::Debug for Emit<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emit").field("finding", &self.finding).finish()
    }
}

impl Emit<'_, '_> {
    /// The host this result is about.
    pub fn host(mut self, host: &str) -> Self {
        if let Some(f) = &mut self.finding {
            f.host = Some(host.to_string());
        }
        self
    }

    /// The YAML path in the deployment this result is about (`roles.web.min`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        if let Some(f) = &mut self.finding {
            f.path = Some(path.into());
        }
        self
    }
}

impl Drop for Emit<'_, '_> {
    fn drop(&mut self) {
        if let Some(f) = self.finding.take() {
            self.ctx.backend.report(&f);
        }
    }
}

/// `127.0.0.0/8` contains `127.0.0.5`; a bare address is a /32 or /128.
pub fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr.trim(), None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        (IpAddr::V4(n), IpAddr::V6(i)) => i
            .to_ipv4_mapped()
            .is_some_and(|m| cidr_contains(&format!("{n}/{}", bits.unwrap_or(32)), IpAddr::V4(m))),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_not_resolved_under_an_allow_list() {
        let nets = ["127.0.0.0/8".to_string()];
        let e = resolve(&nets, "packages.example.invalid", 80).unwrap_err();
        assert!(e.contains("not resolved while an allow-list is set"), "{e}");
        assert_eq!(
            resolve(&nets, "127.0.0.9", 22).unwrap(),
            ["127.0.0.9:22".parse().unwrap()]
        );
        assert_eq!(
            resolve(&nets, "[::1]", 22).unwrap(),
            ["[::1]:22".parse().unwrap()]
        );
        let e = probe_tcp(&nets, "packages.example.invalid", 80, Duration::from_millis(10)).unwrap_err();
        assert!(e.contains("not resolved"), "{e}");
    }

    #[test]
    fn cidrs() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(cidr_contains("127.0.0.0/8", ip("127.1.2.3")));
        assert!(!cidr_contains("127.0.0.0/8", ip("10.0.0.1")));
        assert!(cidr_contains("::1/128", ip("::1")));
        assert!(!cidr_contains("::1/128", ip("::2")));
        assert!(cidr_contains("10.1.1.1", ip("10.1.1.1")));
        assert!(!cidr_contains("garbage", ip("10.1.1.1")));
    }
}
