//! OpenSSH client configuration (`~/.ssh/config`, `/etc/ssh/ssh_config`, or `-F FILE`), read
//! the way `ssh` reads it: `Host` and `Match` blocks, `Include` (globs, relative to `~/.ssh` or
//! `/etc/ssh`, conditional inside a block), first value wins, `IdentityFile` accumulates.
//!
//! Only what decides where and how rolecall connects is used (see [`SUPPORTED`]). A directive
//! that would change that but is not supported (`ProxyCommand`, `ControlMaster`, ...) is
//! reported once, with its file and line, by the caller; harmless ones (`SendEnv`, ciphers,
//! keep-alives...) are ignored quietly.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Deepest `Include` nesting, as in OpenSSH.
const MAX_DEPTH: usize = 16;

/// Directives rolecall applies.
pub const SUPPORTED: &[&str] = &[
    "hostname",
    "user",
    "port",
    "identityfile",
    "identitiesonly",
    "proxyjump",
    "userknownhostsfile",
    "globalknownhostsfile",
    "stricthostkeychecking",
    "connecttimeout",
    "proxycommand",
];

/// Directives that change where or how `ssh` connects, which rolecall does not do: using the
/// file as if they were not there could connect somewhere else, or differently, than `ssh`.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("controlmaster", "every run opens its own connections"),
    ("controlpath", "every run opens its own connections"),
    ("controlpersist", "every run opens its own connections"),
    (
        "hostkeyalias",
        "host keys are looked up under the host's own name",
    ),
    ("canonicalizehostname", "names are used as written"),
    ("certificatefile", "certificates are not supported"),
    ("pkcs11provider", "hardware tokens are not supported"),
    ("securitykeyprovider", "security keys are not supported"),
    ("knownhostscommand", "only known_hosts files are read"),
    ("bindaddress", "connections use the default source address"),
    ("bindinterface", "connections use the default interface"),
    ("addressfamily", "every resolved address is tried"),
    ("identityagent", "the agent at SSH_AUTH_SOCK is used"),
    ("remotecommand", "rolecall sends its own commands"),
    ("localcommand", "nothing runs locally"),
];

/// Every keyword OpenSSH's client reads (OpenSSH 9.2, Debian's `ssh -G -o KEY=...` accepting
/// it; plus `tag`, `channeltimeout`, `obscurekeystroketiming`, `refuseconnection` and
/// `warnweakcrypto` of later releases). Any other is an error, as in `ssh`, unless an earlier
/// `IgnoreUnknown` covers it.
const KNOWN: &[&str] = &[
    "addkeystoagent",
    "addressfamily",
    "afstokenpassing",
    "batchmode",
    "bindaddress",
    "bindinterface",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizehostname",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "casignaturealgorithms",
    "certificatefile",
    "challengeresponseauthentication",
    "channeltimeout",
    "checkhostip",
    "cipher",
    "ciphers",
    "clearallforwardings",
    "compression",
    "compressionlevel",
    "connectionattempts",
    "connecttimeout",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "dsaauthentication",
    "dynamicforward",
    "enableescapecommandline",
    "enablesshkeysign",
    "escapechar",
    "exitonforwardfailure",
    "fallbacktorsh",
    "fingerprinthash",
    "forkafterauthentication",
    "forwardagent",
    "forwardx11",
    "forwardx11timeout",
    "forwardx11trusted",
    "gatewayports",
    "globalknownhostsfile",
    "globalknownhostsfile2",
    "gssapiauthentication",
    "gssapiclientidentity",
    "gssapidelegatecredentials",
    "gssapikexalgorithms",
    "gssapikeyexchange",
    "gssapirenewalforcesrekey",
    "gssapiserveridentity",
    "gssapitrustdns",
    "hashknownhosts",
    "host",
    "hostbasedacceptedalgorithms",
    "hostbasedauthentication",
    "hostbasedkeytypes",
    "hostkeyalgorithms",
    "hostkeyalias",
    "hostname",
    "identitiesonly",
    "identityagent",
    "identityfile",
    "identityfile2",
    "ignoreunknown",
    "include",
    "ipqos",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "keepalive",
    "kerberosauthentication",
    "kerberostgtpassing",
    "kexalgorithms",
    "knownhostscommand",
    "localcommand",
    "localforward",
    "loglevel",
    "logverbose",
    "macs",
    "match",
    "nohostauthenticationforlocalhost",
    "numberofpasswordprompts",
    "obscurekeystroketiming",
    "passwordauthentication",
    "permitlocalcommand",
    "permitremoteopen",
    "pkcs11provider",
    "port",
    "preferredauthentications",
    "protocol",
    "protocolkeepalives",
    "proxycommand",
    "proxyjump",
    "proxyusefdpass",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "pubkeyauthentication",
    "refuseconnection",
    "rekeylimit",
    "remotecommand",
    "remoteforward",
    "requesttty",
    "requiredrsasize",
    "revokedhostkeys",
    "rhostsauthentication",
    "rhostsrsaauthentication",
    "securitykeyprovider",
    "sendenv",
    "serveralivecountmax",
    "serveraliveinterval",
    "sessiontype",
    "setenv",
    "setuptimeout",
    "skeyauthentication",
    "smartcarddevice",
    "stdinnull",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "stricthostkeychecking",
    "syslogfacility",
    "tag",
    "tcpkeepalive",
    "tisauthentication",
    "tunnel",
    "tunneldevice",
    "updatehostkeys",
    "useblacklistedkeys",
    "useprivilegedport",
    "user",
    "userknownhostsfile",
    "userknownhostsfile2",
    "useroaming",
    "usersh",
    "verifyhostkeydns",
    "visualhostkey",
    "warnweakcrypto",
    "xauthlocation",
];

