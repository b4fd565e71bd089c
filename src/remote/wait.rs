//! Waiting for a socket to become readable or writable, with a timeout: what a non-blocking
//! libssh2 session needs between calls that answered "would block".
#![allow(unsafe_code)] // one poll(2) call

use std::os::fd::RawFd;
use std::time::Duration;

/// Wait until `fd` is ready for reading (and writing, when `write`), or `timeout` passes.
/// Returns false on timeout. Interrupted waits count as ready (the caller retries anyway).
pub(crate) fn socket(fd: RawFd, write: bool, timeout: Duration) -> bool {
    let mut events = libc::POLLIN;
    if write {
        events |= libc::POLLOUT;
    }
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfd` is one valid, initialised pollfd that lives across the call; nfds is 1.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    n != 0
}
