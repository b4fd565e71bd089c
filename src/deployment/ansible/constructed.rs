//! Ansible's `constructed` inventory plugin: groups and variables made from Jinja expressions
//! over the hosts read so far (`compose`, `groups`, `keyed_groups`, `strict`,
//! `leading_separator`), run where its file comes in the inventory (a directory's files in
//! name order), as ansible-core runs it.
//!
//! What it sees is what Ansible's plugin sees at that point: each host's own variables and
//! those of the groups it is in so far (by depth, priority, name), with `inventory_hostname`,
//! `inventory_hostname_short` and `group_names`; not `group_vars/` or `host_vars/` files (vars
//! plugins come later) nor facts. An expression that fails skips that entry for that host, or
//! with `strict: true` is an error naming the host, as in Ansible.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{Inventory, Vars};
use crate::deployment::error::Diagnostic;
use crate::deployment::locate::YamlPath;
use crate::deployment::source::Source;
use crate::deployment::ALL_ROLE;

/// Apply the `constructed` configuration `config` (the file's top mapping) to `inv`.
pub(super) fn apply(
    src: &Source,
    inv: &mut Inventory,
    config: &serde_yaml::Mapping,
) -> Result<(), Diagnostic> {
    let root = YamlPath::root();
    let get = |k: &str| config.get(k);
    let strict = get("strict")
        .and_then(serde_yaml::Value::as_bool)
        .unwrap_or(false);
    let leading_separator = get("leading_separator")
        .and_then(serde_yaml::Value::as_bool)
        .unwrap_or(true);
    let text = |v: &serde_yaml::Value| -> String {
        match v {
            serde_yaml::Value::String(s) => s.clone(),
            other => serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        }
    };
    let pairs = |k: &str| -> Vec<(String, String)> {
        match get(k) {
            Some(serde_yaml::Value::Mapping(m)) => m.iter().map(|(a, b)| (text(a), text(b))).collect(),
            _ => Vec::new(),
        }
    };
    let compose = pairs("compose");
    let groups = pairs("groups");
    let keyed: Vec<&serde_yaml::Mapping> = match get("keyed_groups") {
        Some(serde_yaml::Value::Sequence(s)) => s.iter().filter_map(serde_yaml::Value::as_mapping).collect(),
        _ => Vec::new(),
    };
    let at = (src.path.clone(), super::yaml::line_of(src, &root.key("plugin")));
    let env = super::template::environment();
    let fail = |what: String| src.error_at(&root.key("plugin"), what);
    let hosts: Vec<String> = inv.hosts.keys().cloned().collect();
    for host in &hosts {
        for (name, expr) in &compose {
            match eval(&env, expr, &vars_now(inv, host)) {
                Ok(v) => {
                    let json = serde_json::to_value(&v).unwrap_or(Value::Null);
                    if let Some(h) = inv.hosts.get_mut(host) {
                        h.vars.insert(name.clone(), json);
                    }
                }
                Err(e) if strict => {
                    return Err(fail(format!("could not set `{name}` for host `{host}`: {e}")))
                }
                Err(_) => {}
            }
        }
        let vars = vars_now(inv, host);
        for (group, expr) in &groups {
            match eval(&env, expr, &vars) {
                Ok(v) if v.is_true() => {
                    inv.group(group, at.clone());
                    let _ = inv.add_host(group, host, Vars::new(), at.clone());
                }
                Ok(_) => {}
                Err(e) if strict => {
                    return Err(fail(format!(
                        "could not add host `{host}` to group `{group}`: {e}"
                    )))
                }
                Err(_) => {}
            }
        }
        for k in &keyed {
            let kget = |key: &str| k.get(key);
            let Some(key_expr) = kget("key").map(text) else {
                continue;
            };
            let key = match eval(&env, &key_expr, &vars) {
                Ok(v) => v,
                Err(e) if strict => {
                    return Err(fail(format!(
                        "could not make a group for host `{host}` from `{key_expr}`: {e}"
                    )))
                }
                Err(_) => continue,
            };
            let default_value = kget("default_value").map(text);
            let trailing_separator = kget("trailing_separator").and_then(serde_yaml::Value::as_bool);
            if default_value.is_some() && trailing_separator.is_some() {
                return Err(fail(
                    "keyed_groups: `default_value` and `trailing_separator` cannot be given together".into(),
                ));
            }
            let empty = |v: &minijinja::Value| v.is_none() || v.is_undefined() || v.as_str() == Some("");
            let use_default = empty(&key) && default_value.is_some();
            if !(key.is_true() || use_default) {
                continue;
            }
            let prefix = kget("prefix").map(text).unwrap_or_default();
            let mut sep = kget("separator").map(text).unwrap_or_else(|| "_".into());
            let parent = match kget("parent_group").map(text) {
                Some(p) if super::template::is_template(&p) => super::template::render(&p, host, &vars).ok(),
                other => other,
            };
            let mut names: Vec<String> = Vec::new();
            if use_default {
                names.extend(default_value.clone());
            } else if let Some(s) = key.as_str() {
                names.push(s.to_string());
            } else if key.kind() == minijinja::value::ValueKind::Seq {
                for item in key.try_iter().into_iter().flatten() {
                    match (&default_value, empty(&item)) {
                        (Some(d), true) => names.push(d.clone()),
                        _ => names.push(py_str(&item)),
                    }
                }
            } else if key.kind() == minijinja::value::ValueKind::Map {
                for name in key.try_iter().into_iter().flatten() {
                    let val = key.get_item(&name).unwrap_or_default();
                    let mut bare = format!("{}{sep}{}", py_str(&name), py_str(&val));
                    if empty(&val) {
                        if let Some(d) = &default_value {
                            bare = format!("{}{sep}{d}", py_str(&name));
                        } else if trailing_separator == Some(false) {
                            bare = py_str(&name);
                        }
                    }
                    names.push(bare);
                }
            } else if strict {
                return Err(fail(format!(
                    "keyed_groups: `{key_expr}` gives {key} for host `{host}`, not a string, list or mapping"
                )));
            } else {
                continue;
            }
            for bare in names {
                if prefix.is_empty() && !leading_separator {
                    sep.clear();
                }
                let group = format!("{prefix}{sep}{bare}");
                inv.group(&group, at.clone());
                let _ = inv.add_host(&group, host, Vars::new(), at.clone());
                if let Some(p) = parent.as_deref().filter(|p| !p.is_empty()) {
                    inv.group(p, at.clone()).children.insert(group.clone());
                }
            }
        }
    }
    Ok(())
}

