//! `rolecall debug`: run the debugger plugins on the hosts of the deployment over SSH.

use clap::Args;
use rolecall::exit::Exit;
use rolecall::report::{debug as render, Printer};
use rolecall::results::DebugReport;
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
    /// Run again every SECS seconds over the same sessions, printing only what changed since
    /// the previous round (a heartbeat line when nothing did); Ctrl-C ends it with the last
    /// round's full report and exit code
    #[arg(long, value_name = "SECS", value_parser = super::connect::parse_secs,
          conflicts_with_all = ["dry_run", "shard", "deadline"])]
    pub watch: Option<std::time::Duration>,
    /// With --watch: stop after N rounds
    #[arg(long, value_name = "N", requires = "watch",
          value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(1..))]
    pub rounds: Option<u32>,
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
        watch,
        rounds,
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
    let settings = super::remote::resolve(&d, &hosts, &reach, printer);
    let executor = super::remote::executor(
        &d,
        &settings,
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
        settings,
    };
    // A shard's record already holds it: the file is read and hashed once.
    let digest = shard
        .as_ref()
        .map(|s| s.deployment.clone())
        .or_else(|| super::digest(&d));
    let round = || -> anyhow::Result<DebugReport> {
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
        report.results.deployment_sha256.clone_from(&digest);
        report.shard.clone_from(&shard);
        output.apply_waivers(&d, &mut report.results, printer)?;
        output.apply_baseline(&mut report.results)?;
        report.results.explain(&d, &report.hosts);
        Ok(report)
    };
    let show = output.show(printer);
    let write_to = |sinks: &[super::output::Sink], report: &DebugReport| {
        super::output::write(sinks, printer, |format| match format {
            ReportFormat::Table => render::table(report, &d.source, printer, show),
            ReportFormat::Json => render::json(report, &d.source),
            ReportFormat::Junit => rolecall::report::checks::junit(&report.results, &d.source),
            ReportFormat::Html => rolecall::report::html::page(
                "debug",
                &render::json_value(report, &d.source),
                &rolecall::report::html::deployment_json(&d),
            ),
            // Refused by `sinks(false)` above.
            ReportFormat::Sarif => String::new(),
        })
    };
    let mut report = round()?;
    unknown_plugin_errors("debugger", &report.results, &registry, printer);
    if watch.is_some() {
        // A machine-readable stdout gets one document: the last round's, at the end.
        let first: Vec<_> = sinks
            .iter()
            .filter(|s| !s.document_on_stdout())
            .cloned()
            .collect();
        write_to(&first, &report)?;
    } else {
        write_to(&sinks, &report)?;
    }
    if let Some(every) = watch {
        // Each round refreshes the output files; stdout gets the last full report at the end.
        let files: Vec<_> = sinks.iter().filter(|s| s.file.is_some()).cloned().collect();
        let refresh = |r: &DebugReport| write_to(&files, r);
        report = super::watch::watch(report, every, rounds, &sinks, printer, round, refresh)?;
        write_to(&sinks, &report)?;
    }
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
