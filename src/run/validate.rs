//! `validate`: every selected validator over the deployment, several at once (each in its own
//! plugin host), results in load order.

use std::time::Instant;

use rolecall_plugin::Options;

use crate::deployment::locate::{locate_in_file, YamlPath};
use crate::deployment::{Deployment, SshSettings};
use crate::plugin::call::{self, Offline};
use crate::plugin::{PluginKind, Registry};
use crate::report::checks::{CheckResult, Results};

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Run only these plugins (empty = all).
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub online: bool,
    pub allow_nets: Vec<String>,
    pub flags: SshSettings,
    /// Plugins still running then are stopped (an error result each).
    pub deadline: Option<Instant>,
}

/// Run the validators of `registry` over `d`.
pub fn validate(d: &Deployment, registry: &Registry, opts: &ValidateOptions) -> Results {
    let mut results = Results::default();
    let plugins = super::select_plugins(
        registry,
        PluginKind::Validator,
        &opts.only,
        &opts.skip,
        &mut results,
    );
    let fleet = serde_json::to_string(&super::fleet(d, &opts.flags)).unwrap_or_default();
    let options = Options {
        online: opts.online,
        allow_nets: opts.allow_nets.clone(),
        ..Options::default()
    };
    let text = std::fs::read_to_string(&d.source).ok();
    // Each validator runs in a plugin host of its own, so they can run at once (as many as
    // there are cores); results are kept in load order.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut outcomes: Vec<Option<call::Outcome>> = plugins.iter().map(|_| None).collect();
    let done = std::sync::Mutex::new(&mut outcomes);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(plugins.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(plugin) = plugins.get(i) else { break };
                let input = super::input_json(d, &plugin.name, &fleet, &options);
                let outcome = call::call(plugin, &input, &mut Offline, opts.deadline);
                done.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(outcome);
            });
        }
    });
    for (plugin, outcome) in plugins.into_iter().zip(outcomes) {
        let Some(outcome) = outcome else { continue };
        results.ran.push((plugin.name.clone(), outcome.elapsed));
        results.add_logs(&plugin.name, outcome.logs);
        let findings = call::with_plugin_error(outcome.findings, outcome.code);
        for (f, took) in findings {
            let position = match (&f.path, &text) {
                (Some(p), Some(t)) => locate_in_file(t, &YamlPath::parse(p)),
                _ => None,
            };
            results
                .items
                .push(CheckResult::from_finding(&plugin.name, f, position, took));
        }
    }
    results
}
