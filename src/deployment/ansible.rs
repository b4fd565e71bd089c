//! Ansible inventories as a profile: INI and YAML inventory files, a directory of them, and the
//! `group_vars/` and `host_vars/` next to them, read as `ansible-inventory` reads them.
//!
//! - Groups become roles (a group's hosts include its children's, as `groups['name']` does in
//!   Ansible); `all` is the derived role; `ungrouped` is a role when it has hosts.
//! - Host ranges: `web[01:50]` (zero-padded), `[a:f]`, steps `[1:9:2]`; `host:port`.
//! - Variables, lowest first: inventory group vars (groups sorted by depth, then
//!   `ansible_group_priority`, then name), `group_vars/all`, `group_vars/<group>` (same order),
//!   inventory host vars, `host_vars/<host>`. A later value replaces an earlier one (Ansible's
//!   default `hash_behaviour`).
//! - `ansible_host`, `ansible_port`, `ansible_user` (and the older `ansible_ssh_host`,
//!   `ansible_ssh_port`, `ansible_ssh_user`) are the SSH endpoint.
//! - Not supported, and said so: dynamic inventory scripts, inventory plugin configurations
//!   (`plugin:`), vault-encrypted files, and Jinja templates in connection values. Vaulted
//!   values elsewhere are left out with a warning.
//!
//! The deployment's `document` has the shape of `ansible-inventory --list`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value};

use super::error::{excerpt, Diagnostic, LoadError};
use super::locate::{Position, YamlPath};
use super::source::Source;
use super::{Deployment, Host, Profile, Role, SshSettings, ALL_ROLE};

type Vars = Map<String, Value>;

/// Extensions Ansible skips in an inventory directory (`INVENTORY_IGNORE_EXTS`).
const IGNORED_EXTS: &[&str] = &[
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];

const UNGROUPED: &str = "ungrouped";

#[derive(Debug, Default)]
struct Group {
    hosts: IndexSet<String>,
    children: IndexSet<String>,
    vars: Vars,
    /// `ansible_group_priority` (default 1): orders groups of the same depth. Not a variable.
    priority: Option<i64>,
    /// Where the group was first written (file, line).
    at: Option<(PathBuf, usize)>,
}

#[derive(Debug, Default)]
struct HostEntry {
    vars: Vars,
    at: Option<(PathBuf, usize)>,
}

/// An inventory being read: hosts and groups in the order Ansible meets them.
#[derive(Debug)]
struct Inventory {
    hosts: IndexMap<String, HostEntry>,
    groups: IndexMap<String, Group>,
    warnings: Vec<String>,
}

impl Inventory {
    fn new() -> Self {
        let mut groups = IndexMap::new();
        groups.insert(ALL_ROLE.to_string(), Group::default());
        groups.insert(UNGROUPED.to_string(), Group::default());
        Self {
            hosts: IndexMap::new(),
            groups,
            warnings: Vec::new(),
        }
    }

    fn group(&mut self, name: &str, at: (PathBuf, usize)) -> &mut Group {
        let g = self.groups.entry(name.to_string()).or_default();
        g.at.get_or_insert(at);
        g
    }

    fn add_host(&mut self, group: &str, host: &str, vars: Vars, at: (PathBuf, usize)) {
        let h = self.hosts.entry(host.to_string()).or_default();
        h.at.get_or_insert(at.clone());
        h.vars.extend(vars);
        self.group(group, at).hosts.insert(host.to_string());
    }
}

/// Whether `path` looks like an Ansible inventory (a directory of files, or a file of one of
/// Ansible's two formats) rather than a deployment file.
pub fn looks_like(path: &Path, text: Option<&str>) -> bool {
    if path.is_dir() {
        return true;
    }
    let Some(text) = text else {
        return false;
    };
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("ini")) {
        return true;
    }
    // YAML: every top-level key a group whose value is empty or has only hosts/children/vars.
    // Not YAML, or a plain string (host lines only): INI.
    let top = match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(serde_yaml::Value::Mapping(top)) => top,
        // Host lines only; but never key material given by mistake (its message hides it).
        Ok(serde_yaml::Value::String(s)) => return !s.contains("-----BEGIN") && !s.contains("PRIVATE KEY"),
        _ => return ini_like(text),
    };
    if top.contains_key("_meta") {
        return true;
    }
    !top.is_empty()
        && top.iter().all(|(k, v)| {
            k.as_str().is_some_and(|k| k != "hosts")
                && match v {
                    serde_yaml::Value::Null => true,
                    serde_yaml::Value::Mapping(m) => {
                        !m.is_empty()
                            && m.keys()
                                .all(|k| matches!(k.as_str(), Some("hosts" | "children" | "vars")))
                    }
                    _ => false,
                }
        })
}

