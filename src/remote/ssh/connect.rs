//! Opening a session to one host: resolve (within the allow-list), TCP connect per address,
//! handshake, host key check against known_hosts, authentication; retried with backoff for
//! connection-level failures only.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ssh2::{HashType, HostKeyType, MethodType, Session};

use super::jump::{Hub, Open, TUNNELS_PER_SESSION};
use super::{
    cancelled, code, lock, ms, Shared, LIBSSH2_ERROR_SOCKET_DISCONNECT, LIBSSH2_ERROR_SOCKET_RECV,
    LIBSSH2_ERROR_SOCKET_SEND, LIBSSH2_ERROR_TIMEOUT,
};
use crate::deployment::HostKeyChecking;
use crate::remote::known_hosts::{self, Check};
use crate::remote::settings::HostSettings;
use crate::remote::ssh_config;
use crate::remote::Outcome;

/// Why a connection attempt failed, and whether trying again may help.
enum Attempt {
    Retry(Outcome),
    Final(Outcome),
}

pub(super) struct Connection {
    pub(super) session: Session,
    /// The session's socket (owned by the session), for waiting on it.
    pub(super) fd: RawFd,
    /// The `ProxyCommand` the session runs over, if any: ended with the connection.
    pub(super) proxy: Option<super::proxy::Proxy>,
}

/// Open an authenticated session to `target`, through its jump hosts if it has any; retried
/// with backoff for connection-level failures.
pub(super) fn connect(shared: &Shared, target: &HostSettings) -> Result<Connection, Outcome> {
    connect_via(shared, target, &target.jump.value)
}

