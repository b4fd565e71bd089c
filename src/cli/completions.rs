//! `rolecall completions SHELL` and `rolecall man`: what an installed tool offers its shell and
//! `man`, generated from the clap definitions so they never drift from the real flags.

use anyhow::Context;
use clap::{Args, CommandFactory, ValueEnum};
use rolecall::exit::Exit;
use rolecall::report::Printer;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Print the completion script for `shell` (`rolecall completions bash > /etc/bash_completion.d/rolecall`).
pub fn run(args: CompletionsArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let CompletionsArgs { shell } = args;
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut super::Cli::command(), "rolecall", &mut out);
    printer
        .out(&String::from_utf8_lossy(&out))
        .context("writing to stdout")?;
    Ok(Exit::Ok)
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write every page into DIR: rolecall.1 and one per command (rolecall-debug.1,
    /// rolecall-plugin-new.1, ...), as the top page refers to them
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// Print the man page, roff (`rolecall man > rolecall.1`), or write them all (`--dir`).
pub fn man(args: ManArgs, printer: &Printer) -> anyhow::Result<Exit> {
    if let Some(dir) = args.dir {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating `{}`", dir.display()))?;
        clap_mangen::generate_to(super::Cli::command(), &dir)
            .with_context(|| format!("writing the man pages into `{}`", dir.display()))?;
        return Ok(Exit::Ok);
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(super::Cli::command())
        .render(&mut out)
        .context("rendering the man page")?;
    printer
        .out(&String::from_utf8_lossy(&out))
        .context("writing to stdout")?;
    Ok(Exit::Ok)
}
