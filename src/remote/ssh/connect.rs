//! Opening a session to one host, as a state machine the engine drives without blocking
//! ([`Dial`]): resolve (within the allow-list), a non-blocking TCP connect per address, the SSH
//! handshake, the host key check against known_hosts, authentication ([`super::auth`]);
//! connection-level failures (refused, reset, closed during key exchange) retried with backoff,
//! nothing else. A host that waits costs a socket and a deadline, never a thread.
//!
//! The one part that may block, getting the stream to a host behind a jump host (a tunnel
//! through a [`Hub`]) or a `ProxyCommand`, is handed back to the engine as an [`Acquire`] to
//! run off its threads. [`connect`] drives a [`Dial`] to the end on the calling thread (jump
//! hosts' own sessions, made once per chain).

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use ssh2::Session;

use super::auth::{check_host_key, prefer_known_key_types, Auth, AuthStep};
use super::codes::{
    code, lock, LIBSSH2_ERROR_EAGAIN, LIBSSH2_ERROR_SOCKET_DISCONNECT, LIBSSH2_ERROR_SOCKET_RECV,
    LIBSSH2_ERROR_SOCKET_SEND, LIBSSH2_ERROR_TIMEOUT,
};
use super::jump::{Hub, Open, TUNNELS_PER_SESSION};
use super::proxy::Proxy;
use super::session::Connection;
use super::shared::{cancelled, Shared};
use crate::remote::known_hosts;
use crate::remote::settings::HostSettings;
use crate::remote::ssh_config;
use crate::remote::{wait, Outcome};

/// The longest single wait of [`connect_via`] (a libssh2 surprise then costs milliseconds).
const SAFETY_NET: Duration = Duration::from_millis(50);
/// How often a host waiting for a handshake place looks again.
const PLACE_POLL: Duration = Duration::from_millis(5);

/// One of the run's handshake places (see [`Shared::handshakes`]); given back when dropped.
pub(super) struct Place(Arc<std::sync::atomic::AtomicUsize>);

impl Place {
    fn take(shared: &Shared) -> Option<Place> {
        use std::sync::atomic::Ordering;
        let counter = &shared.handshakes;
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < shared.handshake_places).then_some(n + 1)
            })
            .ok()
            .map(|_| Place(Arc::clone(counter)))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Why a connection attempt failed, and whether trying again may help.
pub(super) enum Attempt {
    Retry(Outcome),
    Final(Outcome),
}

/// The socket to run a session over: TCP, or one end of a jump host tunnel or `ProxyCommand`.
pub(super) enum Stream {
    Tcp(TcpStream),
    Tunnel(UnixStream),
}

/// A stream got off the engine's threads, and the `ProxyCommand` behind it.
pub(super) type Acquired = Result<(Stream, Option<Proxy>), Attempt>;

/// Getting a stream that may block: run it with [`Acquire::run`] and give the answer to
/// [`Dial::acquired`].
pub(super) enum Acquire {
    Tunnel {
        via: Vec<HostSettings>,
        dest: String,
        port: u16,
        timeout: Duration,
    },
    Proxy(String),
}

impl Acquire {
    pub(super) fn run(self, shared: &Shared) -> Acquired {
        match self {
            Acquire::Tunnel {
                via,
                dest,
                port,
                timeout,
            } => Ok((Stream::Tunnel(tunnel(shared, &via, &dest, port, timeout)?), None)),
            Acquire::Proxy(command) => {
                let (p, sock) = Proxy::start(&command).map_err(|e| {
                    Attempt::Final(Outcome::Unreachable(format!(
                        "cannot start the ProxyCommand `{command}`: {e}"
                    )))
                })?;
                Ok((Stream::Tunnel(sock), Some(p)))
            }
        }
    }
}

/// What a [`Dial`] needs before it can go on.
pub(super) enum DialStep {
    /// The socket `fd` to be readable (and writable, when `write`), or `until`.
    Wait { fd: RawFd, write: bool, until: Instant },
    /// Nothing but time (a retry's backoff).
    Sleep(Instant),
    /// This run off the engine's threads, its answer given to [`Dial::acquired`].
    Offload(Acquire),
    /// Ready: the session, or why there is none.
    Done(Result<Connection, Outcome>),
}

