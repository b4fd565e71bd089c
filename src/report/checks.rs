//! The renderers of [`crate::results`]: table, JSON, JUnit.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use colored::Colorize;
use comfy_table::{presets, Cell, CellAlignment, Color, ContentArrangement, Table};
use indexmap::IndexMap;
use rolecall_plugin::Status;
use serde_json::{json, Value};

use crate::deployment::locate::Position;
use crate::results::{CheckResult, Counts, Results};

use super::printer::Printer;
use super::{fold, safe, Show};

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

/// A waiver as a result shows it: its reason, until when, and where it is written.
fn waived_text(w: &crate::results::waiver::Waived) -> String {
    match w.expires {
        Some(d) => format!("{} (until {d}; {})", w.reason, w.at),
        None => format!("{} ({})", w.reason, w.at),
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
pub fn table(results: &Results, source: &Path, printer: &Printer, show: Show) -> String {
    let mut out = table_blocks(results, source, printer, show);
    out.push_str(&table_summary(results, printer, show));
    out
}

/// Per plugin: its results folded across hosts, worst first, as `show` asks (passes and skips
/// as one line by default); then load problems and hosts not reached.
pub fn table_blocks(results: &Results, source: &Path, printer: &Printer, show: Show) -> String {
    let mut out = causes_block(results);
    // Results on hosts not reached stand for a cause above: each plugin counts them in one line
    // instead of an error row per check.
    let explained = crate::results::causes::explained_by(&results.causes, results.items.len());
    let unreached_cause = |i: usize| {
        explained[i]
            .iter()
            .copied()
            .find(|n| results.causes[n - 1].kind.unreached())
    };
    let mut by_plugin: IndexMap<&str, Vec<&CheckResult>> = IndexMap::new();
    let mut not_reached: IndexMap<&str, (usize, BTreeSet<usize>)> = IndexMap::new();
    for (i, r) in results.items.iter().enumerate() {
        // Every plugin keeps its place, even one whose results all stand for a cause.
        let shown = by_plugin.entry(r.plugin.as_str()).or_default();
        match unreached_cause(i) {
            Some(n) => {
                let e = not_reached.entry(r.plugin.as_str()).or_default();
                e.0 += 1;
                e.1.insert(n);
            }
            None => shown.push(r),
        }
    }
    let not_reached_line = |plugin: &str| {
        not_reached.get(plugin).map(|(n, causes)| {
            let ids: Vec<String> = causes.iter().map(|c| c.to_string()).collect();
            format!(
                "{} on hosts not reached: see cause {}",
                if *n == 1 {
                    "1 result".to_string()
                } else {
                    format!("{n} results")
                },
                ids.join(", ")
            )
        })
    };
    // The results a baseline calls new (by address: the rows below point at them).
    let new_results: std::collections::HashSet<*const CheckResult> = results
        .baseline
        .as_ref()
        .map(|b| {
            results
                .items
                .iter()
                .zip(&b.states)
                .filter(|(_, s)| **s == Some(crate::results::baseline::State::New))
                .map(|(r, _)| std::ptr::from_ref(r))
                .collect()
        })
        .unwrap_or_default();
    // Plugins with problems first (worst first, then run order); then the rest.
    let worst = |items: &[&CheckResult]| {
        items
            .iter()
            .map(|r| fold::severity(r.status))
            .min()
            .unwrap_or(u8::MAX)
    };
    let mut order: Vec<(&str, Vec<&CheckResult>)> = by_plugin.into_iter().collect();
    order.sort_by_key(|(_, items)| worst(items).min(3));
    // Plugins that only skipped (nothing to do on this fleet) share one line, unless all shown.
    let mut idle: Vec<&str> = Vec::new();
    // One-line plugins run together; a table gets a blank line before and after.
    let mut after_line = false;
    for (plugin, items) in &order {
        let plugin = *plugin;
        if let (true, Some(line)) = (items.is_empty(), not_reached_line(plugin)) {
            let _ = writeln!(out, "{} {}", safe::escape(plugin).bold(), line.magenta());
            after_line = true;
            continue;
        }
        if show != Show::All && items.iter().all(|r| r.status == Status::Skip) {
            idle.push(plugin);
            continue;
        }
        let rows = fold::fold_results(items);
        let problem = |s: Status| match show {
            Show::Failed => matches!(s, Status::Error | Status::Fail),
            _ => !matches!(s, Status::Pass | Status::Skip),
        };
        let mut shown: Vec<&fold::Folded<'_>> = rows
            .iter()
            .filter(|r| show == Show::All || problem(r.status))
            .collect();
        // With a baseline, new failures come first within the plugin's table.
        let is_new = |r: &fold::Folded<'_>| new_results.contains(&std::ptr::from_ref(r.first));
        shown.sort_by_key(|r| !is_new(r));
        let quiet_line = (show != Show::All).then(|| rest_line(&rows, show)).flatten();
        let quiet_line = match (quiet_line, not_reached_line(plugin)) {
            (Some(q), Some(n)) => Some(format!("{q}; {}", n.magenta())),
            (q, n) => q.or(n.map(|n| n.magenta().to_string())),
        };
        if shown.is_empty() {
            if let Some(line) = quiet_line {
                let _ = writeln!(out, "{} {line}", safe::escape(plugin).bold());
                after_line = true;
            }
            continue;
        }
        if after_line {
            out.push('\n');
            after_line = false;
        }
        let _ = writeln!(out, "{}", safe::escape(plugin).bold());
        let mut t = new_table(printer, &["Check", "Hosts", "Status", "Message", "Where"]);
        for r in &shown {
            let hosts = r.hosts_text();
            t.add_row(vec![
                Cell::new(safe::cell(r.check, safe::MAX_CELL)),
                Cell::new(safe::cell(&hosts, safe::MAX_CELL)),
                match &r.first.waived {
                    Some(_) => Cell::new("WAIVED").fg(Color::DarkYellow),
                    None => status_cell(r.status),
                },
                Cell::new({
                    let mut m = safe::cell(&r.message, safe::MAX_CELL);
                    if let Some(w) = &r.first.waived {
                        m.push_str(&format!(
                            " [waived: {}]",
                            safe::cell(&waived_text(w), safe::MAX_CELL)
                        ));
                    }
                    if is_new(r) {
                        m.push_str(" [new]");
                    }
                    m
                }),
                Cell::new(safe::cell(&where_folded(r, source), safe::MAX_CELL)),
            ]);
        }
        let _ = writeln!(out, "{t}");
        if let Some(line) = quiet_line {
            let _ = writeln!(out, "  {line}");
        }
        out.push('\n');
    }
    if !idle.is_empty() && show != Show::Failed {
        let _ = writeln!(
            out,
            "{} {}",
            "nothing to do here (skipped):".dimmed(),
            safe::escape(&idle.join(", ")).dimmed()
        );
        after_line = true;
    }
    if after_line {
        out.push('\n');
    }
    if !results.load_problems.is_empty() {
        let _ = writeln!(out, "{}", "plugins that failed to load".bold());
        let mut t = new_table(printer, &["Library", "Problem"]);
        for p in &results.load_problems {
            t.add_row(vec![
                Cell::new(safe::cell(&p.file.display().to_string(), safe::MAX_CELL)),
                Cell::new(safe::cell(&p.reason, safe::MAX_CELL)).fg(Color::Magenta),
            ]);
        }
        let _ = writeln!(out, "{t}\n");
    }
    // Hosts not reached that no cause above names (every one, without causes).
    let named: std::collections::HashSet<&str> = results
        .causes
        .iter()
        .filter(|c| c.kind.unreached())
        .flat_map(|c| c.affected.iter().map(String::as_str))
        .collect();
    if results.unreached.keys().any(|h| !named.contains(h.as_str())) {
        let _ = writeln!(out, "{}", "hosts not reached".bold());
        // Hosts with the same reason share a row.
        let mut t = new_table(printer, &["Hosts", "Why"]);
        let mut why_hosts: IndexMap<&str, Vec<&str>> = IndexMap::new();
        for (host, why) in results
            .unreached
            .iter()
            .filter(|(h, _)| !named.contains(h.as_str()))
        {
            why_hosts.entry(why.as_str()).or_default().push(host.as_str());
        }
        for (why, hosts) in why_hosts {
            t.add_row(vec![
                Cell::new(safe::cell(
                    &fold::hosts_cell(hosts.iter().copied()),
                    safe::MAX_CELL,
                )),
                Cell::new(safe::cell(why, safe::MAX_CELL)).fg(Color::Magenta),
            ]);
        }
        let _ = writeln!(out, "{t}\n");
    }
    out
}

/// The causes, first: one numbered line each, what it rests on, and a fix when there is one.
fn causes_block(results: &Results) -> String {
    let mut out = String::new();
    if results.causes.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{} {}",
        "likely causes".bold(),
        "(found in the results below, which stay as they are)".dimmed()
    );
    for (n, c) in results.causes.iter().enumerate() {
        let _ = writeln!(
            out,
            "{} {}",
            format!("{:>3}.", n + 1).red().bold(),
            safe::escape(&c.message)
        );
        let _ = writeln!(
            out,
            "     {} {}",
            "based on:".dimmed(),
            safe::escape(&c.based_on).dimmed()
        );
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "     {} {}", "fix:".green(), safe::escape(fix));
        }
    }
    out.push('\n');
    out
}

