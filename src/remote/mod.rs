//! Remote execution: how each host is reached, and the [`Executor`]s that run one command on
//! many hosts and return one [`HostResult`] per host. A non-zero exit is a result, never an
//! abort; so are unreachable hosts, refused host keys and timeouts.
//!
//! - [`ssh::SshExecutor`]: real SSH (ssh2), one lazily opened session per host reused by every
//!   command of the run, on a bounded worker pool of its own.
//! - [`scripted::ScriptedExecutor`]: canned per-host answers from a file (tests, `--dry-run`).

pub mod known_hosts;
pub mod scripted;
pub mod settings;
pub mod ssh;
pub mod ssh_config;
pub mod sudo;
pub(crate) mod wait;

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rolecall_plugin::CommandResult;

/// The SSH port when neither flags, host nor file say otherwise.
pub const DEFAULT_SSH_PORT: u16 = 22;
/// Per address, for the TCP connection; and again for the SSH handshake and authentication.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Per command, from opening its channel to its exit status.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Per stream (stdout, stderr) of one command.
pub const DEFAULT_OUTPUT_CAP: usize = 1 << 20;
/// Hosts with work in flight at once (each costs a socket, not a thread).
pub const DEFAULT_FORKS: usize = 512;
/// Extra attempts after a connection-level failure (refused, reset, closed during key exchange).
pub const DEFAULT_RETRIES: u32 = 2;
/// Environment variable holding the SSH password (never a flag: argv is visible to every user).
pub const PASSWORD_ENV: &str = "ROLECALL_SSH_PASSWORD";
/// Environment variable holding the passphrase of passphrase-protected identity files.
pub const PASSPHRASE_ENV: &str = "ROLECALL_SSH_PASSPHRASE";
/// Environment variable with the networks rolecall may connect to (comma-separated CIDRs).
pub const ALLOW_NETS_ENV: &str = "ROLECALL_ALLOW_NETS";

/// POSIX-shell single quoting: `it's` -> `'it'\''s'`.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The local user, as `ssh` does when neither flags, host nor file name one.
pub fn default_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".to_string())
}

/// Where and as whom to connect to one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: String,
    pub port: u16,
    pub user: String,
}

/// Networks rolecall may connect to. Empty means no restriction; tests and CI set loopback so
/// that a mistake is refused, not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<ipnet::IpNet>,
}

impl AllowList {
    /// Parse CIDRs (`127.0.0.0/8`, `::1/128`, or a bare address). Blank entries are ignored.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, AllowListError> {
        let mut nets = Vec::new();
        for item in items {
            let item = item.as_ref().trim();
            if item.is_empty() {
                continue;
            }
            let net = match item.parse::<ipnet::IpNet>() {
                Ok(n) => n.trunc(),
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => ipnet::IpNet::from(ip),
                    Err(_)
                        if item.contains('/')
                            && item
                                .split('/')
                                .next()
                                .is_some_and(|a| a.parse::<IpAddr>().is_ok()) =>
                    {
                        let max = if item.contains(':') { 128 } else { 32 };
                        return Err(AllowListError::Prefix {
                            item: item.to_string(),
                            max,
                        });
                    }
                    Err(_) => return Err(AllowListError::NotANetwork(item.to_string())),
                },
            };
            nets.push(net);
        }
        Ok(Self { nets })
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.nets.is_empty() || self.nets.iter().any(|n| n.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The networks as text (`127.0.0.0/8`), as plugins receive them.
    pub fn nets(&self) -> Vec<String> {
        self.nets.iter().map(ToString::to_string).collect()
    }
}

/// Why an allow-list entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowListError {
    #[error("`{item}`: the prefix length must be 0 to {max}")]
    Prefix { item: String, max: u8 },
    #[error("`{0}` is not a network (expected CIDR such as 127.0.0.0/8)")]
    NotANetwork(String),
}

/// Why a file was not fetched from a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("`{0}` is not one of this run's hosts")]
    NotAHost(String),
    #[error("{path} is {size} bytes, over the {cap}-byte limit")]
    TooLarge { path: String, size: u64, cap: usize },
    /// `cat` did not give it: how it ended, and the first line of its stderr.
    #[error("{}: {stderr}", outcome.describe())]
    Failed { outcome: Outcome, stderr: String },
    /// The host was not worked on (unreachable, refused, cancelled...).
    #[error("{}", .0.describe())]
    NotRun(Outcome),
    #[error("not fetched (dry run)")]
    DryRun,
    #[error("{0}: no such file (no canned content)")]
    NoCannedContent(String),
}

