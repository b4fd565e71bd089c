//! `validate`: every selected validator over the deployment, several libraries at once (each in
//! a plugin host of its own), results in load order.

use std::time::Instant;

use rolecall_plugin::Options;

use crate::deployment::Deployment;
use crate::plugin::call::{self, Offline};
use crate::plugin::{Plugin, PluginKind, Registry};
use crate::results::{CheckResult, Results};

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Run only these plugins (empty = all).
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub online: bool,
    pub allow_nets: Vec<String>,
    /// The deployment as plugins see it: [`super::resolved_fleet_json`], or
    /// [`super::fleet_json`] of settings resolved once for the run.
    pub fleet: crate::plugin::wire::Pieces,
    /// Plugins still running then are stopped (an error result each).
    pub deadline: Option<Instant>,
}

/// Run the validators of `registry` over `d`.
pub fn validate(d: &Deployment, registry: &Registry, opts: ValidateOptions) -> Results {
    let mut results = Results::default();
    let plugins = super::select_plugins(
        registry,
        PluginKind::Validator,
        &opts.only,
        &opts.skip,
        &mut results,
    );
    let expect_keys = super::expect_keys(registry);
    let options = Options {
        online: opts.online,
        allow_nets: opts.allow_nets.clone(),
        ..Options::default()
    };
    let input = call::RunInput {
        deployment: &opts.fleet,
        options: &options,
        expect_keys: &expect_keys,
        configs: &d.plugins,
    };
    let mut locator = d.locator();
    // The validators of one library run in one plugin host, one after another (the deployment
    // crosses to it once); every library's host runs at once, each watched by a thread of its
    // own. Not a pool of one thread per core: the hosts' work is in their own processes, and a
    // library left for a second round kept one core idle while it parsed the deployment (at
    // 100,000 hosts, three libraries on two cores took two rounds of 90 ms).
    let groups = super::by_library(&plugins);
    let mut outcomes: Vec<(&Plugin, call::Outcome)> = std::thread::scope(|scope| {
        let running: Vec<_> = groups
            .iter()
            .map(|group| {
                let input = &input;
                let deadline = opts.deadline;
                scope.spawn(move || call::call(group, input, &mut Offline, deadline))
            })
            .collect();
        groups
            .iter()
            .zip(running)
            .flat_map(|(group, ran)| {
                // `call` contains what a plugin does; a panic here is rolecall's own.
                let ran = ran
                    .join()
                    .unwrap_or_else(|_| group.iter().map(|_| call::Outcome::lost()).collect());
                group.iter().copied().zip(ran)
            })
            .collect()
    });
    // Back to load order.
    outcomes.sort_by_key(|(p, _)| plugins.iter().position(|q| std::ptr::eq(*q, *p)));
    locator.prepare(
        outcomes
            .iter()
            .flat_map(|(_, o)| o.findings.iter().filter_map(|(f, _)| f.path.as_deref())),
    );
    for (plugin, outcome) in outcomes {
        results.ran.push((plugin.name.clone(), outcome.elapsed));
        results.add_logs(&plugin.name, outcome.logs);
        let findings = call::with_plugin_error(outcome.findings, outcome.code);
        for (f, took) in findings {
            let f = super::refuse_foreign(&plugin.name, f, d, None);
            let position = f.path.as_deref().and_then(|p| locator.at(p));
            results
                .items
                .push(CheckResult::from_finding(&plugin.name, f, position, took));
        }
    }
    results
}