/// [`connect`] to `target` through `via` (jump hosts, first hop first; empty = directly).
fn connect_via(shared: &Shared, target: &HostSettings, via: &[HostSettings]) -> Result<Connection, Outcome> {
    let config = &shared.config;
    let mut backoff = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        match connect_once(shared, target, via) {
            Ok(c) => return Ok(c),
            Err(Attempt::Retry(_)) if attempt < config.retries && !cancelled(config) => {
                attempt += 1;
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            Err(Attempt::Retry(o)) | Err(Attempt::Final(o)) => return Err(o),
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

/// The socket to run a session over: TCP, or one end of a jump host tunnel.
enum Stream {
    Tcp(TcpStream),
    Tunnel(UnixStream),
}

fn connect_once(shared: &Shared, target: &HostSettings, via: &[HostSettings]) -> Result<Connection, Attempt> {
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
    // Through a jump host or a ProxyCommand a name need not resolve here (it may only resolve
    // there), unless an allow-list must be checked: then the checked address is what the jump
    // host connects to, and the ProxyCommand starts only for an allowed target.
    let indirect = !via.is_empty() || target.proxy_command.is_some();
    let addrs = match addrs {
        Err(_) if indirect && config.allow.is_empty() => Vec::new(),
        other => other?,
    };
    let (allowed, refused): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|a| config.allow.permits(a.ip()));
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
    let mut proxy = None;
    let stream = if let Some(command) = &target.proxy_command {
        let tokens = ssh_config::Tokens {
            host: &ep.address,
            original: &target.name,
            port: ep.port,
            user: &ep.user,
        };
        let command = ssh_config::expand_tokens(&command.value, &tokens);
        let (p, sock) = super::proxy::Proxy::start(&command).map_err(|e| {
            Attempt::Final(Outcome::Unreachable(format!(
                "cannot start the ProxyCommand `{command}`: {e}"
            )))
        })?;
        proxy = Some(p);
        Stream::Tunnel(sock)
    } else if via.is_empty() {
        Stream::Tcp(tcp(allowed, timeout)?)
    } else {
        let dest = if config.allow.is_empty() {
            ep.address.clone()
        } else {
            allowed.first().map(|a| a.ip().to_string()).unwrap_or_default()
        };
        Stream::Tunnel(tunnel(shared, via, &dest, ep.port, timeout)?)
    };
    let mut session =
        Session::new().map_err(|e| Attempt::Final(Outcome::Error(format!("cannot start a session: {e}"))))?;
    super::recv::install(&session);
    let fd = match stream {
        Stream::Tcp(s) => {
            let _ = s.set_nodelay(true);
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
    session.set_timeout(ms(timeout));
    let name = known_hosts::host_name(&ep.address, ep.port);
    let known = shared.known_hosts(target);
    prefer_known_key_types(&session, &lock(known).key_types(&name));
    if let Err(e) = session.handshake() {
        // Through a ProxyCommand, its own words say why (no route, a refused hop...).
        return Err(match (handshake_error(&e, timeout), proxy.as_mut()) {
            (Attempt::Final(o) | Attempt::Retry(o), Some(p)) => Attempt::Final(Outcome::Unreachable(
                format!("{}; {}", o.describe(), p.describe()),
            )),
            (a, None) => a,
        });
    }
    check_host_key(shared, target, &session, &name)?;
    authenticate(shared, &session, target).map_err(Attempt::Final)?;
    Ok(Connection { session, fd, proxy })
}

/// A tunnel through the last of `via` to `dest:port`, within `timeout`; on a fresh session to
/// the same jump host when the current one is stuck opening another target's channel.
fn tunnel(
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
            Err(Open::Failed(why)) => why,
        };
        let why = format!("through jump host {}: {why}", hub.name);
        return Err(Attempt::Final(Outcome::Unreachable(why)));
    }
}

/// A TCP connection to the first of `allowed` that answers within `timeout`.
fn tcp(allowed: Vec<std::net::SocketAddr>, timeout: Duration) -> Result<TcpStream, Attempt> {
    let mut last = String::new();
    let mut transient = false;
    for addr in allowed {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => {
                transient |= matches!(
                    e.kind(),
                    ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                );
                last = if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock {
                    format!(
                        "{addr}: no answer within {:.1}s (connect timeout)",
                        timeout.as_secs_f64()
                    )
                } else {
                    format!("{addr}: {e}")
                };
            }
        }
    }
    let o = Outcome::Unreachable(last);
    Err(if transient {
        Attempt::Retry(o)
    } else {
        Attempt::Final(o)
    })
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

/// The known_hosts key type an SSH host key algorithm yields.
fn key_type_of_alg(alg: &str) -> Option<&str> {
    match alg {
        "rsa-sha2-512" | "rsa-sha2-256" | "ssh-rsa" => Some("ssh-rsa"),
        a if a.contains("-cert-") => None,
        a => Some(a),
    }
}

/// Ask for the host key algorithms known_hosts records for this host first (as OpenSSH does),
/// so a host known by its RSA key is not reported as changed because it also has ed25519.
/// Certificate algorithms are left out: certificates are not supported.
fn prefer_known_key_types(session: &Session, known: &[String]) {
    let Ok(algs) = session.supported_algs(MethodType::HostKey) else {
        return;
    };
    let usable: Vec<&str> = algs
        .into_iter()
        .filter(|a| key_type_of_alg(a).is_some())
        .collect();
    let (mut first, rest): (Vec<&str>, Vec<&str>) = usable
        .into_iter()
        .partition(|a| key_type_of_alg(a).is_some_and(|t| known.iter().any(|k| k == t)));
    first.extend(rest);
    let _ = session.method_pref(MethodType::HostKey, &first.join(","));
}

fn key_type_name(kind: HostKeyType) -> &'static str {
    match kind {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        _ => "unknown",
    }
}

fn check_host_key(
    shared: &Shared,
    target: &HostSettings,
    session: &Session,
    name: &str,
) -> Result<(), Attempt> {
    let policy = target.host_key_checking.value;
    if policy == HostKeyChecking::Off {
        return Ok(());
    }
    let Some((key, kind)) = session.host_key() else {
        return Err(Attempt::Final(Outcome::Error(
            "the server sent no host key".into(),
        )));
    };
    let key_type = key_type_name(kind);
    let fp = session
        .host_key_hash(HashType::Sha256)
        .map(known_hosts::fingerprint)
        .unwrap_or_default();
    let file = target
        .known_hosts
        .value
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from(".ssh/known_hosts"));
    let mut known = lock(shared.known_hosts(target));
    match known.check(name, key_type, key) {
        Check::Match => Ok(()),
        Check::Unknown if policy == HostKeyChecking::AcceptNew => {
            known_hosts::append(&file, name, key_type, key).map_err(|e| {
                Attempt::Final(Outcome::Error(format!(
                    "cannot record the host key in {}: {e}",
                    file.display()
                )))
            })?;
            known.remember(&file, name, key_type, key);
            Ok(())
        }
        Check::Unknown => {
            let ep = target.endpoint();
            Err(Attempt::Final(Outcome::HostKeyUnknown(format!(
                "{name} is not in {}; it offered {key_type} {fp}. Verify it, then record it with: \
                 ssh-keyscan -p {} {} >> {} (or use --host-key-checking accept-new)",
                file.display(),
                ep.port,
                ep.address,
                file.display()
            ))))
        }
        Check::Changed(why) => Err(Attempt::Final(Outcome::HostKeyChanged(format!(
            "{why}; the server offered {key_type} {fp}. If the host was reinstalled, remove the \
             old key with: ssh-keygen -f {} -R '{name}'",
            file.display()
        )))),
        Check::Revoked(at) => Err(Attempt::Final(Outcome::HostKeyChanged(format!(
            "{key_type} {fp} is marked @revoked ({at})"
        )))),
    }
}

