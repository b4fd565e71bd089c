//! `rolecall merge`: the JSON results of the shards of one run (`--shard I/N`), joined into the
//! report of the whole run: same tables, JSON, JUnit and exit code as if one machine had run it.
//! Every shard 1..N must be there exactly once, all from the same kind of run (and, for `run`,
//! the same command), and no host may be in two shards.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use rolecall_plugin::Status;
use serde_json::Value;

use super::shard::Shard;
use crate::deployment::locate::Position;
use crate::plugin::LoadProblem;
use crate::remote::{HostResult, Outcome};
use crate::results::{CheckResult, DebugReport, SCHEMA_VERSION};

/// The whole run, joined.
#[derive(Debug)]
pub enum Merged {
    Debug(Box<DebugReport>),
    Run {
        command: String,
        results: Vec<HostResult>,
    },
}

fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Join `docs` (file, parsed JSON) of shards 1..N of one run.
pub fn merge(docs: &[(PathBuf, Value)]) -> Result<Merged, String> {
    if docs.is_empty() {
        return Err("nothing to merge: give the JSON results of every shard".into());
    }
    let mut count = None;
    let mut seen: IndexMap<u32, &PathBuf> = IndexMap::new();
    let mut kind = None;
    for (path, doc) in docs {
        let at = path.display();
        match doc.get("schema_version").and_then(Value::as_u64) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "{at}: schema_version {v}; this rolecall reads {SCHEMA_VERSION}"
                ))
            }
            None => return Err(format!("{at}: not a rolecall JSON result (no schema_version)")),
        }
        let this = if doc.get("command").is_some_and(Value::is_string) {
            "run"
        } else if doc.get("dry_run").is_some() {
            "debug"
        } else {
            return Err(format!(
                "{at}: not the JSON of `debug` or `run` (validate has no shards)"
            ));
        };
        if *kind.get_or_insert(this) != this {
            return Err(format!(
                "{at}: a `{this}` result among `{}` results",
                kind.unwrap_or(this)
            ));
        }
        let Some(shard) = doc.get("shard").and_then(Shard::from_json) else {
            return Err(format!("{at}: not a shard's result (run it with `--shard I/N`)"));
        };
        if *count.get_or_insert(shard.count) != shard.count {
            return Err(format!(
                "{at}: shard {shard}, but the others are of {}",
                count.unwrap_or(0)
            ));
        }
        if let Some(first) = seen.insert(shard.index, path) {
            return Err(format!(
                "shard {shard} is given twice: {} and {at}",
                first.display()
            ));
        }
    }
    let count = count.unwrap_or(0);
    let missing: Vec<String> = (1..=count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing shard{} {}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }
    // Shard order, whatever the order of the files.
    let mut ordered: Vec<&(PathBuf, Value)> = docs.iter().collect();
    ordered.sort_by_key(|(_, d)| d.get("shard").and_then(Shard::from_json).map_or(0, |s| s.index));
    match kind {
        Some("run") => merge_run(&ordered),
        _ => merge_debug(&ordered).map(|r| Merged::Debug(Box::new(r))),
    }
}

/// Each host in one shard only.
fn claim<'a>(owner: &mut IndexMap<String, &'a PathBuf>, host: &str, path: &'a PathBuf) -> Result<(), String> {
    match owner.get(host) {
        Some(other) if *other != path => Err(format!(
            "host `{host}` is in two shards: {} and {}",
            other.display(),
            path.display()
        )),
        _ => {
            owner.insert(host.to_string(), path);
            Ok(())
        }
    }
}

