//! Ctrl-C (SIGINT) and SIGTERM during a run that talks to hosts (`debug`, `run`): the first one
//! stops the run in order, the second ends rolecall at once.
//!
//! While [`arm`]ed, the first SIGINT/SIGTERM/SIGHUP only wakes a watcher thread (the signal
//! handler writes one byte to a pipe: async-signal-safe), which calls the run's stop (the
//! executor's [`crate::remote::Executor::interrupt`]: nothing more is sent, what runs is
//! stopped on the hosts as a timeout stops it). The run then finishes with what it has, writes
//! every requested output marked `interrupted`, and exits 130. A second signal takes the
//! signal handler's other path (`plugin::reap`): plugin hosts are killed and rolecall
//! ends by that signal at once. Unarmed, every such signal takes that path.
#![allow(unsafe_code)] // pipe(2), read(2), write(2) on raw descriptors

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

static ARMED: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicU32 = AtomicU32::new(0);
/// The pipe's write end while armed (-1: none).
static WAKE: AtomicI32 = AtomicI32::new(-1);

/// Whether a run was interrupted (a first signal arrived while armed).
pub fn interrupted() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// Called from the signal handler: true when this signal is the first while armed (it has
/// woken the watcher; the handler returns), false when the handler should end the process.
/// Only async-signal-safe operations: atomics and write(2).
pub(crate) fn on_signal() -> bool {
    if !ARMED.load(Ordering::SeqCst) || SIGNALS.fetch_add(1, Ordering::SeqCst) > 0 {
        return false;
    }
    let fd = WAKE.load(Ordering::SeqCst);
    if fd < 0 {
        return false;
    }
    let byte = 1u8;
    // SAFETY: write(2) is async-signal-safe; `fd` is the pipe's write end, open while armed;
    // the buffer is one valid byte.
    unsafe { libc::write(fd, std::ptr::addr_of!(byte).cast(), 1) };
    true
}

/// Armed until dropped; see the module docs.
#[derive(Debug)]
pub struct Armed {
    write: i32,
    watcher: Option<std::thread::JoinHandle<()>>,
}

/// Arm: the first signal calls `stop` (on a thread of its own) instead of ending rolecall.
pub fn arm(stop: impl Fn() + Send + 'static) -> std::io::Result<Armed> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 with a valid two-element array; both descriptors are ours from here on.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (read, write) = (fds[0], fds[1]);
    crate::plugin::reap::install_handler();
    let watcher = std::thread::Builder::new()
        .name("rolecall-interrupt".into())
        .spawn(move || {
            let mut byte = 0u8;
            // SAFETY: read(2) of one byte into a valid buffer from our own pipe's read end,
            // closed here once only, after the last read.
            let n = unsafe { libc::read(read, std::ptr::addr_of_mut!(byte).cast(), 1) };
            if n == 1 && byte == 1 {
                stop();
            }
            // SAFETY: the read end is ours and no longer used.
            unsafe { libc::close(read) };
        })?;
    WAKE.store(write, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    Ok(Armed {
        write,
        watcher: Some(watcher),
    })
}

impl Drop for Armed {
    fn drop(&mut self) {
        ARMED.store(false, Ordering::SeqCst);
        WAKE.store(-1, Ordering::SeqCst);
        let byte = 0u8;
        // SAFETY: our pipe's write end: a zero byte tells a waiting watcher to end, then the
        // end is closed (once: `Armed` is not Clone).
        unsafe {
            libc::write(self.write, std::ptr::addr_of!(byte).cast(), 1);
            libc::close(self.write);
        }
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
    }
}
