//! `rolecall merge`: the JSON results of the shards of one run (`--shard I/N`), joined into the
//! report of the whole run: same tables, JSON, JUnit and exit code as if one machine had run it.
//! Every shard 1..N must be there exactly once, all from the same run: the same run id, the
//! same deployment (its SHA-256, which must also be that of the file `merge` is given), the
//! same selection (`--roles`, `--limit`) and the same command; no dry run; and each shard must
//! hold exactly the hosts its `--shard I/N` of that selection holds (so no host is missing,
//! in two shards, or outside the deployment), with results only for those hosts.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use super::shard::{Shard, ShardRun};
use crate::deployment::Deployment;
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

/// The bytes a result's `KEY_base64` field holds (see `run --format json`).
fn bytes(v: &Value, key: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let text = v.get(key)?.as_str()?;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Bytes of one shard's JSON `merge` reads at most (as a deployment file).
pub const MAX_SHARD_BYTES: u64 = 64 << 20;

/// The oldest `schema_version` merge reads: version 2 only added fields, and counts waived
/// failures apart (none in a version 1 document).
pub const OLDEST_SCHEMA_VERSION: u32 = 1;

/// What a result document is the JSON of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Validate,
    Debug,
    Run,
}

impl Kind {
    fn of(path: &std::path::Path, doc: &Value) -> Result<Self, String> {
        let at = path.display();
        match doc.get("schema_version").and_then(Value::as_u64) {
            Some(v) if (u64::from(OLDEST_SCHEMA_VERSION)..=u64::from(SCHEMA_VERSION)).contains(&v) => {}
            Some(v) => {
                return Err(format!(
                "{at}: schema_version {v}; this rolecall reads {OLDEST_SCHEMA_VERSION} to {SCHEMA_VERSION}"
            ))
            }
            None => return Err(format!("{at}: not a rolecall JSON result (no schema_version)")),
        }
        Ok(if doc.get("command").is_some_and(Value::is_string) {
            Self::Run
        } else if doc.get("dry_run").is_some() {
            Self::Debug
        } else if doc.get("results").is_some_and(Value::is_array) {
            Self::Validate
        } else {
            return Err(format!("{at}: not the JSON of `validate`, `debug` or `run`"));
        })
    }
}

