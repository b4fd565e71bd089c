//! Running what a job took for one host on its open session: commands that may share a channel
//! as one [`batch`] (one channel, one remote shell), the others each on a channel of their own,
//! all read together on the non-blocking session: no stream can block another, each command has
//! its own deadline, and each result is handed on as soon as it is complete.
//!
//! Two rules keep this honest:
//! - **No lost wakeups.** Any libssh2 call may read the socket and buffer what belongs to
//!   another channel (data, EOF, exit status, close). The loop only blocks on the socket after
//!   a pass that moved nothing *and* received nothing ([`super::recv`]); then everything that
//!   arrived has been looked at, and what comes next makes the socket readable. The wait is
//!   also short ([`SAFETY_NET`]), so even a libssh2 surprise costs milliseconds, not a timeout.
//! - **A timed-out command is stopped on the host.** Every command is sent behind a one-line
//!   prelude that tells its process id ([`remote_script`]); on timeout a second channel of the
//!   same session ends that process group (TERM, then KILL), and the loop waits for the
//!   command's channel to close, so the server frees the session (`MaxSessions`) before the
//!   next command. A batched command is stopped the same way, by its subshell and descendants.
//!   Nothing extra runs on the host otherwise.

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::batch::{self, Asks, Batch, Pass};
use super::connect::Connection;
use super::{
    code, recv, LIBSSH2_ERROR_EAGAIN, LIBSSH2_ERROR_SOCKET_DISCONNECT, LIBSSH2_ERROR_SOCKET_RECV,
    LIBSSH2_ERROR_SOCKET_SEND,
};
use crate::remote::{shell_quote, wait, Capture, Outcome, RoundTrip};

/// The longest single wait on the socket.
const SAFETY_NET: Duration = Duration::from_millis(50);
/// After a timeout: how long the host gets to end the command and close its channel.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(5);
/// The line the prelude writes first on stderr (then the shell's pid); removed from the output.
const PID_TAG: &[u8] = b"rolecall:pid=";
/// Stderr bytes looked through for the tag (a shell may warn about locales first).
const PID_TAG_WINDOW: usize = 4096;

/// One command to run on a channel.
pub(super) struct Spec {
    pub(super) command: String,
    pub(super) timeout: Duration,
    pub(super) out_cap: usize,
    pub(super) err_cap: usize,
    /// Bytes for the command's stdin, then EOF; `None` = EOF at once.
    pub(super) stdin: Option<Arc<[u8]>>,
    /// May share one channel with other commands ([`super::batch`]).
    pub(super) batch: bool,
}

/// How one command of a batch ended.
pub(super) enum Ran {
    Finished(Outcome, Capture, Capture, Option<RoundTrip>),
    /// The channel could not be opened or started (the session is fine).
    Failed(String),
    /// The host was reached, but this command was not run there (the shell of its batch died
    /// before it, or the command before it never ended).
    NotRun(String),
    /// Not started: the server refused another channel while others were open.
    Later,
    /// The connection failed (what the command printed until then is kept): drop the session.
    Lost(String, Capture, Capture),
}

/// The text sent to the host's login shell for `spec`: a prelude line that writes the shell's
/// pid to stderr (a builtin: no process is started), then the command as given, so its exit
/// status (or signal) is reported as if it were sent alone. sshd makes every session a process
/// group led by that shell, which is what a timeout ends.
pub(super) fn remote_script(spec: &Spec) -> String {
    format!("echo rolecall:pid=$$ >&2\n{}", spec.command)
}

/// What a timeout stops on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kill {
    /// A process group: a command sent alone (sshd makes its shell a group leader), or a
    /// batch's shell.
    Group(u32),
    /// Command `k` of the batch whose private directory is `dir`, and its descendants: the
    /// process is the one the batch shell recorded there, never a number read from output.
    Job { dir: String, k: usize },
    /// A batch's private directory, left by a shell that did not get to remove it.
    Remove(String),
}

