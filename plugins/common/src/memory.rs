//! `memory`: total and available memory against a role's `expect.memory`
//! (`min_total_mb`, `min_available_mb`), from `/proc/meminfo`. Kernels before 3.14 (EL6) have
//! no `MemAvailable`: free + buffers + cached stands in.

use rolecall_plugin::{Context, Debugger, Expect, Result};

use crate::common::{expecting, not_run, number, run};

#[derive(Debug, Default)]
pub struct Memory;

/// (total, available) in MB.
pub fn parse(meminfo: &str) -> Option<(f64, f64)> {
    let kb = |key: &str| {
        meminfo.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
    };
    let total = kb("MemTotal")?;
    let available = kb("MemAvailable")
        .or_else(|| Some(kb("MemFree")? + kb("Buffers").unwrap_or(0.0) + kb("Cached").unwrap_or(0.0)))?;
    Some((total / 1024.0, available / 1024.0))
}

impl Debugger for Memory {
    const NAME: &'static str = "memory";
    const DESCRIPTION: &'static str = "total and available memory against `expect.memory` minimums";
    const EXPECT: &'static [Expect] = &[Expect {
        key: "memory",
        kind: "map",
        description: "{min_total_mb, min_available_mb}",
    }];

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let roles = expecting(ctx, "memory");
        if roles.is_empty() {
            ctx.skip("memory", "no role sets `expect.memory`");
        }
        for role in roles {
            let path = format!("roles.{}.expect.memory", role.role);
            let min_total = role.value.get("min_total_mb").and_then(number);
            let min_avail = role.value.get("min_available_mb").and_then(number);
            if min_total.is_none() && min_avail.is_none() {
                ctx.error(
                    "memory",
                    "`expect.memory` needs `min_total_mb` or `min_available_mb`",
                )
                .path(&path);
                continue;
            }
            if role.hosts.is_empty() {
                continue;
            }
            for r in run(ctx, "cat /proc/meminfo", &role.hosts)? {
                if not_run(ctx, "memory", &r) {
                    continue;
                }
                let Some((total, avail)) = parse(&r.stdout) else {
                    ctx.warn("memory", "cannot decide: no MemTotal in /proc/meminfo")
                        .host(&r.host);
                    continue;
                };
                let msg = format!("{total:.0} MB total, {avail:.0} MB available");
                let e = match (min_total, min_avail) {
                    (Some(m), _) if total < m => ctx.fail("memory", format!("{msg} (min total {m} MB)")),
                    (_, Some(m)) if avail < m => ctx.fail("memory", format!("{msg} (min available {m} MB)")),
                    _ => ctx.pass("memory", msg),
                };
                e.host(&r.host).path(&path);
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
    fn modern_and_el6_meminfo() {
        assert_eq!(
            parse("MemTotal: 2048000 kB\nMemFree: 1024 kB\nMemAvailable: 1024000 kB\n"),
            Some((2000.0, 1000.0))
        );
        // EL6 (2.6.32): no MemAvailable.
        assert_eq!(
            parse("MemTotal:        4096000 kB\nMemFree:          512000 kB\nBuffers:          102400 kB\nCached:           409600 kB\n"),
            Some((4000.0, 1000.0))
        );
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn below_minimum_fails() {
        let mut kit = Kit::from_yaml("hosts: {a: 127.0.0.2}\nroles:\n  r:\n    hosts: [a]\n    expect: {memory: {min_total_mb: 4096}}\n");
        kit.canned(
            "*",
            "meminfo",
            CommandResult::exited("a", 0, "MemTotal: 2048000 kB\nMemAvailable: 1024000 kB\n", ""),
        );
        let r = kit.debug(&Memory);
        r.assert_status("memory", Some("a"), Status::Fail);
        assert_eq!(
            r.find("memory", Some("a"))[0].message,
            "2000 MB total, 1000 MB available (min total 4096 MB)"
        );
    }
}
