//! The SSH executor (ssh2/libssh2).
//!
//! - One session per host, opened lazily by the first command for that host and reused by
//!   every later command of every plugin in the run. A host whose connection failed answers
//!   every later command at once with the same outcome (no second wait for a dead host).
//! - Work is queued per host and a host's queue is driven by one job at a time on a rayon pool
//!   of `forks` threads that belongs to this executor. A job runs what is queued for the host
//!   (commands queued together, by different plugins, share one channel and one remote shell:
//!   `batch`; others get a channel each) and re-queues the host at the back, so a slow host
//!   never holds a thread while fast hosts wait. Each command's result goes back as soon as it
//!   has one.
//! - Timeouts: TCP connect per resolved address; handshake + authentication; each command
//!   (channel closed, result `timeout`); an optional deadline for the whole run. Connection-level
//!   failures that may be transient (refused, reset, closed during key exchange) are retried
//!   with backoff; nothing else is.
//! - stdout and stderr are read together on a non-blocking session, each capped.
//!
//! `connect` opens and authenticates a session; `channel` runs what a job took on it, `batch`
//! many commands in one channel.

mod batch;
mod channel;
mod connect;
mod jump;
mod proxy;
mod recv;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use ssh2::ErrorCode;

use self::channel::{exec_batch, Ran, Spec};
use self::connect::{connect, Connection};
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