/// How one command on one host ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The command ran and exited with this code.
    Exited(i32),
    /// The command was killed by this signal (`KILL`, `TERM`, ...).
    Signal(String),
    /// The command ran past the command timeout; it was stopped on the host.
    Timeout(Duration),
    /// The connection failed while the command ran (its output until then is kept).
    Lost(String),
    /// The target is outside the allowed networks: never contacted.
    Refused(String),
    /// No TCP connection (refused, no route, timed out, name not resolved).
    Unreachable(String),
    /// TCP connected but the SSH handshake did not finish in time.
    HandshakeTimeout(Duration),
    AuthFailed(String),
    /// `sudo` did not run the command (needs a password, not in sudoers, not installed...).
    BecomeFailed(String),
    /// The host's key is not in known_hosts (strict policy).
    HostKeyUnknown(String),
    /// The host's key differs from the one known_hosts records.
    HostKeyChanged(String),
    /// The run was cancelled (deadline) before this command ran.
    Cancelled,
    /// `--dry-run`: nothing was sent.
    DryRun,
    /// The run was interrupted (Ctrl-C, SIGTERM): the command was stopped on the host, or
    /// never sent.
    Interrupted,
    /// The host was reached but this command was not run there (its batch shell died before
    /// it); the host is not "unreached" for it.
    NotRun(String),
    /// Anything else (protocol error, connection lost mid-command).
    Error(String),
}