/// Bytes of one configuration file rolecall reads at most.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// Where a value was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug, Clone)]
enum Line {
    Host(Vec<String>),
    Match(Vec<String>),
    /// The files one `Include` names, globs expanded, in order.
    Include(Vec<PathBuf>),
    Set {
        key: String,
        /// The directive as written.
        name: String,
        args: Vec<String>,
    },
}

#[derive(Debug, Clone, Default)]
struct File {
    lines: Vec<(usize, Line)>,
}

/// One or more configuration files, read once; [`SshConfig::query`] per host.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    /// The top-level files in the order `ssh` reads them (user, then system).
    roots: Vec<PathBuf>,
    files: HashMap<PathBuf, File>,
    /// Problems found while reading (unreadable included files, bad lines).
    pub problems: Vec<String>,
    /// What makes `ssh` itself refuse the configuration (an unknown option, an `Include`
    /// loop, a file that is not a regular file or has unsafe permissions): `load` fails.
    fatal: Option<String>,
    /// `IgnoreUnknown` patterns seen so far, in reading order.
    ignore_unknown: Vec<String>,
}

/// Which files to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Files {
    /// `~/.ssh/config`, then `/etc/ssh/ssh_config` (those that exist).
    Default,
    /// `-F FILE`: only this one (it must exist).
    Only(PathBuf),
    /// `--no-ssh-config`.
    None,
}

/// What a query knows about the host and the user so far (for tokens and `Match`).
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// The name the host is reached by, before `HostName` (`%n`, `Host` patterns).
    pub host: &'a str,
    /// The user set outside ssh_config (flags, deployment), if any.
    pub user: Option<&'a str>,
    /// The port set outside ssh_config, if any.
    pub port: Option<u16>,
}

/// The values that apply to one host: for each directive, its arguments where first written.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    values: Vec<(String, Vec<String>, Origin)>,
    /// Directives that applied but are not supported: (directive as written, why, where).
    pub unsupported: Vec<(String, &'static str, Origin)>,
    /// Each `Match exec` run for this host and how it ended (shown with `-vv`).
    pub execs: Vec<String>,
}

impl HostConfig {
    /// Where `key` first applied, in the order ssh reads the values (`usize::MAX`: never).
    pub fn position(&self, key: &str) -> usize {
        self.values
            .iter()
            .position(|(k, _, _)| k == key)
            .unwrap_or(usize::MAX)
    }

    /// The first value of `key` (lower case) and where it was written.
    pub fn first(&self, key: &str) -> Option<(&[String], &Origin)> {
        self.values
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, a, o)| (a.as_slice(), o))
    }

    /// Every value of `key` in order (for `IdentityFile`, which accumulates).
    pub fn all<'s>(&'s self, key: &'s str) -> impl Iterator<Item = (&'s [String], &'s Origin)> + 's {
        self.values
            .iter()
            .filter(move |(k, _, _)| k == key)
            .map(|(_, a, o)| (a.as_slice(), o))
    }
}

/// `$HOME`, when set and not empty.
pub(crate) fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

