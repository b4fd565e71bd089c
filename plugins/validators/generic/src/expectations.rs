//! `expectations`: every role's `expect` section is well-formed: known keys (with a suggestion
//! for a misspelt one), valid ports and modes, thresholds that can be met, and `connect`
//! targets naming roles that exist.

use rolecall_plugin::serde_json::Value;
use rolecall_plugin::{Context, ExpectKey, Result, Validator};

use rolecall_plugin_common::spec;

#[derive(Debug, Default)]
pub struct Expectations;

const CHECK: &str = "expectations";

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn suggest(word: &str, declared: &[ExpectKey]) -> String {
    spec::KEYS
        .iter()
        .copied()
        .chain(declared.iter().map(|k| k.key.as_str()))
        .map(|k| (distance(word, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

fn positive(v: &Value) -> bool {
    v.as_f64().is_some_and(|n| n >= 0.0)
}

/// Whether `v` has the declared `kind` (`list`, `map`, `string`, `number`, `bool`, `any`).
fn of_kind(v: &Value, kind: &str) -> bool {
    match kind {
        "list" => v.is_array(),
        "map" => v.is_object(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "bool" => v.is_boolean(),
        _ => true,
    }
}

/// Problems in one role's `expect`, as (YAML path suffix, message). Keys the shipped debuggers
/// read are checked in depth; keys other loaded plugins declare (`declared`), by their type.
fn problems(expect: &Value, roles: &[String], declared: &[ExpectKey]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let Some(map) = expect.as_object() else {
        return vec![(String::new(), "`expect` must be a mapping".into())];
    };
    for (key, v) in map {
        let mut bad = |sub: String, msg: String| out.push((format!(".{key}{sub}"), msg));
        match key.as_str() {
            "services" => match v.as_array() {
                Some(a) => {
                    for (i, s) in a.iter().enumerate() {
                        if s.as_str().is_none_or(|s| s.trim().is_empty()) {
                            bad(format!("[{i}]"), format!("service names are strings, not {s}"));
                        }
                    }
                }
                None => bad(String::new(), "a list of service names".into()),
            },
            "ports" => match v.as_array() {
                Some(a) => {
                    for (i, p) in a.iter().enumerate() {
                        let text = p.as_str().map_or_else(|| p.to_string(), str::to_string);
                        if spec::port_spec(&text).is_none() {
                            bad(
                                format!("[{i}]"),
                                format!("`{text}` is not PORT/tcp or PORT/udp (1-65535)"),
                            );
                        }
                    }
                }
                None => bad(String::new(), "a list such as [8773/tcp, 53/udp]".into()),
            },
            "disk" => match v.as_object() {
                Some(paths) => {
                    for (path, limits) in paths {
                        if !path.starts_with('/') {
                            bad(format!(".{path}"), format!("`{path}` is not an absolute path"));
                        }
                        let Some(l) = limits.as_object() else {
                            bad(
                                format!(".{path}"),
                                "limits are {max_used_percent, min_free_mb}".into(),
                            );
                            continue;
                        };
                        for (k, n) in l {
                            match k.as_str() {
                                "max_used_percent"
                                    if n.as_f64().is_some_and(|n| (0.0..=100.0).contains(&n)) => {}
                                "max_used_percent" => {
                                    bad(format!(".{path}.{k}"), format!("{n} is not 0 to 100"))
                                }
                                "min_free_mb" if positive(n) => {}
                                "min_free_mb" => {
                                    bad(format!(".{path}.{k}"), format!("{n} is not a size in MB"))
                                }
                                other => bad(
                                    format!(".{path}.{other}"),
                                    format!("unknown limit `{other}` (max_used_percent, min_free_mb)"),
                                ),
                            }
                        }
                    }
                }
                None => bad(String::new(), "a mapping of paths to limits".into()),
            },
            "memory" => {
                let total = v.get("min_total_mb");
                let avail = v.get("min_available_mb");
                for (k, n) in v.as_object().into_iter().flatten() {
                    match k.as_str() {
                        "min_total_mb" | "min_available_mb" if positive(n) => {}
                        "min_total_mb" | "min_available_mb" => {
                            bad(format!(".{k}"), format!("{n} is not a size in MB"))
                        }
                        other => bad(
                            format!(".{other}"),
                            format!("unknown limit `{other}` (min_total_mb, min_available_mb)"),
                        ),
                    }
                }
                if let (Some(t), Some(a)) = (total.and_then(Value::as_f64), avail.and_then(Value::as_f64)) {
                    if a > t {
                        bad(
                            ".min_available_mb".into(),
                            format!("{a} MB available can never be met with {t} MB total"),
                        );
                    }
                }
            }
            "files" => match v.as_object() {
                Some(paths) => {
                    for (path, want) in paths {
                        if !path.starts_with('/') {
                            bad(format!(".{path}"), format!("`{path}` is not an absolute path"));
                        }
                        for (k, x) in want.as_object().into_iter().flatten() {
                            let text = x.as_str().map_or_else(|| x.to_string(), str::to_string);
                            match k.as_str() {
                                "mode" if spec::normalize_mode(&text).is_some() => {}
                                "mode" => {
                                    bad(format!(".{path}.mode"), format!("`{text}` is not an octal mode"))
                                }
                                "owner" | "group" if x.is_string() => {}
                                "owner" | "group" => {
                                    bad(format!(".{path}.{k}"), format!("{k} is a name, not {x}"))
                                }
                                other => bad(
                                    format!(".{path}.{other}"),
                                    format!("unknown field `{other}` (owner, group, mode)"),
                                ),
                            }
                        }
                    }
                }
                None => bad(String::new(), "a mapping of paths to {owner, group, mode}".into()),
            },
            "connect" => {
                for (i, t) in v.as_array().into_iter().flatten().enumerate() {
                    let text = t.as_str().unwrap_or_default();
                    match spec::connect_target(text) {
                        Some((role, _)) if roles.iter().any(|r| r == role) => {}
                        Some((role, _)) => bad(format!("[{i}]"), format!("`{text}`: no role `{role}`")),
                        None => bad(format!("[{i}]"), format!("`{text}` is not ROLE:PORT")),
                    }
                }
                if !v.is_array() {
                    bad(String::new(), "a list of ROLE:PORT targets".into());
                }
            }
            "arch" if v.is_string() => {}
            "min_cpus" if v.as_u64().is_some_and(|n| n > 0) => {}
            "virtualization" if v.is_boolean() => {}
            "arch" => bad(String::new(), "an architecture name such as x86_64".into()),
            "min_cpus" => bad(String::new(), format!("{v} is not a positive whole number")),
            "virtualization" => bad(String::new(), "true or false".into()),
            other => match declared.iter().find(|k| k.key == other) {
                Some(k) if of_kind(v, &k.kind) => {}
                Some(k) => bad(
                    String::new(),
                    format!(
                        "plugin `{}` reads `{other}` as a {} ({})",
                        k.plugin, k.kind, k.description
                    ),
                ),
                None => {
                    let hint = suggest(other, declared);
                    out.push((
                        format!(".{other}"),
                        format!("unknown expectation `{other}`{hint}"),
                    ));
                }
            },
        }
    }
    out
}

impl Validator for Expectations {
    const NAME: &'static str = "expectations";
    const DESCRIPTION: &'static str =
        "role `expect` sections are well-formed: keys, ports, thresholds, modes, connect targets";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        let names: Vec<String> = ctx.roles().iter().map(|r| r.name.clone()).collect();
        let declared = ctx.expect_keys().to_vec();
        let roles: Vec<(String, Value)> = ctx
            .roles()
            .iter()
            .filter(|r| !r.expect.is_null())
            .map(|r| (r.name.clone(), r.expect.clone()))
            .collect();
        if roles.is_empty() {
            ctx.skip(CHECK, "no role sets `expect`");
        }
        for (role, expect) in roles {
            let found = problems(&expect, &names, &declared);
            let base = format!("roles.{role}.expect");
            if found.is_empty() {
                ctx.pass(CHECK, format!("role `{role}`: expectations well-formed"))
                    .path(&base);
            }
            for (sub, msg) in found {
                let e = if msg.starts_with("unknown expectation") {
                    ctx.warn(CHECK, format!("role `{role}`: {msg}"))
                } else {
                    ctx.fail(CHECK, format!("role `{role}`: {msg}"))
                };
                e.path(format!("{base}{sub}"));
            }
        }
        // From the deployment's plugin sections, which every profile fills (a native file's
        // `document` is null).
        if let Some(v) = ctx
            .deployment()
            .plugins
            .get("clock")
            .and_then(|c| c.get("max_skew_seconds"))
        {
            if !v.as_f64().is_some_and(|n| n > 0.0) {
                ctx.fail(
                    CHECK,
                    format!("clock: max_skew_seconds {v} is not a positive number"),
                )
                .path("plugins.clock.max_skew_seconds");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::Status;

    #[test]
    fn well_formed_passes() {
        let kit = Kit::from_yaml(
            "hosts: {a: 127.0.0.2, b: 127.0.0.3}\nroles:\n  clc: [a]\n  nc:\n    hosts: [b]\n    expect:\n      \
             services: [eucalyptus-nc]\n      ports: [8775/tcp, 53/udp]\n      disk: {/: {max_used_percent: 90, min_free_mb: 100}}\n      \
             memory: {min_total_mb: 2048, min_available_mb: 512}\n      files: {/etc: {owner: root, mode: '0755'}}\n      \
             connect: ['clc:8773']\n      arch: x86_64\n      min_cpus: 2\n      virtualization: true\n",
        );
        let r = kit.validate(&Expectations);
        r.assert_status(CHECK, None, Status::Pass);
        assert_eq!(r.count(Status::Fail), 0);
    }

    #[test]
    fn every_kind_of_mistake_has_its_path() {
        let kit = Kit::from_yaml(
            "hosts: {b: 127.0.0.3}\nroles:\n  nc:\n    hosts: [b]\n    expect:\n      \
             servises: [x]\n      ports: [8775/tcp, http, 70000]\n      disk: {var: {max_used_percent: 120, size: 3}}\n      \
             memory: {min_total_mb: 512, min_available_mb: 1024}\n      files: {/etc: {mode: rwx, owner: 0}}\n      \
             connect: ['clcc:8773', 'nc']\n      min_cpus: 0\n",
        );
        let r = kit.validate(&Expectations);
        let paths: Vec<(Status, String, String)> = r
            .find(CHECK, None)
            .iter()
            .map(|f| (f.status, f.path.clone().unwrap_or_default(), f.message.clone()))
            .collect();
        let has = |path: &str, needle: &str| {
            assert!(
                paths.iter().any(|(_, p, m)| p == path && m.contains(needle)),
                "no {path} with {needle:?} in {paths:#?}"
            )
        };
        has("roles.nc.expect.servises", "did you mean `services`?");
        has("roles.nc.expect.ports[1]", "`http` is not PORT/tcp");
        has("roles.nc.expect.ports[2]", "`70000`");
        has("roles.nc.expect.disk.var", "not an absolute path");
        has("roles.nc.expect.disk.var.max_used_percent", "120 is not 0 to 100");
        has("roles.nc.expect.disk.var.size", "unknown limit `size`");
        has("roles.nc.expect.memory.min_available_mb", "can never be met");
        has("roles.nc.expect.files./etc.mode", "`rwx` is not an octal mode");
        has("roles.nc.expect.files./etc.owner", "owner is a name");
        has("roles.nc.expect.connect[0]", "no role `clcc`");
        has("roles.nc.expect.connect[1]", "`nc` is not ROLE:PORT");
        has("roles.nc.expect.min_cpus", "not a positive whole number");
        // A misspelt key is a warning (a plugin of another pack may read it); the rest fail.
        assert!(paths
            .iter()
            .any(|(s, p, _)| *s == Status::Warn && p.ends_with("servises")));
        assert_eq!(r.count(Status::Pass), 0);
    }
}