enum Conn {
    New,
    Open(Connection),
    Failed(Outcome),
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

struct Job {
    work: Work,
    index: usize,
    reply: mpsc::Sender<(usize, Reply)>,
}

struct Slot {
    target: Arc<HostSettings>,
    conn: Conn,
    queue: VecDeque<Job>,
    busy: bool,
    /// Commands may share a channel (false once the host could not run a batch).
    batching: bool,
}

struct Shared {
    config: SshConfig,
    slots: HashMap<String, Mutex<Slot>>,
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
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.forks.max(1))
            .thread_name(|i| format!("rolecall-ssh-{i}"))
            // Job bodies catch their own panics; never let one abort the process.
            .panic_handler(|_| {})
            .build()?;
        let slots = hosts
            .into_iter()
            .map(|target| {
                let name = target.name.clone();
                let slot = Slot {
                    target: Arc::new(target),
                    conn: Conn::New,
                    queue: VecDeque::new(),
                    busy: false,
                    batching: config.batch,
                };
                (name, Mutex::new(slot))
            })
            .collect();
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                slots,
                known,
                password: OnceLock::new(),
                hubs: Mutex::new(Hubs::default()),
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
        self.run_each_as(command, hosts, None, each)
    }

    fn run_each_as(
        &self,
        command: &str,
        hosts: &[String],
        sudo_user: Option<&str>,
        each: &mut dyn FnMut(&HostResult),
    ) -> Vec<HostResult> {
        let command: Arc<str> = command.into();
        let sudo_user: Option<Arc<str>> = sudo_user.map(Into::into);
        let mut out: Vec<Option<HostResult>> = vec![None; hosts.len()];
        let work = || Work::Run(Arc::clone(&command), sudo_user.clone());
        self.dispatch(work, hosts, &mut |index, reply| {
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

/// Run the next batch of `host`'s queued jobs (commands that may share one channel, up to
/// [`batch::MAX_BATCH`], and others each on a channel of their own, up to
/// [`CHANNELS_PER_HOST`]), then hand the host back to the pool if more are queued. Each job's
/// reply goes out as soon as it has one; every job gets exactly one, even if this panics.
fn drive(shared: Arc<Shared>, host: String) {
    let Some(slot) = shared.slots.get(&host) else {
        return;
    };
    let (mut conn, target, batching) = {
        let mut s = lock(slot);
        (
            std::mem::replace(&mut s.conn, Conn::New),
            Arc::clone(&s.target),
            s.batching,
        )
    };
    if matches!(conn, Conn::New) && !cancelled(&shared.config) {
        // Connect before taking jobs: what other plugins queue meanwhile joins this batch.
        conn = panic::catch_unwind(AssertUnwindSafe(|| connect(&shared, &target)))
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
        let most = if batching {
            batch::MAX_BATCH
        } else {
            CHANNELS_PER_HOST
        };
        let n = s.queue.len().min(most);
        s.queue.drain(..n).collect()
    };
    let works: Vec<Work> = jobs.iter().map(|j| j.work.clone()).collect();
    // Jobs queued while this one works are taken in too (`pull`): a slow command on the host
    // then holds back no other plugin's next command.
    let replied = RefCell::new(vec![false; jobs.len()]);
    let jobs = RefCell::new(jobs);
    let mut later = Vec::new();
    let mut pull = |room: usize| -> Vec<Work> {
        let taken: Vec<Job> = {
            let mut s = lock(slot);
            let n = s.queue.len().min(room);
            s.queue.drain(..n).collect()
        };
        let works = taken.iter().map(|j| j.work.clone()).collect();
        replied.borrow_mut().extend(taken.iter().map(|_| false));
        jobs.borrow_mut().extend(taken);
        works
    };
    let done = panic::catch_unwind(AssertUnwindSafe(|| {
        work(
            &shared,
            &host,
            &target,
            conn,
            works,
            batching,
            &mut pull,
            &mut |i, step| {
                replied.borrow_mut()[i] = true;
                match step {
                    Step::Done(reply) => {
                        let jobs = jobs.borrow();
                        let _ = jobs[i].reply.send((jobs[i].index, reply));
                    }
                    Step::Later => later.push(i),
                }
            },
        )
    }));
    let jobs = jobs.into_inner();
    let replied = replied.into_inner();
    let (conn, batching) = done.unwrap_or_else(|_| {
        let why = Outcome::Error("internal error (panic) while working on this host".into());
        for (i, job) in jobs.iter().enumerate() {
            if !replied[i] {
                let _ = job.reply.send((job.index, failed(&job.work, &host, why.clone())));
            }
        }
        later.clear();
        (Conn::New, batching)
    });
    let mut jobs: Vec<Option<Job>> = jobs.into_iter().map(Some).collect();
    let mut s = lock(slot);
    s.conn = conn;
    s.batching = batching;
    for i in later.into_iter().rev() {
        if let Some(job) = jobs[i].take() {
            s.queue.push_front(job);
        }
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
    /// Not started (the server would not open another channel now, or the host cannot run a
    /// batch): queue it again.
    Later,
}

fn failed(what: &Work, host: &str, o: Outcome) -> Reply {
    match what {
        Work::Run(..) => Reply::Run(HostResult::failed(host, o)),
        Work::Fetch(_) => Reply::Fetch(Err(o.describe())),
    }
}

/// Run `works` on `host`, giving `step` each one's end as it comes. Returns the connection
/// (or why it failed) and whether the host may still run batches.
/// `pull(room)` takes up to `room` more jobs queued for the host meanwhile; they are numbered
/// after `works`, in order.
#[allow(clippy::too_many_arguments)]
fn work(
    shared: &Shared,
    host: &str,
    target: &HostSettings,
    conn: Conn,
    works: Vec<Work>,
    batching: bool,
    pull: &mut dyn FnMut(usize) -> Vec<Work>,
    step: &mut dyn FnMut(usize, Step),
) -> (Conn, bool) {
    let start = Instant::now();
    let mut all = |o: Outcome| {
        for (i, w) in works.iter().enumerate() {
            step(i, Step::Done(failed(w, host, o.clone())));
        }
    };
    if cancelled(&shared.config) {
        all(Outcome::Cancelled);
        return (conn, batching);
    }
    let c = match conn {
        Conn::Open(c) => c,
        Conn::Failed(o) => {
            all(o.clone());
            return (Conn::Failed(o), batching);
        }
        // A connection lost by the previous batch: reconnect once for this one.
        Conn::New => match connect(shared, target) {
            Ok(c) => c,
            Err(o) => {
                all(o.clone());
                return (Conn::Failed(o), batching);
            }
        },
    };
    let config = &shared.config;
    let mut timeout = config.command_timeout;
    if let Some(d) = config.deadline {
        timeout = timeout.min(d.saturating_duration_since(Instant::now()));
    }
    // Through sudo as this user, per work.
    let sudo_of = |w: &Work| -> Option<Arc<str>> {
        match w {
            Work::Run(_, Some(user)) => Some(Arc::clone(user)),
            Work::Run(_, None) => target.sudo.value.as_ref().map(|b| b.user.as_str().into()),
            Work::Fetch(_) => None,
        }
    };
    let mut specs: Vec<Spec> = works
        .iter()
        .map(|w| spec(config, w, sudo_of(w).as_deref(), timeout, batching))
        .collect();
    let works = RefCell::new(works);
    let mut more = |room: usize| -> Vec<Spec> {
        if !batching || cancelled(config) {
            return Vec::new();
        }
        let new = pull(room);
        let specs = new
            .iter()
            .map(|w| spec(config, w, sudo_of(w).as_deref(), timeout, batching))
            .collect();
        works.borrow_mut().extend(new);
        specs
    };
    let mut lost = false;
    let supported = exec_batch(&c, &mut specs, &mut more, &mut |i, ran| {
        let works = works.borrow();
        let w = &works[i];
        let sudo = sudo_of(w);
        let sudo = sudo.as_deref();
        let reply = match ran {
            Ran::Later => return step(i, Step::Later),
            Ran::Lost(why, out, err) => {
                lost = true;
                match w {
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
                    Work::Fetch(_) => failed(w, host, Outcome::Lost(why)),
                }
            }
            Ran::Failed(why) => failed(w, host, Outcome::Error(why)),
            Ran::NotRun(why) => failed(w, host, Outcome::NotRun(why)),
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
                    if let Some(user) = sudo {
                        let login = &target.user.value;
                        match super::sudo::settle(&result.outcome, &result.stderr, login, user) {
                            Ok(stderr) => {
                                if stderr != result.stderr {
                                    // sudo's own lines were taken out of the text: the bytes
                                    // no longer match it.
                                    result.raw.stderr = None;
                                }
                                result.stderr = stderr;
                            }
                            Err(o) => result.outcome = o,
                        }
                    }
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
        };
        step(i, Step::Done(reply));
    });
    (
        if lost { Conn::New } else { Conn::Open(c) },
        batching && supported,
    )
}

/// How `w` is sent: its text (through sudo as `sudo` if given), timeout, caps and stdin. A
/// command may share a channel with others when it reads nothing from stdin (`run --stdin`,
/// a sudo password) and `batching` allows.
fn spec(config: &SshConfig, w: &Work, sudo: Option<&str>, timeout: Duration, batching: bool) -> Spec {
    match w {
        Work::Run(command, _) => {
            let (command, stdin) = match (sudo, &config.become_password) {
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
            }
        }
        Work::Fetch(path) => Spec {
            command: format!("cat -- {}", shell_quote(path)),
            timeout,
            out_cap: FETCH_CAP,
            err_cap: 64 << 10,
            stdin: None,
            batch: false,
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
