//! Checks that touch the network, only with `validate --online`, only towards allowed networks:
//!
//! - `euca-repos`: the repository and script URLs (`eucalyptus-repo`, `euca2ools-repo`,
//!   `enterprise-repo`, `default-img-url`, `init-script-url`, `post-script-url`,
//!   `midokura.midonet-api-url`) are well-formed (always) and accept a TCP connection on their
//!   port within the timeout (online).
//! - `euca-reachability`: the service endpoints the environment names as `host:port`
//!   (`midokura.cassandras`, `zookeepers`) accept a TCP connection. Calyptos pinged hosts with
//!   ICMP; TCP to the actual service says more and needs no privileges.
//!
//! With an allow-list set, host *names* are not resolved (a DNS query could leave the allowed
//! networks); they are reported as skipped.

use std::net::IpAddr;
use std::time::Duration;

use rolecall_plugin::serde_json::Value;
use rolecall_plugin::{Context, Result, Validator};

use crate::env::{self, EUCA};

/// Seconds per connection attempt, unless `plugins.<name>.timeout_seconds` says otherwise.
const DEFAULT_TIMEOUT: f64 = 3.0;

const URL_KEYS: &[&str] = &[
    "eucalyptus-repo",
    "euca2ools-repo",
    "enterprise-repo",
    "default-img-url",
    "init-script-url",
    "post-script-url",
];

/// (scheme, host, port) of an `http`, `https` or `ftp` URL.
pub fn parse_url(url: &str) -> Option<(&str, &str, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default = match scheme {
        "http" => 80,
        "https" => 443,
        "ftp" => 21,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok().filter(|p| *p > 0)?,
        None => default,
    };
    Some((scheme, host, port))
}

fn timeout(ctx: &Context<'_>) -> Duration {
    let secs = ctx
        .config()
        .get("timeout_seconds")
        .and_then(Value::as_f64)
        .unwrap_or(DEFAULT_TIMEOUT);
    Duration::from_secs_f64(secs.clamp(0.1, 60.0))
}

/// Probe `host:port` if allowed; report under `check` with `what` naming the target.
fn probe(ctx: &mut Context<'_>, check: &str, what: &str, host: &str, port: u16, path: &str) {
    let is_ip = host.parse::<IpAddr>().is_ok();
    if !is_ip && !ctx.options().allow_nets.is_empty() {
        ctx.skip(
            check,
            format!("{what}: `{host}` is a name; not resolved while an allow-list is set"),
        )
        .path(path);
        return;
    }
    let t = timeout(ctx);
    match ctx.probe_tcp(host, port, t) {
        Ok(()) => ctx.pass(check, format!("{what}: {host}:{port} accepts connections")),
        Err(why) if why.contains("outside the allowed networks") => ctx.skip(check, format!("{what}: {why}")),
        Err(why) => ctx.fail(check, format!("{what}: {why}")),
    }
    .path(path);
}

#[derive(Debug, Default)]
pub struct Repositories;

const REPOS: &str = "euca-repos";

