//! `euca-cloud-controller`: on every CLC, the registered services are all ENABLED
//! (`euca-describe-services`), the database answers, the database stays under
//! `max_db_mb` (default 3000), `/var/lib/eucalyptus` is at most `max_used_percent` full (85) and
//! at least `min_available_mb` of memory is available (2048). Calyptos compared the *used*
//! column of `free` with 2 GB; this reads `MemAvailable`.

use rolecall_plugin::serde_json::Value;
use rolecall_plugin::{Context, Debugger, Result};

use crate::common::{not_run, run};
use crate::{disk, memory};

#[derive(Debug, Default)]
pub struct CloudController;

pub const DESCRIBE: &str = "euca-describe-services 2>&1";
pub const PSQL: &str = "echo '\\dt *.*' | psql -h /var/lib/eucalyptus/db/data -p 8777 eucalyptus_shared 2>&1";
pub const DB_SIZE: &str = "du -sk /var/lib/eucalyptus/db 2>&1";
pub const DF: &str = "df -Pk /var/lib/eucalyptus 2>&1";
pub const MEMINFO: &str = "cat /proc/meminfo";

/// Services not ENABLED in `euca-describe-services` output: (line, state).
pub fn unhealthy(describe: &str) -> Vec<(String, String)> {
    describe
        .lines()
        .filter(|l| l.starts_with("SERVICE"))
        .filter_map(|l| {
            ["DISABLED", "BROKEN", "NOTREADY", "STOPPED"]
                .into_iter()
                .find(|s| l.split_whitespace().any(|w| w == *s))
                .map(|s| {
                    (
                        l.split_whitespace().take(4).collect::<Vec<_>>().join(" "),
                        s.to_string(),
                    )
                })
        })
        .collect()
}

fn limit(ctx: &Context<'_>, key: &str, default: f64) -> f64 {
    ctx.config().get(key).and_then(Value::as_f64).unwrap_or(default)
}

