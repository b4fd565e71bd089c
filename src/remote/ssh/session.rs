//! An open, authenticated SSH session to one host and what it runs over.

use std::os::fd::RawFd;

use ssh2::Session;

/// An authenticated session (non-blocking), its socket, and the `ProxyCommand` it runs over.
pub(super) struct Connection {
    pub(super) session: Session,
    /// The session's socket (owned by the session), for waiting on it.
    pub(super) fd: RawFd,
    /// The `ProxyCommand` the session runs over, if any: ended with the connection.
    pub(super) proxy: Option<super::proxy::Proxy>,
}

impl Connection {
    /// Whether the session waits to write (else only to read) before it can go on.
    pub(super) fn wants_write(&self) -> bool {
        matches!(
            self.session.block_directions(),
            ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
        )
    }
}