/// Whether any line is an INI section header (`[web]`, `[web:vars]`).
fn ini_like(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .any(|l| l.len() > 2 && l.starts_with('[') && l.ends_with(']') && !l.contains([',', '"', '\'', ' ']))
}

/// Read the inventory at `path` (a file or a directory) into a deployment.
pub fn load(path: &Path) -> Result<Deployment, LoadError> {
    let mut inv = Inventory::new();
    let (base, files) = if path.is_dir() {
        let mut files = Vec::new();
        dir_files(path, &mut files)?;
        (path.to_path_buf(), files)
    } else {
        (
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            vec![path.to_path_buf()],
        )
    };
    if files.is_empty() {
        return Err(LoadError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    for file in &files {
        read_file(file, &mut inv)?;
    }
    let group_files = vars_dir(&base.join("group_vars"))?;
    let host_files = vars_dir(&base.join("host_vars"))?;
    finish(path, inv, &group_files, &host_files)
}

fn dir_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Diagnostic::new(dir, format!("cannot read the directory: {e}")))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || IGNORED_EXTS.iter().any(|x| name.ends_with(x)) {
            continue;
        }
        if p.is_dir() {
            if name != "group_vars" && name != "host_vars" {
                dir_files(&p, out)?;
            }
        } else {
            out.push(p);
        }
    }
    Ok(())
}

fn read_file(path: &Path, inv: &mut Inventory) -> Result<(), LoadError> {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0) {
        return Err(Diagnostic::new(
            path,
            "this inventory file is executable: a dynamic inventory script, which rolecall does not run",
        )
        .hint(format!(
            "save its output with `ansible-inventory -i {} --list --output inventory.json` and read that \
             file with `--profile ansible`, or `chmod -x` it if it is a plain file",
            path.display()
        ))
        .into());
    }
    let src = Source::read(path)?;
    if src.text.starts_with("$ANSIBLE_VAULT") {
        return Err(vaulted(path).into());
    }
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    let yaml_ok = matches!(ext.as_deref(), None | Some("yml" | "yaml" | "json"));
    if yaml_ok {
        if let Ok(serde_yaml::Value::Mapping(_)) = serde_yaml::from_str::<serde_yaml::Value>(&src.text) {
            return read_yaml(&src, inv).map_err(Into::into);
        }
    }
    read_ini(&src, inv).map_err(Into::into)
}

fn vaulted(path: &Path) -> Diagnostic {
    Diagnostic::new(
        path,
        "this file is encrypted with ansible-vault; rolecall cannot read it",
    )
    .hint("decrypt a copy with `ansible-vault view`, or keep secrets out of the inventory rolecall reads")
}

// ----- INI -----

fn read_ini(src: &Source, inv: &mut Inventory) -> Result<(), Diagnostic> {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Hosts,
        Vars,
        Children,
    }
    let mut section = (UNGROUPED.to_string(), Kind::Hosts);
    // `[x:vars]` of groups not (yet) defined: applied at the end if the group is defined by
    // then, else refused (as Ansible does).
    let mut deferred: IndexMap<String, (usize, Vars)> = IndexMap::new();
    for (i, raw) in src.text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let at = (src.path.clone(), line_no);
        let err = |msg: String| {
            Diagnostic::new(&src.path, msg).at(Some(Position {
                line: line_no,
                column: raw.len() - raw.trim_start().len() + 1,
            }))
        };
        if let Some(inner) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let (name, kind) = match inner.split_once(':') {
                None => (inner, Kind::Hosts),
                Some((n, "vars")) => (n, Kind::Vars),
                Some((n, "children")) => (n, Kind::Children),
                Some((_, other)) => {
                    return Err(err(format!("`[{inner}]`: unknown section type `:{other}`"))
                        .hint("sections are `[group]`, `[group:vars]` or `[group:children]`"));
                }
            };
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err(format!("`[{inner}]` is not a valid group name")));
            }
            match kind {
                Kind::Vars if !inv.groups.contains_key(name) => {
                    deferred.entry(name.to_string()).or_insert((line_no, Vars::new()));
                }
                _ => {
                    inv.group(name, at);
                }
            }
            section = (name.to_string(), kind);
            continue;
        }
        match section.1 {
            Kind::Hosts => {
                let tokens = shlex(line).map_err(|e| err(format!("cannot split this line: {e}")))?;
                let Some((pattern, rest)) = tokens.split_first() else {
                    continue;
                };
                let mut vars = Vars::new();
                for t in rest {
                    let Some((k, v)) = t.split_once('=') else {
                        return Err(err(format!(
                            "`{}`: expected key=value after the host pattern `{}`",
                            excerpt(t),
                            excerpt(pattern)
                        )));
                    };
                    vars.insert(k.to_string(), literal(v));
                }
                let (names, port) =
                    host_pattern(pattern).map_err(|e| err(format!("`{}`: {e}", excerpt(pattern))))?;
                if let Some(p) = port {
                    vars.entry("ansible_port").or_insert(Value::from(p));
                }
                for name in names {
                    inv.add_host(&section.0, &name, vars.clone(), at.clone());
                }
            }
            Kind::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(err(format!(
                        "`{}`: expected key=value in `[{}:vars]`",
                        excerpt(line),
                        section.0
                    )));
                };
                let v = shlex(v.trim())
                    .ok()
                    .filter(|t| t.len() == 1)
                    .map_or_else(|| v.trim().to_string(), |mut t| t.remove(0));
                let (k, v) = (k.trim().to_string(), literal(&v));
                match deferred.get_mut(&section.0) {
                    Some((_, vars)) => {
                        vars.insert(k, v);
                    }
                    None => {
                        inv.group(&section.0, at).vars.insert(k, v);
                    }
                }
            }
            Kind::Children => {
                let child = line.split_whitespace().next().unwrap_or_default().to_string();
                inv.group(&child, at.clone());
                inv.group(&section.0, at).children.insert(child);
            }
        }
    }
    for (name, (line, vars)) in deferred {
        if let Some(g) = inv.groups.get_mut(&name) {
            g.vars.extend(vars);
        } else {
            return Err(Diagnostic::new(
                &src.path,
                format!("`[{name}:vars]` is for a group that is never defined"),
            )
            .at(Some(Position { line, column: 1 }))
            .hint(format!(
                "define `[{name}]` (or list it under a `:children` section), as Ansible requires"
            )));
        }
    }
    Ok(())
}

