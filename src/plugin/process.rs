//! A plugin-host child process seen from rolecall: started, fed, watched (a deadline kills it),
//! and, when it ends without finishing, described in one line (signal, exit status, deadline)
//! with the tail of what it wrote to stderr.
//!
//! The host runs in a process group of its own, and every kill (the deadline, a protocol
//! violation, its end, rolecall's own SIGINT/SIGTERM through `plugin::reap`) takes the whole
//! group: a grandchild a plugin forks cannot outlive the run. Its stdout is read with a poll, so
//! a grandchild that escaped the group and holds the pipe open cannot hold the run either: once
//! the host has ended, the pipe's end is its end.

use std::io::{self, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::reap;
use super::wire::PLUGIN_HOST_ARG;
use crate::child::kill_group;
use crate::remote::wait;

/// Environment variable naming the executable to run as plugin host (default: this one). For
/// embedding the library in another program, and for tests of the library itself.
pub const PLUGIN_HOST_ENV: &str = "ROLECALL_PLUGIN_HOST";

/// Bytes of a plugin host's stderr kept for the message when it dies.
const STDERR_TAIL: usize = 2048;

/// A running plugin host.
pub struct HostProcess {
    child: Arc<Mutex<Child>>,
    pub stdin: Option<ChildStdin>,
    pub stdout: BufReader<HostOut>,
    stderr: Option<mpsc::Receiver<Vec<u8>>>,
    stop_watch: Option<mpsc::Sender<()>>,
    watch: Option<JoinHandle<()>>,
    timed_out: Arc<AtomicBool>,
    started: Instant,
    _recorded: reap::Recorded,
}

/// The host's stdout: reads block only while the host lives (a poll(2) every 100 ms asks), so a
/// grandchild holding the pipe open cannot hold rolecall after the host has ended.
pub struct HostOut {
    pipe: ChildStdout,
    child: Arc<Mutex<Child>>,
}

impl std::fmt::Debug for HostOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostOut").finish_non_exhaustive()
    }
}

impl Read for HostOut {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if wait::socket(self.pipe.as_raw_fd(), false, Duration::from_millis(100)) {
                return self.pipe.read(buf);
            }
            let mut c = self.child.lock().unwrap_or_else(|p| p.into_inner());
            if !matches!(c.try_wait(), Ok(None)) {
                // Ended (or cannot be asked): what is left in its group goes too. What it wrote
                // just before it ended is still read; then nothing more comes from it.
                kill_group(&mut c);
                drop(c);
                if wait::socket(self.pipe.as_raw_fd(), false, Duration::ZERO) {
                    return self.pipe.read(buf);
                }
                return Ok(0);
            }
        }
    }
}

impl std::fmt::Debug for HostProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostProcess").finish_non_exhaustive()
    }
}

/// How a plugin host ended.
#[derive(Debug)]
pub struct Ended {
    pub status: Option<ExitStatus>,
    /// Killed at the deadline.
    pub timed_out: bool,
    pub stderr_tail: String,
    pub ran_for: Duration,
}

impl Ended {
    /// One line for a plugin host that did not finish its work.
    pub fn describe(&self) -> String {
        let what = if self.timed_out {
            format!("stopped at the deadline after {:.1}s", self.ran_for.as_secs_f64())
        } else {
            match self.status {
                Some(s) => match s.signal() {
                    Some(sig) => format!("crashed: killed by signal {}", signal_name(sig)),
                    None => format!(
                        "ended its process with exit status {} before finishing (a call to `exit()`?)",
                        s.code().unwrap_or(-1)
                    ),
                },
                None => "its process could not be waited for".to_string(),
            }
        };
        let tail = self.stderr_tail.trim();
        if tail.is_empty() {
            what
        } else {
            format!("{what}; its stderr ended with: {}", tail.escape_debug())
        }
    }
}

