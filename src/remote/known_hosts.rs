//! OpenSSH `known_hosts` files: read (plain and hashed names, patterns, `@revoked`), check a
//! host's key, and record a new one (`accept-new`) by appending, leaving every other line as it
//! was.
//!
//! The check is by key type: a host known by its ed25519 key is not "changed" because the
//! server could also offer RSA. [`KnownHosts::key_types`] gives the types recorded for a host
//! so the SSH client can ask for those first, as OpenSSH does.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The known_hosts name of an endpoint: `host` on port 22, `[host]:port` elsewhere.
pub fn host_name(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Names {
    /// `|1|salt|hash`: HMAC-SHA1 of the name keyed with the salt.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// Comma-separated patterns, `!` negates, `*` and `?` are wildcards.
    Patterns(Vec<String>),
}

impl Names {
    fn matches(&self, name: &str) -> bool {
        match self {
            Names::Hashed { salt, hash } => {
                let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            Names::Patterns(pats) => {
                let mut hit = false;
                for p in pats {
                    if let Some(neg) = p.strip_prefix('!') {
                        if super::wildcard_match(&neg.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
                            return false;
                        }
                    } else if super::wildcard_match(&p.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
                        hit = true;
                    }
                }
                hit
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    revoked: bool,
    names: Names,
    key_type: String,
    key: Vec<u8>,
    file: PathBuf,
    line: usize,
}

/// The verdict on a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Match,
    /// Nothing recorded for this host.
    Unknown,
    /// Recorded, but with a different key (`file:line` of the first record) or only under other
    /// key types than the one the server offered.
    Changed(String),
    /// The key is marked `@revoked`.
    Revoked(String),
}

/// The entries of one or more known_hosts files.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

impl KnownHosts {
    /// Read `paths` in order; a missing file is empty, an unreadable one is an error.
    /// Malformed lines are skipped, as OpenSSH does.
    pub fn load(paths: &[PathBuf]) -> io::Result<Self> {
        let mut kh = Self::default();
        for path in paths {
            match fs::read(path) {
                Ok(bytes) => kh.add_text(path, &String::from_utf8_lossy(&bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
            }
        }
        Ok(kh)
    }

    fn add_text(&mut self, path: &Path, text: &str) {
        for (i, line) in text.lines().enumerate() {
            if let Some(e) = parse_line(line) {
                self.entries.push(Entry {
                    file: path.to_path_buf(),
                    line: i + 1,
                    ..e
                });
            }
        }
    }

    fn for_host<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.names.matches(name))
    }

    /// Key types recorded for `name` (not revoked), in file order without repeats.
    pub fn key_types(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in self.for_host(name).filter(|e| !e.revoked) {
            if !out.contains(&e.key_type) {
                out.push(e.key_type.clone());
            }
        }
        out
    }

    /// Check the key `key` (SSH wire blob) of type `key_type` that `name` presented.
    pub fn check(&self, name: &str, key_type: &str, key: &[u8]) -> Check {
        let mut same_type: Option<&Entry> = None;
        let mut other_types: Vec<&str> = Vec::new();
        for e in self.for_host(name) {
            if e.revoked {
                if e.key == key {
                    return Check::Revoked(format!("{}:{}", e.file.display(), e.line));
                }
                continue;
            }
            if e.key_type == key_type {
                if e.key == key {
                    return Check::Match;
                }
                same_type.get_or_insert(e);
            } else if !other_types.contains(&e.key_type.as_str()) {
                other_types.push(&e.key_type);
            }
        }
        // A revoked key matching through a wildcard entry elsewhere is also refused.
        if let Some(e) = self.entries.iter().find(|e| e.revoked && e.key == key) {
            return Check::Revoked(format!("{}:{}", e.file.display(), e.line));
        }
        match same_type {
            Some(e) => Check::Changed(format!(
                "the {key_type} key differs from the one recorded at {}:{}",
                e.file.display(),
                e.line
            )),
            None if !other_types.is_empty() => Check::Changed(format!(
                "known_hosts records {} for this host but the server offered {key_type}",
                other_types.join(", ")
            )),
            None => Check::Unknown,
        }
    }

    /// Remember a key just appended to a file, so later checks in this run see it.
    pub fn remember(&mut self, path: &Path, name: &str, key_type: &str, key: &[u8]) {
        self.entries.push(Entry {
            revoked: false,
            names: Names::Patterns(vec![name.to_string()]),
            key_type: key_type.to_string(),
            key: key.to_vec(),
            file: path.to_path_buf(),
            line: 0,
        });
    }
}

fn parse_line(line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut revoked = false;
    if let Some(marker) = first.strip_prefix('@') {
        match marker {
            "revoked" => revoked = true,
            // Certificate authorities are not supported: such lines never match a plain key.
            _ => return None,
        }
        first = fields.next()?;
    }
    let names = if let Some(rest) = first.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|')?;
        Names::Hashed {
            salt: B64.decode(salt).ok()?,
            hash: B64.decode(hash).ok()?,
        }
    } else {
        Names::Patterns(first.split(',').map(str::to_string).collect())
    };
    let key_type = fields.next()?.to_string();
    let key = B64.decode(fields.next()?).ok()?;
    Some(Entry {
        revoked,
        names,
        key_type,
        key,
        file: PathBuf::new(),
        line: 0,
    })
}

/// Append `name key_type base64` to `path`, creating it (and a private parent directory) when
/// missing, and adding a newline first when the file does not end with one.
pub fn append(path: &Path, name: &str, key_type: &str, key: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            fs::create_dir_all(parent)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(parent, fs::Permissions::from_mode(0o700))?;
            }
        }
    }
    let needs_newline = fs::read(path)
        .map(|b| !b.is_empty() && !b.ends_with(b"\n"))
        .unwrap_or(false);
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    let mut line = String::new();
    if needs_newline {
        line.push('\n');
    }
    line.push_str(&format!("{name} {key_type} {}\n", B64.encode(key)));
    f.write_all(line.as_bytes())
}

