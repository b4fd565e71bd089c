//! The engine: a few driver threads, each owning the sessions of its share of the hosts and
//! driving all of them from one `poll(2)` loop. A host is a [`Task`]: its queue of jobs, its
//! connection (being dialled, open, or failed) and what runs on it ([`Exec`]). Every step of a
//! task is non-blocking, so a host that waits (a TCP connect, a handshake, a server that never
//! speaks, a hung command) costs a socket and a deadline, never a thread; `--forks` bounds the
//! hosts with work in flight, not threads.
//!
//! A task is advanced when its socket is ready, its next deadline is due, new work or an
//! answer came for it, or its last step moved something or read something from the socket
//! (libssh2 may then hold data for any of its channels that no socket wait would report: the
//! bytes are already out of the socket, see [`super::recv`]). A sweep every [`SAFETY_NET`] over
//! the busy tasks bounds the cost of any libssh2 surprise to milliseconds.
//!
//! The one step that may block, getting the stream to a host behind a jump host or a
//! `ProxyCommand`, runs on a small pool of helper threads; its answer comes back as an event.
#![allow(unsafe_code)] // poll(2), and getrlimit/setrlimit

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use super::connect::{Acquire, Acquired, Dial, DialStep};
use super::exec::Exec;
use super::running::Ran;
use super::session::Connection;
use super::shared::{cancelled, command_timeout, Shared, CHANNELS_PER_HOST};
use super::work::{reply, spec, Job};
use crate::remote::settings::HostSettings;
use crate::remote::Outcome;

/// The longest wait of a driver with busy tasks, and how often those are looked at anyway.
const SAFETY_NET: Duration = Duration::from_millis(50);
/// Threads that get streams through jump hosts and `ProxyCommand`s (each may wait).
const HELPERS: usize = 8;
/// Driver threads at most (each drives its hosts' sessions; crypto is the work).
const MAX_DRIVERS: usize = 8;

/// What a driver is told.
pub(super) enum Event {
    Job(String, Job),
    /// The answer to a task's [`Acquire`], for its dial number `u64`.
    Acquired(String, u64, Acquired),
    /// Stop: nothing new is sent, what runs is stopped on the hosts.
    Interrupt,
    /// Look at every task again (the plan's last party arrived).
    Poke,
    /// The executor is gone: finish what is in hand, close every session, end the thread.
    Shutdown,
}

/// Wakes a driver out of its `poll(2)`.
#[derive(Debug)]
pub(super) struct Waker(UnixStream);

impl Waker {
    pub(super) fn wake(&self) {
        // Full: the driver is awake already.
        let _ = (&self.0).write(&[1]);
    }
}

/// A driver as the executor sees it.
pub(super) struct DriverHandle {
    tx: mpsc::Sender<Event>,
    waker: Arc<Waker>,
}

impl DriverHandle {
    pub(super) fn send(&self, event: Event) -> bool {
        let sent = self.tx.send(event).is_ok();
        self.waker.wake();
        sent
    }
}

/// How many drivers for `hosts` hosts and `forks` hosts in flight.
pub(super) fn drivers_for(hosts: usize, forks: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    cores.min(MAX_DRIVERS).min(forks.max(1)).min(hosts.max(1))
}

/// Start driver `index` of `count` for the hosts of `shared` it owns; it ends when every
/// sender is gone and its work is done.
pub(super) fn start(shared: Arc<Shared>, index: usize, count: usize) -> std::io::Result<DriverHandle> {
    let (tx, rx) = mpsc::channel();
    let (wake_tx, wake_rx) = UnixStream::pair()?;
    wake_tx.set_nonblocking(true)?;
    wake_rx.set_nonblocking(true)?;
    let waker = Arc::new(Waker(wake_tx));
    let quota = shared.config.forks.max(1).div_ceil(count);
    let driver = Driver {
        shared,
        rx,
        wake_rx,
        me: tx.clone(),
        waker: Arc::clone(&waker),
        tasks: HashMap::new(),
        quota,
        active: 0,
        waiting: VecDeque::new(),
    };
    std::thread::Builder::new()
        .name(format!("rolecall-ssh-{index}"))
        .spawn(move || driver.run())?;
    Ok(DriverHandle { tx, waker })
}

fn helpers() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(HELPERS)
            .thread_name(|i| format!("rolecall-dial-{i}"))
            .panic_handler(|_| {})
            .build()
            .ok()
    })
    .as_ref()
}

/// A host's connection.
enum Conn {
    Idle,
    /// Being opened; the number tells this dial's answers from an abandoned one's.
    Dialing(Dial, u64),
    Open(Connection),
    /// Failed: every later job gets this at once (no second wait for a dead host).
    Failed(Outcome),
}