impl Outcome {
    /// The outcome's name in rolecall's own output: `ok` (exit 0), `failed` (another exit
    /// code), `killed` (a signal), `timeout`, `connection-lost`, or why it did not run.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Exited(0) => "ok",
            Outcome::Exited(_) => "failed",
            Outcome::Signal(_) => "killed",
            Outcome::Interrupted => "interrupted",
            other => other.abi_name(),
        }
    }

    /// The outcome's name for plugins (`CommandResult::outcome`, plugin ABI v1): `ok` for any
    /// exit code, `signal` for a signal.
    pub fn abi_name(&self) -> &'static str {
        match self {
            Outcome::Exited(_) => "ok",
            Outcome::Signal(_) => "signal",
            Outcome::Timeout(_) => "timeout",
            Outcome::Lost(_) => "connection-lost",
            Outcome::Refused(_) => "refused",
            Outcome::Unreachable(_) => "unreachable",
            Outcome::HandshakeTimeout(_) => "handshake-timeout",
            Outcome::AuthFailed(_) => "auth-failed",
            Outcome::BecomeFailed(_) => "become-failed",
            Outcome::HostKeyUnknown(_) => "host-key-unknown",
            Outcome::HostKeyChanged(_) => "host-key-changed",
            Outcome::Cancelled => "cancelled",
            Outcome::DryRun => "dry-run",
            // Plugin ABI v1 knows no `interrupted`: to a plugin it is a cancelled command.
            Outcome::Interrupted => "cancelled",
            Outcome::NotRun(_) => "not-run",
            Outcome::Error(_) => "error",
        }
    }

    /// An outcome back from its JSON form (`run --format json`): its name (rolecall's, see
    /// [`Outcome::name`]) and fields. `None` for an unknown name.
    pub fn from_parts(
        name: &str,
        exit_code: Option<i32>,
        signal: Option<String>,
        error: Option<String>,
        duration: Duration,
    ) -> Option<Self> {
        let why = || error.clone().unwrap_or_default();
        Some(match name {
            "ok" | "failed" => Outcome::Exited(exit_code?),
            "killed" | "signal" => Outcome::Signal(signal.unwrap_or_default()),
            "timeout" => Outcome::Timeout(duration),
            "connection-lost" => Outcome::Lost(why()),
            "refused" => Outcome::Refused(why()),
            "unreachable" => Outcome::Unreachable(why()),
            "handshake-timeout" => Outcome::HandshakeTimeout(duration),
            "auth-failed" => Outcome::AuthFailed(why()),
            "become-failed" => Outcome::BecomeFailed(why()),
            "host-key-unknown" => Outcome::HostKeyUnknown(why()),
            "host-key-changed" => Outcome::HostKeyChanged(why()),
            "cancelled" => Outcome::Cancelled,
            "interrupted" => Outcome::Interrupted,
            "dry-run" => Outcome::DryRun,
            "not-run" => Outcome::NotRun(why()),
            "error" => Outcome::Error(why()),
            _ => return None,
        })
    }

    /// The command ran to an exit code or a signal.
    pub fn finished(&self) -> bool {
        matches!(self, Outcome::Exited(_) | Outcome::Signal(_))
    }

    /// The host was not worked on as asked: the results are incomplete (exit code 3).
    pub fn incomplete(&self) -> bool {
        !self.finished() && !matches!(self, Outcome::DryRun)
    }

    /// The host itself could not be worked on (not reached, refused, lost...): a reason for
    /// the run's list of hosts not reached. A command not run on a host that was reached is
    /// incomplete, but says nothing against the host.
    pub fn unreached(&self) -> bool {
        self.incomplete() && !matches!(self, Outcome::NotRun(_) | Outcome::Interrupted)
    }

    /// A session to the host was opened for this command (whatever became of the command):
    /// what the connection column's "ok" means.
    pub fn reached(&self) -> bool {
        self.started() || matches!(self, Outcome::BecomeFailed(_) | Outcome::NotRun(_))
    }

    /// The command started on the host (whether or not it finished).
    pub fn started(&self) -> bool {
        self.finished() || matches!(self, Outcome::Timeout(_) | Outcome::Lost(_))
    }

    /// Why, without the outcome's name (empty for a finished command).
    pub fn detail(&self) -> String {
        match self {
            Outcome::Refused(why)
            | Outcome::Unreachable(why)
            | Outcome::AuthFailed(why)
            | Outcome::BecomeFailed(why)
            | Outcome::HostKeyUnknown(why)
            | Outcome::HostKeyChanged(why)
            | Outcome::Lost(why)
            | Outcome::NotRun(why)
            | Outcome::Error(why) => why.clone(),
            other => other.describe(),
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Exited(c) => format!("exit {c}"),
            Outcome::Signal(s) => format!("killed by signal {s}"),
            Outcome::Timeout(d) => format!("timed out after {}", secs(*d)),
            Outcome::HandshakeTimeout(d) => format!("SSH handshake timed out after {}", secs(*d)),
            Outcome::Lost(why) => format!("connection lost: {why}"),
            Outcome::Refused(why)
            | Outcome::Unreachable(why)
            | Outcome::AuthFailed(why)
            | Outcome::BecomeFailed(why)
            | Outcome::HostKeyUnknown(why)
            | Outcome::HostKeyChanged(why)
            | Outcome::Error(why) => format!("{}: {why}", self.name()),
            Outcome::Cancelled => "cancelled before it ran".into(),
            Outcome::Interrupted => "interrupted: stopped on the host, or never sent".into(),
            Outcome::DryRun => "not run (dry run)".into(),
            Outcome::NotRun(why) => format!("not run: {why}"),
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// One command's result on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostResult {
    pub host: String,
    pub outcome: Outcome,
    /// Captured output, lossily UTF-8, with a truncation mark when capped.
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
    /// When the command went out and when its first output came back, where known.
    pub round_trip: Option<RoundTrip>,
    /// The exact bytes, where the output was not valid UTF-8 (the text then has U+FFFD).
    pub raw: RawOutput,
}

/// A command's output bytes, kept beside its text only when they are not valid UTF-8.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawOutput {
    pub stdout: Option<Vec<u8>>,
    pub stderr: Option<Vec<u8>>,
}

/// One command's own round trip on the wall clock: sent, first output back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundTrip {
    pub sent: SystemTime,
    pub answered: SystemTime,
}

fn unix_us(t: SystemTime) -> Option<u64> {
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(d.as_micros()).ok()
}

impl HostResult {
    /// A result without output (the command did not run).
    pub fn failed(host: &str, outcome: Outcome) -> Self {
        Self {
            host: host.to_string(),
            outcome,
            stdout: String::new(),
            stderr: String::new(),
            duration: Duration::ZERO,
            round_trip: None,
            raw: RawOutput::default(),
        }
    }

