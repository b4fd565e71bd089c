//! Waiting for a socket to become readable or writable, with a timeout: what a non-blocking
//! libssh2 session needs between calls that answered "would block", and a plugin host's stdout.
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

/// What to wait for on one descriptor of [`any`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Interest {
    pub fd: RawFd,
    pub read: bool,
    pub write: bool,
}

/// Wait until any of `interests` is ready as asked (or has hung up), or `timeout` passes.
pub(crate) fn any(interests: &[Interest], timeout: Duration) {
    let mut fds: Vec<libc::pollfd> = interests
        .iter()
        .map(|i| libc::pollfd {
            fd: i.fd,
            events: (if i.read { libc::POLLIN } else { 0 }) | (if i.write { libc::POLLOUT } else { 0 }),
            revents: 0,
        })
        .collect();
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let n = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `fds` is a valid, initialised array of `n` pollfds that lives across the call.
    unsafe {
        libc::poll(fds.as_mut_ptr(), n, ms);
    }
}
