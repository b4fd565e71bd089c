//! The renderers of [`crate::results`]: table, JSON, JUnit.

use std::fmt::Write as _;
use std::path::Path;

use colored::Colorize;
use comfy_table::{presets, Cell, CellAlignment, Color, ContentArrangement, Table};
use indexmap::IndexMap;
use rolecall_plugin::Status;
use serde_json::{json, Value};

use crate::results::{CheckResult, Counts, Results};

use super::printer::Printer;
use super::safe;

pub(crate) fn status_cell(s: Status) -> Cell {
    let c = Cell::new(s.as_str().to_uppercase());
    match s {
        Status::Pass => c.fg(Color::Green),
        Status::Fail => c.fg(Color::Red),
        Status::Warn => c.fg(Color::Yellow),
        Status::Skip => c.fg(Color::DarkGrey),
        _ => c.fg(Color::Magenta),
    }
}

fn where_(r: &CheckResult, source: &Path) -> String {
    match (&r.path, r.position) {
        (Some(p), Some(pos)) => format!("{}:{}:{} ({p})", source.display(), pos.line, pos.column),
        (Some(p), None) => p.clone(),
        _ => String::new(),
    }
}

/// Per-plugin blocks, then a summary table and an overall line.
pub fn table(results: &Results, source: &Path, printer: &Printer) -> String {
    let mut out = table_blocks(results, source, printer);
    out.push_str(&table_summary(results, printer));
    out
}

/// A table per plugin, then load problems and hosts not reached.
pub fn table_blocks(results: &Results, source: &Path, printer: &Printer) -> String {
    let mut out = String::new();
    let mut by_plugin: IndexMap<&str, Vec<&CheckResult>> = IndexMap::new();
    for r in &results.items {
        by_plugin.entry(r.plugin.as_str()).or_default().push(r);
    }
    for (plugin, items) in &by_plugin {
        let _ = writeln!(out, "{}", plugin.bold());
        let mut t = new_table(printer, &["Check", "Host", "Status", "Message", "Where"]);
        for r in items {
            t.add_row(vec![
                Cell::new(safe::cell(&r.check, safe::MAX_CELL)),
                Cell::new(safe::cell(r.host.as_deref().unwrap_or(""), safe::MAX_CELL)),
                status_cell(r.status),
                Cell::new(safe::cell(&r.message, safe::MAX_CELL)),
                Cell::new(where_(r, source)),
            ]);
        }
        let _ = writeln!(out, "{t}\n");
    }
    if !results.load_problems.is_empty() {
        let _ = writeln!(out, "{}", "plugins that failed to load".bold());
        let mut t = new_table(printer, &["Library", "Problem"]);
        for p in &results.load_problems {
            t.add_row(vec![
                Cell::new(p.file.display()),
                Cell::new(safe::cell(&p.reason, safe::MAX_CELL)).fg(Color::Magenta),
            ]);
        }
        let _ = writeln!(out, "{t}\n");
    }
    if !results.unreached.is_empty() {
        let _ = writeln!(out, "{}", "hosts not reached".bold());
        let mut t = new_table(printer, &["Host", "Why"]);
        for (host, why) in &results.unreached {
            t.add_row(vec![
                Cell::new(safe::escape(host)),
                Cell::new(safe::cell(why, safe::MAX_CELL)).fg(Color::Magenta),
            ]);
        }
        let _ = writeln!(out, "{t}\n");
    }
    out
}

/// Counts per plugin and the overall line.
pub fn table_summary(results: &Results, printer: &Printer) -> String {
    let mut out = String::new();
    let (per, all) = results.counts();
    let mut t = new_table(printer, &["Plugin", "Pass", "Fail", "Warn", "Skip", "Error"]);
    for (name, c) in &per {
        let num = |n: usize| Cell::new(n).set_alignment(CellAlignment::Right);
        t.add_row(vec![
            Cell::new(name),
            num(c.pass),
            num(c.fail),
            num(c.warn),
            num(c.skip),
            num(c.error),
        ]);
    }
    let _ = writeln!(out, "{t}");
    let _ = writeln!(out, "{}", overall(results, &all));
    out
}

