//! Flags shared by the commands that work on hosts (`debug`, `run`): which hosts, how many at
//! once, limits, and which executor: SSH, canned answers (`--replay`) or none (`--dry-run`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rolecall::deployment::{Deployment, HostKeyChecking};
use rolecall::remote::scripted::ScriptedExecutor;
use rolecall::remote::settings::{HostSettings, Reach};
use rolecall::remote::ssh::{SshConfig, SshExecutor};
use rolecall::remote::{self, AllowList, Executor};
use rolecall::report::Printer;

use super::connect::parse_secs;

#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Only hosts of these roles (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "ROLE,..")]
    pub roles: Vec<String>,
    /// Only the hosts this pattern selects (Ansible-style): names, globs (`nc0*`), `~regex`,
    /// ranges (`nc[01-04,07]`), roles, clusters; `a:b` or `a,b` (union), `&x` (and), `!x`
    /// (not), `@FILE` (a pattern per line). Repeated: union
    #[arg(long, short = 'l', value_name = "PATTERN")]
    pub limit: Vec<String>,
    /// A host pattern, as `ansible PATTERN` takes it (the same as `--limit PATTERN`)
    #[arg(value_name = "PATTERN")]
    pub pattern: Option<String>,
    /// Every host of the deployment (`run` needs this, --roles or --limit)
    #[arg(long)]
    pub all: bool,
    /// Print the selected hosts, one per line, and exit without connecting
    #[arg(long)]
    pub list_hosts: bool,
    /// Work on shard I of N: a stable 1/N of the selected hosts (by host name), for running
    /// one run on N machines; `rolecall merge` joins their JSON results
    #[arg(long, value_name = "I/N")]
    pub shard: Option<rolecall::run::shard::Shard>,
    /// With --shard: the id of the run this shard is part of, the same on every shard (default:
    /// ROLECALL_RUN_ID, else GitHub's GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT or GitLab's
    /// CI_PIPELINE_ID); `merge` refuses shards of different runs
    #[arg(long, value_name = "ID", requires = "shard")]
    pub run_id: Option<String>,
}

impl SelectArgs {
    /// The hosts selected, in file order. `explicit`: no selector at all is a usage error
    /// (as Ansible requires a pattern), so a forgotten `--limit` never means every host.
    pub fn hosts(&self, d: &Deployment, explicit: bool, printer: &Printer) -> anyhow::Result<Vec<String>> {
        let mut limit = self.limit.clone();
        limit.extend(self.pattern.iter().cloned());
        if explicit && self.roles.is_empty() && limit.is_empty() && !self.all {
            anyhow::bail!(
                "say which hosts: --limit PATTERN, --roles ROLE,.. or --all (every host of {})",
                d.source.display()
            );
        }
        let selected =
            rolecall::run::select_with_warnings(d, &self.roles, &limit).map_err(anyhow::Error::msg)?;
        for w in &selected.warnings {
            printer.warn(w);
        }
        if printer.verbose() > 0 {
            for e in &selected.extensions {
                printer.note(e);
            }
        }
        let hosts = selected.hosts;
        let Some(shard) = self.shard else {
            return Ok(hosts);
        };
        let part = shard.select(&hosts);
        if part.is_empty() {
            anyhow::bail!(
                "shard {shard} of the {} selected hosts is empty: use fewer shards than hosts",
                hosts.len()
            );
        }
        Ok(part)
    }

    /// With `--shard`, what this shard's result records about its run: `command` is what ran
    /// (`debug` with its plugin selection, or `run`'s command).
    pub fn shard_run(
        &self,
        d: &Deployment,
        command: String,
    ) -> anyhow::Result<Option<rolecall::run::shard::ShardRun>> {
        let Some(shard) = self.shard else {
            return Ok(None);
        };
        let deployment = rolecall::run::shard::digest(&d.source)
            .with_context(|| format!("reading `{}`", d.source.display()))?;
        Ok(Some(rolecall::run::shard::ShardRun {
            shard,
            run_id: self.run_id.clone().or_else(rolecall::run::shard::run_id_from_env),
            deployment,
            roles: self.roles.clone(),
            limit: self.limit.iter().chain(&self.pattern).cloned().collect(),
            command,
        }))
    }