/// What a timeout sends on a second channel: TERM to each process group and tree, KILL a second
/// later. A tree is listed once, before the TERM (`ps` and `awk`, both POSIX); its root is read
/// from the batch shell's record (a number, else nothing).
fn stop_script(kills: &[Kill]) -> String {
    let mut groups = String::new();
    let mut records = String::new();
    let mut removes = String::new();
    for k in kills {
        match k {
            Kill::Group(p) => groups.push_str(&format!(" -{p}")),
            Kill::Job { dir, k } => records.push_str(&format!(
                "p=; read -r p <{} 2>/dev/null; case $p in ''|*[!0-9]*) ;; *) r=\"$r $p\";; esac; ",
                shell_quote(&format!("{dir}/j{k}"))
            )),
            Kill::Remove(dir) => removes.push_str(&format!(" {}", shell_quote(dir))),
        }
    }
    let mut script = String::new();
    let mut targets = groups;
    if !records.is_empty() {
        script.push_str("r=; ");
        script.push_str(&records);
        script.push_str(&format!(
            "t=; [ -n \"$r\" ] && t=$(ps -A -o pid= -o ppid= | awk -v r=\"$r\" '{TREE_AWK}'); "
        ));
        targets.push_str(" $t");
    }
    if !targets.trim().is_empty() {
        script.push_str(&format!(
            "kill -TERM --{targets} 2>/dev/null; sleep 1; kill -KILL --{targets} 2>/dev/null; "
        ));
    }
    if !removes.is_empty() {
        script.push_str(&format!("rm -rf --{removes}; "));
    }
    script.push_str("true");
    script
}

/// Prints the pids given in `r` and all their descendants, from `ps`'s `PID PPID` lines.
const TREE_AWK: &str =
    "BEGIN{n=split(r,a,\" \");for(i=1;i<=n;i++)if(a[i]!=\"\")k[a[i]]=1} {p[NR]=$1;q[NR]=$2} \
END{do{c=0;for(i=1;i<=NR;i++)if(!(p[i] in k)&&(q[i] in k)){k[p[i]]=1;c=1}}while(c);for(x in k)print x}";

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

/// Wait until the session's socket can make progress, at most until `deadline` and never
/// longer than [`SAFETY_NET`].
fn wait_socket(c: &Connection, deadline: Instant) {
    let write = matches!(
        c.session.block_directions(),
        ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
    );
    let wait = deadline.saturating_duration_since(Instant::now()).min(SAFETY_NET);
    wait::socket(c.fd, write, wait);
}

/// Retry a non-blocking libssh2 call until it stops answering "would block", or `deadline`.
/// (The call's own answer cannot be lost: libssh2 looks for it after reading the socket.)
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

/// Stderr until the prelude's pid line has been seen (and taken out).
enum PidScan {
    Looking(Vec<u8>),
    Found(u32),
    /// Not there (a `ForceCommand` host that runs something else): the command cannot be
    /// stopped on the host, only its channel closed.
    Absent,
}

/// A command running on its channel.
struct Running {
    channel: ssh2::Channel,
    stderr: ssh2::Stream,
    out: Capture,
    err: Capture,
    out_eof: bool,
    err_eof: bool,
    /// Bytes still to send from this offset, then EOF; `None` once EOF is sent.
    stdin: Option<(Arc<[u8]>, usize)>,
    pid: PidScan,
    deadline: Instant,
    timeout: Duration,
    /// Past its deadline: the channel's close is awaited until then.
    stopping: Option<Instant>,
    /// When the command went out; when its first stdout came back.
    sent: SystemTime,
    answered: Option<SystemTime>,
}

enum Progress {
    Idle,
    Moved,
    Done(Ran),
}

impl Running {
    fn new(channel: ssh2::Channel, spec: &Spec, sent: SystemTime) -> Self {
        Running {
            stderr: channel.stderr(),
            channel,
            out: Capture::new(spec.out_cap),
            err: Capture::new(spec.err_cap),
            out_eof: false,
            err_eof: false,
            stdin: Some((spec.stdin.clone().unwrap_or_else(|| Arc::from([])), 0)),
            pid: PidScan::Looking(Vec::new()),
            deadline: Instant::now() + spec.timeout,
            timeout: spec.timeout,
            stopping: None,
            sent,
            answered: None,
        }
    }