/// Python's `shlex.split(s, comments=True)`, enough for inventory lines.
fn shlex(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' if !any => break,
            c if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            '\'' => {
                any = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '"' => {
                any = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("no closing quotation".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '\\' => {
                any = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c => {
                any = true;
                cur.push(c);
            }
        }
    }
    if any {
        out.push(cur);
    }
    Ok(out)
}

/// An INI value as Ansible reads it: a Python literal when it is one (`5`, `1.5`, `True`,
/// `None`, `[1, 2]`, `{'a': 1}`, `'text'`), else the text itself.
fn literal(v: &str) -> Value {
    let mut p = Literal {
        s: v.trim().as_bytes(),
        i: 0,
    };
    match p.value() {
        Some(val) if p.rest_is_blank() => val,
        _ => Value::String(v.to_string()),
    }
}

struct Literal<'a> {
    s: &'a [u8],
    i: usize,
}

impl Literal<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn rest_is_blank(&mut self) -> bool {
        self.skip_ws();
        self.i == self.s.len()
    }

    fn value(&mut self) -> Option<Value> {
        self.skip_ws();
        match *self.s.get(self.i)? {
            b'[' | b'(' => self.seq(),
            b'{' => self.dict(),
            b'\'' | b'"' => self.string().map(Value::String),
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'+' | b'_'))
        {
            self.i += 1;
        }
        let word = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        match word {
            "True" => Some(Value::Bool(true)),
            "False" => Some(Value::Bool(false)),
            "None" => Some(Value::Null),
            w => {
                let digits = w.trim_start_matches(['-', '+']).replace('_', "");
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    // Python ints have no leading zeros (`010` is a syntax error).
                    if digits.len() > 1 && digits.starts_with('0') {
                        return None;
                    }
                    return w.replace('_', "").parse::<i64>().ok().map(Value::from);
                }
                let looks_float = w.contains(['.', 'e', 'E'])
                    && w.bytes()
                        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
                    && w.bytes().any(|b| b.is_ascii_digit());
                if looks_float {
                    return w
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number);
                }
                None
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let q = self.s[self.i];
        self.i += 1;
        let mut out = Vec::new();
        while let Some(&c) = self.s.get(self.i) {
            self.i += 1;
            if c == q {
                return String::from_utf8(out).ok();
            }
            if c == b'\\' {
                let n = *self.s.get(self.i)?;
                self.i += 1;
                out.push(match n {
                    b'n' => b'\n',
                    b't' => b'\t',
                    other => other,
                });
            } else {
                out.push(c);
            }
        }
        None
    }

    fn seq(&mut self) -> Option<Value> {
        let close = if self.s[self.i] == b'[' { b']' } else { b')' };
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if *self.s.get(self.i)? == close {
                self.i += 1;
                return Some(Value::Array(items));
            }
            items.push(self.value()?);
            self.skip_ws();
            match *self.s.get(self.i)? {
                b',' => self.i += 1,
                c if c == close => {}
                _ => return None,
            }
        }
    }

    fn dict(&mut self) -> Option<Value> {
        self.i += 1;
        let mut map = Map::new();
        loop {
            self.skip_ws();
            if *self.s.get(self.i)? == b'}' {
                self.i += 1;
                return Some(Value::Object(map));
            }
            let key = match self.value()? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            self.skip_ws();
            if *self.s.get(self.i)? != b':' {
                return None;
            }
            self.i += 1;
            let v = self.value()?;
            map.insert(key, v);
            self.skip_ws();
            match *self.s.get(self.i)? {
                b',' => self.i += 1,
                b'}' => {}
                _ => return None,
            }
        }
    }
}

