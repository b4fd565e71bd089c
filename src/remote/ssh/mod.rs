//! The SSH executor (ssh2/libssh2).
//!
//! - One session per host, opened lazily by the first command for that host and reused by
//!   every later command of every plugin in the run. A host whose connection failed answers
//!   every later command at once with the same outcome (no second wait for a dead host).
//! - Work is queued per host and a host's queue is driven by one job at a time on a rayon pool
//!   of `forks` threads that belongs to this executor. A job runs one command and re-queues the
//!   host at the back, so a slow host never holds a thread while fast hosts wait.
//! - Timeouts: TCP connect per resolved address; handshake + authentication; each command
//!   (channel closed, result `timeout`); an optional deadline for the whole run. Connection-level
//!   failures that may be transient (refused, reset, closed during key exchange) are retried
//!   with backoff; nothing else is.
//! - stdout and stderr are read together on a non-blocking session, each capped.
//!
//! `connect` opens and authenticates a session; `channel` runs a batch of commands on one.

mod channel;
mod connect;
mod recv;

use std::collections::{HashMap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use ssh2::ErrorCode;

use self::channel::{exec_batch, Ran, Spec};
use self::connect::{connect, Connection};
use super::known_hosts::KnownHosts;
use super::{AllowList, Endpoint, Executor, HostResult, Outcome};
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

/// Everything the SSH executor needs besides the hosts.
#[derive(Clone)]
pub struct SshConfig {
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// The whole run ends by then: queued commands are cancelled, running ones time out.
    pub deadline: Option<Instant>,
    pub retries: u32,
    pub forks: usize,
    pub max_output: usize,
    pub host_key_checking: HostKeyChecking,
    /// known_hosts file; `None` = `~/.ssh/known_hosts`, also reading `/etc/ssh/ssh_known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Identity files tried after the agent; empty = `~/.ssh/id_{ed25519,ecdsa,rsa}` that exist.
    pub identities: Vec<PathBuf>,
    pub allow: AllowList,
    /// Password from the environment, tried when the server accepts passwords.
    pub password: Option<String>,
    /// Passphrase for protected identity files (from the environment; else the prompt asks).
    pub passphrase: Option<String>,
    pub prompt: Option<PasswordPrompt>,
    /// Bytes every command gets on its stdin (`run --stdin`); `None` = stdin is empty.
    pub stdin: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for SshConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("deadline", &self.deadline)
            .field("retries", &self.retries)
            .field("forks", &self.forks)
            .field("max_output", &self.max_output)
            .field("host_key_checking", &self.host_key_checking)
            .field("known_hosts", &self.known_hosts)
            .field("identities", &self.identities)
            .field("allow", &self.allow)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("passphrase", &self.passphrase.as_ref().map(|_| "<set>"))
            .field("stdin", &self.stdin.as_ref().map(|s| s.len()))
            .finish_non_exhaustive()
    }
}

