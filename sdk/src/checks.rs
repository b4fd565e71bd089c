//! Declarative checks: what a role's hosts must look like, written as data in the deployment
//! (`roles.<role>.checks`) and run by the shipped `checks` debugger. The shape is part of the
//! contract (see `docs/checks.md`):
//!
//! ```yaml
//! checks:
//!   - id: nginx-config
//!     command: nginx -t
//!     exit: 0
//!     stderr: {contains: "syntax is ok"}
//!   - id: app-dir
//!     file: /srv/app
//!     mode: "0755"
//!     owner: app
//! ```
//!
//! Each check has an `id`, an optional `description` and `become`, one kind key (`command`,
//! `file`, `package`, `service`, `port`, `http`, `user`, `group`, `kernel-param`, `mount`,
//! `process`) and that kind's own keys beside it. rolecall reads these types when it loads the
//! deployment (so a mistake is a load error with its file:line) and hands them to plugins in
//! [`crate::RoleInfo::checks`].

use serde::{Deserialize, Serialize};

/// One declarative check.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Check {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Run the probe through sudo: `true` (as root) or a user name.
    #[serde(default, rename = "become", skip_serializing_if = "Option::is_none")]
    pub become_user: Option<Become>,

    // The kinds: exactly one is set.
    /// A command run through `sh` on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `8080`, `"8080/tcp"` or `"53/udp"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Scalar>,
    /// A URL fetched from the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A group (the kind), or a file's group (beside `file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// A sysctl name, `net.ipv4.ip_forward`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_param: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
    /// A process name (the kind), or the process listening (beside `port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,

    // The kinds' own keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<Matcher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Matcher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// `file`, `directory` or `symlink`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub file_type: Option<String>,
    /// Octal, as text (`"0755"`); an unquoted `0755` reads the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// What a file holds: one matcher or a list (all must hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<OneOrMany<Matcher>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<bool>,
    /// A version constraint: `"1.2.3"`, `">= 1.2"`, `">= 1.2, < 2"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listening: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Matcher>,
    /// Seconds (`http`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Matcher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// `become: true` (root) or `become: USER`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, expecting = "true, false or a user name")]
pub enum Become {
    Flag(bool),
    User(String),
}

impl Become {
    /// The user to run as, if any.
    pub fn user(&self) -> Option<&str> {
        match self {
            Become::Flag(true) => Some("root"),
            Become::Flag(false) => None,
            Become::User(u) => Some(u),
        }
    }
}

/// A number or a text, kept as text (`8080` and `"8080/tcp"`, `0755` and `"0755"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a number or a text")]
pub enum Scalar {
    Int(i64),
    Text(String),
}

impl Scalar {
    pub fn text(&self) -> String {
        match self {
            Scalar::Int(i) => i.to_string(),
            Scalar::Text(t) => t.clone(),
        }
    }
}

/// One value or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn items(&self) -> Vec<&T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v.iter().collect(),
        }
    }
}

/// A test on a text: a plain text means `equals` (the text with its final newline taken off);
/// `{equals: ..}`, `{contains: ..}`, `{matches: REGEX}`, or `{not: MATCHER}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a text, or one of {equals: .., contains: .., matches: .., not: ..}"
)]
pub enum Matcher {
    Equals(String),
    Rule(Box<Rule>),
}

/// The keyed form of a [`Matcher`]: exactly one key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Matcher>,
}

impl Matcher {
    /// Every regex in this matcher (for checking them before anything runs).
    pub fn patterns(&self) -> Vec<&str> {
        match self {
            Matcher::Equals(_) => Vec::new(),
            Matcher::Rule(r) => {
                let mut p: Vec<&str> = r.matches.iter().map(String::as_str).collect();
                if let Some(n) = &r.not {
                    p.extend(n.patterns());
                }
                p
            }
        }
    }

    /// Why this matcher is malformed (not exactly one key).
    pub fn problem(&self) -> Option<String> {
        let Matcher::Rule(r) = self else { return None };
        let set = [
            r.equals.is_some(),
            r.contains.is_some(),
            r.matches.is_some(),
            r.not.is_some(),
        ];
        match set.iter().filter(|s| **s).count() {
            1 => r.not.as_ref().and_then(Matcher::problem),
            0 => Some("a matcher needs one of `equals`, `contains`, `matches`, `not`".into()),
            _ => Some("a matcher takes one of `equals`, `contains`, `matches`, `not`, not several".into()),
        }
    }

