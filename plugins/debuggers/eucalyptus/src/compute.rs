//! `euca-compute`: what every Eucalyptus host needs underneath: a supported OS release
//! (CentOS/RHEL, `os_releases`, default 6 and 7), x86_64, at least `min_cpus` (2), at least
//! `min_memory_mb` (2048) of memory and `min_disk_free_mb` (5120) free under
//! `/var/lib/eucalyptus`, NTP (ntpd or chronyd) running, clocks within `max_skew_seconds` (20)
//! of each other, and hardware virtualization on node controllers.

use rolecall_plugin::serde_json::Value;
use rolecall_plugin::{Context, Debugger, Result};

use crate::common::{not_run, run};
use crate::{disk, facts, memory, services};

#[derive(Debug, Default)]
pub struct Compute;

pub const DISK: &str = "df -Pk /var/lib/eucalyptus 2>/dev/null || df -Pk /";
pub const CLOCK: &str = "date +%s.%N";

/// The major release of a CentOS/RHEL `PRETTY_NAME` or `/etc/redhat-release` line.
pub fn el_release(os: &str) -> Option<u32> {
    let known = ["CentOS", "Red Hat", "RHEL"].iter().any(|n| os.contains(n));
    if !known {
        return None;
    }
    let start = os.find(|c: char| c.is_ascii_digit())?;
    os[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn num(ctx: &Context<'_>, key: &str, default: f64) -> f64 {
    ctx.config().get(key).and_then(Value::as_f64).unwrap_or(default)
}

impl Debugger for Compute {
    const NAME: &'static str = "euca-compute";
    const DESCRIPTION: &'static str =
        "OS release, x86_64, CPUs, memory, disk, NTP, clock agreement, NC virtualization";

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let hosts = crate::euca_hosts(ctx);
        if hosts.is_empty() {
            crate::nothing_to_do(ctx, "os");
            return Ok(());
        }
        let releases: Vec<u32> = match ctx.config().get("os_releases").and_then(Value::as_array) {
            Some(a) => a
                .iter()
                .filter_map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
                .collect(),
            None => vec![6, 7],
        };
        let (min_cpus, min_mem, min_disk, max_skew) = (
            num(ctx, "min_cpus", 2.0),
            num(ctx, "min_memory_mb", 2048.0),
            num(ctx, "min_disk_free_mb", 5120.0),
            num(ctx, "max_skew_seconds", 20.0),
        );
        let ncs: Vec<String> = ctx
            .hosts("node-controller")
            .iter()
            .map(|h| h.name.clone())
            .collect();
        for r in run(ctx, facts::COMMAND, &hosts)? {
            if not_run(ctx, "os", &r) {
                continue;
            }
            let Some(f) = facts::parse(&r.stdout) else {
                ctx.fail("os", format!("unexpected output: {}", r.stdout.trim()))
                    .host(&r.host);
                continue;
            };
            match el_release(&f.os) {
                Some(v) if releases.contains(&v) => ctx.pass("os", format!("{} (supported)", f.os)),
                _ => ctx.fail("os", format!("{}: not CentOS/RHEL {releases:?}", f.os)),
            }
            .host(&r.host);
            if f.arch == "x86_64" {
                ctx.pass("arch", "x86_64").host(&r.host);
            } else {
                ctx.fail("arch", format!("{}: Eucalyptus needs x86_64", f.arch))
                    .host(&r.host);
            }
            if f64::from(f.cpus) >= min_cpus {
                ctx.pass("cpus", format!("{} CPUs", f.cpus)).host(&r.host);
            } else {
                ctx.fail("cpus", format!("{} CPUs, fewer than {min_cpus}", f.cpus))
                    .host(&r.host);
            }
            if ncs.contains(&r.host) {
                if f.virt {
                    ctx.pass("virtualization", "vmx/svm present").host(&r.host);
                } else {
                    ctx.fail(
                        "virtualization",
                        "no vmx/svm CPU flags: the NC cannot run KVM guests",
                    )
                    .host(&r.host);
                }
            }
        }
        for r in run(ctx, "cat /proc/meminfo", &hosts)? {
            if not_run(ctx, "memory", &r) {
                continue;
            }
            match memory::parse(&r.stdout) {
                Some((total, _)) if total < min_mem => {
                    ctx.fail("memory", format!("{total:.0} MB, under {min_mem} MB"))
                }
                Some((total, _)) => ctx.pass("memory", format!("{total:.0} MB")),
                None => ctx.fail("memory", "no MemTotal in /proc/meminfo"),
            }
            .host(&r.host);
        }
        for r in run(ctx, DISK, &hosts)? {
            if not_run(ctx, "disk", &r) {
                continue;
            }
            match disk::parse(&r.stdout).first() {
                Some(u) if u.free_mb < min_disk => ctx.fail(
                    "disk",
                    format!("{:.0} MB free on {}, under {min_disk} MB", u.free_mb, u.mount),
                ),
                Some(u) => ctx.pass("disk", format!("{:.0} MB free on {}", u.free_mb, u.mount)),
                None => ctx.fail("disk", format!("df: {}", r.stdout.trim())),
            }
            .host(&r.host);
        }
        let ntp = ["ntpd".to_string(), "chronyd".to_string()];
        for r in run(ctx, &services::command(&ntp), &hosts)? {
            if not_run(ctx, "ntp", &r) {
                continue;
            }
            let states = services::parse(&ntp, &r.stdout);
            match states.iter().find(|s| s.active == "active") {
                Some(s) => ctx.pass("ntp", format!("{} running ({})", s.name, s.enabled)),
                None => ctx.fail("ntp", "neither ntpd nor chronyd is running"),
            }
            .host(&r.host);
        }
        let mut clocks: Vec<(String, f64)> = Vec::new();
        for r in run(ctx, CLOCK, &hosts)? {
            if not_run(ctx, "clock", &r) {
                continue;
            }
            match r.stdout.trim().parse::<f64>() {
                Ok(t) => clocks.push((r.host.clone(), t)),
                Err(_) => {
                    ctx.fail("clock", format!("unexpected `date` output: {}", r.stdout.trim()))
                        .host(&r.host);
                }
            }
        }
        if clocks.len() > 1 {
            let mut sorted: Vec<f64> = clocks.iter().map(|(_, t)| *t).collect();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[sorted.len() / 2];
            for (host, t) in clocks {
                let off = t - median;
                if off.abs() > max_skew {
                    ctx.fail(
                        "clock",
                        format!("{off:+.1}s from the fleet's median clock (max {max_skew}s)"),
                    )
                } else {
                    ctx.pass("clock", format!("{off:+.1}s from the fleet's median clock"))
                }
                .host(&host);
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
    fn releases() {
        assert_eq!(el_release("CentOS release 6.10 (Final)"), Some(6));
        assert_eq!(el_release("CentOS Linux 7 (Core)"), Some(7));
        assert_eq!(
            el_release("Red Hat Enterprise Linux Server release 7.9 (Maipo)"),
            Some(7)
        );
        assert_eq!(el_release("Debian GNU/Linux 12 (bookworm)"), None);
    }

    #[test]
    fn el6_and_el7_hosts_one_without_ntp_one_off_clock() {
        let mut kit = Kit::from_yaml(
            "hosts: {clc: 10.0.0.1, nc: 10.0.0.2, nc2: 10.0.0.3}\nroles:\n  clc: [clc]\n  node-controller: [nc, nc2]\n",
        );
        kit.canned(
            "clc",
            "uname",
            CommandResult::exited(
                "",
                0,
                "x86_64\n2.6.32-754.el6.x86_64\n4\nCentOS release 6.10 (Final)\n0\n",
                "",
            ),
        );
        kit.canned(
            "nc",
            "uname",
            CommandResult::exited(
                "",
                0,
                "x86_64\n3.10.0-1160.el7.x86_64\n8\nCentOS Linux 7 (Core)\n16\n",
                "",
            ),
        );
        kit.canned(
            "nc2",
            "uname",
            CommandResult::exited("", 0, "x86_64\n6.1.0\n1\nDebian GNU/Linux 12 (bookworm)\n0\n", ""),
        );
        kit.canned(
            "*",
            "meminfo",
            CommandResult::exited("", 0, "MemTotal: 16384000 kB\nMemAvailable: 8000000 kB\n", ""),
        );
        kit.canned(
            "*",
            "df -Pk",
            CommandResult::exited("", 0, "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 100000000 1000 99000000 1% /\n", ""),
        );
        kit.canned(
            "clc",
            "chkconfig",
            CommandResult::exited(
                "",
                0,
                "manager: sysv\nntpd 0\nchronyd 1\n--\nntpd 0:off 1:off 2:on 3:on 4:on 5:on 6:off\n",
                "",
            ),
        );
        kit.canned(
            "*",
            "chkconfig",
            CommandResult::exited(
                "",
                0,
                "manager: systemd\ninactive\ninactive\n--\ndisabled\ndisabled\n",
                "",
            ),
        );
        kit.canned(
            "clc",
            "date +%s",
            CommandResult::exited("", 0, "1700000000.0\n", ""),
        );
        kit.canned(
            "nc",
            "date +%s",
            CommandResult::exited("", 0, "1700000001.0\n", ""),
        );
        kit.canned(
            "nc2",
            "date +%s",
            CommandResult::exited("", 0, "1700000300.0\n", ""),
        );
        let r = kit.debug(&Compute);
        r.assert_status("os", Some("clc"), Status::Pass);
        r.assert_status("os", Some("nc2"), Status::Fail);
        r.assert_status("cpus", Some("nc2"), Status::Fail);
        r.assert_status("virtualization", Some("nc"), Status::Pass);
        r.assert_status("virtualization", Some("nc2"), Status::Fail);
        assert!(r.find("virtualization", Some("clc")).is_empty());
        assert_eq!(r.find("ntp", Some("clc"))[0].message, "ntpd running (enabled)");
        r.assert_status("ntp", Some("nc"), Status::Fail);
        r.assert_status("clock", Some("nc2"), Status::Fail);
        r.assert_status("clock", Some("clc"), Status::Pass);
    }
}
