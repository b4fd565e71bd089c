//! The grammar of a role's `expect` section, shared by the generic debuggers (which act on it)
//! and the generic validators (which check it before a run), from this one crate, so both read
//! expectations identically without depending on each other.

/// Keys the generic pack reads under `roles.<role>.expect`.
pub const KEYS: &[&str] = &[
    "services",
    "ports",
    "disk",
    "memory",
    "files",
    "connect",
    "arch",
    "min_cpus",
    "virtualization",
];

/// `8773/tcp`, `53/udp`, or a bare `22` (tcp): the port and protocol.
pub fn port_spec(spec: &str) -> Option<(u16, &str)> {
    let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = match proto {
        "tcp" => "tcp",
        "udp" => "udp",
        _ => return None,
    };
    Some((port.trim().parse().ok().filter(|p| *p > 0)?, proto))
}

/// `ROLE:PORT` or `ROLE:PORT/tcp`: the role and port.
pub fn connect_target(s: &str) -> Option<(&str, u16)> {
    let (role, port) = s.rsplit_once(':')?;
    let port = port.strip_suffix("/tcp").unwrap_or(port);
    Some((role, port.parse().ok().filter(|p| *p > 0)?))
}

/// `0755`, `755`, `0o755` -> `755`; `None` unless 1 to 5 octal digits.
pub fn normalize_mode(m: &str) -> Option<String> {
    let m = m.trim().trim_start_matches("0o");
    if m.is_empty() || m.len() > 5 || !m.chars().all(|c| ('0'..='7').contains(&c)) {
        return None;
    }
    let t = m.trim_start_matches('0');
    Some(if t.is_empty() { "0".into() } else { t.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert_eq!(port_spec("8773/tcp"), Some((8773, "tcp")));
        assert_eq!(port_spec("53/udp"), Some((53, "udp")));
        assert_eq!(port_spec("22"), Some((22, "tcp")));
        assert_eq!(port_spec("0"), None);
        assert_eq!(port_spec("80/sctp"), None);
        assert_eq!(port_spec("70000"), None);
        assert_eq!(connect_target("clc:8773"), Some(("clc", 8773)));
        assert_eq!(connect_target("clc:8773/tcp"), Some(("clc", 8773)));
        assert_eq!(connect_target("clc"), None);
        assert_eq!(normalize_mode("0755").as_deref(), Some("755"));
        assert_eq!(normalize_mode("0o700").as_deref(), Some("700"));
        assert_eq!(normalize_mode("0").as_deref(), Some("0"));
        assert_eq!(normalize_mode("rwx"), None);
        assert_eq!(normalize_mode("0999"), None);
    }
}