    /// Whether `text` passes, with `regex` deciding `matches` (the SDK has no regex engine of
    /// its own). `Err` is a bad pattern.
    pub fn test(
        &self,
        text: &str,
        regex: &dyn Fn(&str, &str) -> Result<bool, String>,
    ) -> Result<bool, String> {
        let trimmed = text.strip_suffix('\n').unwrap_or(text);
        match self {
            Matcher::Equals(want) => Ok(trimmed == want.strip_suffix('\n').unwrap_or(want)),
            Matcher::Rule(r) => {
                if let Some(want) = &r.equals {
                    Ok(trimmed == want.strip_suffix('\n').unwrap_or(want))
                } else if let Some(part) = &r.contains {
                    Ok(text.contains(part.as_str()))
                } else if let Some(p) = &r.matches {
                    regex(p, text)
                } else if let Some(n) = &r.not {
                    Ok(!n.test(text, regex)?)
                } else {
                    Err("an empty matcher".into())
                }
            }
        }
    }

    /// What a text that failed this matcher does: `does not contain "ok"`, `matches /x/` (for
    /// a failed `not`).
    pub fn failure(&self) -> String {
        match self {
            Matcher::Equals(t) => format!("is not {t:?}"),
            Matcher::Rule(r) => {
                if let Some(t) = &r.equals {
                    format!("is not {t:?}")
                } else if let Some(t) = &r.contains {
                    format!("does not contain {t:?}")
                } else if let Some(t) = &r.matches {
                    format!("does not match /{t}/")
                } else if let Some(n) = &r.not {
                    n.describe()
                } else {
                    "(empty)".into()
                }
            }
        }
    }

    /// [`Self::failure`] for `text`, saying where a habit from goss is the likely mistake: a
    /// plain string must equal the whole text (goss reads it as "contains"), so when the text
    /// does contain it, the message says how to ask for that.
    pub fn failure_for(&self, text: &str) -> String {
        match self {
            Matcher::Equals(t) if !t.is_empty() && text.contains(t.as_str()) => format!(
                "is not {t:?} (it contains it: a plain string must equal the whole text; \
                 write `{{contains: {t:?}}}` to match a part)"
            ),
            _ => self.failure(),
        }
    }

    /// The matcher as a person reads it: `contains "syntax is ok"`.
    pub fn describe(&self) -> String {
        match self {
            Matcher::Equals(t) => format!("equals {t:?}"),
            Matcher::Rule(r) => {
                if let Some(t) = &r.equals {
                    format!("equals {t:?}")
                } else if let Some(t) = &r.contains {
                    format!("contains {t:?}")
                } else if let Some(t) = &r.matches {
                    format!("matches /{t}/")
                } else if let Some(n) = &r.not {
                    format!("not {}", n.describe())
                } else {
                    "(empty)".into()
                }
            }
        }
    }
}

/// What a check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Command,
    File,
    Package,
    Service,
    Port,
    Http,
    User,
    Group,
    KernelParam,
    Mount,
    Process,
}

impl Kind {
    /// The kind's key in the deployment.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Command => "command",
            Kind::File => "file",
            Kind::Package => "package",
            Kind::Service => "service",
            Kind::Port => "port",
            Kind::Http => "http",
            Kind::User => "user",
            Kind::Group => "group",
            Kind::KernelParam => "kernel-param",
            Kind::Mount => "mount",
            Kind::Process => "process",
        }
    }

    /// The keys a check of this kind may have beside its kind key (and `id`, `description`,
    /// `become`).
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Command => &["exit", "stdout", "stderr"],
            Kind::File => &["exists", "type", "mode", "owner", "group", "size", "contains"],
            Kind::Package => &["installed", "version"],
            Kind::Service => &["running", "enabled"],
            Kind::Port => &["listening", "process"],
            Kind::Http => &["status", "body", "timeout"],
            Kind::User => &["exists", "uid", "gid", "home", "shell", "groups"],
            Kind::Group => &["exists", "gid"],
            Kind::KernelParam => &["value"],
            Kind::Mount => &["exists", "filesystem", "opts", "source"],
            Kind::Process => &["running"],
        }
    }
}