/// `name[01:03]:2222` -> names and the port. Ranges: `[a:b]`, `[a:b:step]`, letters `[a:f]`.
fn host_pattern(pattern: &str) -> Result<(Vec<String>, Option<u16>), String> {
    let (name, port) = split_port(pattern)?;
    Ok((expand(&name)?, port))
}

fn split_port(pattern: &str) -> Result<(String, Option<u16>), String> {
    // `[v6]:port`, a bare IPv6 address, or `name:port` (a `:` outside brackets).
    if let Some(rest) = pattern.strip_prefix('[') {
        if let Some((addr, tail)) = rest.split_once(']') {
            if addr.contains(':') {
                let port = match tail.strip_prefix(':') {
                    Some(p) => Some(p.parse().map_err(|_| format!("`{p}` is not a port"))?),
                    None => None,
                };
                return Ok((addr.to_string(), port));
            }
        }
    }
    if pattern.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((pattern.to_string(), None));
    }
    let mut depth = 0usize;
    for (i, c) in pattern.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                let p = &pattern[i + 1..];
                let port = p.parse().map_err(|_| format!("`{p}` is not a port"))?;
                return Ok((pattern[..i].to_string(), Some(port)));
            }
            _ => {}
        }
    }
    Ok((pattern.to_string(), None))
}

fn expand(name: &str) -> Result<Vec<String>, String> {
    let Some(open) = name.find('[') else {
        return Ok(vec![name.to_string()]);
    };
    let close = name[open..]
        .find(']')
        .map(|c| c + open)
        .ok_or("unclosed `[` in host range")?;
    let (head, body, tail) = (&name[..open], &name[open + 1..close], &name[close + 1..]);
    let parts: Vec<&str> = body.split(':').collect();
    let (start, end, step) = match parts.as_slice() {
        [a, b] => (*a, *b, 1u64),
        [a, b, s] => (
            *a,
            *b,
            s.parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or(format!("`{s}` is not a step"))?,
        ),
        _ => {
            return Err(format!(
                "`[{body}]` is not a range (`[start:end]` or `[start:end:step]`)"
            ))
        }
    };
    let items: Vec<String> = if !start.is_empty() && start.bytes().all(|b| b.is_ascii_digit()) {
        let (a, b) = (
            start
                .parse::<u64>()
                .map_err(|_| format!("`{start}` is not a number"))?,
            end.parse::<u64>()
                .map_err(|_| format!("`{end}` is not a number"))?,
        );
        if b < a {
            return Err(format!("range `[{body}]` runs backwards"));
        }
        if (b - a) / step >= super::max_hosts() as u64 {
            return Err(format!(
                "range `[{body}]` expands to more than {} names",
                super::max_hosts()
            ));
        }
        let width = if start.len() > 1 && start.starts_with('0') {
            start.len()
        } else {
            0
        };
        (a..=b)
            .step_by(step as usize)
            .map(|n| format!("{n:0width$}"))
            .collect()
    } else if start.len() == 1 && end.len() == 1 && start.bytes().all(|b| b.is_ascii_alphabetic()) {
        let (a, b) = (start.as_bytes()[0], end.as_bytes()[0]);
        if b < a {
            return Err(format!("range `[{body}]` runs backwards"));
        }
        (a..=b)
            .step_by(step as usize)
            .map(|c| (c as char).to_string())
            .collect()
    } else {
        return Err(format!("`[{body}]` is not a numeric or alphabetic range"));
    };
    let mut out = Vec::new();
    for item in items {
        for rest in expand(tail)? {
            out.push(format!("{head}{item}{rest}"));
        }
    }
    Ok(out)
}

// ----- YAML -----

fn read_yaml(src: &Source, inv: &mut Inventory) -> Result<(), Diagnostic> {
    let value = src.value()?;
    let serde_yaml::Value::Mapping(top) = value else {
        return Err(src.error_at(&YamlPath::root(), "a YAML inventory is a mapping of group names"));
    };
    if top.contains_key("plugin") {
        return Err(src
            .error_at(&YamlPath::root().key("plugin"), "this is an inventory plugin configuration, which rolecall does not run")
            .hint("save the inventory it makes with `ansible-inventory -i FILE --list --output inventory.json` and read that"));
    }
    if top.contains_key("_meta") {
        return read_listing(src, inv, top);
    }
    for (k, v) in top {
        let name = key_text(&k);
        read_group(src, inv, &name, v, &YamlPath::root().key(&name), None)?;
    }
    Ok(())
}

