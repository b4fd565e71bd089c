use std::collections::HashMap;
use std::net::IpAddr;

use rolecall_plugin::{Context, Result, Validator};

/// Addresses parse; no address under two names; no `host:port` as an address.
#[derive(Debug, Default)]
pub struct Addresses;

/// Why an address is not usable, or `None` when it is an IP address or a valid DNS name.
fn problem(address: &str) -> Option<String> {
    if address.parse::<IpAddr>().is_ok() {
        return None;
    }
    if let Some((host, port)) = address.rsplit_once(':') {
        if port.parse::<u16>().is_ok() && !host.contains(':') {
            return Some(format!(
                "`{address}` is `host:port`; give the host as `address` and the port as `port`"
            ));
        }
    }
    if address.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Some(format!("`{address}` is not a valid IPv4 address"));
    }
    let name = address.strip_suffix('.').unwrap_or(address);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Some(format!(
            "`{address}` is neither an IP address nor a valid host name"
        ));
    }
    None
}

impl Validator for Addresses {
    const NAME: &'static str = "addresses";
    const DESCRIPTION: &'static str = "addresses parse, are unique per host, and carry no port";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        let hosts: Vec<(String, String)> = ctx
            .all_hosts()
            .iter()
            .map(|h| (h.name.clone(), h.address.clone()))
            .collect();
        let mut bad = 0;
        let mut by_address: HashMap<String, String> = HashMap::new();
        for (name, address) in &hosts {
            if let Some(p) = problem(address) {
                bad += 1;
                let check = if p.contains("host:port") {
                    "no-host-port"
                } else {
                    "address-valid"
                };
                ctx.fail(check, p)
                    .host(name)
                    .path(format!("hosts.{name}.address"));
                continue;
            }
            // Compare IPs in canonical form (`::1` == `0:0::1`), names case-insensitively.
            let key = address
                .parse::<IpAddr>()
                .map(|ip| ip.to_string())
                .unwrap_or_else(|_| address.trim_end_matches('.').to_ascii_lowercase());
            if let Some(first) = by_address.get(&key) {
                bad += 1;
                ctx.fail(
                    "unique-address",
                    format!("`{name}` has the same address `{address}` as `{first}`"),
                )
                .host(name)
                .path(format!("hosts.{name}.address"));
            } else {
                by_address.insert(key, name.clone());
            }
        }
        if bad == 0 {
            ctx.pass(
                "address-valid",
                format!("{} addresses, all valid and unique", hosts.len()),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rolecall_plugin::testing::Kit;
    use rolecall_plugin::Status;

    #[test]
    fn classifies_addresses() {
        assert_eq!(problem("127.0.0.2"), None);
        assert_eq!(problem("::1"), None);
        assert_eq!(problem("nc01.lab.example."), None);
        assert!(problem("10.0.0.1:22").unwrap().contains("host:port"));
        assert!(problem("10.0.0.300").unwrap().contains("not a valid IPv4"));
        assert!(problem("bad_name").unwrap().contains("neither"));
        assert!(problem("-x.example").is_some());
    }

    #[test]
    fn duplicates_and_ports_fail_with_paths() {
        let kit = Kit::from_yaml(
            "hosts:\n  a: 127.0.0.2\n  b: 127.0.0.2\n  c: '127.0.0.3:22'\n  d: '::1'\n  e: '0:0::1'\n",
        );
        let r = kit.validate(&Addresses);
        r.assert_status("unique-address", Some("b"), Status::Fail);
        r.assert_status("unique-address", Some("e"), Status::Fail);
        r.assert_status("no-host-port", Some("c"), Status::Fail);
        assert_eq!(
            r.find("no-host-port", Some("c"))[0].path.as_deref(),
            Some("hosts.c.address")
        );
        assert_eq!(r.count(Status::Pass), 0);
    }
}
