//! Jump hosts (`ProxyJump`, `-J`, `jump:`): a target's SSH session runs through a
//! `direct-tcpip` channel of an SSH session to the jump host, as `ssh -J` does.
//!
//! One [`Hub`] owns one authenticated session to a jump host and forwards every tunnel opened
//! through it, on one thread of its own: each tunnel is a channel of that session joined to one
//! end of a socket pair, whose other end is the target session's socket. So the target session
//! works exactly as over TCP (same waits, same timeouts), and one jump host session serves
//! every target behind it, up to [`TUNNELS_PER_SESSION`]; a further session is opened for more.
//! A chain of hops is a hub whose own session runs through the previous hop's hub.
//!
//! libssh2 opens one channel at a time per session. A target the jump host cannot reach quickly
//! (a black-holed address: its TCP connect hangs until the kernel gives up) would hold every
//! open queued behind it; so a request that waits behind an open stuck for [`STUCK`] is taken
//! back ([`Open::Stuck`]) and the caller asks a fresh session to the same jump host.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ssh2::{Channel, Session};

use super::codes::{code, lock, LIBSSH2_ERROR_EAGAIN};
use super::recv;
use super::session::Connection;
use crate::remote::wait::{self, Interest};

/// Tunnels opened through one jump host session before another session is opened beside it.
/// Each is a channel that lives for the rest of the run; OpenSSH does not count forwarded
/// channels against `MaxSessions`, but one session's traffic is encrypted on one thread.
pub(super) const TUNNELS_PER_SESSION: usize = 200;

/// How long the forwarding thread sleeps at most when nothing moved.
const IDLE: Duration = Duration::from_millis(50);

/// Bytes moved per tunnel per direction per pass.
const CHUNK: usize = 32 << 10;

/// How long another request's channel open may be in progress before a request queued behind
/// it gives up on this session.
pub(super) const STUCK: Duration = Duration::from_secs(1);

/// How often a waiting request looks whether it is stuck behind another.
const TICK: Duration = Duration::from_millis(100);

struct Request {
    id: u64,
    host: String,
    port: u16,
    reply: mpsc::Sender<Result<UnixStream, TunnelError>>,
    /// The requester gave up: drop it unless its open is already in progress.
    cancelled: Arc<AtomicBool>,
}

/// Why a tunnel through a jump host was not opened (the jump host is "it").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum TunnelError {
    #[error("its connection is closed")]
    Closed,
    #[error("its connection was lost")]
    Lost,
    #[error("it did not open a connection to {host}:{port} within {:.1}s", timeout.as_secs_f64())]
    Timeout {
        host: String,
        port: u16,
        timeout: Duration,
    },
    #[error("it could not connect to {host}:{port} ({message})")]
    Refused {
        host: String,
        port: u16,
        message: String,
    },
    #[error("cannot create a socket pair")]
    SocketPair,
    /// libssh2's own words.
    #[error("{0}")]
    Ssh(String),
}

/// Why [`Hub::open`] gave no tunnel.
#[derive(Debug)]
pub(super) enum Open {
    Failed(TunnelError),
    /// Queued behind another target's open that is not finishing: try another session.
    Stuck,
}

/// The channel open in progress on a hub's session: request id (0: none), since when.
#[derive(Debug, Default)]
struct Opening {
    id: AtomicU64,
    since_ms: AtomicU64,
}