/// `ansible-inventory --list` output (and dynamic inventory JSON): groups with lists of
/// `hosts` and `children` (and `vars` with `--export`), host variables in `_meta.hostvars`.
fn read_listing(src: &Source, inv: &mut Inventory, top: serde_yaml::Mapping) -> Result<(), Diagnostic> {
    let root = YamlPath::root();
    let names = |v: &serde_yaml::Value, path: &YamlPath| -> Result<Vec<String>, Diagnostic> {
        match v {
            serde_yaml::Value::Null => Ok(Vec::new()),
            serde_yaml::Value::Sequence(s) => Ok(s.iter().map(key_text).collect()),
            _ => Err(src.error_at(path, "expected a list of names")),
        }
    };
    let mut hostvars = serde_yaml::Mapping::new();
    for (k, v) in top {
        let name = key_text(&k);
        let path = root.key(&name);
        if name == "_meta" {
            if let Some(serde_yaml::Value::Mapping(hv)) = v.get("hostvars") {
                hostvars = hv.clone();
            }
            continue;
        }
        let at = (src.path.clone(), line_of(src, &path));
        inv.group(&name, at.clone());
        let serde_yaml::Value::Mapping(g) = v else {
            continue;
        };
        for (gk, gv) in g {
            let key = key_text(&gk);
            let kpath = path.key(&key);
            match key.as_str() {
                "hosts" => {
                    for h in names(&gv, &kpath)? {
                        inv.add_host(&name, &h, Vars::new(), at.clone());
                    }
                }
                "children" => {
                    for c in names(&gv, &kpath)? {
                        inv.group(&c, at.clone());
                        inv.group(&name, at.clone()).children.insert(c);
                    }
                }
                "vars" => {
                    let vars = yaml_vars(src, inv, gv, &kpath, &format!("group `{name}`"))?;
                    inv.group(&name, at.clone()).vars.extend(vars);
                }
                _ => {}
            }
        }
    }
    let meta = root.key("_meta").key("hostvars");
    for (k, v) in hostvars {
        let host = key_text(&k);
        let vars = yaml_vars(src, inv, v, &meta.key(&host), &format!("host `{host}`"))?;
        let at = (src.path.clone(), line_of(src, &meta.key(&host)));
        let h = inv.hosts.entry(host).or_default();
        h.at.get_or_insert(at);
        h.vars.extend(vars);
    }
    Ok(())
}