    /// One pass: [`Running::step`], then the deadline: past it, the command is stopped on the
    /// host (through `stopper`) and its channel's close awaited for [`STOP_GRACE`]. `next` gets
    /// the earliest deadline still ahead.
    fn pass(&mut self, buf: &mut [u8], stopper: &mut Stopper, next: &mut Option<Instant>) -> Progress {
        let progress = self.step(buf);
        if matches!(progress, Progress::Done(_)) {
            return progress;
        }
        let now = Instant::now();
        let mut soonest = |t: Instant| *next = Some(next.map_or(t, |d| d.min(t)));
        match self.stopping {
            // The host did not end it in time: give up on the close.
            Some(until) if now >= until => {
                let _ = self.channel.close();
                Progress::Done(self.finish(Outcome::Timeout(self.timeout)))
            }
            Some(until) => {
                soonest(until);
                progress
            }
            None if now >= self.deadline => {
                self.stopping = Some(now + STOP_GRACE);
                soonest(now + STOP_GRACE);
                match self.pid {
                    PidScan::Found(pid) => stopper.stop(Kill::Group(pid), now),
                    // Nothing to signal: closing our side is all there is.
                    _ => {
                        let _ = self.channel.close();
                    }
                }
                Progress::Moved
            }
            None => {
                soonest(self.deadline);
                progress
            }
        }
    }

    /// Send what stdin still owes; read what is there on both streams; once both ended, collect
    /// the exit status.
    fn step(&mut self, buf: &mut [u8]) -> Progress {
        // A command that exits without reading its stdin refuses the rest: not an error of the
        // connection (a lost connection shows on the reads below).
        let mut moved = match self.feed() {
            Ok(m) => m,
            Err(_) => {
                self.stdin = None;
                true
            }
        };
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
                        if is_err {
                            self.end_pid_scan();
                        }
                        moved = true;
                    }
                    Ok(0) => break,
                    Ok(n) if is_err => {
                        self.push_stderr(&buf[..n]);
                        moved = true;
                    }
                    Ok(n) => {
                        self.answered.get_or_insert_with(SystemTime::now);
                        self.out.push(&buf[..n]);
                        moved = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Progress::Done(self.lost(format!("reading output: {e}"))),
                }
            }
        }
        if !(self.out_eof && self.err_eof) {
            return if moved { Progress::Moved } else { Progress::Idle };
        }
        // Output complete: the exit status and the close follow.
        match self.channel.wait_close() {
            Ok(()) => {}
            Err(e) if code(&e) == LIBSSH2_ERROR_EAGAIN => {
                return if moved { Progress::Moved } else { Progress::Idle }
            }
            Err(e) if is_socket_error(&e) => return Progress::Done(self.lost(e.message().to_string())),
            Err(e) => return Progress::Done(Ran::Failed(format!("closing the channel: {}", e.message()))),
        }
        if self.stopping.is_some() {
            return Progress::Done(self.finish(Outcome::Timeout(self.timeout)));
        }
        let signal = self.channel.exit_signal().ok().and_then(|s| s.exit_signal);
        let outcome = match signal {
            Some(sig) => Outcome::Signal(sig),
            None => Outcome::Exited(self.channel.exit_status().unwrap_or(-1)),
        };
        Progress::Done(self.finish(outcome))
    }

    /// Stderr bytes: until the prelude's pid line is found, held back and searched.
    fn push_stderr(&mut self, bytes: &[u8]) {
        let PidScan::Looking(head) = &mut self.pid else {
            self.err.push(bytes);
            return;
        };
        head.extend_from_slice(bytes);
        let mut at = 0;
        while let Some(nl) = head[at..].iter().position(|&b| b == b'\n') {
            let line = &head[at..at + nl];
            if let Some(pid) = line
                .strip_prefix(PID_TAG)
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|p| p.trim().parse::<u32>().ok())
            {
                let head = std::mem::take(head);
                self.err.push(&head[..at]);
                self.err.push(&head[at + nl + 1..]);
                self.pid = PidScan::Found(pid);
                return;
            }
            at += nl + 1;
        }
        if head.len() > PID_TAG_WINDOW {
            self.end_pid_scan();
        }
    }

    /// No pid line (yet) and no more looking: what was held back is output.
    fn end_pid_scan(&mut self) {
        if let PidScan::Looking(head) = std::mem::replace(&mut self.pid, PidScan::Absent) {
            self.err.push(&head);
        }
    }

    /// Push pending stdin bytes, then EOF; true when something was sent.
    fn feed(&mut self) -> std::io::Result<bool> {
        let mut moved = false;
        while let Some((data, at)) = &mut self.stdin {
            if *at < data.len() {
                match self.channel.write(&data[*at..]) {
                    Ok(0) => return Ok(moved),
                    Ok(n) => {
                        *at += n;
                        moved = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(moved),
                    Err(e) => return Err(e),
                }
            } else {
                match self.channel.send_eof() {
                    Ok(()) => {
                        self.stdin = None;
                        return Ok(true);
                    }
                    Err(e) if code(&e) == LIBSSH2_ERROR_EAGAIN => return Ok(moved),
                    Err(e) => return Err(std::io::Error::other(e)),
                }
            }
        }
        Ok(moved)
    }

    fn finish(&mut self, outcome: Outcome) -> Ran {
        self.end_pid_scan();
        let (out, err) = self.take();
        let round_trip = self.answered.map(|answered| RoundTrip {
            sent: self.sent,
            answered,
        });
        Ran::Finished(outcome, out, err, round_trip)
    }

    fn lost(&mut self, why: String) -> Ran {
        self.end_pid_scan();
        let (out, err) = self.take();
        Ran::Lost(why, out, err)
    }

    fn take(&mut self) -> (Capture, Capture) {
        (
            std::mem::replace(&mut self.out, Capture::new(0)),
            std::mem::replace(&mut self.err, Capture::new(0)),
        )
    }
}

