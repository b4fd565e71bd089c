//! Running a batch of commands on one open session, each on its own channel, all read together
//! on the non-blocking session: no stream can block another, and each command has its own
//! deadline.
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
//!   next command. Nothing extra runs on the host otherwise.

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::connect::Connection;
use super::{
    code, recv, LIBSSH2_ERROR_EAGAIN, LIBSSH2_ERROR_SOCKET_DISCONNECT, LIBSSH2_ERROR_SOCKET_RECV,
    LIBSSH2_ERROR_SOCKET_SEND,
};
use crate::remote::{wait, Capture, Outcome, RoundTrip};

/// The longest single wait on the socket.
const SAFETY_NET: Duration = Duration::from_millis(50);
/// After a timeout: how long the host gets to end the command and close its channel.
const STOP_GRACE: Duration = Duration::from_secs(5);
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
}

/// How one command of a batch ended.
pub(super) enum Ran {
    Finished(Outcome, Capture, Capture, Option<RoundTrip>),
    /// The channel could not be opened or started (the session is fine).
    Failed(String),
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

/// What a timeout sends on a second channel: TERM to each process group, KILL a second later.
fn stop_script(pids: &[u32]) -> String {
    let groups: Vec<String> = pids.iter().map(|p| format!("-{p}")).collect();
    let groups = groups.join(" ");
    format!("kill -TERM -- {groups} 2>/dev/null; sleep 1; kill -KILL -- {groups} 2>/dev/null; true")
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
    Opening(Vec<u32>),
    Starting(ssh2::Channel, Vec<u32>),
    Running(ssh2::Channel),
}

/// The second channel that ends timed-out commands' process groups: one at a time, taking
/// every pid queued meanwhile (a batch's commands usually time out together).
#[derive(Default)]
struct Stopper {
    queued: Vec<u32>,
    state: StopState,
    /// Past this, an unfinished stopper is abandoned (the server would not open a channel).
    give_up: Option<Instant>,
}

impl Stopper {
    fn stop(&mut self, pid: u32, now: Instant) {
        self.queued.push(pid);
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

/// Run `specs` at once on the open session `c`, one channel each, reading every stream as data
/// arrives (no stream can block another), each command bounded by its own timeout.
pub(super) fn exec_batch(c: &Connection, specs: &[Spec]) -> Vec<Ran> {
    let session = &c.session;
    session.set_blocking(false);
    let mut ran: Vec<Option<Ran>> = specs.iter().map(|_| None).collect();
    let mut running: Vec<Option<Running>> = specs.iter().map(|_| None).collect();
    for (i, spec) in specs.iter().enumerate() {
        let deadline = Instant::now() + spec.timeout;
        let script = remote_script(spec);
        let opened = nb(c, deadline, || session.channel_session()).and_then(|mut ch| {
            nb(c, deadline, || ch.exec(&script))?;
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
                    stdin: Some((spec.stdin.clone().unwrap_or_else(|| Arc::from([])), 0)),
                    pid: PidScan::Looking(Vec::new()),
                    deadline,
                    timeout: spec.timeout,
                    stopping: None,
                    sent: SystemTime::now(),
                    answered: None,
                })
            }
            Err(Nb::Timeout) => {
                ran[i] = Some(Ran::Finished(
                    Outcome::Timeout(spec.timeout),
                    Capture::new(0),
                    Capture::new(0),
                    None,
                ))
            }
            Err(Nb::Ssh(e)) if is_socket_error(&e) => {
                ran[i] = Some(Ran::Lost(
                    e.message().to_string(),
                    Capture::new(0),
                    Capture::new(0),
                ))
            }
            // MaxSessions reached: try again once the others are done.
            Err(Nb::Ssh(_)) if running.iter().any(Option::is_some) => ran[i] = Some(Ran::Later),
            Err(Nb::Ssh(e)) => ran[i] = Some(Ran::Failed(format!("cannot run the command: {}", e.message()))),
        }
    }
    let mut buf = vec![0u8; 32 << 10];
    let mut stopper = Stopper::default();
    loop {
        let received = recv::received();
        let mut moved = false;
        let mut next_deadline: Option<Instant> = None;
        for (i, slot) in running.iter_mut().enumerate() {
            let Some(r) = slot else { continue };
            let progress = r.step(&mut buf);
            let now = Instant::now();
            match progress {
                Progress::Done(result) => {
                    ran[i] = Some(result);
                    *slot = None;
                    moved = true;
                    continue;
                }
                Progress::Moved => moved = true,
                Progress::Idle => {}
            }
            match r.stopping {
                // The host did not end it in time: give up on the close.
                Some(until) if now >= until => {
                    let _ = r.channel.close();
                    ran[i] = Some(r.finish(Outcome::Timeout(r.timeout)));
                    *slot = None;
                    moved = true;
                }
                Some(until) => next_deadline = Some(next_deadline.map_or(until, |d| d.min(until))),
                None if now >= r.deadline => {
                    r.stopping = Some(now + STOP_GRACE);
                    match r.pid {
                        PidScan::Found(pid) => stopper.stop(pid, now),
                        // Nothing to signal: closing our side is all there is.
                        _ => {
                            let _ = r.channel.close();
                        }
                    }
                    moved = true;
                }
                None => next_deadline = Some(next_deadline.map_or(r.deadline, |d| d.min(r.deadline))),
            }
        }
        moved |= stopper.step(session, &mut buf, Instant::now());
        if running.iter().all(Option::is_none) && !stopper.busy() {
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
    ran.into_iter()
        .map(|r| r.unwrap_or_else(|| Ran::Failed("internal error: no result".into())))
        .collect()
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
        };
        let s = remote_script(&spec);
        let (prelude, command) = s.split_once('\n').unwrap();
        assert_eq!(command, "echo 'a\nb'; exit 3");
        assert_eq!(prelude, "echo rolecall:pid=$$ >&2");
        assert_eq!(
            stop_script(&[12, 34]),
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
