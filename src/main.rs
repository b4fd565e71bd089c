//! The `rolecall` binary: parse arguments, run one command, map the outcome to an exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use rolecall::exit::Exit;
use rolecall::report::{ColorChoice, Printer};

fn main() -> ExitCode {
    // Re-executed to host one plugin library (see rolecall::plugin::host): no CLI at all.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == rolecall::plugin::wire::PLUGIN_HOST_ARG)
    {
        return rolecall::plugin::host::serve();
    }
    // The testing kit asks for the input a plugin would get (rolecall_plugin::testing).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == rolecall::run::PLUGIN_INPUT_ARG)
    {
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(2).collect();
        return match rolecall::run::plugin_input(&args) {
            Ok(json) => {
                let printer = Printer::new(ColorChoice::Never, false, 0);
                match printer.out(&format!("{json}\n")) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(_) => ExitCode::from(Exit::Error.code()),
                }
            }
            Err(why) => {
                Printer::new(ColorChoice::Auto, false, 0).error(&why);
                ExitCode::from(Exit::Error.code())
            }
        };
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
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

/// A usage error as clap renders it, with a hint where a habit from `ansible` or `pssh` is
/// the likely cause: the remote command of `run` given without `--`.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let is_run = args.first().is_some_and(|a| a == "run");
    let has_dashdash = args.iter().any(|a| a == "--");
    let hint = matches!(
        e.kind(),
        ErrorKind::UnknownArgument | ErrorKind::MissingRequiredArgument
    ) && is_run
        && !has_dashdash;
    if !hint || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let rendered = e.render().to_string();
    let text = format!(
        "{}\nhint: the remote command goes after `--`: rolecall run [OPTIONS] [PATTERN] -- COMMAND \
         (for example `rolecall run web -- uptime`)\n",
        rendered.trim_end()
    );
    let printer = Printer::new(ColorChoice::Never, false, 0);
    let _ = printer.err_raw(&text);
    ExitCode::from(Exit::Error.code())
}
