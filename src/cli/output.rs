//! Where a run's results go: `--format` (one output, to stdout) or `--output FORMAT[=FILE]`
//! (several in one run), and how much the table shows (`--show`, `-q`, `-v`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use rolecall::report::{Printer, Show};

#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum ReportFormat {
    #[default]
    Table,
    Json,
    Junit,
    /// SARIF 2.1.0, for code-scanning tools (`validate` only)
    Sarif,
    /// One self-contained HTML page: the run's JSON rendered as a grid of hosts by checks
    Html,
}

impl ReportFormat {
    pub fn name(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Json => "json",
            Self::Junit => "junit",
            Self::Sarif => "sarif",
            Self::Html => "html",
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShowArg {
    /// Errors, failures and warnings in full; passes and skips as one line per plugin
    Problems,
    /// Errors and failures only
    Failed,
    /// Every result (folded across hosts)
    All,
}

/// One output: a format, to a file or to stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    pub format: ReportFormat,
    pub file: Option<PathBuf>,
}

impl Sink {
    /// Whether this output prints a machine-readable document (JSON, JUnit, ...) on stdout,
    /// where no other line may go.
    pub fn document_on_stdout(&self) -> bool {
        self.file.is_none() && self.format != ReportFormat::Table
    }
}

pub fn parse_sink(s: &str) -> Result<Sink, String> {
    let (format, file) = match s.split_once('=') {
        Some((f, path)) if !path.is_empty() => (f, Some(PathBuf::from(path))),
        Some((_, _)) => return Err(format!("`{s}`: no file after `=`")),
        None => (s, None),
    };
    let format = ReportFormat::from_str(format, true).map_err(|_| {
        format!("`{format}` is not an output format: table, json, junit, sarif or html (as FORMAT or FORMAT=FILE)")
    })?;
    Ok(Sink { format, file })
}

/// Which failures fail the run when a baseline is given.
#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum FailOn {
    /// Every failure (the default)
    #[default]
    Any,
    /// Only failures that are new since the baseline
    New,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Compare with a previous run's JSON: each failure is marked new, unchanged or updated,
    /// and what no longer fails is listed as fixed
    #[arg(long, value_name = "PREVIOUS.json")]
    pub baseline: Option<PathBuf>,
    /// With --baseline: `new` fails the run only for new failures
    #[arg(long, value_enum, default_value_t = FailOn::Any, requires = "baseline")]
    pub fail_on: FailOn,
    /// Known failures, as a YAML file with a `waivers:` list (check, hosts, reason, expires),
    /// added to the deployment's own `waivers:`; a waived failure does not fail the run
    #[arg(long, value_name = "FILE")]
    pub waivers: Option<PathBuf>,
    /// Output format, to stdout (one output; see --output for several)
    #[arg(long, value_enum, conflicts_with = "outputs")]
    pub format: Option<ReportFormat>,
    /// An output, FORMAT or FORMAT=FILE (table, json, junit, sarif, html); repeatable:
    /// `--output table --output json=results.json --output html=report.html`
    #[arg(long = "output", short = 'o', value_name = "FORMAT[=FILE]", value_parser = parse_sink)]
    pub outputs: Vec<Sink>,
    /// What the table shows in full: problems (default: errors, failures, warnings; passes as
    /// one line per plugin), failed, or all; -q means failed, -v all
    #[arg(long, value_enum)]
    pub show: Option<ShowArg>,
}

impl OutputArgs {
    /// The outputs of this run; at most one to stdout, and `sarif` only where `sarif_ok`.
    pub fn sinks(&self, sarif_ok: bool) -> anyhow::Result<Vec<Sink>> {
        let sinks = if self.outputs.is_empty() {
            vec![Sink {
                format: self.format.unwrap_or_default(),
                file: None,
            }]
        } else {
            self.outputs.clone()
        };
        if sinks.iter().filter(|s| s.file.is_none()).count() > 1 {
            anyhow::bail!("more than one --output goes to stdout: give all but one a file (FORMAT=FILE)");
        }
        if !sarif_ok && sinks.iter().any(|s| s.format == ReportFormat::Sarif) {
            anyhow::bail!(
                "SARIF is for `validate` (findings in the deployment file); use json or junit here"
            );
        }
        Ok(sinks)
    }

    /// Apply the deployment's waivers and `--waivers FILE` to `results`; each waiver that
    /// covers nothing is a warning naming it. An unreadable or malformed file is an error.
    pub fn apply_waivers(
        &self,
        d: &rolecall::deployment::Deployment,
        results: &mut rolecall::results::Results,
        printer: &Printer,
    ) -> anyhow::Result<()> {
        use rolecall::results::waiver;
        let mut all = d.waivers.clone();
        if let Some(path) = &self.waivers {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct File {
                waivers: Vec<waiver::RawWaiver>,
            }
            let src = rolecall::deployment::source::Source::read(path)
                .map_err(|e| anyhow::anyhow!("`--waivers`: {e}"))?;
            let file: File = src.deserialize().map_err(|e| anyhow::anyhow!("{e}"))?;
            let root = rolecall::deployment::locate::YamlPath::root();
            all.extend(
                rolecall::deployment::native::waivers(&src, &root, file.waivers)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
        }
        for w in waiver::apply(&all, results, waiver::Date::today()) {
            printer.warn(&format!("{} matched no failure or warning", w.describe()));
        }
        Ok(())
    }

    /// Compare `results` with `--baseline`, if given (an unreadable baseline is an error).
    pub fn apply_baseline(&self, results: &mut rolecall::results::Results) -> anyhow::Result<()> {
        let Some(path) = &self.baseline else {
            return Ok(());
        };
        let previous = rolecall::run::baseline::read(path).map_err(anyhow::Error::msg)?;
        let b = rolecall::run::baseline::compare(results, &previous)
            .map_err(|e| anyhow::anyhow!("the baseline `{}`: {e}", path.display()))?;
        results.baseline = Some(b);
        results.fail_on_new_only = self.fail_on == FailOn::New;
        Ok(())
    }

    /// How much the table shows: `--show`, else `-q` = failed, `-v` = all, else problems.
    pub fn show(&self, printer: &Printer) -> Show {
        match self.show {
            Some(ShowArg::Problems) => Show::Problems,
            Some(ShowArg::Failed) => Show::Failed,
            Some(ShowArg::All) => Show::All,
            None if printer.quiet() => Show::Failed,
            None if printer.verbose() >= 1 => Show::All,
            None => Show::Problems,
        }
    }
}

/// Render each sink with `render` and write it: to its file, or to stdout.
pub fn write(
    sinks: &[Sink],
    printer: &Printer,
    mut render: impl FnMut(ReportFormat) -> String,
) -> anyhow::Result<()> {
    for sink in sinks {
        let text = render(sink.format);
        match &sink.file {
            None => printer.out(&text).context("writing to stdout")?,
            Some(path) => {
                // Files never get colour: render tables as if off a terminal.
                std::fs::write(path, printer.plain_text(&text)).with_context(|| {
                    format!(
                        "writing the {} output to `{}`",
                        sink.format.name(),
                        path.display()
                    )
                })?
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks_parse() {
        assert_eq!(
            parse_sink("json=out/r.json"),
            Ok(Sink {
                format: ReportFormat::Json,
                file: Some(PathBuf::from("out/r.json"))
            })
        );
        assert_eq!(parse_sink("TABLE").map(|s| s.format), Ok(ReportFormat::Table));
        assert!(parse_sink("xml").is_err());
        assert!(parse_sink("json=").is_err());
    }
}
