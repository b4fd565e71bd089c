//! SSH connection flags, shared by every command that connects. Flags override the deployment
//! file's `ssh` section and host entries; the file overrides built-in defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use rolecall::deployment::{HostKeyChecking, SshSettings};
use rolecall::remote::settings::Reach;
use rolecall::remote::ssh_config::{Files, SshConfig};

#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Connection")]
pub struct ConnectArgs {
    /// SSH user for every host
    #[arg(short = 'u', long, value_name = "USER")]
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
    /// Jump hosts, comma-separated, first hop first (`[user@]host[:port]`, or `none`); over
    /// ProxyJump and the deployment's `jump:`
    #[arg(short = 'J', long = "jump", value_name = "HOP,..")]
    pub jump: Option<String>,
    /// Run every command through `sudo -n` (as root unless --become-user)
    #[arg(long = "become", short = 'b')]
    pub sudo: bool,
    /// The user sudo runs commands as (implies --become)
    #[arg(long = "become-user", value_name = "USER")]
    pub sudo_user: Option<String>,
    /// Ask for the sudo password once, before connecting (or set ROLECALL_BECOME_PASSWORD)
    #[arg(long = "ask-become-pass", short = 'K')]
    pub ask_become_pass: bool,
    /// OpenSSH client configuration to read instead of ~/.ssh/config and /etc/ssh/ssh_config
    #[arg(
        short = 'F',
        long = "ssh-config",
        value_name = "FILE",
        conflicts_with = "no_ssh_config"
    )]
    pub ssh_config: Option<PathBuf>,
    /// Read no OpenSSH client configuration at all
    #[arg(long)]
    pub no_ssh_config: bool,
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
    /// The command line's layer of SSH settings, and the ssh_config files it names (read now:
    /// a `-F` file that cannot be read is an error).
    pub fn into_reach(self) -> anyhow::Result<(Reach, bool)> {
        let files = match (&self.ssh_config, self.no_ssh_config) {
            (_, true) => Files::None,
            (Some(f), false) => Files::Only(f.clone()),
            (None, false) => Files::Default,
        };
        let ssh_config = SshConfig::load(&files).map_err(|e| anyhow::anyhow!("{e}"))?;
        // A file named on the command line that is not there is an error now, not a host-key
        // or authentication failure on every host later.
        for id in &self.identity {
            if !id.exists() {
                anyhow::bail!("the identity file `{}` (-i) does not exist", id.display());
            }
        }
        if let Some(kh) = &self.known_hosts {
            let records_new = matches!(
                self.host_key_checking,
                Some(HostKeyArg::AcceptNew | HostKeyArg::Off)
            );
            if !kh.exists() && !records_new {
                anyhow::bail!(
                    "the known_hosts file `{}` (--known-hosts) does not exist: every host key would be unknown\n\
                     hint: record the keys with `ssh-keyscan -p PORT HOST >> {}`, or let rolecall record \
                     them with --host-key-checking accept-new",
                    kh.display(),
                    kh.display()
                );
            }
        }
        let ask = self.ask_become_pass;
        Ok((
            Reach {
                flags: self.into_settings(),
                ssh_config,
            },
            ask,
        ))
    }

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
            jump,
            sudo,
            sudo_user,
            ask_become_pass: _,
            ssh_config: _,
            no_ssh_config: _,
        } = self;
        let jump = jump.map(|j| rolecall::deployment::jump_hops([j.as_str()]));
        let sudo = (sudo || sudo_user.is_some()).then_some(true);
        SshSettings {
            jump,
            sudo,
            sudo_user,
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
