//! `euca-networking`: every Eucalyptus host has a physical NIC, at gigabit speed or better
//! (from `/sys/class/net`, where Calyptos needed `lspci`), and the components reach each other
//! on their ports, probed from the source host: each NC to its cluster's CC (8774) and to the
//! CLC (8773), each CC to its NCs (8775). Targets outside the run's allow-list are skipped.

use std::net::IpAddr;

use rolecall_plugin::{Context, Debugger, Result};

use crate::common::{not_run, run};
use crate::connectivity;

#[derive(Debug, Default)]
pub struct Networking;

/// `NAME SPEED` for each interface backed by a device (`-1` when the speed is unknown).
pub const NICS: &str = "for i in /sys/class/net/*; do [ -e \"$i/device\" ] || continue; \
    s=$(cat \"$i/speed\" 2>/dev/null); echo \"${i##*/} ${s:--1}\"; done";

/// (interface, Mb/s or -1) from [`NICS`].
pub fn parse_nics(stdout: &str) -> Vec<(String, i64)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (name, speed) = l.split_once(' ')?;
            Some((name.to_string(), speed.trim().parse().unwrap_or(-1)))
        })
        .collect()
}

/// Probe `targets` (label, address, port) from every host of `from`, reporting under `check`.
fn probe(ctx: &mut Context<'_>, check: &str, from: &[String], targets: &[(String, String, u16)]) -> Result {
    let mut allowed = Vec::new();
    for (label, address, port) in targets {
        if address.parse::<IpAddr>().is_ok_and(|ip| ctx.allowed(ip)) {
            allowed.push((label.clone(), address.clone(), *port));
        } else {
            ctx.skip(
                check,
                format!("{label} ({address}) is outside the allowed networks; not probed"),
            );
        }
    }
    if allowed.is_empty() || from.is_empty() {
        return Ok(());
    }
    let pairs: Vec<(String, u16)> = allowed.iter().map(|(_, a, p)| (a.clone(), *p)).collect();
    for r in run(ctx, &connectivity::command(&pairs), from)? {
        if not_run(ctx, check, &r) {
            continue;
        }
        for (label, address, port) in &allowed {
            let open = r.stdout.lines().any(|l| l == format!("{address} {port} open"));
            if open {
                ctx.pass(check, format!("reaches {label}"))
            } else {
                ctx.fail(check, format!("cannot reach {label} ({address}:{port})"))
            }
            .host(&r.host);
        }
    }
    Ok(())
}

fn endpoints(ctx: &Context<'_>, hosts: &[String], port: u16, what: &str) -> Vec<(String, String, u16)> {
    hosts
        .iter()
        .filter_map(|h| ctx.target(h))
        .map(|h| (format!("{what} {}:{port}", h.name), h.address.clone(), port))
        .collect()
}

impl Debugger for Networking {
    const NAME: &'static str = "euca-networking";
    const DESCRIPTION: &'static str =
        "gigabit NICs on every host; NC<->CC and NC->CLC reachable on their ports";

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let hosts = crate::euca_hosts(ctx);
        if hosts.is_empty() {
            crate::nothing_to_do(ctx, "nic");
            return Ok(());
        }
        for r in run(ctx, NICS, &hosts)? {
            if not_run(ctx, "nic", &r) {
                continue;
            }
            let nics = parse_nics(&r.stdout);
            if nics.is_empty() {
                ctx.fail("nic", "no physical network interface").host(&r.host);
            }
            for (name, speed) in nics {
                match speed {
                    s if s >= 1000 => ctx.pass("nic", format!("{name}: {s} Mb/s")),
                    s if s > 0 => ctx.fail("nic", format!("{name}: {s} Mb/s, under gigabit")),
                    _ => ctx.warn(
                        "nic",
                        format!("{name}: link speed unknown (link down, or virtual)"),
                    ),
                }
                .host(&r.host);
            }
        }
        // Probes run from the selected hosts, towards every host of the target roles (selected
        // or not): a part of the fleet (`--limit`, `--shard`) is checked as the whole would be.
        let names = |hosts: Vec<&rolecall_plugin::HostInfo>| -> Vec<String> {
            hosts.iter().map(|h| h.name.clone()).collect()
        };
        let (clc, ccs, ncs) = (
            names(ctx.members("clc")),
            names(ctx.members("cluster-controller")),
            names(ctx.members("node-controller")),
        );
        let selected: std::collections::HashSet<String> =
            ctx.all_hosts().iter().map(|h| h.name.clone()).collect();
        let here = |hosts: &[String]| -> Vec<String> {
            hosts.iter().filter(|h| selected.contains(*h)).cloned().collect()
        };
        // Pair NCs with the CCs of their cluster; without clusters, with every CC.
        let clusters = ctx.clusters().to_vec();
        let groups: Vec<(Vec<String>, Vec<String>)> = if clusters.is_empty() {
            vec![(ccs.clone(), ncs.clone())]
        } else {
            clusters
                .iter()
                .map(|c| {
                    let pick =
                        |role: &[String]| role.iter().filter(|h| c.members().contains(h)).cloned().collect();
                    (pick(&ccs), pick(&ncs))
                })
                .collect()
        };
        for (cc, nc) in groups {
            let to_cc = endpoints(ctx, &cc, 8774, "CC");
            probe(ctx, "nc-to-cc", &here(&nc), &to_cc)?;
            let to_nc = endpoints(ctx, &nc, 8775, "NC");
            probe(ctx, "cc-to-nc", &here(&cc), &to_nc)?;
        }
        let to_clc = endpoints(ctx, &clc, 8773, "CLC");
        probe(ctx, "nc-to-clc", &here(&ncs), &to_clc)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::{CommandResult, Options, Status};

    #[test]
    fn nics_and_component_paths() {
        let mut kit = Kit::from_yaml(
            "hosts: {clc: 127.0.0.2, cc: 127.0.0.4, nc: 127.0.0.11}\nroles:\n  clc: [clc]\n  cluster-controller: [cc]\n  \
             node-controller: [nc]\nclusters:\n  one: [cc, nc]\n",
        )
        .options(Options { allow_nets: vec!["127.0.0.0/8".into()], ..Options::default() });
        kit.canned(
            "*",
            "/sys/class/net",
            CommandResult::exited("", 0, "eth0 10000\neth1 100\neth2 -1\n", ""),
        );
        kit.canned(
            "nc",
            "/dev/tcp",
            CommandResult::exited("", 0, "127.0.0.4 8774 open\n127.0.0.2 8773 closed\n", ""),
        );
        kit.canned(
            "cc",
            "/dev/tcp",
            CommandResult::exited("", 0, "127.0.0.11 8775 open\n", ""),
        );
        let r = kit.debug(&Networking);
        let nic = r.find("nic", Some("nc"));
        assert_eq!(
            (nic[0].status, nic[1].status, nic[2].status),
            (Status::Pass, Status::Fail, Status::Warn)
        );
        r.assert_status("nc-to-cc", Some("nc"), Status::Pass);
        r.assert_status("cc-to-nc", Some("cc"), Status::Pass);
        assert_eq!(
            r.find("nc-to-clc", Some("nc"))[0].message,
            "cannot reach CLC clc:8773 (127.0.0.2:8773)"
        );
    }
}