fn overall(results: &Results, all: &Counts) -> String {
    let mut s = format!(
        "{} checks from {} plugin{}: {} passed, {} failed, {} warnings, {} skipped, {} errors",
        all.total(),
        results.ran.len(),
        if results.ran.len() == 1 { "" } else { "s" },
        all.pass,
        all.fail,
        all.warn,
        all.skip,
        all.error
    );
    if !results.load_problems.is_empty() {
        let _ = write!(
            s,
            "; {} plugin libraries failed to load",
            results.load_problems.len()
        );
    }
    if !results.unreached.is_empty() {
        let n = results.unreached.len();
        let _ = write!(s, "; {n} host{} not reached", if n == 1 { "" } else { "s" });
    }
    s
}

/// `{"results": [...], "summary": {...}, "load_errors": [...], "unreached": [...]}`.
pub fn json(results: &Results, source: &Path) -> String {
    pretty(&json_value(results, source))
}

/// Pretty JSON with a final newline.
pub(crate) fn pretty(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}

/// The JSON document of [`json()`], to extend.
pub fn json_value(results: &Results, source: &Path) -> Value {
    let items: Vec<Value> = results
        .items
        .iter()
        .map(|r| {
            json!({
                "plugin": r.plugin,
                "check": r.check,
                "status": r.status.as_str(),
                "host": r.host,
                "message": r.message,
                "location": r.path.as_ref().map(|p| json!({
                    "file": source.display().to_string(),
                    "path": p,
                    "line": r.position.map(|x| x.line),
                    "column": r.position.map(|x| x.column),
                })),
                "duration_ms": r.duration.as_secs_f64() * 1000.0,
            })
        })
        .collect();
    let (per, all) = results.counts();
    let plugins: serde_json::Map<String, Value> =
        per.iter().map(|(n, c)| (n.to_string(), c.json())).collect();
    json!({
        "results": items,
        "summary": {"plugins": plugins, "total": all.json(), "exit_code": results.exit().code()},
        "load_errors": results.load_problems.iter().map(|p| json!({"file": p.file.display().to_string(), "reason": p.reason})).collect::<Vec<_>>(),
        "unreached": results.unreached.iter().map(|(h, why)| json!({"host": h, "reason": why})).collect::<Vec<_>>(),
        "logs": results.logs.iter().map(|(p, level, text)| json!({"plugin": p, "level": level, "message": text})).collect::<Vec<_>>(),
    })
}