impl Validator for Repositories {
    const NAME: &'static str = "euca-repos";
    const DESCRIPTION: &'static str =
        "repository and script URLs well-formed; reachable with --online (TCP, timeout)";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        let Some(doc) = crate::environment(ctx, REPOS) else {
            return Ok(());
        };
        let euca = env::eucalyptus(&doc).cloned().unwrap_or(Value::Null);
        let mut urls: Vec<(String, String)> = URL_KEYS
            .iter()
            .filter_map(|k| euca.get(*k).map(|v| (format!("{EUCA}.{k}"), v)))
            .filter_map(|(p, v)| v.as_str().map(|s| (p, s.to_string())))
            .collect();
        if let Some(api) = doc
            .pointer("/default_attributes/midokura/midonet-api-url")
            .and_then(Value::as_str)
        {
            urls.push((
                "default_attributes.midokura.midonet-api-url".into(),
                api.to_string(),
            ));
        }
        if urls.is_empty() {
            ctx.skip(REPOS, "no repository or script URLs");
        }
        let online = ctx.options().online;
        for (path, url) in urls {
            match parse_url(&url) {
                None => {
                    ctx.fail(REPOS, format!("`{url}` is not an http, https or ftp URL"))
                        .path(&path);
                }
                Some((_, host, port)) if online => {
                    let (host, what) = (host.to_string(), url.clone());
                    probe(ctx, REPOS, &what, &host, port, &path);
                }
                Some(_) => {
                    ctx.pass(REPOS, format!("{url}: well-formed (not fetched: pass --online)"))
                        .path(&path);
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct Reachability;

const REACH: &str = "euca-reachability";

impl Validator for Reachability {
    const NAME: &'static str = "euca-reachability";
    const DESCRIPTION: &'static str =
        "with --online: `host:port` service endpoints (Cassandra, ZooKeeper) accept TCP connections";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        if crate::environment(ctx, REACH).is_none() {
            return Ok(());
        }
        let endpoints: Vec<(String, String, u16)> = ctx
            .roles()
            .iter()
            .filter(|r| r.name != "all")
            .flat_map(|r| {
                r.service_ports
                    .iter()
                    .map(move |(h, p)| (r.name.clone(), h.clone(), *p))
            })
            .collect();
        if endpoints.is_empty() {
            ctx.skip(REACH, "the environment names no host:port service endpoints");
            return Ok(());
        }
        if !ctx.options().online {
            ctx.skip(
                REACH,
                format!(
                    "{} service endpoints; pass --online to probe them",
                    endpoints.len()
                ),
            );
            return Ok(());
        }
        for (role, host, port) in endpoints {
            let address = ctx
                .host(&host)
                .map_or_else(|| env::host_of(&host).to_string(), |h| h.address.clone());
            probe(
                ctx,
                REACH,
                &format!("{role} on {host}"),
                &address,
                port,
                &format!("roles.{role}"),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::{Options, Status};

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://packages.example/yum/"),
            Some(("http", "packages.example", 80))
        );
        assert_eq!(
            parse_url("http://10.111.1.41:8080/midonet-api"),
            Some(("http", "10.111.1.41", 8080))
        );
        assert_eq!(
            parse_url("https://u:p@[::1]:8443/x"),
            Some(("https", "::1", 8443))
        );
        assert_eq!(parse_url("packages.example/yum"), None);
        assert_eq!(parse_url("http://:80/"), None);
        assert_eq!(parse_url("gopher://x/"), None);
    }

    #[test]
    fn offline_checks_form_online_probes_allowed_ips_only() {
        let yaml =
            "default_attributes:\n  eucalyptus:\n    eucalyptus-repo: http://packages.example/yum/\n    \
                    euca2ools-repo: not a url\n    init-script-url: http://127.0.0.1:9/none\n";
        let r = Kit::from_yaml(yaml).validate(&Repositories);
        assert_eq!(r.count(Status::Pass), 2);
        assert!(
            r.find(REPOS, None)
                .iter()
                .any(|f| f.status == Status::Fail
                    && f.message == "`not a url` is not an http, https or ftp URL")
        );
        // Online, with an allow-list: the name is not resolved; 127.0.0.1:9 is probed (closed).
        let online = Options {
            online: true,
            allow_nets: vec!["127.0.0.0/8".into()],
            ..Options::default()
        };
        let r = Kit::from_yaml(yaml).options(online).validate(&Repositories);
        let f = r.find(REPOS, None);
        assert!(
            f.iter().any(|f| f.status == Status::Skip
                && f.message.contains("`packages.example` is a name; not resolved")),
            "{f:#?}"
        );
        assert!(f
            .iter()
            .any(|f| f.status == Status::Fail && f.message.starts_with("http://127.0.0.1:9/none: ")));
    }

    #[test]
    fn service_endpoints_need_online() {
        let mut kit = Kit::from_yaml("default_attributes:\n  eucalyptus: {}\nhosts: {c: 127.0.0.2}\n");
        kit.fleet_mut().roles.push(rolecall_plugin::RoleInfo {
            name: "mido-cassandra".into(),
            hosts: vec!["c".into()],
            service_ports: [("c".to_string(), 9160)].into_iter().collect(),
            ..Default::default()
        });
        kit.validate(&Reachability)
            .assert_status(REACH, None, Status::Skip);
    }
}