/// What runs on an open session, and the jobs it runs for (by the exec's numbering).
struct Run {
    exec: Exec,
    jobs: Vec<Option<Job>>,
    start: Instant,
    /// Jobs the session had no room for: queued again when this run ends.
    later: Vec<usize>,
    /// The connection failed under it.
    lost: bool,
}

/// One host; see the module docs.
struct Task {
    target: Arc<HostSettings>,
    conn: Conn,
    dials: u64,
    queue: VecDeque<Job>,
    run: Option<Run>,
    /// Commands may share a channel (false once the host could not run a batch).
    batching: bool,
    /// Its first commands went out (after the plan: [`crate::remote::Executor::plan`]).
    started: bool,
    /// Holds one of the driver's `forks` places.
    active: bool,
    /// What to wait for: a socket (and whether to write), an instant.
    wait: Option<(RawFd, bool)>,
    due: Option<Instant>,
    /// Advance on the next turn without waiting.
    poke: bool,
}

impl Task {
    /// Nothing queued, nothing running, nothing being opened: the host's place can go.
    fn idle(&self) -> bool {
        self.queue.is_empty() && self.run.is_none() && !matches!(self.conn, Conn::Dialing(..))
    }

    /// Answer every queued job with `o`.
    fn answer_queue(&mut self, host: &str, o: &Outcome) {
        for job in self.queue.drain(..) {
            job.fail(host, o.clone());
        }
    }

    /// Go as far as possible now; `offload` runs an [`Acquire`] off this thread.
    fn advance(&mut self, shared: &Shared, host: &str, now: Instant, offload: &mut dyn FnMut(Acquire, u64)) {
        self.wait = None;
        self.due = None;
        let interrupted = shared.interrupted.load(Ordering::SeqCst);
        loop {
            if interrupted {
                self.answer_queue(host, &Outcome::Interrupted);
                if let Some(run) = &mut self.run {
                    run.exec.interrupt();
                }
                if matches!(self.conn, Conn::Dialing(..)) {
                    self.conn = Conn::Idle;
                }
            } else if cancelled(&shared.config) {
                self.answer_queue(host, &Outcome::Cancelled);
            }
            match &mut self.conn {
                Conn::Idle if self.queue.is_empty() => {
                    if let Some(run) = self.run.take() {
                        // Lost its connection with jobs in hand: none may be left unanswered.
                        run.abandon(host, &Outcome::Lost("the connection was lost".into()));
                    }
                    return;
                }
                Conn::Idle => {
                    self.dials += 1;
                    let dial = Dial::new(Arc::clone(&self.target), self.target.jump.value.clone());
                    self.conn = Conn::Dialing(dial, self.dials);
                }
                Conn::Dialing(dial, n) => match dial.step(shared, now) {
                    DialStep::Wait { fd, write, until } => {
                        self.wait = Some((fd, write));
                        self.due = Some(until);
                        return;
                    }
                    DialStep::Sleep(until) => {
                        self.due = Some(until);
                        return;
                    }
                    DialStep::Offload(a) => {
                        offload(a, *n);
                        return;
                    }
                    DialStep::Done(Ok(c)) => self.conn = Conn::Open(c),
                    DialStep::Done(Err(o)) => self.conn = Conn::Failed(o),
                },
                Conn::Failed(o) => {
                    let o = o.clone();
                    self.answer_queue(host, &o);
                    return;
                }
                Conn::Open(c) => {
                    if self.run.is_none() {
                        if self.queue.is_empty() {
                            return;
                        }
                        if !self.started && !interrupted {
                            // The plan's other parties' first commands join these.
                            if let Some(until) = shared.plan_wait(now) {
                                self.due = Some(until);
                                return;
                            }
                        }
                        self.started = true;
                        self.run = Some(Run::start(shared, &self.target, &mut self.queue, self.batching));
                    }
                    let Some(run) = self.run.as_mut() else { return };
                    let status = run.pass(shared, host, &self.target, c, &mut self.queue, self.batching, now);
                    if status.finished {
                        let Some(run) = self.run.take() else { return };
                        self.batching &= run.exec.supported();
                        let lost = run.lost;
                        run.requeue(&mut self.queue);
                        if lost {
                            self.conn = Conn::Idle;
                        }
                        continue;
                    }
                    self.poke |= status.moved;
                    self.wait = Some((c.fd, c.wants_write()));
                    self.due = status.next;
                    return;
                }
            }
        }
    }

    /// A panic while advancing: every job in hand gets an error; the connection is dropped.
    fn recover(&mut self, host: &str) {
        let why = Outcome::Error("internal error (panic) while working on this host".into());
        if let Some(run) = self.run.take() {
            run.abandon(host, &why);
        }
        self.answer_queue(host, &why);
        self.conn = Conn::Idle;
    }
}

