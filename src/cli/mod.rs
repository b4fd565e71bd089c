//! Command-line definitions (clap derive). Nothing here leaves this module: each subcommand
//! file turns its args into options for one library call.

mod check;
mod completions;
mod connect;
mod debug;
mod diff;
mod hosts;
mod merge;
mod output;
mod plugin_new;
mod plugins;
mod remote;
mod roles;
mod run;
mod validate;
mod watch;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rolecall::deployment::Profile;
use rolecall::exit::{Exit, EXIT_CODES_HELP};
use rolecall::report::{ColorChoice, Printer};

/// The deployment file used when `-c` is not given.
pub const DEFAULT_DEPLOYMENT: &str = "deploy.yaml";

/// Validate fleet deployment configs before deploy; debug running clusters over SSH.
#[derive(Debug, Parser)]
#[command(name = "rolecall", version, after_help = EXIT_CODES_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// When to colour output (`auto` honours NO_COLOR and colours only terminals)
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
    /// More detail: every result in tables and plugin logs (-v), the commands sent (-vv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less: only failures in tables, only errors and warnings on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Directory to load plugins from (repeatable; searched before ROLECALL_PLUGIN_PATH and the defaults)
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    pub plugin_dirs: Vec<PathBuf>,
    /// Load plugins even from files or directories other users own or can write (a warning is
    /// printed)
    #[arg(long, global = true)]
    pub allow_insecure_plugins: bool,
    /// Most hosts a deployment may define, all ranges together
    #[arg(long, global = true, value_name = "N", env = rolecall::deployment::MAX_HOSTS_ENV,
          default_value_t = rolecall::deployment::DEFAULT_MAX_HOSTS)]
    pub max_hosts: usize,
}

/// Where plugins come from, resolved from the global flags.
#[derive(Debug, Clone)]
pub struct PluginSettings {
    pub dirs: Vec<PathBuf>,
    pub allow_insecure: bool,
}

/// Load the deployment `-c` names; hide its secret-named environment values from all output
/// and print its warnings.
pub fn load_deployment(
    config: &std::path::Path,
    profile: Option<ProfileArg>,
    printer: &Printer,
) -> anyhow::Result<rolecall::deployment::Deployment> {
    let d = rolecall::deployment::load(config, profile.map(Into::into))?;
    announce(&d, printer);
    Ok(d)
}

/// A loaded deployment's values from the environment hidden from output, its warnings shown.
fn announce(d: &rolecall::deployment::Deployment, printer: &Printer) {
    printer.hide(&secret_values(&d.from_env));
    for w in &d.warnings {
        printer.warn(w);
    }
}

/// [`load_deployment`], writing every requested output even when the deployment does not
/// load (a pipeline's JSON, SARIF or JUnit step then reads the reason, at its place, instead
/// of finding no file); the error itself still goes to stderr and the exit code is 2.
/// The SHA-256 of `d`'s file (or inventory directory), recorded in JSON results; `None` when
/// it can no longer be read (it was, a moment ago).
pub fn digest(d: &rolecall::deployment::Deployment) -> Option<String> {
    rolecall::run::shard::digest(&d.source).ok()
}

pub fn load_or_report(
    config: &std::path::Path,
    profile: Option<ProfileArg>,
    printer: &Printer,
    sinks: &[output::Sink],
    sarif_root: &std::path::Path,
) -> anyhow::Result<rolecall::deployment::Deployment> {
    match rolecall::deployment::load(config, profile.map(Into::into)) {
        Ok(d) => {
            announce(&d, printer);
            Ok(d)
        }
        Err(e) => {
            use rolecall::report::checks;
            let f = checks::LoadFailure::from_error(&e, config);
            let machine: Vec<output::Sink> = sinks
                .iter()
                .filter(|s| s.format != output::ReportFormat::Table)
                .cloned()
                .collect();
            output::write(&machine, printer, |format| match format {
                output::ReportFormat::Json => checks::load_failure_json(&f),
                output::ReportFormat::Sarif => checks::load_failure_sarif(&f, sarif_root),
                output::ReportFormat::Junit => checks::load_failure_junit(&f),
                output::ReportFormat::Html => rolecall::report::html::page(
                    "load",
                    &checks::load_failure_value(&f),
                    &serde_json::json!({"source": config.display().to_string()}),
                ),
                output::ReportFormat::Table => String::new(),
            })?;
            Err(e.into())
        }
    }
}

