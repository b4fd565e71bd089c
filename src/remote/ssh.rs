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

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use ssh2::{ErrorCode, HashType, HostKeyType, MethodType, Session};

use super::known_hosts::{self, Check, KnownHosts};
use super::{wait, AllowList, Capture, Endpoint, Executor, HostResult, Outcome};
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
    pub prompt: Option<PasswordPrompt>,
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
            prompt: None,
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

/// Why a connection attempt failed, and whether trying again may help.
enum Attempt {
    Retry(Outcome),
    Final(Outcome),
}

struct Connection {
    session: Session,
    /// The session's socket (owned by the session), for waiting on it.
    fd: RawFd,
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
            },
            Work::Fetch(path) => Spec {
                command: format!("cat -- {}", shell_quote(path)),
                timeout,
                out_cap: FETCH_CAP,
                err_cap: 64 << 10,
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
            Ran::Lost(why) => {
                lost = true;
                Step::Done(failed(w, host, Outcome::Error(format!("connection lost: {why}"))))
            }
            Ran::Failed(why) => Step::Done(failed(w, host, Outcome::Error(why))),
            Ran::Finished(outcome, out, err) => Step::Done(match w {
                Work::Run(_) => Reply::Run(HostResult {
                    host: host.to_string(),
                    outcome,
                    stdout: out.into_text(),
                    stderr: err.into_text(),
                    duration: start.elapsed(),
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

fn connect(shared: &Shared, ep: &Endpoint) -> Result<Connection, Outcome> {
    let config = &shared.config;
    let mut backoff = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        match connect_once(shared, ep) {
            Ok(c) => return Ok(c),
            Err(Attempt::Retry(_)) if attempt < config.retries && !cancelled(config) => {
                attempt += 1;
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            Err(Attempt::Retry(o)) | Err(Attempt::Final(o)) => return Err(o),
        }
    }
}

fn connect_once(shared: &Shared, ep: &Endpoint) -> Result<Connection, Attempt> {
    let config = &shared.config;
    let addrs = rolecall_plugin::resolve(config.allow.nets(), &ep.address, ep.port).map_err(|why| {
        let refused = why.contains("allow-list");
        Attempt::Final(if refused {
            Outcome::Refused(why)
        } else {
            Outcome::Unreachable(why)
        })
    })?;
    let (allowed, refused): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|a| config.allow.permits(a.ip()));
    if allowed.is_empty() {
        let ips: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
        return Err(Attempt::Final(Outcome::Refused(format!(
            "{} is outside the allowed networks ({}); not contacted",
            if ips.is_empty() {
                ep.address.clone()
            } else {
                ips.join(", ")
            },
            config.allow.nets().join(",")
        ))));
    }
    let mut last = String::new();
    let mut transient = false;
    let mut stream = None;
    for addr in allowed {
        match TcpStream::connect_timeout(&addr, config.connect_timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => {
                transient |= matches!(
                    e.kind(),
                    ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                );
                last = if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock {
                    format!(
                        "{addr}: no answer within {:.1}s (connect timeout)",
                        config.connect_timeout.as_secs_f64()
                    )
                } else {
                    format!("{addr}: {e}")
                };
            }
        }
    }
    let Some(stream) = stream else {
        let o = Outcome::Unreachable(last);
        return Err(if transient {
            Attempt::Retry(o)
        } else {
            Attempt::Final(o)
        });
    };
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    let mut session =
        Session::new().map_err(|e| Attempt::Final(Outcome::Error(format!("cannot start a session: {e}"))))?;
    session.set_tcp_stream(stream);
    session.set_timeout(ms(config.connect_timeout));
    let name = known_hosts::host_name(&ep.address, ep.port);
    prefer_known_key_types(&session, &lock(&shared.known).key_types(&name));
    session
        .handshake()
        .map_err(|e| handshake_error(&e, config.connect_timeout))?;
    check_host_key(shared, &session, &name)?;
    authenticate(shared, &session, ep).map_err(Attempt::Final)?;
    Ok(Connection { session, fd })
}

fn handshake_error(e: &ssh2::Error, timeout: Duration) -> Attempt {
    match code(e) {
        LIBSSH2_ERROR_TIMEOUT => Attempt::Final(Outcome::HandshakeTimeout(timeout)),
        // The server closed or reset during key exchange (MaxStartups, a restarting sshd).
        LIBSSH2_ERROR_SOCKET_DISCONNECT | LIBSSH2_ERROR_SOCKET_RECV | LIBSSH2_ERROR_SOCKET_SEND => {
            Attempt::Retry(Outcome::Error(format!("SSH handshake failed: {}", e.message())))
        }
        _ => Attempt::Final(Outcome::Error(format!("SSH handshake failed: {}", e.message()))),
    }
}

/// The known_hosts key type an SSH host key algorithm yields.
fn key_type_of_alg(alg: &str) -> Option<&str> {
    match alg {
        "rsa-sha2-512" | "rsa-sha2-256" | "ssh-rsa" => Some("ssh-rsa"),
        a if a.contains("-cert-") => None,
        a => Some(a),
    }
}

/// Ask for the host key algorithms known_hosts records for this host first (as OpenSSH does),
/// so a host known by its RSA key is not reported as changed because it also has ed25519.
/// Certificate algorithms are left out: certificates are not supported.
fn prefer_known_key_types(session: &Session, known: &[String]) {
    let Ok(algs) = session.supported_algs(MethodType::HostKey) else {
        return;
    };
    let usable: Vec<&str> = algs
        .into_iter()
        .filter(|a| key_type_of_alg(a).is_some())
        .collect();
    let (mut first, rest): (Vec<&str>, Vec<&str>) = usable
        .into_iter()
        .partition(|a| key_type_of_alg(a).is_some_and(|t| known.iter().any(|k| k == t)));
    first.extend(rest);
    let _ = session.method_pref(MethodType::HostKey, &first.join(","));
}

fn key_type_name(kind: HostKeyType) -> &'static str {
    match kind {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        _ => "unknown",
    }
}

fn check_host_key(shared: &Shared, session: &Session, name: &str) -> Result<(), Attempt> {
    let config = &shared.config;
    if config.host_key_checking == HostKeyChecking::Off {
        return Ok(());
    }
    let Some((key, kind)) = session.host_key() else {
        return Err(Attempt::Final(Outcome::Error(
            "the server sent no host key".into(),
        )));
    };
    let key_type = key_type_name(kind);
    let fp = session
        .host_key_hash(HashType::Sha256)
        .map(known_hosts::fingerprint)
        .unwrap_or_default();
    let file = config.known_hosts_file();
    let mut known = lock(&shared.known);
    match known.check(name, key_type, key) {
        Check::Match => Ok(()),
        Check::Unknown if config.host_key_checking == HostKeyChecking::AcceptNew => {
            known_hosts::append(&file, name, key_type, key).map_err(|e| {
                Attempt::Final(Outcome::Error(format!(
                    "cannot record the host key in {}: {e}",
                    file.display()
                )))
            })?;
            known.remember(&file, name, key_type, key);
            Ok(())
        }
        Check::Unknown => Err(Attempt::Final(Outcome::HostKeyUnknown(format!(
            "{name} is not in {}; it offered {key_type} {fp}. Verify it, then add it or use \
             --host-key-checking accept-new",
            file.display()
        )))),
        Check::Changed(why) => Err(Attempt::Final(Outcome::HostKeyChanged(format!(
            "{why}; the server offered {key_type} {fp}. If the host was reinstalled, remove the \
             old key with: ssh-keygen -f {} -R '{name}'",
            file.display()
        )))),
        Check::Revoked(at) => Err(Attempt::Final(Outcome::HostKeyChanged(format!(
            "{key_type} {fp} is marked @revoked ({at})"
        )))),
    }
}

fn auth_error(e: &ssh2::Error, timeout: Duration) -> Option<Outcome> {
    (code(e) == LIBSSH2_ERROR_TIMEOUT).then_some(Outcome::HandshakeTimeout(timeout))
}

/// Every agent identity, then identity files, then a password; `AuthFailed` lists what was
/// tried.
fn authenticate(shared: &Shared, session: &Session, ep: &Endpoint) -> Result<(), Outcome> {
    let config = &shared.config;
    let user = ep.user.as_str();
    let methods = match session.auth_methods(user) {
        Ok(m) => m.to_string(),
        Err(e) => {
            if session.authenticated() {
                return Ok(());
            }
            return Err(auth_error(&e, config.connect_timeout)
                .unwrap_or_else(|| Outcome::AuthFailed(format!("as {user}: {}", e.message()))));
        }
    };
    let mut tried: Vec<String> = Vec::new();
    if methods.split(',').any(|m| m == "publickey") {
        if std::env::var_os("SSH_AUTH_SOCK").is_some() {
            match agent_auth(session, user) {
                Ok(true) => return Ok(()),
                Ok(false) => tried.push("ssh-agent (no key accepted)".into()),
                Err(why) => tried.push(format!("ssh-agent ({why})")),
            }
        }
        for path in config.identity_files() {
            if !path.is_file() {
                tried.push(format!("{} (no such file)", path.display()));
                continue;
            }
            match session.userauth_pubkey_file(user, None, &path, None) {
                Ok(()) if session.authenticated() => return Ok(()),
                Ok(()) => tried.push(format!("{} (not accepted)", path.display())),
                Err(e) => {
                    if let Some(o) = auth_error(&e, config.connect_timeout) {
                        return Err(o);
                    }
                    tried.push(format!("{} ({})", path.display(), e.message()));
                }
            }
        }
    }
    if methods.split(',').any(|m| m == "password") {
        let password = shared.password.get_or_init(|| {
            config.password.clone().or_else(|| {
                let prompt = config.prompt.as_ref()?;
                prompt(&format!("SSH password for {user}: "))
            })
        });
        match password {
            Some(pw) => match session.userauth_password(user, pw) {
                Ok(()) if session.authenticated() => return Ok(()),
                Ok(()) => tried.push("password (not accepted)".into()),
                Err(e) => {
                    if let Some(o) = auth_error(&e, config.connect_timeout) {
                        return Err(o);
                    }
                    tried.push("password (not accepted)".into());
                }
            },
            None => tried.push(format!("password (none given: set {})", super::PASSWORD_ENV)),
        }
    }
    if tried.is_empty() {
        tried.push("nothing (no agent, no identity file)".into());
    }
    Err(Outcome::AuthFailed(format!(
        "as {user}; the server accepts {methods}; tried {}",
        tried.join(", ")
    )))
}

fn agent_auth(session: &Session, user: &str) -> Result<bool, String> {
    let mut agent = session.agent().map_err(|e| e.message().to_string())?;
    agent.connect().map_err(|e| e.message().to_string())?;
    agent.list_identities().map_err(|e| e.message().to_string())?;
    let ids = agent.identities().map_err(|e| e.message().to_string())?;
    for id in &ids {
        if agent.userauth(user, id).is_ok() && session.authenticated() {
            let _ = agent.disconnect();
            return Ok(true);
        }
    }
    let _ = agent.disconnect();
    Ok(false)
}

/// One command to run on a channel.
struct Spec {
    command: String,
    timeout: Duration,
    out_cap: usize,
    err_cap: usize,
}

/// How one command of a batch ended.
enum Ran {
    Finished(Outcome, Capture, Capture),
    /// The channel could not be opened or started (the session is fine).
    Failed(String),
    /// Not started: the server refused another channel while others were open.
    Later,
    /// The connection failed: drop the session.
    Lost(String),
}

/// Why a non-blocking call gave up.
enum Nb {
    Timeout,
    Ssh(ssh2::Error),
}

fn is_socket_error(e: &ssh2::Error) -> bool {
    matches!(
        code(e),
        -1 | LIBSSH2_ERROR_SOCKET_SEND | LIBSSH2_ERROR_SOCKET_DISCONNECT | LIBSSH2_ERROR_SOCKET_RECV
    )
}

/// Wait until the session's socket can make progress, at most until `deadline`.
fn wait_socket(c: &Connection, deadline: Instant) {
    let write = matches!(
        c.session.block_directions(),
        ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
    );
    wait::socket(c.fd, write, deadline.saturating_duration_since(Instant::now()));
}

/// Retry a non-blocking libssh2 call until it stops answering "would block", or `deadline`.
fn nb<T>(c: &Connection, deadline: Instant, mut f: impl FnMut() -> Result<T, ssh2::Error>) -> Result<T, Nb> {
    loop {
        match f() {
            Err(e) if code(&e) == LIBSSH2_ERROR_EAGAIN => {
                if Instant::now() >= deadline {
                    return Err(Nb::Timeout);
                }
                wait_socket(c, deadline);
            }
            Err(e) => return Err(Nb::Ssh(e)),
            Ok(v) => return Ok(v),
        }
    }
}

/// A command running on its channel.
struct Running {
    channel: ssh2::Channel,
    stderr: ssh2::Stream,
    out: Capture,
    err: Capture,
    out_eof: bool,
    err_eof: bool,
    deadline: Instant,
    timeout: Duration,
}

enum Progress {
    Idle,
    Moved,
    Done(Ran),
}

impl Running {
    /// Read what is there on both streams; once both ended, collect the exit status.
    fn step(&mut self, buf: &mut [u8]) -> Progress {
        let mut moved = false;
        for is_err in [false, true] {
            loop {
                let (eof, r) = if is_err {
                    (self.err_eof, self.stderr.read(buf))
                } else {
                    (self.out_eof, self.channel.read(buf))
                };
                if eof {
                    break;
                }
                match r {
                    Ok(0) if self.channel.eof() => {
                        *(if is_err {
                            &mut self.err_eof
                        } else {
                            &mut self.out_eof
                        }) = true;
                    }
                    Ok(0) => break,
                    Ok(n) => {
                        let sink = if is_err { &mut self.err } else { &mut self.out };
                        sink.push(&buf[..n]);
                        moved = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Progress::Done(Ran::Lost(format!("reading output: {e}"))),
                }
            }
        }
        if !(self.out_eof && self.err_eof) {
            return if moved { Progress::Moved } else { Progress::Idle };
        }
        // Output complete: the exit status and the close follow.
        match self.channel.wait_close() {
            Ok(()) => {}
            Err(e) if code(&e) == LIBSSH2_ERROR_EAGAIN => return Progress::Idle,
            Err(e) if is_socket_error(&e) => return Progress::Done(Ran::Lost(e.message().to_string())),
            Err(e) => return Progress::Done(Ran::Failed(format!("closing the channel: {}", e.message()))),
        }
        let signal = self.channel.exit_signal().ok().and_then(|s| s.exit_signal);
        let outcome = match signal {
            Some(sig) => Outcome::Signal(sig),
            None => Outcome::Exited(self.channel.exit_status().unwrap_or(-1)),
        };
        Progress::Done(self.finish(outcome))
    }

    fn finish(&mut self, outcome: Outcome) -> Ran {
        let out = std::mem::replace(&mut self.out, Capture::new(0));
        let err = std::mem::replace(&mut self.err, Capture::new(0));
        Ran::Finished(outcome, out, err)
    }
}

/// Run `specs` at once on the open session `c`, one channel each, reading every stream as data
/// arrives (no stream can block another), each command bounded by its own timeout.
fn exec_batch(c: &Connection, specs: &[Spec]) -> Vec<Ran> {
    let session = &c.session;
    session.set_blocking(false);
    let mut ran: Vec<Option<Ran>> = specs.iter().map(|_| None).collect();
    let mut running: Vec<Option<Running>> = specs.iter().map(|_| None).collect();
    for (i, spec) in specs.iter().enumerate() {
        let deadline = Instant::now() + spec.timeout;
        let opened = nb(c, deadline, || session.channel_session()).and_then(|mut ch| {
            nb(c, deadline, || ch.exec(&spec.command))?;
            Ok(ch)
        });
        match opened {
            Ok(channel) => {
                running[i] = Some(Running {
                    stderr: channel.stderr(),
                    channel,
                    out: Capture::new(spec.out_cap),
                    err: Capture::new(spec.err_cap),
                    out_eof: false,
                    err_eof: false,
                    deadline,
                    timeout: spec.timeout,
                })
            }
            Err(Nb::Timeout) => {
                ran[i] = Some(Ran::Finished(
                    Outcome::Timeout(spec.timeout),
                    Capture::new(0),
                    Capture::new(0),
                ))
            }
            Err(Nb::Ssh(e)) if is_socket_error(&e) => ran[i] = Some(Ran::Lost(e.message().to_string())),
            // MaxSessions reached: try again once the others are done.
            Err(Nb::Ssh(_)) if running.iter().any(Option::is_some) => ran[i] = Some(Ran::Later),
            Err(Nb::Ssh(e)) => ran[i] = Some(Ran::Failed(format!("cannot run the command: {}", e.message()))),
        }
    }
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let mut moved = false;
        let mut next_deadline: Option<Instant> = None;
        for (i, slot) in running.iter_mut().enumerate() {
            let Some(r) = slot else { continue };
            match r.step(&mut buf) {
                Progress::Done(result) => {
                    ran[i] = Some(result);
                    *slot = None;
                    moved = true;
                }
                Progress::Moved | Progress::Idle if Instant::now() >= r.deadline => {
                    // Close without waiting: sshd answers a close only once the process exits.
                    let _ = r.channel.close();
                    ran[i] = Some(r.finish(Outcome::Timeout(r.timeout)));
                    *slot = None;
                }
                Progress::Moved => moved = true,
                Progress::Idle => {
                    next_deadline = Some(next_deadline.map_or(r.deadline, |d| d.min(r.deadline)));
                }
            }
        }
        let Some(deadline) = next_deadline else {
            if running.iter().all(Option::is_none) {
                break;
            }
            continue;
        };
        if !moved {
            wait_socket(c, deadline);
        }
    }
    ran.into_iter()
        .map(|r| r.unwrap_or_else(|| Ran::Failed("internal error: no result".into())))
        .collect()
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
    fn key_types_of_algorithms() {
        assert_eq!(key_type_of_alg("rsa-sha2-512"), Some("ssh-rsa"));
        assert_eq!(key_type_of_alg("ssh-ed25519"), Some("ssh-ed25519"));
        assert_eq!(key_type_of_alg("ssh-ed25519-cert-v01@openssh.com"), None);
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
