//! Flags shared by the commands that work on hosts (`debug`, `run`): which hosts, how many at
//! once, limits, and which executor: SSH, canned answers (`--replay`) or none (`--dry-run`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rolecall::deployment::{Deployment, HostKeyChecking, SshSettings};
use rolecall::remote::scripted::ScriptedExecutor;
use rolecall::remote::ssh::{SshConfig, SshExecutor};
use rolecall::remote::{self, AllowList, Executor};
use rolecall::report::Printer;

use super::connect::parse_secs;

#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Only hosts of these roles (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "ROLE,..")]
    pub roles: Vec<String>,
    /// Only these hosts: names or globs (`nc0*`), comma-separated or repeated
    #[arg(long, value_delimiter = ',', value_name = "PATTERN,..")]
    pub limit: Vec<String>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Execution")]
pub struct ExecArgs {
    /// Hosts worked on at once (worker threads)
    #[arg(long, value_name = "N", default_value_t = remote::DEFAULT_FORKS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub forks: usize,
    /// Extra connection attempts after a refused, reset or dropped connection (with backoff)
    #[arg(long, value_name = "N", default_value_t = remote::DEFAULT_RETRIES)]
    pub retries: u32,
    /// Bytes kept of each command's stdout, and of its stderr (suffix K or M); the rest is
    /// counted and marked as truncated
    #[arg(long, value_name = "BYTES", default_value = "1M", value_parser = parse_bytes)]
    pub max_output: usize,
    /// Seconds the whole run may take; commands not started by then are cancelled
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub deadline: Option<Duration>,
    /// Networks rolecall may connect to (comma-separated CIDRs); other targets are refused
    /// without being contacted
    #[arg(long, env = remote::ALLOW_NETS_ENV, value_delimiter = ',', value_name = "CIDR,..")]
    pub allow_nets: Vec<String>,
    /// Answer commands from a YAML file of canned outputs instead of connecting
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}` is not a size in bytes (such as 65536, 64K or 1M)"))
}

/// A path from the deployment file: `~/` is the home directory, relative paths are relative to
/// the file's directory.
fn file_path(p: &Path, base: &Path) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    if p.is_relative() {
        base.join(p)
    } else {
        p.to_path_buf()
    }
}

/// What the execution flags resolve to, once per run: the executor and the plugins see the same.
#[derive(Debug, Clone)]
pub struct Limits {
    pub allow: AllowList,
    pub deadline: Option<Instant>,
}

impl ExecArgs {
    /// Parse the allow-list (a malformed entry is a usage error) and start the deadline clock.
    pub fn limits(&self) -> anyhow::Result<Limits> {
        Ok(Limits {
            allow: allow_list(&self.allow_nets)?,
            deadline: self.deadline.map(|d| Instant::now() + d),
        })
    }
}

/// Whether commands are sent at all, and with what on their stdin.
#[derive(Debug, Clone)]
pub enum Sending {
    /// `--dry-run`: nothing leaves this machine.
    DryRun,
    /// Commands are sent; each gets these bytes on stdin (`None`: empty stdin).
    Live { stdin: Option<Arc<[u8]>> },
}

/// The executor for this run: none for a dry run, canned with `--replay`, else SSH to `hosts`.
pub fn executor(
    d: &Deployment,
    hosts: &[String],
    flags: &SshSettings,
    exec: &ExecArgs,
    limits: &Limits,
    sending: Sending,
    printer: &Printer,
) -> anyhow::Result<Box<dyn Executor>> {
    let stdin = match sending {
        Sending::DryRun => return Ok(Box::new(ScriptedExecutor::dry_run())),
        Sending::Live { stdin } => stdin,
    };
    if let Some(path) = &exec.replay {
        let canned = ScriptedExecutor::from_file(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(Box::new(canned));
    }
    let base = d.source.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut file = d.ssh.clone();
    file.identities = file.identities.iter().map(|p| file_path(p, &base)).collect();
    file.known_hosts = file.known_hosts.as_deref().map(|p| file_path(p, &base));
    let s = file.overlay(flags);
    let policy = s.host_key_checking.unwrap_or_default();
    if policy == HostKeyChecking::Off {
        printer.warn(
            "host key checking is off: hosts are not authenticated, so anyone on the path can \
             impersonate them and read what is sent",
        );
    }
    let prompt: Option<remote::ssh::PasswordPrompt> = std::io::stdin()
        .is_terminal()
        .then(|| Arc::new(|p: &str| rpassword::prompt_password(p).ok()) as remote::ssh::PasswordPrompt);
    let config = SshConfig {
        connect_timeout: s.connect_timeout.unwrap_or(remote::DEFAULT_CONNECT_TIMEOUT),
        command_timeout: s.command_timeout.unwrap_or(remote::DEFAULT_COMMAND_TIMEOUT),
        deadline: limits.deadline,
        retries: exec.retries,
        forks: exec.forks,
        max_output: exec.max_output,
        host_key_checking: policy,
        known_hosts: s.known_hosts.clone(),
        identities: s.identities.clone(),
        allow: limits.allow.clone(),
        password: std::env::var(remote::PASSWORD_ENV).ok().filter(|p| !p.is_empty()),
        passphrase: std::env::var(remote::PASSPHRASE_ENV)
            .ok()
            .filter(|p| !p.is_empty()),
        prompt,
        stdin,
    };
    let endpoints = rolecall::run::endpoints(d, flags, hosts);
    let ex = SshExecutor::new(endpoints, config).context("cannot set up SSH")?;
    Ok(Box::new(ex))
}

/// The allow-list, refusing malformed entries (exit 2) rather than guessing.
pub fn allow_list(items: &[String]) -> anyhow::Result<AllowList> {
    AllowList::parse(items)
        .map_err(|e| anyhow::anyhow!("{e} (in --allow-nets or {})", remote::ALLOW_NETS_ENV))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1M"), Ok(1 << 20));
        assert_eq!(parse_bytes("64k"), Ok(64 << 10));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("lots").is_err());
    }
}