/// `SIGSEGV (segmentation fault)` and the like.
pub fn signal_name(sig: i32) -> String {
    let (name, what) = match sig {
        libc::SIGHUP => ("SIGHUP", "hangup"),
        libc::SIGINT => ("SIGINT", "interrupt"),
        libc::SIGQUIT => ("SIGQUIT", "quit"),
        libc::SIGILL => ("SIGILL", "illegal instruction"),
        libc::SIGTRAP => ("SIGTRAP", "trap"),
        libc::SIGABRT => ("SIGABRT", "abort"),
        libc::SIGBUS => ("SIGBUS", "bus error"),
        libc::SIGFPE => ("SIGFPE", "arithmetic error"),
        libc::SIGKILL => ("SIGKILL", "killed"),
        libc::SIGSEGV => ("SIGSEGV", "segmentation fault"),
        libc::SIGPIPE => ("SIGPIPE", "broken pipe"),
        libc::SIGTERM => ("SIGTERM", "terminated"),
        libc::SIGSYS => ("SIGSYS", "bad system call"),
        _ => return format!("{sig}"),
    };
    format!("{name} ({what})")
}

impl HostProcess {
    /// Start `rolecall __plugin-host`, killed at `deadline` if it is still running then.
    pub fn spawn(deadline: Option<Instant>) -> io::Result<Self> {
        let exe = match std::env::var_os(PLUGIN_HOST_ENV) {
            Some(p) if !p.is_empty() => p.into(),
            _ => std::env::current_exe()?,
        };
        let mut child = Command::new(exe)
            .arg(PLUGIN_HOST_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let recorded = reap::record(i32::try_from(child.id()).unwrap_or(0));
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the plugin host's pipes were not set up"));
        };
        // Through a channel, not a join: a grandchild the plugin left behind may hold stderr open.
        let (tail_tx, tail_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tail: Vec<u8> = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * STDERR_TAIL {
                    tail.drain(..tail.len() - STDERR_TAIL);
                }
            }
            let keep = tail.len().saturating_sub(STDERR_TAIL);
            let _ = tail_tx.send(tail.split_off(keep));
        });
        let child = Arc::new(Mutex::new(child));
        let timed_out = Arc::new(AtomicBool::new(false));
        let (stop_watch, watch) = match deadline {
            None => (None, None),
            Some(d) => {
                let (tx, rx) = mpsc::channel::<()>();
                let (child, timed_out) = (Arc::clone(&child), Arc::clone(&timed_out));
                let watch = std::thread::spawn(move || {
                    let wait = d.saturating_duration_since(Instant::now());
                    if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(wait) {
                        timed_out.store(true, Ordering::SeqCst);
                        let mut c = child.lock().unwrap_or_else(|p| p.into_inner());
                        kill_group(&mut c);
                    }
                });
                (Some(tx), Some(watch))
            }
        };
        Ok(Self {
            stdout: BufReader::new(HostOut {
                pipe: stdout,
                child: Arc::clone(&child),
            }),
            child,
            stdin: Some(stdin),
            stderr: Some(tail_rx),
            stop_watch,
            watch,
            timed_out,
            started: Instant::now(),
            _recorded: recorded,
        })
    }

    /// Kill the host now (a flood, a protocol violation).
    pub fn kill(&self) {
        let mut c = self.child.lock().unwrap_or_else(|p| p.into_inner());
        kill_group(&mut c);
    }

    /// Wait for the host to end (killing it if it lingers after closing its pipe).
    pub fn finish(mut self) -> Ended {
        drop(self.stdin.take());
        let status = {
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                let mut c = self.child.lock().unwrap_or_else(|p| p.into_inner());
                match c.try_wait() {
                    Ok(Some(s)) => {
                        kill_group(&mut c);
                        break Some(s);
                    }
                    Ok(None) if Instant::now() < deadline => {}
                    Ok(None) => {
                        kill_group(&mut c);
                        break c.wait().ok();
                    }
                    Err(_) => break None,
                }
                drop(c);
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        if let Some(tx) = self.stop_watch.take() {
            let _ = tx.send(());
        }
        if let Some(w) = self.watch.take() {
            let _ = w.join();
        }
        let tail = self
            .stderr
            .take()
            .and_then(|rx| rx.recv_timeout(Duration::from_millis(500)).ok())
            .unwrap_or_default();
        Ended {
            status,
            timed_out: self.timed_out.load(Ordering::SeqCst),
            stderr_tail: String::from_utf8_lossy(&tail).into_owned(),
            ran_for: self.started.elapsed(),
        }
    }
}
