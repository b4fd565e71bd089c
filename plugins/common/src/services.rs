//! `services`: each service in a role's `expect.services` is running and enabled at boot, on
//! every host of the role. systemd (`systemctl is-active` / `is-enabled`) where it runs, SysV
//! `service NAME status` and `chkconfig --list` elsewhere (EL6).

use rolecall_plugin::{Context, Debugger, Expect, Result};

use crate::common::{expecting, not_run, quote, run};

#[derive(Debug, Default)]
pub struct Services;

/// State of one service on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub name: String,
    pub manager: &'static str,
    pub active: String,
    pub enabled: String,
}

/// One command answering for every service of `names`.
pub fn command(names: &[String]) -> String {
    let list: Vec<String> = names.iter().map(|n| quote(n)).collect();
    let list = list.join(" ");
    format!(
        "if [ -d /run/systemd/system ]; then echo 'manager: systemd'; systemctl is-active {list} 2>&1; \
         echo '--'; systemctl is-enabled {list} 2>&1; else echo 'manager: sysv'; for s in {list}; do \
         service \"$s\" status >/dev/null 2>&1; echo \"$s $?\"; done; echo '--'; \
         chkconfig --list {list} 2>&1; fi"
    )
}

/// Parse [`command`]'s output for `names`. Missing answers read as `unknown`.
pub fn parse(names: &[String], stdout: &str) -> Vec<State> {
    let mut lines = stdout.lines();
    let manager = match lines.next().map(str::trim) {
        Some("manager: systemd") => "systemd",
        Some("manager: sysv") => "sysv",
        _ => "unknown",
    };
    let rest: Vec<&str> = lines.collect();
    let split = rest.iter().position(|l| l.trim() == "--").unwrap_or(rest.len());
    let (first, second) = (&rest[..split], rest.get(split + 1..).unwrap_or_default());
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (active, enabled) = if manager == "systemd" {
                // One line per unit, in order; unknown units say so on the same line.
                let word = |l: Option<&&str>| {
                    l.map(|l| l.split_whitespace().next().unwrap_or("unknown").to_string())
                        .unwrap_or_else(|| "unknown".into())
                };
                (word(first.get(i)), word(second.get(i)))
            } else {
                // `NAME CODE` from `service status` (LSB: 0 running, 3 stopped, 4 unknown).
                let code = first.iter().find_map(|l| {
                    l.strip_prefix(name.as_str())
                        .and_then(|r| r.trim().parse::<i32>().ok())
                });
                let active = match code {
                    Some(0) => "active",
                    Some(1..=3) => "inactive",
                    _ => "unknown",
                };
                // chkconfig: `NAME  0:off 1:off 2:on 3:on 4:on 5:on 6:off`.
                let enabled = second
                    .iter()
                    .find(|l| l.split_whitespace().next() == Some(name.as_str()))
                    .map(|l| {
                        let on = l.split_whitespace().any(|f| matches!(f, "3:on" | "5:on"));
                        if on {
                            "enabled"
                        } else {
                            "disabled"
                        }
                    })
                    .unwrap_or("unknown");
                (active.to_string(), enabled.to_string())
            };
            State {
                name: name.clone(),
                manager,
                active,
                enabled,
            }
        })
        .collect()
}