/// The SARIF base directory: `--sarif-root`, else the current directory (absolute).
pub fn sarif_root(given: Option<std::path::PathBuf>) -> anyhow::Result<std::path::PathBuf> {
    let cwd = std::env::current_dir()?;
    Ok(match given {
        Some(p) if p.is_absolute() => p,
        Some(p) => cwd.join(p),
        None => cwd,
    })
}

/// A warning per role with no host (`roles` and `validate`: a role nothing fills is most
/// likely a mistake in the file).
pub fn warn_empty_roles(d: &rolecall::deployment::Deployment, printer: &Printer) {
    for r in d.roles.values().filter(|r| r.hosts.is_empty()) {
        printer.warn(&format!(
            "role `{}` has no hosts",
            rolecall::report::safe::escape(&r.name)
        ));
    }
}

/// The plugin directories searched, in order, for people.
pub fn searched(reg: &rolecall::plugin::Registry) -> Vec<String> {
    reg.searched.iter().map(|p| p.display().to_string()).collect()
}

/// Where rolecall looked for plugins and found none of what it needed, and how to fix it.
pub fn no_plugins_message(reg: &rolecall::plugin::Registry, what: &str) -> String {
    format!(
        "no {what} found; searched: {}\nhint: install the plugin libraries in one of these directories, \
         or point `--plugin-dir` or {} at them",
        searched(reg).join(", "),
        rolecall::plugin::PLUGIN_PATH_ENV
    )
}

/// The environment values worth hiding from everything rolecall prints: those of variables
/// whose names say they hold a secret. (`roles`, which shows the deployment itself, hides every
/// value taken from the environment.)
fn secret_values(from_env: &[(String, String)]) -> Vec<(String, String)> {
    const SECRET: [&str; 7] = ["PASS", "SECRET", "TOKEN", "KEY", "CRED", "AUTH", "PRIVATE"];
    from_env
        .iter()
        .filter(|(name, _)| {
            let upper = name.to_ascii_uppercase();
            SECRET.iter().any(|s| upper.contains(s))
        })
        .cloned()
        .collect()
}

/// Plugin log lines on stderr with `-v` (`-vv` adds debug lines); never with `-q`.
pub fn show_logs(results: &rolecall::results::Results, printer: &Printer) {
    let verbose = printer.verbose();
    for (plugin, level, text) in &results.logs {
        if verbose >= 2 || (verbose == 1 && *level != "debug") {
            let text = rolecall::report::safe::escape(text);
            printer.note(&format!("[{plugin}] {level}: {text}"));
        }
    }
}

/// Say so on stderr when a run checked nothing (its exit code is then 2, never 0).
pub fn nothing_checked(
    kind: rolecall::plugin::PluginKind,
    results: &rolecall::results::Results,
    reg: &rolecall::plugin::Registry,
    printer: &Printer,
) {
    let Some(why) = results.nothing_checked() else {
        return;
    };
    if results.ran.is_empty() && reg.of_kind(kind).next().is_none() {
        printer.error(&no_plugins_message(reg, &format!("{kind} plugin")));
    } else if results.unknown_plugins.is_empty() {
        let why = rolecall::report::safe::escape(&why);
        printer.error(&format!("nothing was checked: {why}"));
    }
}