impl Default for SshConfig {
    fn default() -> Self {
        Self {
            connect_timeout: super::DEFAULT_CONNECT_TIMEOUT,
            command_timeout: super::DEFAULT_COMMAND_TIMEOUT,
            deadline: None,
            retries: super::DEFAULT_RETRIES,
            forks: super::DEFAULT_FORKS,
            max_output: super::DEFAULT_OUTPUT_CAP,
            host_key_checking: HostKeyChecking::Strict,
            known_hosts: None,
            identities: Vec::new(),
            allow: AllowList::default(),
            password: None,
            passphrase: None,
            prompt: None,
            stdin: None,
        }
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

impl SshConfig {
    /// The known_hosts file keys are checked against and recorded in.
    pub fn known_hosts_file(&self) -> PathBuf {
        self.known_hosts
            .clone()
            .or_else(|| home().map(|h| h.join(".ssh/known_hosts")))
            .unwrap_or_else(|| PathBuf::from(".ssh/known_hosts"))
    }

    fn identity_files(&self) -> Vec<PathBuf> {
        if !self.identities.is_empty() {
            return self.identities.clone();
        }
        let Some(home) = home() else {
            return Vec::new();
        };
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|f| home.join(".ssh").join(f))
            .filter(|p| p.is_file())
            .collect()
    }
}

enum Conn {
    New,
    Open(Connection),
    Failed(Outcome),
}

enum Work {
    Run(Arc<str>),
    Fetch(String),
}

enum Reply {
    Run(HostResult),
    Fetch(Result<Vec<u8>, String>),
}

struct Job {
    work: Work,
    index: usize,
    reply: mpsc::Sender<(usize, Reply)>,
}

struct Slot {
    endpoint: Endpoint,
    conn: Conn,
    queue: VecDeque<Job>,
    busy: bool,
}

struct Shared {
    config: SshConfig,
    slots: HashMap<String, Mutex<Slot>>,
    known: Mutex<KnownHosts>,
    password: OnceLock<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs commands over SSH; see the module docs.
pub struct SshExecutor {
    shared: Arc<Shared>,
    pool: rayon::ThreadPool,
}

impl std::fmt::Debug for SshExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshExecutor")
            .field("hosts", &self.shared.slots.len())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl SshExecutor {
    /// An executor for `hosts` (name, endpoint). Reads known_hosts now, so a bad file is an
    /// error before anything connects.
    pub fn new(hosts: Vec<(String, Endpoint)>, config: SshConfig) -> anyhow::Result<Self> {
        let files = match &config.known_hosts {
            Some(f) => vec![f.clone()],
            None => vec![
                config.known_hosts_file(),
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
            ],
        };
        let known = if config.host_key_checking == HostKeyChecking::Off {
            KnownHosts::default()
        } else {
            KnownHosts::load(&files)?
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.forks.max(1))
            .thread_name(|i| format!("rolecall-ssh-{i}"))
            // Job bodies catch their own panics; never let one abort the process.
            .panic_handler(|_| {})
            .build()?;
        let slots = hosts
            .into_iter()
            .map(|(name, endpoint)| {
                let slot = Slot {
                    endpoint,
                    conn: Conn::New,
                    queue: VecDeque::new(),
                    busy: false,
                };
                (name, Mutex::new(slot))
            })
            .collect();
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                slots,
                known: Mutex::new(known),
                password: OnceLock::new(),
            }),
            pool,
        })
    }

    /// Queue `work` for `host`; false when the host is not part of this run.
    fn submit(&self, host: &str, job: Job) -> bool {
        let Some(slot) = self.shared.slots.get(host) else {
            return false;
        };
        let mut s = lock(slot);
        s.queue.push_back(job);
        if !s.busy {
            s.busy = true;
            let (shared, host) = (Arc::clone(&self.shared), host.to_string());
            self.pool.spawn_fifo(move || drive(shared, host));
        }
        true
    }

    fn dispatch(&self, work: impl Fn() -> Work, hosts: &[String], each: &mut dyn FnMut(usize, Reply)) {
        let (tx, rx) = mpsc::channel();
        let mut pending = 0usize;
        for (index, host) in hosts.iter().enumerate() {
            let job = Job {
                work: work(),
                index,
                reply: tx.clone(),
            };
            if self.submit(host, job) {
                pending += 1;
            } else {
                let why = Outcome::Error(format!("`{host}` is not one of this run's hosts"));
                each(index, Reply::Run(HostResult::failed(host, why)));
            }
        }
        drop(tx);
        while pending > 0 {
            // Every job sends exactly once (its body runs under catch_unwind), so this ends.
            let Ok((index, reply)) = rx.recv() else {
                break;
            };
            pending -= 1;
            each(index, reply);
        }
    }
}

impl Executor for SshExecutor {
    fn run(&self, command: &str, hosts: &[String]) -> Vec<HostResult> {
        self.run_each(command, hosts, &mut |_| {})
    }

