//! Who the host is and who we are: the host key checked against known_hosts, then
//! authentication as a state machine the engine drives without blocking: every agent identity,
//! then identity files, then a password; `AuthFailed` lists what was tried.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ssh2::{HashType, HostKeyType, MethodType, Session};

use super::codes::{code, lock, ms, LIBSSH2_ERROR_EAGAIN};
use super::shared::Shared;
use crate::deployment::HostKeyChecking;
use crate::remote::known_hosts::{self, Check};
use crate::remote::settings::HostSettings;
use crate::remote::Outcome;

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
pub(super) fn prefer_known_key_types(session: &Session, known: &[String]) {
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

pub(super) fn check_host_key(
    shared: &Shared,
    target: &HostSettings,
    session: &Session,
    name: &str,
) -> Result<(), Outcome> {
    let policy = target.host_key_checking.value;
    if policy == HostKeyChecking::Off {
        return Ok(());
    }
    let Some((key, kind)) = session.host_key() else {
        return Err(Outcome::Error("the server sent no host key".into()));
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
                Outcome::Error(format!("cannot record the host key in {}: {e}", file.display()))
            })?;
            known.remember(&file, name, key_type, key);
            Ok(())
        }
        Check::Unknown => {
            let ep = target.endpoint();
            Err(Outcome::HostKeyUnknown(format!(
                "{name} is not in {}; it offered {key_type} {fp}. Verify it, then record it with: \
                 ssh-keyscan -p {} {} >> {} (or use --host-key-checking accept-new)",
                file.display(),
                ep.port,
                ep.address,
                file.display()
            )))
        }
        Check::Changed(why) => Err(Outcome::HostKeyChanged(format!(
            "{why}; the server offered {key_type} {fp}. If the host was reinstalled, remove the \
             old key with: ssh-keygen -f {} -R '{name}'",
            file.display()
        ))),
        Check::Revoked(at) => Err(Outcome::HostKeyChanged(format!(
            "{key_type} {fp} is marked @revoked ({at})"
        ))),
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

/// Where authentication stands.
enum Stage {
    /// Asking which methods the server accepts.
    Methods,
    Agent,
    /// Identity file `i`; its passphrase once asked (`None`: not asked yet).
    Key(usize, Option<Option<String>>),
    Password,
    Failed,
}

/// What a step of [`Auth`] needs next.
pub(super) enum AuthStep {
    /// libssh2 would block: wait on the session's socket, then step again.
    Again,
    Done(Result<(), Outcome>),
}

/// Authentication of one session; see the module docs.
pub(super) struct Auth {
    user: String,
    methods: String,
    stage: Stage,
    tried: Vec<String>,
}

impl Auth {
    pub(super) fn new(user: &str) -> Self {
        Auth {
            user: user.to_string(),
            methods: String::new(),
            stage: Stage::Methods,
            tried: Vec::new(),
        }
    }

