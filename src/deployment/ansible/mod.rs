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

mod constructed;
mod ini;
mod literal;
mod template;
mod vars;
mod yaml;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value};

use super::error::{Diagnostic, LoadError};
use super::locate::Position;
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
    /// Host names listed so far (a host in three groups counts three times).
    listed: usize,
}

/// Host names an inventory may list (hosts times the groups each is in), per allowed host:
/// a real inventory puts a host in a handful of groups; a 1 KB file of ranges must not list
/// millions.
const LISTED_PER_HOST: usize = 16;

impl Inventory {
    fn new() -> Self {
        let mut groups = IndexMap::new();
        groups.insert(ALL_ROLE.to_string(), Group::default());
        groups.insert(UNGROUPED.to_string(), Group::default());
        // As ansible-core starts every inventory: `ungrouped` is `all`'s first child.
        if let Some(all) = groups.get_mut(ALL_ROLE) {
            all.children.insert(UNGROUPED.to_string());
        }
        Self {
            hosts: IndexMap::new(),
            groups,
            warnings: Vec::new(),
            listed: 0,
        }
    }

    /// Each group's parents (the groups that list it under `children`).
    fn parents(&self) -> HashMap<&str, Vec<&str>> {
        let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
        for (n, g) in &self.groups {
            for c in &g.children {
                parents.entry(c.as_str()).or_default().push(n.as_str());
            }
        }
        parents
    }

    /// The groups `host` is in: those that list it, and all their ancestors (`parents` from
    /// [`Self::parents`]).
    fn groups_of<'a>(&'a self, host: &str, parents: &HashMap<&'a str, Vec<&'a str>>) -> IndexSet<&'a str> {
        let mut groups: IndexSet<&str> = IndexSet::new();
        let mut stack: Vec<&str> = self
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
        groups
    }

    /// The entry of `host`, new or not; `Err` once the inventory passes the host limit
    /// ([`crate::deployment::max_hosts`]) or lists more than [`LISTED_PER_HOST`] names per
    /// allowed host: checked at each name, while the file is read, never after.
    fn host_entry(&mut self, host: &str) -> Result<&mut HostEntry, String> {
        let limit = crate::deployment::max_hosts();
        self.listed += 1;
        if self.listed > limit.saturating_mul(LISTED_PER_HOST) {
            return Err(format!(
                "the inventory lists more than {} host names (hosts times their groups), more than \
                 {LISTED_PER_HOST} per host of the limit of {limit} (raise it with `--max-hosts N` or {})",
                limit.saturating_mul(LISTED_PER_HOST),
                crate::deployment::MAX_HOSTS_ENV
            ));
        }
        if !self.hosts.contains_key(host) && self.hosts.len() >= limit {
            return Err(format!(
                "the inventory defines more than {limit} hosts, the limit (raise it with `--max-hosts N` or {}, \
                 if the fleet is really that big)",
                crate::deployment::MAX_HOSTS_ENV
            ));
        }
        Ok(self.hosts.entry(host.to_string()).or_default())
    }

    fn group(&mut self, name: &str, at: (PathBuf, usize)) -> &mut Group {
        let g = self.groups.entry(name.to_string()).or_default();
        g.at.get_or_insert(at);
        g
    }

    fn add_host(&mut self, group: &str, host: &str, vars: Vars, at: (PathBuf, usize)) -> Result<(), String> {
        let h = self.host_entry(host)?;
        h.at.get_or_insert(at.clone());
        h.vars.extend(vars);
        self.group(group, at).hosts.insert(host.to_string());
        Ok(())
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
    // A top-level `hosts:` key (a rolecall file) is no inventory group: known without parsing
    // the whole file (at 100,000 hosts the parse was a tenth of `validate`'s time).
    // (`hosts:` then nothing, a space or a tab: an INI host line `hosts:2222` is not one.)
    let top_level_hosts = |l: &str| {
        l.strip_prefix("hosts:")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
    };
    if text.lines().any(top_level_hosts) {
        return false;
    }
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

/// The names an INI host range stands for (`web[1:3].example.com`, `db[:5]`), as Ansible
/// expands them; `Err` says why it is not one.
pub fn expand_range(name: &str) -> Result<Vec<String>, String> {
    ini::host_pattern(name).map(|(names, _)| names)
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
        if let Err(e) = read_file(file, &mut inv) {
            // A directory is read as Ansible reads an inventory directory: say so, and which
            // files it holds, so a `-c DIR` meant for something else is not a riddle.
            if !path.is_dir() {
                return Err(e);
            }
            let names: Vec<String> = files
                .iter()
                .map(|f| f.strip_prefix(path).unwrap_or(f).display().to_string())
                .collect();
            let why = format!(
                "`{}` is read as an Ansible inventory directory (each file in it is an inventory \
                 source); its files: {}",
                path.display(),
                names.join(", ")
            );
            return Err(match e {
                LoadError::Invalid(d) => {
                    let hint = match &d.hint {
                        Some(h) => format!("{h}\n{why}"),
                        None => why,
                    };
                    LoadError::Invalid(Box::new(d.hint(hint)))
                }
                other => other,
            });
        }
    }
    let group_files = vars::vars_dir(&base.join("group_vars"))?;
    let host_files = vars::vars_dir(&base.join("host_vars"))?;
    finish(path, inv, &group_files, &host_files)
}