impl SshConfig {
    /// Read `files` (and everything they include). A file given with `-F` that cannot be read
    /// is an error; the default files are skipped when absent.
    pub fn load(files: &Files) -> Result<Self, ConfigError> {
        let mut me = Self::default();
        match files {
            Files::None => {}
            Files::Only(path) => {
                let text = read_file(path, false).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                me.add(path.clone(), &text, &user_dir(), &mut Vec::new(), false);
                me.roots.push(path.clone());
            }
            Files::Default => {
                let mut defaults = Vec::new();
                if let Some(h) = home() {
                    // ssh checks the owner and permissions of the user's own file.
                    defaults.push((h.join(".ssh/config"), user_dir(), true));
                }
                defaults.push((
                    PathBuf::from("/etc/ssh/ssh_config"),
                    PathBuf::from("/etc/ssh"),
                    false,
                ));
                for (path, base, check) in defaults {
                    if !path.exists() {
                        continue;
                    }
                    let text = read_file(&path, check).map_err(|source| ConfigError::Read {
                        path: path.clone(),
                        source,
                    })?;
                    me.add(path.clone(), &text, &base, &mut Vec::new(), check);
                    me.roots.push(path);
                }
            }
        }
        match me.fatal.take() {
            Some(why) => Err(ConfigError::Refused(why)),
            None => Ok(me),
        }
    }

    /// A configuration from text (tests); `Include`s resolve against `base`.
    pub fn from_text(name: &str, text: &str, base: &Path) -> Self {
        let mut me = Self::default();
        me.add(PathBuf::from(name), text, base, &mut Vec::new(), false);
        me.roots.push(PathBuf::from(name));
        me
    }

    /// Why `ssh` itself would refuse this configuration, if it would.
    pub fn refused(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    /// The files read, top-level ones first.
    pub fn files(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = self.files.keys().map(PathBuf::as_path).collect();
        v.sort();
        v
    }

    /// Read `text` (file `path`), then the files it includes. `stack` holds the files being
    /// read (an `Include` of one of them is a loop, which `ssh` refuses); `check`: ssh's owner
    /// and permission rules apply (the user's own file and what it includes).
    fn add(&mut self, path: PathBuf, text: &str, base: &Path, stack: &mut Vec<PathBuf>, check: bool) {
        if self.fatal.is_some() {
            return;
        }
        stack.push(path.clone());
        let mut file = File::default();
        let mut includes: Vec<(PathBuf, String)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let Some((key, name, args)) = split_line_named(raw) else {
                continue;
            };
            let at = format!("{}:{line}", path.display());
            let parsed = match key.as_str() {
                "host" => Line::Host(args),
                "match" => Line::Match(args),
                "include" => {
                    if stack.len() > MAX_DEPTH {
                        self.fatal = Some(format!(
                            "{at}: too many recursive configuration includes (more than {MAX_DEPTH}), as ssh says"
                        ));
                        return;
                    }
                    let mut found = Vec::new();
                    for pattern in &args {
                        // A glob that matches nothing is nothing, as in ssh (Debian's own
                        // `Include /etc/ssh/ssh_config.d/*.conf`); a plain missing path is
                        // reported when it is read.
                        found.extend(glob_files(&include_path(pattern, base)));
                    }
                    includes.extend(found.iter().map(|f| (f.clone(), at.clone())));
                    Line::Include(found)
                }
                _ if !KNOWN.contains(&key.as_str()) => {
                    if self.ignore_unknown.iter().any(|p| {
                        p.split(',')
                            .any(|p| super::wildcard_match(&p.to_ascii_lowercase(), &key))
                    }) {
                        continue;
                    }
                    self.fatal = Some(format!(
                        "{at}: `{}`: bad configuration option `{}` (ssh refuses this file too)\n\
                         hint: if another ssh reads it, add `IgnoreUnknown {}` above it",
                        raw.trim().escape_debug(),
                        name.escape_debug(),
                        name.escape_debug()
                    ));
                    return;
                }
                _ if args.is_empty() => {
                    self.problems
                        .push(format!("{at}: `{}` has no value; ignored", raw.trim()));
                    continue;
                }
                "ignoreunknown" => {
                    self.ignore_unknown.extend(args.iter().cloned());
                    Line::Set { key, name, args }
                }
                // The rest of the line, as written: ssh hands it to the shell.
                "proxycommand" => Line::Set {
                    key,
                    args: vec![rest_of_line(raw, &name)],
                    name,
                },
                _ => Line::Set { key, name, args },
            };
            file.lines.push((line, parsed));
        }
        self.files.insert(path, file);
        for (inc, at) in includes {
            if stack.contains(&inc) {
                self.fatal = Some(format!(
                    "{at}: `Include {}` includes a file being read: too many recursive configuration includes, as ssh says",
                    inc.display()
                ));
                return;
            }
            if self.files.contains_key(&inc) {
                continue;
            }
            match read_file(&inc, check) {
                Ok(text) => self.add(inc, &text, base, stack, check),
                // What ssh itself refuses to read stops the run, as it stops ssh.
                Err(e) if e.refused() => {
                    self.fatal = Some(format!("{at}: `Include {}`: {e}", inc.display()));
                    return;
                }
                Err(e) => self.problems.push(format!(
                    "{at}: cannot read included ssh configuration `{}`: {e}",
                    inc.display()
                )),
            }
        }
        stack.pop();
    }