fn merge_run(docs: &[&(PathBuf, Value)]) -> Result<Merged, String> {
    let mut command = None;
    let mut results = Vec::new();
    let mut owner: IndexMap<String, &PathBuf> = IndexMap::new();
    for (path, doc) in docs {
        let c = string(doc, "command").unwrap_or_default();
        if *command.get_or_insert_with(|| c.clone()) != c {
            return Err(format!(
                "{}: command `{c}` differs from the other shards'",
                path.display()
            ));
        }
        for r in doc.get("results").and_then(Value::as_array).into_iter().flatten() {
            let host =
                string(r, "host").ok_or_else(|| format!("{}: a result without a host", path.display()))?;
            claim(&mut owner, &host, path)?;
            let duration = Duration::from_millis(r.get("duration_ms").and_then(Value::as_u64).unwrap_or(0));
            let outcome = Outcome::from_parts(
                &string(r, "outcome").unwrap_or_default(),
                r.get("exit_code")
                    .and_then(Value::as_i64)
                    .and_then(|c| i32::try_from(c).ok()),
                string(r, "signal"),
                string(r, "error"),
                duration,
            )
            .ok_or_else(|| format!("{}: host `{host}`: unknown outcome", path.display()))?;
            results.push(HostResult {
                host,
                outcome,
                stdout: string(r, "stdout").unwrap_or_default(),
                stderr: string(r, "stderr").unwrap_or_default(),
                duration,
                round_trip: None,
            });
        }
    }
    Ok(Merged::Run {
        command: command.unwrap_or_default(),
        results,
    })
}

fn merge_debug(docs: &[&(PathBuf, Value)]) -> Result<DebugReport, String> {
    let mut report = DebugReport::default();
    let mut owner: IndexMap<String, &PathBuf> = IndexMap::new();
    let mut ran: IndexMap<String, Duration> = IndexMap::new();
    for (path, doc) in docs {
        report.dry_run |= doc.get("dry_run").and_then(Value::as_bool).unwrap_or(false);
        for h in doc.get("hosts").and_then(Value::as_array).into_iter().flatten() {
            let h = h.as_str().unwrap_or_default();
            claim(&mut owner, h, path)?;
            report.hosts.push(h.to_string());
        }
        // Plugins that ran: from the summary (each shard ran the same ones).
        if let Some(plugins) = doc.pointer("/summary/plugins").and_then(Value::as_object) {
            for name in plugins.keys() {
                ran.entry(name.clone()).or_insert(Duration::ZERO);
            }
        }
        for r in doc.get("results").and_then(Value::as_array).into_iter().flatten() {
            // The names of `Status`'s own serde form; anything else is an error result.
            let status = r
                .get("status")
                .and_then(|s| serde_json::from_value::<Status>(s.clone()).ok())
                .unwrap_or(Status::Error);
            let location = r.get("location");
            let position = location.and_then(|l| {
                Some(Position {
                    line: usize::try_from(l.get("line")?.as_u64()?).ok()?,
                    column: usize::try_from(l.get("column")?.as_u64()?).ok()?,
                })
            });
            let duration = Duration::from_secs_f64(
                r.get("duration_ms")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
                    .max(0.0)
                    / 1000.0,
            );
            let plugin = string(r, "plugin").unwrap_or_default();
            let took = ran.entry(plugin.clone()).or_insert(Duration::ZERO);
            *took = (*took).max(duration);
            report.results.items.push(CheckResult {
                plugin,
                check: string(r, "check").unwrap_or_default(),
                status,
                host: string(r, "host"),
                message: string(r, "message").unwrap_or_default(),
                path: location.and_then(|l| string(l, "path")),
                position,
                duration,
            });
        }
        for e in doc
            .get("load_errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let p = LoadProblem {
                file: PathBuf::from(string(e, "file").unwrap_or_default()),
                reason: string(e, "reason").unwrap_or_default(),
            };
            if !report.results.load_problems.iter().any(|q| q.file == p.file) {
                report.results.load_problems.push(p);
            }
        }
        for u in doc
            .get("unreached")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(h), Some(why)) = (string(u, "host"), string(u, "reason")) {
                report.results.unreached.entry(h).or_insert(why);
            }
        }
        for l in doc.get("logs").and_then(Value::as_array).into_iter().flatten() {
            let level = match l.get("level").and_then(Value::as_str) {
                Some("error") => "error",
                Some("warn") => "warn",
                Some("info") => "info",
                _ => "debug",
            };
            report.results.logs.push((
                string(l, "plugin").unwrap_or_default(),
                level,
                string(l, "message").unwrap_or_default(),
            ));
        }
    }
    report.results.ran = ran.into_iter().collect();
    Ok(report)
}
