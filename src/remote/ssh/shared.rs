//! What the whole run shares: the settings ([`SshConfig`]), the hosts, known_hosts, the jump
//! host sessions, the interrupt flag and the plan ([`Shared`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::codes::lock;
use super::jump;
use crate::remote::known_hosts::KnownHosts;
use crate::remote::settings::HostSettings;
use crate::remote::{AllowList, Outcome};

/// Commands run at once on one host, each on its own channel of the host's session (OpenSSH's
/// `MaxSessions` defaults to 10; a server that refuses more gets the rest one batch later).
pub(super) const CHANNELS_PER_HOST: usize = 8;

/// Largest file `fetch` returns.
pub(super) const FETCH_CAP: usize = 256 << 20;

/// Asks the user for a password; `None` when they cannot be asked.
pub type PasswordPrompt = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Everything the SSH executor needs besides the hosts' own settings
/// ([`HostSettings`]: endpoint, identities, host keys, jump hosts, sudo).
#[derive(Clone)]
pub struct SshConfig {
    pub command_timeout: Duration,
    /// The whole run ends by then: queued commands are cancelled, running ones time out.
    pub deadline: Option<Instant>,
    pub retries: u32,
    pub forks: usize,
    pub max_output: usize,
    /// Commands queued for one host together may share one channel (`--no-batch` is false).
    pub batch: bool,
    pub allow: AllowList,
    /// Password from the environment, tried when the server accepts passwords.
    pub password: Option<String>,
    /// Passphrase for protected identity files (from the environment; else the prompt asks).
    pub passphrase: Option<String>,
    pub prompt: Option<PasswordPrompt>,
    /// Bytes every command gets on its stdin (`run --stdin`); `None` = stdin is empty.
    pub stdin: Option<Arc<[u8]>>,
    /// The sudo password (`ROLECALL_BECOME_PASSWORD`, `--ask-become-pass`), for hosts where
    /// sudo asks for one.
    pub become_password: Option<String>,
}

impl std::fmt::Debug for SshConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshConfig")
            .field("command_timeout", &self.command_timeout)
            .field("deadline", &self.deadline)
            .field("retries", &self.retries)
            .field("forks", &self.forks)
            .field("max_output", &self.max_output)
            .field("batch", &self.batch)
            .field("allow", &self.allow)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("passphrase", &self.passphrase.as_ref().map(|_| "<set>"))
            .field("stdin", &self.stdin.as_ref().map(|s| s.len()))
            .field("become_password", &self.become_password.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl Default for SshConfig {
    fn default() -> Self {
        Self {
            command_timeout: crate::remote::DEFAULT_COMMAND_TIMEOUT,
            deadline: None,
            retries: crate::remote::DEFAULT_RETRIES,
            forks: crate::remote::DEFAULT_FORKS,
            max_output: crate::remote::DEFAULT_OUTPUT_CAP,
            batch: true,
            allow: AllowList::default(),
            password: None,
            passphrase: None,
            prompt: None,
            stdin: None,
            become_password: None,
        }
    }
}

pub(super) struct Shared {
    pub(super) config: SshConfig,
    /// Every host of the run, by name.
    pub(super) targets: HashMap<String, Arc<HostSettings>>,
    /// Set once by [`SshExecutor::interrupt`].
    pub(super) interrupted: AtomicBool,
    /// Handshakes (key exchange and authentication) in progress, and how many may be: they
    /// are CPU work, so a host in a queue of 500 is not timed out by the others' work.
    pub(super) handshakes: Arc<std::sync::atomic::AtomicUsize>,
    pub(super) handshake_places: usize,
    /// The plan's parties still to send their first commands, and until when they are waited
    /// for ([`Executor::plan`]).
    pub(super) plan: Mutex<(usize, Option<Instant>)>,
    /// known_hosts, read once per distinct list of files.
    pub(super) known: HashMap<Vec<PathBuf>, Mutex<KnownHosts>>,
    pub(super) password: OnceLock<Option<String>>,
    pub(super) hubs: Mutex<Hubs>,
}

/// One jump host session, made once by the first target that needs it (or why it failed).
pub(super) type HubCell = OnceLock<Result<Arc<jump::Hub>, Outcome>>;

/// Jump host sessions, by chain (`user@host:port,...`) and session number.
#[derive(Default)]
pub(super) struct Hubs {
    pub(super) cells: HashMap<(String, usize), Arc<HubCell>>,
    /// Tunnels handed out per chain so far.
    pub(super) tickets: HashMap<String, usize>,
}

impl Shared {
    /// The known_hosts of `target` (read when the executor was made).
    pub(super) fn known_hosts(&self, target: &HostSettings) -> &Mutex<KnownHosts> {
        static EMPTY: OnceLock<Mutex<KnownHosts>> = OnceLock::new();
        self.known
            .get(&target.known_hosts_files())
            .unwrap_or_else(|| EMPTY.get_or_init(|| Mutex::new(KnownHosts::default())))
    }
}

/// How long a plan waits for a party that has not sent its first commands (a plugin that
/// computes first): then hosts go on without it.
pub(super) const PLAN_WAIT: Duration = Duration::from_secs(1);

impl Shared {
    /// `None` when hosts may start their first commands; else until when they wait.
    pub(super) fn plan_wait(&self, now: Instant) -> Option<Instant> {
        lock(&self.plan).1.filter(|&until| now < until)
    }
}

pub(super) fn cancelled(config: &SshConfig) -> bool {
    config.deadline.is_some_and(|d| Instant::now() >= d)
}

/// A command's timeout: `--command-timeout`, or what is left of the run's deadline.
pub(super) fn command_timeout(config: &SshConfig) -> Duration {
    let mut timeout = config.command_timeout;
    if let Some(d) = config.deadline {
        timeout = timeout.min(d.saturating_duration_since(Instant::now()));
    }
    timeout
}