impl PluginSettings {
    /// Load every plugin, printing the loader's warnings.
    pub fn load(&self, printer: &Printer) -> rolecall::plugin::Registry {
        let env = std::env::var(rolecall::plugin::PLUGIN_PATH_ENV).ok();
        let exe = std::env::current_exe().ok();
        let dirs = rolecall::plugin::dirs::search_path(&self.dirs, env.as_deref(), exe.as_deref());
        let registry = rolecall::plugin::loader::load(&dirs, self.allow_insecure);
        for w in &registry.warnings {
            printer.warn(w);
        }
        registry
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the resolved roles -> hosts (and clusters) of a deployment
    Roles(roles::RolesArgs),
    /// Check the deployment with the validator plugins (offline unless --online)
    Validate(validate::ValidateArgs),
    /// Run the debugger plugins on the deployment's hosts over SSH
    Debug(Box<debug::DebugArgs>),
    /// Validate the deployment, then debug its hosts: one report, one summary, one exit code
    Check(Box<check::CheckArgs>),
    /// Show how each host is reached (address, user, keys, jump hosts, sudo) and where each
    /// value comes from
    Hosts(hosts::HostsArgs),
    /// Run one command on the deployment's hosts; identical answers are grouped
    Run(Box<run::RunArgs>),
    /// What changed between two runs' JSON results: new and updated failures, what was fixed
    /// (exit 1 when something new fails)
    Diff(diff::DiffArgs),
    /// Join the JSON results of `--shard I/N` runs into the report of the whole run
    Merge(merge::MergeArgs),
    /// List the plugins found in the plugin directories, and any that failed to load
    Plugins(plugins::PluginsArgs),
    /// Start a new plugin: `rolecall plugin new NAME --kind validator|debugger [--lang rust|c]`
    #[command(subcommand)]
    Plugin(plugin_new::PluginCommand),
    /// Print a shell completion script (bash, zsh, fish)
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff), or with --dir write one per command (rolecall-debug.1, ...)
    Man(completions::ManArgs),
    /// Completion candidates for the shell scripts (plugin, role and host names)
    #[command(name = "__complete", hide = true)]
    Complete(completions::CompleteArgs),
}

/// Where the deployment comes from; shared by every command that reads one.
#[derive(Debug, Args)]
pub struct DeploymentArgs {
    /// Deployment file (rolecall YAML, a Calyptos environment, or an Ansible inventory file or
    /// directory)
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = DEFAULT_DEPLOYMENT)]
    pub config: PathBuf,
    /// How to read the file; detected from its shape when not given
    #[arg(long, value_enum, value_name = "PROFILE")]
    pub profile: Option<ProfileArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProfileArg {
    Native,
    Eucalyptus,
    Ansible,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Native => Profile::Native,
            ProfileArg::Eucalyptus => Profile::Eucalyptus,
            ProfileArg::Ansible => Profile::Ansible,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// Which plugins a command runs: `--only` and `--skip` (validate, debug, check).
#[derive(Debug, Args)]
pub struct PluginFilter {
    /// Run only these plugins (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "PLUGIN,..")]
    pub only: Vec<String>,
    /// Skip these plugins (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "PLUGIN,..")]
    pub skip: Vec<String>,
}

/// `table` or `json` (commands without JUnit output).
#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum ListFormat {
    #[default]
    Table,
    Json,
}

/// Run the parsed command; errors are reported by the caller with exit code 2.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let Cli { global, command } = cli;
    let GlobalArgs {
        color,
        verbose,
        quiet,
        plugin_dirs,
        allow_insecure_plugins,
        max_hosts,
    } = global;
    rolecall::deployment::set_max_hosts(max_hosts);
    let plugin_settings = PluginSettings {
        dirs: plugin_dirs,
        allow_insecure: allow_insecure_plugins,
    };
    let choice = match color {
        ColorArg::Auto => ColorChoice::Auto,
        ColorArg::Always => ColorChoice::Always,
        ColorArg::Never => ColorChoice::Never,
    };
    let printer = Printer::new(choice, quiet, verbose);
    match command {
        Command::Roles(args) => roles::run(args, &printer),
        Command::Validate(args) => validate::run(args, &plugin_settings, &printer),
        Command::Debug(args) => debug::run(*args, &plugin_settings, &printer),
        Command::Check(args) => check::run(*args, &plugin_settings, &printer),
        Command::Run(args) => run::run(*args, &printer),
        Command::Hosts(args) => hosts::run(args, &printer),
        Command::Merge(args) => merge::run(args, &printer),
        Command::Diff(args) => diff::run(args, &printer),
        Command::Plugins(args) => plugins::run(args, &plugin_settings, &printer),
        Command::Plugin(command) => plugin_new::run(command, &printer),
        Command::Completions(args) => completions::run(args, &printer),
        Command::Man(args) => completions::man(args, &printer),
        Command::Complete(args) => completions::complete(args, &printer),
    }
}
