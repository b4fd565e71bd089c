//! The `rolecall` binary: parse arguments, run one command, map the outcome to an exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use rolecall::exit::Exit;
use rolecall::report::{ColorChoice, Printer};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            let mut message = err.to_string();
            for cause in err.chain().skip(1) {
                message.push_str(&format!("\n\nCaused by:\n    {cause}"));
            }
            Printer::new(ColorChoice::Auto, false, 0).error(&message);
            ExitCode::from(Exit::Error.code())
        }
    }
}