/// The entries of `dir` with their names, in name order, hidden ones (`.name`) left out: the
/// way Ansible walks inventory and vars directories.
pub(super) fn entries(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut v: Vec<(PathBuf, String)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
        .filter(|(_, name)| !name.starts_with('.'))
        .collect();
    v.sort();
    Ok(v)
}

fn dir_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let entries =
        entries(dir).map_err(|e| Diagnostic::new(dir, format!("cannot read the directory: {e}")))?;
    for (p, name) in entries {
        if IGNORED_EXTS.iter().any(|x| name.ends_with(x)) {
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
    let yaml_named = matches!(ext.as_deref(), Some("yml" | "yaml" | "json"));
    if yaml_named || ext.is_none() {
        // Ansible tries its `yaml` plugin on these names, then `ini` on whatever is left.
        match serde_yaml::from_str::<serde_yaml::Value>(&src.text) {
            Ok(serde_yaml::Value::Mapping(_)) => return yaml::read_yaml(&src, inv).map_err(Into::into),
            Err(_) if yaml_named || !ini_like(&src.text) => {
                // Not YAML: INI if it reads as INI, else the YAML error at its place (an INI
                // error at 1:1 would point nowhere useful).
                let mut attempt = Inventory::new();
                if ini::read_ini(&src, &mut attempt).is_ok() {
                    return ini::read_ini(&src, inv).map_err(Into::into);
                }
                return Err(src.value().err().map_or_else(
                    || Diagnostic::new(path, "not a YAML or INI inventory").into(),
                    Into::into,
                ));
            }
            _ => {}
        }
    }
    ini::read_ini(&src, inv).map_err(Into::into)
}

pub(super) fn vaulted(path: &Path) -> Diagnostic {
    Diagnostic::new(
        path,
        "this file is encrypted with ansible-vault; rolecall cannot read it",
    )
    .hint("decrypt a copy with `ansible-vault view`, or keep secrets out of the inventory rolecall reads")
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
    // As Ansible reconciles: a host in a real group is not `ungrouped`, a host in none is.
    inv.groups[UNGROUPED].hosts.retain(|h| !grouped.contains(h));
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
    let parents = inv.parents();
    let priority = |g: &str| inv.groups[g].priority.unwrap_or(1);
    let mut hostvars: IndexMap<String, Vars> = IndexMap::new();
    let mut role_hosts: IndexMap<String, IndexSet<String>> = IndexMap::new();
    for (host, entry) in &inv.hosts {
        let mut groups = inv.groups_of(host, &parents);
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

    let mut hosts = super::HostMap::with_capacity_and_hasher(inv.hosts.len(), Default::default());
    for (name, vars) in &hostvars {
        let at = inv.hosts[name].at.clone();
        let where_ = |key: &str| {
            let (file, line) = at.clone().unwrap_or((path.to_path_buf(), 1));
            format!("{}:{line}: host `{name}`: `{key}`", file.display())
        };
        // A connection value that cannot be rendered: this host cannot be reached, the rest can.
        let problem: std::cell::RefCell<Option<String>> = std::cell::RefCell::new(None);
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
                    if template::is_template(&s) {
                        // Ansible renders it when used: here, from the inventory's own values.
                        match template::render(&s, name, vars) {
                            Ok(rendered) => return Ok(Some((key.to_string(), rendered))),
                            Err(why) => {
                                problem.borrow_mut().get_or_insert_with(|| {
                                    format!(
                                        "{} is a Jinja template rolecall cannot render (`{s}`): {why}",
                                        where_(key)
                                    )
                                });
                                return Ok(None);
                            }
                        }
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
        let unusable = problem.into_inner();
        if let Some(why) = &unusable {
            inv.warnings
                .push(format!("{why}: this host will not be contacted"));
        }
        hosts.insert(
            name.clone(),
            Host {
                name: name.clone(),
                address: address.unwrap_or_else(|| name.clone()),
                port,
                user,
                jump: None,
                vars: vars.clone(),
                unusable,
            },
        );
    }
    if hosts.is_empty() {
        let mut d = Diagnostic::new(path, "the inventory defines no hosts");
        if !inv.warnings.is_empty() {
            d = d.hint(inv.warnings.join("\n"));
        }
        return Err(d.into());
    }
    let mut roles: IndexMap<String, Role> = IndexMap::new();
    for name in inv.groups.keys().filter(|n| n.as_str() != ALL_ROLE) {
        let members = role_hosts.get(name);
        if name == UNGROUPED && members.is_none_or(IndexSet::is_empty) {
            continue;
        }
        let hosts_in = ansible_order(&inv.groups, name);
        debug_assert!(hosts_in.iter().all(|h| members.is_some_and(|m| m.contains(h))));
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
            hosts: ansible_order(&inv.groups, ALL_ROLE),
            ..Role::default()
        },
    );
    let document = listing(&inv, &hostvars);
    Ok(Deployment {
        waivers: Vec::new(),
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

/// The hosts of group `name` in the order Ansible's `Group.get_hosts` gives them: the group's
/// own hosts, then those of its children in order, then of their children (level by level),
/// each host once. (Ansible walks the levels below the children in a set's order, which
/// varies between runs; here they go in the order the groups were written.)
fn ansible_order(groups: &IndexMap<String, Group>, name: &str) -> Vec<String> {
    let mut order: IndexSet<&str> = IndexSet::new();
    order.insert(name);
    let mut level: Vec<&str> = vec![name];
    while !level.is_empty() {
        let mut next = Vec::new();
        for g in level {
            for c in groups.get(g).into_iter().flat_map(|g| &g.children) {
                if order.insert(c.as_str()) {
                    next.push(c.as_str());
                }
            }
        }
        level = next;
    }
    let mut hosts: IndexSet<&str> = IndexSet::new();
    for g in order {
        hosts.extend(
            groups
                .get(g)
                .into_iter()
                .flat_map(|g| g.hosts.iter().map(String::as_str)),
        );
    }
    hosts.into_iter().map(str::to_string).collect()
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
    let cycle_error = |cycle: String| {
        let first = cycle.split(" -> ").next().unwrap_or_default();
        let (file, line) = groups
            .get(first)
            .and_then(|g| g.at.clone())
            .or_else(|| groups.values().find_map(|g| g.at.clone()))
            .unwrap_or_default();
        LoadError::from(
            Diagnostic::new(
                &file,
                format!("groups are their own children (Ansible: a recursive dependency loop): {cycle}"),
            )
            .at(Some(Position {
                line: line.max(1),
                column: 1,
            })),
        )
    };
    let mut path = Vec::new();
    visit(groups, ALL_ROLE, 0, &mut depth, &mut path).map_err(cycle_error)?;
    // A loop that nothing above reaches (`a` child of `b`, `b` of `a`) is one too.
    let mut done: HashSet<&str> = HashSet::new();
    for start in groups.keys() {
        find_cycle(groups, start, &mut Vec::new(), &mut done).map_err(cycle_error)?;
    }
    for n in groups.keys() {
        depth.entry(n.clone()).or_insert(1);
    }
    Ok(depth)
}

/// Depth-first from `name`: `Err` names a loop of `children`.
fn find_cycle<'g>(
    groups: &'g IndexMap<String, Group>,
    name: &'g str,
    path: &mut Vec<&'g str>,
    done: &mut HashSet<&'g str>,
) -> Result<(), String> {
    if let Some(at) = path.iter().position(|p| *p == name) {
        let mut cycle: Vec<&str> = path[at..].to_vec();
        cycle.push(name);
        return Err(cycle.join(" -> "));
    }
    if done.contains(name) {
        return Ok(());
    }
    path.push(name);
    for c in &groups[name].children {
        if let Some((c, _)) = groups.get_key_value(c.as_str()) {
            find_cycle(groups, c, path, done)?;
        }
    }
    path.pop();
    done.insert(name);
    Ok(())
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
mod detect_tests {
    use super::looks_like;
    use std::path::Path;

    #[test]
    fn a_top_level_hosts_key_is_a_rolecall_file_not_an_inventory() {
        let p = Path::new("deploy.yaml");
        assert!(!looks_like(
            p,
            Some("hosts:\n  a: 127.0.0.2\nroles:\n  web: [a]\n")
        ));
        assert!(!looks_like(p, Some("name: x\nhosts: {a: 127.0.0.2}\n")));
        assert!(looks_like(
            p,
            Some("all:\n  children:\n    web:\n      hosts:\n        a:\n")
        ));
        // An INI host line named `hosts` with a port is still INI.
        assert!(looks_like(p, Some("hosts:2222\n[web]\nweb01\n")));
    }
}
