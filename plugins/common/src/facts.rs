//! `facts`: OS, architecture, kernel, CPU count and hardware virtualization flags of every
//! host, checked against a role's `expect` (`arch`, `min_cpus`, `virtualization: true`), and
//! hosts of one role that run different OS releases reported as a warning.

use std::collections::BTreeMap;

use rolecall_plugin::{Context, Debugger, Expect, Result};

use crate::common::{not_run, run};

#[derive(Debug, Default)]
pub struct Facts;

pub const COMMAND: &str = "uname -m; uname -r; getconf _NPROCESSORS_ONLN 2>/dev/null || nproc; \
    (. /etc/os-release 2>/dev/null && echo \"$PRETTY_NAME\") || cat /etc/redhat-release 2>/dev/null || uname -s; \
    grep -cwE 'vmx|svm' /proc/cpuinfo 2>/dev/null || echo 0";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    pub arch: String,
    pub kernel: String,
    pub cpus: u32,
    pub os: String,
    pub virt: bool,
}

pub fn parse(stdout: &str) -> Option<HostFacts> {
    let l: Vec<&str> = stdout.lines().map(str::trim).collect();
    Some(HostFacts {
        arch: l.first()?.to_string(),
        kernel: l.get(1)?.to_string(),
        cpus: l.get(2)?.parse().ok()?,
        os: l.get(3)?.to_string(),
        virt: l.get(4).and_then(|n| n.parse::<u32>().ok()).unwrap_or(0) > 0,
    })
}

impl Debugger for Facts {
    const NAME: &'static str = "facts";
    const DESCRIPTION: &'static str =
        "OS, architecture, CPUs and virtualization flags, against `expect.arch`/`min_cpus`/`virtualization`";
    const EXPECT: &'static [Expect] = &[
        Expect {
            key: "arch",
            kind: "string",
            description: "the machine architecture every host must have (x86_64)",
        },
        Expect {
            key: "min_cpus",
            kind: "number",
            description: "the fewest online CPUs a host may have",
        },
        Expect {
            key: "virtualization",
            kind: "bool",
            description: "hosts must (true) or must not (false) have vmx/svm CPU flags",
        },
    ];

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let hosts: Vec<String> = ctx.all_hosts().iter().map(|h| h.name.clone()).collect();
        if hosts.is_empty() {
            ctx.skip("facts", "no hosts");
            return Ok(());
        }
        let mut facts: BTreeMap<String, HostFacts> = BTreeMap::new();
        for r in run(ctx, COMMAND, &hosts)? {
            if not_run(ctx, "facts", &r) {
                continue;
            }
            match parse(&r.stdout) {
                Some(f) => {
                    let virt = if f.virt { ", virtualization flags" } else { "" };
                    let msg = format!("{}, {} ({}), {} CPUs{virt}", f.os, f.arch, f.kernel, f.cpus);
                    ctx.pass("facts", msg).host(&r.host);
                    facts.insert(r.host.clone(), f);
                }
                None => {
                    ctx.warn(
                        "facts",
                        format!("cannot decide: unexpected output: {}", r.stdout.trim()),
                    )
                    .host(&r.host);
                }
            }
        }
        let roles: Vec<_> = ctx.roles().iter().filter(|r| r.name != "all").cloned().collect();
        for role in roles {
            let path = format!("roles.{}.expect", role.name);
            let arch = role
                .expect
                .get("arch")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            let min_cpus = role.expect.get("min_cpus").and_then(|v| v.as_u64());
            let virt = role.expect.get("virtualization").and_then(|v| v.as_bool()) == Some(true);
            let mut releases: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for h in &role.hosts {
                let Some(f) = facts.get(h) else { continue };
                releases.entry(f.os.as_str()).or_default().push(h);
                if let Some(a) = &arch {
                    if &f.arch != a {
                        ctx.fail("arch", format!("{} is {}, role expects {a}", h, f.arch))
                            .host(h)
                            .path(&path);
                    }
                }
                if let Some(m) = min_cpus {
                    if u64::from(f.cpus) < m {
                        ctx.fail("cpus", format!("{} CPUs, role expects at least {m}", f.cpus))
                            .host(h)
                            .path(&path);
                    }
                }
                if virt && !f.virt {
                    ctx.fail(
                        "virtualization",
                        "no vmx/svm CPU flags: hardware virtualization unavailable",
                    )
                    .host(h)
                    .path(&path);
                }
            }
            if releases.len() > 1 {
                let list: Vec<String> = releases
                    .iter()
                    .map(|(os, hs)| format!("{os}: {}", hs.join(",")))
                    .collect();
                ctx.warn(
                    "same-os",
                    format!("role `{}` mixes OS releases ({})", role.name, list.join("; ")),
                )
                .path(format!("roles.{}", role.name));
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
    fn expectations_and_mixed_releases() {
        let mut kit = Kit::from_yaml(
            "hosts: {nc01: 127.0.0.11, nc02: 127.0.0.12}\nroles:\n  nc:\n    hosts: [nc01, nc02]\n    expect: {arch: x86_64, min_cpus: 4, virtualization: true}\n",
        );
        kit.canned(
            "nc01",
            "uname",
            CommandResult::exited(
                "",
                0,
                "x86_64\n3.10.0-1160.el7.x86_64\n8\nCentOS Linux 7 (Core)\n16\n",
                "",
            ),
        );
        kit.canned(
            "nc02",
            "uname",
            CommandResult::exited(
                "",
                0,
                "x86_64\n2.6.32-754.el6.x86_64\n2\nCentOS release 6.10 (Final)\n0\n",
                "",
            ),
        );
        let r = kit.debug(&Facts);
        assert_eq!(r.count(Status::Pass), 2);
        r.assert_status("cpus", Some("nc02"), Status::Fail);
        r.assert_status("virtualization", Some("nc02"), Status::Fail);
        assert!(r.find("cpus", Some("nc01")).is_empty());
        let w = r.find("same-os", None);
        assert!(
            w[0].message.contains("CentOS Linux 7 (Core): nc01") && w[0].message.contains("6.10"),
            "{w:?}"
        );
    }
}
