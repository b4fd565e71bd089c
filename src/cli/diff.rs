//! `rolecall diff OLD.json NEW.json`: what changed between two runs' JSON results, without
//! running anything: new and updated failures, and what was fixed. Exit 1 when something new
//! fails, else 0.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rolecall::exit::Exit;
use rolecall::report::safe::escape;
use rolecall::report::Printer;
use rolecall::run::baseline::{self, State};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier run's JSON (`--format json` or `--output json=FILE`)
    #[arg(value_name = "OLD.json")]
    pub old: PathBuf,
    /// The later run's JSON
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,
}

pub fn run(args: DiffArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let old = baseline::read(&args.old).map_err(anyhow::Error::msg)?;
    let new_doc = baseline::read(&args.new).map_err(anyhow::Error::msg)?;
    let new = baseline::results_of(&new_doc).map_err(|e| anyhow::anyhow!("`{}`: {e}", args.new.display()))?;
    // Nothing is green by default: a later run that checked nothing is no "nothing new".
    if new.items.is_empty() {
        anyhow::bail!(
            "`{}` holds no results: that run checked nothing",
            args.new.display()
        );
    }
    let b = baseline::compare(&new, &old).map_err(|e| anyhow::anyhow!("`{}`: {e}", args.old.display()))?;
    let mut text = String::new();
    let line = |r: &rolecall::results::CheckResult| {
        let host = r.host.as_deref().map(|h| format!(" on {h}")).unwrap_or_default();
        escape(&format!("{}/{}{host}: {}", r.plugin, r.check, r.message)).into_owned()
    };
    for (want, label) in [(State::New, "new"), (State::Updated, "updated")] {
        for (r, s) in new.items.iter().zip(&b.states) {
            if *s == Some(want) {
                text.push_str(&format!("{label:<8} {}\n", line(r)));
            }
        }
    }
    for f in &b.fixed {
        let host = f.host.as_deref().map(|h| format!(" on {h}")).unwrap_or_default();
        text.push_str(&format!(
            "{:<8} {}\n",
            "fixed",
            escape(&format!("{}/{}{host}: {}", f.plugin, f.check, f.message))
        ));
    }
    text.push_str(&format!(
        "{} new, {} updated, {} unchanged, {} fixed\n",
        b.count(State::New),
        b.count(State::Updated),
        b.count(State::Unchanged),
        b.fixed.len()
    ));
    printer.out(&text).context("writing to stdout")?;
    Ok(if b.count(State::New) > 0 {
        Exit::ChecksFailed
    } else {
        Exit::Ok
    })
}