    /// With `--list-hosts`, print `hosts` and say the command is done.
    pub fn listed(&self, hosts: &[String], printer: &Printer) -> anyhow::Result<bool> {
        if !self.list_hosts {
            return Ok(false);
        }
        let mut text = hosts.join("\n");
        text.push('\n');
        printer.out(&text).context("writing to stdout")?;
        Ok(true)
    }
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Execution")]
pub struct ExecArgs {
    /// Hosts with work in flight at once (each costs a socket, not a thread)
    #[arg(short = 'f', long, value_name = "N", default_value_t = remote::DEFAULT_FORKS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub forks: usize,
    /// Extra connection attempts after a refused, reset or dropped connection (with backoff)
    #[arg(long, value_name = "N", default_value_t = remote::DEFAULT_RETRIES)]
    pub retries: u32,
    /// Bytes kept of each command's stdout, and of its stderr (suffix K or M); the rest is
    /// counted and marked as truncated
    #[arg(long, value_name = "BYTES", default_value = "1M", value_parser = parse_bytes)]
    pub max_output: usize,
    /// Send every command in a channel of its own, never several commands queued for one host
    /// together in one remote shell
    #[arg(long)]
    pub no_batch: bool,
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

/// `executor` as a run holds it: shared with the Ctrl-C watcher, which stops it (see
/// `rolecall::interrupt`) until the returned guard is dropped.
pub fn interruptible(
    executor: Box<dyn Executor>,
) -> anyhow::Result<(Arc<dyn Executor>, rolecall::interrupt::Armed)> {
    let executor: Arc<dyn Executor> = executor.into();
    let stop = Arc::clone(&executor);
    let armed = rolecall::interrupt::arm(move || stop.interrupt())?;
    Ok((executor, armed))
}

/// The settings of `hosts`, resolved once for the whole run ([`Reach::resolve_noting`]: each
/// `Match exec` command runs once per host): the executor and the plugins' view of the fleet
/// both take them. The resolver's warnings are printed, and with `-vv` what each `Match exec`
/// did.
pub fn resolve(d: &Deployment, hosts: &[String], reach: &Reach, printer: &Printer) -> Vec<HostSettings> {
    let (targets, warnings, notes) = reach.resolve_noting(d, hosts);
    if printer.verbose() >= 2 {
        for n in &notes {
            printer.note(n);
        }
    }
    for w in &warnings {
        printer.warn(w);
    }
    targets
}

/// The executor for this run: none for a dry run, canned with `--replay`, else SSH to the
/// hosts of `targets`, each with its resolved settings ([`resolve`]).
#[allow(clippy::too_many_arguments)]
pub fn executor(
    d: &Deployment,
    targets: &[HostSettings],
    reach: &Reach,
    ask_become_pass: bool,
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
    // Each host once, jump hosts included (a bastion serves many targets).
    let off: indexmap::IndexSet<&str> = targets
        .iter()
        .flat_map(|t| std::iter::once(t).chain(&t.jump.value))
        .filter(|t| t.host_key_checking.value == HostKeyChecking::Off)
        .map(|t| t.name.as_str())
        .collect();
    if !off.is_empty() {
        printer.warn(&format!(
            "host key checking is off for {}: these hosts are not authenticated, so anyone on the              path can impersonate them and read what is sent",
            rolecall::deployment::range::fold(off.iter().copied()).join(", ")
        ));
    }
    let interactive = std::io::stdin().is_terminal();
    let prompt: Option<remote::ssh::PasswordPrompt> = interactive
        .then(|| Arc::new(|p: &str| rpassword::prompt_password(p).ok()) as remote::ssh::PasswordPrompt);
    let mut become_password = std::env::var(remote::sudo::PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty());
    if ask_become_pass && become_password.is_none() {
        if !interactive {
            anyhow::bail!(
                "--ask-become-pass needs a terminal to ask on; set {} instead",
                remote::sudo::PASSWORD_ENV
            );
        }
        become_password =
            Some(rpassword::prompt_password("BECOME password: ").context("reading the sudo password")?);
    }
    let s = d.ssh.clone().overlay(&reach.flags);
    let config = SshConfig {
        command_timeout: s.command_timeout.unwrap_or(remote::DEFAULT_COMMAND_TIMEOUT),
        deadline: limits.deadline,
        retries: exec.retries,
        forks: exec.forks,
        max_output: exec.max_output,
        batch: !exec.no_batch,
        allow: limits.allow.clone(),
        password: std::env::var(remote::PASSWORD_ENV).ok().filter(|p| !p.is_empty()),
        passphrase: std::env::var(remote::PASSPHRASE_ENV)
            .ok()
            .filter(|p| !p.is_empty()),
        prompt,
        stdin,
        become_password,
    };
    let ex = SshExecutor::new(targets.to_vec(), config).context("cannot set up SSH")?;
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
