//! `euca-files`: `/var/lib/eucalyptus` and `/var/log/eucalyptus` belong to `eucalyptus` on every
//! Eucalyptus host (`plugins.euca-files.paths` and `.owner` override).

use rolecall_plugin::serde_json::Value;
use rolecall_plugin::{Context, Debugger, Result};

use crate::common::{not_run, run};
use crate::files;

#[derive(Debug, Default)]
pub struct Ownership;

pub const DEFAULT_PATHS: &[&str] = &["/var/lib/eucalyptus", "/var/log/eucalyptus"];

impl Debugger for Ownership {
    const NAME: &'static str = "euca-files";
    const DESCRIPTION: &'static str = "Eucalyptus state and log directories owned by the eucalyptus user";

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let hosts = crate::euca_hosts(ctx);
        if hosts.is_empty() {
            crate::nothing_to_do(ctx, "file-owner");
            return Ok(());
        }
        let owner = ctx
            .config()
            .get("owner")
            .and_then(Value::as_str)
            .unwrap_or("eucalyptus")
            .to_string();
        let paths: Vec<String> = match ctx.config().get("paths").and_then(Value::as_array) {
            Some(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            None => DEFAULT_PATHS.iter().map(|p| p.to_string()).collect(),
        };
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        for r in run(ctx, &files::command(&refs), &hosts)? {
            if not_run(ctx, "file-owner", &r) {
                continue;
            }
            let seen = files::parse(&r.stdout);
            for p in &paths {
                match seen.iter().find(|(sp, _)| sp == p).map(|(_, s)| s) {
                    Some(Some(st)) if st.owner == owner => {
                        ctx.pass("file-owner", format!("{p}: owned by {owner}"))
                    }
                    Some(Some(st)) => {
                        ctx.fail("file-owner", format!("{p}: owned by {}, not {owner}", st.owner))
                    }
                    _ => ctx.fail("file-owner", format!("{p}: missing")),
                }
                .host(&r.host);
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
    fn wrong_owner_and_missing() {
        let mut kit = Kit::from_yaml(
            "hosts: {clc: 10.0.0.1, nc: 10.0.0.2}\nroles:\n  clc: [clc]\n  node-controller: [nc]\n",
        );
        kit.canned(
            "clc",
            "stat -c",
            CommandResult::exited("", 0, "/var/lib/eucalyptus\teucalyptus eucalyptus 700 directory\n/var/log/eucalyptus\troot root 755 directory\n", ""),
        );
        kit.canned(
            "nc",
            "stat -c",
            CommandResult::exited(
                "",
                0,
                "/var/lib/eucalyptus\tMISSING\n/var/log/eucalyptus\tMISSING\n",
                "",
            ),
        );
        let r = kit.debug(&Ownership);
        let clc = r.find("file-owner", Some("clc"));
        assert_eq!(clc[0].status, Status::Pass);
        assert_eq!(
            clc[1].message,
            "/var/log/eucalyptus: owned by root, not eucalyptus"
        );
        assert_eq!(
            r.find("file-owner", Some("nc"))
                .iter()
                .filter(|f| f.status == Status::Fail)
                .count(),
            2
        );
    }
}