    /// The values that apply to the host `q` names.
    pub fn query(&self, q: &Query<'_>) -> HostConfig {
        let mut out = HostConfig::default();
        for root in &self.roots {
            self.walk(root, q, true, &mut out, 0);
        }
        out
    }

    fn walk(&self, path: &Path, q: &Query<'_>, start_active: bool, out: &mut HostConfig, depth: usize) {
        let Some(file) = self.files.get(path) else {
            return;
        };
        let mut active = start_active;
        for (line, item) in &file.lines {
            let origin = || Origin {
                file: path.to_path_buf(),
                line: *line,
            };
            match item {
                Line::Host(patterns) => active = start_active && host_matches(patterns, q.host),
                Line::Match(criteria) => {
                    active = start_active && self.match_matches(criteria, q, out, origin())
                }
                Line::Include(files) => {
                    if active && depth < MAX_DEPTH {
                        for f in files {
                            self.walk(f, q, active, out, depth + 1);
                        }
                    }
                }
                Line::Set { key, name, args } if active => {
                    if SUPPORTED.contains(&key.as_str()) {
                        // First value wins, except IdentityFile, which accumulates.
                        if key == "identityfile" || out.first(key).is_none() {
                            out.values.push((key.clone(), args.clone(), origin()));
                        }
                    } else if let Some((_, why)) = UNSUPPORTED.iter().find(|(k, _)| k == key) {
                        let off = args.first().is_some_and(|a| {
                            matches!(a.to_ascii_lowercase().as_str(), "no" | "none" | "false")
                        });
                        if !off {
                            out.unsupported.push((name.clone(), why, origin()));
                        }
                    }
                }
                Line::Set { .. } => {}
            }
        }
    }

    fn match_matches(
        &self,
        criteria: &[String],
        q: &Query<'_>,
        sofar: &mut HostConfig,
        origin: Origin,
    ) -> bool {
        let target = sofar
            .first("hostname")
            .and_then(|(a, _)| a.first())
            .map(|h| expand_hostname(h, q.host))
            .unwrap_or_else(|| q.host.to_string());
        let user = q
            .user
            .map(str::to_string)
            .or_else(|| sofar.first("user").and_then(|(a, _)| a.first().cloned()))
            .unwrap_or_else(super::default_user);
        let mut it = criteria.iter();
        let mut all = true;
        while let Some(word) = it.next() {
            let (negate, word) = match word.strip_prefix('!') {
                Some(w) => (true, w),
                None => (false, word.as_str()),
            };
            let lower = word.to_ascii_lowercase();
            let result = match lower.as_str() {
                "all" => true,
                // One pass, which is the final one; names are never canonicalized.
                "final" => true,
                "canonical" => false,
                "host" | "originalhost" | "user" | "localuser" => {
                    let Some(arg) = it.next() else {
                        sofar
                            .unsupported
                            .push((format!("Match {word}"), "has no argument", origin.clone()));
                        return false;
                    };
                    let patterns: Vec<String> = arg.split(',').map(str::to_string).collect();
                    let subject = match lower.as_str() {
                        "host" => target.clone(),
                        "originalhost" => q.host.to_string(),
                        "user" => user.clone(),
                        _ => super::default_user(),
                    };
                    host_matches(&patterns, &subject)
                }
                "exec" => {
                    let Some(command) = it.next() else {
                        sofar
                            .unsupported
                            .push((format!("Match {word}"), "has no argument", origin.clone()));
                        return false;
                    };
                    // As ssh: once the line has failed, its commands are not run.
                    if !all {
                        false
                    } else {
                        let port = q
                            .port
                            .or_else(|| sofar.first("port").and_then(|(a, _)| a.first()?.parse().ok()))
                            .unwrap_or(22);
                        let tokens = Tokens {
                            host: &target,
                            original: q.host,
                            port,
                            user: &user,
                        };
                        let command = expand_tokens(command, &tokens);
                        let (matched, how) = run_match_exec(&command);
                        sofar
                            .execs
                            .push(format!("{origin}: Match exec `{command}`: {how}"));
                        if how.starts_with("stopped") {
                            sofar.unsupported.push((
                                format!("Match exec {command}"),
                                "did not finish in time; the block is skipped",
                                origin.clone(),
                            ));
                        }
                        matched
                    }
                }
                _ => {
                    sofar.unsupported.push((
                        format!("Match {word}"),
                        "this Match criterion is not supported; the block is skipped",
                        origin.clone(),
                    ));
                    // `localnetwork`, `tagged`... take an argument.
                    it.next();
                    false
                }
            };
            all &= result != negate;
        }
        all
    }
}

