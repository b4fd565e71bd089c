//! `rolecall validate`: run the validators over a deployment.

use clap::Args;
use rolecall::exit::Exit;
use rolecall::report::{checks, Printer};
use rolecall::run::validate::{validate, ValidateOptions};

use super::connect::ConnectArgs;
use super::output::{OutputArgs, ReportFormat};
use super::{DeploymentArgs, PluginSettings};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    #[command(flatten)]
    pub filter: super::PluginFilter,
    /// Allow checks that touch the network (reachability); only allowed networks are contacted
    #[arg(long)]
    pub online: bool,
    /// Networks checks may connect to (comma-separated CIDRs)
    #[arg(long, env = rolecall::remote::ALLOW_NETS_ENV, value_delimiter = ',', value_name = "CIDR,..")]
    pub allow_nets: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Seconds the whole run may take; a plugin still running then is stopped (an error result)
    #[arg(long, value_name = "SECS", value_parser = super::connect::parse_secs)]
    pub deadline: Option<std::time::Duration>,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The directory SARIF locations are relative to (`uriBaseId` SRCROOT; default: the current
    /// directory), so code scanning can place them in the repository
    #[arg(long, value_name = "DIR")]
    pub sarif_root: Option<std::path::PathBuf>,
}

pub fn run(args: ValidateArgs, plugins: &PluginSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let ValidateArgs {
        deployment: super::DeploymentArgs { config, profile },
        filter: super::PluginFilter { only, skip },
        online,
        allow_nets,
        output,
        deadline,
        connect,
        sarif_root,
    } = args;
    let sinks = output.sinks(true)?;
    let show = output.show(printer);
    let deadline = deadline.map(|d| std::time::Instant::now() + d);
    let root = super::sarif_root(sarif_root)?;
    let d = super::load_or_report(&config, profile, printer, &sinks, &root)?;
    super::warn_empty_roles(&d, printer);
    let allow = super::remote::allow_list(&allow_nets)?;
    let registry = plugins.load(printer);
    let opts = ValidateOptions {
        only,
        skip,
        online,
        allow_nets: allow.nets(),
        fleet: rolecall::run::resolved_fleet_json(&d, &connect.into_reach()?.0),
        deadline,
    };
    let mut results = validate(&d, &registry, opts);
    results.deployment_sha256 = super::digest(&d);
    output.apply_waivers(&d, &mut results, printer)?;
    output.apply_baseline(&mut results)?;
    unknown_plugin_errors("validator", &results, &registry, printer);
    super::output::write(&sinks, printer, |format| match format {
        ReportFormat::Table => checks::table(&results, &d.source, printer, show),
        ReportFormat::Json => checks::json(&results, &d.source),
        ReportFormat::Junit => checks::junit(&results, &d.source),
        ReportFormat::Sarif => checks::sarif(&results, &d.source, &root),
        ReportFormat::Html => rolecall::report::html::page(
            "validate",
            &checks::json_value(&results, &d.source),
            &rolecall::report::html::deployment_json(&d),
        ),
    })?;
    super::show_logs(&results, printer);
    super::nothing_checked(
        rolecall::plugin::PluginKind::Validator,
        &results,
        &registry,
        printer,
    );
    Ok(results.exit())
}

/// `--only`/`--skip` names that match no plugin, and libraries that failed to load, on stderr.
pub fn unknown_plugin_errors(
    kind: &str,
    results: &rolecall::results::Results,
    registry: &rolecall::plugin::Registry,
    printer: &Printer,
) {
    for name in &results.unknown_plugins {
        // A plugin of the other kind: say what it is and which command runs it.
        if let Some(other) = registry.plugins.iter().find(|p| &p.name == name) {
            let command = match other.kind {
                rolecall::plugin::PluginKind::Debugger => "debug",
                _ => "validate",
            };
            printer.error(&format!(
                "`{name}` is a {}, not a {kind}\nhint: run it with `rolecall {command} --only {name}`",
                other.kind
            ));
            continue;
        }
        let known: Vec<&str> = registry.plugins.iter().map(|p| p.name.as_str()).collect();
        let hint = rolecall::deployment::error::did_you_mean(name, known.iter().copied())
            .map(|h| format!("\nhint: {h}"))
            .unwrap_or_default();
        printer.error(&format!("no {kind} named `{name}`{hint}"));
    }
    for p in &results.load_problems {
        printer.error(&format!("plugin not loaded: {p}"));
    }
}
