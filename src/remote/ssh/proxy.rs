//! ssh_config's `ProxyCommand`, run as `ssh` runs it: `sh -c COMMAND` (tokens already
//! expanded by the caller), its stdin and stdout the SSH stream. The session talks to one end
//! of a socket pair; two threads move bytes between the other end and the command's pipes.
//! The command runs in a process group of its own, killed (with anything it started) when the
//! session ends; what it prints on stderr is kept (the last few KB) for the host's error.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// Bytes of the command's stderr kept.
const STDERR_TAIL: usize = 4096;

/// A running `ProxyCommand`.
pub(super) struct Proxy {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// Start `command`; the returned socket is the SSH stream.
    pub(super) fn start(command: &str) -> io::Result<(Self, UnixStream)> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let (ours, theirs) = UnixStream::pair()?;
        let (Some(mut stdin), Some(mut stdout), Some(mut err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the ProxyCommand's pipes were not set up"));
        };
        let mut to_session = ours.try_clone()?;
        let mut from_session = ours;
        std::thread::spawn(move || {
            let _ = io::copy(&mut stdout, &mut to_session);
            let _ = to_session.shutdown(std::net::Shutdown::Write);
        });
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                match from_session.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stdin.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let tail = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut t = tail.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                t.extend_from_slice(&buf[..n]);
                if t.len() > STDERR_TAIL {
                    let cut = t.len() - STDERR_TAIL;
                    t.drain(..cut);
                }
            }
        });
        Ok((Self { child, stderr }, theirs))
    }

    /// The end of what the command printed on stderr, and how it ended if it has.
    pub(super) fn describe(&mut self) -> String {
        // A moment for a failing command's last words to arrive.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let text = {
            let t = self
                .stderr
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            String::from_utf8_lossy(&t).trim().to_string()
        };
        let ended = match self.child.try_wait() {
            Ok(Some(s)) => format!("the ProxyCommand ended ({s})"),
            _ => "the ProxyCommand still runs".to_string(),
        };
        if text.is_empty() {
            ended
        } else {
            format!("{ended}; its stderr: {}", text.escape_debug())
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        crate::child::kill_group(&mut self.child);
        let _ = self.child.wait();
    }
}
