//! `group_vars/` and `host_vars/` next to an inventory: `NAME`, `NAME.yml|.yaml|.json`, or a
//! directory `NAME/` of such files, read in name order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::yaml::yaml_vars;
use super::{entries, vaulted, Inventory, Vars};
use crate::deployment::error::LoadError;
use crate::deployment::locate::YamlPath;
use crate::deployment::source::Source;

/// `DIR/NAME`, `NAME.yml|.yaml|.json` and `NAME/` (its files in order), read as YAML.
pub(super) fn vars_dir(dir: &Path) -> Result<HashMap<String, Vec<(PathBuf, Vars)>>, LoadError> {
    let mut out: HashMap<String, Vec<(PathBuf, Vars)>> = HashMap::new();
    let Ok(entries) = entries(dir) else {
        return Ok(out);
    };
    for (p, file_name) in entries {
        if file_name.ends_with('~') {
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
    let Ok(entries) = entries(dir) else {
        return;
    };
    for (p, name) in entries {
        if name.ends_with('~') {
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
