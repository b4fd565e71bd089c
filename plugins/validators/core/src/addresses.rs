use std::collections::HashMap;
use std::net::IpAddr;

use rolecall_plugin::{Context, Result, Validator};

/// Addresses parse; no address under two names; no `host:port` as an address.
#[derive(Debug, Default)]
pub struct Addresses;

/// What two hosts share when they have the same address: an IP address (so `::1` and `0:0::1`
/// are one), or a DNS name compared case-insensitively without its trailing dot.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Key {
    Ip(IpAddr),
    Name(String),
}

/// The address's [`Key`], or why it is not usable (not an IP address, not a valid DNS name).
fn key(address: &str) -> std::result::Result<Key, String> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Ok(Key::Ip(ip));
    }
    if let Some((host, port)) = address.rsplit_once(':') {
        if port.parse::<u16>().is_ok() && !host.contains(':') {
            return Err(format!(
                "`{address}` is `host:port`; give the host as `address` and the port as `port`"
            ));
        }
    }
    if address.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("`{address}` is not a valid IPv4 address"));
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
        return Err(format!(
            "`{address}` is neither an IP address nor a valid host name"
        ));
    }
    Ok(Key::Name(name.to_ascii_lowercase()))
}

/// Why an address is not usable, or `None` when it is an IP address or a valid DNS name.
#[cfg(test)]
fn problem(address: &str) -> Option<String> {
    key(address).err()
}

impl Validator for Addresses {
    const NAME: &'static str = "addresses";
    const DESCRIPTION: &'static str = "addresses parse, are unique per host, and carry no port";

    fn validate(&self, ctx: &mut Context<'_>) -> Result {
        let hosts = ctx.all_hosts();
        let count = hosts.len();
        // (check, message, host): gathered first, as the hosts are borrowed from `ctx`.
        let mut failures: Vec<(&str, String, String)> = Vec::new();
        let mut by_address: HashMap<Key, &str> = HashMap::with_capacity(count);
        for h in hosts {
            let (name, address) = (h.name.as_str(), h.address.as_str());
            match key(address) {
                Err(p) => {
                    let check = if p.contains("host:port") {
                        "no-host-port"
                    } else {
                        "address-valid"
                    };
                    failures.push((check, p, name.to_string()));
                }
                Ok(k) => match by_address.get(&k) {
                    Some(first) => failures.push((
                        "unique-address",
                        format!("`{name}` has the same address `{address}` as `{first}`"),
                        name.to_string(),
                    )),
                    None => {
                        by_address.insert(k, name);
                    }
                },
            }
        }
        if failures.is_empty() {
            ctx.pass(
                "address-valid",
                format!("{count} addresses, all valid and unique"),
            );
        }
        for (check, message, name) in failures {
            ctx.fail(check, message)
                .host(&name)
                .path(format!("hosts.{name}.address"));
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