impl Debugger for Services {
    const NAME: &'static str = "services";
    const DESCRIPTION: &'static str =
        "services in `expect.services` are running and enabled at boot (systemd or SysV)";
    const EXPECT: &'static [Expect] = &[Expect {
        key: "services",
        kind: "list",
        description: "services that must be running and enabled at boot",
    }];

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let roles = expecting(ctx, "services");
        if roles.is_empty() {
            ctx.skip("service", "no role sets `expect.services`");
        }
        for role in roles {
            let path = format!("roles.{}.expect.services", role.role);
            let Some(names) = role.value.as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            }) else {
                ctx.error("service", "`expect.services` must be a list of names")
                    .path(&path);
                continue;
            };
            if names.is_empty() || role.hosts.is_empty() {
                continue;
            }
            for r in run(ctx, &command(&names), &role.hosts)? {
                if not_run(ctx, "service", &r) {
                    continue;
                }
                for s in parse(&names, &r.stdout) {
                    let how = format!("{} ({}, {})", s.name, s.active, s.enabled);
                    let e = match (s.active.as_str(), s.enabled.as_str()) {
                        ("active", "enabled" | "static" | "alias" | "indirect") => ctx.pass("service", how),
                        ("active", _) => {
                            ctx.warn("service", format!("{how}: running but not enabled at boot"))
                        }
                        ("unknown", _) => {
                            ctx.fail("service", format!("{how}: state unknown ({})", s.manager))
                        }
                        _ => ctx.fail("service", format!("{how}: not running")),
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

    const YAML: &str = "hosts: {nc01: 127.0.0.11, nc02: 127.0.0.12}\n\
        roles:\n  nc:\n    hosts: [nc01, nc02]\n    expect: {services: [eucalyptus-nc, libvirtd]}\n";

    #[test]
    fn systemd_running_stopped_and_not_enabled() {
        let mut kit = Kit::from_yaml(YAML);
        kit.canned(
            "nc01",
            "systemctl",
            CommandResult::exited(
                "nc01",
                0,
                "manager: systemd\nactive\nactive\n--\nenabled\nenabled\n",
                "",
            ),
        );
        // `is-active` exits 3 when a unit is inactive: still a result, not an abort.
        kit.canned(
            "nc02",
            "systemctl",
            CommandResult::exited(
                "nc02",
                3,
                "manager: systemd\ninactive\nactive\n--\nenabled\ndisabled\n",
                "",
            ),
        );
        let r = kit.debug(&Services);
        assert_eq!(r.count(Status::Pass), 2);
        assert_eq!(r.count(Status::Fail), 1);
        assert_eq!(r.count(Status::Warn), 1);
        let f = r.find("service", Some("nc02"));
        assert!(
            f.iter()
                .any(|f| f.message == "eucalyptus-nc (inactive, enabled): not running"),
            "{f:?}"
        );
        assert!(f.iter().any(|f| f
            .message
            .contains("libvirtd (active, disabled): running but not enabled")));
    }

    #[test]
    fn el6_service_and_chkconfig() {
        let mut kit = Kit::from_yaml(YAML);
        let el6 = "manager: sysv\neucalyptus-nc 0\nlibvirtd 3\n--\n\
                   eucalyptus-nc  \t0:off\t1:off\t2:on\t3:on\t4:on\t5:on\t6:off\n\
                   libvirtd       \t0:off\t1:off\t2:off\t3:off\t4:off\t5:off\t6:off\n";
        kit.canned("*", "chkconfig", CommandResult::exited("x", 0, el6, ""));
        let r = kit.debug(&Services);
        let f = r.find("service", Some("nc01"));
        assert!(f
            .iter()
            .any(|f| f.status == Status::Pass && f.message == "eucalyptus-nc (active, enabled)"));
        assert!(f
            .iter()
            .any(|f| f.message == "libvirtd (inactive, disabled): not running"));
    }

    #[test]
    fn unreachable_host_is_an_error_for_that_host_only() {
        let mut kit = Kit::from_yaml(YAML);
        let ok = "manager: systemd\nactive\nactive\n--\nenabled\nenabled\n";
        kit.canned("nc01", "systemctl", CommandResult::exited("nc01", 0, ok, ""));
        kit.canned(
            "nc02",
            "systemctl",
            CommandResult {
                host: "nc02".into(),
                outcome: "unreachable".into(),
                error: Some("connection refused".into()),
                ..CommandResult::default()
            },
        );
        let r = kit.debug(&Services);
        assert_eq!(r.count(Status::Pass), 2);
        r.assert_status("service", Some("nc02"), Status::Error);
    }

    #[test]
    fn names_are_quoted() {
        assert!(command(&["a b".into()]).contains("'a b'"));
    }
}
