//! `rolecall run -- COMMAND...`: one command on many hosts, answers grouped.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use rolecall::exit::Exit;
use rolecall::report::{fanout, Printer};

use super::connect::ConnectArgs;
use super::remote::{ExecArgs, SelectArgs, Sending};
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
    /// Send this file (`-` = rolecall's own stdin) to the command's stdin on every host; without
    /// it, the command's stdin is empty
    #[arg(long, value_name = "FILE|-")]
    pub stdin: Option<PathBuf>,
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
        stdin,
        command,
    } = args;
    let command = command.join(" ");
    let d = super::load_deployment(&config, profile, printer)?;
    let hosts = select.hosts(&d, true)?;
    if select.listed(&hosts, printer)? {
        return Ok(Exit::Ok);
    }
    let (reach, ask_become_pass) = connect.into_reach()?;
    let stdin = stdin.as_deref().map(read_stdin).transpose()?;
    let limits = exec.limits()?;
    let executor = super::remote::executor(
        &d,
        &hosts,
        &reach,
        ask_become_pass,
        &exec,
        &limits,
        Sending::Live { stdin },
        printer,
    )?;
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

/// The bytes `--stdin` names: a file, or all of rolecall's stdin for `-`.
fn read_stdin(path: &Path) -> anyhow::Result<Arc<[u8]>> {
    if path == Path::new("-") {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .context("reading rolecall's stdin for `--stdin -`")?;
        return Ok(data.into());
    }
    let data = std::fs::read(path).with_context(|| format!("reading `--stdin` file `{}`", path.display()))?;
    Ok(data.into())
}