/// Join `docs` (file, parsed JSON) on deployment `d`, whose digest ([`super::shard::digest`])
/// is `expected_digest`: the shards 1..N of one run, or a `validate` result and the `debug`
/// result (or its shards) of the same deployment, into one report as `rolecall check` gives.
/// Warnings (a check that could not be made) come back beside the result.
pub fn merge(
    docs: &[(PathBuf, Value)],
    d: &Deployment,
    expected_digest: &str,
) -> Result<(Merged, Vec<String>), String> {
    if docs.is_empty() {
        return Err("nothing to merge: give the JSON results of every shard".into());
    }
    // Each document once, by kind; borrowed, not copied (a shard's JSON may be 64 MiB).
    let mut validate: Vec<&(PathBuf, Value)> = Vec::new();
    let mut rest: Vec<(&(PathBuf, Value), Kind)> = Vec::new();
    for entry in docs {
        match Kind::of(&entry.0, &entry.1)? {
            Kind::Validate => validate.push(entry),
            kind => rest.push((entry, kind)),
        }
    }
    let Some((vpath, vdoc)) = validate.first().copied() else {
        return merge_shards(&rest, d, expected_digest);
    };
    if let Some((other, _)) = validate.get(1).copied() {
        return Err(format!(
            "{} and {}: two `validate` results; give one, with the `debug` result (or its shards) \
             of the same deployment",
            vpath.display(),
            other.display()
        ));
    }
    let same_deployment =
        |path: &PathBuf, doc: &Value| match doc.get("deployment_sha256").and_then(Value::as_str) {
            Some(s) if s == expected_digest => Ok(()),
            Some(_) => Err(format!(
                "{}: it ran on another deployment than `{}` (their SHA-256 differ)",
                path.display(),
                d.source.display()
            )),
            None => Err(format!(
                "{}: it records no deployment SHA-256 (an older rolecall): run it again to join it",
                path.display()
            )),
        };
    same_deployment(vpath, vdoc)?;
    // Every host named is the deployment's (shards are checked more closely below).
    let foreign = |path: &PathBuf, doc: &Value| {
        let named = doc
            .get("results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("host").and_then(Value::as_str))
            .chain(
                doc.get("hosts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            )
            .find(|h| !d.hosts.contains_key(*h))
            .map(str::to_string);
        match named {
            Some(h) => Err(format!(
                "{}: host `{h}` is not in the deployment `{}`",
                path.display(),
                d.source.display()
            )),
            None => Ok(()),
        }
    };
    foreign(vpath, vdoc)?;
    let (mut report, warnings) = match rest.as_slice() {
        [] => {
            return Err(format!(
                "{}: nothing to join it with: give the `debug` result (or its shards) of the same deployment",
                vpath.display()
            ))
        }
        [(entry @ (path, doc), kind)] if doc.get("shard").is_none() => {
            if *kind != Kind::Debug {
                return Err(format!(
                    "{}: a `run` result joins no `validate` result",
                    path.display()
                ));
            }
            same_deployment(path, doc)?;
            foreign(path, doc)?;
            if doc.get("dry_run").and_then(Value::as_bool) == Some(true) {
                return Err(format!(
                    "{}: a dry run (--dry-run): it checked nothing",
                    path.display()
                ));
            }
            let hosts: Vec<String> = doc
                .get("hosts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|h| h.as_str().map(str::to_string))
                .collect();
            (merge_debug(&[*entry], d, &hosts)?, Vec::new())
        }
        shards => match merge_shards(shards, d, expected_digest)? {
            (Merged::Debug(r), w) => (*r, w),
            (Merged::Run { .. }, _) => return Err("a `run` result joins no `validate` result".into()),
        },
    };
    // The validators' results first, as `rolecall check` lists them.
    let v = merge_debug(&validate[..1], d, &[])?;
    let mut items = v.results.items;
    items.append(&mut report.results.items);
    report.results.items = items;
    let mut ran = v.results.ran;
    ran.append(&mut report.results.ran);
    report.results.ran = ran;
    let mut logs = v.results.logs;
    logs.append(&mut report.results.logs);
    report.results.logs = logs;
    for p in v.results.load_problems {
        if !report.results.load_problems.iter().any(|q| q.file == p.file) {
            report.results.load_problems.push(p);
        }
    }
    report.results.interrupted |= vdoc.get("interrupted").and_then(Value::as_bool).unwrap_or(false);
    report.results.deployment_sha256 = Some(expected_digest.to_string());
    Ok((Merged::Debug(Box::new(report)), warnings))
}

/// [`merge`] of the shards of one run: `debug` or `run` results, each with its [`Kind`].
fn merge_shards(
    shards: &[(&(PathBuf, Value), Kind)],
    d: &Deployment,
    expected_digest: &str,
) -> Result<(Merged, Vec<String>), String> {
    let docs: Vec<&(PathBuf, Value)> = shards.iter().map(|(e, _)| *e).collect();
    let mut count = None;
    let mut seen: IndexMap<u32, &PathBuf> = IndexMap::new();
    let mut kind = None;
    let mut first: Option<(&PathBuf, ShardRun)> = None;
    let mut runs: Vec<(&PathBuf, ShardRun)> = Vec::new();
    for ((path, doc), this) in shards.iter().map(|(e, k)| (*e, k)) {
        let at = path.display();
        let this = match this {
            Kind::Run => "run",
            // `merge` takes validate results apart before.
            Kind::Debug | Kind::Validate => "debug",
        };
        if *kind.get_or_insert(this) != this {
            return Err(format!(
                "{at}: a `{this}` result among `{}` results",
                kind.unwrap_or(this)
            ));
        }
        if doc.get("dry_run").and_then(Value::as_bool) == Some(true) {
            return Err(format!("{at}: a dry run (--dry-run): it checked nothing"));
        }
        let Some(recorded) = doc.get("shard") else {
            return Err(format!("{at}: not a shard's result (run it with `--shard I/N`)"));
        };
        let run = ShardRun::from_json(recorded).map_err(|why| format!("{at}: {why}"))?;
        let shard = run.shard;
        match &first {
            None => first = Some((path, run.clone())),
            Some((other, f)) => {
                let differs = |what: &str| {
                    format!(
                        "{at}: its {what} differs from {}'s: not the same run",
                        other.display()
                    )
                };
                if f.run_id != run.run_id {
                    return Err(differs("run id (--run-id)"));
                }
                if f.deployment != run.deployment {
                    return Err(differs("deployment (SHA-256 of the file)"));
                }
                if (&f.roles, &f.limit) != (&run.roles, &run.limit) {
                    return Err(differs("selection (--roles, --limit)"));
                }
                if f.command != run.command {
                    return Err(differs("command"));
                }
            }
        }
        if run.deployment != expected_digest {
            return Err(format!(
                "{at}: it ran on another deployment than `{}` (their SHA-256 differ): give the file the shards ran on with -c",
                d.source.display()
            ));
        }
        runs.push((path, run));
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
    let mut warnings = Vec::new();
    let mut selected = Vec::new();
    if let Some((_, f)) = &first {
        if f.run_id.is_none() {
            warnings.push(
                "the shards record no run id (--run-id or ROLECALL_RUN_ID): merge cannot tell two runs \
                 of the same command on the same deployment apart"
                    .to_string(),
            );
        }
        // Each shard holds exactly its part of the selection.
        let selection =
            super::select(d, &f.roles, &f.limit).map_err(|e| format!("the shards' selection: {e}"))?;
        for ((path, doc), (_, run)) in docs.iter().zip(&runs) {
            check_hosts(path, doc, run.shard, d, &run.shard.select(&selection))?;
        }
        selected = selection;
    }
    // Shard order, whatever the order of the files.
    let mut ordered = docs;
    ordered.sort_by_key(|(_, d)| d.get("shard").and_then(Shard::from_json).map_or(0, |s| s.index));
    let merged = match kind {
        Some("run") => merge_run(&ordered),
        _ => merge_debug(&ordered, d, &selected).map(|mut r| {
            r.results.deployment_sha256 = Some(expected_digest.to_string());
            Merged::Debug(Box::new(r))
        }),
    }?;
    Ok((merged, warnings))
}

/// The hosts `doc` (shard `shard`) worked on, and those its results name, against `expected`
/// (that shard's part of the selection).
fn check_hosts(
    path: &std::path::Path,
    doc: &Value,
    shard: Shard,
    d: &Deployment,
    expected: &[String],
) -> Result<(), String> {
    let at = path.display();
    let names = |v: Option<&Value>, key: Option<&str>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| match key {
                Some(k) => string(x, k),
                None => x.as_str().map(str::to_string),
            })
            .collect()
    };
    let results = names(doc.get("results"), Some("host"));
    // `debug` lists the hosts it worked on; `run` has one result per host.
    let worked = match doc.get("hosts") {
        Some(h) => names(Some(h), None),
        None => results.clone(),
    };
    let expected_set: std::collections::HashSet<&str> = expected.iter().map(String::as_str).collect();
    let worked_set: std::collections::HashSet<&str> = worked.iter().map(String::as_str).collect();
    for h in worked.iter().chain(&results) {
        if !d.hosts.contains_key(h) {
            return Err(format!(
                "{at}: host `{h}` is not in the deployment `{}`",
                d.source.display()
            ));
        }
        if !expected_set.contains(h.as_str()) {
            return Err(format!(
                "{at}: host `{h}` is not in shard {shard} of the selection"
            ));
        }
        if !worked_set.contains(h.as_str()) {
            return Err(format!(
                "{at}: a result for host `{h}`, which this shard did not work on"
            ));
        }
    }
    if let Some(h) = expected.iter().find(|h| !worked_set.contains(h.as_str())) {
        return Err(format!("{at}: shard {shard} lacks host `{h}` of the selection"));
    }
    Ok(())
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
                raw: crate::remote::RawOutput {
                    stdout: bytes(r, "stdout_base64"),
                    stderr: bytes(r, "stderr_base64"),
                },
            });
        }
    }
    Ok(Merged::Run {
        command: command.unwrap_or_default(),
        results,
    })
}