/// How long a `Match exec` command may run before it is stopped (and does not match).
const EXEC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Run a `Match exec` command as ssh runs it: the user's shell (`$SHELL`, else `/bin/sh`)
/// with `-c`, stdin and stdout from and to /dev/null; exit status 0 matches. Stopped (its
/// process group killed) after [`EXEC_TIMEOUT`]. Returns the match and how it ended.
fn run_match_exec(command: &str) -> (bool, String) {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let shell = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    let child = std::process::Command::new(&shell)
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return (false, format!("could not be started ({e}): no match")),
    };
    let start = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return match (status.code(), status.signal()) {
                    (Some(0), _) => (true, "exit 0: matched".into()),
                    (Some(c), _) => (false, format!("exit {c}: no match")),
                    (None, sig) => (false, format!("killed by signal {}: no match", sig.unwrap_or(0))),
                };
            }
            Ok(None) if start.elapsed() < EXEC_TIMEOUT => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            _ => {
                crate::child::kill_group(&mut child);
                let _ = child.wait();
                return (
                    false,
                    format!("stopped after {}s: no match", EXEC_TIMEOUT.as_secs()),
                );
            }
        }
    }
}

/// A configuration file's text: a regular file only (a FIFO or device would hang or never
/// end), at most [`MAX_FILE_BYTES`]; with `check`, ssh's rule for the user's own files (owned
/// by the user or root, not writable by group or others).
fn read_file(path: &Path, check: bool) -> Result<String, ReadError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile);
    }
    if check && ((meta.uid() != 0 && meta.uid() != current_uid()) || meta.mode() & 0o022 != 0) {
        return Err(ReadError::Permissions);
    }
    crate::text::read_capped(path, MAX_FILE_BYTES)?.ok_or(ReadError::TooLarge)
}

/// Why a configuration file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a regular file")]
    NotAFile,
    #[error("bad owner or permissions (ssh refuses it too: owned by you or root, not writable by others)")]
    Permissions,
    #[error("over the {MAX_FILE_BYTES}-byte limit for an ssh configuration file")]
    TooLarge,
}

impl ReadError {
    /// ssh itself refuses to read such a file (rather than not finding it).
    fn refused(&self) -> bool {
        !matches!(self, ReadError::Io(_))
    }
}

/// Why the ssh configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the ssh configuration `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: ReadError,
    },
    /// A file ssh refuses (an `Include` of a FIFO, bad permissions...), with its place.
    #[error("{0}")]
    Refused(String),
}

fn user_dir() -> PathBuf {
    home().map_or_else(|| PathBuf::from(".ssh"), |h| h.join(".ssh"))
}

/// An `Include` argument: `~` expanded; relative to `base` (`~/.ssh` or `/etc/ssh`).
fn include_path(pattern: &str, base: &Path) -> PathBuf {
    let p = expand_home(pattern);
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

/// `~` and `~/...` as the home directory.
pub fn expand_home(s: &str) -> PathBuf {
    if s == "~" {
        return home().unwrap_or_else(|| PathBuf::from("~"));
    }
    match (s.strip_prefix("~/"), home()) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(s),
    }
}