/// Where the channel that stops timed-out commands stands.
#[derive(Default)]
enum StopState {
    #[default]
    None,
    Opening(Vec<Kill>),
    Starting(ssh2::Channel, Vec<Kill>),
    Running(ssh2::Channel),
}

/// The second channel that ends timed-out commands' processes: one at a time, taking every
/// kill queued meanwhile (a batch's commands usually time out together).
#[derive(Default)]
pub(super) struct Stopper {
    queued: Vec<Kill>,
    state: StopState,
    /// Past this, an unfinished stopper is abandoned (the server would not open a channel).
    give_up: Option<Instant>,
}

impl Stopper {
    pub(super) fn stop(&mut self, kill: Kill, now: Instant) {
        self.queued.push(kill);
        self.give_up = Some(now + STOP_GRACE);
    }

    fn busy(&self) -> bool {
        !self.queued.is_empty() || !matches!(self.state, StopState::None)
    }

    /// Advance without blocking; true when something moved. A server that will not open
    /// another channel now (`MaxSessions`) is asked again on the next pass.
    fn step(&mut self, session: &ssh2::Session, buf: &mut [u8], now: Instant) -> bool {
        if self.give_up.is_some_and(|t| now >= t) && self.busy() {
            *self = Stopper::default();
            return true;
        }
        let eagain = |e: &ssh2::Error| code(e) == LIBSSH2_ERROR_EAGAIN;
        match std::mem::take(&mut self.state) {
            StopState::None if self.queued.is_empty() => false,
            StopState::None => {
                self.state = StopState::Opening(std::mem::take(&mut self.queued));
                true
            }
            StopState::Opening(pids) => match session.channel_session() {
                Ok(ch) => {
                    self.state = StopState::Starting(ch, pids);
                    true
                }
                Err(_) => {
                    self.state = StopState::Opening(pids);
                    false
                }
            },
            StopState::Starting(mut ch, pids) => match ch.exec(&stop_script(&pids)) {
                Ok(()) => {
                    let _ = ch.send_eof();
                    self.state = StopState::Running(ch);
                    true
                }
                Err(e) if eagain(&e) => {
                    self.state = StopState::Starting(ch, pids);
                    false
                }
                Err(_) => true,
            },
            StopState::Running(mut ch) => {
                let mut moved = false;
                for stream in [0, 1] {
                    loop {
                        let r = if stream == 0 {
                            ch.read(buf)
                        } else {
                            ch.stderr().read(buf)
                        };
                        match r {
                            Ok(n) if n > 0 => moved = true,
                            _ => break,
                        }
                    }
                }
                match ch.wait_close() {
                    Err(e) if eagain(&e) => {
                        self.state = StopState::Running(ch);
                        moved
                    }
                    // Closed (or failed): done with this one.
                    _ => true,
                }
            }
        }
    }
}