/// The SHA256 fingerprint OpenSSH prints (`SHA256:...`, unpadded base64) from ssh2's digest.
pub fn fingerprint(sha256: &[u8]) -> String {
    let b64 = B64.encode(sha256);
    format!("SHA256:{}", b64.trim_end_matches('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const RSA: &str = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7";

    fn kh(text: &str) -> KnownHosts {
        let mut k = KnownHosts::default();
        k.add_text(Path::new("kh"), text);
        k
    }

    fn key(b64: &str) -> Vec<u8> {
        B64.decode(b64).unwrap()
    }

    #[test]
    fn names_follow_openssh() {
        assert_eq!(host_name("127.0.0.2", 22), "127.0.0.2");
        assert_eq!(host_name("127.0.0.2", 2222), "[127.0.0.2]:2222");
    }

    #[test]
    fn match_unknown_changed() {
        let k = kh(&format!(
            "# comment\n[127.0.0.2]:2222,web01 ssh-ed25519 {ED}\nbad line\n"
        ));
        assert_eq!(k.check("[127.0.0.2]:2222", "ssh-ed25519", &key(ED)), Check::Match);
        assert_eq!(k.check("web01", "ssh-ed25519", &key(ED)), Check::Match);
        assert_eq!(
            k.check("[127.0.0.3]:2222", "ssh-ed25519", &key(ED)),
            Check::Unknown
        );
        let mut other = key(ED);
        *other.last_mut().unwrap() ^= 1;
        match k.check("[127.0.0.2]:2222", "ssh-ed25519", &other) {
            Check::Changed(why) => assert!(why.contains("kh:2"), "{why}"),
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn other_key_type_only_is_not_a_match() {
        let k = kh(&format!("h ssh-rsa {RSA}\n"));
        assert_eq!(k.key_types("h"), ["ssh-rsa"]);
        match k.check("h", "ssh-ed25519", &key(ED)) {
            Check::Changed(why) => assert!(why.contains("records ssh-rsa"), "{why}"),
            c => panic!("{c:?}"),
        }
        // With both recorded, each type is checked against its own line.
        let k = kh(&format!("h ssh-rsa {RSA}\nh ssh-ed25519 {ED}\n"));
        assert_eq!(k.check("h", "ssh-ed25519", &key(ED)), Check::Match);
        assert_eq!(k.key_types("h"), ["ssh-rsa", "ssh-ed25519"]);
    }

    #[test]
    fn hashed_names() {
        // `ssh-keygen -H` form for "[127.0.0.2]:2222" with a fixed salt.
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.2]:2222");
        let hash = mac.finalize().into_bytes();
        let line = format!("|1|{}|{} ssh-ed25519 {ED}\n", B64.encode(salt), B64.encode(hash));
        let k = kh(&line);
        assert_eq!(k.check("[127.0.0.2]:2222", "ssh-ed25519", &key(ED)), Check::Match);
        assert_eq!(
            k.check("[127.0.0.3]:2222", "ssh-ed25519", &key(ED)),
            Check::Unknown
        );
    }

    #[test]
    fn patterns_and_negation_and_revoked() {
        let k = kh(&format!("*.example,!bad.example ssh-ed25519 {ED}\n"));
        assert_eq!(k.check("a.example", "ssh-ed25519", &key(ED)), Check::Match);
        assert_eq!(k.check("bad.example", "ssh-ed25519", &key(ED)), Check::Unknown);
        let k = kh(&format!("@revoked * ssh-ed25519 {ED}\nh ssh-ed25519 {ED}\n"));
        assert!(matches!(k.check("h", "ssh-ed25519", &key(ED)), Check::Revoked(_)));
        assert!(k.key_types("h").contains(&"ssh-ed25519".to_string()));
        // CA lines are ignored, not misread as host keys.
        let k = kh(&format!("@cert-authority * ssh-ed25519 {ED}\n"));
        assert_eq!(k.check("h", "ssh-ed25519", &key(ED)), Check::Unknown);
    }

    #[test]
    fn append_keeps_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        append(&path, "[127.0.0.2]:2222", "ssh-ed25519", &key(ED)).unwrap();
        fs::write(
            &path,
            format!("{}# no newline", fs::read_to_string(&path).unwrap()),
        )
        .unwrap();
        append(&path, "[127.0.0.3]:2222", "ssh-ed25519", &key(ED)).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("[127.0.0.2]:2222 ssh-ed25519 {ED}\n# no newline\n[127.0.0.3]:2222 ssh-ed25519 {ED}\n")
        );
        let k = KnownHosts::load(&[path]).unwrap();
        assert_eq!(k.check("[127.0.0.3]:2222", "ssh-ed25519", &key(ED)), Check::Match);
    }
}
