//! The SSH executor (ssh2/libssh2).
//!
//! - One session per host, opened by the first command for that host and reused by every
//!   later command of every plugin in the run. A host whose connection failed answers every
//!   later command at once with the same outcome (no second wait for a dead host).
//! - An event-driven [`engine`]: a few driver threads each drive the non-blocking sessions of
//!   their share of the hosts from one `poll(2)` loop, so a host that waits (connect, handshake,
//!   a silent server, a hung command) costs a socket and a deadline, not a thread. `--forks`
//!   bounds the hosts with work in flight.
//! - Work is queued per host; what is queued together (by different plugins) shares one
//!   channel and one remote shell ([`batch`]), the rest get a channel each ([`exec`]). Each
//!   command's result goes back as soon as it has one.
//! - Timeouts: TCP connect per resolved address; handshake + authentication; each command
//!   (stopped on the host, result `timeout`: [`stop`]); an optional deadline for the whole run.
//!   Connection-level failures that may be transient (refused, reset, closed during key
//!   exchange) are retried with backoff; nothing else is ([`connect`]).
//! - [`SshExecutor::interrupt`] stops a run: nothing more is sent, what runs is stopped as on
//!   its timeout.
//!
//! Layers, one way: `engine` drives `connect` (which uses `auth`, `jump`, `proxy`) and `exec`
//! (which uses `batch` and `running`, both of which use `stop`); `session` and `recv` are shared.

mod auth;
mod batch;
mod connect;
mod engine;
mod exec;
mod jump;
mod proxy;
mod recv;
mod running;
mod session;
mod stop;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use ssh2::ErrorCode;

use self::running::{Ran, Spec};
use self::stop::Via;
use super::known_hosts::KnownHosts;
use super::settings::HostSettings;
use super::{shell_quote, AllowList, Executor, HostResult, Outcome, RawOutput};
use crate::deployment::HostKeyChecking;

/// libssh2 error codes we branch on.
const LIBSSH2_ERROR_SOCKET_SEND: i32 = -7;
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_SOCKET_DISCONNECT: i32 = -13;
const LIBSSH2_ERROR_EAGAIN: i32 = -37;
const LIBSSH2_ERROR_SOCKET_RECV: i32 = -43;

/// Commands run at once on one host, each on its own channel of the host's session (OpenSSH's
/// `MaxSessions` defaults to 10; a server that refuses more gets the rest one batch later).
const CHANNELS_PER_HOST: usize = 8;

/// Largest file `fetch` returns.
const FETCH_CAP: usize = 256 << 20;

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
            command_timeout: super::DEFAULT_COMMAND_TIMEOUT,
            deadline: None,
            retries: super::DEFAULT_RETRIES,
            forks: super::DEFAULT_FORKS,
            max_output: super::DEFAULT_OUTPUT_CAP,
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

#[derive(Clone)]
enum Work {
    /// A command, through sudo as this user if given (else as the host's settings say).
    Run(Arc<str>, Option<Arc<str>>),
    Fetch(String),
}

enum Reply {
    Run(HostResult),
    Fetch(Result<Vec<u8>, String>),
}

impl Reply {
    /// `work` did not run on `host`: `o` says why.
    fn failed(work: &Work, host: &str, o: Outcome) -> Reply {
        match work {
            Work::Run(..) => Reply::Run(HostResult::failed(host, o)),
            Work::Fetch(_) => Reply::Fetch(Err(o.describe())),
        }
    }

    /// The run was interrupted: what it stopped (or never sent) says so.
    fn interrupted(&mut self) {
        if let Reply::Run(r) = self {
            if matches!(
                r.outcome,
                Outcome::Timeout(_) | Outcome::NotRun(_) | Outcome::Cancelled
            ) {
                r.outcome = Outcome::Interrupted;
            }
        }
    }
}

/// One piece of work for one host, and where its answer goes.
struct Job {
    work: Work,
    index: usize,
    reply: mpsc::Sender<(usize, Reply)>,
}

impl Job {
    fn answer(self, reply: Reply) {
        let _ = self.reply.send((self.index, reply));
    }

    /// The job did not run on `host`: `o` says why.
    fn fail(self, host: &str, o: Outcome) {
        let reply = Reply::failed(&self.work, host, o);
        self.answer(reply);
    }
}

