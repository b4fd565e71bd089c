//! `ports`: each `PORT/PROTO` of a role's `expect.ports` has a listener on every host of the
//! role, from `ss` (falling back to `netstat` on hosts without it). Ports match exactly:
//! `:8773` is not `:87730`. The listening process is named when the tools can see it.

use rolecall_plugin::{Context, Debugger, Expect, Result};

use crate::common::{expecting, not_run, run};
use crate::spec::port_spec;

#[derive(Debug, Default)]
pub struct Ports;

/// The command: `ss` where it exists, else `netstat`; the first line says which.
pub const COMMAND: &str = "if command -v ss >/dev/null 2>&1; then echo 'tool: ss'; ss -Hltnup 2>/dev/null \
    || ss -ltnup; else echo 'tool: netstat'; netstat -ltnup 2>/dev/null || netstat -ltnu; fi";

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub proto: String,
    pub port: u16,
    pub process: Option<String>,
}

impl Listener {
    /// ` by PROCESS`, or nothing when the tools could not see the process.
    pub fn by(&self) -> String {
        self.process
            .as_deref()
            .map(|p| format!(" by {p}"))
            .unwrap_or_default()
    }
}

/// The listener on `port`/`proto`, exactly.
pub fn find<'a>(listening: &'a [Listener], port: u16, proto: &str) -> Option<&'a Listener> {
    listening.iter().find(|l| l.port == port && l.proto == proto)
}

/// The port of a local address: `0.0.0.0:22`, `[::]:22`, `*:22`, `:::22`, `127.0.0.1%lo:53`.
fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

/// Parse `ss -ltnup` (with or without header) or `netstat -ltnup` output.
pub fn parse(stdout: &str) -> Vec<Listener> {
    let mut out = Vec::new();
    for line in stdout.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = f.first() else { continue };
        let proto = match *first {
            p if p.starts_with("tcp") => "tcp",
            p if p.starts_with("udp") => "udp",
            _ => continue,
        };
        let (local, process) = if f.get(1).is_some_and(|s| s.chars().all(|c| c.is_ascii_digit())) {
            // netstat: Proto Recv-Q Send-Q Local Foreign [State] PID/Program
            let process = f
                .last()
                .and_then(|p| p.split_once('/'))
                .map(|(_, n)| n.to_string());
            (f.get(3).copied(), process)
        } else {
            // ss: Netid State Recv-Q Send-Q Local Peer [users:(("name",pid=1,fd=3))]
            let process = f
                .iter()
                .find_map(|x| x.strip_prefix("users:((\""))
                .and_then(|x| x.split('"').next())
                .map(str::to_string);
            (f.get(4).copied(), process)
        };
        if let Some(port) = local.and_then(port_of) {
            out.push(Listener {
                proto: proto.to_string(),
                port,
                process,
            });
        }
    }
    out
}

