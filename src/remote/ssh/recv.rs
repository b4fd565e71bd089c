//! Counting what libssh2 reads from its sockets, so the executor knows when a pass over its
//! channels may have buffered something (data, EOF, exit status, close) that no socket wait
//! would ever report: the bytes are already out of the socket.
//!
//! libssh2 reads the socket through a replaceable `recv` callback. Ours is libssh2's own (retry
//! codes included), plus a per-thread byte count. A session is only ever driven by one thread
//! at a time, so the count read before and after a pass of `exec_batch` tells whether that
//! pass received anything.
#![allow(unsafe_code)] // the libssh2 callback and its registration

use std::cell::Cell;
use std::ffi::{c_int, c_void};

thread_local! {
    static RECEIVED: Cell<u64> = const { Cell::new(0) };
}

/// `LIBSSH2_CALLBACK_RECV` in libssh2.h.
const LIBSSH2_CALLBACK_RECV: c_int = 6;

extern "C" {
    // Present in every libssh2 release (its successor `_set2` only from 1.11.1, while a system
    // libssh2 may be older).
    fn libssh2_session_callback_set(
        session: *mut libssh2_sys::LIBSSH2_SESSION,
        cbtype: c_int,
        callback: *mut c_void,
    ) -> *mut c_void;
}

/// libssh2's `recv` callback (`LIBSSH2_RECV_FUNC`): `recv(2)`, errors as `-errno` with the
/// retryable ones as `-EAGAIN`, exactly as libssh2's built-in one; bytes counted per thread.
unsafe extern "C" fn counting_recv(
    socket: c_int,
    buffer: *mut c_void,
    length: usize,
    flags: c_int,
    _abstract: *mut *mut c_void,
) -> isize {
    // SAFETY: libssh2 passes its own socket and a writable buffer of `length` bytes.
    let rc = unsafe { libc::recv(socket, buffer, length, flags) };
    if rc < 0 {
        let err = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        return match err {
            libc::EINTR | libc::ENOENT | libc::EAGAIN => -(libc::EAGAIN as isize),
            e => -(e as isize),
        };
    }
    // `try_with`: never panic across the C boundary, even while the thread is being torn down.
    let _ = RECEIVED.try_with(|r| r.set(r.get().wrapping_add(rc as u64)));
    rc
}

/// Make `session` count what it receives (before the handshake, so every read goes through it).
pub(super) fn install(session: &ssh2::Session) {
    let mut raw = session.raw();
    let callback = counting_recv as *mut c_void;
    // SAFETY: `raw` is the live session, locked for the call; the callback has the exact
    // `LIBSSH2_RECV_FUNC` signature and is a plain function, valid for the life of the process.
    unsafe {
        libssh2_session_callback_set(&mut *raw, LIBSSH2_CALLBACK_RECV, callback);
    }
}

/// Bytes received so far by sessions driven from this thread.
pub(super) fn received() -> u64 {
    RECEIVED.try_with(Cell::get).unwrap_or(0)
}
