//! `debug`: every selected debugger at once, each on its own thread, all sharing one executor
//! (hence one SSH session per host). No plugin waits for another: a plugin's command is queued
//! per host and runs as soon as that host is free.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indexmap::{IndexMap, IndexSet};
use rolecall_plugin::Options;

use crate::deployment::Deployment;
use crate::plugin::call::{self, Services};
use crate::plugin::wire::{Pieces, RunItem};
use crate::plugin::{PluginKind, Registry};
use crate::progress::Progress;
use crate::remote::{Executor, HostResult, Job, Outcome};
use crate::results::{CheckResult, DebugReport, Sent};

/// What to run, and where.
#[derive(Debug, Clone, Default)]
pub struct DebugOptions {
    pub only: Vec<String>,
    pub skip: Vec<String>,
    /// The selected hosts (see [`super::select`]).
    pub hosts: Vec<String>,
    pub dry_run: bool,
    pub allow_changes: bool,
    pub allow_nets: Vec<String>,
    /// The selected hosts' resolved settings (resolved once per run, for the executor too).
    pub settings: Vec<crate::remote::settings::HostSettings>,
}

/// What the run learnt of each host's connection.
#[derive(Debug, Default)]
struct Seen {
    /// Hosts that could not be worked on, first reason kept.
    unreached: IndexMap<String, String>,
    /// Hosts a session was opened to.
    reached: IndexSet<String>,
}

#[derive(Debug, Default)]
struct Unreached(Mutex<Seen>);

impl Unreached {
    fn note(&self, r: &HostResult) {
        let mut seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.outcome.unreached() {
            seen.unreached
                .entry(r.host.clone())
                .or_insert_with(|| r.outcome.describe());
        }
        if r.outcome.reached() {
            seen.reached.insert(r.host.clone());
        }
    }
}

/// One plugin as a party of the executor's plan ([`Executor::plan`]): it arrives once, when
/// its first commands are queued (every run of a `run_many`), when it fetches, or when it ends.
struct Party<'a> {
    executor: &'a dyn Executor,
    arrived: AtomicBool,
    /// Runs of the first `run_many` not queued yet.
    pending: AtomicUsize,
}

impl Party<'_> {
    fn arrive(&self) {
        if !self.arrived.swap(true, Ordering::SeqCst) {
            self.executor.arrive();
        }
    }

    /// One run of a `run_many` of `n` is queued.
    fn queued_one_of(&self, n: usize) {
        let _ = self
            .pending
            .compare_exchange(0, n, Ordering::SeqCst, Ordering::SeqCst);
        if self.pending.fetch_sub(1, Ordering::SeqCst) <= 1 {
            self.arrive();
        }
    }
}

/// The services one debugger gets: commands and files through the shared executor, limited to
/// the selected hosts.
struct Remote<'a> {
    executor: &'a dyn Executor,
    party: &'a Party<'a>,
    selected: &'a HashSet<String>,
    unreached: &'a Unreached,
    progress: &'a Progress,
    deadline: Option<Instant>,
    sent: Vec<Sent>,
}

impl Remote<'_> {
    /// One fan-out: each host's JSON result, and what was sent.
    fn fan_out(
        &self,
        command: &str,
        hosts: &[String],
        sudo_user: Option<&str>,
        queued: &(dyn Fn() + Sync),
    ) -> (Vec<serde_json::Value>, Sent) {
        let started = Instant::now();
        let inside: Vec<String> = hosts
            .iter()
            .filter(|h| self.selected.contains(*h))
            .cloned()
            .collect();
        self.progress.inc_length(inside.len() as u64);
        let job = Job {
            command,
            hosts: &inside,
            sudo: sudo_user,
            queued: Some(queued),
        };
        let mut answers = self.executor.submit(job, &mut |_| {}).into_iter();
        let sent = Sent {
            command: command.to_string(),
            hosts: hosts.to_vec(),
            took: started.elapsed(),
            sudo: sudo_user.map(str::to_string),
        };
        let results = hosts.iter().map(|h| {
            let r = if self.selected.contains(h) {
                answers
                    .next()
                    .unwrap_or_else(|| HostResult::failed(h, Outcome::Error("no result".into())))
            } else {
                let why = "not among the selected hosts (see --roles, --limit)".to_string();
                HostResult::failed(h, Outcome::Error(why))
            };
            if self.selected.contains(h) {
                self.unreached.note(&r);
                self.progress.inc(1);
            }
            serde_json::to_value(r.to_command_result()).unwrap_or_default()
        });
        (results.collect(), sent)
    }
}