struct Shared {
    config: SshConfig,
    /// Every host of the run, by name.
    targets: HashMap<String, Arc<HostSettings>>,
    /// Set once by [`SshExecutor::interrupt`].
    interrupted: AtomicBool,
    /// The plan's parties still to send their first commands, and until when they are waited
    /// for ([`Executor::plan`]).
    plan: Mutex<(usize, Option<Instant>)>,
    /// known_hosts, read once per distinct list of files.
    known: HashMap<Vec<PathBuf>, Mutex<KnownHosts>>,
    password: OnceLock<Option<String>>,
    hubs: Mutex<Hubs>,
}

/// One jump host session, made once by the first target that needs it (or why it failed).
type HubCell = OnceLock<Result<Arc<jump::Hub>, Outcome>>;

/// Jump host sessions, by chain (`user@host:port,...`) and session number.
#[derive(Default)]
struct Hubs {
    cells: HashMap<(String, usize), Arc<HubCell>>,
    /// Tunnels handed out per chain so far.
    tickets: HashMap<String, usize>,
}

impl Shared {
    /// The known_hosts of `target` (read when the executor was made).
    fn known_hosts(&self, target: &HostSettings) -> &Mutex<KnownHosts> {
        static EMPTY: OnceLock<Mutex<KnownHosts>> = OnceLock::new();
        self.known
            .get(&target.known_hosts_files())
            .unwrap_or_else(|| EMPTY.get_or_init(|| Mutex::new(KnownHosts::default())))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs commands over SSH; see the module docs.
pub struct SshExecutor {
    shared: Arc<Shared>,
    drivers: Vec<engine::DriverHandle>,
    /// Which driver owns each host.
    owner: HashMap<String, usize>,
}

impl std::fmt::Debug for SshExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshExecutor")
            .field("hosts", &self.shared.targets.len())
            .field("drivers", &self.drivers.len())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl SshExecutor {
    /// An executor for `hosts` (each host's settings, jump hosts included). Reads the
    /// known_hosts files now, so a bad file is an error before anything connects.
    pub fn new(hosts: Vec<HostSettings>, config: SshConfig) -> anyhow::Result<Self> {
        let mut known = HashMap::new();
        for h in hosts.iter().flat_map(|h| std::iter::once(h).chain(&h.jump.value)) {
            if h.host_key_checking.value == HostKeyChecking::Off {
                continue;
            }
            let files = h.known_hosts_files();
            if let std::collections::hash_map::Entry::Vacant(e) = known.entry(files) {
                let k = KnownHosts::load(e.key())?;
                e.insert(Mutex::new(k));
            }
        }
        engine::raise_open_files_limit();
        let count = engine::drivers_for(hosts.len(), config.forks);
        let owner = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.clone(), i % count))
            .collect();
        let targets = hosts
            .into_iter()
            .map(|target| (target.name.clone(), Arc::new(target)))
            .collect();
        let shared = Arc::new(Shared {
            config,
            targets,
            interrupted: AtomicBool::new(false),
            plan: Mutex::new((0, None)),
            known,
            password: OnceLock::new(),
            hubs: Mutex::new(Hubs::default()),
        });
        let drivers = (0..count)
            .map(|i| engine::start(Arc::clone(&shared), i, count))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self {
            shared,
            drivers,
            owner,
        })
    }

    /// Stop the run: nothing more is sent; what runs is stopped on its host as a timeout
    /// stops it (through sudo where it runs through sudo), and answers `interrupted`.
    pub fn interrupt(&self) {
        self.shared.interrupted.store(true, Ordering::SeqCst);
        for d in &self.drivers {
            d.send(engine::Event::Interrupt);
        }
    }

    /// Queue `job` for `host`; false when the host is not part of this run.
    fn submit(&self, host: &str, job: Job) -> Result<(), Job> {
        let Some(&i) = self.owner.get(host) else {
            return Err(job);
        };
        if self.drivers[i]
            .tx
            .send(engine::Event::Job(host.to_string(), job))
            .is_err()
        {
            // The driver is gone (it cannot be, while this executor lives).
            return Ok(());
        }
        self.drivers[i].waker.wake();
        Ok(())
    }

    fn dispatch(
        &self,
        work: impl Fn() -> Work,
        hosts: &[String],
        queued: Option<&(dyn Fn() + Sync)>,
        each: &mut dyn FnMut(usize, Reply),
    ) {
        let (tx, rx) = mpsc::channel();
        let mut pending = 0usize;
        for (index, host) in hosts.iter().enumerate() {
            let job = Job {
                work: work(),
                index,
                reply: tx.clone(),
            };
            match self.submit(host, job) {
                Ok(()) => pending += 1,
                Err(_) => {
                    let why = Outcome::Error(format!("`{host}` is not one of this run's hosts"));
                    each(index, Reply::Run(HostResult::failed(host, why)));
                }
            }
        }
        drop(tx);
        if let Some(queued) = queued {
            queued();
        }
        while pending > 0 {
            // Every job is answered exactly once (a panic while working on a host answers the
            // jobs in hand), so this ends; a dropped job ends it too.
            let Ok((index, reply)) = rx.recv() else {
                break;
            };
            pending -= 1;
            each(index, reply);
        }
    }
}