impl Check {
    /// The keys set on this check, as written in the deployment.
    pub fn keys(&self) -> Vec<&'static str> {
        let set = [
            ("command", self.command.is_some()),
            ("file", self.file.is_some()),
            ("package", self.package.is_some()),
            ("service", self.service.is_some()),
            ("port", self.port.is_some()),
            ("http", self.http.is_some()),
            ("user", self.user.is_some()),
            ("group", self.group.is_some()),
            ("kernel-param", self.kernel_param.is_some()),
            ("mount", self.mount.is_some()),
            ("process", self.process.is_some()),
            ("exit", self.exit.is_some()),
            ("stdout", self.stdout.is_some()),
            ("stderr", self.stderr.is_some()),
            ("exists", self.exists.is_some()),
            ("type", self.file_type.is_some()),
            ("mode", self.mode.is_some()),
            ("owner", self.owner.is_some()),
            ("size", self.size.is_some()),
            ("contains", self.contains.is_some()),
            ("installed", self.installed.is_some()),
            ("version", self.version.is_some()),
            ("running", self.running.is_some()),
            ("enabled", self.enabled.is_some()),
            ("listening", self.listening.is_some()),
            ("status", self.status.is_some()),
            ("body", self.body.is_some()),
            ("timeout", self.timeout.is_some()),
            ("uid", self.uid.is_some()),
            ("gid", self.gid.is_some()),
            ("home", self.home.is_some()),
            ("shell", self.shell.is_some()),
            ("groups", self.groups.is_some()),
            ("value", self.value.is_some()),
            ("filesystem", self.filesystem.is_some()),
            ("opts", self.opts.is_some()),
            ("source", self.source.is_some()),
        ];
        set.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect()
    }

    /// The check's kind, or why it has none (no kind key, or two). `group` beside `file` is the
    /// file's group, `process` beside `port` the listening process.
    pub fn kind(&self) -> Result<Kind, String> {
        let primary = [
            (Kind::Command, self.command.is_some()),
            (Kind::File, self.file.is_some()),
            (Kind::Package, self.package.is_some()),
            (Kind::Service, self.service.is_some()),
            (Kind::Port, self.port.is_some()),
            (Kind::Http, self.http.is_some()),
            (Kind::User, self.user.is_some()),
            (Kind::KernelParam, self.kernel_param.is_some()),
            (Kind::Mount, self.mount.is_some()),
        ];
        let mut kinds: Vec<Kind> = primary.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect();
        if self.group.is_some() && !kinds.contains(&Kind::File) {
            kinds.push(Kind::Group);
        }
        if self.process.is_some() && !kinds.contains(&Kind::Port) {
            kinds.push(Kind::Process);
        }
        match kinds[..] {
            [one] => Ok(one),
            [] => Err(format!(
                "check `{}` has no kind: give one of `command`, `file`, `package`, `service`, `port`, \
                 `http`, `user`, `group`, `kernel-param`, `mount`, `process`",
                self.id
            )),
            _ => {
                let names: Vec<String> = kinds.iter().map(|k| format!("`{}`", k.key())).collect();
                Err(format!(
                    "check `{}` has {} kinds ({}); one check looks at one thing",
                    self.id,
                    kinds.len(),
                    names.join(", ")
                ))
            }
        }
    }

    /// What is wrong with this check, and under which key: no kind or two, a key its kind does
    /// not take, a malformed matcher, an id that cannot be one. Regexes are the reader's to
    /// check (the SDK has no regex engine).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Some((
                "id",
                format!("check id `{}` must be letters, digits, `-`, `_` or `.`", self.id),
            ));
        }
        let kind = match self.kind() {
            Ok(k) => k,
            Err(why) => return Some(("id", why)),
        };
        for key in self.keys() {
            if key == kind.key() || kind.keys().contains(&key) {
                continue;
            }
            let mut allowed: Vec<&str> = kind.keys().to_vec();
            allowed.extend(["description", "become"]);
            return Some((
                key,
                format!(
                    "`{key}` does not apply to a `{}` check (it takes {})",
                    kind.key(),
                    allowed
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let matchers = [
            ("stdout", self.stdout.as_ref()),
            ("stderr", self.stderr.as_ref()),
            ("body", self.body.as_ref()),
            ("value", self.value.as_ref()),
        ];
        for (key, m) in matchers {
            if let Some(why) = m.and_then(Matcher::problem) {
                return Some((key, why));
            }
        }
        for m in self.contains.iter().flat_map(OneOrMany::items) {
            if let Some(why) = m.problem() {
                return Some(("contains", why));
            }
        }
        if let Some(mode) = &self.mode {
            let t = mode.text();
            if t.is_empty() || t.len() > 4 || !t.chars().all(|c| ('0'..='7').contains(&c)) {
                return Some((
                    "mode",
                    format!("mode `{t}` is not octal permissions such as \"0755\""),
                ));
            }
        }
        if let Some(t) = &self.file_type {
            if !matches!(t.as_str(), "file" | "directory" | "symlink") {
                return Some((
                    "type",
                    format!("type `{t}` is not one of `file`, `directory`, `symlink`"),
                ));
            }
        }
        if let Some(p) = &self.port {
            if parse_port(&p.text()).is_none() {
                return Some((
                    "port",
                    format!("port `{}` is not PORT, PORT/tcp or PORT/udp", p.text()),
                ));
            }
        }
        if let Some(v) = &self.version {
            if let Err(why) = Constraint::parse(&v.text()) {
                return Some(("version", why));
            }
        }
        if let Some(t) = self.timeout {
            if !(t > 0.0 && t.is_finite()) {
                return Some((
                    "timeout",
                    "the timeout must be a positive number of seconds".into(),
                ));
            }
        }
        None
    }

    /// Every regex in the check.
    pub fn patterns(&self) -> Vec<(&'static str, &str)> {
        let mut p = Vec::new();
        for (key, m) in [
            ("stdout", &self.stdout),
            ("stderr", &self.stderr),
            ("body", &self.body),
            ("value", &self.value),
        ] {
            if let Some(m) = m {
                p.extend(m.patterns().into_iter().map(|r| (key, r)));
            }
        }
        for m in self.contains.iter().flat_map(OneOrMany::items) {
            p.extend(m.patterns().into_iter().map(|r| ("contains", r)));
        }
        p
    }
}

/// `8080` / `8080/tcp` / `53/udp` -> (port, protocol).
pub fn parse_port(text: &str) -> Option<(u16, &str)> {
    let (port, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    let port: u16 = port.trim().parse().ok().filter(|p| *p > 0)?;
    matches!(proto, "tcp" | "udp").then_some((port, proto))
}

/// A version constraint: comma-separated `OP VERSION` terms, all of which must hold; a bare
/// version is `==`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint(Vec<(String, String)>);

impl Constraint {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',') {
            let term = term.trim();
            let op_len = term
                .find(|c: char| !matches!(c, '<' | '>' | '=' | '!'))
                .unwrap_or(term.len());
            let (op, version) = term.split_at(op_len);
            let op = if op.is_empty() { "==" } else { op };
            let version = version.trim();
            // A version starts with a letter or digit, holds a digit, and no space or operator
            // (`> = 1` and `latest` are not constraints).
            let looks_like_version = version.starts_with(|c: char| c.is_ascii_alphanumeric())
                && version.contains(|c: char| c.is_ascii_digit())
                && !version.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '=' | '!'));
            if !matches!(op, "==" | "=" | "!=" | "<" | "<=" | ">" | ">=") || !looks_like_version {
                return Err(format!(
                    "version `{text}` is not a constraint such as \"1.2.3\", \">= 1.2\" or \">= 1.2, < 2\""
                ));
            }
            terms.push((op.to_string(), version.to_string()));
        }
        Ok(Self(terms))
    }

    /// Whether `version` (as the package manager prints it) meets every term.
    pub fn allows(&self, version: &str) -> bool {
        self.0.iter().all(|(op, want)| {
            let c = compare_versions(version, want);
            match op.as_str() {
                "==" | "=" => c.is_eq() || version.starts_with(&format!("{want}-")),
                "!=" => !(c.is_eq() || version.starts_with(&format!("{want}-"))),
                "<" => c.is_lt(),
                "<=" => c.is_le(),
                ">" => c.is_gt(),
                _ => c.is_ge(),
            }
        })
    }
}