/// `selected`: the hosts of the whole run, in its order.
fn merge_debug(
    docs: &[&(PathBuf, Value)],
    d: &Deployment,
    selected: &[String],
) -> Result<DebugReport, String> {
    let mut report = DebugReport::default();
    let mut owner: IndexMap<String, &PathBuf> = IndexMap::new();
    let mut ran: IndexMap<String, Duration> = IndexMap::new();
    let mut about_deployment: IndexMap<DeploymentKey, (CheckResult, usize)> = IndexMap::new();
    // Each shard's results as it listed them: the order of each plugin's checks.
    let mut lists: Vec<Vec<CheckResult>> = Vec::new();
    // Per plugin: each shard's commands in order, and each command's hosts from every shard.
    let mut sent: IndexMap<String, Commands> = IndexMap::new();
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
        for h in doc.get("reached").and_then(Value::as_array).into_iter().flatten() {
            if let Some(h) = h.as_str() {
                report.reached.insert(h.to_string());
            }
        }
        // The commands each plugin sent, joined by command: one entry per command, its hosts
        // from every shard.
        for (plugin, list) in doc
            .get("commands")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let (orders, hosts) = sent.entry(plugin.clone()).or_default();
            let mut order = Vec::new();
            for c in list.as_array().into_iter().flatten() {
                let command = string(c, "command").unwrap_or_default();
                let on = hosts.entry(command.clone()).or_default();
                for h in c.get("hosts").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(h) = h.as_str().filter(|h| !on.iter().any(|x| x == h)) {
                        on.push(h.to_string());
                    }
                }
                order.push(command);
            }
            orders.push(order);
        }
        let mut here: IndexMap<DeploymentKey, usize> = IndexMap::new();
        let mut list = Vec::new();
        for r in doc.get("results").and_then(Value::as_array).into_iter().flatten() {
            let item = CheckResult::from_json(r);
            list.push(item.clone());
            let took = ran.entry(item.plugin.clone()).or_insert(Duration::ZERO);
            *took = (*took).max(item.duration);
            if item.host.is_none() {
                *here.entry(DeploymentKey::of(&item)).or_default() += 1;
                about_deployment
                    .entry(DeploymentKey::of(&item))
                    .or_insert((item, 0));
            } else {
                report.results.items.push(item);
            }
        }
        lists.push(list);
        for (key, n) in here {
            if let Some((_, most)) = about_deployment.get_mut(&key) {
                *most = (*most).max(n);
            }
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
    // Results about the deployment, not a host: every shard sees the whole deployment and says
    // them alike, so each counts as many times as the most any one shard said it.
    for (item, most) in about_deployment.into_values() {
        report.results.items.extend(std::iter::repeat_n(item, most));
    }
    report.results.ran = ran.into_iter().collect();
    // Every plugin that ran, in run order, with its commands in the order the shards sent them.
    report.sent = report
        .results
        .ran
        .iter()
        .map(|(plugin, _)| {
            let (orders, mut hosts) = sent.shift_remove(plugin).unwrap_or_default();
            let list = crate::results::order::join(orders)
                .into_iter()
                .map(|command| crate::results::Sent {
                    hosts: hosts.shift_remove(&command).unwrap_or_default(),
                    command,
                    took: Duration::ZERO,
                    sudo: None,
                })
                .collect();
            (plugin.clone(), list)
        })
        .collect();
    let checks = crate::results::order::check_order(lists.iter().map(Vec::as_slice));
    report.results.put_in_order(&checks, d);
    report.put_hosts_in_order(selected);
    Ok(report)
}

/// One plugin's commands across shards: each shard's in its order, and each command's hosts.
type Commands = (Vec<Vec<String>>, IndexMap<String, Vec<String>>);

/// What identifies a result about no host, across shards.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DeploymentKey {
    plugin: String,
    check: String,
    status: String,
    message: String,
    path: Option<String>,
}

impl DeploymentKey {
    fn of(r: &CheckResult) -> Self {
        Self {
            plugin: r.plugin.clone(),
            check: r.check.clone(),
            status: format!("{:?}", r.status),
            message: r.message.clone(),
            path: r.path.clone(),
        }
    }
}