/// One line for what the table leaves out: passes (with their hosts) and skips.
fn rest_line(rows: &[fold::Folded<'_>], show: Show) -> Option<String> {
    if show == Show::Failed {
        return None;
    }
    let passed: usize = rows
        .iter()
        .filter(|r| r.status == Status::Pass)
        .map(|r| r.count)
        .sum();
    let skips: Vec<&fold::Folded<'_>> = rows.iter().filter(|r| r.status == Status::Skip).collect();
    let skipped: usize = skips.iter().map(|r| r.count).sum();
    let mut hosts: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in rows.iter().filter(|r| r.status == Status::Pass) {
        for h in &r.hosts {
            if seen.insert(*h) {
                hosts.push(h);
            }
        }
    }
    let mut parts = Vec::new();
    if passed > 0 {
        let on = if hosts.is_empty() {
            String::new()
        } else {
            format!(
                " on {}",
                safe::cell(&fold::hosts_cell(hosts.iter().copied()), safe::MAX_CELL)
            )
        };
        parts.push(format!("{} {passed} passed{on}", "✓".green()));
    }
    if skipped > 0 {
        parts.push(match (skips.as_slice(), skipped) {
            ([only], 1) => format!("skipped: {}", safe::cell(&only.message, safe::MAX_CELL)),
            ([only], n) => format!("{n} skipped: {}", safe::cell(&only.message, safe::MAX_CELL)),
            _ => format!("{skipped} skipped"),
        });
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Where a folded row points: its first result's place, with how many more there are.
fn where_folded(r: &fold::Folded<'_>, source: &Path) -> String {
    let w = where_(r.first, source);
    // Only other places are "more": hosts that share one place add nothing to point at.
    if r.places > 1 && !w.is_empty() && r.first.position.is_some() {
        format!("{w} (+{} more)", r.places - 1)
    } else {
        w
    }
}

/// Counts per plugin and the overall line.
/// With `--show all`, a table of counts per plugin comes first; otherwise each plugin's block
/// already says as much.
pub fn table_summary(results: &Results, printer: &Printer, show: Show) -> String {
    let mut out = String::new();
    let (per, all) = results.counts();
    if show != Show::All {
        let _ = writeln!(out, "{}", overall(results, &all));
        if let Some(line) = baseline_line(results) {
            let _ = writeln!(out, "{line}");
        }
        if results.interrupted {
            let _ = writeln!(out, "{INTERRUPTED_LINE}");
        }
        return out;
    }
    let mut t = new_table(printer, &["Plugin", "Pass", "Fail", "Warn", "Skip", "Error"]);
    for (name, c) in &per {
        let num = |n: usize| Cell::new(n).set_alignment(CellAlignment::Right);
        t.add_row(vec![
            Cell::new(safe::cell(name, safe::MAX_CELL)),
            num(c.pass),
            num(c.fail),
            num(c.warn),
            num(c.skip),
            num(c.error),
        ]);
    }
    let _ = writeln!(out, "{t}");
    let _ = writeln!(out, "{}", overall(results, &all));
    if let Some(line) = baseline_line(results) {
        let _ = writeln!(out, "{line}");
    }
    if results.interrupted {
        let _ = writeln!(out, "{INTERRUPTED_LINE}");
    }
    out
}

/// The line that ends an interrupted run's table.
pub const INTERRUPTED_LINE: &str =
    "interrupted: these results are partial; commands still running were stopped on their hosts";

fn overall(results: &Results, all: &Counts) -> String {
    let mut s = format!(
        "{} check{} from {} plugin{}: {} passed, {} failed, {} warning{}, {} skipped, {} error{}",
        all.total(),
        if all.total() == 1 { "" } else { "s" },
        results.ran.len(),
        if results.ran.len() == 1 { "" } else { "s" },
        all.pass,
        all.fail,
        all.warn,
        if all.warn == 1 { "" } else { "s" },
        all.skip,
        all.error,
        if all.error == 1 { "" } else { "s" }
    );
    if all.waived > 0 {
        let _ = write!(s, ", {} waived", all.waived);
    }
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
pub fn pretty(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}

/// The JSON document of [`json()`], to extend.
pub fn json_value(results: &Results, source: &Path) -> Value {
    let states = results.baseline.as_ref().map(|b| &b.states);
    let explained = crate::results::causes::explained_by(&results.causes, results.items.len());
    let items: Vec<Value> = results
        .items
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut v = json!({
                "id": i,
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
                // Milliseconds to the microsecond: what a reader (or a browser) reads back is
                // the number written, not 0.0077009999999999995.
                "duration_ms": (r.duration.as_secs_f64() * 1e6).round() / 1e3,
            });
            if let Some(state) = states.and_then(|s| s.get(i).copied().flatten()) {
                v["baseline"] = json!(state.as_str());
            }
            if !explained[i].is_empty() {
                v["explained_by"] = json!(explained[i]);
            }
            if let Some(w) = &r.waived {
                v["waived"] =
                    json!({"reason": w.reason, "expires": w.expires.map(|d| d.to_string()), "at": w.at});
            }
            v
        })
        .collect();
    let (per, all) = results.counts();
    let plugins: serde_json::Map<String, Value> =
        per.iter().map(|(n, c)| (n.to_string(), c.json())).collect();
    let mut doc = json!({
        "schema_version": crate::results::SCHEMA_VERSION,
        "results": items,
        "summary": {
            "plugins": plugins,
            "total": all.json(),
            "exit_code": results.exit().code(),
            "exit_reasons": results.exit_reasons().iter().map(|(e, why)| json!({"exit_code": e.code(), "reason": why})).collect::<Vec<_>>(),
        },
        "interrupted": results.interrupted,
        "deployment_sha256": results.deployment_sha256,
        "causes": results.causes.iter().enumerate().map(|(n, c)| {
            let mut v = json!({
                "id": n + 1,
                "kind": c.kind.as_str(),
                "subject": c.subject,
                "message": c.message,
                "based_on": c.based_on,
                "affected": c.affected,
                "evidence": c.evidence,
            });
            if let Some(fix) = &c.fix {
                v["fix"] = json!(fix);
            }
            v
        }).collect::<Vec<_>>(),
        "load_errors": results.load_problems.iter().map(|p| json!({"file": p.file.display().to_string(), "reason": p.reason})).collect::<Vec<_>>(),
        "unreached": results.unreached.iter().map(|(h, why)| json!({"host": h, "reason": why})).collect::<Vec<_>>(),
        "logs": results.logs.iter().map(|(p, level, text)| json!({"plugin": p, "level": level, "message": text})).collect::<Vec<_>>(),
    });
    if let Some(b) = &results.baseline {
        doc["fixed"] = json!(b
            .fixed
            .iter()
            .map(|f| json!({"plugin": f.plugin, "check": f.check, "host": f.host, "path": f.path, "message": f.message}))
            .collect::<Vec<_>>());
    }
    doc
}

/// The line the table ends with when a baseline was given.
fn baseline_line(results: &Results) -> Option<String> {
    use crate::results::baseline::State;
    let b = results.baseline.as_ref()?;
    Some(format!(
        "since the baseline: {} new, {} updated, {} unchanged failure{}; {} fixed{}",
        b.count(State::New),
        b.count(State::Updated),
        b.count(State::Unchanged),
        if b.count(State::Unchanged) == 1 { "" } else { "s" },
        b.fixed.len(),
        if results.fail_on_new_only {
            " (only new failures fail this run: --fail-on new)"
        } else {
            ""
        }
    ))
}

/// A deployment that could not be loaded, as every output reports it: what and where.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    pub message: String,
    pub file: std::path::PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The YAML path of the offending key, where known.
    pub path: Option<String>,
    pub hint: Option<String>,
}

impl LoadFailure {
    pub fn from_error(e: &crate::deployment::error::LoadError, source: &Path) -> Self {
        use crate::deployment::error::LoadError;
        match e {
            LoadError::Invalid(d) => Self {
                message: d.message.clone(),
                file: d.file.clone(),
                line: d.position.map(|p| p.line),
                column: d.position.map(|p| p.column),
                path: d.path.as_ref().map(ToString::to_string).filter(|p| !p.is_empty()),
                hint: d.hint.clone(),
            },
            other => {
                let text = other.to_string();
                let (message, hint) = match text.split_once("\nhint: ") {
                    Some((m, h)) => (m.to_string(), Some(h.to_string())),
                    None => (text, None),
                };
                Self {
                    message,
                    file: source.to_path_buf(),
                    line: None,
                    column: None,
                    path: None,
                    hint,
                }
            }
        }
    }

    fn json(&self) -> Value {
        json!({"message": self.message, "file": self.file.display().to_string(), "line": self.line,
               "column": self.column, "path": self.path, "hint": self.hint})
    }
}

/// The JSON document of a run whose deployment did not load: no results, exit code 2, and
/// the reason in `errors`.
pub fn load_failure_json(f: &LoadFailure) -> String {
    pretty(&load_failure_value(f))
}

/// The document of [`load_failure_json`] (the HTML report embeds it).
pub fn load_failure_value(f: &LoadFailure) -> Value {
    json!({
        "schema_version": crate::results::SCHEMA_VERSION,
        "results": [],
        "summary": {
            "plugins": {},
            "total": Counts::default().json(),
            "exit_code": crate::exit::Exit::Error.code(),
            "exit_reasons": [{"exit_code": crate::exit::Exit::Error.code(), "reason": format!("the deployment did not load: {}", f.message)}],
        },
        "errors": [f.json()],
        "load_errors": [],
        "unreached": [],
        "logs": [],
    })
}

/// SARIF of a run whose deployment did not load: one error result at its place, and a tool
/// execution notification saying the run failed.
pub fn load_failure_sarif(f: &LoadFailure, root: &Path) -> String {
    let position = f
        .line
        .zip(f.column)
        .map(|(line, column)| Position { line, column });
    let location = sarif_location(&f.file, root, position);
    let mut text = f.message.clone();
    if let Some(h) = &f.hint {
        text.push_str(&format!(" (hint: {h})"));
    }
    let rule = json!({"id": "rolecall/load", "name": "load",
                      "shortDescription": {"text": "the deployment file loads"},
                      "help": {"text": "rolecall reads the deployment before any check: fix the file at the place shown."}});
    sarif_log(
        vec![rule],
        vec![
            json!({"ruleId": "rolecall/load", "level": "error", "message": {"text": text}, "locations": [location]}),
        ],
        json!({
            "executionSuccessful": false,
            "toolExecutionNotifications": [{"level": "error", "message": {"text": text}}],
        }),
        root,
    )
}

/// A SARIF location in `file` (relative to `root`, see [`artifact`]), at `position` if known.
fn sarif_location(file: &Path, root: &Path, position: Option<Position>) -> Value {
    let mut location = json!({"physicalLocation": {"artifactLocation": artifact(file, root)}});
    if let Some(pos) = position {
        location["physicalLocation"]["region"] = json!({"startLine": pos.line, "startColumn": pos.column});
    }
    location
}

/// A SARIF 2.1.0 log of one rolecall run.
fn sarif_log(rules: Vec<Value>, results: Vec<Value>, invocation: Value, root: &Path) -> String {
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "rolecall",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "originalUriBaseIds": base_ids(root),
            "results": results,
            "invocations": [invocation],
        }],
    });
    pretty(&doc)
}

