//! One debugger per Eucalyptus component: its services are running and enabled, and its
//! reserved ports are listening (exact match; Calyptos's `tcp.*:877` regex let `:8777` stand
//! in for `:877x` and matched any protocol line). Service names can be overridden with
//! `plugins.<name>.services` (Eucalyptus 4.4 renamed `eucalyptus-cc`/`-nc` to
//! `eucalyptus-cluster`/`-node`).

use rolecall_plugin::serde_json::Value;
use rolecall_plugin::{Context, Debugger, Result};

use crate::common::{not_run, run};
use crate::{ports, services};

/// What one component must run and listen on.
pub struct Spec {
    pub role: &'static str,
    pub services: &'static [&'static str],
    pub tcp: &'static [u16],
    pub udp: &'static [u16],
}

fn check(ctx: &mut Context<'_>, spec: &Spec) -> Result {
    let hosts: Vec<String> = ctx.hosts(spec.role).iter().map(|h| h.name.clone()).collect();
    if hosts.is_empty() {
        // With such hosts outside the selection, nothing to say (see `crate::nothing_to_do`).
        if ctx.members(spec.role).is_empty() {
            ctx.skip("service", format!("no `{}` hosts", spec.role));
        }
        return Ok(());
    }
    let names: Vec<String> = match ctx.config().get("services").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        None => spec.services.iter().map(|s| s.to_string()).collect(),
    };
    for r in run(ctx, &services::command(&names), &hosts)? {
        if not_run(ctx, "service", &r) {
            continue;
        }
        for s in services::parse(&names, &r.stdout) {
            let how = format!("{} ({}, {})", s.name, s.active, s.enabled);
            match s.active.as_str() {
                "active" => ctx.pass("service", how),
                _ => ctx.fail("service", format!("{how}: not running")),
            }
            .host(&r.host);
        }
    }
    for r in run(ctx, ports::COMMAND, &hosts)? {
        if not_run(ctx, "port", &r) {
            continue;
        }
        let listening = ports::parse(&r.stdout);
        let wanted = spec
            .tcp
            .iter()
            .map(|p| (*p, "tcp"))
            .chain(spec.udp.iter().map(|p| (*p, "udp")));
        for (port, proto) in wanted {
            match ports::find(&listening, port, proto) {
                Some(l) => ctx.pass("port", format!("{port}/{proto} listening{}", l.by())),
                None => ctx.fail("port", format!("{port}/{proto}: nothing listening")),
            }
            .host(&r.host);
        }
    }
    Ok(())
}

macro_rules! component {
    ($ty:ident, $name:literal, $what:literal, $spec:expr) => {
        #[doc = concat!("`", $name, "`: ", $what, ".")]
        #[derive(Debug, Default)]
        pub struct $ty;

        impl Debugger for $ty {
            const NAME: &'static str = $name;
            const DESCRIPTION: &'static str = $what;

            fn debug(&self, ctx: &mut Context<'_>) -> Result {
                check(ctx, &$spec)
            }
        }
    };
}