enum State {
    Start,
    /// Connecting to the first of `addrs` (the socket in flight), until `until`.
    Tcp {
        addrs: VecDeque<SocketAddr>,
        current: Option<(Socket, SocketAddr, Instant)>,
        last: String,
        transient: bool,
    },
    /// An [`Acquire`] is out.
    Acquiring,
    Got(Acquired),
    /// Waiting for the server to speak first (its identification line), until then: a server
    /// that never does costs a socket, never one of the handshake places.
    Banner(Connection, Instant),
    /// The server spoke; waiting for a handshake place.
    Queued(Connection),
    Handshake(Connection, Instant, Place),
    Auth(Connection, Instant, Auth, Place),
    Backoff(Instant),
    Over,
}

/// Opening one session; see the module docs.
pub(super) struct Dial {
    target: Arc<HostSettings>,
    /// Jump hosts, first hop first (empty: directly).
    via: Vec<HostSettings>,
    state: State,
    attempt: u32,
    backoff: Duration,
}

impl Dial {
    pub(super) fn new(target: Arc<HostSettings>, via: Vec<HostSettings>) -> Self {
        Dial {
            target,
            via,
            state: State::Start,
            attempt: 0,
            backoff: Duration::from_millis(200),
        }
    }

    /// The answer to the [`DialStep::Offload`] this gave.
    pub(super) fn acquired(&mut self, got: Acquired) {
        if matches!(self.state, State::Acquiring) {
            self.state = State::Got(got);
        }
    }

    /// Go as far as possible now.
    pub(super) fn step(&mut self, shared: &Shared, now: Instant) -> DialStep {
        loop {
            let r = match std::mem::replace(&mut self.state, State::Over) {
                State::Start => self.start(shared),
                State::Tcp {
                    addrs,
                    current,
                    last,
                    transient,
                } => self.tcp(shared, addrs, current, last, transient, now),
                State::Acquiring => {
                    self.state = State::Acquiring;
                    return DialStep::Sleep(now + Duration::from_secs(3600));
                }
                State::Got(got) => got.and_then(|(stream, proxy)| self.session(shared, stream, proxy, now)),
                State::Banner(c, until) => self.banner(c, until, now),
                State::Queued(c) => self.queued(shared, c, now),
                State::Handshake(c, until, place) => self.handshake(shared, c, until, place, now),
                State::Auth(c, until, auth, place) => self.auth(shared, c, until, auth, place, now),
                State::Backoff(until) if now >= until => {
                    self.state = State::Start;
                    continue;
                }
                State::Backoff(until) => {
                    self.state = State::Backoff(until);
                    return DialStep::Sleep(until);
                }
                State::Over => Err(Attempt::Final(Outcome::Error(
                    "internal error: a dial stepped after its end".into(),
                ))),
            };
            match r {
                Ok(Some(step)) => return step,
                Ok(None) => continue,
                Err(Attempt::Retry(_))
                    if self.attempt < shared.config.retries && !cancelled(&shared.config) =>
                {
                    self.attempt += 1;
                    self.state = State::Backoff(now + self.backoff);
                    self.backoff *= 2;
                }
                Err(Attempt::Retry(o) | Attempt::Final(o)) => {
                    self.state = State::Over;
                    return DialStep::Done(Err(o));
                }
            }
        }
    }

    /// Resolve, check the allow-list, and start on the stream.
    fn start(&mut self, shared: &Shared) -> Result<Option<DialStep>, Attempt> {
        let target = &self.target;
        if let Some(why) = &target.unusable {
            return Err(Attempt::Final(Outcome::Error(format!("{why}; not contacted"))));
        }
        let config = &shared.config;
        let ep = target.endpoint();
        let timeout = target.connect_timeout.value;
        let addrs = rolecall_plugin::resolve(&config.allow.nets(), &ep.address, ep.port).map_err(|why| {
            let refused = why.contains("allow-list");
            Attempt::Final(if refused {
                Outcome::Refused(why)
            } else {
                Outcome::Unreachable(why)
            })
        });
        // Through a jump host or a ProxyCommand a name need not resolve here (it may only
        // resolve there), unless an allow-list must be checked: then the checked address is
        // what the jump host connects to, and the ProxyCommand starts only for an allowed
        // target.
        let indirect = !self.via.is_empty() || target.proxy_command.is_some();
        let addrs = match addrs {
            Err(_) if indirect && config.allow.is_empty() => Vec::new(),
            other => other?,
        };
        let (allowed, refused): (Vec<_>, Vec<_>) =
            addrs.into_iter().partition(|a| config.allow.permits(a.ip()));
        if allowed.is_empty() && (!indirect || !config.allow.is_empty()) {
            let ips: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
            return Err(Attempt::Final(Outcome::Refused(format!(
                "{} is outside the allowed networks ({}); not contacted",
                if ips.is_empty() {
                    ep.address.clone()
                } else {
                    ips.join(", ")
                },
                config.allow.nets().join(",")
            ))));
        }
        if let Some(command) = &target.proxy_command {
            let tokens = ssh_config::Tokens {
                host: &ep.address,
                original: &target.name,
                port: ep.port,
                user: &ep.user,
            };
            self.state = State::Acquiring;
            return Ok(Some(DialStep::Offload(Acquire::Proxy(
                ssh_config::expand_tokens(&command.value, &tokens),
            ))));
        }
        if !self.via.is_empty() {
            let dest = if config.allow.is_empty() {
                ep.address.clone()
            } else {
                allowed.first().map(|a| a.ip().to_string()).unwrap_or_default()
            };
            self.state = State::Acquiring;
            return Ok(Some(DialStep::Offload(Acquire::Tunnel {
                via: self.via.clone(),
                dest,
                port: ep.port,
                timeout,
            })));
        }
        self.state = State::Tcp {
            addrs: allowed.into(),
            current: None,
            last: String::new(),
            transient: false,
        };
        Ok(None)
    }