/// JUnit of a run whose deployment did not load: one errored test case.
pub fn load_failure_junit(f: &LoadFailure) -> String {
    let place = match (f.line, f.column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}", f.file.display()),
        _ => f.file.display().to_string(),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"rolecall\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0.000\">\n  <testsuite name=\"load\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0.000\">\n    <testcase classname=\"load\" name=\"deployment\" time=\"0.000\"><error message=\"{}\">{}</error></testcase>\n  </testsuite>\n</testsuites>\n",
        esc(&f.message),
        esc(&format!("{}\n{place}{}", f.message, f.hint.as_ref().map(|h| format!("\nhint: {h}")).unwrap_or_default()))
    )
}

/// A SARIF artifact location: relative to `root` (as `uriBaseId` `SRCROOT`) when the file is
/// under it, so code scanning can place it in the repository; else an absolute `file:` URI.
fn artifact(file: &Path, root: &Path) -> Value {
    let abs = if file.is_absolute() {
        file.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(file)
    };
    match abs.strip_prefix(root) {
        Ok(rel) => json!({"uri": uri_path(rel), "uriBaseId": "SRCROOT"}),
        Err(_) => json!({"uri": format!("file://{}", uri_path(&abs))}),
    }
}

/// `p` with `/` separators and each segment percent-encoded where a URI needs it.
fn uri_path(p: &Path) -> String {
    let mut out = String::new();
    for b in p.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn base_ids(root: &Path) -> Value {
    let mut base = format!("file://{}", uri_path(root));
    if !base.ends_with('/') {
        base.push('/');
    }
    json!({"SRCROOT": {"uri": base}})
}

/// SARIF 2.1.0 (for code-scanning tools): every error, failure and warning as a result with
/// its rule (`plugin/check`), level and place in the deployment file, the file relative to
/// `root` (`uriBaseId` `SRCROOT`).
pub fn sarif(results: &Results, source: &Path, root: &Path) -> String {
    let mut rules: IndexMap<String, Value> = IndexMap::new();
    let mut items = Vec::new();
    let states = results.baseline.as_ref().map(|b| &b.states);
    for (i, r) in results.items.iter().enumerate() {
        let level = match r.status {
            Status::Pass | Status::Skip => continue,
            Status::Warn => "warning",
            _ => "error",
        };
        let rule = format!("{}/{}", r.plugin, r.check);
        rules.entry(rule.clone()).or_insert_with(|| {
            json!({"id": rule, "name": r.check, "shortDescription": {"text": format!("{} check `{}`", r.plugin, r.check)},
                   "help": {"text": format!("Reported by the `{}` plugin (`rolecall plugins` describes it); the message says what was found and where.", r.plugin)}})
        });
        let location = sarif_location(source, root, r.position);
        let mut message = r.message.clone();
        if let Some(h) = &r.host {
            message = format!("{h}: {message}");
        }
        let mut item = json!({
            "ruleId": rule,
            "level": level,
            "message": {"text": message},
            "locations": [location],
            "properties": {"status": r.status.as_str(), "plugin": r.plugin},
        });
        if let Some(h) = &r.host {
            item["properties"]["host"] = json!(h);
        }
        if let Some(p) = &r.path {
            item["locations"][0]["logicalLocations"] = json!([{"fullyQualifiedName": p, "kind": "member"}]);
        }
        if let Some(state) = states.and_then(|s| s.get(i).copied().flatten()) {
            item["baselineState"] = json!(state.as_str());
        }
        if let Some(w) = &r.waived {
            item["suppressions"] =
                json!([{"kind": "external", "status": "accepted", "justification": waived_text(w)}]);
        }
        items.push(item);
    }
    sarif_log(
        rules.into_values().collect(),
        items,
        json!({"executionSuccessful": results.exit() != crate::exit::Exit::Error}),
        root,
    )
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
        all.skip + all.waived
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
            c.skip + c.waived
        );
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for r in items {
            // `check@host`, unique within the suite (`#2`, `#3`... for repeats).
            let base = match &r.host {
                Some(h) => format!("{}@{h}", r.check),
                None => r.check.clone(),
            };
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            let name = if *n == 1 { base } else { format!("{base} #{n}") };
            let _ = write!(
                x,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                esc(plugin),
                esc(&name),
                r.duration.as_secs_f64()
            );
            let detail = format!("{}\n{}", r.message, where_(r, source));
            let body = match r.status {
                _ if r.waived.is_some() => Some(format!(
                    "<skipped message=\"waived: {}\"/>",
                    esc(&r.waived.as_ref().map(waived_text).unwrap_or_default())
                )),
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
            header.iter().map(|h| {
                Cell::new(safe::cell(h, safe::MAX_CELL)).add_attribute(comfy_table::Attribute::Bold)
            }),
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
            waived: None,
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
        assert!(x.contains("name=\"c@h2\""), "{x}");
        assert!(
            x.contains("<failure message=\"a &lt;b&gt; &amp; &quot;c&quot;\">"),
            "{x}"
        );
        assert!(x.contains("d.yaml:3:5 (roles.x)"), "{x}");
    }
}