component!(
    Clc,
    "euca-clc",
    "cloud controller: eucalyptus-cloud running, ports 8773 8777 8443 8779/tcp, 7500 8773/udp",
    Spec {
        role: "clc",
        services: &["eucalyptus-cloud"],
        tcp: &[8773, 8777, 8443, 8779],
        udp: &[7500, 8773],
    }
);
component!(
    Ufs,
    "euca-ufs",
    "user-facing services: eucalyptus-cloud running, ports 53 8773 8779/tcp, 53 7500 8773/udp",
    Spec {
        role: "user-facing",
        services: &["eucalyptus-cloud"],
        tcp: &[53, 8773, 8779],
        udp: &[53, 7500, 8773],
    }
);
component!(
    Walrus,
    "euca-walrus",
    "walrus: eucalyptus-cloud running, port 8773/tcp",
    Spec {
        role: "walrus",
        services: &["eucalyptus-cloud"],
        tcp: &[8773],
        udp: &[],
    }
);
component!(
    Cc,
    "euca-cc",
    "cluster controller: eucalyptus-cc running, port 8774/tcp",
    Spec {
        role: "cluster-controller",
        services: &["eucalyptus-cc"],
        tcp: &[8774],
        udp: &[],
    }
);
component!(
    Sc,
    "euca-sc",
    "storage controller: eucalyptus-cloud running, ports 8773 8779/tcp, 7500 8773/udp",
    Spec {
        role: "storage-controller",
        services: &["eucalyptus-cloud"],
        tcp: &[8773, 8779],
        udp: &[7500, 8773],
    }
);
component!(
    Nc,
    "euca-nc",
    "node controller: eucalyptus-nc and libvirtd running, port 8775/tcp",
    Spec {
        role: "node-controller",
        services: &["eucalyptus-nc", "libvirtd"],
        tcp: &[8775],
        udp: &[],
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::{CommandResult, Status};

    const NETSTAT_NC: &str = "tool: netstat\n\
        Proto Recv-Q Send-Q Local Address               Foreign Address             State       PID/Program name\n\
        tcp        0      0 0.0.0.0:8775                0.0.0.0:*                   LISTEN      2212/httpd-nc\n\
        tcp        0      0 0.0.0.0:22                  0.0.0.0:*                   LISTEN      1432/sshd\n";

    fn kit() -> Kit {
        Kit::from_yaml("hosts: {nc01: 10.0.0.11, nc02: 10.0.0.12}\nroles:\n  node-controller: [nc01, nc02]\n")
    }

    #[test]
    fn stopped_node_controller_fails_and_the_rest_reports() {
        let mut kit = kit();
        // EL6: `service` exit codes (3 = stopped) and chkconfig.
        kit.canned(
            "nc01",
            "chkconfig",
            CommandResult::exited("", 0, "manager: sysv\neucalyptus-nc 0\nlibvirtd 0\n--\n", ""),
        );
        kit.canned(
            "nc02",
            "chkconfig",
            CommandResult::exited("", 0, "manager: sysv\neucalyptus-nc 3\nlibvirtd 0\n--\n", ""),
        );
        kit.canned("nc01", "tool: ss", CommandResult::exited("", 0, NETSTAT_NC, ""));
        kit.canned(
            "nc02",
            "tool: ss",
            CommandResult::exited("", 0, "tool: netstat\n", ""),
        );
        let r = kit.debug(&Nc);
        let nc02 = r.find("service", Some("nc02"));
        assert!(nc02
            .iter()
            .any(|f| f.status == Status::Fail && f.message.starts_with("eucalyptus-nc (inactive")));
        assert!(nc02
            .iter()
            .any(|f| f.status == Status::Pass && f.message.starts_with("libvirtd (active")));
        r.assert_status("port", Some("nc01"), Status::Pass);
        r.assert_status("port", Some("nc02"), Status::Fail);
        assert_eq!(
            r.find("port", Some("nc01"))[0].message,
            "8775/tcp listening by httpd-nc"
        );
    }

    #[test]
    fn renamed_services_from_config_and_missing_role_skips() {
        let mut kit = Kit::from_yaml(
            "hosts: {nc01: 10.0.0.11}\nroles:\n  node-controller: [nc01]\nplugins:\n  euca-nc: {services: [eucalyptus-node]}\n",
        );
        kit.canned(
            "*",
            "systemctl",
            CommandResult::exited("", 0, "manager: systemd\nactive\n--\nenabled\n", ""),
        );
        kit.canned("*", "tool: ss", CommandResult::exited("", 0, "tool: ss\n", ""));
        let r = kit.debug(&Nc);
        assert!(r.commands[0].0.contains("'eucalyptus-node'"));
        r.assert_status("service", Some("nc01"), Status::Pass);
        kit_skip();
    }

    fn kit_skip() {
        Kit::from_yaml("hosts: {a: 10.0.0.1}\n")
            .debug(&Cc)
            .assert_status("service", None, Status::Skip);
    }
}