    /// Go as far as possible without blocking. `until`: the handshake's deadline (an agent's
    /// exchange, the one blocking part, is bounded by it).
    pub(super) fn step(
        &mut self,
        shared: &Shared,
        session: &Session,
        target: &HostSettings,
        until: Instant,
    ) -> AuthStep {
        let config = &shared.config;
        let eagain = |e: &ssh2::Error| code(e) == LIBSSH2_ERROR_EAGAIN;
        let user = self.user.clone();
        loop {
            match &mut self.stage {
                Stage::Methods => match session.auth_methods(&user) {
                    Ok(m) => {
                        self.methods = m.to_string();
                        self.stage = if !self.accepts("publickey") {
                            Stage::Password
                        } else if std::env::var_os("SSH_AUTH_SOCK").is_some() && !target.identities_only.value
                        {
                            Stage::Agent
                        } else {
                            Stage::Key(0, None)
                        };
                    }
                    Err(e) if eagain(&e) => return AuthStep::Again,
                    Err(_) if session.authenticated() => return AuthStep::Done(Ok(())),
                    Err(e) => {
                        return AuthStep::Done(Err(Outcome::AuthFailed(format!(
                            "as {user}: {}",
                            e.message()
                        ))))
                    }
                },
                Stage::Agent => {
                    // The agent's socket is local; its exchange with the server is bounded by
                    // the handshake's deadline.
                    let left = until.saturating_duration_since(Instant::now());
                    session.set_timeout(ms(left.max(Duration::from_millis(1))));
                    session.set_blocking(true);
                    let r = agent_auth(session, &user);
                    session.set_blocking(false);
                    match r {
                        Ok(true) => return AuthStep::Done(Ok(())),
                        Ok(false) => self.tried.push("ssh-agent (no key accepted)".into()),
                        Err(e) => self.tried.push(format!("ssh-agent ({})", e.message())),
                    }
                    self.stage = Stage::Key(0, None);
                }
                Stage::Key(i, asked) => {
                    let Some(path) = target.identities.value.get(*i).cloned() else {
                        self.stage = Stage::Password;
                        continue;
                    };
                    let next = Stage::Key(*i + 1, None);
                    if !path.is_file() {
                        self.tried.push(format!("{} (no such file)", path.display()));
                        self.stage = next;
                        continue;
                    }
                    let encrypted = key_is_encrypted(&std::fs::read(&path).unwrap_or_default());
                    let passphrase = match asked {
                        Some(p) => p.clone(),
                        None if !encrypted => {
                            *asked = Some(None);
                            None
                        }
                        None => {
                            let p = config.passphrase.clone().or_else(|| {
                                let prompt = config.prompt.as_ref()?;
                                prompt(&format!("Passphrase for key {}: ", path.display()))
                            });
                            if p.is_none() {
                                self.tried.push(format!(
                                    "{} (protected by a passphrase: add it to ssh-agent with `ssh-add {}`, or set {})",
                                    path.display(),
                                    path.display(),
                                    crate::remote::PASSPHRASE_ENV
                                ));
                                self.stage = next;
                                continue;
                            }
                            *asked = Some(p.clone());
                            p
                        }
                    };
                    match session.userauth_pubkey_file(&user, None, &path, passphrase.as_deref()) {
                        Err(e) if eagain(&e) => return AuthStep::Again,
                        Ok(()) if session.authenticated() => return AuthStep::Done(Ok(())),
                        Ok(()) => self.tried.push(format!("{} (not accepted)", path.display())),
                        Err(e) => {
                            let why = if encrypted {
                                format!("protected by a passphrase; wrong passphrase? {}", e.message())
                            } else {
                                e.message().to_string()
                            };
                            self.tried.push(format!("{} ({why})", path.display()));
                        }
                    }
                    self.stage = next;
                }
                Stage::Password => {
                    if !self.accepts("password") {
                        self.stage = Stage::Failed;
                        continue;
                    }
                    let password = shared.password.get_or_init(|| {
                        config.password.clone().or_else(|| {
                            let prompt = config.prompt.as_ref()?;
                            prompt(&format!("SSH password for {user}: "))
                        })
                    });
                    match password {
                        Some(pw) => match session.userauth_password(&user, pw) {
                            Err(e) if eagain(&e) => return AuthStep::Again,
                            Ok(()) if session.authenticated() => return AuthStep::Done(Ok(())),
                            _ => self.tried.push("password (not accepted)".into()),
                        },
                        None => self.tried.push(format!(
                            "password (none given: set {})",
                            crate::remote::PASSWORD_ENV
                        )),
                    }
                    self.stage = Stage::Failed;
                }
                Stage::Failed => {
                    if self.tried.is_empty() {
                        self.tried.push("nothing (no agent, no identity file)".into());
                    }
                    return AuthStep::Done(Err(Outcome::AuthFailed(format!(
                        "as {user}; the server accepts {}; tried {}",
                        self.methods,
                        self.tried.join(", ")
                    ))));
                }
            }
        }
    }

    fn accepts(&self, method: &str) -> bool {
        self.methods.split(',').any(|m| m == method)
    }
}

/// Every identity of the agent in turn: whether one was accepted, or the agent's own error.
fn agent_auth(session: &Session, user: &str) -> Result<bool, ssh2::Error> {
    let mut agent = session.agent()?;
    agent.connect()?;
    agent.list_identities()?;
    let ids = agent.identities()?;
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
