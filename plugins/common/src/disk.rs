//! `disk`: for each path of a role's `expect.disk`, the filesystem holding it is at most
//! `max_used_percent` full and has at least `min_free_mb` free (`df -Pk`, POSIX output).

use rolecall_plugin::{Context, Debugger, Expect, Result};

use crate::common::{expecting, not_run, number, quote, run};

#[derive(Debug, Default)]
pub struct Disk;

/// One filesystem as `df -Pk` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub used_percent: f64,
    pub free_mb: f64,
    pub mount: String,
}

/// Parse `df -Pk` output: one usage per line after the header, in order.
pub fn parse(stdout: &str) -> Vec<Usage> {
    stdout
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 6 {
                return None;
            }
            let (size, avail) = (f[1].parse::<f64>().ok()?, f[3].parse::<f64>().ok()?);
            let used = f[2].parse::<f64>().ok()?;
            let used_percent = f[4]
                .trim_end_matches('%')
                .parse::<f64>()
                .unwrap_or(if size > 0.0 { 100.0 * used / size } else { 0.0 });
            Some(Usage {
                used_percent,
                free_mb: avail / 1024.0,
                mount: f[5..].join(" "),
            })
        })
        .collect()
}

impl Debugger for Disk {
    const NAME: &'static str = "disk";
    const DESCRIPTION: &'static str =
        "filesystems of `expect.disk` paths within `max_used_percent` and above `min_free_mb`";
    const EXPECT: &'static [Expect] = &[Expect {
        key: "disk",
        kind: "map",
        description: "PATH: {max_used_percent, min_free_mb} for the filesystem holding PATH",
    }];

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let roles = expecting(ctx, "disk");
        if roles.is_empty() {
            ctx.skip("disk", "no role sets `expect.disk`");
        }
        for role in roles {
            let path = format!("roles.{}.expect.disk", role.role);
            let Some(paths) = role.value.as_object().cloned() else {
                ctx.error("disk", "`expect.disk` must map paths to limits")
                    .path(&path);
                continue;
            };
            if role.hosts.is_empty() {
                continue;
            }
            for (p, limits) in &paths {
                let max_used = limits.get("max_used_percent").and_then(number);
                let min_free = limits.get("min_free_mb").and_then(number);
                if max_used.is_some_and(|m| !(0.0..=100.0).contains(&m)) {
                    ctx.error("disk", format!("{p}: max_used_percent must be 0 to 100"))
                        .path(format!("{path}.{p}"));
                    continue;
                }
                for r in run(ctx, &format!("df -Pk {}", quote(p)), &role.hosts)? {
                    if not_run(ctx, "disk", &r) {
                        continue;
                    }
                    let Some(u) = parse(&r.stdout).into_iter().next() else {
                        let why = r.stderr.lines().next().unwrap_or("no output").to_string();
                        ctx.fail("disk", format!("{p}: {why}")).host(&r.host).path(&path);
                        continue;
                    };
                    let msg = format!(
                        "{p} on {}: {:.0}% used, {:.0} MB free",
                        u.mount, u.used_percent, u.free_mb
                    );
                    let e = match (max_used, min_free) {
                        (Some(m), _) if u.used_percent > m => ctx.fail("disk", format!("{msg} (max {m}%)")),
                        (_, Some(m)) if u.free_mb < m => ctx.fail("disk", format!("{msg} (min {m} MB)")),
                        _ => ctx.pass("disk", msg),
                    };
                    e.host(&r.host).path(&path);
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

    const YAML: &str = "hosts: {a: 127.0.0.2, b: 127.0.0.3}\nroles:\n  nc:\n    hosts: [a, b]\n    expect:\n      disk: {/var/lib/eucalyptus: {max_used_percent: 85, min_free_mb: 1024}}\n";

    #[test]
    fn over_threshold_fails_and_missing_path_fails() {
        let mut kit = Kit::from_yaml(YAML);
        kit.canned(
            "a",
            "df -Pk",
            CommandResult::exited(
                "a",
                0,
                "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/sda1        41152736 37000000   4152736      90% /\n",
                "",
            ),
        );
        kit.canned(
            "b",
            "df -Pk",
            CommandResult::exited("b", 1, "", "df: /var/lib/eucalyptus: No such file or directory\n"),
        );
        let r = kit.debug(&Disk);
        let a = r.find("disk", Some("a"));
        assert!(
            a[0].message
                .starts_with("/var/lib/eucalyptus on /: 90% used, 4055 MB free (max 85%)"),
            "{a:?}"
        );
        r.assert_status("disk", Some("a"), Status::Fail);
        let b = r.find("disk", Some("b"));
        assert_eq!(
            b[0].message,
            "/var/lib/eucalyptus: df: /var/lib/eucalyptus: No such file or directory"
        );
    }

    #[test]
    fn within_limits_passes() {
        let mut kit = Kit::from_yaml(YAML);
        kit.canned(
            "*",
            "df -Pk",
            CommandResult::exited("x", 0, "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vdb 104857600 10485760 94371840 10% /var/lib/eucalyptus\n", ""),
        );
        let r = kit.debug(&Disk);
        assert_eq!(r.count(Status::Pass), 2);
    }

    #[test]
    fn impossible_threshold_is_an_error() {
        let kit = Kit::from_yaml("hosts: {a: 127.0.0.2}\nroles:\n  r:\n    hosts: [a]\n    expect: {disk: {/: {max_used_percent: 120}}}\n");
        let r = kit.debug(&Disk);
        r.assert_status("disk", None, Status::Error);
    }
}