/// How `jobs` are sent to `target` now (their timeout counts what is left of the run's deadline).
fn specs_of(
    shared: &Shared,
    target: &HostSettings,
    jobs: &[Job],
    batching: bool,
) -> Vec<super::running::Spec> {
    let timeout = command_timeout(&shared.config);
    jobs.iter()
        .map(|j| spec(&shared.config, target, &j.work, timeout, batching))
        .collect()
}

impl Run {
    fn start(shared: &Shared, target: &HostSettings, queue: &mut VecDeque<Job>, batching: bool) -> Self {
        let most = if batching {
            super::batch::MAX_BATCH
        } else {
            CHANNELS_PER_HOST
        };
        let n = queue.len().min(most);
        let jobs: Vec<Job> = queue.drain(..n).collect();
        let specs = specs_of(shared, target, &jobs, batching);
        let mut early = Vec::new();
        let exec = Exec::new(specs, Instant::now(), &mut |i, ran| early.push((i, ran)));
        let mut run = Run {
            exec,
            jobs: jobs.into_iter().map(Some).collect(),
            start: Instant::now(),
            later: Vec::new(),
            lost: false,
        };
        for (i, ran) in early {
            run.settle(shared, "", target, i, ran);
        }
        run
    }

    /// One pass of the exec; results answered as they come.
    #[allow(clippy::too_many_arguments)]
    fn pass(
        &mut self,
        shared: &Shared,
        host: &str,
        target: &HostSettings,
        c: &Connection,
        queue: &mut VecDeque<Job>,
        batching: bool,
        now: Instant,
    ) -> super::exec::Status {
        let mut results: Vec<(usize, Ran)> = Vec::new();
        let jobs = &mut self.jobs;
        let status = self.exec.pass(
            &c.session,
            now,
            &mut |room| {
                if !batching || cancelled(&shared.config) {
                    return Vec::new();
                }
                let n = queue.len().min(room);
                let taken: Vec<Job> = queue.drain(..n).collect();
                let specs = specs_of(shared, target, &taken, batching);
                jobs.extend(taken.into_iter().map(Some));
                specs
            },
            &mut |i, ran| results.push((i, ran)),
        );
        for (i, ran) in results {
            self.settle(shared, host, target, i, ran);
        }
        status
    }

    /// Job `i` ran as `ran`: answer it (or keep it for later).
    fn settle(&mut self, shared: &Shared, host: &str, target: &HostSettings, i: usize, ran: Ran) {
        if let Ran::Later = ran {
            self.later.push(i);
            return;
        }
        self.lost |= matches!(ran, Ran::Lost(..));
        let Some(job) = self.jobs.get_mut(i).and_then(Option::take) else {
            return;
        };
        let host = if host.is_empty() {
            target.name.as_str()
        } else {
            host
        };
        let mut reply = reply(shared, host, target, &job.work, ran, self.start);
        if shared.interrupted.load(Ordering::SeqCst) {
            reply.interrupted();
        }
        job.answer(reply);
    }

    /// Jobs kept for later go back to the front of the queue, in their order.
    fn requeue(mut self, queue: &mut VecDeque<Job>) {
        for i in self.later.into_iter().rev() {
            if let Some(job) = self.jobs.get_mut(i).and_then(Option::take) {
                queue.push_front(job);
            }
        }
    }

    /// Every job still in hand gets `why`.
    fn abandon(self, host: &str, why: &Outcome) {
        for job in self.jobs.into_iter().flatten() {
            job.fail(host, why.clone());
        }
    }
}

/// One driver thread; see the module docs.
struct Driver {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Event>,
    wake_rx: UnixStream,
    /// For the helpers' answers.
    me: mpsc::Sender<Event>,
    waker: Arc<Waker>,
    tasks: HashMap<String, Task>,
    /// Hosts in flight at most, and now.
    quota: usize,
    active: usize,
    /// Hosts with work waiting for a place.
    waiting: VecDeque<String>,
}

