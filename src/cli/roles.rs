//! `rolecall roles`: resolved roles -> hosts.

use anyhow::Context;
use clap::Args;
use rolecall::exit::Exit;
use rolecall::report::{roles, Printer};

use super::connect::ConnectArgs;
use super::{DeploymentArgs, ListFormat};

#[derive(Debug, Args)]
pub struct RolesArgs {
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn run(args: RolesArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let RolesArgs {
        deployment: DeploymentArgs { config, profile },
        format,
        connect,
    } = args;
    let d = super::load_deployment(&config, profile, printer)?;
    super::warn_empty_roles(&d, printer);
    // The deployment itself is shown: every value taken from the environment by name.
    printer.hide(&d.from_env);
    let (reach, _) = connect.into_reach()?;
    let text = match format {
        ListFormat::Table => roles::table(&d, printer),
        ListFormat::Json => roles::json(&d, &reach),
    };
    printer.out(&text).context("writing to stdout")?;
    if matches!(format, ListFormat::Table) {
        printer.note(&roles::summary(&d));
    }
    Ok(Exit::Ok)
}