/// Python's `str()` of a value, as Ansible formats group names (`True`, `None`, `5`).
fn py_str(v: &minijinja::Value) -> String {
    match v.kind() {
        minijinja::value::ValueKind::Bool => if v.is_true() { "True" } else { "False" }.into(),
        minijinja::value::ValueKind::None | minijinja::value::ValueKind::Undefined => "None".into(),
        _ => v.to_string(),
    }
}

fn eval(
    env: &minijinja::Environment<'static>,
    expr: &str,
    vars: &Map<String, Value>,
) -> Result<minijinja::Value, String> {
    let e = env.compile_expression(expr).map_err(|e| e.to_string())?;
    let v = e
        .eval(minijinja::Value::from_serialize(vars))
        .map_err(|e| e.to_string())?;
    // Ansible's templar fails on an undefined result; so does this.
    if v.is_undefined() {
        return Err(format!("`{expr}` is undefined"));
    }
    Ok(v)
}

/// A host's variables as Ansible's `constructed` sees them now: the groups it is in so far
/// (with their ancestors), lowest first by depth, priority and name, then its own, then the
/// magic `inventory_hostname`, `inventory_hostname_short` and `group_names`.
fn vars_now(inv: &Inventory, host: &str) -> Map<String, Value> {
    let parents = inv.parents();
    let groups = inv.groups_of(host, &parents);
    // Depth: the longest path down from a group with no parent (0), as Ansible counts it
    // before the inventory is reconciled.
    fn depth<'a>(g: &'a str, parents: &HashMap<&'a str, Vec<&'a str>>, seen: &mut Vec<&'a str>) -> usize {
        if seen.contains(&g) {
            return 0;
        }
        seen.push(g);
        let d = parents
            .get(g)
            .into_iter()
            .flatten()
            .map(|p| depth(p, parents, seen) + 1)
            .max()
            .unwrap_or(0);
        seen.pop();
        d
    }
    let mut sorted: Vec<&str> = groups.iter().copied().collect();
    let key = |g: &&str| {
        (
            depth(g, &parents, &mut Vec::new()),
            inv.groups[*g].priority.unwrap_or(1),
            g.to_string(),
        )
    };
    sorted.sort_by_key(key);
    let mut vars = Map::new();
    for g in &sorted {
        vars.extend(inv.groups[*g].vars.clone());
    }
    if let Some(h) = inv.hosts.get(host) {
        vars.extend(h.vars.clone());
    }
    vars.insert("inventory_hostname".into(), Value::from(host));
    vars.insert(
        "inventory_hostname_short".into(),
        Value::from(host.split('.').next().unwrap_or(host)),
    );
    let mut names: Vec<&str> = groups.iter().copied().filter(|g| *g != ALL_ROLE).collect();
    names.sort_unstable();
    vars.insert("group_names".into(), Value::from(names));
    vars
}