impl Services for Remote<'_> {
    fn run(
        &mut self,
        command: &str,
        hosts: &[String],
        sudo_user: Option<&str>,
    ) -> Option<Vec<serde_json::Value>> {
        let party = self.party;
        let (results, sent) = self.fan_out(command, hosts, sudo_user, &|| party.arrive());
        self.sent.push(sent);
        Some(results)
    }

    /// Every run at once, each from a thread of its own, so the executor finds the commands for
    /// one host queued together and sends them in one channel.
    fn run_many(&mut self, runs: &[RunItem]) -> Option<Vec<serde_json::Value>> {
        let this = &*self;
        let answers: Vec<(Vec<serde_json::Value>, Sent)> = std::thread::scope(|s| {
            let handles: Vec<_> = runs
                .iter()
                .map(|r| {
                    let n = runs.len();
                    let queued = move || this.party.queued_one_of(n);
                    s.spawn(move || this.fan_out(&r.command, &r.hosts, r.sudo.as_deref(), &queued))
                })
                .collect();
            handles
                .into_iter()
                .zip(runs)
                .map(|(h, r)| {
                    h.join().unwrap_or_else(|_| {
                        let results = r
                            .hosts
                            .iter()
                            .map(|host| {
                                let f =
                                    HostResult::failed(host, Outcome::Error("internal error (panic)".into()));
                                serde_json::to_value(f.to_command_result()).unwrap_or_default()
                            })
                            .collect();
                        let sent = Sent {
                            command: r.command.clone(),
                            hosts: r.hosts.clone(),
                            took: Duration::ZERO,
                            sudo: r.sudo.clone(),
                        };
                        (results, sent)
                    })
                })
                .collect()
        });
        let mut all = Vec::new();
        for (results, sent) in answers {
            all.extend(results);
            self.sent.push(sent);
        }
        Some(all)
    }

    fn fetch(&mut self, host: &str, path: &str) -> Result<Vec<u8>, Option<String>> {
        self.sent.push(Sent {
            command: format!("fetch {path}"),
            hosts: vec![host.to_string()],
            took: Duration::ZERO,
            sudo: None,
        });
        self.party.arrive();
        if !self.selected.contains(host) {
            return Err(Some(format!("{host} is not among the selected hosts")));
        }
        self.executor.fetch(host, path).map_err(|e| Some(e.to_string()))
    }

    fn cancelled(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Run the selected debuggers of `registry` on `opts.hosts` through `executor`.
pub fn debug(
    d: &Deployment,
    registry: &Registry,
    opts: &DebugOptions,
    executor: &dyn Executor,
    deadline: Option<Instant>,
    progress: &Progress,
) -> DebugReport {
    let mut report = DebugReport {
        hosts: opts.hosts.clone(),
        dry_run: opts.dry_run,
        ..DebugReport::default()
    };
    let mut locator = d.locator();
    let results = &mut report.results;
    let plugins = super::select_plugins(registry, PluginKind::Debugger, &opts.only, &opts.skip, results);
    let fleet = Pieces::from(serde_json::to_string(&super::fleet_of(d, &opts.settings)).unwrap_or_default());
    let expect_keys = super::expect_keys(registry);
    let options = Options {
        online: true,
        allow_changes: opts.allow_changes,
        dry_run: opts.dry_run,
        allow_nets: opts.allow_nets.clone(),
    };
    let selected: HashSet<String> = opts.hosts.iter().cloned().collect();
    let unreached = Unreached::default();
    progress.message(format!("{} plugins on {} hosts", plugins.len(), opts.hosts.len()));
    // Every plugin's first commands go out together: each host's first batch holds them all.
    executor.plan(plugins.len());
    let outcomes: Vec<(call::Outcome, Vec<Sent>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = plugins
            .iter()
            .map(|plugin| {
                let input = call::RunInput {
                    deployment: &fleet,
                    options: &options,
                    expect_keys: &expect_keys,
                    configs: &d.plugins,
                };
                let (selected, unreached) = (&selected, &unreached);
                scope.spawn(move || {
                    let party = Party {
                        executor,
                        arrived: AtomicBool::new(false),
                        pending: AtomicUsize::new(0),
                    };
                    let mut remote = Remote {
                        executor,
                        party: &party,
                        selected,
                        unreached,
                        progress,
                        deadline,
                        sent: Vec::new(),
                    };
                    // One plugin host per debugger: they wait on hosts, not on each other.
                    let outcome = call::call(&[*plugin], &input, &mut remote, deadline)
                        .pop()
                        .unwrap_or_else(call::Outcome::lost);
                    party.arrive();
                    (outcome, remote.sent)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| (call::Outcome::lost(), Vec::new())))
            .collect()
    });
    if !opts.dry_run {
        locator.prepare(
            outcomes
                .iter()
                .flat_map(|(o, _)| o.findings.iter().filter_map(|(f, _)| f.path.as_deref())),
        );
    }
    for (plugin, (outcome, sent)) in plugins.iter().zip(outcomes) {
        results.ran.push((plugin.name.clone(), outcome.elapsed));
        results.add_logs(&plugin.name, outcome.logs);
        report.sent.insert(plugin.name.clone(), sent);
        if opts.dry_run {
            // Findings on answers that were never sent mean nothing; the commands are the report.
            continue;
        }
        for (f, took) in call::with_plugin_error(outcome.findings, outcome.code) {
            let f = super::refuse_foreign(&plugin.name, f, d, Some(&selected));
            // Where the finding's YAML path is written, as `validate` shows it.
            let position = f.path.as_deref().and_then(|p| locator.at(p));
            results
                .items
                .push(CheckResult::from_finding(&plugin.name, f, position, took));
        }
    }
    let seen = unreached
        .0
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.unreached = seen.unreached;
    report.reached = seen.reached;
    // The one order merged shards also give (see `crate::results::order`).
    let checks = crate::results::order::check_order([&report.results.items[..]]);
    report.results.put_in_order(&checks, d);
    report.put_hosts_in_order(&opts.hosts);
    report
}
