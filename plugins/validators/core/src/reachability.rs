use std::time::Duration;

use rolecall_plugin::{probe_tcp, Context, Result, Validator};

/// TCP reachability of each host's SSH port, only with `--online`.
#[derive(Debug, Default)]
pub struct Reachability;

const DEFAULT_TIMEOUT_SECS: f64 = 3.0;
/// Connection attempts in flight at once.
const PARALLEL: usize = 64;

impl Validator for Reachability {
    const NAME: &'static str = "reachability";
    const DESCRIPTION: &'static str = "each host's SSH port accepts TCP connections (--online only)";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        if !ctx.options().online {
            ctx.skip(
                "tcp-reachable",
                "offline run: pass `--online` to check reachability",
            );
            return Ok(());
        }
        let secs = match ctx.config().get("timeout_seconds") {
            None => DEFAULT_TIMEOUT_SECS,
            Some(v) => match v.as_f64() {
                Some(s) if s > 0.0 && s.is_finite() => s,
                _ => {
                    ctx.error(
                        "config",
                        format!("`timeout_seconds` must be a positive number, not {v}"),
                    )
                    .path("plugins.reachability.timeout_seconds");
                    return Ok(());
                }
            },
        };
        let timeout = Duration::from_secs_f64(secs);
        let targets: Vec<(String, String, u16)> = ctx
            .all_hosts()
            .iter()
            .map(|h| (h.name.clone(), h.address.clone(), h.port))
            .collect();
        let allow_nets = ctx.options().allow_nets.clone();
        let mut outcomes = Vec::with_capacity(targets.len());
        for chunk in targets.chunks(PARALLEL) {
            let nets = &allow_nets;
            let probes: Vec<_> = {
                std::thread::scope(|s| {
                    let handles: Vec<_> = chunk
                        .iter()
                        .map(|(_, addr, port)| s.spawn(move || probe_tcp(nets, addr, *port, timeout)))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|_| Err("probe panicked".into())))
                        .collect()
                })
            };
            outcomes.extend(chunk.iter().cloned().zip(probes));
        }
        for ((name, addr, port), outcome) in outcomes {
            match outcome {
                Ok(()) => {
                    ctx.pass("tcp-reachable", format!("{addr}:{port} accepts connections"))
                        .host(&name);
                }
                Err(why) => {
                    ctx.fail("tcp-reachable", why)
                        .host(&name)
                        .path(format!("hosts.{name}"));
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
    use rolecall_plugin::{Options, Status};
    use std::net::TcpListener;

    #[test]
    fn offline_runs_skip() {
        let r = Kit::from_yaml("hosts: {a: 127.0.0.2}\n").validate(&Reachability);
        r.assert_status("tcp-reachable", None, Status::Skip);
    }

    #[test]
    fn open_and_closed_ports_on_loopback_and_the_allow_list() {
        let open = TcpListener::bind("127.0.0.1:0").unwrap();
        let open_port = open.local_addr().unwrap().port();
        // A port we bound and released: nothing listens there now.
        let closed_port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let yaml = format!(
            "hosts:\n  up: {{address: 127.0.0.1, port: {open_port}}}\n  down: {{address: 127.0.0.1, port: {closed_port}}}\n  far: {{address: 10.1.2.3, port: 22}}\n"
        );
        let options = Options {
            online: true,
            allow_nets: vec!["127.0.0.0/8".into()],
            ..Options::default()
        };
        let r = Kit::from_yaml(&yaml).options(options).validate(&Reachability);
        r.assert_status("tcp-reachable", Some("up"), Status::Pass);
        r.assert_status("tcp-reachable", Some("down"), Status::Fail);
        let far = r.find("tcp-reachable", Some("far"));
        assert!(
            far[0].message.contains("outside the allowed networks"),
            "{}",
            far[0].message
        );
    }
}
