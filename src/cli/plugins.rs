//! `rolecall plugins`: what the plugin directories hold.

use anyhow::Context;
use clap::Args;
use comfy_table::{presets, Cell, ContentArrangement, Table};
use rolecall::exit::Exit;
use rolecall::report::safe::{cell, escape, MAX_CELL};
use rolecall::report::Printer;
use serde_json::json;

use super::{ListFormat, PluginSettings};

#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// List the `expect` keys the plugins declare they read, instead of the plugins
    #[arg(long)]
    pub expect: bool,
}

pub fn run(args: PluginsArgs, settings: &PluginSettings, printer: &Printer) -> anyhow::Result<Exit> {
    let PluginsArgs { format, expect } = args;
    let reg = settings.load(printer);
    let text = match format {
        _ if expect => expect_keys(&reg, format, printer)?,
        ListFormat::Json => {
            let plugins: Vec<_> = reg
                .plugins
                .iter()
                .map(|p| {
                    json!({"name": p.name, "kind": p.kind.to_string(), "description": p.description,
                           "module": p.module, "version": p.version, "library": p.library.display().to_string(),
                           "expect": p.expect})
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
                    Cell::new(cell(&p.name, MAX_CELL)),
                    Cell::new(cell(&p.description, MAX_CELL)),
                    Cell::new(cell(&format!("{} {}", p.module, p.version), MAX_CELL)),
                    Cell::new(cell(&p.library.display().to_string(), MAX_CELL)),
                ]);
            }
            let mut s = t.to_string();
            s.push('\n');
            for p in &reg.problems {
                s.push_str(&format!("failed to load {}\n", escape(&p.to_string())));
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

/// `plugins --expect`: every declared `expect` key, with its type, plugin and meaning.
fn expect_keys(
    reg: &rolecall::plugin::Registry,
    format: ListFormat,
    printer: &Printer,
) -> anyhow::Result<String> {
    let keys: Vec<&rolecall_plugin::ExpectKey> = reg.plugins.iter().flat_map(|p| &p.expect).collect();
    Ok(match format {
        ListFormat::Json => {
            let mut s = serde_json::to_string_pretty(&json!({ "expect_keys": keys }))?;
            s.push('\n');
            s
        }
        ListFormat::Table => {
            let mut t = Table::new();
            t.load_preset(presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(["Key", "Type", "Plugin", "Description"]);
            if !printer.color() {
                t.force_no_tty();
            }
            for k in &keys {
                t.add_row(vec![
                    Cell::new(cell(&k.key, MAX_CELL)),
                    Cell::new(cell(&k.kind, MAX_CELL)),
                    Cell::new(cell(&k.plugin, MAX_CELL)),
                    Cell::new(cell(&k.description, MAX_CELL)),
                ]);
            }
            let mut s = t.to_string();
            s.push('\n');
            if keys.is_empty() {
                s = "no loaded plugin declares `expect` keys\n".into();
            }
            s
        }
    })
}
