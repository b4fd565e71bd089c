//! The results model: what validators and debuggers reported, and what a run produced. The
//! orchestration in [`crate::run`] fills it; the renderers in [`crate::report`] only read it.

pub mod baseline;
pub mod causes;
pub mod order;
pub mod shard;
pub mod waiver;

use std::time::Duration;

use indexmap::IndexMap;
use rolecall_plugin::Status;
use serde_json::{json, Value};

use crate::deployment::locate::Position;
use crate::exit::Exit;
use crate::plugin::LoadProblem;

/// The version of rolecall's JSON documents (`schema_version`; schemas in `docs/schemas/`).
/// Raised when a field changes meaning or goes away; new fields do not raise it.
pub const SCHEMA_VERSION: u32 = 2;

/// One reported check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub plugin: String,
    pub check: String,
    pub status: Status,
    pub host: Option<String>,
    pub message: String,
    /// YAML path in the deployment file, and where it is.
    pub path: Option<String>,
    pub position: Option<Position>,
    pub duration: Duration,
    /// A waiver covers this failure (or warning): it does not fail the run.
    pub waived: Option<waiver::Waived>,
}

impl CheckResult {
    /// A result for unit tests: no place, no time, not waived.
    #[cfg(test)]
    pub(crate) fn sample(
        plugin: &str,
        check: &str,
        status: Status,
        host: Option<&str>,
        message: &str,
    ) -> Self {
        Self {
            plugin: plugin.into(),
            check: check.into(),
            status,
            host: host.map(str::to_string),
            message: message.into(),
            path: None,
            position: None,
            duration: Duration::ZERO,
            waived: None,
        }
    }

    /// What `plugin` reported, with where its YAML path is in the file (when known).
    pub fn from_finding(
        plugin: &str,
        f: rolecall_plugin::Finding,
        position: Option<Position>,
        took: Duration,
    ) -> Self {
        Self {
            plugin: plugin.to_string(),
            check: f.check,
            status: f.status,
            host: f.host,
            message: f.message,
            path: f.path,
            position,
            duration: took,
            waived: None,
        }
    }
}

impl CheckResult {
    /// A result as rolecall's JSON writes it (one item of `results`): status names are
    /// `Status`'s own, anything else reads as an error; missing fields are empty.
    pub fn from_json(r: &serde_json::Value) -> Self {
        use serde_json::Value;
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let location = r.get("location");
        Self {
            plugin: text(r, "plugin").unwrap_or_default(),
            check: text(r, "check").unwrap_or_default(),
            status: r
                .get("status")
                .and_then(|s| serde_json::from_value::<Status>(s.clone()).ok())
                .unwrap_or(Status::Error),
            host: text(r, "host"),
            message: text(r, "message").unwrap_or_default(),
            path: location.and_then(|l| text(l, "path")),
            position: location.and_then(|l| {
                Some(crate::deployment::locate::Position {
                    line: usize::try_from(l.get("line")?.as_u64()?).ok()?,
                    column: usize::try_from(l.get("column")?.as_u64()?).ok()?,
                })
            }),
            waived: r.get("waived").and_then(|w| {
                Some(waiver::Waived {
                    reason: text(w, "reason")?,
                    expires: text(w, "expires").and_then(|d| waiver::Date::parse(&d)),
                    at: text(w, "at").unwrap_or_default(),
                })
            }),
            duration: Duration::from_secs_f64(
                r.get("duration_ms")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
                    .max(0.0)
                    / 1000.0,
            ),
        }
    }
}

/// Everything a run produced.
#[derive(Debug, Clone, Default)]
pub struct Results {
    pub items: Vec<CheckResult>,
    pub load_problems: Vec<LoadProblem>,
    /// `--only`/`--skip` names that match no plugin.
    pub unknown_plugins: Vec<String>,
    /// Plugins that ran, in order, with their wall time.
    pub ran: Vec<(String, Duration)>,
    /// Hosts that could not be worked on (unreachable, refused, timed out...), with why.
    pub unreached: IndexMap<String, String>,
    /// What plugins logged, in order: plugin, level (`error`, `warn`, `info`, `debug`), text.
    pub logs: Vec<(String, &'static str, String)>,
    /// `--baseline`: how each failing result compares with a previous run.
    pub baseline: Option<crate::results::baseline::Baseline>,
    /// `--fail-on new`: only failures new since the baseline fail the run.
    pub fail_on_new_only: bool,
    /// The run was interrupted (Ctrl-C, SIGTERM): the results are partial.
    pub interrupted: bool,
    /// The SHA-256 of the deployment the run read ([`crate::results::shard::digest`]), so that
    /// `merge` can tell results of one deployment from another's.
    pub deployment_sha256: Option<String>,
    /// Root-cause hints found in the results ([`causes`]), likely causes first.
    pub causes: Vec<causes::Cause>,
}

/// The name of a plugin log level (`rolecall_plugin::abi::level`).
pub fn level_name(level: u32) -> &'static str {
    use rolecall_plugin::abi::level;
    match level {
        level::ERROR => "error",
        level::WARN => "warn",
        level::INFO => "info",
        _ => "debug",
    }
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub skip: usize,
    pub error: usize,
    /// Failures and warnings a waiver covers (counted here, not as `fail`/`warn`).
    pub waived: usize,
}