fn key_text(k: &serde_yaml::Value) -> String {
    match k {
        serde_yaml::Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn line_of(src: &Source, path: &YamlPath) -> usize {
    super::locate::locate_in_file(&src.text, path).map_or(1, |p| p.line)
}

fn read_group(
    src: &Source,
    inv: &mut Inventory,
    name: &str,
    value: serde_yaml::Value,
    path: &YamlPath,
    parent: Option<&str>,
) -> Result<(), Diagnostic> {
    let at = (src.path.clone(), line_of(src, path));
    inv.group(name, at.clone());
    if let Some(p) = parent {
        inv.group(p, at.clone()).children.insert(name.to_string());
    }
    let map = match value {
        serde_yaml::Value::Null => return Ok(()),
        serde_yaml::Value::Mapping(m) => m,
        _ => {
            return Err(src.error_at(
                path,
                format!("group `{name}` must be a mapping of `hosts`, `children` and `vars`"),
            ));
        }
    };
    for (k, v) in map {
        let key = key_text(&k);
        let kpath = path.key(&key);
        match key.as_str() {
            "vars" => {
                let vars = yaml_vars(src, inv, v, &kpath, &format!("group `{name}`"))?;
                inv.group(name, at.clone()).vars.extend(vars);
            }
            "hosts" => match v {
                serde_yaml::Value::Null => {}
                serde_yaml::Value::Mapping(hosts) => {
                    for (hk, hv) in hosts {
                        let pattern = key_text(&hk);
                        let hpath = kpath.key(&pattern);
                        let (names, port) = host_pattern(&pattern)
                            .map_err(|e| src.error_at(&hpath, format!("`{pattern}`: {e}")))?;
                        let mut vars = yaml_vars(src, inv, hv, &hpath, &format!("host `{pattern}`"))?;
                        if let Some(p) = port {
                            vars.entry("ansible_port").or_insert(Value::from(p));
                        }
                        let hat = (src.path.clone(), line_of(src, &hpath));
                        for n in names {
                            inv.add_host(name, &n, vars.clone(), hat.clone());
                        }
                    }
                }
                _ => {
                    return Err(src
                        .error_at(
                            &kpath,
                            format!("`hosts` of group `{name}` must be a mapping of host names"),
                        )
                        .hint("write `hosts: {web01: , web02: }` or one `web01:` per line"));
                }
            },
            "children" => match v {
                serde_yaml::Value::Null => {}
                serde_yaml::Value::Mapping(children) => {
                    for (ck, cv) in children {
                        let child = key_text(&ck);
                        read_group(src, inv, &child, cv, &kpath.key(&child), Some(name))?;
                    }
                }
                _ => {
                    return Err(src.error_at(
                        &kpath,
                        format!("`children` of group `{name}` must be a mapping of groups"),
                    ))
                }
            },
            other => inv.warnings.push(format!(
                "{}:{}: group `{name}`: unexpected key `{other}` (Ansible skips it too)",
                src.path.display(),
                line_of(src, &kpath)
            )),
        }
    }
    Ok(())
}

/// A vars mapping from YAML, `!vault` values left out with a warning.
fn yaml_vars(
    src: &Source,
    inv: &mut Inventory,
    value: serde_yaml::Value,
    path: &YamlPath,
    whose: &str,
) -> Result<Vars, Diagnostic> {
    let mut value = value;
    value
        .apply_merge()
        .map_err(|e| src.error_at(path, format!("merge key: {e}")))?;
    match value {
        serde_yaml::Value::Null => Ok(Vars::new()),
        serde_yaml::Value::Mapping(m) => {
            let mut vars = Vars::new();
            for (k, v) in m {
                let key = key_text(&k);
                if let serde_yaml::Value::Tagged(t) = &v {
                    if t.tag == "!vault" || t.tag == "vault" {
                        inv.warnings.push(format!(
                            "{}:{}: {whose}: `{key}` is encrypted with ansible-vault; left out",
                            src.path.display(),
                            line_of(src, &path.key(&key))
                        ));
                        continue;
                    }
                }
                let json = serde_json::to_value(&v)
                    .map_err(|e| src.error_at(&path.key(&key), format!("`{key}`: {e}")))?;
                vars.insert(key, json);
            }
            Ok(vars)
        }
        _ => Err(src.error_at(path, format!("the variables of {whose} must be a mapping"))),
    }
}

// ----- group_vars / host_vars -----

/// `DIR/NAME`, `NAME.yml|.yaml|.json` and `NAME/` (its files in order), read as YAML.
fn vars_dir(dir: &Path) -> Result<HashMap<String, Vec<(PathBuf, Vars)>>, LoadError> {
    let mut out: HashMap<String, Vec<(PathBuf, Vars)>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let file_name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file_name.starts_with('.') || file_name.ends_with('~') {
            continue;
        }
        if p.is_dir() {
            let mut files = Vec::new();
            vars_files(&p, &mut files);
            for f in files {
                let vars = vars_file(&f)?;
                out.entry(file_name.clone()).or_default().push((f, vars));
            }
            continue;
        }
        // `NAME` itself (host names have dots: `web01.example.com`), or `NAME.yml|.yaml|.json`.
        let name = match file_name.rsplit_once('.') {
            Some((stem, "yml" | "yaml" | "json")) => stem.to_string(),
            _ => file_name.clone(),
        };
        let vars = vars_file(&p)?;
        out.entry(name).or_default().push((p, vars));
    }
    Ok(out)
}

fn vars_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        if p.is_dir() {
            vars_files(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            None | Some("yml" | "yaml" | "json")
        ) {
            out.push(p);
        }
    }
}

fn vars_file(path: &Path) -> Result<Vars, LoadError> {
    let src = Source::read(path)?;
    if src.text.starts_with("$ANSIBLE_VAULT") {
        return Err(vaulted(path).into());
    }
    let mut inv = Inventory::new();
    let v = src.value()?;
    let vars = yaml_vars(
        &src,
        &mut inv,
        v,
        &YamlPath::root(),
        &format!("`{}`", path.display()),
    )?;
    Ok(vars)
}

// ----- the deployment -----