    /// Ran and exited 0.
    pub fn success(&self) -> bool {
        self.outcome == Outcome::Exited(0)
    }

    /// The result as plugins receive it.
    pub fn to_command_result(&self) -> CommandResult {
        let (exit_code, signal, error) = match &self.outcome {
            Outcome::Exited(c) => (Some(*c), None, None),
            Outcome::Signal(s) => (None, Some(s.clone()), None),
            other => (None, None, Some(other.detail())),
        };
        CommandResult {
            host: self.host.clone(),
            outcome: self.outcome.abi_name().to_string(),
            exit_code,
            signal,
            stdout: self.stdout.clone(),
            stderr: self.stderr.clone(),
            duration_ms: u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            error,
            sent_us: self.round_trip.and_then(|r| unix_us(r.sent)),
            answered_us: self.round_trip.and_then(|r| unix_us(r.answered)),
        }
    }
}

/// One command for many hosts: the one way work is given to an [`Executor`].
#[derive(Clone, Copy)]
pub struct Job<'a> {
    pub command: &'a str,
    pub hosts: &'a [String],
    /// Through `sudo` as this user on every host (a plugin asked for it); `None`: each host's
    /// own setting.
    pub sudo: Option<&'a str>,
    /// Called once the command is queued for every host, before any result is awaited (a
    /// plan's party has then sent what it planned: [`Executor::plan`]).
    pub queued: Option<&'a (dyn Fn() + Sync)>,
}

impl std::fmt::Debug for Job<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("command", &self.command)
            .field("hosts", &self.hosts.len())
            .field("sudo", &self.sudo)
            .finish_non_exhaustive()
    }
}

impl<'a> Job<'a> {
    pub fn new(command: &'a str, hosts: &'a [String]) -> Self {
        Job {
            command,
            hosts,
            sudo: None,
            queued: None,
        }
    }

    pub fn sudo(self, user: Option<&'a str>) -> Self {
        Job { sudo: user, ..self }
    }
}

/// Runs commands on hosts. Implementations are shared by every plugin of a run, from many
/// threads at once.
pub trait Executor: Send + Sync {
    /// Run `job`: one result per host, in the order of `job.hosts`, `each` called as each
    /// host's result arrives. Blocks until every host has a result. Executors without hosts of
    /// their own (canned answers) ignore `job.sudo`.
    fn submit(&self, job: Job<'_>, each: &mut dyn FnMut(&HostResult)) -> Vec<HostResult>;
    /// [`Executor::submit`] of `command` on `hosts`, as the hosts' settings say.
    fn run(&self, command: &str, hosts: &[String]) -> Vec<HostResult> {
        self.submit(Job::new(command, hosts), &mut |_| {})
    }
    /// Batching by plan: `parties` submitters (the plugins of a debug phase) are about to send
    /// their first commands. No host starts its first commands until each party has sent
    /// them or said it sends none ([`Executor::arrive`]), or a short wait has passed; so what
    /// the phase sends to a host goes out together, however the threads are timed.
    fn plan(&self, parties: usize) {
        let _ = parties;
    }
    /// One party of the plan has sent its first commands (or will send none).
    fn arrive(&self) {}
    /// The bytes of `path` on `host`; `Err` says why not.
    fn fetch(&self, host: &str, path: &str) -> Result<Vec<u8>, FetchError>;
    /// Stop the run: nothing more is sent, what runs is stopped, and every command still
    /// without a result answers `interrupted`. Executors that send nothing ignore it.
    fn interrupt(&self) {}
}

/// Collects a stream's bytes up to a cap, counting the rest, so a chatty command neither fills
/// memory nor blocks on a full window.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    data: Vec<u8>,
    total: u64,
    cap: usize,
}

impl Capture {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            data: Vec::new(),
            total: 0,
            cap,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = self.cap.saturating_sub(self.data.len());
        self.data.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Bytes seen so far, kept or not.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    /// [`Self::into_text`], and the kept bytes themselves when they are not valid UTF-8.
    pub(crate) fn into_parts(self) -> (String, Option<Vec<u8>>) {
        let raw = std::str::from_utf8(&self.data)
            .is_err()
            .then(|| self.data.clone());
        (self.into_text(), raw)
    }

