//! One command on a channel of its own: [`Spec`] (what to send), [`Running`] (reading both
//! streams and feeding stdin without blocking, the exit status, the command's deadline) and
//! [`Ran`] (how it ended). Every command is sent behind a one-line prelude that tells its
//! process id ([`remote_script`]); on timeout the [`Stopper`] ends that process group, and the
//! command's channel is awaited until it closes, so the server frees the session
//! (`MaxSessions`) before the next command.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::chan::Channel;
use super::codes::{
    code, LIBSSH2_ERROR_EAGAIN, LIBSSH2_ERROR_SOCKET_DISCONNECT, LIBSSH2_ERROR_SOCKET_RECV,
    LIBSSH2_ERROR_SOCKET_SEND,
};
use super::stop::{Kill, Stopper, Via, STOP_GRACE};
use crate::remote::{Capture, Outcome, RoundTrip};
/// The line the prelude writes first on stderr (then the shell's pid); removed from the output.
const PID_TAG: &[u8] = b"rolecall:pid=";
/// Stderr bytes looked through for the tag (a shell may warn about locales first).
const PID_TAG_WINDOW: usize = 4096;

/// One command to run on a channel.
#[derive(Clone)]
pub(super) struct Spec {
    pub(super) command: String,
    pub(super) timeout: Duration,
    pub(super) out_cap: usize,
    pub(super) err_cap: usize,
    /// Bytes for the command's stdin, then EOF; `None` = EOF at once.
    pub(super) stdin: Option<Arc<[u8]>>,
    /// May share one channel with other commands ([`super::batch`]).
    pub(super) batch: bool,
    /// Run through sudo as this user: stopped the same way.
    pub(super) via: Option<Via>,
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

pub(super) fn is_socket_error(e: &ssh2::Error) -> bool {
    matches!(
        code(e),
        -1 | LIBSSH2_ERROR_SOCKET_SEND | LIBSSH2_ERROR_SOCKET_DISCONNECT | LIBSSH2_ERROR_SOCKET_RECV
    )
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
pub(super) struct Running {
    channel: Channel,
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
    via: Option<Via>,
}

pub(super) enum Progress {
    Idle,
    Moved,
    Done(Ran),
}

impl Running {
    pub(super) fn new(channel: Channel, spec: &Spec, sent: SystemTime, now: Instant) -> Self {
        Running {
            channel,
            out: Capture::new(spec.out_cap),
            err: Capture::new(spec.err_cap),
            out_eof: false,
            err_eof: false,
            stdin: Some((spec.stdin.clone().unwrap_or_else(|| Arc::from([])), 0)),
            pid: PidScan::Looking(Vec::new()),
            deadline: now + spec.timeout,
            timeout: spec.timeout,
            stopping: None,
            sent,
            answered: None,
            via: spec.via.clone(),
        }
    }

    /// The run was interrupted: the command is stopped on the next pass, as on its timeout.
    pub(super) fn expire(&mut self, now: Instant) {
        self.deadline = self.deadline.min(now);
    }

    /// One pass: [`Running::step`], then the deadline: past it, the command is stopped on the
    /// host (through `stopper`) and its channel's close awaited for [`STOP_GRACE`]. `next` gets
    /// the earliest deadline still ahead.
    pub(super) fn pass(
        &mut self,
        buf: &mut [u8],
        stopper: &mut Stopper,
        next: &mut Option<Instant>,
        now: Instant,
    ) -> Progress {
        let progress = self.step(buf);
        if matches!(progress, Progress::Done(_)) {
            return progress;
        }
        let mut soonest = |t: Instant| *next = Some(next.map_or(t, |d| d.min(t)));
        match self.stopping {
            // The host did not end it in time: give up on the close.
            Some(until) if now >= until => {
                self.channel.close();
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
                    PidScan::Found(pid) => stopper.stop(Kill::Group(pid), self.via.as_ref(), now),
                    // Nothing to signal: closing our side is all there is.
                    _ => {
                        self.channel.close();
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
                    (self.err_eof, self.channel.read(true, buf))
                } else {
                    (self.out_eof, self.channel.read(false, buf))
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
        let outcome = match (self.channel.exit_signal(), self.channel.exit_status()) {
            (Some(sig), _) => Outcome::Signal(sig),
            (None, Some(status)) => Outcome::Exited(status),
            (None, None) => {
                return Progress::Done(Ran::Failed(
                    "the server closed the channel without an exit status or signal".into(),
                ))
            }
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
            via: None,
        };
        let s = remote_script(&spec);
        let (prelude, command) = s.split_once('\n').unwrap();
        assert_eq!(command, "echo 'a\nb'; exit 3");
        assert_eq!(prelude, "echo rolecall:pid=$$ >&2");
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
            via: None,
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
