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
use super::{safe, Show};
use crate::deployment::range::fold;
use crate::results::DebugReport;

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

/// A host's connection column: "ok" only for a host a session was really opened to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Connection {
    Ok,
    /// Why the host could not be worked on (the reason's first part).
    Failed(String),
    /// No command was sent to it (no plugin asked, or the run ended first).
    NotContacted,
}

/// One overview row: hosts sharing the same worst status per plugin and connection state.
struct Row<'a> {
    statuses: Vec<Option<Status>>,
    conn: Connection,
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
        let conn = match report.results.unreached.get(host) {
            Some(why) => Connection::Failed(why.split(':').next().unwrap_or(why).to_string()),
            None if report.reached.contains(host) => Connection::Ok,
            None => Connection::NotContacted,
        };
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
pub fn table(report: &DebugReport, source: &Path, printer: &Printer, show: Show) -> String {
    if report.dry_run {
        return dry_run(report, printer);
    }
    let results = &report.results;
    let mut out = checks::table_blocks(results, source, printer, show);
    let reported = results.items.iter().any(|r| r.host.is_some());
    if !report.hosts.is_empty() && reported {
        out.push_str(&overview_table(report, printer));
    }
    out.push_str(&checks::table_summary(results, printer, show));
    out
}

fn status_or_dash(s: Option<Status>) -> Cell {
    match s {
        Some(s) => status_cell(s),
        None => Cell::new("-").fg(Color::DarkGrey),
    }
}

fn connection_cell(conn: &Connection) -> Cell {
    match conn {
        Connection::Failed(c) => Cell::new(safe::cell(c, safe::MAX_CELL)).fg(Color::Magenta),
        Connection::Ok => Cell::new("ok").fg(Color::Green),
        Connection::NotContacted => Cell::new("not contacted").fg(Color::DarkGrey),
    }
}

/// Hosts x plugins, laid out with whichever of the two has fewer entries as the columns, so
/// 20 plugins over 4 kinds of host stay as narrow as 4 plugins over 20.
fn overview_table(report: &DebugReport, printer: &Printer) -> String {
    let all_plugins: Vec<&str> = report.results.ran.iter().map(|(n, _)| n.as_str()).collect();
    let mut rows = overview(report);
    // Plugins that reported on no host at all have no column (or row) here.
    let keep: Vec<usize> = (0..all_plugins.len())
        .filter(|&i| rows.iter().any(|r| r.statuses[i].is_some()))
        .collect();
    let plugins: Vec<&str> = keep.iter().map(|&i| all_plugins[i]).collect();
    for r in &mut rows {
        r.statuses = keep.iter().map(|&i| r.statuses[i]).collect();
    }
    let groups: Vec<String> = rows
        .iter()
        .map(|r| safe::cell(&super::fold::hosts_cell(r.hosts.iter().copied()), safe::MAX_CELL))
        .collect();
    if rows.len() >= plugins.len() {
        let mut header: Vec<&str> = vec!["Hosts"];
        header.extend(&plugins);
        header.push("Connection");
        let mut t = new_table(printer, &header);
        for (row, hosts) in rows.iter().zip(&groups) {
            let mut cells = vec![Cell::new(hosts)];
            cells.extend(row.statuses.iter().map(|s| status_or_dash(*s)));
            cells.push(connection_cell(&row.conn));
            t.add_row(cells);
        }
        return format!("{}\n{t}\n\n", "hosts x plugins".bold());
    }
    let mut header: Vec<&str> = vec!["Plugin"];
    header.extend(groups.iter().map(String::as_str));
    let mut t = new_table(printer, &header);
    for (i, plugin) in plugins.iter().enumerate() {
        let mut cells = vec![Cell::new(safe::cell(plugin, safe::MAX_CELL))];
        cells.extend(rows.iter().map(|r| status_or_dash(r.statuses[i])));
        t.add_row(cells);
    }
    let mut conn = vec![Cell::new("Connection")];
    conn.extend(rows.iter().map(|r| connection_cell(&r.conn)));
    t.add_row(conn);
    format!("{}\n{t}\n\n", "plugins x hosts".bold())
}