impl Debugger for CloudController {
    const NAME: &'static str = "euca-cloud-controller";
    const DESCRIPTION: &'static str =
        "CLC: services ENABLED, database reachable and not oversized, disk and memory headroom";

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let clcs: Vec<String> = ctx.hosts("clc").iter().map(|h| h.name.clone()).collect();
        if clcs.is_empty() {
            // With clc hosts outside the selection, nothing to say (see `crate::nothing_to_do`).
            if ctx.members("clc").is_empty() {
                ctx.skip("clc-services", "no `clc` hosts");
            }
            return Ok(());
        }
        let (max_db, max_used, min_avail) = (
            limit(ctx, "max_db_mb", 3000.0),
            limit(ctx, "max_used_percent", 85.0),
            limit(ctx, "min_available_mb", 2048.0),
        );
        for r in run(ctx, DESCRIBE, &clcs)? {
            if not_run(ctx, "clc-services", &r) {
                continue;
            }
            if r.exit_code != Some(0) && !r.stdout.contains("SERVICE") {
                let why = r.stdout.lines().next().unwrap_or("no output").to_string();
                ctx.fail("clc-services", format!("euca-describe-services failed: {why}"))
                    .host(&r.host);
                continue;
            }
            let bad = unhealthy(&r.stdout);
            if bad.is_empty() {
                let n = r.stdout.lines().filter(|l| l.starts_with("SERVICE")).count();
                ctx.pass("clc-services", format!("{n} services, all ENABLED"))
                    .host(&r.host);
            }
            for (line, state) in bad {
                ctx.fail("clc-services", format!("{state}: {line}")).host(&r.host);
            }
        }
        for r in run(ctx, PSQL, &clcs)? {
            if not_run(ctx, "clc-database", &r) {
                continue;
            }
            if r.stdout.contains("eucalyptus_cloud") {
                ctx.pass("clc-database", "the eucalyptus_shared database answers")
                    .host(&r.host);
            } else {
                let why = r.stdout.lines().next().unwrap_or("no output").to_string();
                ctx.fail("clc-database", format!("cannot query the database: {why}"))
                    .host(&r.host);
            }
        }
        for r in run(ctx, DB_SIZE, &clcs)? {
            if not_run(ctx, "clc-database-size", &r) {
                continue;
            }
            match r
                .stdout
                .split_whitespace()
                .next()
                .and_then(|k| k.parse::<f64>().ok())
            {
                Some(kb) if kb / 1024.0 > max_db => ctx.fail(
                    "clc-database-size",
                    format!(
                        "{:.0} MB, over {max_db} MB: consider eureport-delete-data",
                        kb / 1024.0
                    ),
                ),
                Some(kb) => ctx.pass("clc-database-size", format!("{:.0} MB", kb / 1024.0)),
                None => ctx.fail("clc-database-size", format!("du: {}", r.stdout.trim())),
            }
            .host(&r.host);
        }
        for r in run(ctx, DF, &clcs)? {
            if not_run(ctx, "clc-disk", &r) {
                continue;
            }
            match disk::parse(&r.stdout).first() {
                Some(u) if u.used_percent > max_used => ctx.fail(
                    "clc-disk",
                    format!(
                        "/var/lib/eucalyptus {:.0}% full, over {max_used}%",
                        u.used_percent
                    ),
                ),
                Some(u) => ctx.pass(
                    "clc-disk",
                    format!("/var/lib/eucalyptus {:.0}% full", u.used_percent),
                ),
                None => ctx.fail("clc-disk", format!("df: {}", r.stdout.trim())),
            }
            .host(&r.host);
        }
        for r in run(ctx, MEMINFO, &clcs)? {
            if not_run(ctx, "clc-memory", &r) {
                continue;
            }
            match memory::parse(&r.stdout) {
                Some((_, avail)) if avail < min_avail => ctx.fail(
                    "clc-memory",
                    format!("{avail:.0} MB available, under {min_avail} MB: stop other processes"),
                ),
                Some((total, avail)) => {
                    ctx.pass("clc-memory", format!("{avail:.0} of {total:.0} MB available"))
                }
                None => ctx.fail("clc-memory", "no MemTotal in /proc/meminfo"),
            }
            .host(&r.host);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::{CommandResult, Status};

    const DESCRIBE_OUT: &str = "SERVICE\tuser-api\tAPI_10.111.1.41\tAPI_10.111.1.41.cloudformation\tENABLED\t47\thttp://10.111.1.41:8773/services/CloudFormation\n\
        SERVICE\tcluster\tone\tone-cc-1\tBROKEN\t47\thttp://10.111.1.61:8774/axis2/services/EucalyptusCC\n\
        SERVICE\tstorage\tone\tone-sc-1\tNOTREADY\t47\thttp://10.111.1.61:8773/services/Storage\n";

    #[test]
    fn broken_services_full_disk_low_memory() {
        let mut kit = Kit::from_yaml("hosts: {clc: 10.111.1.41}\nroles:\n  clc: [clc]\n");
        kit.canned(
            "*",
            "euca-describe-services",
            CommandResult::exited("", 0, DESCRIBE_OUT, ""),
        );
        kit.canned(
            "*",
            "psql",
            CommandResult::exited("", 0, " public | eucalyptus_cloud | table\n", ""),
        );
        kit.canned(
            "*",
            "du -sk",
            CommandResult::exited("", 0, "4194304\t/var/lib/eucalyptus/db\n", ""),
        );
        kit.canned(
            "*",
            "df -Pk",
            CommandResult::exited(
                "",
                0,
                "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda3 100 91 9 91% /var\n",
                "",
            ),
        );
        kit.canned(
            "*",
            "meminfo",
            CommandResult::exited("", 0, "MemTotal: 8192000 kB\nMemAvailable: 1024000 kB\n", ""),
        );
        let r = kit.debug(&CloudController);
        let f = r.find("clc-services", Some("clc"));
        assert_eq!(f.len(), 2);
        assert!(
            f[0].message.starts_with("BROKEN: SERVICE cluster one one-cc-1"),
            "{f:?}"
        );
        r.assert_status("clc-database", Some("clc"), Status::Pass);
        assert!(r.find("clc-database-size", Some("clc"))[0]
            .message
            .starts_with("4096 MB, over 3000 MB"));
        r.assert_status("clc-disk", Some("clc"), Status::Fail);
        assert_eq!(
            r.find("clc-memory", Some("clc"))[0].message,
            "1000 MB available, under 2048 MB: stop other processes"
        );
    }

    #[test]
    fn missing_tools_are_failures_not_aborts() {
        let mut kit = Kit::from_yaml("hosts: {clc: 10.111.1.41}\nroles:\n  clc: [clc]\n");
        kit.canned(
            "*",
            "euca-describe-services",
            CommandResult::exited("", 127, "sh: euca-describe-services: command not found\n", ""),
        );
        kit.canned(
            "*",
            "psql",
            CommandResult::exited("", 2, "psql: could not connect to server\n", ""),
        );
        let r = kit.debug(&CloudController);
        assert_eq!(
            r.find("clc-services", Some("clc"))[0].message,
            "euca-describe-services failed: sh: euca-describe-services: command not found"
        );
        r.assert_status("clc-database", Some("clc"), Status::Fail);
        // The kit answers the unanswered commands with an error: each is that host's error.
        r.assert_status("clc-disk", Some("clc"), Status::Error);
        assert!(r.outcome.is_ok());
    }
}