/// JUnit XML: a testsuite per plugin, a testcase per result (`check[host]`).
pub fn junit(results: &Results, source: &Path) -> String {
    let mut by_plugin: IndexMap<&str, Vec<&CheckResult>> = results
        .ran
        .iter()
        .map(|(n, _)| (n.as_str(), Vec::new()))
        .collect();
    for r in &results.items {
        by_plugin.entry(r.plugin.as_str()).or_default().push(r);
    }
    let (per, all) = results.counts();
    let total_time: f64 = results.ran.iter().map(|(_, d)| d.as_secs_f64()).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"rolecall\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{total_time:.3}\">",
        all.total() + results.load_problems.len() + results.unreached.len(),
        all.fail,
        all.error + results.load_problems.len() + results.unreached.len(),
        all.skip
    );
    for (plugin, items) in &by_plugin {
        let c = per.get(plugin).copied().unwrap_or_default();
        let time: f64 = items.iter().map(|r| r.duration.as_secs_f64()).sum();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{time:.3}\">",
            esc(plugin),
            c.total(),
            c.fail,
            c.error,
            c.skip
        );
        for r in items {
            let name = match &r.host {
                Some(h) => format!("{}[{h}]", r.check),
                None => r.check.clone(),
            };
            let _ = write!(
                x,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                esc(plugin),
                esc(&name),
                r.duration.as_secs_f64()
            );
            let detail = format!("{}\n{}", r.message, where_(r, source));
            let body = match r.status {
                Status::Pass | Status::Warn => None,
                Status::Fail => Some(format!(
                    "<failure message=\"{}\">{}</failure>",
                    esc(&r.message),
                    esc(&detail)
                )),
                Status::Skip => Some(format!("<skipped message=\"{}\"/>", esc(&r.message))),
                _ => Some(format!(
                    "<error message=\"{}\">{}</error>",
                    esc(&r.message),
                    esc(&detail)
                )),
            };
            match body {
                None if r.status == Status::Warn => {
                    let _ = writeln!(
                        x,
                        "><system-out>warning: {}</system-out></testcase>",
                        esc(&r.message)
                    );
                }
                None => x.push_str("/>\n"),
                Some(b) => {
                    let _ = writeln!(x, ">{b}</testcase>");
                }
            }
        }
        x.push_str("  </testsuite>\n");
    }
    if !results.load_problems.is_empty() {
        let _ = writeln!(
            x,
            "  <testsuite name=\"plugin-loading\" tests=\"{0}\" failures=\"0\" errors=\"{0}\" skipped=\"0\">",
            results.load_problems.len()
        );
        for p in &results.load_problems {
            let _ = writeln!(
                x,
                "    <testcase classname=\"plugin-loading\" name=\"{}\"><error message=\"{}\"/></testcase>",
                esc(&p.file.display().to_string()),
                esc(&p.reason)
            );
        }
        x.push_str("  </testsuite>\n");
    }
    if !results.unreached.is_empty() {
        let _ = writeln!(
            x,
            "  <testsuite name=\"connection\" tests=\"{0}\" failures=\"0\" errors=\"{0}\" skipped=\"0\">",
            results.unreached.len()
        );
        for (host, why) in &results.unreached {
            let _ = writeln!(
                x,
                "    <testcase classname=\"connection\" name=\"{}\"><error message=\"{}\"/></testcase>",
                esc(host),
                esc(why)
            );
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// Escape for XML text and attributes; characters XML 1.0 cannot carry are replaced.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\n' => o.push_str("&#10;"),
            '\t' | '\r' => o.push(c),
            c if (c as u32) < 0x20 => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// A table in rolecall's style; styled only when the printer colours.
pub(crate) fn new_table(printer: &Printer, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(
            header
                .iter()
                .map(|h| Cell::new(h).add_attribute(comfy_table::Attribute::Bold)),
        );
    if printer.color() {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::locate::Position;
    use crate::exit::Exit;
    use std::time::Duration;

    fn r(status: Status, host: Option<&str>) -> CheckResult {
        CheckResult {
            plugin: "p".into(),
            check: "c".into(),
            status,
            host: host.map(String::from),
            message: "a <b> & \"c\"".into(),
            path: Some("roles.x".into()),
            position: Some(Position { line: 3, column: 5 }),
            duration: Duration::from_millis(2),
        }
    }

    #[test]
    fn exit_codes_follow_the_worst_result() {
        let mut res = Results {
            ran: vec![("p".into(), Duration::ZERO)],
            ..Results::default()
        };
        // Regression: a run that checked nothing exited 0. No plugin, or no check: never a pass.
        assert_eq!(Results::default().exit(), Exit::Error);
        assert_eq!(res.exit(), Exit::Error);
        res.items.push(r(Status::Pass, None));
        assert_eq!(res.exit(), Exit::Ok);
        res.items.push(r(Status::Fail, None));
        assert_eq!(res.exit(), Exit::ChecksFailed);
        res.unreached.insert("h2".into(), "unreachable".into());
        assert_eq!(res.exit(), Exit::Incomplete);
        // An error on a host that was not reached is that, not a plugin error.
        res.items.push(r(Status::Error, Some("h2")));
        assert_eq!(res.exit(), Exit::Incomplete);
        res.items.push(r(Status::Error, None));
        assert_eq!(res.exit(), Exit::Error);
    }

    #[test]
    fn junit_escapes_and_counts() {
        let res = Results {
            ran: vec![("p".into(), Duration::ZERO)],
            items: vec![r(Status::Pass, Some("h1")), r(Status::Fail, Some("h2"))],
            ..Results::default()
        };
        let x = junit(&res, Path::new("d.yaml"));
        assert!(
            x.contains("<testsuite name=\"p\" tests=\"2\" failures=\"1\" errors=\"0\""),
            "{x}"
        );
        assert!(x.contains("name=\"c[h2]\""), "{x}");
        assert!(
            x.contains("<failure message=\"a &lt;b&gt; &amp; &quot;c&quot;\">"),
            "{x}"
        );
        assert!(x.contains("d.yaml:3:5 (roles.x)"), "{x}");
    }
}
