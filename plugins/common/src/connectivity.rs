//! `connectivity`: from every host of a role to the hosts of the roles in its `expect.connect`
//! (`["clc:8773", "storage-controller:8773/tcp"]`), a TCP connection with a 3 s timeout, made
//! by the source host itself (bash `/dev/tcp`, else `nc -z`). Targets outside the run's
//! allow-list are skipped, never probed.

use std::net::IpAddr;

use rolecall_plugin::{Context, Debugger, Expect, Result};

use crate::common::{expecting, not_run, run};
use crate::spec::connect_target;

#[derive(Debug, Default)]
pub struct Connectivity;

/// Seconds each probe may take on the source host.
pub const PROBE_TIMEOUT: u32 = 3;

/// Probe every `(address, port)` from one host; one `ADDR PORT open|closed` line each.
pub fn command(targets: &[(String, u16)]) -> String {
    let list: Vec<String> = targets.iter().map(|(a, p)| format!("'{a} {p}'")).collect();
    format!(
        "probe() {{ if command -v bash >/dev/null 2>&1; then timeout {t} bash -c \"exec 3<>/dev/tcp/$1/$2\" \
         2>/dev/null; else nc -z -w {t} \"$1\" \"$2\" 2>/dev/null; fi; }}; for x in {}; do set -- $x; \
         if probe \"$1\" \"$2\"; then echo \"$1 $2 open\"; else echo \"$1 $2 closed\"; fi; done",
        list.join(" "),
        t = PROBE_TIMEOUT
    )
}

impl Debugger for Connectivity {
    const NAME: &'static str = "connectivity";
    const DESCRIPTION: &'static str =
        "every host of a role reaches the `expect.connect` ROLE:PORT targets (TCP, from the host)";
    const EXPECT: &'static [Expect] = &[Expect {
        key: "connect",
        kind: "list",
        description: "ROLE:PORT targets every host of the role must reach over TCP",
    }];

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let roles = expecting(ctx, "connect");
        if roles.is_empty() {
            ctx.skip("connect", "no role sets `expect.connect`");
        }
        for role in roles {
            let path = format!("roles.{}.expect.connect", role.role);
            let specs: Vec<String> = role
                .value
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            // (label, address, port) of every target host, allowed ones only.
            let mut targets: Vec<(String, String, u16)> = Vec::new();
            for spec in &specs {
                let Some((to, port)) = connect_target(spec) else {
                    ctx.error("connect", format!("`{spec}` is not ROLE:PORT"))
                        .path(&path);
                    continue;
                };
                if ctx.role(to).is_none() {
                    ctx.error("connect", format!("`{spec}`: no role `{to}`"))
                        .path(&path);
                    continue;
                }
                // Every host of the target role, in the selection or not: `--limit` and
                // `--shard` narrow where the probes run, not what they aim at.
                let hosts: Vec<(String, String)> = ctx
                    .members(to)
                    .iter()
                    .map(|h| (h.name.clone(), h.address.clone()))
                    .collect();
                for (name, address) in hosts {
                    let allowed = address
                        .parse::<IpAddr>()
                        .map(|ip| ctx.allowed(ip))
                        .unwrap_or(false);
                    if allowed {
                        targets.push((format!("{name}:{port}"), address, port));
                    } else {
                        ctx.skip(
                            "connect",
                            format!("{name} ({address}) is outside the allowed networks; not probed"),
                        )
                        .path(&path);
                    }
                }
            }
            if targets.is_empty() || role.hosts.is_empty() {
                continue;
            }
            let pairs: Vec<(String, u16)> = targets.iter().map(|(_, a, p)| (a.clone(), *p)).collect();
            for r in run(ctx, &command(&pairs), &role.hosts)? {
                if not_run(ctx, "connect", &r) {
                    continue;
                }
                for (label, address, port) in &targets {
                    let line = r
                        .stdout
                        .lines()
                        .find(|l| l.starts_with(&format!("{address} {port} ")));
                    match line.map(|l| l.ends_with(" open")) {
                        Some(true) => ctx.pass("connect", format!("reaches {label}")),
                        Some(false) => {
                            ctx.fail("connect", format!("cannot reach {label} ({address}:{port})"))
                        }
                        None => ctx.fail("connect", format!("{label}: no answer from the probe")),
                    }
                    .host(&r.host)
                    .path(&path);
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
    use rolecall_plugin::{CommandResult, Options, Status};

    const YAML: &str =
        "hosts: {nc01: 127.0.0.11, clc: 127.0.0.2, far: 10.1.2.3}\nroles:\n  clc: [clc]\n  remote: [far]\n  \
        nc:\n    hosts: [nc01]\n    expect: {connect: ['clc:8773', 'remote:22', 'nope:1', 'clc:http']}\n";

    #[test]
    fn open_closed_unknown_role_and_allow_list() {
        let mut kit = Kit::from_yaml(YAML).options(Options {
            allow_nets: vec!["127.0.0.0/8".into()],
            ..Options::default()
        });
        kit.canned(
            "nc01",
            "/dev/tcp",
            CommandResult::exited("nc01", 0, "127.0.0.2 8773 closed\n", ""),
        );
        let r = kit.debug(&Connectivity);
        let f = r.find("connect", Some("nc01"));
        assert_eq!(f[0].status, Status::Fail);
        assert_eq!(f[0].message, "cannot reach clc:8773 (127.0.0.2:8773)");
        let all = r.find("connect", None);
        assert!(all
            .iter()
            .any(|f| f.status == Status::Skip && f.message.contains("10.1.2.3) is outside")));
        assert!(all
            .iter()
            .any(|f| f.status == Status::Error && f.message == "`nope:1`: no role `nope`"));
        assert!(all
            .iter()
            .any(|f| f.status == Status::Error && f.message == "`clc:http` is not ROLE:PORT"));
        // The 10.x target was never put in the probe command.
        assert!(!r.commands.iter().any(|(c, _)| c.contains("10.1.2.3")));
    }

    /// A run on part of the fleet (`--limit nc02`, a shard) probes from that part only, towards
    /// every target, in the selection or not.
    #[test]
    fn a_selection_narrows_the_sources_not_the_targets() {
        let yaml = "hosts: {nc01: 127.0.0.11, nc02: 127.0.0.12, clc: 127.0.0.2}\nroles:\n  clc: [clc]\n  \
                    nc:\n    hosts: [nc01, nc02]\n    expect: {connect: ['clc:8773']}\n";
        let mut kit = Kit::from_yaml(yaml).select(&["nc02"]).options(Options {
            allow_nets: vec!["127.0.0.0/8".into()],
            ..Options::default()
        });
        kit.canned(
            "*",
            "/dev/tcp",
            CommandResult::exited("", 0, "127.0.0.2 8773 open\n", ""),
        );
        let r = kit.debug(&Connectivity);
        assert_eq!(r.commands.len(), 1);
        assert_eq!(r.commands[0].1, ["nc02"]);
        assert!(r.commands[0].0.contains("'127.0.0.2 8773'"));
        assert_eq!(r.find("connect", Some("nc02"))[0].message, "reaches clc:8773");
        assert!(r.find("connect", Some("nc01")).is_empty());
    }
}
