//! `rolecall merge SHARD.json..`: the JSON results of `--shard I/N` runs, joined into the
//! report of the whole run (same outputs, same exit code).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rolecall::exit::Exit;
use rolecall::report::{debug as render, fanout, Printer};
use rolecall::run::merge::{merge, Merged};

use super::output::{OutputArgs, ReportFormat};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The JSON results of every shard (`debug` or `run` with `--shard I/N --format json`)
    #[arg(required = true, value_name = "SHARD.json")]
    pub files: Vec<PathBuf>,
    /// The deployment file the shards ran on (named in table locations)
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = super::DEFAULT_DEPLOYMENT)]
    pub config: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(args: MergeArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let MergeArgs {
        files,
        config,
        output,
    } = args;
    let sinks = output.sinks(false)?;
    let show = output.show(printer);
    let mut docs = Vec::with_capacity(files.len());
    for f in &files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading `{}`", f.display()))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("`{}` is not JSON", f.display()))?;
        docs.push((f.clone(), doc));
    }
    match merge(&docs).map_err(anyhow::Error::msg)? {
        Merged::Debug(report) => {
            super::output::write(&sinks, printer, |format| match format {
                ReportFormat::Table => render::table(&report, &config, printer, show),
                ReportFormat::Json => render::json(&report, &config),
                ReportFormat::Junit => rolecall::report::checks::junit(&report.results, &config),
                // Refused by `sinks(false)` above.
                ReportFormat::Sarif => String::new(),
            })?;
            Ok(report.exit())
        }
        Merged::Run { command, results } => {
            super::output::write(&sinks, printer, |format| match format {
                ReportFormat::Json => fanout::json(&command, &results, None),
                _ => fanout::table(&command, &results),
            })?;
            Ok(fanout::exit(&results))
        }
    }
}