/// Run `specs` at once on the open session `c`, reading every stream as data arrives (no stream
/// can block another), each command bounded by its own timeout. Commands marked `batch` share
/// one channel when there are two or more of them ([`batch`]); the others get a channel each,
/// at most [`super::CHANNELS_PER_HOST`] at once (the rest are [`Ran::Later`]). `done` gets each
/// command's result as soon as it has one. While anything runs, `more(room)` is asked for up to
/// `room` commands queued for the host since (appended to `specs`, numbered on from there): they
/// start at once, beside what runs, rather than after it. Returns false when the host cannot run
/// batches (its batch's commands were not started: they are [`Ran::Later`]).
pub(super) fn exec_batch(
    c: &Connection,
    specs: &mut Vec<Spec>,
    more: &mut dyn FnMut(usize) -> Vec<Spec>,
    done: &mut dyn FnMut(usize, Ran),
) -> bool {
    let session = &c.session;
    session.set_blocking(false);
    let mut running: Vec<(usize, Running)> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let all: Vec<usize> = (0..specs.len()).collect();
    launch(c, specs, &all, &mut running, &mut groups, done);
    let mut supported = true;
    let mut buf = vec![0u8; 32 << 10];
    let mut stopper = Stopper::default();
    loop {
        let received = recv::received();
        let mut moved = false;
        let mut next_deadline: Option<Instant> = None;
        running.retain_mut(
            |(i, r)| match r.pass(&mut buf, &mut stopper, &mut next_deadline) {
                Progress::Done(result) => {
                    done(*i, result);
                    moved = true;
                    false
                }
                Progress::Moved => {
                    moved = true;
                    true
                }
                Progress::Idle => true,
            },
        );
        let mut asks = Asks::default();
        let mut kept = Vec::with_capacity(groups.len());
        for mut g in groups.drain(..) {
            // The split's answer, when its channel is done.
            if let Some(control) = &mut g.control {
                match control.pass(&mut buf, &mut stopper, &mut next_deadline) {
                    Progress::Done(Ran::Finished(_, out, _, _)) => {
                        g.batch.split_answer(&out.into_text(), &mut asks);
                        g.control = None;
                        moved = true;
                    }
                    Progress::Done(_) => {
                        g.control = None;
                        moved = true;
                    }
                    Progress::Moved => moved = true,
                    Progress::Idle => {}
                }
            }
            let mut own = Asks::default();
            let pass = g
                .batch
                .step(&mut buf, &mut stopper, &mut next_deadline, &mut own, done);
            if let Some(script) = own.split.take() {
                let spec = Spec {
                    command: script,
                    timeout: STOP_GRACE,
                    out_cap: 4096,
                    err_cap: 4096,
                    stdin: None,
                    batch: false,
                };
                let sent = SystemTime::now();
                // No channel for it now: the commands wait for the slow one, as they would alone.
                if let Ok(channel) = open(c, &spec, &remote_script(&spec)) {
                    g.control = Some(Running::new(channel, &spec, sent));
                }
            }
            asks.moved.append(&mut own.moved);
            match pass {
                Pass::Idle => kept.push(g),
                Pass::Moved => {
                    moved = true;
                    kept.push(g);
                }
                Pass::Closed => moved = true,
                Pass::Unsupported => {
                    supported = false;
                    moved = true;
                }
            }
        }
        groups = kept;
        // Commands queued since: in a batch of their own, beside what runs.
        if (!running.is_empty() || !groups.is_empty())
            && channels_in_use(&running, &groups) < super::CHANNELS_PER_HOST
        {
            let new = more(batch::MAX_BATCH);
            if !new.is_empty() {
                moved = true;
                let first = specs.len();
                specs.extend(new);
                let added: Vec<usize> = (first..specs.len()).collect();
                launch(c, specs, &added, &mut running, &mut groups, done);
            }
        }
        if !asks.moved.is_empty() {
            moved = true;
            launch(c, specs, &asks.moved, &mut running, &mut groups, done);
        }
        moved |= stopper.step(session, &mut buf, Instant::now());
        if running.is_empty() && groups.is_empty() && !stopper.busy() {
            break;
        }
        // Block only when this pass neither moved anything nor pulled anything into libssh2's
        // buffers: then nothing is waiting there, and whatever comes wakes the socket.
        if moved || recv::received() != received {
            continue;
        }
        let soon = Instant::now() + SAFETY_NET;
        wait_socket(c, next_deadline.map_or(soon, |d| d.min(soon)));
    }
    supported
}

