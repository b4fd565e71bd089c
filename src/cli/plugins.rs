//! `rolecall plugins`: what the plugin directories hold.

use anyhow::Context;
use clap::Args;
use comfy_table::{presets, Cell, ContentArrangement, Table};
use rolecall::exit::Exit;
use rolecall::report::Printer;
use serde_json::json;

use super::{ListFormat, PluginSettings};

#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

pub fn run(args: PluginsArgs, settings: &PluginSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let PluginsArgs { format } = args;
    let reg = settings.load(printer);
    let text = match format {
        ListFormat::Json => {
            let plugins: Vec<_> = reg
                .plugins
                .iter()
                .map(|p| {
                    json!({"name": p.name, "kind": p.kind.to_string(), "description": p.description,
                           "module": p.module, "version": p.version, "library": p.library.display().to_string()})
                })
                .collect();
            let problems: Vec<_> = reg
                .problems
                .iter()
                .map(|p| json!({"file": p.file.display().to_string(), "reason": p.reason}))
                .collect();
            let searched = super::searched(&reg);
            let mut s = serde_json::to_string_pretty(
                &json!({"plugins": plugins, "load_errors": problems, "searched": searched}),
            )?;
            s.push('\n');
            s
        }
        ListFormat::Table => {
            let mut t = Table::new();
            t.load_preset(presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(["Kind", "Name", "Description", "Version", "Library"]);
            if !printer.color() {
                t.force_no_tty();
            }
            for p in &reg.plugins {
                t.add_row(vec![
                    Cell::new(p.kind),
                    Cell::new(&p.name),
                    Cell::new(&p.description),
                    Cell::new(format!("{} {}", p.module, p.version)),
                    Cell::new(p.library.display()),
                ]);
            }
            let mut s = t.to_string();
            s.push('\n');
            for p in &reg.problems {
                s.push_str(&format!("failed to load {p}\n"));
            }
            s
        }
    };
    printer.out(&text).context("writing to stdout")?;
    if printer.verbose() > 0 {
        printer.note(&format!("searched: {}", super::searched(&reg).join(", ")));
    }
    if reg.plugins.is_empty() {
        printer.error(&super::no_plugins_message(&reg, "plugins"));
        return Ok(Exit::Error);
    }
    Ok(if reg.problems.is_empty() {
        Exit::Ok
    } else {
        Exit::Error
    })
}
