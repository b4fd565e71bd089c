//! `euca-sosreport`: run `sosreport` on every Eucalyptus host and fetch each archive into a
//! local directory (`plugins.euca-sosreport.dest`, default `sosreports-<unix time>`). Running
//! sosreport writes on the host (and may install `sos`), so it happens only with
//! `--allow-changes`; `--dry-run` lists the commands.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use rolecall_plugin::serde_json::Value;
use rolecall_plugin::{Context, Debugger, Result};

use crate::common::{not_run, run};

#[derive(Debug, Default)]
pub struct SosReport;

pub const TMP: &str = "/tmp/rolecall-sosreport";

/// The archive path sosreport printed (the first absolute `sosreport-*.tar*` path).
pub fn archive(stdout: &str) -> Option<&str> {
    stdout
        .split_whitespace()
        .find(|w| w.starts_with('/') && w.contains("sosreport-") && w.contains(".tar"))
}

impl Debugger for SosReport {
    const NAME: &'static str = "euca-sosreport";
    const DESCRIPTION: &'static str =
        "collect a sosreport from every Eucalyptus host (needs --allow-changes)";

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let hosts = crate::euca_hosts(ctx);
        let opts = ctx.options().clone();
        if hosts.is_empty() {
            crate::nothing_to_do(ctx, "sosreport");
            return Ok(());
        }
        if !opts.allow_changes && !opts.dry_run {
            ctx.skip(
                "sosreport",
                "runs sosreport on the hosts: pass --allow-changes (or --dry-run to see the commands)",
            );
            return Ok(());
        }
        let install = "rpm -q sos >/dev/null 2>&1 || yum install -y --quiet sos";
        for r in run(ctx, install, &hosts)? {
            if !not_run(ctx, "sos-package", &r) && r.exit_code != Some(0) {
                ctx.fail("sos-package", format!("cannot install sos: {}", r.stderr.trim()))
                    .host(&r.host);
            }
        }
        let command = format!(
            "rm -rf {TMP} && mkdir -p {TMP} && sosreport --batch --tmp-dir {TMP} --name \"$(hostname -s)\" 2>&1"
        );
        let dest = ctx
            .config()
            .get("dest")
            .and_then(Value::as_str)
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                PathBuf::from(format!("sosreports-{now}"))
            });
        for r in run(ctx, &command, &hosts)? {
            if not_run(ctx, "sosreport", &r) {
                continue;
            }
            let Some(path) = archive(&r.stdout).map(str::to_string) else {
                let why = r.stdout.lines().last().unwrap_or("no output").to_string();
                ctx.fail("sosreport", format!("sosreport produced no archive: {why}"))
                    .host(&r.host);
                continue;
            };
            let bytes = match ctx.fetch(&r.host, &path) {
                Ok(b) => b,
                Err(e) => {
                    ctx.fail("sosreport", format!("cannot fetch {path}: {e}"))
                        .host(&r.host);
                    continue;
                }
            };
            let name = path.rsplit('/').next().unwrap_or("sosreport.tar.xz");
            let local = dest.join(format!("{}-{name}", r.host));
            let saved = std::fs::create_dir_all(&dest).and_then(|()| std::fs::write(&local, &bytes));
            match saved {
                Ok(()) => ctx.pass(
                    "sosreport",
                    format!("{} bytes saved to {}", bytes.len(), local.display()),
                ),
                Err(e) => ctx.fail("sosreport", format!("cannot save {}: {e}", local.display())),
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
    use rolecall_plugin::{CommandResult, Options, Status};

    #[test]
    fn only_with_allow_changes() {
        let kit = Kit::from_yaml("hosts: {clc: 10.0.0.1}\nroles:\n  clc: [clc]\n");
        let r = kit.debug(&SosReport);
        r.assert_status("sosreport", None, Status::Skip);
        assert!(r.commands.is_empty(), "nothing may run without --allow-changes");
    }

    #[test]
    fn collects_and_saves_the_archive() {
        let dir = std::env::temp_dir().join(format!("rolecall-sos-test-{}", std::process::id()));
        let yaml = format!(
            "hosts: {{clc: 10.0.0.1}}\nroles:\n  clc: [clc]\nplugins:\n  euca-sosreport: {{dest: '{}'}}\n",
            dir.display()
        );
        let mut kit = Kit::from_yaml(&yaml).options(Options {
            allow_changes: true,
            ..Options::default()
        });
        kit.canned("*", "rpm -q sos", CommandResult::exited("", 0, "", ""));
        let out = "Your sosreport has been generated and saved in:\n  /tmp/rolecall-sosreport/sosreport-clc-20261122.tar.xz\n";
        kit.canned("*", "sosreport --batch", CommandResult::exited("", 0, out, ""));
        kit.file(
            "clc",
            "/tmp/rolecall-sosreport/sosreport-clc-20261122.tar.xz",
            b"xz-bytes",
        );
        let r = kit.debug(&SosReport);
        r.assert_status("sosreport", Some("clc"), Status::Pass);
        let saved = dir.join("clc-sosreport-clc-20261122.tar.xz");
        assert_eq!(std::fs::read(&saved).expect("saved"), b"xz-bytes");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