/// A batch, and the channel asking the host to split it, while that runs.
struct Group {
    batch: Batch,
    control: Option<Running>,
}

/// Channels open on the session: commands alone, batches, and the batches' split channels.
fn channels_in_use(running: &[(usize, Running)], groups: &[Group]) -> usize {
    running.len()
        + groups
            .iter()
            .map(|g| 1 + usize::from(g.control.is_some()))
            .sum::<usize>()
}

/// Start the specs at `indices`: those that may share a channel as one batch when there are
/// two or more, the others each on a channel of their own while the host has channels to spare
/// ([`super::CHANNELS_PER_HOST`]; the rest are [`Ran::Later`]).
fn launch(
    c: &Connection,
    specs: &[Spec],
    indices: &[usize],
    running: &mut Vec<(usize, Running)>,
    groups: &mut Vec<Group>,
    done: &mut dyn FnMut(usize, Ran),
) {
    let (batched, alone): (Vec<usize>, Vec<usize>) = indices.iter().partition(|&&i| specs[i].batch);
    let (batched, alone) = if batched.len() >= 2 {
        (batched, alone)
    } else {
        (Vec::new(), indices.to_vec())
    };
    start_batch(c, specs, &batched, groups, running, done);
    for i in alone {
        if channels_in_use(running, groups) >= super::CHANNELS_PER_HOST {
            done(i, Ran::Later);
        } else {
            let others_open = !running.is_empty() || !groups.is_empty();
            start_one(c, specs, i, running, others_open, done);
        }
    }
}

/// Start spec `i` on a channel of its own; `done` has its result when it did not start
/// ([`Ran::Later`] when the server will not open another channel while `others_open`).
fn start_one(
    c: &Connection,
    specs: &[Spec],
    i: usize,
    running: &mut Vec<(usize, Running)>,
    others_open: bool,
    done: &mut dyn FnMut(usize, Ran),
) {
    let spec = &specs[i];
    // Before the channel opens: the command may run before `exec` returns, and a clock
    // reading's window must hold the moment it ran.
    let sent = SystemTime::now();
    match open(c, spec, &remote_script(spec)) {
        Ok(channel) => running.push((i, Running::new(channel, spec, sent))),
        // MaxSessions reached: try again once the others are done.
        Err(Unopened::Refused(_)) if others_open => done(i, Ran::Later),
        Err(e) => done(i, e.ran(spec.timeout)),
    }
}

/// Start the specs at `indices` (two or more) as one batch.
fn start_batch(
    c: &Connection,
    specs: &[Spec],
    indices: &[usize],
    groups: &mut Vec<Group>,
    running: &[(usize, Running)],
    done: &mut dyn FnMut(usize, Ran),
) {
    let Some(&first) = indices.first() else {
        return;
    };
    let commands: Vec<&str> = indices.iter().map(|&i| specs[i].command.as_str()).collect();
    let nonce = batch::nonce();
    let script = batch::script(&nonce, &commands);
    let lead = Spec {
        command: batch::BATCH_COMMAND.to_string(),
        timeout: indices
            .iter()
            .map(|&i| specs[i].timeout)
            .max()
            .unwrap_or_default(),
        out_cap: specs[first].out_cap,
        err_cap: specs[first].err_cap,
        stdin: None,
        batch: false,
    };
    let sent = SystemTime::now();
    match open_with_input(c, &lead, &lead.command, script.as_bytes()) {
        Ok(channel) => {
            let members: Vec<(usize, Duration)> = indices.iter().map(|&i| (i, specs[i].timeout)).collect();
            let batch = Batch::new(channel, &nonce, sent, &members, lead.out_cap, lead.err_cap);
            groups.push(Group { batch, control: None });
        }
        Err(Unopened::Refused(_)) if !running.is_empty() || !groups.is_empty() => {
            indices.iter().for_each(|&i| done(i, Ran::Later));
        }
        Err(Unopened::Refused(why)) => indices
            .iter()
            .for_each(|&i| done(i, Unopened::Refused(why.clone()).ran(specs[i].timeout))),
        Err(Unopened::Lost(why)) => indices
            .iter()
            .for_each(|&i| done(i, Unopened::Lost(why.clone()).ran(specs[i].timeout))),
        Err(Unopened::Timeout) => indices
            .iter()
            .for_each(|&i| done(i, Unopened::Timeout.ran(specs[i].timeout))),
    }
}