    /// Lossy UTF-8, with a visible mark when bytes were dropped.
    pub(crate) fn into_text(self) -> String {
        let truncated = self.total > self.data.len() as u64;
        let (kept, total) = (self.data.len(), self.total);
        let mut text = String::from_utf8_lossy(&self.data).into_owned();
        if truncated {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!(
                "[rolecall: output truncated: kept {kept} of {total} bytes; raise --max-output to see more]\n"
            ));
        }
        text
    }
}

/// Glob match for host names: `*` any run, `?` one character, `[abc]`, `[a-z]` and `[!abc]`
/// one character of (or not of) a set. Case-sensitive.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob(pattern, text, true)
}

/// OpenSSH's patterns (known_hosts): only `*` and `?` are special; `[host]:port` is literal.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    glob(pattern, text, false)
}

fn glob(pattern: &str, text: &str, classes: bool) -> bool {
    enum Tok {
        Star,
        One,
        Class(Vec<(char, char)>, bool),
        Lit(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            '[' if classes => {
                let rest: String = chars.clone().collect();
                match rest.find(']').filter(|&i| i > 0 || rest.starts_with("!]")) {
                    Some(end) => {
                        let body: Vec<char> = rest[..end].chars().collect();
                        for _ in 0..body.len() + 1 {
                            chars.next();
                        }
                        let (neg, body) = match body.first() {
                            Some('!') => (true, &body[1..]),
                            _ => (false, &body[..]),
                        };
                        let mut set = Vec::new();
                        let mut i = 0;
                        while i < body.len() {
                            if i + 2 < body.len() && body[i + 1] == '-' {
                                set.push((body[i], body[i + 2]));
                                i += 3;
                            } else {
                                set.push((body[i], body[i]));
                                i += 1;
                            }
                        }
                        Tok::Class(set, neg)
                    }
                    None => Tok::Lit('['),
                }
            }
            c => Tok::Lit(c),
        });
    }
    let one = |t: &Tok, c: char| match t {
        Tok::Star => false,
        Tok::One => true,
        Tok::Class(set, neg) => set.iter().any(|&(a, b)| a <= c && c <= b) != *neg,
        Tok::Lit(l) => *l == c,
    };
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < toks.len() && !matches!(toks[pi], Tok::Star) && one(&toks[pi], t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < toks.len() && matches!(toks[pi], Tok::Star) {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    toks[pi..].iter().all(|t| matches!(t, Tok::Star))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_parses_and_refuses() {
        let a = AllowList::parse(&["127.0.0.0/8", " ::1/128", ""]).unwrap();
        assert!(a.permits("127.0.0.9".parse().unwrap()));
        assert!(a.permits("::1".parse().unwrap()));
        assert!(!a.permits("10.1.2.3".parse().unwrap()));
        assert!(AllowList::parse(&[] as &[&str])
            .unwrap()
            .permits("10.1.2.3".parse().unwrap()));
        let e = AllowList::parse(&["127.0.0.0/33"]).unwrap_err();
        assert_eq!(
            e,
            AllowListError::Prefix {
                item: "127.0.0.0/33".into(),
                max: 32
            }
        );
        assert!(e.to_string().contains("0 to 32"), "{e}");
        let e = AllowList::parse(&["localhost"]).unwrap_err();
        assert!(e.to_string().contains("not a network"), "{e}");
    }

    #[test]
    fn capture_marks_truncation() {
        let mut c = Capture::new(4);
        c.push(b"abcdef");
        c.push(b"gh");
        let t = c.into_text();
        assert!(
            t.starts_with("abcd\n[rolecall: output truncated: kept 4 of 8 bytes"),
            "{t}"
        );
        let mut c = Capture::new(10);
        c.push(b"ok\n");
        assert_eq!(c.into_text(), "ok\n");
    }

    #[test]
    fn globs() {
        assert!(glob_match("nc*", "nc01"));
        assert!(glob_match("nc0?", "nc01"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(!glob_match("nc0?", "nc010"));
        assert!(glob_match("web01", "web01"));
        assert!(glob_match("nc0[124]", "nc04"));
        assert!(!glob_match("nc0[124]", "nc03"));
        assert!(glob_match("nc0[1-3]", "nc02"));
        assert!(glob_match("nc0[!1-3]", "nc04"));
        assert!(!glob_match("nc0[!1-3]", "nc01"));
        assert!(glob_match("a[b", "a[b"));
    }
}
