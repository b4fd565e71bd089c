//! `rolecall check`: validate the deployment, then debug its hosts, as one report with one
//! summary and one exit code. When validation finds errors (a plugin error, a library that
//! did not load, nothing checked), debugging would check a fleet the file does not describe:
//! it says so and stops there.

use clap::Args;
use rolecall::exit::Exit;
use rolecall::plugin::{PluginKind, Registry};
use rolecall::report::{checks, debug as render, Printer};
use rolecall::results::{DebugReport, Results};
use rolecall::run::debug::{debug, DebugOptions};
use rolecall::run::validate::{validate, ValidateOptions};

use super::connect::ConnectArgs;
use super::output::{OutputArgs, ReportFormat};
use super::remote::{ExecArgs, SelectArgs, Sending};
use super::validate::unknown_plugin_errors;
use super::{DeploymentArgs, PluginSettings};

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub filter: super::PluginFilter,
    /// Let validators touch the network (reachability); only allowed networks are contacted
    #[arg(long)]
    pub online: bool,
    /// Let plugins run commands that change hosts (installing, deleting, restarting)
    #[arg(long)]
    pub allow_changes: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The directory SARIF locations are relative to (default: the current directory)
    #[arg(long, value_name = "DIR")]
    pub sarif_root: Option<std::path::PathBuf>,
}

/// The names of `names` that are plugins of `kind`.
fn of_kind(registry: &Registry, kind: PluginKind, names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|n| registry.of_kind(kind).any(|p| &p.name == *n))
        .cloned()
        .collect()
}

/// What `--only`/`--skip` select of `kind`: `None` when nothing of that kind is selected.
fn selection(
    registry: &Registry,
    kind: PluginKind,
    only: &[String],
    skip: &[String],
) -> Option<(Vec<String>, Vec<String>)> {
    let only_k = of_kind(registry, kind, only);
    if !only.is_empty() && only_k.is_empty() {
        return None;
    }
    let skip_k = of_kind(registry, kind, skip);
    // What validate and debug will run, by their own rule (names are all of this kind here).
    let chosen = rolecall::run::select_plugins(registry, kind, &only_k, &skip_k, &mut Results::default());
    (!chosen.is_empty()).then_some((only_k, skip_k))
}

pub fn run(args: CheckArgs, plugins: &PluginSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let CheckArgs {
        deployment: super::DeploymentArgs { config, profile },
        select,
        filter: super::PluginFilter { only, skip },
        online,
        allow_changes,
        output,
        exec,
        connect,
        sarif_root,
    } = args;
    let sinks = output.sinks(true)?;
    let show = output.show(printer);
    let root = super::sarif_root(sarif_root)?;
    let d = super::load_or_report(&config, profile, printer, &sinks, &root)?;
    super::warn_empty_roles(&d, printer);
    let hosts = select.hosts(&d, false, printer)?;
    if select.listed(&hosts, printer)? {
        return Ok(Exit::Ok);
    }
    let (reach, ask_become_pass) = connect.into_reach()?;
    let limits = exec.limits()?;
    let registry = plugins.load(printer);
    // Every host's settings, resolved once: the validators see them all, the debuggers and the
    // executor the selected ones.
    let all: Vec<String> = d.hosts.keys().cloned().collect();
    let resolved = super::remote::resolve(&d, &all, &reach, printer);
    let selected: Vec<rolecall::remote::settings::HostSettings> = {
        let by_name: std::collections::HashMap<&str, &rolecall::remote::settings::HostSettings> =
            resolved.iter().map(|s| (s.name.as_str(), s)).collect();
        hosts
            .iter()
            .filter_map(|h| by_name.get(h.as_str()).map(|s| (*s).clone()))
            .collect()
    };

    let mut results = Results {
        // Names that are no plugin at all (a validator's name is no error for the debuggers').
        unknown_plugins: only
            .iter()
            .chain(&skip)
            .filter(|n| !registry.plugins.iter().any(|p| &p.name == *n))
            .cloned()
            .collect(),
        load_problems: registry.problems.clone(),
        ..Results::default()
    };

    let mut stopped = false;
    if let Some((only_v, skip_v)) = selection(&registry, PluginKind::Validator, &only, &skip) {
        let opts = ValidateOptions {
            only: only_v,
            skip: skip_v,
            online,
            allow_nets: limits.allow.nets(),
            fleet: rolecall::run::fleet_json(
                &d,
                &resolved
                    .iter()
                    .filter_map(|s| rolecall::run::host_info(&d, s))
                    .collect::<Vec<_>>(),
            ),
            deadline: limits.deadline,
        };
        let v = validate(&d, &registry, opts);
        results.items.extend(v.items);
        results.ran.extend(v.ran);
        results.logs.extend(v.logs);
        let errors = results
            .items
            .iter()
            .any(|r| r.status == rolecall_plugin::Status::Error);
        if errors || !results.load_problems.is_empty() || !results.unknown_plugins.is_empty() {
            printer.warn(
                "validation found errors: the hosts are not debugged (a fleet the file does not describe \
                 would be checked); fix the errors above, or run `rolecall debug` on its own",
            );
            stopped = true;
        }
    }
    let mut report = DebugReport {
        hosts: hosts.clone(),
        ..DebugReport::default()
    };
    if !stopped {
        if let Some((only_d, skip_d)) = selection(&registry, PluginKind::Debugger, &only, &skip) {
            let executor = super::remote::executor(
                &d,
                &selected,
                &reach,
                ask_become_pass,
                &exec,
                &limits,
                Sending::Live { stdin: None },
                printer,
            )?;
            let (executor, _armed) = super::remote::interruptible(executor)?;
            let opts = DebugOptions {
                only: only_d,
                skip: skip_d,
                hosts,
                dry_run: false,
                allow_changes,
                allow_nets: limits.allow.nets(),
                settings: selected,
            };
            let progress = printer.progress(Some(0), "check");
            let dr = debug(
                &d,
                &registry,
                &opts,
                executor.as_ref(),
                limits.deadline,
                &progress,
            );
            progress.finish();
            results.items.extend(dr.results.items);
            results.ran.extend(dr.results.ran);
            results.logs.extend(dr.results.logs);
            results.unreached = dr.results.unreached;
            report.sent = dr.sent;
            report.reached = dr.reached;
            results.interrupted = rolecall::interrupt::interrupted();
        }
    }
    report.results = results;
    report.results.deployment_sha256 = super::digest(&d);
    output.apply_waivers(&d, &mut report.results, printer)?;
    output.apply_baseline(&mut report.results)?;
    report.results.explain(&d, &report.hosts);
    unknown_plugin_errors("plugin", &report.results, &registry, printer);
    super::output::write(&sinks, printer, |format| match format {
        ReportFormat::Table => render::table(&report, &d.source, printer, show),
        ReportFormat::Json => render::json(&report, &d.source),
        ReportFormat::Junit => checks::junit(&report.results, &d.source),
        ReportFormat::Sarif => checks::sarif(&report.results, &d.source, &root),
        ReportFormat::Html => rolecall::report::html::page(
            "check",
            &render::json_value(&report, &d.source),
            &rolecall::report::html::deployment_json(&d),
        ),
    })?;
    super::show_logs(&report.results, printer);
    Ok(report.exit())
}