fn dry_run(report: &DebugReport, printer: &Printer) -> String {
    let mut out = String::new();
    let mut commands = 0;
    for (plugin, sent) in &report.sent {
        let _ = writeln!(out, "{}", safe::escape(plugin).bold());
        if sent.is_empty() {
            let _ = writeln!(out, "  (no commands)\n");
            continue;
        }
        let mut t = new_table(printer, &["Command", "Hosts"]);
        for s in sent {
            commands += 1;
            t.add_row(vec![
                Cell::new(safe::cell(&s.command, safe::MAX_CELL)),
                Cell::new(safe::cell(
                    &fold(s.hosts.iter().map(String::as_str)).join(","),
                    safe::MAX_CELL,
                )),
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
    checks::pretty(&json_value(report, source))
}

/// The document of [`json()`] (the HTML report embeds it).
pub fn json_value(report: &DebugReport, source: &Path) -> Value {
    let mut doc = checks::json_value(&report.results, source);
    if let Value::Object(map) = &mut doc {
        map.insert("dry_run".into(), json!(report.dry_run));
        if let Some(summary) = map.get_mut("summary").and_then(Value::as_object_mut) {
            summary.insert("exit_code".into(), json!(report.exit().code()));
        }
        map.insert("hosts".into(), json!(report.hosts));
        map.insert("reached".into(), json!(report.reached));
        if !report.dry_run {
            map.insert("unchecked".into(), json!(report.unchecked()));
        }
        if let Some(shard) = &report.shard {
            map.insert("shard".into(), shard.json());
        }
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
    doc
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::results::CheckResult;

    fn report(plugins: &[&str], hosts: &[&str]) -> DebugReport {
        let mut r = DebugReport {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            reached: hosts.iter().map(|h| h.to_string()).collect(),
            ..DebugReport::default()
        };
        for (i, p) in plugins.iter().enumerate() {
            r.results.ran.push((p.to_string(), Duration::ZERO));
            for (j, h) in hosts.iter().enumerate() {
                let status = if (i + j) % 2 == 0 {
                    Status::Pass
                } else {
                    Status::Fail
                };
                r.results
                    .items
                    .push(CheckResult::sample(p, "c", status, Some(h), ""));
            }
        }
        r
    }

    #[test]
    fn overview_puts_the_shorter_list_in_columns() {
        colored::control::set_override(false);
        let printer = Printer::plain();
        let many_plugins = overview_table(&report(&["a", "b", "c"], &["h1", "h2"]), &printer);
        assert!(many_plugins.starts_with("plugins x hosts"), "{many_plugins}");
        assert!(many_plugins.contains("│ Connection ┆ ok"), "{many_plugins}");
        let many_hosts = overview_table(&report(&["a"], &["h1", "h2", "h3"]), &printer);
        assert!(many_hosts.starts_with("hosts x plugins"), "{many_hosts}");
        // h1 and h3 share a row (PASS): folded into one line.
        assert!(
            many_hosts.contains("h1,h3") || many_hosts.contains("h[1,3]"),
            "{many_hosts}"
        );
    }

    /// Regression: a host no command reached showed "ok" in the connection column.
    #[test]
    fn connection_is_ok_only_where_a_session_was_opened() {
        colored::control::set_override(false);
        let printer = Printer::plain();
        let mut r = report(&["a"], &["h1", "h2", "h3"]);
        r.reached.shift_remove("h2");
        r.reached.shift_remove("h3");
        r.results
            .unreached
            .insert("h3".into(), "unreachable: refused".into());
        let t = overview_table(&r, &printer);
        let line = |h: &str| t.lines().find(|l| l.contains(h)).unwrap_or_default().to_string();
        assert!(line("h1").contains("┆ ok "), "{t}");
        assert!(line("h2").contains("not contacted"), "{t}");
        assert!(line("h3").contains("unreachable"), "{t}");
    }
}