/// Whether a private key file needs a passphrase: PEM with `ENCRYPTED` in its header, or an
/// OpenSSH key whose cipher is not `none`.
fn key_is_encrypted(pem: &[u8]) -> bool {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(pem);
    if !text.contains("BEGIN OPENSSH PRIVATE KEY") {
        return text.lines().take(3).any(|l| l.contains("ENCRYPTED"));
    }
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(body) else {
        return false;
    };
    // "openssh-key-v1\0", then the cipher name as an SSH string (u32 length, bytes).
    let Some(rest) = raw.strip_prefix(b"openssh-key-v1\0".as_slice()) else {
        return false;
    };
    let Some((len, rest)) = rest.split_first_chunk::<4>() else {
        return false;
    };
    let len = u32::from_be_bytes(*len) as usize;
    rest.get(..len).is_some_and(|cipher| cipher != b"none")
}

fn auth_error(e: &ssh2::Error, timeout: Duration) -> Option<Outcome> {
    (code(e) == LIBSSH2_ERROR_TIMEOUT).then_some(Outcome::HandshakeTimeout(timeout))
}

/// Every agent identity, then identity files, then a password; `AuthFailed` lists what was
/// tried.
fn authenticate(shared: &Shared, session: &Session, target: &HostSettings) -> Result<(), Outcome> {
    let config = &shared.config;
    let timeout = target.connect_timeout.value;
    let user = target.user.value.as_str();
    let methods = match session.auth_methods(user) {
        Ok(m) => m.to_string(),
        Err(e) => {
            if session.authenticated() {
                return Ok(());
            }
            return Err(auth_error(&e, timeout)
                .unwrap_or_else(|| Outcome::AuthFailed(format!("as {user}: {}", e.message()))));
        }
    };
    let mut tried: Vec<String> = Vec::new();
    if methods.split(',').any(|m| m == "publickey") {
        if std::env::var_os("SSH_AUTH_SOCK").is_some() && !target.identities_only.value {
            match agent_auth(session, user) {
                Ok(true) => return Ok(()),
                Ok(false) => tried.push("ssh-agent (no key accepted)".into()),
                Err(why) => tried.push(format!("ssh-agent ({why})")),
            }
        }
        for path in &target.identities.value {
            if !path.is_file() {
                tried.push(format!("{} (no such file)", path.display()));
                continue;
            }
            let encrypted = key_is_encrypted(&std::fs::read(path).unwrap_or_default());
            let passphrase = if encrypted {
                let asked = config.passphrase.clone().or_else(|| {
                    let prompt = config.prompt.as_ref()?;
                    prompt(&format!("Passphrase for key {}: ", path.display()))
                });
                let Some(p) = asked else {
                    tried.push(format!(
                        "{} (protected by a passphrase: add it to ssh-agent with `ssh-add {}`, or set {})",
                        path.display(),
                        path.display(),
                        crate::remote::PASSPHRASE_ENV
                    ));
                    continue;
                };
                Some(p)
            } else {
                None
            };
            match session.userauth_pubkey_file(user, None, path, passphrase.as_deref()) {
                Ok(()) if session.authenticated() => return Ok(()),
                Ok(()) => tried.push(format!("{} (not accepted)", path.display())),
                Err(e) => {
                    if let Some(o) = auth_error(&e, timeout) {
                        return Err(o);
                    }
                    let why = if encrypted {
                        format!("protected by a passphrase; wrong passphrase? {}", e.message())
                    } else {
                        e.message().to_string()
                    };
                    tried.push(format!("{} ({why})", path.display()));
                }
            }
        }
    }
    if methods.split(',').any(|m| m == "password") {
        let password = shared.password.get_or_init(|| {
            config.password.clone().or_else(|| {
                let prompt = config.prompt.as_ref()?;
                prompt(&format!("SSH password for {user}: "))
            })
        });
        match password {
            Some(pw) => match session.userauth_password(user, pw) {
                Ok(()) if session.authenticated() => return Ok(()),
                Ok(()) => tried.push("password (not accepted)".into()),
                Err(e) => {
                    if let Some(o) = auth_error(&e, timeout) {
                        return Err(o);
                    }
                    tried.push("password (not accepted)".into());
                }
            },
            None => tried.push(format!(
                "password (none given: set {})",
                crate::remote::PASSWORD_ENV
            )),
        }
    }
    if tried.is_empty() {
        tried.push("nothing (no agent, no identity file)".into());
    }
    Err(Outcome::AuthFailed(format!(
        "as {user}; the server accepts {methods}; tried {}",
        tried.join(", ")
    )))
}

