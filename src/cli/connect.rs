//! SSH connection flags, shared by every command that connects. Flags override the deployment
//! file's `ssh` section and host entries; the file overrides built-in defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use rolecall::deployment::{HostKeyChecking, SshSettings};

#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Connection")]
pub struct ConnectArgs {
    /// SSH user for every host
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// SSH port for every host
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Identity (private key) file; repeatable, tried in order after the ssh-agent
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identity: Vec<PathBuf>,
    /// known_hosts file to check host keys against
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Host key policy: unknown/changed keys refused (strict), unknown recorded (accept-new), or no checks (off)
    #[arg(long, value_enum, value_name = "POLICY")]
    pub host_key_checking: Option<HostKeyArg>,
    /// Seconds to wait for a TCP connection to each address
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub connect_timeout: Option<Duration>,
    /// Seconds a remote command may run before it is closed and reported as timed out
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub command_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HostKeyArg {
    Strict,
    AcceptNew,
    Off,
}

pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{s}` is not a positive number of seconds"))
}

impl ConnectArgs {
    /// The command line's layer of SSH settings.
    pub fn into_settings(self) -> SshSettings {
        let ConnectArgs {
            user,
            port,
            identity,
            known_hosts,
            host_key_checking,
            connect_timeout,
            command_timeout,
        } = self;
        SshSettings {
            user,
            port,
            identities: identity,
            known_hosts,
            host_key_checking: host_key_checking.map(|h| match h {
                HostKeyArg::Strict => HostKeyChecking::Strict,
                HostKeyArg::AcceptNew => HostKeyChecking::AcceptNew,
                HostKeyArg::Off => HostKeyChecking::Off,
            }),
            connect_timeout,
            command_timeout,
        }
    }
}