    /// A non-blocking TCP connect to each address in turn, each within the connect timeout.
    fn tcp(
        &mut self,
        shared: &Shared,
        mut addrs: VecDeque<SocketAddr>,
        current: Option<(Socket, SocketAddr, Instant)>,
        mut last: String,
        mut transient: bool,
        now: Instant,
    ) -> Result<Option<DialStep>, Attempt> {
        let timeout = self.target.connect_timeout.value;
        let mut current = current;
        loop {
            let (sock, addr, until) = match current.take() {
                Some(c) => c,
                None => {
                    let Some(addr) = addrs.pop_front() else {
                        let o = Outcome::Unreachable(last);
                        return Err(if transient {
                            Attempt::Retry(o)
                        } else {
                            Attempt::Final(o)
                        });
                    };
                    match start_connect(addr) {
                        Ok(sock) => (sock, addr, now + timeout),
                        Err(e) => {
                            transient |= is_transient(&e);
                            last = format!("{addr}: {e}");
                            continue;
                        }
                    }
                }
            };
            // Connected, failed, or still in progress?
            let fd = sock.as_raw_fd();
            let connected = match sock.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match sock.peer_addr() {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == ErrorKind::NotConnected => Ok(false),
                    Err(e) => Err(e),
                },
            };
            match connected {
                Ok(true) => {
                    let stream: TcpStream = sock.into();
                    let _ = stream.set_nodelay(true);
                    return self.session(shared, Stream::Tcp(stream), None, now);
                }
                Ok(false) if now >= until => {
                    last = format!(
                        "{addr}: no answer within {:.1}s (connect timeout)",
                        timeout.as_secs_f64()
                    );
                }
                Ok(false) => {
                    self.state = State::Tcp {
                        addrs,
                        current: Some((sock, addr, until)),
                        last,
                        transient,
                    };
                    return Ok(Some(DialStep::Wait {
                        fd,
                        write: true,
                        until,
                    }));
                }
                Err(e) => {
                    transient |= is_transient(&e);
                    last = format!("{addr}: {e}");
                }
            }
        }
    }

    /// A session over `stream`, ready for its handshake.
    fn session(
        &mut self,
        shared: &Shared,
        stream: Stream,
        proxy: Option<Proxy>,
        now: Instant,
    ) -> Result<Option<DialStep>, Attempt> {
        let mut session = Session::new()
            .map_err(|e| Attempt::Final(Outcome::Error(format!("cannot start a session: {e}"))))?;
        super::recv::install(&session);
        let fd = match stream {
            Stream::Tcp(s) => {
                let fd = s.as_raw_fd();
                session.set_tcp_stream(s);
                fd
            }
            Stream::Tunnel(s) => {
                let fd = s.as_raw_fd();
                session.set_tcp_stream(s);
                fd
            }
        };
        session.set_blocking(false);
        let ep = self.target.endpoint();
        let name = known_hosts::host_name(&ep.address, ep.port);
        prefer_known_key_types(&session, &lock(shared.known_hosts(&self.target)).key_types(&name));
        let until = now + self.target.connect_timeout.value;
        self.state = State::Banner(Connection { session, fd, proxy }, until);
        Ok(None)
    }

    /// The server speaks first (RFC 4253 4.2): wait for its first bytes without reading them.
    fn banner(&mut self, c: Connection, until: Instant, now: Instant) -> Result<Option<DialStep>, Attempt> {
        // Readable, closed or failed: the handshake takes it from here and says which.
        if wait::socket(c.fd, false, Duration::ZERO) {
            self.state = State::Queued(c);
            return Ok(None);
        }
        if now >= until {
            let timeout = self.target.connect_timeout.value;
            return Err(match c.proxy {
                Some(mut p) => Attempt::Final(Outcome::Unreachable(format!(
                    "{}; {}",
                    Outcome::HandshakeTimeout(timeout).describe(),
                    p.describe()
                ))),
                None => Attempt::Final(Outcome::HandshakeTimeout(timeout)),
            });
        }
        let fd = c.fd;
        self.state = State::Banner(c, until);
        Ok(Some(DialStep::Wait {
            fd,
            write: false,
            until,
        }))
    }

    /// A handshake place, then the handshake, its deadline counted from there: key exchange and
    /// authentication are work for this machine's CPU (and the server's), so only so many run
    /// at once, and a host waiting for its turn is not timed out by the others' work.
    fn queued(&mut self, shared: &Shared, c: Connection, now: Instant) -> Result<Option<DialStep>, Attempt> {
        match Place::take(shared) {
            Some(place) => {
                let until = now + self.target.connect_timeout.value;
                self.state = State::Handshake(c, until, place);
                Ok(None)
            }
            None => {
                self.state = State::Queued(c);
                Ok(Some(DialStep::Sleep(now + PLACE_POLL)))
            }
        }
    }

    fn handshake(
        &mut self,
        shared: &Shared,
        mut c: Connection,
        until: Instant,
        place: Place,
        now: Instant,
    ) -> Result<Option<DialStep>, Attempt> {
        let target = &self.target;
        let timeout = target.connect_timeout.value;
        let ep = target.endpoint();
        let name = known_hosts::host_name(&ep.address, ep.port);
        match c.session.handshake() {
            Ok(()) => {}
            Err(e) if code(&e) == LIBSSH2_ERROR_EAGAIN && now < until => {
                let (fd, write) = (c.fd, c.wants_write());
                self.state = State::Handshake(c, until, place);
                return Ok(Some(DialStep::Wait { fd, write, until }));
            }
            Err(e) => {
                let a = if code(&e) == LIBSSH2_ERROR_EAGAIN {
                    Attempt::Final(Outcome::HandshakeTimeout(timeout))
                } else {
                    handshake_error(&e, timeout)
                };
                // Through a ProxyCommand, its own words say why (no route, a refused hop...).
                return Err(match (a, c.proxy.as_mut()) {
                    (Attempt::Final(o) | Attempt::Retry(o), Some(p)) => Attempt::Final(Outcome::Unreachable(
                        format!("{}; {}", o.describe(), p.describe()),
                    )),
                    (a, None) => a,
                });
            }
        }
        check_host_key(shared, target, &c.session, &name).map_err(Attempt::Final)?;
        let auth = Auth::new(&target.user.value);
        self.state = State::Auth(c, until, auth, place);
        Ok(None)
    }

    fn auth(
        &mut self,
        shared: &Shared,
        c: Connection,
        until: Instant,
        mut auth: Auth,
        place: Place,
        now: Instant,
    ) -> Result<Option<DialStep>, Attempt> {
        if now >= until {
            return Err(Attempt::Final(Outcome::HandshakeTimeout(
                self.target.connect_timeout.value,
            )));
        }
        match auth.step(shared, &c.session, &self.target, until) {
            AuthStep::Again => {
                let (fd, write) = (c.fd, c.wants_write());
                self.state = State::Auth(c, until, auth, place);
                Ok(Some(DialStep::Wait { fd, write, until }))
            }
            AuthStep::Done(Ok(())) => {
                self.state = State::Over;
                Ok(Some(DialStep::Done(Ok(c))))
            }
            AuthStep::Done(Err(o)) => Err(Attempt::Final(o)),
        }
    }
}

