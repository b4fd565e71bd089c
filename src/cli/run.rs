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
    /// Print each host's output as that host finishes, every line prefixed with the host
    /// (`host: line`, stderr lines as `host! line`), instead of grouping identical answers
    #[arg(long, conflicts_with = "format")]
    pub stream: bool,
    /// Also write each host's output to DIR/HOST.stdout and DIR/HOST.stderr (DIR is created)
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Also write the results to a file, FORMAT=FILE: json or html (a self-contained page);
    /// repeatable
    #[arg(long = "output", short = 'o', value_name = "FORMAT=FILE", value_parser = super::output::parse_sink)]
    pub outputs: Vec<super::output::Sink>,
    /// The command, after `--`; its words are joined with spaces and run by the remote shell
    #[arg(last = true, required_unless_present = "list_hosts", value_name = "COMMAND")]
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
        stream,
        output_dir,
        outputs,
        command,
    } = args;
    for o in &outputs {
        use super::output::ReportFormat;
        if o.file.is_none() || !matches!(o.format, ReportFormat::Json | ReportFormat::Html) {
            anyhow::bail!(
                "`run --output` takes json=FILE or html=FILE (the table and --format go to stdout)"
            );
        }
    }
    if let Some(dir) = &output_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating `--output-dir` `{}`", dir.display()))?;
    }
    let command = command.join(" ");
    let d = super::load_deployment(&config, profile, printer)?;
    let hosts = select.hosts(&d, true, printer)?;
    if select.listed(&hosts, printer)? {
        return Ok(Exit::Ok);
    }
    let shard = select.shard_run(&d, command.clone())?;
    let (reach, ask_become_pass) = connect.into_reach()?;
    let stdin = stdin.as_deref().map(read_stdin).transpose()?;
    let limits = exec.limits()?;
    let targets = super::remote::resolve(&d, &hosts, &reach, printer);
    let executor = super::remote::executor(
        &d,
        &targets,
        &reach,
        ask_become_pass,
        &exec,
        &limits,
        Sending::Live { stdin },
        printer,
    )?;
    let (executor, _armed) = super::remote::interruptible(executor)?;
    if printer.verbose() >= 2 {
        let folded = rolecall::deployment::range::fold(hosts.iter().map(String::as_str)).join(",");
        printer.note(&format!("[run] on {folded}: {command}"));
    }
    let progress = printer.progress(Some(hosts.len() as u64), "run");
    let mut failure: Option<anyhow::Error> = None;
    let results = executor.submit(rolecall::remote::Job::new(&command, &hosts), &mut |r| {
        progress.inc(1);
        if stream {
            if let Err(e) = printer.out(&fanout::stream_lines(r)) {
                failure.get_or_insert(anyhow::Error::new(e).context("writing to stdout"));
            }
        }
        if let Some(dir) = &output_dir {
            if let Err(e) = save(dir, r) {
                failure.get_or_insert(e);
            }
        }
    });
    progress.finish();
    if let Some(e) = failure {
        return Err(e);
    }
    let text = match (stream, format) {
        (true, _) => fanout::summary_line(&command, &results),
        (false, ListFormat::Table) => fanout::table(&command, &results),
        (false, ListFormat::Json) => fanout::json(&command, &results, shard.as_ref()),
    };
    printer.out(&text).context("writing to stdout")?;
    if !outputs.is_empty() {
        let doc = fanout::json_value(&command, &results, shard.as_ref());
        let deployment = rolecall::report::html::deployment_json(&d);
        super::output::write(&outputs, printer, |format| match format {
            super::output::ReportFormat::Html => rolecall::report::html::page("run", &doc, &deployment),
            _ => rolecall::report::checks::pretty(&doc),
        })?;
    }
    Ok(fanout::exit(&results))
}

/// `DIR/HOST.stdout` and `DIR/HOST.stderr`, the exact bytes the host sent. The host name is
/// made a file name one-to-one: `%`, `/`, NUL and a leading `.` are written `%25`, `%2F`,
/// `%00`, `%2E` (so `x/y` and `x_y` never share a file, and no name is `.` or `..`).
fn save(dir: &Path, r: &rolecall::remote::HostResult) -> anyhow::Result<()> {
    let name = file_name(&r.host);
    let outputs: [(&str, &[u8]); 2] = [
        ("stdout", r.raw.stdout.as_deref().unwrap_or(r.stdout.as_bytes())),
        ("stderr", r.raw.stderr.as_deref().unwrap_or(r.stderr.as_bytes())),
    ];
    for (ext, bytes) in outputs {
        let path = dir.join(format!("{name}.{ext}"));
        std::fs::write(&path, bytes).with_context(|| format!("writing `{}`", path.display()))?;
    }
    Ok(())
}

/// A host name as a file name, one-to-one (see [`save`]).
fn file_name(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for (i, c) in host.chars().enumerate() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '\0' => out.push_str("%00"),
            '.' if i == 0 => out.push_str("%2E"),
            c => out.push(c),
        }
    }
    out
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