fn agent_auth(session: &Session, user: &str) -> Result<bool, String> {
    let mut agent = session.agent().map_err(|e| e.message().to_string())?;
    agent.connect().map_err(|e| e.message().to_string())?;
    agent.list_identities().map_err(|e| e.message().to_string())?;
    let ids = agent.identities().map_err(|e| e.message().to_string())?;
    for id in &ids {
        if agent.userauth(user, id).is_ok() && session.authenticated() {
            let _ = agent.disconnect();
            return Ok(true);
        }
    }
    let _ = agent.disconnect();
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_types_of_algorithms() {
        assert_eq!(key_type_of_alg("rsa-sha2-512"), Some("ssh-rsa"));
        assert_eq!(key_type_of_alg("ssh-ed25519"), Some("ssh-ed25519"));
        assert_eq!(key_type_of_alg("ssh-ed25519-cert-v01@openssh.com"), None);
    }

    use std::process::{Command, Stdio};

    fn keygen(dir: &std::path::Path, name: &str, passphrase: &str) -> Vec<u8> {
        let path = dir.join(name);
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .status()
            .expect("ssh-keygen (install openssh-client)");
        assert!(st.success());
        std::fs::read(path).unwrap()
    }

    #[test]
    fn protected_keys_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        assert!(key_is_encrypted(&keygen(dir.path(), "locked", "s3cret phrase")));
        assert!(!key_is_encrypted(&keygen(dir.path(), "open", "")));
        assert!(key_is_encrypted(
            b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n"
        ));
        assert!(!key_is_encrypted(b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n"));
        assert!(!key_is_encrypted(b"not a key"));
    }
}
