//! What the state machines of [`super::exec`] need of a session and its channels, as two small
//! traits: libssh2's (non-blocking) session and channels implement them, and the unit tests
//! drive the same state machines with scripted ones, no socket involved.

use std::io::{Read, Write};

/// One channel.
pub(super) trait Chan: Send {
    fn exec(&mut self, command: &str) -> Result<(), ssh2::Error>;
    /// Bytes of stdout (or of stderr); `WouldBlock` when none are there now.
    fn read(&mut self, stderr: bool, buf: &mut [u8]) -> std::io::Result<usize>;
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize>;
    fn send_eof(&mut self) -> Result<(), ssh2::Error>;
    /// The server sent EOF.
    fn eof(&self) -> bool;
    /// `EAGAIN` until the server closed the channel.
    fn wait_close(&mut self) -> Result<(), ssh2::Error>;
    /// The exit status the server sent; `None` when it sent none. (libssh2 cannot tell: its
    /// channels say 0 then, so a command that exits 0 and one the server never reported look
    /// the same through it.)
    fn exit_status(&self) -> Option<i32>;
    /// The signal that killed the command, as the server named it (`KILL`, `TERM`).
    fn exit_signal(&self) -> Option<String>;
    fn close(&mut self);
}

/// A channel of either kind.
pub(super) type Channel = Box<dyn Chan>;

/// A session that opens channels.
pub(super) trait Sess {
    fn channel(&self) -> Result<Channel, ssh2::Error>;
}

impl Sess for ssh2::Session {
    fn channel(&self) -> Result<Channel, ssh2::Error> {
        self.channel_session().map(|c| Box::new(c) as Channel)
    }
}

impl Chan for ssh2::Channel {
    fn exec(&mut self, command: &str) -> Result<(), ssh2::Error> {
        ssh2::Channel::exec(self, command)
    }

    fn read(&mut self, stderr: bool, buf: &mut [u8]) -> std::io::Result<usize> {
        if stderr {
            self.stderr().read(buf)
        } else {
            Read::read(self, buf)
        }
    }

    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        Write::write(self, data)
    }

    fn send_eof(&mut self) -> Result<(), ssh2::Error> {
        ssh2::Channel::send_eof(self)
    }

    fn eof(&self) -> bool {
        ssh2::Channel::eof(self)
    }

    fn wait_close(&mut self) -> Result<(), ssh2::Error> {
        ssh2::Channel::wait_close(self)
    }

    fn exit_status(&self) -> Option<i32> {
        ssh2::Channel::exit_status(self).ok()
    }

    fn exit_signal(&self) -> Option<String> {
        ssh2::Channel::exit_signal(self).ok().and_then(|s| s.exit_signal)
    }

    fn close(&mut self) {
        let _ = ssh2::Channel::close(self);
    }
}