impl Executor for SshExecutor {
    fn submit(&self, job: super::Job<'_>, each: &mut dyn FnMut(&HostResult)) -> Vec<HostResult> {
        let hosts = job.hosts;
        let command: Arc<str> = job.command.into();
        let sudo_user: Option<Arc<str>> = job.sudo.map(Into::into);
        let mut out: Vec<Option<HostResult>> = vec![None; hosts.len()];
        let work = || Work::Run(Arc::clone(&command), sudo_user.clone());
        self.dispatch(work, hosts, job.queued, &mut |index, reply| {
            if let Reply::Run(r) = reply {
                each(&r);
                out[index] = Some(r);
            }
        });
        out.into_iter()
            .zip(hosts)
            .map(|(r, h)| {
                r.unwrap_or_else(|| HostResult::failed(h, Outcome::Error("internal error: no result".into())))
            })
            .collect()
    }

    fn fetch(&self, host: &str, path: &str) -> Result<Vec<u8>, String> {
        let mut out = Err(format!("`{host}` is not one of this run's hosts"));
        self.dispatch(
            || Work::Fetch(path.to_string()),
            &[host.to_string()],
            None,
            &mut |_, reply| {
                if let Reply::Fetch(r) = reply {
                    out = r;
                }
            },
        );
        out
    }

    fn interrupt(&self) {
        SshExecutor::interrupt(self);
    }

    fn plan(&self, parties: usize) {
        *lock(&self.shared.plan) = (parties, (parties > 0).then(|| Instant::now() + PLAN_WAIT));
    }

    fn arrive(&self) {
        let open = {
            let mut plan = lock(&self.shared.plan);
            plan.0 = plan.0.saturating_sub(1);
            plan.0 == 0 && plan.1.take().is_some()
        };
        if open {
            for d in &self.drivers {
                d.send(engine::Event::Poke);
            }
        }
    }
}

/// How long a plan waits for a party that has not sent its first commands (a plugin that
/// computes first): then hosts go on without it.
const PLAN_WAIT: Duration = Duration::from_secs(1);

impl Shared {
    /// `None` when hosts may start their first commands; else until when they wait.
    fn plan_wait(&self, now: Instant) -> Option<Instant> {
        lock(&self.plan).1.filter(|&until| now < until)
    }
}

fn cancelled(config: &SshConfig) -> bool {
    config.deadline.is_some_and(|d| Instant::now() >= d)
}

/// A command's timeout: `--command-timeout`, or what is left of the run's deadline.
fn command_timeout(config: &SshConfig) -> Duration {
    let mut timeout = config.command_timeout;
    if let Some(d) = config.deadline {
        timeout = timeout.min(d.saturating_duration_since(Instant::now()));
    }
    timeout
}

/// Through sudo as this user, for `work` on `target`: the plugin's ask, else the host's setting.
fn sudo_of(target: &HostSettings, work: &Work) -> Option<Arc<str>> {
    match work {
        Work::Run(_, Some(user)) => Some(Arc::clone(user)),
        Work::Run(_, None) => target.sudo.value.as_ref().map(|b| b.user.as_str().into()),
        Work::Fetch(_) => None,
    }
}