/// Version order as rpm and dpkg mostly agree on it: an epoch (`2:`) first, then runs of digits
/// compared as numbers and runs of other characters compared as text, `~` sorting before
/// everything. A version that is a prefix of the other at a separator (`1.2` of `1.2.3`) is
/// smaller.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let epoch = |v: &str| -> (u64, String) {
        match v.split_once(':') {
            Some((e, rest)) if e.chars().all(|c| c.is_ascii_digit()) && !e.is_empty() => {
                (e.parse().unwrap_or(0), rest.to_string())
            }
            _ => (0, v.to_string()),
        }
    };
    let ((ea, a), (eb, b)) = (epoch(a), epoch(b));
    if ea != eb {
        return ea.cmp(&eb);
    }
    let (mut a, mut b) = (a.as_str(), b.as_str());
    loop {
        let skip = |s: &str| {
            s.trim_start_matches(|c: char| !c.is_ascii_alphanumeric() && c != '~')
                .to_string()
        };
        let (sa, sb) = (skip(a), skip(b));
        a = &a[a.len() - sa.len()..];
        b = &b[b.len() - sb.len()..];
        match (a.strip_prefix('~'), b.strip_prefix('~')) {
            (Some(ra), Some(rb)) => {
                a = ra;
                b = rb;
                continue;
            }
            (Some(_), None) => return Ordering::Less,
            (None, Some(_)) => return Ordering::Greater,
            _ => {}
        }
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let digits_a = a.starts_with(|c: char| c.is_ascii_digit());
        let digits_b = b.starts_with(|c: char| c.is_ascii_digit());
        if digits_a != digits_b {
            return if digits_a {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let run = |s: &str| {
            s.find(|c: char| !(c.is_ascii_alphanumeric() && c.is_ascii_digit() == digits_a))
                .unwrap_or(s.len())
        };
        let (ra, rb) = (&a[..run(a)], &b[..run(b)]);
        let ord = if digits_a {
            let (ta, tb) = (ra.trim_start_matches('0'), rb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            ra.cmp(rb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        a = &a[ra.len()..];
        b = &b[rb.len()..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn versions_compare_like_package_managers() {
        assert_eq!(compare_versions("1.2.10", "1.2.9"), Ordering::Greater);
        assert_eq!(compare_versions("1.2", "1.2.0"), Ordering::Less);
        assert_eq!(compare_versions("1:1.0", "2.0"), Ordering::Greater);
        assert_eq!(compare_versions("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(
            compare_versions("1.18.0-6ubuntu14", "1.18.0-6ubuntu2"),
            Ordering::Greater
        );
        assert_eq!(compare_versions("4.4.0", "4.4.0"), Ordering::Equal);
        let c = Constraint::parse(">= 1.2, < 2").unwrap();
        assert!(c.allows("1.18.0-6") && !c.allows("2.0.1") && !c.allows("1.1"));
        assert!(Constraint::parse("1.18.0").unwrap().allows("1.18.0-6ubuntu14"));
        assert!(Constraint::parse("=> 1").is_err());
        let plain = Matcher::Equals("ok".into());
        assert!(plain
            .failure_for("all ok here")
            .contains("write `{contains: \"ok\"}`"));
        assert_eq!(plain.failure_for("nope"), "is not \"ok\"");
        // Regression: `> = 1` passed on the host (as `>` of `= 1`), `latest` read as a version.
        assert!(Constraint::parse("> = 1").is_err());
        assert!(Constraint::parse("latest").is_err());
        assert!(Constraint::parse(">= 1.2 beta").is_err());
        assert!(Constraint::parse("2:1.18.0-6ubuntu14").is_ok());
    }

    #[test]
    fn kinds_and_their_keys() {
        let c = |f: fn(&mut Check)| {
            let mut c = Check {
                id: "x".into(),
                ..Check::default()
            };
            f(&mut c);
            c
        };
        assert_eq!(c(|c| c.file = Some("/a".into())).kind(), Ok(Kind::File));
        let file_group = c(|c| {
            c.file = Some("/a".into());
            c.group = Some("adm".into());
        });
        assert_eq!(file_group.kind(), Ok(Kind::File));
        assert_eq!(file_group.problem(), None);
        assert_eq!(c(|c| c.group = Some("adm".into())).kind(), Ok(Kind::Group));
        assert!(c(|_| {}).kind().unwrap_err().contains("has no kind"));
        let two = c(|c| {
            c.file = Some("/a".into());
            c.command = Some("true".into());
        });
        assert!(
            two.kind().unwrap_err().contains("2 kinds (`command`, `file`)"),
            "{:?}",
            two.kind()
        );
        let wrong = c(|c| {
            c.service = Some("sshd".into());
            c.mode = Some(Scalar::Text("0755".into()));
        });
        let (key, why) = wrong.problem().unwrap();
        assert_eq!(key, "mode");
        assert!(why.contains("does not apply to a `service` check"), "{why}");
        let bad_mode = c(|c| {
            c.file = Some("/a".into());
            c.mode = Some(Scalar::Int(799));
        });
        assert_eq!(bad_mode.problem().unwrap().0, "mode");
    }

    #[test]
    fn matchers() {
        let re = |_: &str, _: &str| Ok(true);
        let m: Matcher = serde_json::from_str(r#"{"not": {"contains": "error"}}"#).unwrap();
        assert_eq!(m.test("all good\n", &re), Ok(true));
        assert_eq!(m.test("an error\n", &re), Ok(false));
        assert_eq!(m.describe(), "not contains \"error\"");
        let eq: Matcher = serde_json::from_str(r#""1""#).unwrap();
        assert_eq!(eq.test("1\n", &re), Ok(true));
        let both: Matcher = serde_json::from_str(r#"{"contains": "a", "equals": "b"}"#).unwrap();
        assert!(both.problem().unwrap().contains("not several"));
        assert!(serde_json::from_str::<Matcher>(r#"{"containz": "a"}"#).is_err());
    }
}
