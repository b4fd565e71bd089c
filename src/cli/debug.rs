//! `rolecall debug`: run the debugger plugins on the hosts of the deployment over SSH.

use clap::Args;
use rolecall::exit::Exit;
use rolecall::report::{debug as render, Printer};
use rolecall::run::debug::{debug, DebugOptions};

use super::connect::ConnectArgs;
use super::output::{OutputArgs, ReportFormat};
use super::remote::{ExecArgs, SelectArgs, Sending};
use super::validate::unknown_plugin_errors;
use super::{DeploymentArgs, PluginSettings};

#[derive(Debug, Args)]
pub struct DebugArgs {
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub filter: super::PluginFilter,
    /// List, per plugin, the commands it would send and to which hosts; connect to nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Let plugins run commands that change hosts (installing, deleting, restarting)
    #[arg(long)]
    pub allow_changes: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// How a shard names what `debug` ran: the plugin selection (sorted) and whether changes were
/// allowed.
fn debug_command(only: &[String], skip: &[String], allow_changes: bool) -> String {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v.join(",")
    };
    let mut c = String::from("debug");
    if !only.is_empty() {
        c.push_str(&format!(" --only {}", sorted(only)));
    }
    if !skip.is_empty() {
        c.push_str(&format!(" --skip {}", sorted(skip)));
    }
    if allow_changes {
        c.push_str(" --allow-changes");
    }
    c
}

pub fn run(args: DebugArgs, plugins: &PluginSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let DebugArgs {
        deployment: super::DeploymentArgs { config, profile },
        select,
        filter: super::PluginFilter { only, skip },
        dry_run,
        allow_changes,
        output,
        exec,
        connect,
    } = args;
    let sinks = output.sinks(false)?;
    let d = super::load_or_report(&config, profile, printer, &sinks, std::path::Path::new("."))?;
    let hosts = select.hosts(&d, false, printer)?;
    if select.listed(&hosts, printer)? {
        return Ok(Exit::Ok);
    }
    let shard = select.shard_run(&d, debug_command(&only, &skip, allow_changes))?;
    let (reach, ask_become_pass) = connect.into_reach()?;
    let limits = exec.limits()?;
    let registry = plugins.load(printer);
    let sending = if dry_run {
        Sending::DryRun
    } else {
        Sending::Live { stdin: None }
    };
    let executor = super::remote::executor(
        &d,
        &hosts,
        &reach,
        ask_become_pass,
        &exec,
        &limits,
        sending,
        printer,
    )?;
    let (executor, _armed) = super::remote::interruptible(executor)?;
    let opts = DebugOptions {
        only,
        skip,
        hosts,
        dry_run,
        allow_changes,
        allow_nets: limits.allow.nets(),
        reach,
    };
    let progress = printer.progress(Some(0), "debug");
    let mut report = debug(
        &d,
        &registry,
        &opts,
        executor.as_ref(),
        limits.deadline,
        &progress,
    );
    progress.finish();
    report.results.interrupted = rolecall::interrupt::interrupted();
    report.results.deployment_sha256 = super::digest(&d);
    report.shard = shard;
    output.apply_waivers(&d, &mut report.results, printer)?;
    output.apply_baseline(&mut report.results)?;
    unknown_plugin_errors("debugger", &report.results, &registry, printer);
    let show = output.show(printer);
    super::output::write(&sinks, printer, |format| match format {
        ReportFormat::Table => render::table(&report, &d.source, printer, show),
        ReportFormat::Json => render::json(&report, &d.source),
        ReportFormat::Junit => rolecall::report::checks::junit(&report.results, &d.source),
        // Refused by `sinks(false)` above.
        ReportFormat::Sarif => String::new(),
    })?;
    super::show_logs(&report.results, printer);
    let unchecked = report.unchecked();
    if !unchecked.is_empty() && !report.dry_run && !report.results.ran.is_empty() {
        let hosts = rolecall::deployment::range::fold(unchecked.iter().copied()).join(",");
        printer.warn(&format!(
            "{} selected host(s) got no result from any plugin (not contacted): {}",
            unchecked.len(),
            rolecall::report::safe::escape(&hosts)
        ));
    }
    if printer.verbose() >= 2 && !report.dry_run {
        for (plugin, sent) in &report.sent {
            for s in sent {
                let hosts = rolecall::deployment::range::fold(s.hosts.iter().map(String::as_str)).join(",");
                let sudo = s
                    .sudo
                    .as_deref()
                    .map(|u| format!(" (sudo -u {u})"))
                    .unwrap_or_default();
                let command = rolecall::report::safe::escape(&s.command);
                printer.note(&format!(
                    "[{plugin}] {:.2}s on {hosts}{sudo}: {command}",
                    s.took.as_secs_f64()
                ));
            }
        }
    }
    let exit = report.exit();
    if exit == Exit::Error {
        super::nothing_checked(
            rolecall::plugin::PluginKind::Debugger,
            &report.results,
            &registry,
            printer,
        );
    }
    Ok(exit)
}
