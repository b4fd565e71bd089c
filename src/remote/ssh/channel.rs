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
//! - **A timed-out command is stopped on the host.** Every command is sent behind a small
//!   POSIX-sh prelude ([`remote_script`]); on timeout the client tells it to end the session's
//!   process group (TERM, then KILL), and waits for the channel's close so that the server
//!   frees the session (`MaxSessions`) before the next command.

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
/// After a timeout: how long the host gets to end the command (TERM, 2 s, KILL) and close the
/// channel.
const STOP_GRACE: Duration = Duration::from_secs(4);
/// With `--stdin` the channel's stdin carries data, so the prelude's own timer stops the
/// command; it fires this long after the client's deadline at the latest.
const STDIN_TIMER_SLACK: Duration = Duration::from_secs(1);

/// One command to run on a channel.
pub(super) struct Spec {
    pub(super) command: String,
    pub(super) timeout: Duration,
    pub(super) out_cap: usize,
    pub(super) err_cap: usize,
    /// Bytes for the command's stdin (then EOF); `None` = stdin is empty.
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

/// The text sent to the host's login shell for `spec`: a one-line prelude, then the command as
/// given, so its exit status (or signal) is reported as if it were sent alone.
///
/// The command's stdin is `/dev/null` (or the `--stdin` bytes). Without `--stdin`, the channel's
/// stdin is kept by a watcher that ends the session's process group (sshd makes one per
/// session) when the client sends a line: the stop order on timeout. When the command ends,
/// sshd closes that pipe and the watcher leaves quietly. With `--stdin`, a timer does it
/// instead, and only if the command is still running. Either is started from a subshell, so it
/// is no job of the command's shell: a `wait` in the command does not wait for it, and `$!` is
/// the command's own.
pub(super) fn remote_script(spec: &Spec) -> String {
    const STOP: &str = "kill -TERM 0; sleep 2; kill -KILL 0";
    let prelude = match spec.stdin {
        None => format!(
            "exec 3<&0 </dev/null; ({{ trap '' TERM; read -r _ <&3 && {{ {STOP}; }}; }} >/dev/null 2>&1 &); exec 3<&-"
        ),
        Some(_) => {
            let secs = (spec.timeout + STDIN_TIMER_SLACK).as_secs().max(1);
            format!(
                "p=$$; ({{ trap '' TERM; sleep {secs}; kill -0 $p && {{ {STOP}; }}; }} </dev/null >/dev/null 2>&1 &); unset p"
            )
        }
    };
    format!("{prelude}\n{}", spec.command)
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

/// Where a running command's stdin stands.
enum Stdin {
    /// Bytes still to send from this offset, then EOF.
    Feeding(Arc<[u8]>, usize),
    /// Nothing more to send (EOF sent, or the prelude's watcher holds it).
    Done,
    /// The stop line is due (timeout without `--stdin`).
    Stop,
}

/// A command running on its channel.
struct Running {
    channel: ssh2::Channel,
    stderr: ssh2::Stream,
    out: Capture,
    err: Capture,
    out_eof: bool,
    err_eof: bool,
    stdin: Stdin,
    /// The prelude's watcher holds the channel's stdin (no `--stdin`): a line stops the command.
    watcher: bool,
    deadline: Instant,
    timeout: Duration,
    /// Past its deadline: the stop order went out; the channel's close is awaited until then.
    stopping: Option<Instant>,
    /// When the command went out; when its first output came back.
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
                self.stdin = Stdin::Done;
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
                        moved = true;
                    }
                    Ok(0) => break,
                    Ok(n) => {
                        self.answered.get_or_insert_with(SystemTime::now);
                        let sink = if is_err { &mut self.err } else { &mut self.out };
                        sink.push(&buf[..n]);
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

    /// Push pending stdin bytes (or the stop line); true when something was sent.
    fn feed(&mut self) -> std::io::Result<bool> {
        let mut moved = false;
        loop {
            match &mut self.stdin {
                Stdin::Done => return Ok(moved),
                Stdin::Stop => match self.channel.write(b"\n") {
                    Ok(0) => return Ok(moved),
                    Ok(_) => {
                        self.stdin = Stdin::Done;
                        return Ok(true);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(moved),
                    Err(e) => return Err(e),
                },
                Stdin::Feeding(data, at) if *at < data.len() => match self.channel.write(&data[*at..]) {
                    Ok(0) => return Ok(moved),
                    Ok(n) => {
                        *at += n;
                        moved = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(moved),
                    Err(e) => return Err(e),
                },
                Stdin::Feeding(..) => match self.channel.send_eof() {
                    Ok(()) => {
                        self.stdin = Stdin::Done;
                        return Ok(true);
                    }
                    Err(e) if code(&e) == LIBSSH2_ERROR_EAGAIN => return Ok(moved),
                    Err(e) => return Err(std::io::Error::other(e)),
                },
            }
        }
    }

    /// The deadline passed: order the command to stop (or, with `--stdin`, rely on the
    /// prelude's timer and close our side), then wait for the channel's close.
    fn stop(&mut self, now: Instant) {
        let grace = if self.watcher {
            self.stdin = Stdin::Stop;
            STOP_GRACE
        } else {
            let _ = self.channel.close();
            self.stdin = Stdin::Done;
            STOP_GRACE + STDIN_TIMER_SLACK
        };
        self.stopping = Some(now + grace);
    }

    fn finish(&mut self, outcome: Outcome) -> Ran {
        let (out, err) = self.take();
        let round_trip = self.answered.map(|answered| RoundTrip {
            sent: self.sent,
            answered,
        });
        Ran::Finished(outcome, out, err, round_trip)
    }

    fn lost(&mut self, why: String) -> Ran {
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
                    stdin: match &spec.stdin {
                        Some(data) => Stdin::Feeding(Arc::clone(data), 0),
                        None => Stdin::Done,
                    },
                    watcher: spec.stdin.is_none(),
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
                    r.stop(now);
                    moved = true;
                }
                None => next_deadline = Some(next_deadline.map_or(r.deadline, |d| d.min(r.deadline))),
            }
        }
        if running.iter().all(Option::is_none) {
            break;
        }
        // Block only when this pass neither moved anything nor pulled anything into libssh2's
        // buffers: then nothing is waiting there, and whatever comes wakes the socket.
        if moved || recv::received() != received {
            continue;
        }
        if let Some(deadline) = next_deadline {
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

    fn spec(command: &str, stdin: Option<&[u8]>) -> Spec {
        Spec {
            command: command.into(),
            timeout: Duration::from_secs(5),
            out_cap: 1,
            err_cap: 1,
            stdin: stdin.map(Arc::from),
        }
    }

    /// The prelude is one line; the command follows untouched.
    #[test]
    fn prelude_then_command_untouched() {
        let s = remote_script(&spec("echo 'a\nb'; exit 3", None));
        let (prelude, command) = s.split_once('\n').unwrap();
        assert_eq!(command, "echo 'a\nb'; exit 3");
        assert!(prelude.contains("</dev/null"), "{prelude}");
        assert!(prelude.contains("read -r _ <&3"), "{prelude}");
        let s = remote_script(&spec("cat", Some(b"x")));
        let (prelude, command) = s.split_once('\n').unwrap();
        assert_eq!(command, "cat");
        assert!(prelude.contains("sleep 6;"), "{prelude}");
        assert!(!prelude.contains("/dev/null &"), "{prelude}");
    }

    /// Regression: the watcher was a job of the command's shell, so a command ending in `wait`
    /// waited for it, i.e. for its own timeout.
    #[test]
    fn a_waiting_command_does_not_wait_for_the_watcher() {
        use std::process::{Command, Stdio};
        let start = std::time::Instant::now();
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(remote_script(&spec("sleep 0.1 & wait; echo done", None)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Keep the watcher's stdin open, as sshd does while the command runs.
        let _stdin = child.stdin.take();
        let status = child.wait().unwrap();
        assert!(status.success());
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    }

    /// The prelude runs in a real POSIX shell: stdin is empty, the exit status is the command's,
    /// and a stop line ends a command that would otherwise run on.
    #[test]
    fn prelude_in_a_real_shell() {
        use std::process::{Command, Stdio};
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(remote_script(&spec("read x || echo empty; exit 7", None)))
            .stdin(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "empty\n");
        assert_eq!(out.status.code(), Some(7));
    }
}