/// Why a channel did not start.
enum Unopened {
    /// Not within the command's timeout.
    Timeout,
    /// The connection failed.
    Lost(String),
    /// The server refused the channel (`MaxSessions`) or the command.
    Refused(String),
}

impl Unopened {
    /// The result of a command whose channel did not start.
    fn ran(self, timeout: Duration) -> Ran {
        match self {
            Unopened::Timeout => {
                Ran::Finished(Outcome::Timeout(timeout), Capture::new(0), Capture::new(0), None)
            }
            Unopened::Lost(why) => Ran::Lost(why, Capture::new(0), Capture::new(0)),
            Unopened::Refused(why) => Ran::Failed(format!("cannot run the command: {why}")),
        }
    }
}

/// Open a channel and start `script` on it, within `spec`'s timeout.
fn open(c: &Connection, spec: &Spec, script: &str) -> Result<ssh2::Channel, Unopened> {
    open_with_input(c, spec, script, &[])
}

/// Open a channel, start `command` on it and, when `input` is not empty, send it as the
/// command's whole stdin (then EOF), within `spec`'s timeout. Input that must not be in any
/// argv on the host (a batch's script and nonce) travels this way.
fn open_with_input(
    c: &Connection,
    spec: &Spec,
    command: &str,
    input: &[u8],
) -> Result<ssh2::Channel, Unopened> {
    let deadline = Instant::now() + spec.timeout;
    let session = &c.session;
    let opened = nb(c, deadline, || session.channel_session()).and_then(|mut ch| {
        nb(c, deadline, || ch.exec(command))?;
        if !input.is_empty() {
            let mut at = 0;
            while at < input.len() {
                at += nb(c, deadline, || match ch.write(&input[at..]) {
                    Ok(n) => Ok(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => Err(ssh2::Error::from_errno(
                        ssh2::ErrorCode::Session(LIBSSH2_ERROR_EAGAIN),
                    )),
                    Err(_) => Err(ssh2::Error::new(
                        ssh2::ErrorCode::Session(LIBSSH2_ERROR_SOCKET_SEND),
                        "sending the batch script",
                    )),
                })?;
            }
            nb(c, deadline, || ch.send_eof())?;
        }
        Ok(ch)
    });
    opened.map_err(|e| match e {
        Nb::Timeout => Unopened::Timeout,
        Nb::Ssh(e) if is_socket_error(&e) => Unopened::Lost(e.message().to_string()),
        Nb::Ssh(e) => Unopened::Refused(e.message().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prelude is one line; the command follows untouched.
    #[test]
    fn prelude_then_command_untouched() {
        let spec = Spec {
            command: "echo 'a\nb'; exit 3".into(),
            timeout: Duration::from_secs(5),
            out_cap: 1,
            err_cap: 1,
            stdin: None,
            batch: false,
        };
        let s = remote_script(&spec);
        let (prelude, command) = s.split_once('\n').unwrap();
        assert_eq!(command, "echo 'a\nb'; exit 3");
        assert_eq!(prelude, "echo rolecall:pid=$$ >&2");
        assert_eq!(
            stop_script(&[Kill::Group(12), Kill::Group(34)]),
            "kill -TERM -- -12 -34 2>/dev/null; sleep 1; kill -KILL -- -12 -34 2>/dev/null; true"
        );
    }

    /// The prelude in a real POSIX shell: its pid line comes first on stderr, the exit status is
    /// the command's, and a signal kills the command as if it were sent alone.
    #[test]
    fn prelude_in_a_real_shell() {
        use std::process::{Command, Stdio};
        let spec = |command: &str| Spec {
            command: command.into(),
            timeout: Duration::from_secs(5),
            out_cap: 1,
            err_cap: 1,
            stdin: None,
            batch: false,
        };
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(remote_script(&spec("echo out; echo err >&2; exit 7")))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("rolecall:pid=") && err.ends_with("\nerr\n"),
            "{err}"
        );
        assert_eq!(out.status.code(), Some(7));
    }
}
