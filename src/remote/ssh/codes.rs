//! libssh2's error codes this executor branches on, and small helpers every part uses.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ssh2::ErrorCode;

/// libssh2 error codes we branch on.
/// libssh2 error codes we branch on.
pub(super) const LIBSSH2_ERROR_SOCKET_SEND: i32 = -7;
pub(super) const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
pub(super) const LIBSSH2_ERROR_SOCKET_DISCONNECT: i32 = -13;
pub(super) const LIBSSH2_ERROR_EAGAIN: i32 = -37;
pub(super) const LIBSSH2_ERROR_SOCKET_RECV: i32 = -43;
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
pub(super) fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}
pub(super) fn code(e: &ssh2::Error) -> i32 {
    match e.code() {
        ErrorCode::Session(c) => c,
        ErrorCode::SFTP(c) => c,
    }
}