impl Driver {
    fn run(mut self) {
        let mut open = true;
        let mut last_sweep = Instant::now();
        loop {
            // Events first: work, answers, an interrupt.
            loop {
                match self.rx.try_recv() {
                    Ok(Event::Shutdown) => open = false,
                    Ok(event) => self.event(event),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            let now = Instant::now();
            let sweep = now.duration_since(last_sweep) >= SAFETY_NET;
            if sweep {
                last_sweep = now;
            }
            self.turn(now, sweep);
            if !open && self.active == 0 {
                return;
            }
            self.wait();
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Job(host, job) => {
                let Some(target) = self.shared.targets.get(&host) else {
                    let why = Outcome::Error(format!("`{host}` is not one of this run's hosts"));
                    job.fail(&host, why);
                    return;
                };
                let batching = self.shared.config.batch;
                let task = self.tasks.entry(host.clone()).or_insert_with(|| Task {
                    target: Arc::clone(target),
                    conn: Conn::Idle,
                    dials: 0,
                    queue: VecDeque::new(),
                    run: None,
                    batching,
                    started: false,
                    active: false,
                    wait: None,
                    due: None,
                    poke: false,
                });
                task.queue.push_back(job);
                task.poke = true;
                if !task.active && !self.waiting.contains(&host) {
                    if self.active < self.quota {
                        task.active = true;
                        self.active += 1;
                    } else {
                        self.waiting.push_back(host);
                    }
                }
            }
            Event::Acquired(host, n, got) => {
                if let Some(task) = self.tasks.get_mut(&host) {
                    if let Conn::Dialing(dial, current) = &mut task.conn {
                        if *current == n {
                            dial.acquired(got);
                            task.poke = true;
                        }
                    }
                }
            }
            // Handled by the loop.
            Event::Shutdown => {}
            Event::Poke => {
                for task in self.tasks.values_mut() {
                    task.poke = true;
                }
            }
            Event::Interrupt => {
                for (host, task) in &mut self.tasks {
                    task.poke = true;
                    if !task.active {
                        task.answer_queue(host, &Outcome::Interrupted);
                    }
                }
                self.waiting.clear();
            }
        }
    }

    /// Advance every task that is due; give back the places of tasks left with nothing to do.
    fn turn(&mut self, now: Instant, sweep: bool) {
        let shared = Arc::clone(&self.shared);
        let mut freed = Vec::new();
        for (host, task) in &mut self.tasks {
            if !task.active {
                continue;
            }
            let due = task.poke || task.due.is_some_and(|d| now >= d) || (sweep && !task.idle());
            if !due {
                continue;
            }
            task.poke = false;
            let received = super::recv::received();
            let me = &self.me;
            let waker = &self.waker;
            let mut offload = |a: Acquire, n: u64| {
                let (shared, me, waker, host) =
                    (Arc::clone(&shared), me.clone(), Arc::clone(waker), host.clone());
                let job = move || {
                    let got = panic::catch_unwind(AssertUnwindSafe(|| a.run(&shared))).unwrap_or_else(|_| {
                        Err(super::connect::Attempt::Final(Outcome::Error(
                            "internal error (panic) while connecting".into(),
                        )))
                    });
                    let _ = me.send(Event::Acquired(host, n, got));
                    waker.wake();
                };
                match helpers() {
                    Some(pool) => pool.spawn(job),
                    None => job(),
                }
            };
            let advanced = panic::catch_unwind(AssertUnwindSafe(|| {
                task.advance(&shared, host, now, &mut offload)
            }));
            if advanced.is_err() {
                task.recover(host);
            }
            if super::recv::received() != received {
                task.poke = true;
            }
            if task.idle() {
                task.active = false;
                freed.push(host.clone());
            }
        }
        for _ in freed {
            self.active -= 1;
            while let Some(next) = self.waiting.pop_front() {
                if let Some(task) = self.tasks.get_mut(&next) {
                    task.active = true;
                    task.poke = true;
                    self.active += 1;
                    break;
                }
            }
        }
    }

    /// Wait for a socket, a deadline, an event, or the sweep.
    fn wait(&mut self) {
        let now = Instant::now();
        let mut fds = vec![libc::pollfd {
            fd: self.wake_rx.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let mut owners: Vec<&str> = vec![""];
        let mut timeout = Duration::from_secs(3600);
        let mut busy = false;
        for (host, task) in &self.tasks {
            if !task.active {
                continue;
            }
            if task.poke {
                timeout = Duration::ZERO;
            }
            busy |= !task.idle();
            if let Some(d) = task.due {
                timeout = timeout.min(d.saturating_duration_since(now));
            }
            if let Some((fd, write)) = task.wait {
                fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN | if write { libc::POLLOUT } else { 0 },
                    revents: 0,
                });
                owners.push(host);
            }
        }
        if busy {
            timeout = timeout.min(SAFETY_NET);
        }
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        let n = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
        // SAFETY: `fds` is a valid, initialised array of `n` pollfds that lives across the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), n, ms) };
        if ready <= 0 {
            return;
        }
        let ready: Vec<String> = fds
            .iter()
            .zip(&owners)
            .skip(1)
            .filter(|(p, _)| p.revents != 0)
            .map(|(_, h)| (*h).to_string())
            .collect();
        if fds[0].revents != 0 {
            let mut sink = [0u8; 256];
            while matches!((&self.wake_rx).read(&mut sink), Ok(n) if n > 0) {}
        }
        for host in ready {
            if let Some(task) = self.tasks.get_mut(&host) {
                task.poke = true;
            }
        }
    }
}

/// Up to the hard limit: each host in flight holds a socket (two through a jump host), and
/// the default soft limit (1024) is below what `--forks` allows.
pub(super) fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct that lives across the calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
