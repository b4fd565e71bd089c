//! Running a batch of commands on one open session, each on its own channel, all read together
//! on the non-blocking session: no stream can block another, and each command has its own
//! deadline.

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

use super::connect::Connection;
use super::{
    code, LIBSSH2_ERROR_EAGAIN, LIBSSH2_ERROR_SOCKET_DISCONNECT, LIBSSH2_ERROR_SOCKET_RECV,
    LIBSSH2_ERROR_SOCKET_SEND,
};
use crate::remote::{wait, Capture, Outcome};

/// One command to run on a channel.
pub(super) struct Spec {
    pub(super) command: String,
    pub(super) timeout: Duration,
    pub(super) out_cap: usize,
    pub(super) err_cap: usize,
}

/// How one command of a batch ended.
pub(super) enum Ran {
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
pub(super) fn exec_batch(c: &Connection, specs: &[Spec]) -> Vec<Ran> {
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
