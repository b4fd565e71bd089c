//! `files`: owner, group and mode of the paths in a role's `expect.files`
//! (`{PATH: {owner, group, mode}}`, each optional), from `stat`, on every host of the role.

use rolecall_plugin::{Context, Debugger, Expect, Result};

use crate::common::{expecting, not_run, quote, run};
use crate::spec::normalize_mode;

#[derive(Debug, Default)]
pub struct Files;

/// One line per path: `PATH<TAB>owner group mode type`, or `PATH<TAB>MISSING`.
pub fn command(paths: &[&str]) -> String {
    let list: Vec<String> = paths.iter().map(|p| quote(p)).collect();
    format!(
        "for p in {}; do printf '%s\\t' \"$p\"; stat -c '%U %G %a %F' -- \"$p\" 2>/dev/null || echo MISSING; done",
        list.join(" ")
    )
}

/// What `stat` said about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub owner: String,
    pub group: String,
    /// Octal, without leading zeros (`755`).
    pub mode: String,
    pub kind: String,
}

/// Parse [`command`]'s output: path -> stat, `None` for missing paths.
pub fn parse(stdout: &str) -> Vec<(String, Option<Stat>)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (path, rest) = l.split_once('\t')?;
            let mut f = rest.splitn(4, ' ');
            let stat = match (f.next(), f.next(), f.next(), f.next()) {
                (Some(o), Some(g), Some(m), Some(k)) if o != "MISSING" => Some(Stat {
                    owner: o.into(),
                    group: g.into(),
                    mode: normalize_mode(m)?,
                    kind: k.into(),
                }),
                _ => None,
            };
            Some((path.to_string(), stat))
        })
        .collect()
}

impl Debugger for Files {
    const NAME: &'static str = "files";
    const DESCRIPTION: &'static str = "owner, group and mode of `expect.files` paths";
    const EXPECT: &'static [Expect] = &[Expect {
        key: "files",
        kind: "map",
        description: "PATH: {owner, group, mode} every host must have",
    }];

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let roles = expecting(ctx, "files");
        if roles.is_empty() {
            ctx.skip("file", "no role sets `expect.files`");
        }
        for role in roles {
            let path = format!("roles.{}.expect.files", role.role);
            let Some(specs) = role.value.as_object().cloned() else {
                ctx.error("file", "`expect.files` must map paths to {owner, group, mode}")
                    .path(&path);
                continue;
            };
            if specs.is_empty() || role.hosts.is_empty() {
                continue;
            }
            let paths: Vec<&str> = specs.keys().map(String::as_str).collect();
            for r in run(ctx, &command(&paths), &role.hosts)? {
                if not_run(ctx, "file", &r) {
                    continue;
                }
                let seen = parse(&r.stdout);
                for (p, want) in &specs {
                    let at = format!("{path}.{p}");
                    let Some((_, stat)) = seen.iter().find(|(sp, _)| sp == p) else {
                        ctx.fail("file", format!("{p}: no answer from stat"))
                            .host(&r.host)
                            .path(&at);
                        continue;
                    };
                    let Some(st) = stat else {
                        ctx.fail("file", format!("{p}: missing")).host(&r.host).path(&at);
                        continue;
                    };
                    let mut wrong = Vec::new();
                    let field = |k: &str| {
                        want.get(k)
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    };
                    if let Some(o) = field("owner").filter(|o| *o != st.owner) {
                        wrong.push(format!("owner {} (expected {o})", st.owner));
                    }
                    if let Some(g) = field("group").filter(|g| *g != st.group) {
                        wrong.push(format!("group {} (expected {g})", st.group));
                    }
                    if let Some(m) = field("mode") {
                        match normalize_mode(&m) {
                            Some(m) if m != st.mode => wrong.push(format!("mode {} (expected {m})", st.mode)),
                            Some(_) => {}
                            None => {
                                ctx.error("file", format!("{p}: mode `{m}` is not octal"))
                                    .path(&at);
                                continue;
                            }
                        }
                    }
                    let summary = format!("{p}: {} {}:{} {}", st.kind, st.owner, st.group, st.mode);
                    if wrong.is_empty() {
                        ctx.pass("file", summary).host(&r.host).path(&at);
                    } else {
                        ctx.fail("file", format!("{p}: {}", wrong.join(", ")))
                            .host(&r.host)
                            .path(&at);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::{CommandResult, Status};

    #[test]
    fn owner_mode_and_missing() {
        let mut kit = Kit::from_yaml(
            "hosts: {clc: 127.0.0.2}\nroles:\n  clc:\n    hosts: [clc]\n    expect:\n      files:\n        \
             /var/lib/eucalyptus: {owner: eucalyptus, group: eucalyptus, mode: '0700'}\n        \
             /etc/eucalyptus/eucalyptus.conf: {owner: root, mode: 644}\n        /var/run/eucalyptus: {owner: eucalyptus}\n",
        );
        let out = "/var/lib/eucalyptus\troot eucalyptus 755 directory\n\
                   /etc/eucalyptus/eucalyptus.conf\troot root 644 regular file\n\
                   /var/run/eucalyptus\tMISSING\n";
        kit.canned("*", "stat -c", CommandResult::exited("clc", 1, out, ""));
        let r = kit.debug(&Files);
        let f = r.find("file", Some("clc"));
        assert!(
            f.iter().any(|f| f.status == Status::Fail
                && f.message
                    == "/var/lib/eucalyptus: owner root (expected eucalyptus), mode 755 (expected 700)"),
            "{f:?}"
        );
        assert!(f.iter().any(|f| f.status == Status::Pass
            && f.message == "/etc/eucalyptus/eucalyptus.conf: regular file root:root 644"));
        assert!(f
            .iter()
            .any(|f| f.status == Status::Fail && f.message == "/var/run/eucalyptus: missing"));
    }
}
