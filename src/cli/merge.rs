//! `rolecall merge FILE.json..`: the JSON results of `--shard I/N` runs, joined into the
//! report of the whole run (same outputs, same exit code); or a `validate` result with the
//! `debug` result (or shards) of the same deployment, joined as `rolecall check` reports.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rolecall::exit::Exit;
use rolecall::report::{debug as render, fanout, Printer};
use rolecall::run::merge::{merge, Merged, MAX_SHARD_BYTES};

use super::output::{OutputArgs, ReportFormat};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The JSON results of every shard (`debug` or `run` with `--shard I/N --format json`);
    /// or a `validate` result and the `debug` result (or its shards) of the same deployment
    #[arg(required = true, value_name = "FILE.json")]
    pub files: Vec<PathBuf>,
    /// The deployment the results are of: its SHA-256 must be the one they record, and their
    /// hosts its hosts (also named in table locations)
    #[command(flatten)]
    pub deployment: super::DeploymentArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// A shard's JSON, refused past [`MAX_SHARD_BYTES`] before it is read into memory.
fn read_capped(f: &std::path::Path) -> anyhow::Result<String> {
    match rolecall::text::read_capped(f, MAX_SHARD_BYTES)
        .with_context(|| format!("reading `{}`", f.display()))?
    {
        Some(text) => Ok(text),
        None => anyhow::bail!(
            "`{}` is over the {MAX_SHARD_BYTES}-byte limit for a shard's result",
            f.display()
        ),
    }
}

pub fn run(args: MergeArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let MergeArgs {
        files,
        deployment: super::DeploymentArgs { config, profile },
        output,
    } = args;
    let sinks = output.sinks(false)?;
    let show = output.show(printer);
    let d = super::load_deployment(&config, profile, printer)?;
    let digest = rolecall::run::shard::digest(&d.source)
        .with_context(|| format!("reading `{}`", d.source.display()))?;
    let mut docs = Vec::with_capacity(files.len());
    for f in &files {
        let text = read_capped(f)?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("`{}` is not JSON", f.display()))?;
        docs.push((f.clone(), doc));
    }
    let (merged, warnings) = merge(&docs, &d, &digest).map_err(anyhow::Error::msg)?;
    for w in warnings {
        printer.warn(&w);
    }
    match merged {
        Merged::Debug(mut report) => {
            let hosts = report.hosts.clone();
            report.results.explain(&d, &hosts);
            super::output::write(&sinks, printer, |format| match format {
                ReportFormat::Table => render::table(&report, &config, printer, show),
                ReportFormat::Json => render::json(&report, &config),
                ReportFormat::Junit => rolecall::report::checks::junit(&report.results, &config),
                ReportFormat::Html => rolecall::report::html::page(
                    "merge",
                    &render::json_value(&report, &config),
                    &rolecall::report::html::deployment_json(&d),
                ),
                // Refused by `sinks(false)` above.
                ReportFormat::Sarif => String::new(),
            })?;
            Ok(report.exit())
        }
        Merged::Run { command, results } => {
            super::output::write(&sinks, printer, |format| match format {
                ReportFormat::Json => fanout::json(&command, &results, None),
                ReportFormat::Html => rolecall::report::html::page(
                    "merge",
                    &fanout::json_value(&command, &results, None),
                    &rolecall::report::html::deployment_json(&d),
                ),
                _ => fanout::table(&command, &results),
            })?;
            Ok(fanout::exit(&results))
        }
    }
}