/// A non-blocking socket whose connect to `addr` has begun.
fn start_connect(addr: SocketAddr) -> std::io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_nonblocking(true)?;
    match sock.connect(&addr.into()) {
        Ok(()) => Ok(sock),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == ErrorKind::WouldBlock => {
            Ok(sock)
        }
        Err(e) => Err(e),
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
    )
}

/// Open an authenticated session to `target` through `via` (jump hosts, first hop first;
/// empty = directly) on the calling thread: a [`Dial`] driven to its end.
pub(super) fn connect_via(
    shared: &Shared,
    target: &HostSettings,
    via: &[HostSettings],
) -> Result<Connection, Outcome> {
    let mut dial = Dial::new(Arc::new(target.clone()), via.to_vec());
    loop {
        let now = Instant::now();
        match dial.step(shared, now) {
            DialStep::Wait { fd, write, until } => {
                wait::socket(fd, write, until.saturating_duration_since(now).min(SAFETY_NET));
            }
            DialStep::Sleep(until) => {
                std::thread::sleep(until.saturating_duration_since(now).min(SAFETY_NET))
            }
            DialStep::Offload(a) => dial.acquired(a.run(shared)),
            DialStep::Done(r) => return r,
        }
    }
}

/// The hub that forwards through the last of `hops` (reached through the ones before it):
/// shared by every target behind that chain, a new session every [`TUNNELS_PER_SESSION`]
/// targets. A jump host that cannot be reached fails every target behind it with its reason.
/// `fresh`: the current session is stuck opening a channel; start the next one.
fn hub(shared: &Shared, hops: &[HostSettings], fresh: bool) -> Result<Arc<Hub>, Outcome> {
    let chain: Vec<String> = hops.iter().map(HostSettings::describe).collect();
    let chain = chain.join(",");
    let cell = {
        let mut hubs = lock(&shared.hubs);
        let ticket = hubs.tickets.entry(chain.clone()).or_insert(0);
        if fresh {
            *ticket = (*ticket / TUNNELS_PER_SESSION + 1) * TUNNELS_PER_SESSION;
        }
        let index = *ticket / TUNNELS_PER_SESSION;
        *ticket += 1;
        Arc::clone(hubs.cells.entry((chain, index)).or_default())
    };
    cell.get_or_init(|| {
        let Some((last, before)) = hops.split_last() else {
            return Err(Outcome::Error("internal error: an empty jump host chain".into()));
        };
        let name = last.describe();
        let conn = connect_via(shared, last, before).map_err(|o| {
            let detail = match &o {
                // Already says which jump host failed.
                Outcome::Unreachable(why) if why.starts_with("jump host ") => why.clone(),
                o => format!("jump host {name}: {}", o.describe()),
            };
            Outcome::Unreachable(detail)
        })?;
        Hub::start(conn, name.clone())
            .map(Arc::new)
            .map_err(|e| Outcome::Error(format!("jump host {name}: cannot start forwarding: {e}")))
    })
    .clone()
}