fn finish(
    path: &Path,
    mut inv: Inventory,
    group_files: &HashMap<String, Vec<(PathBuf, Vars)>>,
    host_files: &HashMap<String, Vec<(PathBuf, Vars)>>,
) -> Result<Deployment, LoadError> {
    // Every group hangs from `all`; hosts in no group are `ungrouped`.
    let names: Vec<String> = inv.groups.keys().cloned().collect();
    let has_parent: IndexSet<String> = inv
        .groups
        .values()
        .flat_map(|g| g.children.iter().cloned())
        .collect();
    for n in &names {
        if n != ALL_ROLE && !has_parent.contains(n) {
            inv.groups[ALL_ROLE].children.insert(n.clone());
        }
    }
    let grouped: IndexSet<String> = inv
        .groups
        .iter()
        .filter(|(n, _)| n.as_str() != ALL_ROLE && n.as_str() != UNGROUPED)
        .flat_map(|(_, g)| g.hosts.iter().cloned())
        .collect();
    let lone: Vec<String> = inv
        .hosts
        .keys()
        .filter(|h| !grouped.contains(*h))
        .cloned()
        .collect();
    inv.groups[UNGROUPED].hosts.extend(lone);
    let depth = depths(&inv.groups)?;
    for g in inv.groups.values_mut() {
        if let Some(p) = g.vars.shift_remove("ansible_group_priority") {
            g.priority = p
                .as_i64()
                .or_else(|| p.as_str().and_then(|s| s.trim().parse().ok()));
        }
    }

    // Per host: its groups (all ancestors), in Ansible's order.
    let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
    for (n, g) in &inv.groups {
        for c in &g.children {
            parents.entry(c.as_str()).or_default().push(n.as_str());
        }
    }
    let priority = |g: &str| inv.groups[g].priority.unwrap_or(1);
    let mut hostvars: IndexMap<String, Vars> = IndexMap::new();
    let mut role_hosts: IndexMap<String, IndexSet<String>> = IndexMap::new();
    for (host, entry) in &inv.hosts {
        let mut groups: IndexSet<&str> = IndexSet::new();
        let mut stack: Vec<&str> = inv
            .groups
            .iter()
            .filter(|(_, g)| g.hosts.contains(host))
            .map(|(n, _)| n.as_str())
            .collect();
        while let Some(g) = stack.pop() {
            if groups.insert(g) {
                stack.extend(parents.get(g).into_iter().flatten().copied());
            }
        }
        groups.insert(ALL_ROLE);
        let mut sorted: Vec<&str> = groups.iter().copied().collect();
        sorted.sort_by(|a, b| (depth[*a], priority(a), *a).cmp(&(depth[*b], priority(b), *b)));
        let mut vars = Vars::new();
        for g in &sorted {
            vars.extend(inv.groups[*g].vars.clone());
        }
        for g in &sorted {
            for (_, v) in group_files.get(*g).into_iter().flatten() {
                vars.extend(v.clone());
            }
        }
        vars.extend(entry.vars.clone());
        for (_, v) in host_files.get(host.as_str()).into_iter().flatten() {
            vars.extend(v.clone());
        }
        hostvars.insert(host.clone(), vars);
        for g in groups {
            if g != ALL_ROLE {
                role_hosts.entry(g.to_string()).or_default().insert(host.clone());
            }
        }
    }

    let mut hosts: IndexMap<String, Host> = IndexMap::with_capacity(inv.hosts.len());
    for (name, vars) in &hostvars {
        let at = inv.hosts[name].at.clone();
        let where_ = |key: &str| {
            let (file, line) = at.clone().unwrap_or((path.to_path_buf(), 1));
            format!("{}:{line}: host `{name}`: `{key}`", file.display())
        };
        let text = |keys: [&str; 2]| -> Result<Option<(String, String)>, LoadError> {
            for key in keys {
                if let Some(v) = vars.get(key) {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        other => {
                            return Err(Diagnostic::new(
                                path,
                                format!("{} is {other}, not a string or number", where_(key)),
                            )
                            .into())
                        }
                    };
                    if s.contains("{{") || s.contains("{%") {
                        return Err(Diagnostic::new(
                            path,
                            format!(
                                "{} is a Jinja template (`{s}`), which rolecall does not render",
                                where_(key)
                            ),
                        )
                        .hint(
                            "give the value itself, or save `ansible-inventory --list` output and read that",
                        )
                        .into());
                    }
                    return Ok(Some((key.to_string(), s)));
                }
            }
            Ok(None)
        };
        let address = text(["ansible_host", "ansible_ssh_host"])?.map(|(_, a)| a);
        let port = match text(["ansible_port", "ansible_ssh_port"])? {
            Some((key, p)) => Some(p.trim().parse::<u16>().map_err(|_| {
                LoadError::from(Diagnostic::new(
                    path,
                    format!("{} is `{p}`, not a port number", where_(&key)),
                ))
            })?),
            None => None,
        };
        let user = text(["ansible_user", "ansible_ssh_user"])?.map(|(_, u)| u);
        hosts.insert(
            name.clone(),
            Host {
                name: name.clone(),
                address: address.unwrap_or_else(|| name.clone()),
                port,
                user,
                jump: None,
                vars: vars.clone(),
            },
        );
    }
    if hosts.is_empty() {
        return Err(Diagnostic::new(path, "the inventory defines no hosts").into());
    }
    let mut roles: IndexMap<String, Role> = IndexMap::new();
    for name in inv.groups.keys().filter(|n| n.as_str() != ALL_ROLE) {
        let members = role_hosts.get(name);
        if name == UNGROUPED && members.is_none_or(IndexSet::is_empty) {
            continue;
        }
        let hosts_in: Vec<String> = hosts
            .keys()
            .filter(|h| members.is_some_and(|m| m.contains(*h)))
            .cloned()
            .collect();
        roles.insert(
            name.clone(),
            Role {
                name: name.clone(),
                hosts: hosts_in,
                ..Role::default()
            },
        );
    }
    roles.insert(
        ALL_ROLE.to_string(),
        Role {
            name: ALL_ROLE.to_string(),
            description: Some("every host of the inventory".into()),
            hosts: hosts.keys().cloned().collect(),
            ..Role::default()
        },
    );
    let document = listing(&inv, &hostvars);
    Ok(Deployment {
        source: path.to_path_buf(),
        profile: Profile::Ansible,
        name: None,
        description: None,
        ssh: SshSettings::default(),
        hosts,
        roles,
        clusters: IndexMap::new(),
        plugins: IndexMap::new(),
        document,
        from_env: Vec::new(),
        warnings: inv.warnings,
        origins: std::collections::HashMap::new(),
    })
}