impl Counts {
    pub(crate) fn add(&mut self, s: Status) {
        match s {
            Status::Pass => self.pass += 1,
            Status::Fail => self.fail += 1,
            Status::Warn => self.warn += 1,
            Status::Skip => self.skip += 1,
            _ => self.error += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.pass + self.fail + self.warn + self.skip + self.error + self.waived
    }

    fn add_result(&mut self, r: &CheckResult) {
        if r.waived.is_some() {
            self.waived += 1;
        } else {
            self.add(r.status);
        }
    }

    pub(crate) fn json(&self) -> Value {
        json!({"pass": self.pass, "fail": self.fail, "warn": self.warn, "skip": self.skip, "error": self.error, "waived": self.waived, "total": self.total()})
    }
}

impl Results {
    /// Counts per plugin (in run order) and overall.
    pub fn counts(&self) -> (IndexMap<&str, Counts>, Counts) {
        let mut per: IndexMap<&str, Counts> = self
            .ran
            .iter()
            .map(|(n, _)| (n.as_str(), Counts::default()))
            .collect();
        let mut all = Counts::default();
        for r in &self.items {
            per.entry(r.plugin.as_str()).or_default().add_result(r);
            all.add_result(r);
        }
        (per, all)
    }

    /// Keep `plugin`'s log lines.
    pub fn add_logs(&mut self, plugin: &str, logs: Vec<(u32, String)>) {
        self.logs.extend(
            logs.into_iter()
                .map(|(level, text)| (plugin.to_string(), level_name(level), text)),
        );
    }

    /// Find the root-cause hints of these results ([`causes::find`]), for a run that worked
    /// on `hosts` of `d`.
    pub fn explain(&mut self, d: &crate::deployment::Deployment, hosts: &[String]) {
        let roles: Vec<(String, Vec<String>)> = d
            .roles
            .values()
            .filter(|r| r.name != crate::deployment::ALL_ROLE)
            .map(|r| (r.name.clone(), r.hosts.clone()))
            .collect();
        self.causes = causes::find(self, hosts, &roles);
    }

    /// Put the results in the run's one order ([`order`]), given the order of each plugin's
    /// checks (see [`order::check_order`]) and the deployment's hosts.
    pub fn put_in_order(&mut self, checks: &[(String, String)], d: &crate::deployment::Deployment) {
        let plugins: Vec<String> = self.ran.iter().map(|(p, _)| p.clone()).collect();
        order::sort(&mut self.items, &plugins, checks, |h| d.hosts.get_index_of(h));
    }

    /// Why nothing was checked, when nothing was: never a pass. A run whose every result is a
    /// skip checked nothing either; the reason then names each plugin's first skip.
    pub fn nothing_checked(&self) -> Option<String> {
        if self.ran.is_empty() {
            return Some("no plugin ran".into());
        }
        if self.items.is_empty() {
            return Some("the plugins ran but reported no check".into());
        }
        if self.items.iter().all(|r| r.status == Status::Skip) {
            let mut why: IndexMap<&str, &str> = IndexMap::new();
            for r in &self.items {
                why.entry(r.plugin.as_str()).or_insert(r.message.as_str());
            }
            let each: Vec<String> = why
                .iter()
                .map(|(p, m)| match m.is_empty() {
                    true => p.to_string(),
                    false => format!("{p}: {}", crate::text::safe::cell(m, 200)),
                })
                .collect();
            return Some(format!("every check was skipped ({})", each.join("; ")));
        }
        None
    }

    /// Results with status error, except those about hosts not reached (their error is that,
    /// counted as such).
    fn plugin_errors(&self) -> usize {
        self.items
            .iter()
            .filter(|r| r.status == Status::Error)
            .filter(|r| !r.host.as_ref().is_some_and(|h| self.unreached.contains_key(h)))
            .count()
    }

    /// Every reason for a non-zero exit code, each with the code it calls for (the exit code
    /// is the first's: see [`Results::exit`]). Empty when the run exits 0.
    pub fn exit_reasons(&self) -> Vec<(Exit, String)> {
        let mut out = Vec::new();
        if self.interrupted {
            out.push((
                Exit::Interrupted,
                "interrupted: the results are partial".to_string(),
            ));
        }
        if let Some(why) = self.nothing_checked() {
            out.push((Exit::Error, format!("nothing was checked: {why}")));
        }
        for p in &self.load_problems {
            out.push((
                Exit::Error,
                format!("plugin library `{}` did not load: {}", p.file.display(), p.reason),
            ));
        }
        for name in &self.unknown_plugins {
            out.push((
                Exit::Error,
                format!("no plugin is named `{name}` (--only, --skip)"),
            ));
        }
        let plugin_errors = self.plugin_errors();
        if plugin_errors > 0 {
            out.push((
                Exit::Error,
                format!(
                    "{plugin_errors} result{} with status error",
                    plural(plugin_errors)
                ),
            ));
        }
        if !self.unreached.is_empty() {
            let n = self.unreached.len();
            let hosts: Vec<&str> = self.unreached.keys().map(String::as_str).collect();
            out.push((
                Exit::Incomplete,
                format!(
                    "{n} host{} not reached: {}",
                    plural(n),
                    crate::deployment::range::fold(hosts.iter().copied()).join(",")
                ),
            ));
        }
        let (_, all) = self.counts();
        let counted = self.failures_that_count(all.fail);
        if counted > 0 {
            let what = if counted == all.fail {
                format!("{counted} failed check{}", plural(counted))
            } else {
                format!(
                    "{counted} failed check{} new since the baseline (--fail-on new; {} in all)",
                    plural(counted),
                    all.fail
                )
            };
            out.push((Exit::ChecksFailed, what));
        }
        out.sort_by_key(|(e, _)| exit_rank(*e));
        out
    }