impl Debugger for Ports {
    const NAME: &'static str = "ports";
    const DESCRIPTION: &'static str =
        "ports in `expect.ports` have a listener (ss, or netstat), with its process";
    const EXPECT: &'static [Expect] = &[Expect {
        key: "ports",
        kind: "list",
        description: "PORT/tcp or PORT/udp that must have a listener",
    }];

    fn debug(&self, ctx: &mut Context<'_>) -> Result {
        let roles = expecting(ctx, "ports");
        if roles.is_empty() {
            ctx.skip("port", "no role sets `expect.ports`");
        }
        for role in roles {
            let path = format!("roles.{}.expect.ports", role.role);
            let specs: Vec<String> = role
                .value
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let mut wanted = Vec::new();
            for s in &specs {
                match port_spec(s) {
                    Some((port, proto)) => wanted.push((s.clone(), port, proto)),
                    None => {
                        ctx.error("port", format!("`{s}` is not PORT/tcp or PORT/udp"))
                            .path(&path);
                    }
                }
            }
            if wanted.is_empty() || role.hosts.is_empty() {
                continue;
            }
            for r in run(ctx, COMMAND, &role.hosts)? {
                if not_run(ctx, "port", &r) {
                    continue;
                }
                let listening = parse(&r.stdout);
                if listening.is_empty() && r.exit_code != Some(0) {
                    // Neither ss nor netstat answered: nothing is known about the ports.
                    let why = r.stderr.lines().next().unwrap_or("no output").to_string();
                    ctx.warn("port", format!("cannot decide: no listener list ({why})"))
                        .host(&r.host)
                        .path(&path);
                    continue;
                }
                for (spec, port, proto) in &wanted {
                    match find(&listening, *port, proto) {
                        Some(l) => ctx.pass("port", format!("{spec} listening{}", l.by())),
                        None => ctx.fail("port", format!("{spec}: nothing listening")),
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
    use rolecall_plugin::{CommandResult, Status};

    const SS: &str = "tool: ss\n\
        tcp   LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:((\"sshd\",pid=612,fd=3))\n\
        tcp   LISTEN 0      50                 *:87730            *:*    users:((\"java\",pid=900,fd=80))\n\
        tcp   LISTEN 0      50              [::]:8773          [::]:*    users:((\"java\",pid=900,fd=81))\n\
        udp   UNCONN 0      0      127.0.0.1%lo:53          0.0.0.0:*\n";

    const NETSTAT_EL6: &str = "tool: netstat\n\
        Active Internet connections (only servers)\n\
        Proto Recv-Q Send-Q Local Address               Foreign Address             State       PID/Program name\n\
        tcp        0      0 0.0.0.0:22                  0.0.0.0:*                   LISTEN      1432/sshd\n\
        tcp        0      0 :::87730                    :::*                        LISTEN      2001/java\n\
        udp        0      0 0.0.0.0:53                  0.0.0.0:*                               1100/dnsmasq\n";

    fn kit(out: &str) -> Kit {
        let mut kit = Kit::from_yaml(
            "hosts: {clc: 127.0.0.2}\nroles:\n  clc:\n    hosts: [clc]\n    expect: {ports: [8773/tcp, 22/tcp, 53/udp, 8777/tcp]}\n",
        );
        kit.canned("*", "ss", CommandResult::exited("clc", 0, out, ""));
        kit
    }

    #[test]
    fn ss_exact_ports_and_processes() {
        let r = kit(SS).debug(&Ports);
        let f = r.find("port", Some("clc"));
        assert!(
            f.iter()
                .any(|f| f.status == Status::Pass && f.message == "8773/tcp listening by java"),
            "{f:?}"
        );
        assert!(f.iter().any(|f| f.message == "22/tcp listening by sshd"));
        assert!(f
            .iter()
            .any(|f| f.status == Status::Pass && f.message == "53/udp listening"));
        assert!(f
            .iter()
            .any(|f| f.status == Status::Fail && f.message == "8777/tcp: nothing listening"));
    }

    #[test]
    fn netstat_on_el6_and_no_prefix_match() {
        let r = kit(NETSTAT_EL6).debug(&Ports);
        let f = r.find("port", Some("clc"));
        // 87730 must not satisfy 8773.
        assert!(
            f.iter()
                .any(|f| f.status == Status::Fail && f.message == "8773/tcp: nothing listening"),
            "{f:?}"
        );
        assert!(f.iter().any(|f| f.message == "53/udp listening by dnsmasq"));
        assert!(f.iter().any(|f| f.message == "22/tcp listening by sshd"));
    }

    /// A host with neither `ss` nor `netstat` cannot say what listens: a warning with the
    /// reason, never a pass (and not a "nothing listening" failure).
    #[test]
    fn no_listener_tool_is_undecided() {
        let mut kit = Kit::from_yaml(
            "hosts: {clc: 127.0.0.2}\nroles:\n  clc:\n    hosts: [clc]\n    expect: {ports: [22/tcp]}\n",
        );
        kit.canned(
            "*",
            "ss",
            CommandResult::exited("clc", 127, "tool: netstat\n", "sh: 1: netstat: not found\n"),
        );
        let r = kit.debug(&Ports);
        let f = r.find("port", Some("clc"));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].status, Status::Warn);
        assert_eq!(
            f[0].message,
            "cannot decide: no listener list (sh: 1: netstat: not found)"
        );
    }

    #[test]
    fn malformed_spec_is_an_error_with_its_path() {
        let mut kit = Kit::from_yaml(
            "hosts: {a: 127.0.0.2}\nroles:\n  r:\n    hosts: [a]\n    expect: {ports: [http, 80/sctp, 0]}\n",
        );
        kit.canned("*", "ss", CommandResult::exited("a", 0, SS, ""));
        let r = kit.debug(&Ports);
        assert_eq!(r.count(Status::Error), 3);
        assert_eq!(
            r.find("port", None)[0].path.as_deref(),
            Some("roles.r.expect.ports")
        );
    }
}
