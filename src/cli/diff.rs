//! `rolecall diff OLD.json NEW.json`: what changed between two runs' JSON results, without
//! running anything: new and updated failures, and what was fixed. Exit 1 when something new
//! fails, else 0.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rolecall::exit::Exit;
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
    for line in baseline::change_lines(&new, &b) {
        text.push_str(&line);
        text.push('\n');
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