/// The files a path with `*`/`?` in its last component names, sorted; a plain path as is.
fn glob_files(path: &Path) -> Vec<PathBuf> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let Some(name) = name.filter(|n| n.contains(['*', '?'])) else {
        return vec![path.to_path_buf()];
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    // glob(3), as ssh uses it: a leading `.` only matches a pattern that starts with one.
    let dot_ok = name.starts_with('.');
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| dot_ok || !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| super::wildcard_match(&name, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

/// What follows `name` on `raw` (after white space or one `=`), as written.
fn rest_of_line(raw: &str, name: &str) -> String {
    let ws = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let line = raw.trim_matches(ws);
    let rest = line.get(name.len()..).unwrap_or_default().trim_start_matches(ws);
    rest.strip_prefix('=')
        .unwrap_or(rest)
        .trim_start_matches(ws)
        .to_string()
}

/// A line's keyword (lower case) and arguments; `None` for blank lines and comments.
/// `Key value`, `Key=value` and `Key = value` are the same; `"..."` groups words.
#[cfg(test)]
fn split_line(raw: &str) -> Option<(String, Vec<String>)> {
    split_line_named(raw).map(|(k, _, a)| (k, a))
}

/// [`split_line`], with the keyword as written too.
fn split_line_named(raw: &str) -> Option<(String, String, Vec<String>)> {
    // ssh splits at space, tab, CR, LF and `=` only: a no-break space is part of a word.
    let ws = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let line = raw.trim_matches(ws);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line.find(|c: char| ws(c) || c == '=').unwrap_or(line.len());
    let name = line[..end].to_string();
    let key = name.to_ascii_lowercase();
    let mut rest = line[end..].trim_start_matches(ws);
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start_matches(ws);
    }
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in rest.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if ws(c) && !quoted => {
                if any {
                    args.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            '#' if !quoted && !any => break,
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        args.push(cur);
    }
    Some((key, name, args))
}

/// OpenSSH's pattern lists: a match of any plain pattern, and no match of a `!` pattern.
/// Case-sensitive, as in `ssh` (which matches `Host` against the name as given).
fn host_matches(patterns: &[String], host: &str) -> bool {
    let mut matched = false;
    for p in patterns.iter().flat_map(|p| p.split(',')) {
        let (neg, p) = match p.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, p),
        };
        if super::wildcard_match(p, host) {
            if neg {
                return false;
            }
            matched = true;
        }
    }
    matched
}

/// `HostName` may hold `%h` (the name given) and `%%`; the result is canonical as `ssh` makes
/// it ([`canonical_hostname`]).
pub fn expand_hostname(value: &str, host: &str) -> String {
    canonical_hostname(&expand_tokens(
        value,
        &Tokens {
            host,
            original: host,
            port: 0,
            user: "",
        },
    ))
}

/// The host name as `ssh` connects to it: lower case, and a numeric IPv4 shorthand
/// (`1`, `10.1`, `0x7f.1`, as inet_aton(3) reads it) written out (`0.0.0.1`, `10.0.0.1`,
/// `127.0.0.1`).
pub fn canonical_hostname(name: &str) -> String {
    // A dotted quad as std reads it (four decimal parts, no leading zeros) is written out
    // already: the common case, without inet_aton's parts.
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return name.to_string();
    }
    inet_aton(name).map_or_else(|| name.to_ascii_lowercase(), |ip| ip.to_string())
}

/// inet_aton(3): one to four parts, each decimal, octal (`0` first) or hex (`0x`), the last
/// filling the remaining bytes.
fn inet_aton(s: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let num = |p: &str| -> Option<u64> {
        if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            if h.is_empty() {
                return Some(0);
            }
            return u64::from_str_radix(h, 16).ok();
        }
        if p.len() > 1 && p.starts_with('0') {
            return u64::from_str_radix(&p[1..], 8).ok();
        }
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let vals: Vec<u64> = parts.iter().map(|p| num(p)).collect::<Option<_>>()?;
    let (last, head) = vals.split_last()?;
    if head.iter().any(|v| *v > 255) {
        return None;
    }
    let room = 8 * (4 - head.len()) as u32;
    if *last >= 1u64 << room {
        return None;
    }
    let mut n: u64 = 0;
    for (i, v) in head.iter().enumerate() {
        n |= v << (24 - 8 * i as u32);
    }
    Some(std::net::Ipv4Addr::from((n | last) as u32))
}

/// What `%` tokens stand for in paths (`IdentityFile`, `UserKnownHostsFile`).
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    /// `%h`: the host name connected to (after `HostName`).
    pub host: &'a str,
    /// `%n`: the name as given.
    pub original: &'a str,
    /// `%p`.
    pub port: u16,
    /// `%r`: the remote user.
    pub user: &'a str,
}

/// Expand `%h %n %p %r %u %d %l %L %i %%` (and `~`) in `s`. Unknown tokens stay as written.
pub fn expand_tokens(s: &str, t: &Tokens<'_>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(t.host),
            Some('n') => out.push_str(t.original),
            Some('p') => out.push_str(&t.port.to_string()),
            Some('r') => out.push_str(t.user),
            Some('u') => out.push_str(&super::default_user()),
            Some('d') => out.push_str(&home().unwrap_or_default().to_string_lossy()),
            Some('i') => out.push_str(&current_uid().to_string()),
            Some('l') | Some('L') => out.push_str(&local_host_name()),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::getuid()
    }
}

fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(host: &str) -> Query<'_> {
        Query {
            host,
            user: None,
            port: None,
        }
    }

    fn first(c: &HostConfig, key: &str) -> Option<String> {
        c.first(key).map(|(a, _)| a.join(" "))
    }

    #[test]
    fn lines_split_like_ssh() {
        assert_eq!(split_line("  Port 22"), Some(("port".into(), vec!["22".into()])));
        assert_eq!(split_line("Port=22"), Some(("port".into(), vec!["22".into()])));
        assert_eq!(split_line("Port = 22"), Some(("port".into(), vec!["22".into()])));
        assert_eq!(
            split_line(r#"IdentityFile "~/my keys/id" # note"#),
            Some(("identityfile".into(), vec!["~/my keys/id".into()]))
        );
        assert_eq!(split_line("# comment"), None);
        assert_eq!(split_line("   "), None);
    }

    #[test]
    fn first_value_wins_and_blocks_apply_by_pattern() {
        let c = SshConfig::from_text(
            "cfg",
            "Host web*\n  HostName 127.0.0.5\n  Port 2201\n  User web\nHost !web03 web?? db\n  Port 2202\n\
             IdentityFile ~/.ssh/a\nHost *\n  User fallback\n  Port 22\n  IdentityFile ~/.ssh/b\n",
            Path::new("/nonexistent"),
        );
        let w = c.query(&q("web01"));
        assert_eq!(first(&w, "hostname").as_deref(), Some("127.0.0.5"));
        assert_eq!(first(&w, "port").as_deref(), Some("2201"));
        assert_eq!(first(&w, "user").as_deref(), Some("web"));
        assert_eq!(w.first("port").unwrap().1.line, 3);
        let ids: Vec<String> = w.all("identityfile").map(|(a, _)| a.join("")).collect();
        assert_eq!(ids, ["~/.ssh/a", "~/.ssh/b"]);
        let d = c.query(&q("db"));
        assert_eq!(first(&d, "port").as_deref(), Some("2202"));
        assert_eq!(first(&d, "user").as_deref(), Some("fallback"));
        // Case-sensitive, as in ssh: `DB` is not `db`.
        assert_eq!(first(&c.query(&q("DB")), "port").as_deref(), Some("22"));
        // Negation wins over a match.
        let w3 = c.query(&q("web03"));
        assert_eq!(first(&w3, "port").as_deref(), Some("2201"));
        let ids: Vec<String> = w3.all("identityfile").map(|(a, _)| a.join("")).collect();
        assert_eq!(ids, ["~/.ssh/b"], "the `!web03` block does not apply");
    }

    #[test]
    fn match_host_sees_hostname_and_exec_runs() {
        let c = SshConfig::from_text(
            "cfg",
            "Host alias\n  HostName real.example\nMatch host real.example\n  Port 2300\n\
             Match originalhost alias user bob\n  User x\nMatch exec \"true\"\n  Port 1\nMatch all\n  ControlPath /x\n  ProxyCommand nc %h \"%p\"\n",
            Path::new("/nonexistent"),
        );
        let a = c.query(&Query {
            host: "alias",
            user: Some("bob"),
            port: None,
        });
        assert_eq!(first(&a, "port").as_deref(), Some("2300"));
        assert_eq!(first(&a, "user").as_deref(), Some("x"));
        let what: Vec<&str> = a.unsupported.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(what, ["ControlPath"]);
        assert_eq!(a.unsupported[0].2.line, 10);
        assert_eq!(a.execs.len(), 1, "{:?}", a.execs);
        assert!(
            a.execs[0].ends_with("Match exec `true`: exit 0: matched"),
            "{:?}",
            a.execs
        );
        // ProxyCommand is applied, its line kept as written (quotes too) for the shell.
        assert_eq!(first(&a, "proxycommand").as_deref(), Some("nc %h \"%p\""));
    }

    #[test]
    fn include_is_conditional_and_relative() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(dir.path().join("conf.d/10-web"), "Host web*\n  Port 2400\n").unwrap();
        std::fs::write(dir.path().join("conf.d/20-all"), "User inc\n").unwrap();
        std::fs::write(dir.path().join("only-db"), "Port 2500\n").unwrap();
        let c = SshConfig::from_text(
            "cfg",
            "Host db\n  Include only-db\nHost *\n  Include conf.d/*\n",
            dir.path(),
        );
        let w = c.query(&q("web1"));
        assert_eq!(first(&w, "port").as_deref(), Some("2400"));
        // Each included file starts in the including block's state (OpenSSH restores it).
        assert_eq!(first(&w, "user").as_deref(), Some("inc"));
        let d = c.query(&q("db"));
        assert_eq!(first(&d, "port").as_deref(), Some("2500"));
        assert!(d.first("port").unwrap().1.file.ends_with("only-db"));
        let other = c.query(&q("x"));
        assert_eq!(first(&other, "port"), None);
        assert_eq!(first(&other, "user").as_deref(), Some("inc"));
    }

    #[test]
    fn tokens_expand() {
        let t = Tokens {
            host: "10.0.0.1",
            original: "web01",
            port: 2222,
            user: "ops",
        };
        assert_eq!(
            expand_tokens("/k/%n-%h-%p-%r-%%", &t),
            "/k/web01-10.0.0.1-2222-ops-%"
        );
        assert_eq!(expand_hostname("%h.lab", "web01"), "web01.lab");
    }

    #[test]
    fn harmless_directives_are_quiet_and_off_values_too() {
        let c = SshConfig::from_text(
            "cfg",
            "Host *\n  SendEnv LANG\n  HashKnownHosts yes\n  ControlMaster no\n  KeepAlive yes\n  \
             ProxyUseFdpass no\n  RequestTTY no\n  ControlPath /x\n",
            Path::new("/x"),
        );
        assert_eq!(c.refused(), None);
        let h = c.query(&q("a"));
        let what: Vec<&str> = h.unsupported.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(what, ["ControlPath"]);
    }

    /// What ssh refuses (`ssh -G` exits 255 on each), rolecall refuses, naming the line.
    #[test]
    fn what_ssh_refuses_is_refused() {
        let c = SshConfig::from_text("cfg", "Host *\n  Frobnicate 1\n", Path::new("/x"));
        assert!(
            c.refused()
                .unwrap()
                .starts_with("cfg:2: `Frobnicate 1`: bad configuration option"),
            "{:?}",
            c.refused()
        );
        let c = SshConfig::from_text(
            "cfg",
            "IgnoreUnknown Frob*,UseKeychain\nHost *\n  Frobnicate 1\n  UseKeychain yes\n",
            Path::new("/x"),
        );
        assert_eq!(c.refused(), None);
        // A no-break space is not white space to ssh: `\u{a0}User` is an unknown option.
        let c = SshConfig::from_text("cfg", "Host *\n\u{a0}User x\n", Path::new("/x"));
        assert!(
            c.refused().unwrap().contains("bad configuration option"),
            "{:?}",
            c.refused()
        );
    }

    #[test]
    fn includes_loop_dotfiles_and_special_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a"), "Include b\n").unwrap();
        std::fs::write(d.join("b"), "Include a\n").unwrap();
        let c = SshConfig::from_text("top", "Include a\n", d);
        assert!(
            c.refused()
                .unwrap()
                .contains("too many recursive configuration includes"),
            "{:?}",
            c.refused()
        );
        std::fs::write(d.join("self"), "Include self\nHost x\n User y\n").unwrap();
        let c = SshConfig::from_text("top", "Include self\n", d);
        assert!(c.refused().is_some());
        let sub = d.join("conf.d");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join(".hidden"), "Host *\n User hidden\n").unwrap();
        std::fs::write(sub.join("visible"), "Host *\n User visible\n").unwrap();
        let c = SshConfig::from_text("top", "Include conf.d/*\n", d);
        assert_eq!(first(&c.query(&q("h")), "user").as_deref(), Some("visible"));
        let c = SshConfig::from_text("top", "Include missing\n", d);
        assert!(
            c.problems[0].starts_with("top:1: cannot read included"),
            "{:?}",
            c.problems
        );
        let c = SshConfig::from_text("top", "Include /dev/zero\n", d);
        assert!(
            c.refused().unwrap().contains("not a regular file"),
            "{:?}",
            c.refused()
        );
    }

    #[test]
    fn host_names_are_canonical_as_ssh_makes_them() {
        assert_eq!(canonical_hostname("1"), "0.0.0.1");
        assert_eq!(canonical_hostname("10.1"), "10.0.0.1");
        assert_eq!(canonical_hostname("0x7f.1"), "127.0.0.1");
        assert_eq!(canonical_hostname("MyHost.Example"), "myhost.example");
        assert_eq!(canonical_hostname("127.0.0.2"), "127.0.0.2");
        assert_eq!(
            canonical_hostname("010.0.0.1"),
            "8.0.0.1",
            "octal, as inet_aton reads it"
        );
        assert_eq!(canonical_hostname("10.256.0.1"), "10.256.0.1");
        assert_eq!(canonical_hostname("::1"), "::1");
    }
}