/// A forwarding thread for one jump host session.
pub(super) struct Hub {
    requests: Mutex<mpsc::Sender<Request>>,
    /// Written to wake the forwarding thread when a request is queued.
    waker: UnixStream,
    /// The jump host as people know it (`user@host:port`).
    pub(super) name: String,
    next_id: AtomicU64,
    opening: Arc<Opening>,
    born: Instant,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// Start forwarding through `conn`, an authenticated session to the jump host `name`.
    pub(super) fn start(conn: Connection, name: String) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let (waker, wakee) = UnixStream::pair()?;
        waker.set_nonblocking(true)?;
        wakee.set_nonblocking(true)?;
        let thread_name = format!("rolecall-jump-{name}");
        let opening = Arc::new(Opening::default());
        let born = Instant::now();
        let shared = Arc::clone(&opening);
        std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || forward(conn, rx, wakee, &shared, born))?;
        Ok(Self {
            requests: Mutex::new(tx),
            waker,
            name,
            next_id: AtomicU64::new(1),
            opening,
            born,
        })
    }

    /// Whether another request's open (not `id`'s) has been in progress for [`STUCK`].
    fn stuck_behind(&self, id: u64) -> bool {
        let current = self.opening.id.load(Ordering::Acquire);
        if current == 0 || current == id {
            return false;
        }
        let since = Duration::from_millis(self.opening.since_ms.load(Ordering::Acquire));
        self.born.elapsed().saturating_sub(since) >= STUCK
    }

    /// A socket whose other end is a TCP connection, made by the jump host, to `host:port`.
    /// Waits at most `timeout` for the jump host's answer.
    pub(super) fn open(&self, host: &str, port: u16, timeout: Duration) -> Result<UnixStream, Open> {
        let (reply, answer) = mpsc::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let cancelled = Arc::new(AtomicBool::new(false));
        let request = Request {
            id,
            host: host.to_string(),
            port,
            reply,
            cancelled: Arc::clone(&cancelled),
        };
        if lock(&self.requests).send(request).is_err() {
            return Err(Open::Failed(TunnelError::Closed));
        }
        let _ = (&self.waker).write(&[1]);
        let start = Instant::now();
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                cancelled.store(true, Ordering::Release);
                return Err(Open::Failed(TunnelError::Timeout {
                    host: host.to_string(),
                    port,
                    timeout,
                }));
            }
            match answer.recv_timeout(left.min(TICK)) {
                Ok(r) => return r.map_err(Open::Failed),
                Err(mpsc::RecvTimeoutError::Timeout) if self.stuck_behind(id) => {
                    cancelled.store(true, Ordering::Release);
                    let _ = (&self.waker).write(&[1]);
                    return Err(Open::Stuck);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(Open::Failed(TunnelError::Lost)),
            }
        }
    }
}

/// One forwarded connection: a channel of the jump session and our end of the socket pair.
struct Tunnel {
    channel: Channel,
    socket: UnixStream,
    /// From the target session, not yet written to the channel.
    up: VecDeque<u8>,
    /// From the channel, not yet written to the target session.
    down: VecDeque<u8>,
    /// The target session closed its socket (nothing more to send up).
    local_eof: bool,
    sent_eof: bool,
    /// The far end closed (nothing more comes down).
    remote_eof: bool,
    /// Our end of the socket pair was shut for writing after `remote_eof`.
    shut: bool,
    failed: bool,
}

impl Tunnel {
    fn done(&self) -> bool {
        self.failed || (self.local_eof && self.remote_eof && self.up.is_empty() && self.down.is_empty())
    }

