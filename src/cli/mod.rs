//! Command-line definitions (clap derive). Nothing here leaves this module: each subcommand
//! file turns its args into options for one library call.

mod connect;
mod roles;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rolecall::deployment::Profile;
use rolecall::exit::{Exit, EXIT_CODES_HELP};
use rolecall::report::{ColorChoice, Format, Printer};

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
    /// More detail on stderr (repeatable)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors and warnings on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the resolved roles -> hosts (and clusters) of a deployment
    Roles(roles::RolesArgs),
}

/// Where the deployment comes from; shared by every command that reads one.
#[derive(Debug, Args)]
pub struct DeploymentArgs {
    /// Deployment file (rolecall YAML or a Calyptos environment)
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
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Native => Profile::Native,
            ProfileArg::Eucalyptus => Profile::Eucalyptus,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// `table` or `json` (commands without JUnit output).
#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum ListFormat {
    #[default]
    Table,
    Json,
}

impl From<ListFormat> for Format {
    fn from(f: ListFormat) -> Self {
        match f {
            ListFormat::Table => Format::Table,
            ListFormat::Json => Format::Json,
        }
    }
}

/// Run the parsed command; errors are reported by the caller with exit code 2.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let Cli { global, command } = cli;
    let GlobalArgs {
        color,
        verbose,
        quiet,
    } = global;
    let choice = match color {
        ColorArg::Auto => ColorChoice::Auto,
        ColorArg::Always => ColorChoice::Always,
        ColorArg::Never => ColorChoice::Never,
    };
    let printer = Printer::new(choice, quiet, verbose);
    match command {
        Command::Roles(args) => roles::run(args, &printer),
    }
}