/// A tunnel through the last of `via` to `dest:port`, within `timeout`; on a fresh session to
/// the same jump host when the current one is stuck opening another target's channel.
pub(super) fn tunnel(
    shared: &Shared,
    via: &[HostSettings],
    dest: &str,
    port: u16,
    timeout: Duration,
) -> Result<UnixStream, Attempt> {
    let start = std::time::Instant::now();
    let mut fresh = false;
    loop {
        let hub = hub(shared, via, fresh).map_err(Attempt::Final)?;
        let left = timeout.saturating_sub(start.elapsed());
        let why = match hub.open(dest, port, left) {
            Ok(sock) => return Ok(sock),
            Err(Open::Stuck) if !left.is_zero() => {
                fresh = true;
                continue;
            }
            Err(Open::Stuck) => format!("it did not open a connection to {dest}:{port} in time"),
            Err(Open::Failed(why)) => why.to_string(),
        };
        let why = format!("through jump host {}: {why}", hub.name);
        return Err(Attempt::Final(Outcome::Unreachable(why)));
    }
}

fn handshake_error(e: &ssh2::Error, timeout: Duration) -> Attempt {
    match code(e) {
        LIBSSH2_ERROR_TIMEOUT => Attempt::Final(Outcome::HandshakeTimeout(timeout)),
        // The server closed or reset during key exchange (MaxStartups, a restarting sshd).
        LIBSSH2_ERROR_SOCKET_DISCONNECT | LIBSSH2_ERROR_SOCKET_RECV | LIBSSH2_ERROR_SOCKET_SEND => {
            Attempt::Retry(Outcome::Error(format!("SSH handshake failed: {}", e.message())))
        }
        _ => Attempt::Final(Outcome::Error(format!("SSH handshake failed: {}", e.message()))),
    }
}