    /// The exit code: 2 for load problems, plugin errors or nothing checked, else 3 when hosts
    /// were not reached (their own errors are that, not plugin errors), else 1 for failures,
    /// else 0.
    pub fn exit(&self) -> Exit {
        if self.interrupted {
            return Exit::Interrupted;
        }
        let (_, all) = self.counts();
        if self.nothing_checked().is_some() {
            return Exit::Error;
        }
        if !self.load_problems.is_empty() || !self.unknown_plugins.is_empty() || self.plugin_errors() > 0 {
            Exit::Error
        } else if !self.unreached.is_empty() {
            Exit::Incomplete
        } else if self.failures_that_count(all.fail) > 0 {
            Exit::ChecksFailed
        } else {
            Exit::Ok
        }
    }

    /// The failures that fail the run: all of them, or with `--fail-on new` and a baseline
    /// only the new ones.
    fn failures_that_count(&self, all: usize) -> usize {
        match (&self.baseline, self.fail_on_new_only) {
            (Some(b), true) => self
                .items
                .iter()
                .zip(&b.states)
                .filter(|(r, s)| {
                    r.status == Status::Fail
                        && r.waived.is_none()
                        && **s == Some(crate::results::baseline::State::New)
                })
                .count(),
            _ => all,
        }
    }
}

/// What a debug run produced.
#[derive(Debug, Clone, Default)]
pub struct DebugReport {
    pub results: Results,
    /// Per plugin (run order), the commands it sent.
    pub sent: IndexMap<String, Vec<Sent>>,
    /// The selected hosts, in file order.
    pub hosts: Vec<String>,
    /// The hosts a session was opened to (a command reached them).
    pub reached: indexmap::IndexSet<String>,
    pub dry_run: bool,
    /// `--shard I/N`: this run covered that part of the selected hosts (and what run it is).
    pub shard: Option<crate::results::shard::ShardRun>,
}

impl DebugReport {
    /// List hosts in the order of `selected` (the whole run's selection), wherever they were
    /// worked on: the hosts, those reached and not, and each command's. Hosts outside it keep
    /// their order, after.
    pub fn put_hosts_in_order(&mut self, selected: &[String]) {
        let rank: std::collections::HashMap<&str, usize> = selected
            .iter()
            .enumerate()
            .map(|(i, h)| (h.as_str(), i))
            .collect();
        let key = |h: &String| rank.get(h.as_str()).copied().unwrap_or(usize::MAX);
        self.hosts.sort_by_key(key);
        self.reached.sort_by_cached_key(key);
        self.results.unreached.sort_by_cached_key(|h, _| key(h));
        for sent in self.sent.values_mut().flatten() {
            sent.hosts.sort_by_key(key);
        }
    }

    /// Selected hosts that no result names and no reason for not reaching explains.
    pub fn unchecked(&self) -> Vec<&str> {
        let named: std::collections::HashSet<&str> = self
            .results
            .items
            .iter()
            .filter_map(|r| r.host.as_deref())
            .collect();
        self.hosts
            .iter()
            .map(String::as_str)
            .filter(|h| !named.contains(h) && !self.results.unreached.contains_key(*h))
            .collect()
    }

    /// The run's exit code. A dry run sends nothing, so it checks nothing: the commands listed
    /// are its answer, and it passes when a plugin ran at all.
    pub fn exit(&self) -> crate::exit::Exit {
        match (self.dry_run, self.results.ran.is_empty()) {
            (true, false) => crate::exit::Exit::Ok,
            _ => self.results.exit(),
        }
    }
}

/// One command a plugin sent, and to which hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub command: String,
    pub hosts: Vec<String>,
    /// From sending it to the last host's answer (zero for a dry run).
    pub took: Duration,
    /// Through sudo as this user (the plugin asked).
    pub sudo: Option<String>,
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Which exit code wins when several apply (see [`Results::exit`]): interrupted, then 2, 3, 1.
fn exit_rank(e: Exit) -> u8 {
    match e {
        Exit::Interrupted => 0,
        Exit::Error => 1,
        Exit::Incomplete => 2,
        Exit::ChecksFailed => 3,
        Exit::Ok => 4,
    }
}
