//! Remote execution: how each host is reached. The SSH executor builds on the endpoints
//! resolved here.

use crate::deployment::{Host, SshSettings};

/// The SSH port when neither flags, host nor file say otherwise.
pub const DEFAULT_SSH_PORT: u16 = 22;

/// The user when neither flags, host nor file say otherwise: the local user, as `ssh` does.
pub fn default_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".to_string())
}

/// Where and as whom to connect to one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: String,
    pub port: u16,
    pub user: String,
}

/// Resolve a host's endpoint. Precedence: command-line flags, then the host's own entry, then
/// the file's `ssh` section, then built-in defaults.
pub fn endpoint(host: &Host, file: &SshSettings, flags: &SshSettings) -> Endpoint {
    Endpoint {
        address: host.address.clone(),
        port: flags.port.or(host.port).or(file.port).unwrap_or(DEFAULT_SSH_PORT),
        user: flags
            .user
            .clone()
            .or_else(|| host.user.clone())
            .or_else(|| file.user.clone())
            .unwrap_or_else(default_user),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_host_beat_file() {
        let host = Host {
            name: "a".into(),
            address: "127.0.0.2".into(),
            port: Some(2222),
            user: None,
            vars: Default::default(),
        };
        let file = SshSettings {
            user: Some("deploy".into()),
            port: Some(22),
            ..Default::default()
        };
        let none = SshSettings::default();
        let e = endpoint(&host, &file, &none);
        assert_eq!((e.port, e.user.as_str()), (2222, "deploy"));
        let flags = SshSettings {
            user: Some("ops".into()),
            port: Some(2200),
            ..Default::default()
        };
        let e = endpoint(&host, &file, &flags);
        assert_eq!((e.port, e.user.as_str()), (2200, "ops"));
    }
}