/// What became of `work` on `host`, from how it ran.
fn reply(shared: &Shared, host: &str, target: &HostSettings, w: &Work, ran: Ran, start: Instant) -> Reply {
    let sudo = sudo_of(target, w);
    match ran {
        Ran::Later => Reply::failed(w, host, Outcome::Error("internal error: not run".into())),
        Ran::Lost(why, out, err) => match w {
            Work::Run(..) => {
                let ((stdout, raw_out), (stderr, raw_err)) = (out.into_parts(), err.into_parts());
                Reply::Run(HostResult {
                    host: host.to_string(),
                    outcome: Outcome::Lost(why),
                    stdout,
                    stderr,
                    duration: start.elapsed(),
                    round_trip: None,
                    raw: RawOutput {
                        stdout: raw_out,
                        stderr: raw_err,
                    },
                })
            }
            Work::Fetch(_) => Reply::failed(w, host, Outcome::Lost(why)),
        },
        Ran::Failed(why) => Reply::failed(w, host, Outcome::Error(why)),
        Ran::NotRun(why) => Reply::failed(w, host, Outcome::NotRun(why)),
        Ran::Finished(outcome, out, err, round_trip) => match w {
            Work::Run(..) => {
                let ((stdout, raw_out), (stderr, raw_err)) = (out.into_parts(), err.into_parts());
                let mut result = HostResult {
                    host: host.to_string(),
                    outcome,
                    stdout,
                    stderr,
                    duration: start.elapsed(),
                    round_trip,
                    raw: RawOutput {
                        stdout: raw_out,
                        stderr: raw_err,
                    },
                };
                if let Some(user) = sudo.as_deref() {
                    let login = &target.user.value;
                    match super::sudo::settle(&result.outcome, &result.stderr, login, user) {
                        Ok(stderr) => {
                            if stderr != result.stderr {
                                // sudo's own lines were taken out of the text: the bytes no
                                // longer match it.
                                result.raw.stderr = None;
                            }
                            result.stderr = stderr;
                        }
                        Err(o) => result.outcome = o,
                    }
                }
                let _ = shared;
                Reply::Run(result)
            }
            Work::Fetch(path) => Reply::Fetch(match outcome {
                Outcome::Exited(0) if out.total() <= FETCH_CAP as u64 => Ok(out.into_bytes()),
                Outcome::Exited(0) => Err(format!(
                    "{path} is {} bytes, over the {FETCH_CAP}-byte limit",
                    out.total()
                )),
                o => {
                    let text = err.into_text();
                    Err(format!(
                        "{}: {}",
                        o.describe(),
                        text.lines().next().unwrap_or_default()
                    ))
                }
            }),
        },
    }
}

/// How `w` is sent to `target`: its text (through sudo as the plugin or the host says),
/// timeout, caps and stdin. A command may share a channel with others when it reads nothing
/// from stdin (`run --stdin`, a sudo password) and `batching` allows.
fn spec(config: &SshConfig, target: &HostSettings, w: &Work, timeout: Duration, batching: bool) -> Spec {
    match w {
        Work::Run(command, _) => {
            let sudo = sudo_of(target, w);
            let via = sudo.as_ref().map(|user| Via {
                user: Arc::clone(user),
                password: config.become_password.as_deref().map(Into::into),
            });
            let (command, stdin) = match (sudo.as_deref(), &config.become_password) {
                (None, _) => (command.to_string(), config.stdin.clone()),
                (Some(user), None) => (super::sudo::wrap(command, user, false), config.stdin.clone()),
                (Some(user), Some(pw)) => {
                    let mut bytes = Vec::with_capacity(pw.len() + 1);
                    bytes.extend_from_slice(pw.as_bytes());
                    bytes.push(b'\n');
                    bytes.extend_from_slice(config.stdin.as_deref().unwrap_or_default());
                    (super::sudo::wrap(command, user, true), Some(bytes.into()))
                }
            };
            Spec {
                command,
                timeout,
                out_cap: config.max_output,
                err_cap: config.max_output,
                batch: batching && stdin.is_none(),
                stdin,
                via,
            }
        }
        Work::Fetch(path) => Spec {
            command: format!("cat -- {}", shell_quote(path)),
            timeout,
            out_cap: FETCH_CAP,
            err_cap: 64 << 10,
            stdin: None,
            batch: false,
            via: None,
        },
    }
}

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

fn code(e: &ssh2::Error) -> i32 {
    match e.code() {
        ErrorCode::Session(c) => c,
        ErrorCode::SFTP(c) => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/var/log/a b"), "'/var/log/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn refused_targets_are_never_contacted() {
        let config = SshConfig {
            allow: AllowList::parse(&["127.0.0.0/8"]).unwrap(),
            ..SshConfig::default()
        };
        let ep = crate::remote::Endpoint {
            address: "10.1.2.3".into(),
            port: 22,
            user: "u".into(),
        };
        let mut target = HostSettings::direct("far", ep);
        target.host_key_checking.value = HostKeyChecking::Off;
        let ex = SshExecutor::new(vec![target], config).unwrap();
        let start = Instant::now();
        let r = ex.run("true", &["far".into(), "nope".into()]);
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(r[0].outcome.name(), "refused", "{r:?}");
        assert!(r[0]
            .outcome
            .describe()
            .contains("10.1.2.3 is outside the allowed networks"));
        assert!(r[1].outcome.describe().contains("not one of this run's hosts"));
    }
}