    /// Move what can move without blocking; true when anything did.
    fn pump(&mut self, buf: &mut [u8]) -> bool {
        let mut moved = false;
        // Target session -> channel.
        if self.up.len() < CHUNK && !self.local_eof {
            match self.socket.read(buf) {
                Ok(0) => {
                    self.local_eof = true;
                    moved = true;
                }
                Ok(n) => {
                    self.up.extend(&buf[..n]);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.local_eof = true;
                    self.remote_eof = true;
                    self.failed = true;
                    return true;
                }
            }
        }
        while !self.up.is_empty() {
            let (front, _) = self.up.as_slices();
            match self.channel.write(front) {
                Ok(0) => break,
                Ok(n) => {
                    self.up.drain(..n);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.failed = true;
                    return true;
                }
            }
        }
        if self.local_eof && self.up.is_empty() && !self.sent_eof {
            match self.channel.send_eof() {
                Ok(()) => {
                    self.sent_eof = true;
                    moved = true;
                }
                Err(e) if code(&e) == LIBSSH2_ERROR_EAGAIN => {}
                Err(_) => self.sent_eof = true,
            }
        }
        // Channel -> target session.
        if self.down.len() < CHUNK && !self.remote_eof {
            match self.channel.read(buf) {
                Ok(0) => {
                    if self.channel.eof() {
                        self.remote_eof = true;
                        moved = true;
                    }
                }
                Ok(n) => {
                    self.down.extend(&buf[..n]);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    self.remote_eof = true;
                    moved = true;
                }
            }
        }
        while !self.down.is_empty() {
            let (front, _) = self.down.as_slices();
            match self.socket.write(front) {
                Ok(0) => break,
                Ok(n) => {
                    self.down.drain(..n);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => break,
                Err(_) => {
                    // The target session is gone: nothing more to deliver.
                    self.down.clear();
                    self.local_eof = true;
                    self.remote_eof = true;
                    moved = true;
                }
            }
        }
        if self.remote_eof && self.down.is_empty() && !self.shut {
            let _ = self.socket.shutdown(std::net::Shutdown::Write);
            self.shut = true;
        }
        moved
    }
}

/// The forwarding thread: open requested channels, move bytes both ways, until every tunnel is
/// closed and the hub is gone.
fn forward(
    conn: Connection,
    requests: mpsc::Receiver<Request>,
    wakee: UnixStream,
    opening: &Opening,
    born: Instant,
) {
    let Connection { session, fd, proxy } = conn;
    // A jump host reached through a ProxyCommand keeps it for as long as it forwards.
    let _proxy = proxy;
    session.set_blocking(false);
    let mut pending: VecDeque<Request> = VecDeque::new();
    let mut tunnels: Vec<Tunnel> = Vec::new();
    let mut hub_gone = false;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let received_before = recv::received();
        let mut moved = false;
        let mut drain = [0u8; 64];
        while matches!((&wakee).read(&mut drain), Ok(n) if n > 0) {}
        loop {
            match requests.try_recv() {
                Ok(r) => pending.push_back(r),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    hub_gone = true;
                    break;
                }
            }
        }
        if !pending.is_empty() {
            moved |= open_pending(&session, &mut pending, &mut tunnels, opening, born);
        }
        for t in &mut tunnels {
            moved |= t.pump(&mut buf);
        }
        tunnels.retain(|t| !t.done());
        if hub_gone && tunnels.is_empty() && pending.is_empty() {
            return;
        }
        if moved || recv::received() != received_before {
            continue;
        }
        let session_write = matches!(
            session.block_directions(),
            ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
        );
        let mut interests = vec![
            Interest {
                fd,
                read: true,
                write: session_write,
            },
            Interest {
                fd: wakee.as_raw_fd(),
                read: true,
                write: false,
            },
        ];
        interests.extend(tunnels.iter().map(|t| Interest {
            fd: t.socket.as_raw_fd(),
            read: !t.local_eof && t.up.len() < CHUNK,
            write: !t.down.is_empty(),
        }));
        wait::any(&interests, IDLE);
    }
}

/// Open channels for pending requests, oldest first. libssh2 keeps one channel open in
/// progress per session: the first request that would block stays first until it is answered.
fn open_pending(
    session: &Session,
    pending: &mut VecDeque<Request>,
    tunnels: &mut Vec<Tunnel>,
    opening: &Opening,
    born: Instant,
) -> bool {
    let mut moved = false;
    while let Some(req) = pending.front() {
        let in_progress = opening.id.load(Ordering::Acquire) == req.id;
        // Taken back before its open started: drop it. Once started, libssh2 must finish it
        // (the next call would continue it, whatever its arguments).
        if !in_progress && req.cancelled.load(Ordering::Acquire) {
            pending.pop_front();
            moved = true;
            continue;
        }
        let opened = session.channel_direct_tcpip(&req.host, req.port, None);
        if matches!(&opened, Err(e) if code(e) == LIBSSH2_ERROR_EAGAIN) {
            if !in_progress {
                let now = u64::try_from(born.elapsed().as_millis()).unwrap_or(u64::MAX);
                opening.since_ms.store(now, Ordering::Release);
                opening.id.store(req.id, Ordering::Release);
            }
            break;
        }
        opening.id.store(0, Ordering::Release);
        moved = true;
        let Some(req) = pending.pop_front() else {
            break;
        };
        match opened {
            Ok(channel) => match UnixStream::pair() {
                Ok((ours, theirs)) if ours.set_nonblocking(true).is_ok() => {
                    if req.reply.send(Ok(theirs)).is_ok() {
                        tunnels.push(Tunnel {
                            channel,
                            socket: ours,
                            up: VecDeque::new(),
                            down: VecDeque::new(),
                            local_eof: false,
                            sent_eof: false,
                            remote_eof: false,
                            shut: false,
                            failed: false,
                        });
                    }
                }
                Ok(_) | Err(_) => {
                    let _ = req.reply.send(Err(TunnelError::SocketPair));
                }
            },
            Err(e) => {
                let m = e.message().to_string();
                // libssh2 says only "Channel open failure" (and the server's reason) when the
                // jump host could not reach the target.
                let why = if m.to_ascii_lowercase().contains("open fail") {
                    TunnelError::Refused {
                        host: req.host.clone(),
                        port: req.port,
                        message: m,
                    }
                } else {
                    TunnelError::Ssh(m)
                };
                let _ = req.reply.send(Err(why));
            }
        }
    }
    moved
}
