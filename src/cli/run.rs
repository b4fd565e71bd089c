//! `rolecall run -- COMMAND...`: one command on many hosts, answers grouped.

use anyhow::Context;
use clap::Args;
use rolecall::deployment;
use rolecall::exit::Exit;
use rolecall::report::{fanout, Printer};

use super::connect::ConnectArgs;
use super::remote::{ExecArgs, SelectArgs};
use super::{DeploymentArgs, ListFormat};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Output format: grouped text, or JSON with one object per host
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    #[command(flatten)]
    pub exec: ExecArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The command, after `--`; its words are joined with spaces and run by the remote shell
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub fn run(args: RunArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let RunArgs {
        deployment: super::DeploymentArgs { config, profile },
        select,
        format,
        exec,
        connect,
        command,
    } = args;
    let command = command.join(" ");
    let d = deployment::load(&config, profile.map(Into::into))?;
    let hosts = rolecall::run::select(&d, &select.roles, &select.limit).map_err(anyhow::Error::msg)?;
    let flags = connect.into_settings();
    let executor = super::remote::executor(&d, &hosts, &flags, &exec, &exec.limits()?, false, printer)?;
    let progress = printer.progress(Some(hosts.len() as u64), "run");
    let results = executor.run_each(&command, &hosts, &mut |_| progress.inc(1));
    progress.finish();
    let text = match format {
        ListFormat::Table => fanout::table(&command, &results),
        ListFormat::Json => fanout::json(&command, &results),
    };
    printer.out(&text).context("writing to stdout")?;
    Ok(fanout::exit(&results))
}
