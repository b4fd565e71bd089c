//! YAML inventories (groups with `hosts`, `children` and `vars`) and saved `ansible-inventory
//! --list` documents (groups with lists, `_meta.hostvars`).

use serde_json::Value;

use super::ini::host_pattern;
use super::{Inventory, Vars};
use crate::deployment::error::Diagnostic;
use crate::deployment::locate::YamlPath;
use crate::deployment::source::Source;

pub(super) fn read_yaml(src: &Source, inv: &mut Inventory) -> Result<(), Diagnostic> {
    let value = src.value()?;
    let serde_yaml::Value::Mapping(top) = value else {
        return Err(src.error_at(&YamlPath::root(), "a YAML inventory is a mapping of group names"));
    };
    if let Some(plugin) = top.get("plugin") {
        let name = key_text(plugin);
        if name == "constructed" || name == "ansible.builtin.constructed" {
            return super::constructed::apply(src, inv, &top);
        }
        // Ansible's `auto` plugin runs the plugin named; rolecall runs no other, so what it
        // would add is missing: said, never silent, and the rest of the inventory still loads.
        inv.warnings.push(format!(
            "{}:{}: an inventory plugin configuration (`plugin: {name}`), which rolecall does not run: \
             the hosts and groups it would add are missing (save `ansible-inventory -i {} --list --output \
             inventory.json` and read that to have them)",
            src.path.display(),
            line_of(src, &YamlPath::root().key("plugin")),
            src.path.display()
        ));
        return Ok(());
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
                        inv.add_host(&name, &h, Vars::new(), at.clone())
                            .map_err(|e| src.error_at(&kpath, e))?;
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
        let h = inv
            .host_entry(&host)
            .map_err(|e| src.error_at(&meta.key(&host), e))?;
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

pub(super) fn line_of(src: &Source, path: &YamlPath) -> usize {
    crate::deployment::locate::locate_in_file(&src.text, path).map_or(1, |p| p.line)
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
                            inv.add_host(name, &n, vars.clone(), hat.clone())
                                .map_err(|e| src.error_at(&hpath, e))?;
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
pub(super) fn yaml_vars(
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