/// Each group's depth below `all` (the longest path); a cycle of `children` is an error.
fn depths(groups: &IndexMap<String, Group>) -> Result<HashMap<String, usize>, LoadError> {
    let mut depth: HashMap<String, usize> = HashMap::new();
    fn visit(
        groups: &IndexMap<String, Group>,
        name: &str,
        d: usize,
        depth: &mut HashMap<String, usize>,
        path: &mut Vec<String>,
    ) -> Result<(), String> {
        if path.iter().any(|p| p == name) {
            path.push(name.to_string());
            return Err(path.join(" -> "));
        }
        if depth.get(name).is_some_and(|&old| old >= d) {
            return Ok(());
        }
        depth.insert(name.to_string(), d);
        path.push(name.to_string());
        for c in &groups[name].children {
            visit(groups, c, d + 1, depth, path)?;
        }
        path.pop();
        Ok(())
    }
    let mut path = Vec::new();
    visit(groups, ALL_ROLE, 0, &mut depth, &mut path).map_err(|cycle| {
        let (file, line) = groups.values().find_map(|g| g.at.clone()).unwrap_or_default();
        LoadError::from(
            Diagnostic::new(&file, format!("groups are their own children: {cycle}")).at(Some(Position {
                line: line.max(1),
                column: 1,
            })),
        )
    })?;
    for n in groups.keys() {
        depth.entry(n.clone()).or_insert(1);
    }
    Ok(depth)
}

/// `ansible-inventory --list`'s shape: groups with their own hosts and children, and every
/// host's variables under `_meta.hostvars`.
fn listing(inv: &Inventory, hostvars: &IndexMap<String, Vars>) -> Value {
    let mut doc = Map::new();
    let mut meta = Map::new();
    let hv: Map<String, Value> = hostvars
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), Value::Object(v.clone())))
        .collect();
    meta.insert("hostvars".into(), Value::Object(hv));
    doc.insert("_meta".into(), Value::Object(meta));
    let sorted: BTreeMap<&String, &Group> = inv.groups.iter().collect();
    for (name, g) in sorted {
        let mut o = Map::new();
        if !g.hosts.is_empty() {
            o.insert(
                "hosts".into(),
                Value::from(g.hosts.iter().cloned().collect::<Vec<_>>()),
            );
        }
        if !g.children.is_empty() {
            o.insert(
                "children".into(),
                Value::from(g.children.iter().cloned().collect::<Vec<_>>()),
            );
        }
        if !o.is_empty() {
            doc.insert(name.clone(), Value::Object(o));
        }
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_like_ansible() {
        assert_eq!(expand("web[01:03].x").unwrap(), ["web01.x", "web02.x", "web03.x"]);
        assert_eq!(expand("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert_eq!(expand("n[1:9:4]").unwrap(), ["n1", "n5", "n9"]);
        assert_eq!(expand("r[1:2]-[a:b]").unwrap(), ["r1-a", "r1-b", "r2-a", "r2-b"]);
        assert!(expand("x[3:1]").is_err());
        assert_eq!(
            host_pattern("h:2222").unwrap(),
            (vec!["h".to_string()], Some(2222))
        );
        assert_eq!(host_pattern("h[1:2]:22").unwrap().0, ["h1", "h2"]);
        assert_eq!(
            host_pattern("[::1]:2200").unwrap(),
            (vec!["::1".to_string()], Some(2200))
        );
        assert_eq!(host_pattern("fe80::1").unwrap().1, None);
    }

    #[test]
    fn ini_values_are_python_literals() {
        assert_eq!(literal("5"), Value::from(5));
        assert_eq!(literal("True"), Value::Bool(true));
        assert_eq!(literal("true"), Value::from("true"));
        assert_eq!(literal("[1, 'a']"), serde_json::json!([1, "a"]));
        assert_eq!(literal("{'a': 1}"), serde_json::json!({"a": 1}));
        assert_eq!(literal("010"), Value::from("010"));
        assert_eq!(literal("1.5"), serde_json::json!(1.5));
        assert_eq!(literal("quoted str"), Value::from("quoted str"));
        assert_eq!(literal("10.0.0.1"), Value::from("10.0.0.1"));
        assert_eq!(shlex(r#"a b="x y" c='d' # note"#).unwrap(), ["a", "b=x y", "c=d"]);
    }
}