    fn run_each(
        &self,
        command: &str,
        hosts: &[String],
        each: &mut dyn FnMut(&HostResult),
    ) -> Vec<HostResult> {
        let command: Arc<str> = command.into();
        let mut out: Vec<Option<HostResult>> = vec![None; hosts.len()];
        self.dispatch(|| Work::Run(Arc::clone(&command)), hosts, &mut |index, reply| {
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
            &mut |_, reply| {
                if let Reply::Fetch(r) = reply {
                    out = r;
                }
            },
        );
        out
    }
}

/// Run the next batch of `host`'s queued jobs (up to [`CHANNELS_PER_HOST`] at once, each on
/// its own channel of the host's session), then hand the host back to the pool if more are
/// queued. Every job gets exactly one reply, even if this panics.
fn drive(shared: Arc<Shared>, host: String) {
    let Some(slot) = shared.slots.get(&host) else {
        return;
    };
    let (mut conn, endpoint) = {
        let mut s = lock(slot);
        (std::mem::replace(&mut s.conn, Conn::New), s.endpoint.clone())
    };
    if matches!(conn, Conn::New) && !cancelled(&shared.config) {
        // Connect before taking jobs: what other plugins queue meanwhile joins this batch.
        conn = panic::catch_unwind(AssertUnwindSafe(|| connect(&shared, &endpoint)))
            .unwrap_or_else(|_| Err(Outcome::Error("internal error (panic) while connecting".into())))
            .map_or_else(Conn::Failed, Conn::Open);
    }
    let jobs: Vec<Job> = {
        let mut s = lock(slot);
        if s.queue.is_empty() {
            s.conn = conn;
            s.busy = false;
            return;
        }
        let n = s.queue.len().min(CHANNELS_PER_HOST);
        s.queue.drain(..n).collect()
    };
    let works: Vec<&Work> = jobs.iter().map(|j| &j.work).collect();
    let done = panic::catch_unwind(AssertUnwindSafe(|| work(&shared, &host, &endpoint, conn, &works)));
    let (steps, conn) = done.unwrap_or_else(|_| {
        let why = Outcome::Error("internal error (panic) while working on this host".into());
        let steps = works
            .iter()
            .map(|w| Step::Done(failed(w, &host, why.clone())))
            .collect();
        (steps, Conn::New)
    });
    let mut later = Vec::new();
    for (job, step) in jobs.into_iter().zip(steps) {
        match step {
            Step::Done(reply) => {
                let _ = job.reply.send((job.index, reply));
            }
            Step::Later => later.push(job),
        }
    }
    let mut s = lock(slot);
    s.conn = conn;
    for job in later.into_iter().rev() {
        s.queue.push_front(job);
    }
    if s.queue.is_empty() {
        s.busy = false;
    } else {
        drop(s);
        // Back of the line: other hosts' work goes first.
        rayon::spawn_fifo(move || drive(shared, host));
    }
}

fn cancelled(config: &SshConfig) -> bool {
    config.deadline.is_some_and(|d| Instant::now() >= d)
}

/// What became of one job of a batch.
enum Step {
    Done(Reply),
    /// The server would not open another channel now: queue it again.
    Later,
}

fn failed(what: &Work, host: &str, o: Outcome) -> Reply {
    match what {
        Work::Run(_) => Reply::Run(HostResult::failed(host, o)),
        Work::Fetch(_) => Reply::Fetch(Err(o.describe())),
    }
}

fn work(shared: &Shared, host: &str, ep: &Endpoint, conn: Conn, works: &[&Work]) -> (Vec<Step>, Conn) {
    let start = Instant::now();
    let all = |o: Outcome| {
        works
            .iter()
            .map(|w| Step::Done(failed(w, host, o.clone())))
            .collect()
    };
    if cancelled(&shared.config) {
        return (all(Outcome::Cancelled), conn);
    }
    let c = match conn {
        Conn::Open(c) => c,
        Conn::Failed(o) => return (all(o.clone()), Conn::Failed(o)),
        // A connection lost by the previous batch: reconnect once for this one.
        Conn::New => match connect(shared, ep) {
            Ok(c) => c,
            Err(o) => return (all(o.clone()), Conn::Failed(o)),
        },
    };
    let config = &shared.config;
    let mut timeout = config.command_timeout;
    if let Some(d) = config.deadline {
        timeout = timeout.min(d.saturating_duration_since(Instant::now()));
    }
    let specs: Vec<Spec> = works
        .iter()
        .map(|w| match w {
            Work::Run(command) => Spec {
                command: command.to_string(),
                timeout,
                out_cap: config.max_output,
                err_cap: config.max_output,
                stdin: config.stdin.clone(),
            },
            Work::Fetch(path) => Spec {
                command: format!("cat -- {}", shell_quote(path)),
                timeout,
                out_cap: FETCH_CAP,
                err_cap: 64 << 10,
                stdin: None,
            },
        })
        .collect();
    let ran = exec_batch(&c, &specs);
    let mut lost = false;
    let steps = works
        .iter()
        .zip(ran)
        .map(|(w, r)| match r {
            Ran::Later => Step::Later,
            Ran::Lost(why, out, err) => {
                lost = true;
                Step::Done(match w {
                    Work::Run(_) => Reply::Run(HostResult {
                        host: host.to_string(),
                        outcome: Outcome::Lost(why),
                        stdout: out.into_text(),
                        stderr: err.into_text(),
                        duration: start.elapsed(),
                        round_trip: None,
                    }),
                    Work::Fetch(_) => failed(w, host, Outcome::Lost(why)),
                })
            }
            Ran::Failed(why) => Step::Done(failed(w, host, Outcome::Error(why))),
            Ran::Finished(outcome, out, err, round_trip) => Step::Done(match w {
                Work::Run(_) => Reply::Run(HostResult {
                    host: host.to_string(),
                    outcome,
                    stdout: out.into_text(),
                    stderr: err.into_text(),
                    duration: start.elapsed(),
                    round_trip,
                }),
                Work::Fetch(path) => Reply::Fetch(match outcome {
                    Outcome::Exited(0) if out.total <= FETCH_CAP as u64 => Ok(out.into_bytes()),
                    Outcome::Exited(0) => Err(format!(
                        "{path} is {} bytes, over the {FETCH_CAP}-byte limit",
                        out.total
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
            }),
        })
        .collect();
    (steps, if lost { Conn::New } else { Conn::Open(c) })
}

/// POSIX-shell single quoting.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
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
            host_key_checking: HostKeyChecking::Off,
            ..SshConfig::default()
        };
        let ep = Endpoint {
            address: "10.1.2.3".into(),
            port: 22,
            user: "u".into(),
        };
        let ex = SshExecutor::new(vec![("far".into(), ep)], config).unwrap();
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
