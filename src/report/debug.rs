//! `debug` output: the per-plugin tables of `validate`, a hosts x plugins overview (hosts with
//! the same row folded into one, `nc[01-04,07]`), then the summary. `--dry-run` lists, per
//! plugin, the commands it would send and to which hosts.

use std::fmt::Write as _;
use std::path::Path;

use colored::Colorize;
use comfy_table::{Cell, Color};
use indexmap::IndexMap;
use rolecall_plugin::Status;
use serde_json::{json, Value};

use super::checks::{self, new_table, status_cell};
use super::printer::Printer;
use crate::deployment::range::fold;
use crate::run::debug::DebugReport;

/// Worst first: what a cell shows when a plugin reported several results for a host.
fn rank(s: Status) -> u8 {
    match s {
        Status::Error => 5,
        Status::Fail => 4,
        Status::Warn => 3,
        Status::Pass => 2,
        Status::Skip => 1,
        _ => 5,
    }
}

/// One overview row: hosts sharing the same worst status per plugin and connection state.
struct Row<'a> {
    statuses: Vec<Option<Status>>,
    conn: Option<String>,
    hosts: Vec<&'a str>,
}

/// Per host, per plugin, the worst status reported; hosts with equal rows folded together.
fn overview(report: &DebugReport) -> Vec<Row<'_>> {
    let plugins: Vec<&str> = report.results.ran.iter().map(|(n, _)| n.as_str()).collect();
    let mut cells: IndexMap<&str, Vec<Option<Status>>> = report
        .hosts
        .iter()
        .map(|h| (h.as_str(), vec![None; plugins.len()]))
        .collect();
    for r in &report.results.items {
        let (Some(host), Some(col)) = (&r.host, plugins.iter().position(|p| *p == r.plugin)) else {
            continue;
        };
        if let Some(row) = cells.get_mut(host.as_str()) {
            let cell = &mut row[col];
            if cell.is_none_or(|c| rank(r.status) > rank(c)) {
                *cell = Some(r.status);
            }
        }
    }
    // Fold hosts whose whole row (and connection state) is the same.
    let mut rows: Vec<Row<'_>> = Vec::new();
    for (host, statuses) in cells {
        let conn = report
            .results
            .unreached
            .get(host)
            .map(|why| why.split(':').next().unwrap_or(why).to_string());
        match rows.iter_mut().find(|r| r.statuses == statuses && r.conn == conn) {
            Some(r) => r.hosts.push(host),
            None => rows.push(Row {
                statuses,
                conn,
                hosts: vec![host],
            }),
        }
    }
    rows
}

/// The table form.
pub fn table(report: &DebugReport, source: &Path, printer: &Printer) -> String {
    if report.dry_run {
        return dry_run(report, printer);
    }
    let results = &report.results;
    let mut out = checks::table_blocks(results, source, printer);
    if !report.hosts.is_empty() && !results.ran.is_empty() {
        let _ = writeln!(out, "{}", "hosts x plugins".bold());
        let mut header: Vec<&str> = vec!["Hosts"];
        header.extend(results.ran.iter().map(|(n, _)| n.as_str()));
        header.push("Connection");
        let mut t = new_table(printer, &header);
        for Row {
            statuses,
            conn,
            hosts,
        } in overview(report)
        {
            let mut cells = vec![Cell::new(fold(hosts.iter().copied()).join(","))];
            cells.extend(statuses.into_iter().map(|s| match s {
                Some(s) => status_cell(s),
                None => Cell::new("-").fg(Color::DarkGrey),
            }));
            cells.push(match conn {
                Some(c) => Cell::new(c).fg(Color::Magenta),
                None => Cell::new("ok").fg(Color::Green),
            });
            t.add_row(cells);
        }
        let _ = writeln!(out, "{t}\n");
    }
    out.push_str(&checks::table_summary(results, printer));
    out
}

fn dry_run(report: &DebugReport, printer: &Printer) -> String {
    let mut out = String::new();
    let mut commands = 0;
    for (plugin, sent) in &report.sent {
        let _ = writeln!(out, "{}", plugin.bold());
        if sent.is_empty() {
            let _ = writeln!(out, "  (no commands)\n");
            continue;
        }
        let mut t = new_table(printer, &["Command", "Hosts"]);
        for s in sent {
            commands += 1;
            t.add_row(vec![
                Cell::new(&s.command),
                Cell::new(fold(s.hosts.iter().map(String::as_str)).join(",")),
            ]);
        }
        let _ = writeln!(out, "{t}\n");
    }
    let n = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let _ = writeln!(
        out,
        "dry run: {} from {} for {}; nothing was sent",
        n(commands, "command"),
        n(report.sent.len(), "plugin"),
        n(report.hosts.len(), "host")
    );
    out
}

/// The JSON form: `validate`'s document plus `hosts`, `commands` and `dry_run`.
pub fn json(report: &DebugReport, source: &Path) -> String {
    let mut doc = checks::json_value(&report.results, source);
    if let Value::Object(map) = &mut doc {
        map.insert("dry_run".into(), json!(report.dry_run));
        map.insert("hosts".into(), json!(report.hosts));
        let commands: serde_json::Map<String, Value> = report
            .sent
            .iter()
            .map(|(p, sent)| {
                let list: Vec<Value> = sent
                    .iter()
                    .map(|s| json!({"command": s.command, "hosts": s.hosts}))
                    .collect();
                (p.clone(), Value::Array(list))
            })
            .collect();
        map.insert("commands".into(), Value::Object(commands));
    }
    checks::pretty(&doc)
}
